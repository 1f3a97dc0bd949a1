"""The installed commands, driven as an operator would: real processes, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Broken, Demo, Edge

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def cli(*args: str, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Nor GitHub Actions' own (a summary file, annotations) when the tests run in a workflow.
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("SMOKESEAL_") and k not in ("GITHUB_ACTIONS",
                                                              "GITHUB_STEP_SUMMARY")}
    environ.update(env or {})
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True,
                          cwd=cwd, env=environ, timeout=120, check=False)


@pytest.fixture
def demo_config(demo: Demo, write_config: Callable[[str], Path],
                browser_executable: str) -> Path:
    return write_config(demo.config_yaml())


def test_prod_smoke_prints_a_green_table(demo: Demo, demo_config: Path) -> None:
    done = cli("prod-smoke", "demo", cwd=demo_config.parent)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"prod-smoke demo → {demo.url} (canonical URL)" in out
    assert out.count("✓") == 6
    assert "🟢 green · 6/6 passed" in out
    assert "Traceback" not in done.stderr


def test_json_is_the_seal_record(demo: Demo, demo_config: Path) -> None:
    demo.state.set_faults("devops_exposed")
    done = cli("prod-smoke", "--config", str(demo_config), "demo", "--json")
    assert done.returncode == 1
    seal = json.loads(done.stdout)
    assert seal["status"] == "red"
    assert seal["base_url"] == demo.url
    assert seal["summary"] == ("4/6 passed; devops hidden: expected 404, got 200; "
                               "cycle hidden: expected 404, got 200")
    assert [c["name"] for c in seal["checks"]] == ["home renders", "signin renders",
                                                   "tasks render", "up", "devops hidden",
                                                   "cycle hidden"]
    assert {"checked_at", "duration_ms", "rollback"} <= seal.keys()
    assert seal["checks"][4] == {"name": "devops hidden", "kind": "get", "ok": False,
                                 "outcome": "failed", "attempts": 2,
                                 "detail": "expected 404, got 200",
                                 "duration_ms": seal["checks"][4]["duration_ms"],
                                 "url": demo.url + "/devops"}
    assert seal["schema_version"] == 2


def test_junit_is_written_for_ci(demo: Demo, demo_config: Path, tmp_path: Path) -> None:
    demo.state.set_faults("signin_500")
    report = tmp_path / "reports" / "smoke.xml"
    done = cli("smokeseal", "--config", str(demo_config), "smoke", "demo", "--junit", str(report))
    assert done.returncode == 1
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("6", "1")
    [failure] = suite.iter("failure")
    assert failure.get("message") == "expected 2xx, got 500"


def test_url_overrides_the_canonical_url(demo: Demo, write_config: Callable[[str], Path],
                                         closed_port: int) -> None:
    path = write_config(demo.config_yaml().replace(demo.url, f"http://127.0.0.1:{closed_port}"))
    done = cli("prod-smoke", "-c", str(path), "demo", "--url", demo.url, "--no-browser")
    # Skipped page checks went unverified: never green, and said.
    assert done.returncode == 1, done.stdout
    assert f"→ {demo.url} (canonical URL)" in done.stdout
    assert "3/6 passed; not verified: 3 checks skipped" in " ".join(done.stdout.split())
    assert "expected" not in done.stdout  # the three HTTP checks passed against --url


@pytest.mark.parametrize(("args", "message"), [
    (["demo", "--url", "ftp://x"], "error: --url: 'ftp://x' is not an absolute http(s) URL"),
    (["demo", "--url", "https://robot:hunter2-0042@x.example.com"],
     "error: --url: must not hold a user name or password: use basic_auth: "),
    (["nope"], "error: unknown app 'nope' (apps in "),
])
def test_bad_arguments_exit_2_with_one_line(demo_config: Path, args: list[str],
                                            message: str) -> None:
    done = cli("prod-smoke", "-c", str(demo_config), *args)
    assert done.returncode == 2
    assert done.stderr.startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == "" and "hunter2" not in done.stderr


def test_a_broken_config_exits_2_naming_file_line_and_key(
        write_config: Callable[[str], Path]) -> None:
    path = write_config("apps:\n  a:\n    url: https://a.example.com\n    suite:\n"
                        "      - {get: /up, expect: {staus: 200}}\n")
    done = cli("prod-smoke", "-c", str(path), "a")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: {path}:5: apps.a.suite[0].expect.staus: "
                                   "unknown key (did you mean 'status'?)")


def test_debug_shows_the_traceback(write_config: Callable[[str], Path]) -> None:
    path = write_config("apps: [")
    quiet = cli("prod-smoke", "-c", str(path), "a")
    loud = cli("prod-smoke", "-c", str(path), "a", "--debug")
    assert "Traceback" not in quiet.stderr and quiet.returncode == 2
    assert "Traceback" in loud.stderr and "ConfigError" in loud.stderr


def test_the_config_comes_from_the_environment(demo_config: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = cli("prod-smoke", "demo", "--json", cwd=elsewhere,
               env={"SMOKESEAL_CONFIG": str(demo_config)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["base_url"].startswith("http://127.0.0.1:")
    missing = cli("prod-smoke", "demo", cwd=elsewhere)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (f"error: {elsewhere}/smokeseal.yml: no such file "
                                       "(pass --config or set SMOKESEAL_CONFIG)")


def test_missing_arguments_are_usage_errors() -> None:
    done = cli("prod-smoke")
    assert done.returncode == 2
    assert done.stderr == "error: give APP, or --all for every app in the config\n"
    seal = cli("smokeseal", "seal")
    assert seal.returncode == 2
    assert "Missing argument 'RELEASE'" in seal.stderr
    create = cli("smokeseal", "release", "create")
    assert create.returncode == 2
    assert "Missing argument 'APP'" in create.stderr


def test_the_demo_ships_green_and_red_and_serves_the_board(browser_executable: str,
                                                           tmp_path: Path) -> None:
    """What `make demo` runs: two ships, the board, Ctrl-C, and nothing left behind."""
    import re
    import signal

    import httpx

    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    environ["TMPDIR"] = str(tmp_path)  # the demo's temporary folder lands here, and goes
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    process = subprocess.Popen([str(BIN / "smokeseal"), "demo", "--port", "0"], cwd=cwd,
                               env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert process.stderr is not None and process.stdout is not None
    err: list[str] = []
    for line in process.stderr:
        err.append(line)
        if match := re.search(r"board on (http://127\.0\.0\.1:\d+)/deployments", line):
            break
    else:
        process.wait()
        pytest.fail("the demo printed no board URL:\n" + "".join(err))
    board = match.group(1)
    releases = httpx.get(f"{board}/api/releases").json()["releases"]
    assert [(r["version"], r["badge"]) for r in releases] == [("v1.1.0", "red"),
                                                              ("v1.0.0", "green")]
    red = httpx.get(f"{board}/api/releases/{releases[0]['id']}").json()
    assert red["smoke_seal"]["rollback"] == [
        "smokeseal release abandon 2",
        "git revert 3f2a9c1 # on main, if 3f2a9c1 is a single commit",
        "git revert -m 1 3f2a9c1 # on main, if 3f2a9c1 is a merge commit"]
    assert any(c["evidence_urls"] for c in red["checks"])  # the tasks page's screenshot
    assert "Sealed red" in httpx.get(f"{board}/releases/{releases[0]['id']}").text
    process.send_signal(signal.SIGINT)
    out, rest = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "🟢 green · 6/6 passed" in out
    assert "🔴 red · 3/6 passed" in out and "smokeseal release abandon 2" in out
    assert "Traceback" not in "".join(err) + rest
    # Nothing written outside the temporary folder, and that folder is gone.
    assert list(cwd.iterdir()) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("smokeseal-demo-")]


def test_prod_smoke_all_gives_one_result_per_app(demo: Demo, edge: Edge,
                                                  write_config: Callable[[str], Path],
                                                  browser_executable: str) -> None:
    from smokeseal.demo import DEMO_SUITE

    apps = "".join(f"  {name}:\n    url: {url}\n    suite: qa-readonly\n"
                   for name, url in (("studio", demo.url), ("blog", demo.url),
                                     ("edge", edge.url)))
    path = write_config(f"apps:\n{apps}suites:\n  qa-readonly:\n{DEMO_SUITE}")
    done = cli("prod-smoke", "--config", str(path), "--all", "--json")
    assert done.returncode == 1  # edge is red
    body = json.loads(done.stdout)
    assert list(body["apps"]) == ["studio", "blog", "edge"]
    assert [body["apps"][n]["status"] for n in body["apps"]] == ["green", "green", "red"]
    assert (body["green"], body["red"]) == (2, 1)
    shown = cli("prod-smoke", "--config", str(path), "--all").stdout.splitlines()
    assert shown[0].startswith(f"🟢 studio → {demo.url} · 6/6 passed")
    assert any(line.startswith(f"🔴 edge → {edge.url}") for line in shown)
    assert shown[-1].startswith("2/3 apps green · ")
    assert shown[-1].endswith(" apps/min")
    both = cli("prod-smoke", "--config", str(path), "--all", "studio")
    assert both.returncode == 2
    assert both.stderr.strip() == "error: give APP, or --all for every app in the config"


def test_prod_smoke_sha_checks_the_revision_production_serves(
        broken: Broken, write_config: Callable[[str], Path]) -> None:
    path = write_config(f"apps:\n  shop:\n    url: {broken.url}\n"
                        "    version: {path: /version, json: sha}\n"
                        "    suite: [{name: up, get: /up}]\n")
    live = cli("prod-smoke", "-c", str(path), "shop", "--sha", "3f2a9c1", "--json")
    assert live.returncode == 0, live.stdout + live.stderr
    record = json.loads(live.stdout)
    assert (record["revision"], record["expected_sha"]) == ("3f2a9c1b7d0e", "3f2a9c1")
    old = cli("prod-smoke", "-c", str(path), "shop", "--sha", "1a2b3c4d")
    assert old.returncode == 1
    out = " ".join(old.stdout.split())
    assert "version" in out and "3f2a9c1" in out and "1a2b3c4" in out
    assert "revision served: 3f2a9c1b7d0e (release 1a2b3c4)" in out
    # Without --sha the revision is read and recorded, not judged.
    plain = cli("prod-smoke", "-c", str(path), "shop", "--json")
    assert plain.returncode == 0 and json.loads(plain.stdout)["revision"] == "3f2a9c1b7d0e"


@pytest.mark.parametrize(("args", "message"), [
    (["--sha", "xyz"], "error: --sha: 'xyz' is not a commit sha (7 to 64 hex digits)"),
    (["--sha", "3f2a9c1", "--all"], "error: --sha: names one app's release; it cannot "
                                    "go with --all"),
])
def test_bad_sha_arguments_exit_2(broken: Broken, write_config: Callable[[str], Path],
                                  args: list[str], message: str) -> None:
    path = write_config(f"apps:\n  shop:\n    url: {broken.url}\n")
    done = cli("prod-smoke", "-c", str(path), *(["shop"] if "--all" not in args else []),
               *args)
    assert (done.returncode, done.stderr.strip()) == (2, message)


def test_sha_needs_the_apps_version_source(broken: Broken,
                                           write_config: Callable[[str], Path]) -> None:
    path = write_config(f"apps:\n  shop:\n    url: {broken.url}\n")
    done = cli("prod-smoke", "-c", str(path), "shop", "--sha", "3f2a9c1")
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: --sha: app 'shop' has no 'version:' in the config, "
                                   "so the revision production serves cannot be read")
