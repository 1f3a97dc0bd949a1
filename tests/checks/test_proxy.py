"""Behind an egress proxy: ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` are honoured by the
get checks as by the gate, through a real forward proxy on 127.0.0.1. Production is only
reachable through it: ``app.internal`` resolves nowhere, the proxy alone knows where it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from smokeseal.config import load_config
from smokeseal.runner import run_app
from smokeseal.servers import BackgroundServer
from tests.checks.conftest import Proxy

_ASKS = ("<title>Asks</title><main id=out></main><script>fetch('/api/answer', {method: 'POST', "
         "body: '{}'}).then(r => r.text()).then(t => { out.textContent = t })</script>")

_APP = Starlette(routes=[
    Route("/", lambda request: HTMLResponse("<title>Internal</title><h1>Behind the proxy</h1>")),
    Route("/up", lambda request: PlainTextResponse("ok")),
    Route("/asks", lambda request: HTMLResponse(_ASKS)),
    Route("/api/answer", lambda request: PlainTextResponse("the answer is 42"), methods=["POST"]),
])

SUITE = """
    suite:
      - {name: home, get: /, expect: {text: Behind the proxy}, retries: 0, timeout: 5}
      - {name: up, get: /up, retries: 0, timeout: 5}
"""


@pytest.fixture(scope="module")
def origin() -> Iterator[BackgroundServer]:
    with BackgroundServer(_APP) as server:
        yield server


@pytest.fixture(scope="module")
def tls_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BackgroundServer, Path]]:
    """The same app over https, its certificate for ``app.internal`` from a private CA."""
    import trustme

    folder = tmp_path_factory.mktemp("proxy-ca")
    ca = trustme.CA()
    leaf = ca.issue_cert("app.internal")
    leaf.cert_chain_pems[0].write_to_path(str(folder / "leaf.pem"))
    leaf.private_key_pem.write_to_path(str(folder / "leaf.key"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    with BackgroundServer(_APP, certfile=str(folder / "leaf.pem"),
                          keyfile=str(folder / "leaf.key")) as server:
        yield server, folder / "ca.pem"


@pytest.fixture(autouse=True)
def _no_proxy_of_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def _run(write: Callable[[str], Path], url: str, top: str = "") -> dict[str, tuple[bool, str]]:
    path = write(f"{top}apps:\n  internal:\n    url: {url}\n{SUITE}")
    return {r.name: (r.ok, r.detail) for r in run_app(load_config(path), "internal").results}


@pytest.mark.component
def test_get_checks_go_through_http_proxy(proxy: Proxy, origin: BackgroundServer,
                                          write_config: Callable[[str], Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    proxy.hosts["app.internal"] = (origin.host, origin.port)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    results = _run(write_config, "http://app.internal")
    assert results == {"home": (True, results["home"][1]), "up": (True, results["up"][1])}
    assert set(proxy.seen) == {"GET http://app.internal/", "GET http://app.internal/up"}


@pytest.mark.component
def test_https_goes_through_the_proxy_as_a_tunnel_and_is_still_verified(
        proxy: Proxy, tls_origin: tuple[BackgroundServer, Path],
        write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    server, ca_file = tls_origin
    proxy.hosts["app.internal"] = (server.host, server.port)
    monkeypatch.setenv("https_proxy", proxy.url)
    results = _run(write_config, "https://app.internal", top=f"ca_file: {ca_file}\n")
    assert all(ok for ok, _ in results.values()), results
    assert set(proxy.seen) == {"CONNECT app.internal:443"}
    # The tunnel does not vouch for the far end: without the CA it is still untrusted.
    untrusted = _run(write_config, "https://app.internal")
    assert not untrusted["home"][0]
    assert "certificate not trusted" in untrusted["home"][1], untrusted


@pytest.mark.component
def test_no_proxy_hosts_are_reached_directly(proxy: Proxy, origin: BackgroundServer,
                                             write_config: Callable[[str], Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", f"localhost,{origin.host}")
    results = _run(write_config, origin.url)
    assert all(ok for ok, _ in results.values()), results
    assert proxy.seen == []


@pytest.mark.component
def test_a_proxy_that_is_down_is_named_without_its_password(
        origin: BackgroundServer, closed_port: int, write_config: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://egress:hunter2secret@127.0.0.1:{closed_port}")
    results = _run(write_config, "http://app.internal")
    ok, detail = results["home"]
    assert not ok
    assert f"could not reach the proxy 127.0.0.1:{closed_port}" in detail, detail
    assert "hunter2secret" not in detail


@pytest.mark.integration
def test_page_checks_go_through_the_proxy_too(proxy: Proxy, origin: BackgroundServer,
                                              write_config: Callable[[str], Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    proxy.hosts["app.internal"] = (origin.host, origin.port)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    path = write_config("apps:\n  internal:\n    url: http://app.internal\n    suite:\n"
                        "      - {name: page, page: /, expect: {text: Behind the proxy}, "
                        "retries: 0, timeout: 10}\n")
    [result] = run_app(load_config(path), "internal").results
    assert result.ok, result.detail
    assert "GET http://app.internal/" in proxy.seen


@pytest.mark.integration
def test_a_declared_read_goes_through_the_proxy_as_the_page_does(
        proxy: Proxy, origin: BackgroundServer, write_config: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The guard sends a declared read itself, out of the browser: it must leave the same way.
    proxy.hosts["app.internal"] = (origin.host, origin.port)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    path = write_config("apps:\n  internal:\n    url: http://app.internal\n"
                        "    reads: [POST /api/answer]\n    suite:\n"
                        "      - {name: page, page: /asks, expect: {text: the answer is 42}, "
                        "retries: 0, timeout: 10}\n")
    [result] = run_app(load_config(path), "internal").results
    assert result.ok, result.detail
    # Playwright's driver tunnels plain http too; either way it went through the proxy.
    assert {"POST http://app.internal/api/answer", "CONNECT app.internal:80"} & set(proxy.seen)


@pytest.mark.unit
@pytest.mark.parametrize(("url", "no_proxy", "bypassed"), [
    ("http://127.0.0.1:8000/", "localhost,127.0.0.1", True),
    ("http://api.example.com/", ".example.com", True),
    ("http://example.com/", "example.com", True),
    ("http://badexample.com/", "example.com", False),
    ("http://10.1.2.3/", "10.0.0.0/8", True),
    ("http://11.1.2.3/", "10.0.0.0/8", False),
    ("http://host:81/", "host:80", False),
    ("http://host/", "host:80", True),
    ("https://host/", "host:443", True),
    ("http://[::1]:5/", "::1", True),
    ("http://anything/", "*", True),
    ("http://anything/", "", False),
])
def test_no_proxy_is_read_as_curl_reads_it(url: str, no_proxy: str, bypassed: bool) -> None:
    import httpx

    from smokeseal.checks.http import _bypassed

    assert _bypassed(httpx.URL(url), no_proxy) is bypassed


@pytest.mark.unit
@pytest.mark.parametrize(("environ", "expected"), [
    ({}, None),
    ({"HTTP_PROXY": "http://p:3128", "HTTPS_PROXY": "http://p:3128", "NO_PROXY": "localhost"},
     {"server": "http://p:3128", "bypass": "localhost"}),
    ({"ALL_PROXY": "http://p:3128"}, {"server": "http://p:3128"}),
    ({"https_proxy": "http://p:3128", "ALL_PROXY": "http://p:3128"}, {"server": "http://p:3128"}),
    # http and https go different ways: Chromium reads each itself, Playwright could not.
    ({"HTTPS_PROXY": "http://p:3128"}, None),
    ({"HTTP_PROXY": "http://a:3128", "HTTPS_PROXY": "http://b:3128"}, None),
])
def test_the_browser_gets_the_proxy_only_when_http_and_https_share_it(
        environ: dict[str, str], expected: dict[str, str] | None) -> None:
    from smokeseal.checks.http import browser_proxy

    assert browser_proxy(environ) == expected


@pytest.mark.component
def test_the_gate_goes_through_the_proxy_as_the_checks_do(proxy: Proxy, origin: BackgroundServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from smokeseal.config import Gate
    from smokeseal.ship import wait_for_gate

    proxy.hosts["app.internal"] = (origin.host, origin.port)
    monkeypatch.setenv("http_proxy", proxy.url)
    said: list[str] = []
    wait_for_gate("http://app.internal", Gate(timeout=5, interval=0.05), say=said.append)
    assert said[-1].startswith("gate: http://app.internal/up answered 200"), said
    assert proxy.seen == ["GET http://app.internal/up"]
