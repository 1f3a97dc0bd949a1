from __future__ import annotations

import httpx
import pytest

from smokeseal.demo import FAULTS, DemoState
from tests.conftest import Demo

pytestmark = pytest.mark.component


def test_the_healthy_app_serves_its_pages_and_hides_internal_routes(demo: Demo) -> None:
    with httpx.Client(base_url=demo.url) as client:
        assert client.get("/").status_code == 200
        assert '<form method="post" action="/session">' in client.get("/signin").text
        assert client.get("/api/tasks").json()[0]["title"] == "Ship the release"
        assert client.get("/up").text == "ok"
        assert client.get("/devops").status_code == 404
        assert client.get("/devops/cycle").status_code == 404
        assert client.get("/nowhere").status_code == 404


@pytest.mark.parametrize(("fault", "path", "status"), [
    ("devops_exposed", "/devops", 200),
    ("devops_exposed", "/devops/cycle", 200),
    ("signin_500", "/signin", 500),
    ("up_500", "/up", 500),
])
def test_faults_change_what_the_app_answers(demo: Demo, fault: str, path: str,
                                            status: int) -> None:
    demo.state.set_faults(fault)
    assert httpx.get(demo.url + path).status_code == status


def test_the_js_fault_ships_a_broken_script(demo: Demo) -> None:
    demo.state.set_faults("tasks_js_error")
    assert "/static/tasks.js?broken=1" in httpx.get(demo.url + "/tasks").text


@pytest.mark.sends_writes  # the test writes, to see the demo app notice
def test_writes_are_recorded(demo: Demo) -> None:
    httpx.post(demo.url + "/session", data={"email": "a@b.c"})
    httpx.get(demo.url + "/up")
    assert demo.state.writes() == [("POST", "/session")]


@pytest.mark.unit
def test_an_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        DemoState().set_faults("meltdown")
    assert "sneaky_writes" in FAULTS
