"""The real command line against the real apps: ``prod-smoke --all`` over their recipes at
once, run after run, and a release recorded shipped and sealed with ``smokeseal seal``, whose
ledger record lists the reads let through."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import smokeseal
from tests.realapps.conftest import KINDS, Fleet
from tests.realapps.recipes import recipe
from tests.realapps.test_realapps import READ

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
SHA = "3f2a9c1d4e5f60718293a4b5c6d7e8f901234567"
RUNS = 3
SOURCE = str(Path(smokeseal.__file__).resolve().parent.parent)


def fleet_config(realapps: Fleet, where: Path, mode: str = "healthy") -> Path:
    """Every real app's recipe in one smokeseal.yml, each aimed at its app."""
    apps: dict[str, Any] = {}
    for kind in KINDS:
        name, settings = recipe(kind)
        settings["url"] = realapps.app(kind, mode).url
        apps[name] = settings
    path = where / "smokeseal.yml"
    path.write_text(yaml.safe_dump({"apps": apps}, sort_keys=False), encoding="utf-8")
    return path


def smokeseal(*args: str, config: Path, browser: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    env["SMOKESEAL_BROWSER"] = browser
    env["SMOKESEAL_DATABASE_URL"] = f"sqlite:///{config.parent / 'ledger.db'}"
    # The command line of the smokeseal under test, whatever the cwd and however it is found.
    env["PYTHONPATH"] = os.pathsep.join([SOURCE, *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([str(BIN / args[0]), "--config", str(config), *args[1:]],
                          cwd=config.parent, env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.mark.slow
def test_prod_smoke_all_seals_every_real_app_green_run_after_run(
        realapps: Fleet, tmp_path: Path, browser_executable: str) -> None:
    config = fleet_config(realapps, tmp_path)
    names = {kind: recipe(kind)[0] for kind in KINDS}
    for attempt in range(RUNS):
        done = smokeseal("prod-smoke", "--all", "--json", config=config,
                         browser=browser_executable)
        assert done.returncode == 0, f"run {attempt + 1}: {done.stdout}\n{done.stderr}"
        seals = json.loads(done.stdout)["apps"]
        for kind, name in names.items():
            seal = seals[name]
            assert seal["status"] == "green", seal["summary"]
            [page] = [c for c in seal["checks"] if c["kind"] == "page"]
            assert any(r.startswith(READ[kind]) for r in page["reads"]), page
            assert "blocked_writes" not in page


def test_a_release_of_a_real_dash_app_sealed_green_records_the_reads_in_the_ledger(
        realapps: Fleet, tmp_path: Path, browser_executable: str) -> None:
    config = fleet_config(realapps, tmp_path)
    name = recipe("dash")[0]
    created = smokeseal("smokeseal", "release", "create", name, "--version", "v1.0.0",
                        "--sha", SHA, "--shipped", config=config, browser=browser_executable)
    assert created.returncode == 0, created.stderr
    sealed = smokeseal("smokeseal", "seal", f"{name}@v1.0.0", config=config,
                       browser=browser_executable)
    assert sealed.returncode == 0, sealed.stdout + sealed.stderr
    assert "🟢 green" in sealed.stdout
    shown = smokeseal("smokeseal", "release", "show", f"{name}@v1.0.0", "--json",
                      config=config, browser=browser_executable)
    record = json.loads(shown.stdout)
    assert record["state"] == "shipped"
    seal = record["smoke_seal"]
    assert seal["status"] == "green"
    page = next(c for c in seal["checks"] if c["kind"] == "page")
    assert page["reads"] and page["reads"][0].startswith("POST /_dash-update-component")
    # The history lists each run in brief; the shown seal is the full record.
    assert [(s["status"], s["summary"]) for s in record["seals"]] == [("green", seal["summary"])]


def test_a_release_of_a_broken_real_streamlit_app_is_sealed_red_naming_the_page_check(
        realapps: Fleet, tmp_path: Path, browser_executable: str) -> None:
    config = fleet_config(realapps, tmp_path, mode="broken")
    name = recipe("streamlit")[0]
    created = smokeseal("smokeseal", "release", "create", name, "--version", "v2.0.0",
                        "--sha", SHA, "--shipped", config=config, browser=browser_executable)
    assert created.returncode == 0, created.stderr
    sealed = smokeseal("smokeseal", "seal", f"{name}@v2.0.0", "--json", config=config,
                       browser=browser_executable)
    assert sealed.returncode == 1, sealed.stdout + sealed.stderr
    seal = json.loads(sealed.stdout)
    assert seal["status"] == "red"
    assert "inventory renders: page shows 'Traceback'" in seal["summary"]
    assert seal["rollback"]
