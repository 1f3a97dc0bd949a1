from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from smokeseal.checks.base import CheckResult
from smokeseal.checks.command import parse_junit, run_command_check
from smokeseal.config import Check
from tests.conftest import Demo

pytestmark = pytest.mark.component
PY = sys.executable


def run(check: Check, base_url: str, cwd: Path) -> list[CheckResult]:
    return asyncio.run(run_command_check(check, base_url, cwd))


def script(tmp_path: Path, body: str, name: str = "suite.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


JUNIT = """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="spec" tests="3">
    <testcase name="home shows the header @qa-readonly" classname="home.spec.ts" time="0.41"/>
    <testcase name="tasks list renders @qa-readonly" classname="tasks.spec.ts" time="1.2">
      <failure message="Timed out 5000ms waiting for locator('ul')">stack…</failure>
    </testcase>
    <testcase name="admin @qa-readonly" classname="admin.spec.ts" time="0"><skipped/></testcase>
  </testsuite>
</testsuites>
"""


def test_junit_becomes_one_result_per_testcase(tmp_path: Path) -> None:
    script(tmp_path, f"""\
        import sys
        open("results.xml", "w").write({JUNIT!r})
        sys.exit(1)
    """)
    check = Check(name="existing spec", command=f"{PY} suite.py", junit="results.xml")
    results = run(check, "https://app.example.com", tmp_path)
    assert [(r.name, r.ok, r.skipped, r.duration_ms) for r in results] == [
        ("existing spec › home shows the header @qa-readonly", True, False, 410),
        ("existing spec › tasks list renders @qa-readonly", False, False, 1200),
        ("existing spec › admin @qa-readonly", True, True, 0),
    ]
    assert results[1].detail == "Timed out 5000ms waiting for locator('ul')"


def test_the_url_reaches_arguments_and_environment(tmp_path: Path) -> None:
    script(tmp_path, """\
        import os, sys
        assert sys.argv[1] == "--base=https://app.example.com", sys.argv
        assert os.environ["BASE_URL"] == "https://app.example.com/"
        assert os.environ["SMOKESEAL_URL"] == "https://app.example.com"
    """)
    check = Check(command=f"{PY} suite.py --base={{url}}", env={"BASE_URL": "{url}/"})
    [result] = run(check, "https://app.example.com", tmp_path)
    assert (result.ok, result.detail) == (True, "exit status 0"), result.detail


def test_junit_printed_on_stdout_is_read(tmp_path: Path) -> None:
    script(tmp_path, f"print('Running 3 tests'); print({JUNIT!r})")
    results = run(Check(name="spec", command=f"{PY} suite.py"), "http://x.test", tmp_path)
    assert [r.ok for r in results] == [True, False, True]


def test_a_crash_keeps_the_tail_of_the_output(tmp_path: Path) -> None:
    script(tmp_path, """\
        import sys
        for i in range(100):
            print(f"line {i}")
        print("Error: browserType.launch: Executable doesn't exist", file=sys.stderr)
        sys.exit(3)
    """)
    [result] = run(Check(name="spec", command=f"{PY} suite.py"), "http://x.test", tmp_path)
    assert not result.ok
    lines = result.detail.splitlines()
    assert lines[0] == "exit status 3; output ends:"
    assert lines[-1] == "Error: browserType.launch: Executable doesn't exist"
    assert "line 99" in lines and "line 10" not in lines


def test_a_missing_junit_file_fails_even_on_exit_0(tmp_path: Path) -> None:
    (tmp_path / "results.xml").write_text(JUNIT.replace("<failure", "<skipped").replace(
        "</failure>", "</skipped>"))  # stale results from an earlier run
    [result] = run(Check(command="true", junit="results.xml"), "http://x.test", tmp_path)
    assert not result.ok
    assert result.detail.startswith(f"exit status 0; no JUnit file at {tmp_path}/results.xml")


def test_a_nonzero_exit_fails_even_when_every_testcase_passed(tmp_path: Path) -> None:
    passing = JUNIT.replace("<failure", "<system-out").replace("</failure>", "</system-out>")
    script(tmp_path, f"""\
        import sys
        open("r.xml", "w").write({passing!r})
        sys.exit(2)
    """)
    results = run(Check(name="s", command=f"{PY} suite.py", junit="r.xml"), "http://x", tmp_path)
    assert [r.ok for r in results] == [True, True, True, False]
    assert results[-1].detail.startswith("exit status 2 although every test passed")


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    script(tmp_path, """\
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open("child.pid", "w").write(str(child.pid))
        print("started", flush=True)
        time.sleep(60)
    """)
    started = time.monotonic()
    [result] = run(Check(command=f"{PY} suite.py", timeout=1.5), "http://x", tmp_path)
    assert time.monotonic() - started < 20
    assert result.detail.startswith("timed out after 1.5 s; output ends:\nstarted")
    child = int((tmp_path / "child.pid").read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"grandchild {child} survived the timeout")


def test_a_missing_program_is_named(tmp_path: Path) -> None:
    [result] = run(Check(command="no-such-runner test"), "http://x", tmp_path)
    assert (result.ok, result.detail) == (False, "command not found: no-such-runner")


def test_a_real_pytest_suite_runs_against_the_app(tmp_path: Path, demo: Demo) -> None:
    script(tmp_path, """\
        import os, urllib.request

        def test_up():
            assert urllib.request.urlopen(os.environ["BASE_URL"] + "/up").status == 200

        def test_tasks_title():
            body = urllib.request.urlopen(os.environ["BASE_URL"] + "/tasks").read()
            assert b"<title>Projects" in body, "tasks page has the wrong title"
    """, name="test_prod.py")
    check = Check(name="pytest", command=f"{PY} -m pytest -q -p no:cacheprovider "
                  "--junitxml=out/results.xml test_prod.py",
                  env={"BASE_URL": "{url}"}, junit="out/results.xml")
    results = run(check, demo.url, tmp_path)
    assert [(r.name, r.ok) for r in results] == [("pytest › test_up", True),
                                                  ("pytest › test_tasks_title", False)]
    assert "tasks page has the wrong title" in results[1].detail


@pytest.mark.unit
def test_malformed_junit_yields_nothing() -> None:
    assert parse_junit("<testsuites><testcase", "x") == []
