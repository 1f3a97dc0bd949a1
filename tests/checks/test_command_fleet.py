"""Several apps in one ``prod-smoke --all`` run (one event loop) never read each other's
command results: a shared, fixed ``junit`` path makes their commands take turns, while
``{junit}`` gives each its own file so they run side by side."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from smokeseal.config import load_config
from smokeseal.runner import run_fleet

pytestmark = pytest.mark.integration


def fleet_config(tmp_path: Path, check: str) -> Path:
    path = tmp_path / "smokeseal.yml"
    path.write_text(
        "apps:\n"
        "  alpha: {url: 'http://alpha.test', suite: shared}\n"
        "  beta: {url: 'http://beta.test', suite: shared}\n"
        f"suites:\n  shared:\n    - {check}\n")
    return path


# Names its testcase after the app it was run for (from its URL), and leaves evidence when
# another app's command was running at the same time.
WRITES_ITS_OWN_APP = textwrap.dedent("""\
    import os, time
    app = os.environ["SMOKESEAL_URL"].split("//")[1].split(".")[0]
    others = [f for f in os.listdir(".") if f.startswith("running-")]
    open(f"running-{app}", "w").close()
    time.sleep(0.3)
    with open("results.xml", "w") as out:
        out.write(f"<testsuite name='s'><testcase name='{app}'/></testsuite>")
    time.sleep(0.3)
    others += [f for f in os.listdir(".") if f.startswith("running-") and f != f"running-{app}"]
    os.remove(f"running-{app}")
    if others:
        open(f"overlapped-{app}", "w").write(" ".join(others))
""")


def test_apps_sharing_a_fixed_results_file_each_read_their_own(tmp_path: Path) -> None:
    (tmp_path / "writer.py").write_text(WRITES_ITS_OWN_APP)
    config = load_config(fleet_config(
        tmp_path, f"{{name: spec, command: '{sys.executable} writer.py', junit: results.xml}}"))
    for _ in range(2):  # a second run, in a second event loop, takes its turns the same way
        runs = run_fleet(config)
        assert {app: [(r.name, r.outcome) for r in run.results] for app, run in runs.items()} \
            == {"alpha": [("spec › alpha", "passed")], "beta": [("spec › beta", "passed")]}
        assert sorted(p.name for p in tmp_path.glob("overlapped-*")) == []
    # The one that waited says so.
    notes = [note for run in runs.values() for r in run.results for note in r.notes]
    assert len(notes) == 1 and notes[0].startswith("waited "), notes
    assert notes[0].endswith(f"ms for another run writing {tmp_path}/results.xml")


# Passes only when the other app's command is running at the same time.
MEETS_THE_OTHER_APP = textwrap.dedent("""\
    import os, sys, time
    app = os.environ["SMOKESEAL_URL"].split("//")[1].split(".")[0]
    open(f"arrived-{app}", "w").close()
    deadline = time.monotonic() + 20
    while len([f for f in os.listdir(".") if f.startswith("arrived-")]) < 2:
        if time.monotonic() > deadline:
            sys.exit("the other app's command never ran alongside this one")
        time.sleep(0.05)
    with open(sys.argv[1], "w") as out:
        out.write(f"<testsuite name='s'><testcase name='{app}'/></testsuite>")
""")


def test_apps_with_fresh_results_files_run_side_by_side(tmp_path: Path) -> None:
    (tmp_path / "meet.py").write_text(MEETS_THE_OTHER_APP)
    config = load_config(fleet_config(
        tmp_path, f"{{name: spec, command: '{sys.executable} meet.py {{junit}}'}}"))
    runs = run_fleet(config)
    assert {app: [(r.name, r.outcome, r.detail) for r in run.results]
            for app, run in runs.items()} == {
        "alpha": [("spec › alpha", "passed", "passed")],
        "beta": [("spec › beta", "passed", "passed")]}


def test_waiting_for_a_shared_results_file_is_not_the_checks_own_time(tmp_path: Path) -> None:
    # Three apps, each command taking 1.5 s of a 2 s timeout (plus the runner's grace): they
    # take turns for 4.5 s, and none may be failed for the time it waited for the others.
    (tmp_path / "writer.py").write_text(
        "import time\ntime.sleep(1.5)\n"
        "open('results.xml', 'w').write(\"<testsuite><testcase name='t'/></testsuite>\")\n")
    path = tmp_path / "smokeseal.yml"
    path.write_text(
        "apps:\n" + "".join(f"  {name}: {{url: 'http://{name}.test', suite: shared}}\n"
                            for name in ("alpha", "beta", "gamma", "delta", "epsilon"))
        + f"suites:\n  shared:\n    - {{name: spec, command: '{sys.executable} writer.py', "
          "junit: results.xml, timeout: 2}\n")
    runs = run_fleet(load_config(path))
    assert {app: [r.outcome for r in run.results] for app, run in runs.items()} == {
        app: ["passed"] for app in ("alpha", "beta", "gamma", "delta", "epsilon")}


def test_a_results_path_that_cannot_be_locked_is_that_checks_failure(tmp_path: Path) -> None:
    config = load_config(fleet_config(tmp_path, "{name: spec, command: 'true', "
                                                "junit: \"out\\0.xml\"}"))
    runs = run_fleet(config)
    for run in runs.values():
        [result] = run.results
        assert result.outcome == "failed" and result.detail, result.detail
