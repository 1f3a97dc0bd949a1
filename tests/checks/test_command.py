"""Command checks: a team's own suite run against production, judged by its JUnit XML.

Every test answers one of: how could this be green while production is broken, red while it
is fine, or never end? Commands are real processes (small Python scripts), never mocks.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from smokeseal.checks.base import CheckResult
from smokeseal.checks.command import NO_CASES, STDOUT_LIMIT, run_command_check
from smokeseal.checks.junit import JUnitError, parse_junit, read_junit_file
from smokeseal.config import Check
from tests.checks.procs import SPAWNER, read_pids, read_pids_async, running
from tests.conftest import Demo

pytestmark = pytest.mark.component
PY = sys.executable


def run(check: Check, base_url: str, cwd: Path) -> list[CheckResult]:
    return asyncio.run(run_command_check(check, base_url, cwd))


def script(tmp_path: Path, body: str, name: str = "suite.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def writes(tmp_path: Path, document: str | bytes, code: int = 0, to: str = "results.xml"
           ) -> Check:
    """A command that writes ``document`` to ``to`` and exits with ``code``."""
    (tmp_path / "document.bin").write_bytes(
        document.encode() if isinstance(document, str) else document)
    script(tmp_path, f"""\
        import shutil, sys
        shutil.copy("document.bin", sys.argv[1])
        sys.exit({code})
    """)
    return Check(name="spec", command=f"{PY} suite.py {to}", junit=to)


def summary(results: list[CheckResult]) -> list[tuple[str, str]]:
    return [(r.name, r.outcome) for r in results]


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
PASSING = """\
<testsuites><testsuite name="spec" tests="2">
  <testcase name="up" time="0.1"/><testcase name="home" time="0.2"/>
</testsuite></testsuites>
"""


def test_junit_becomes_one_result_per_testcase(tmp_path: Path) -> None:
    results = run(writes(tmp_path, JUNIT, code=1), "https://app.example.com", tmp_path)
    assert [(r.name, r.outcome, r.duration_ms) for r in results] == [
        ("spec › home shows the header @qa-readonly", "passed", 410),
        ("spec › tasks list renders @qa-readonly", "failed", 1200),
        ("spec › admin @qa-readonly", "skipped", 0),
    ]
    assert results[1].detail == "Timed out 5000ms waiting for locator('ul')"
    assert results[2].detail == "skipped: not verified"


@pytest.mark.unit
def test_a_failure_named_by_its_matcher_shows_what_was_expected_and_received() -> None:
    [case] = parse_junit("""<testsuite><testcase name="devops hidden">
      <failure message="expect(received).toBe(expected) // Object.is equality" type="FAILURE">
        Error: expect(received).toBe(expected) // Object.is equality

        Expected: 404
        Received: 200
          at smoke.spec.js:17:50</failure></testcase></testsuite>""", "spec")
    assert case.detail == ("expect(received).toBe(expected) // Object.is equality; "
                           "Expected: 404; Received: 200")


def test_the_url_reaches_arguments_and_environment(tmp_path: Path) -> None:
    script(tmp_path, """\
        import os, sys
        assert sys.argv[1] == "--base=https://app.example.com", sys.argv
        assert os.environ["BASE_URL"] == "https://app.example.com/"
        assert os.environ["SMOKESEAL_URL"] == "https://app.example.com"
    """)
    check = Check(command=f"{PY} suite.py --base={{url}}", env={"BASE_URL": "{url}/"})
    [result] = run(check, "https://app.example.com", tmp_path)
    assert result.ok, result.detail


def test_junit_printed_on_stdout_is_read(tmp_path: Path) -> None:
    script(tmp_path, f"print('Running 3 tests'); print({JUNIT!r}); print('1 failed')")
    results = run(Check(name="spec", command=f"{PY} suite.py"), "http://x.test", tmp_path)
    assert [r.outcome for r in results] == ["passed", "failed", "skipped"]


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
    assert lines[0] == ("exit status 3; no JUnit results, so judged by the exit status alone; "
                        "output ends:")
    assert lines[-1] == "Error: browserType.launch: Executable doesn't exist"
    assert "line 99" in lines and "line 10" not in lines


@pytest.mark.parametrize(("body", "ok", "detail"), [
    ("pass", True, "exit status 0; no JUnit results, so judged by the exit status alone"),
    ("print('2 failed'); sys.exit(1)", False, "exit status 1; no JUnit results, so judged by "
                                              "the exit status alone; output ends:\n2 failed"),
    ("os.kill(os.getpid(), signal.SIGKILL)", False, "killed by SIGKILL; no JUnit results"),
])
def test_without_junit_the_exit_status_alone_judges_and_the_result_says_so(
        tmp_path: Path, body: str, ok: bool, detail: str) -> None:
    script(tmp_path, f"import os, signal, sys\n{body}\n")
    [result] = run(Check(name="smoke.sh", command=f"{PY} suite.py"), "http://x", tmp_path)
    assert result.ok is ok
    assert result.detail.startswith(detail), result.detail


def test_a_stale_or_missing_junit_file_fails_even_on_exit_0(tmp_path: Path) -> None:
    (tmp_path / "results.xml").write_text(PASSING)  # left by an earlier, green run
    [result] = run(Check(command="true", junit="results.xml"), "http://x.test", tmp_path)
    assert not result.ok
    assert result.detail.startswith(f"no JUnit file at {tmp_path}/results.xml (exit status 0)")


def test_a_nonzero_exit_fails_even_when_no_testcase_failed(tmp_path: Path) -> None:
    results = run(writes(tmp_path, PASSING, code=2), "http://x", tmp_path)
    assert summary(results) == [("spec › up", "passed"), ("spec › home", "passed"),
                                ("spec", "failed")]
    assert results[-1].detail.startswith("exit status 2 although no test failed")


@pytest.mark.usefixtures("strays")
def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    script(tmp_path, SPAWNER)
    started = time.monotonic()
    [result] = run(Check(command=f"{PY} suite.py", timeout=1.5), "http://x", tmp_path)
    assert time.monotonic() - started < 20
    assert result.detail.startswith("timed out after 1.5 s; output ends:\nstarted")
    pids = read_pids(tmp_path)
    assert [pid for pid in pids if running(pid)] == []


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
                  "--junitxml={junit} test_prod.py", env={"BASE_URL": "{url}"})
    results = run(check, demo.url, tmp_path)
    assert [(r.name, r.ok) for r in results] == [("pytest › test_up", True),
                                                  ("pytest › test_tasks_title", False)]
    assert "tasks page has the wrong title" in results[1].detail


# --- {junit}: a fresh results file per run ------------------------------------------------

RECORDS_ITS_RESULTS_FILE = f"""\
    import os, sys
    path = sys.argv[1]
    assert path == os.environ["RESULTS"], (path, os.environ["RESULTS"])
    assert os.path.isabs(path) and not os.path.exists(path), path
    with open("paths.txt", "a") as log:
        log.write(path + "\\n")
    open(path, "w").write({PASSING!r})
"""


@pytest.mark.parametrize("junit_key", [None, "{junit}"])
def test_junit_placeholder_is_a_fresh_file_per_run_removed_afterwards(
        tmp_path: Path, junit_key: str | None) -> None:
    script(tmp_path, RECORDS_ITS_RESULTS_FILE)
    check = Check(name="spec", command=f"{PY} suite.py {{junit}}", env={"RESULTS": "{junit}"},
                  junit=junit_key)
    first = run(check, "http://x", tmp_path)
    second = run(check, "http://x", tmp_path)
    assert summary(first) == summary(second) == [("spec › up", "passed"),
                                                 ("spec › home", "passed")]
    paths = (tmp_path / "paths.txt").read_text().split()
    assert len(set(paths)) == 2, paths
    assert not any(Path(path).parent.exists() for path in paths), "temporary folders left"


def test_junit_placeholder_that_gets_no_file_fails(tmp_path: Path) -> None:
    [result] = run(Check(command="true {junit}"), "http://x", tmp_path)
    assert not result.ok
    assert result.detail.startswith("no JUnit file at /"), result.detail
    assert "smokeseal-junit-" in result.detail


def test_playwright_is_told_where_to_write_and_to_report_retries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script(tmp_path, f"""\
        import os, sys
        expected = {{"PLAYWRIGHT_JUNIT_OUTPUT_NAME": sys.argv[1],
                    "PLAYWRIGHT_JUNIT_INCLUDE_RETRIES": "1"}}
        got = {{key: os.environ.get(key) for key in expected}}
        assert got == expected, got
        assert "PLAYWRIGHT_JUNIT_OUTPUT_FILE" not in os.environ
        open(sys.argv[1], "w").write({PASSING!r})
    """)
    monkeypatch.setenv("PLAYWRIGHT_JUNIT_OUTPUT_FILE", "/elsewhere.xml")  # from CI, say
    monkeypatch.delenv("PLAYWRIGHT_JUNIT_INCLUDE_RETRIES", raising=False)
    results = run(Check(command=f"{PY} suite.py {tmp_path}/results.xml", junit="results.xml"),
                  "http://x", tmp_path)
    assert [r.outcome for r in results] == ["passed", "passed"], results[0].detail


def test_the_configured_playwright_output_name_is_left_alone(tmp_path: Path) -> None:
    script(tmp_path, f"""\
        import os
        name = os.environ["PLAYWRIGHT_JUNIT_OUTPUT_NAME"]
        assert name == "report/junit.xml", name
        os.makedirs("report")
        open(name, "w").write({PASSING!r})
    """)
    check = Check(command=f"{PY} suite.py", junit="report/junit.xml",
                  env={"PLAYWRIGHT_JUNIT_OUTPUT_NAME": "report/junit.xml"})
    results = run(check, "http://x", tmp_path)
    assert [r.outcome for r in results] == ["passed", "passed"], results[0].detail


# --- nothing verified is never a pass ------------------------------------------------------

EMPTY = '<?xml version="1.0"?>\n<testsuites tests="0"><testsuite name="x" tests="0"/></testsuites>'


@pytest.mark.parametrize("where", ["file", "stdout"])
def test_junit_with_no_testcases_fails(tmp_path: Path, where: str) -> None:
    if where == "file":
        check = writes(tmp_path, EMPTY)
    else:
        script(tmp_path, f"print({EMPTY!r})")
        check = Check(name="spec", command=f"{PY} suite.py")
    [result] = run(check, "http://x", tmp_path)
    assert not result.ok
    assert result.detail.startswith(f"{NO_CASES} (exit status 0)")


@pytest.mark.parametrize(("document", "problem"), [
    (PASSING[:PASSING.index("</testsuite>")], "is not valid JUnit XML: no element found"),
    ("", "is not valid JUnit XML: no element found"),
    ("<html><body>502 Bad Gateway</body></html>",
     "is not valid JUnit XML: the document is <html>, not <testsuites> or <testsuite>"),
    ("Error: no tests found", "is not valid JUnit XML: syntax error"),
])
def test_an_unparseable_junit_file_fails_even_on_exit_0(tmp_path: Path, document: str,
                                                         problem: str) -> None:
    [result] = run(writes(tmp_path, document), "http://x", tmp_path)
    assert not result.ok
    assert result.detail.startswith(f"JUnit file {tmp_path}/results.xml {problem}"), \
        result.detail
    assert "(exit status 0)" in result.detail


def test_a_folder_where_the_junit_file_should_be_fails(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    script(tmp_path, "import os; os.makedirs('out/results.xml')")
    [result] = run(Check(command=f"{PY} suite.py", junit="out/results.xml"), "http://x",
                   tmp_path)
    assert not result.ok
    assert result.detail.startswith(f"cannot read the JUnit file {tmp_path}/out/results.xml: "
                                    "Is a directory"), result.detail


def test_previous_results_that_cannot_be_removed_fail_before_running(tmp_path: Path) -> None:
    (tmp_path / "results.xml").mkdir()  # nothing can unlink a folder
    [result] = run(Check(command="touch ran", junit="results.xml"), "http://x", tmp_path)
    assert not result.ok
    assert result.detail.startswith(f"cannot remove the previous results at {tmp_path}/"
                                    "results.xml")
    assert not (tmp_path / "ran").exists()


def test_every_testcase_skipped_is_skipped_never_passed(tmp_path: Path) -> None:
    document = """<testsuite name="s" tests="2">
      <testcase name="home"><skipped message="fixme: flaky on CI"/></testcase>
      <testcase name="up"><skipped/></testcase></testsuite>"""
    results = run(writes(tmp_path, document), "http://x", tmp_path)
    assert summary(results) == [("spec › home", "skipped"), ("spec › up", "skipped")]
    assert not any(r.ok for r in results)
    assert results[0].detail == "skipped: not verified (fixme: flaky on CI)"


@pytest.mark.parametrize("output", [
    "<testsuites>\n  <testsuite name='spec'>\n    <testcase name='up'/>\n",  # cut off
    "<testsuite name='spec'><testcase name='up'></testsuite>",  # mismatched
])
def test_junit_on_stdout_that_does_not_parse_fails(tmp_path: Path, output: str) -> None:
    script(tmp_path, f"print({output!r})")
    [result] = run(Check(name="spec", command=f"{PY} suite.py"), "http://x", tmp_path)
    assert not result.ok
    assert result.detail.startswith("JUnit on stdout is not valid JUnit XML: "), result.detail


def test_junit_on_stdout_past_the_limit_fails_saying_to_use_a_file(tmp_path: Path) -> None:
    script(tmp_path, f"""\
        import sys
        line = "<testcase name='case' time='0.001'/>" + " " * 60 + "\\n"
        sys.stdout.write("<testsuites><testsuite name='big'>\\n")
        sys.stdout.write(line * ({STDOUT_LIMIT} // len(line) + 100))
        sys.stdout.write("</testsuite></testsuites>\\n")
    """)
    [result] = run(Check(name="spec", command=f"{PY} suite.py"), "http://x", tmp_path)
    assert not result.ok
    assert result.detail.startswith("JUnit on stdout was cut at 16 MiB: have the runner write "
                                    "it to a file ({junit})"), result.detail[:200]


# --- flaky: passed on a rerun (Maven Surefire's format, also Playwright's with retries) -----

FLAKY = """\
<testsuite name="com.example.SmokeIT" tests="3" failures="1" errors="0" skipped="0">
  <testcase name="home" classname="com.example.SmokeIT" time="2.5">
    <flakyFailure message="expected 200 but was 502" type="AssertionError">
      <stackTrace>java.lang.AssertionError: expected 200 but was 502</stackTrace>
      <system-out>GET / 502</system-out>
    </flakyFailure>
    <flakyError type="java.net.SocketTimeoutException">
      <stackTrace>java.net.SocketTimeoutException: Read timed out
	at java.base/sun.nio.ch.NioSocketImpl.timedRead</stackTrace>
    </flakyError>
  </testcase>
  <testcase name="tasks" classname="com.example.SmokeIT" time="1,234.5">
    <failure message="expected [data-test=tasks]" type="AssertionError">trace</failure>
    <rerunFailure message="expected [data-test=tasks] (rerun 1)" type="AssertionError">
      <stackTrace>trace</stackTrace></rerunFailure>
    <rerunFailure message="expected [data-test=tasks] (rerun 2)" type="AssertionError">
      <stackTrace>trace</stackTrace></rerunFailure>
  </testcase>
  <testcase name="up" classname="com.example.SmokeIT" time="0.05">
    <error type="java.net.ConnectException" message="Connection refused"/>
    <rerunError type="java.net.ConnectException" message="Connection refused">
      <stackTrace>trace</stackTrace></rerunError>
  </testcase>
</testsuite>
"""


@pytest.mark.unit
def test_surefire_flaky_testcases_pass_with_their_first_failure() -> None:
    home, tasks, up = parse_junit(FLAKY, "it")
    assert (home.name, home.outcome, home.ok) == ("it › home", "flaky", True)
    assert home.first_failure == "expected 200 but was 502"
    assert home.attempts == 3
    assert home.detail == "passed on a rerun after 2 failed tries"
    assert (tasks.outcome, tasks.attempts, tasks.duration_ms) == ("failed", 3, 1_234_500)
    assert tasks.detail == "expected [data-test=tasks] (failed all 3 tries)"
    assert (up.outcome, up.detail) == ("failed", "Connection refused (failed all 2 tries)")


@pytest.mark.unit
def test_a_flaky_error_without_a_message_takes_its_stack_trace_first_line() -> None:
    [case] = parse_junit("<testsuite><testcase name='a'><flakyError type='T'><stackTrace>\n"
                         "  java.io.IOException: reset\n  at x</stackTrace></flakyError>"
                         "</testcase></testsuite>", "p")
    assert (case.outcome, case.first_failure) == ("flaky", "java.io.IOException: reset")


@pytest.mark.unit
def test_reruns_without_a_final_result_are_not_a_pass() -> None:
    [case] = parse_junit("<testsuite><testcase name='a'><rerunFailure message='boom' type='T'>"
                         "<stackTrace/></rerunFailure></testcase></testsuite>", "p")
    assert case.outcome == "failed"
    assert case.detail == "failed on rerun, and no passing run is recorded: boom"


def test_a_flaky_run_reaches_the_result_through_a_real_command(tmp_path: Path) -> None:
    results = run(writes(tmp_path, FLAKY, code=1), "http://x", tmp_path)
    assert [r.outcome for r in results] == ["flaky", "failed", "failed"]


# --- never crash the run -------------------------------------------------------------------

@pytest.mark.parametrize(("command", "detail"), [
    ("npx playwright test --grep 'qa readonly", "cannot read the command line: No closing "
                                                 "quotation: npx playwright test --grep "
                                                 "'qa readonly"),
    ("run \\", "cannot read the command line: No escaped character"),
    ("   ", "empty command"),
    ("printf 'a\\0b'", "could not start printf: embedded null byte"),
])
def test_a_command_line_that_cannot_run_is_this_checks_failure(tmp_path: Path, command: str,
                                                               detail: str) -> None:
    # The config refuses lines that do not split when it loads; a check built some other
    # way (the library, a future key) must still fail alone, not raise.
    check = Check.model_construct(command=command.replace("\\0", "\0"))
    [result] = run(check, "http://x", tmp_path)
    assert not result.ok
    assert result.detail.startswith(detail), result.detail


@pytest.mark.unit
@pytest.mark.parametrize("command", ["npx playwright test --grep 'qa readonly", "run \\", "   "])
def test_the_config_refuses_a_command_line_that_does_not_split(command: str) -> None:
    with pytest.raises(ValidationError, match="command"):
        Check(command=command)


def test_a_cwd_that_is_not_there_is_named(tmp_path: Path) -> None:
    [result] = run(Check(command="true", cwd="e2e"), "http://x", tmp_path)
    assert (result.ok, result.detail) == (False, f"cwd {tmp_path}/e2e is not a directory")


@pytest.mark.unit
@pytest.mark.parametrize(("time_", "ms"), [
    ("0.41", 410), ("1,234", 1_234_000), ("1,234.5", 1_234_500), ("0,25", 250), ("12", 12_000),
    ("abc", 0), ("", 0), ("nan", 0), ("inf", 0), ("-1", 0), ("1e400", 0), ("1e30", 10**9),
])
def test_odd_times_never_raise(time_: str, ms: int) -> None:
    [case] = parse_junit(f"<testsuite><testcase name='a' time='{time_}'/></testsuite>", "p")
    assert (case.outcome, case.duration_ms) == ("passed", ms)


@pytest.mark.parametrize(("document", "name"), [
    ('<?xml version="1.0" encoding="ISO-8859-1"?><testsuite><testcase name="café"/>'
     '</testsuite>'.encode("latin-1"), "café"),
    ('<?xml version="1.0" encoding="UTF-16"?><testsuite><testcase name="naïve"/></testsuite>'
     .encode("utf-16"), "naïve"),
    ('<?xml version="1.0" encoding="Shift_JIS"?><testsuite><testcase name="トップ"/>'
     '</testsuite>'.encode("shift_jis"), "トップ"),  # multi-byte: expat refuses, we do not
    (b'<?xml version="1.0" encoding="x-unknown"?><testsuite><testcase name="a"/></testsuite>',
     "a"),
    (b'<testsuite><testcase name="b\xff\xfe"/></testsuite>', "b\ufffd\ufffd"),  # not UTF-8
    (b'<testsuite><testcase name="c"><system-out>\x1b[32m\xe2\x9c\x93\x1b[0m ok</system-out>'
     b'</testcase></testsuite>', "c"),  # ANSI colours: not allowed in XML
])
def test_odd_encodings_are_read(tmp_path: Path, document: bytes, name: str) -> None:
    [result] = run(writes(tmp_path, document), "http://x", tmp_path)
    assert (result.name, result.outcome) == (f"spec › {name}", "passed"), result.detail


def test_bad_bytes_never_hide_a_failure(tmp_path: Path) -> None:
    document = (b'<testsuite><testcase name="home"><failure message="got \xff\x00 502">'
                b'</failure></testcase></testsuite>')
    [result] = run(writes(tmp_path, document), "http://x", tmp_path)
    assert (result.outcome, result.detail) == ("failed", "got \ufffd 502")


def test_a_huge_junit_file_is_read_in_pieces(tmp_path: Path) -> None:
    # 100,000 testcases and 80 MB of captured output: read, not refused, and the failure in
    # the middle is found.
    script(tmp_path, """\
        import sys
        with open("results.xml", "w") as out:
            out.write("<testsuites><testsuite name='big'>")
            for i in range(100_000):
                if i == 50_000:
                    out.write("<testcase name='case 50000'><failure message='boom'/>")
                    out.write("<system-out>" + "x" * 80_000_000 + "</system-out></testcase>")
                else:
                    out.write(f"<testcase name='case {i}' time='0.001'/>")
            out.write("</testsuite></testsuites>")
    """)
    results = run(Check(name="big", command=f"{PY} suite.py", junit="results.xml"), "http://x",
                  tmp_path)
    assert len(results) == 100_000
    assert [r.name for r in results if not r.ok] == ["big › case 50000"]


def test_a_huge_file_that_is_not_xml_fails(tmp_path: Path) -> None:
    script(tmp_path, """\
        with open("results.xml", "wb") as out:
            out.write(b"<testsuites><testsuite><testcase name='a'>" + b"\\x00" * (65 * 2**20))
    """)
    [result] = run(Check(name="big", command=f"{PY} suite.py", junit="results.xml"),
                   "http://x", tmp_path)
    assert not result.ok
    assert "is not valid JUnit XML: not well-formed (invalid token)" in result.detail


def test_a_single_enormous_output_line_is_no_problem(tmp_path: Path) -> None:
    script(tmp_path, "import sys; sys.stdout.write('x' * 5_000_000); sys.exit(1)")
    [result] = run(Check(name="spec", command=f"{PY} suite.py"), "http://x", tmp_path)
    assert not result.ok
    assert result.detail.startswith("exit status 1; no JUnit results")


@pytest.mark.unit
def test_malformed_junit_raises_saying_why() -> None:
    with pytest.raises(JUnitError, match=r"^JUnit on stdout is not valid JUnit XML: "):
        parse_junit("<testsuites><testcase", "x")
    with pytest.raises(JUnitError, match=r"^no JUnit file at /nowhere/r\.xml$"):
        read_junit_file(Path("/nowhere/r.xml"), "x")


@pytest.mark.unit
def test_suite_level_errors_and_namespaces_and_duplicate_names() -> None:
    document = """<testsuites xmlns="urn:x">
      <testsuite name="setup.spec"><error message="globalSetup threw: ECONNREFUSED"/></testsuite>
      <testsuite name="a"><testcase name="renders" classname="home.spec"/></testsuite>
      <testsuite name="b"><testcase name="renders" classname="tasks.spec"/></testsuite>
    </testsuites>"""
    assert [(r.name, r.outcome, r.detail) for r in parse_junit(document, "p")] == [
        ("p › setup.spec", "failed", "suite error: globalSetup threw: ECONNREFUSED"),
        ("p › home.spec › renders", "passed", "passed"),
        ("p › tasks.spec › renders", "passed", "passed"),
    ]


# --- max_ms: the whole command's duration --------------------------------------------------

@pytest.mark.parametrize("with_junit", [False, True])
def test_max_ms_fails_a_command_that_took_longer(tmp_path: Path, with_junit: bool) -> None:
    script(tmp_path, f"""\
        import sys, time
        time.sleep(0.5)
        if {with_junit}:
            open("results.xml", "w").write({PASSING!r})
    """)
    check = Check.model_validate({"name": "spec", "command": f"{PY} suite.py",
                                  "expect": {"max_ms": 200},
                                  **({"junit": "results.xml"} if with_junit else {})})
    results = run(check, "http://x", tmp_path)
    last = results[-1]
    assert (last.name, last.outcome) == ("spec", "failed")
    assert "over max_ms 200" in last.detail
    assert len(results) == (3 if with_junit else 1)
    relaxed = check.model_copy(update={"expect": check.expect.model_copy(
        update={"max_ms": 60_000})})
    assert all(r.ok for r in run(relaxed, "http://x", tmp_path))


# --- never end? Every process it started is stopped --------------------------------------

@pytest.mark.usefixtures("strays")
def test_cancelling_the_check_kills_its_process_group_before_it_propagates(
        tmp_path: Path) -> None:
    script(tmp_path, SPAWNER)

    async def cancel_midway() -> list[int]:
        task = asyncio.create_task(run_command_check(Check(command=f"{PY} suite.py"),
                                                     "http://x", tmp_path))
        pids = await read_pids_async(tmp_path)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Checked at once: the group was stopped before the cancellation reached us.
        assert [pid for pid in pids if running(pid)] == []
        return pids

    assert len(asyncio.run(cancel_midway())) == 2


@pytest.mark.usefixtures("strays")
def test_a_command_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    script(tmp_path, SPAWNER)

    async def cancel_midway() -> None:
        task = asyncio.create_task(run_command_check(
            Check(command=f"{PY} suite.py IGNORE_TERM"), "http://x", tmp_path))
        pids = await read_pids_async(tmp_path)
        await asyncio.sleep(0.2)  # the handler is installed before the pids are written
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [pid for pid in pids if running(pid)] == []

    asyncio.run(cancel_midway())


@pytest.mark.usefixtures("strays")
def test_processes_left_holding_the_output_are_stopped_not_waited_for(tmp_path: Path) -> None:
    # The runner exits 0 but leaves a server behind that keeps its stdout open: without
    # care, the check would wait for the time limit and fail a run that passed.
    script(tmp_path, """\
        import subprocess
        child = subprocess.Popen(["sleep", "300"])
        open("pids.txt", "w").write(str(child.pid))
        print("all good")
    """)
    started = time.monotonic()
    [result] = run(Check(command=f"{PY} suite.py", timeout=60), "http://x", tmp_path)
    assert time.monotonic() - started < 30
    assert result.ok, result.detail
    assert result.notes == ["processes the command left running were stopped"]
    assert not running(int((tmp_path / "pids.txt").read_text()))


def test_sigterm_to_the_group_reaches_a_well_behaved_runner_first(tmp_path: Path) -> None:
    # A runner that cleans up on SIGTERM (closes its browser, writes its report) gets to.
    script(tmp_path, """\
        import signal, sys, time
        def stop(signum, frame):
            open("stopped.txt", "w").write(signal.Signals(signum).name)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        print("ready", flush=True)
        time.sleep(300)
    """)
    [result] = run(Check(command=f"{PY} suite.py", timeout=1), "http://x", tmp_path)
    assert result.detail.startswith("timed out after 1 s")
    assert (tmp_path / "stopped.txt").read_text() == signal.Signals.SIGTERM.name
