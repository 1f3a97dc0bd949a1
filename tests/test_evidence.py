"""Evidence is pruned: run folders past ``evidence_keep_days`` go, and nothing else ever does."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smokeseal.config import load_config
from smokeseal.errors import ConfigError
from smokeseal.evidence import RUN_MARKER, evidence_in_use, prune_evidence
from tests.conftest import Demo
from tests.test_cli import cli

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DAY = 86_400


def run_folder(root: Path, app: str, days_old: float, *, touched: float | None = None,
               size: int = 1000) -> Path:
    """A run folder as a failed page check leaves it, named and dated ``days_old`` days
    before NOW (its modification time ``touched`` days before, if given)."""
    started = NOW - timedelta(days=days_old)
    folder = root / f"{app}-{started:%Y%m%dT%H%M%S%fZ}"
    check = folder / "tasks-render"
    check.mkdir(parents=True)
    (folder / RUN_MARKER).touch()  # as a run of smokeseal leaves it
    (check / "screenshot.png").write_bytes(b"x" * size)
    (check / "console.txt").write_text("page error\n")
    at = (NOW - timedelta(days=days_old if touched is None else touched)).timestamp()
    for path in (check / "screenshot.png", check / "console.txt", check, folder):
        os.utime(path, (at, at), follow_symlinks=False)
    return folder


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.unit
def test_old_run_folders_go_and_recent_ones_stay(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    old = run_folder(root, "studio", 45)
    older = run_folder(root, "shop", 400, size=5000)
    recent = run_folder(root, "studio", 3)
    # Named 45 days ago, but written to yesterday (a clock set wrong, a run still going).
    touched = run_folder(root, "billing", 45, touched=1)
    pruned = prune_evidence(root, 30, now=NOW)
    assert sorted(f for f, _ in pruned.folders) == sorted([old, older])
    assert not old.exists() and not older.exists()
    assert recent.is_dir() and touched.is_dir()
    assert pruned.freed >= 6000 + 2 * len("page error\n")
    assert pruned.errors == []


@pytest.mark.unit
def test_only_run_folders_directly_under_the_root_are_touched(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    root.mkdir()
    ancient = (NOW - timedelta(days=900)).timestamp()
    for name in ("notes", "studio-latest", "README-20200101T000000Z.txt"):
        path = root / name
        path.mkdir() if "." not in name else path.write_text("mine")
        os.utime(path, (ancient, ancient))
    nested = run_folder(root / "notes", "studio", 90)  # a run-like folder, one level down
    before = tree(root)
    assert prune_evidence(root, 30, now=NOW).folders == []
    assert tree(root) == before and nested.is_dir()


@pytest.mark.unit
def test_a_dry_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    old = run_folder(root, "studio", 45)
    run_folder(root, "studio", 2)
    before = [(p, p.stat().st_mtime) for p in sorted(root.rglob("*"))]
    pruned = prune_evidence(root, 30, dry_run=True, now=NOW)
    assert [f for f, _ in pruned.folders] == [old] and pruned.freed > 1000
    assert [(p, p.stat().st_mtime) for p in sorted(root.rglob("*"))] == before


@pytest.mark.unit
def test_symlinks_are_never_followed_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    outside = tmp_path / "precious"
    (outside / "inner").mkdir(parents=True)
    (outside / "inner" / "data.txt").write_text("keep me")
    ancient = (NOW - timedelta(days=900)).timestamp()
    os.utime(outside, (ancient, ancient))
    old = run_folder(root, "studio", 45)
    # A link named like a run folder, to an old folder outside: neither removed nor entered.
    link = root / f"studio-{NOW - timedelta(days=90):%Y%m%dT%H%M%S%fZ}"
    link.symlink_to(outside, target_is_directory=True)
    os.utime(link, (ancient, ancient), follow_symlinks=False)
    # A link inside an old run folder: the folder goes, the link with it, not its target.
    (old / "tasks-render" / "escape").symlink_to(outside, target_is_directory=True)
    pruned = prune_evidence(root, 30, now=NOW)
    assert [f for f, _ in pruned.folders] == [old]
    assert not old.exists()
    assert link.is_symlink()
    assert (outside / "inner" / "data.txt").read_text() == "keep me"


@pytest.mark.unit
def test_an_evidence_root_that_is_a_symlink_or_missing(tmp_path: Path) -> None:
    assert prune_evidence(tmp_path / "none yet", 30, now=NOW).folders == []
    real = tmp_path / "disk" / "evidence"
    old = run_folder(real, "studio", 45)
    (tmp_path / "evidence").symlink_to(real, target_is_directory=True)
    pruned = prune_evidence(tmp_path / "evidence", 30, now=NOW)
    assert [f.name for f, _ in pruned.folders] == [old.name] and not old.exists()
    with pytest.raises(ValueError, match="days"):
        prune_evidence(real, 0)


@pytest.mark.unit
@pytest.mark.parametrize(("value", "message"), [
    ("0", "evidence_keep_days: Input should be greater than 0"),
    ("-3", "evidence_keep_days: Input should be greater than 0"),
    ('"30"', "evidence_keep_days: Input should be a valid integer"),
    ("true", "evidence_keep_days: Input should be a valid integer"),
    ("2.5", "evidence_keep_days: Input should be a valid integer"),
])
def test_evidence_keep_days_is_a_positive_whole_number(
        write_config: Callable[[str], Path], value: str, message: str) -> None:
    path = write_config(f"evidence_keep_days: {value}\napps:\n  a: {{url: https://a.example.com}}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.unit
def test_config_defaults_and_trace_values(write_config: Callable[[str], Path]) -> None:
    config = load_config(write_config("apps:\n  a: {url: https://a.example.com}\n"))
    assert config.evidence_keep_days == 30 and config.trace == "on-failure"
    config = load_config(write_config("evidence_keep_days: 7\ntrace: 'off'\n"
                                      "apps:\n  a: {url: https://a.example.com}\n"))
    assert config.evidence_keep_days == 7 and config.trace == "off"
    with pytest.raises(ConfigError, match="trace: Input should be 'on-failure' or 'off'"):
        load_config(write_config("trace: always\napps:\n  a: {url: https://a.example.com}\n"))


# --- the command line ----------------------------------------------------------------------

@pytest.fixture
def evidence_config(write_config: Callable[[str], Path]) -> Path:
    return write_config("evidence_dir: evidence\nevidence_keep_days: 10\n"
                        "apps:\n  a: {url: https://a.example.com}\n")


def _now_folder(root: Path, app: str, days_old: float) -> Path:
    """A run folder ``days_old`` days old now (the CLI prunes against the real clock)."""
    started = datetime.now(UTC) - timedelta(days=days_old)
    folder = root / f"{app}-{started:%Y%m%dT%H%M%S%fZ}"
    folder.mkdir(parents=True)
    (folder / "screenshot.png").write_bytes(b"x" * 2_500_000)
    at = time.time() - days_old * DAY
    for path in (folder / "screenshot.png", folder):
        os.utime(path, (at, at))
    return folder


@pytest.mark.e2e
def test_evidence_prune_removes_says_what_and_the_space_freed(evidence_config: Path) -> None:
    root = evidence_config.parent / "evidence"
    old, mid, new = (_now_folder(root, "a", d) for d in (40, 12, 1))
    dry = cli("smokeseal", "evidence", "prune", "--config", str(evidence_config), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove {old}" in dry.stdout and f"would remove {mid}" in dry.stdout
    assert "would remove 2 run folders older than 10 days" in dry.stdout
    assert "5.0 MB would be freed" in dry.stdout
    assert old.exists() and mid.exists()
    done = cli("smokeseal", "evidence", "prune", "--config", str(evidence_config),
               "--older-than", "30")
    assert done.returncode == 0, done.stderr
    assert f"removed {old} (2.5 MB)" in done.stdout
    assert "removed 1 run folder older than 30 days" in done.stdout
    assert "2.5 MB freed" in done.stdout
    assert not old.exists() and mid.exists() and new.exists()
    # The config's evidence_keep_days by default.
    done = cli("smokeseal", "--config", str(evidence_config), "evidence", "prune")
    assert done.returncode == 0 and not mid.exists() and new.exists()


@pytest.mark.e2e
@pytest.mark.parametrize(("args", "message"), [
    (["--older-than", "0"], "error: --older-than: '0' is not a number of days"),
    (["--older-than", "abc"], "error: --older-than: 'abc' is not a number of days"),
    (["--older-than", "-5"], "error: --older-than: '-5' is not a number of days"),
])
def test_evidence_prune_bad_arguments_exit_2_with_one_line(
        evidence_config: Path, args: list[str], message: str) -> None:
    old = _now_folder(evidence_config.parent / "evidence", "a", 400)
    done = cli("smokeseal", "evidence", "prune", "--config", str(evidence_config), *args)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1
    assert old.exists()


@pytest.mark.e2e
def test_evidence_prune_with_a_bad_config_names_the_key(
        write_config: Callable[[str], Path]) -> None:
    path = write_config("evidence_keep_days: 0\napps:\n  a: {url: https://a.example.com}\n")
    done = cli("smokeseal", "evidence", "prune", "--config", str(path))
    assert done.returncode == 2
    assert "evidence_keep_days" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_prod_smoke_prunes_old_evidence_at_the_end(
        demo: Demo, write_config: Callable[[str], Path]) -> None:
    path = write_config(f"evidence_dir: evidence\nevidence_keep_days: 10\napps:\n"
                        f"  demo:\n    url: {demo.url}\n    suite:\n      - {{get: /up}}\n")
    root = path.parent / "evidence"
    old, new = _now_folder(root, "demo", 11), _now_folder(root, "demo", 9)
    done = cli("prod-smoke", "--config", str(path), "demo", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "green"  # stdout stays the seal record
    assert "pruned 1 evidence run folder older than 10 days (2.5 MB freed)" in done.stderr
    assert not old.exists() and new.exists()


def unmarked(folder: Path, link_to: Path | None = None) -> Path:
    """``folder`` without the marker (or with a symlink in its place), as old as it was."""
    info = folder.stat()
    (folder / RUN_MARKER).unlink()
    if link_to is not None:
        (folder / RUN_MARKER).symlink_to(link_to)
    os.utime(folder, (info.st_atime, info.st_mtime))
    return folder


@pytest.mark.unit
def test_timestamped_folders_smokeseal_did_not_write_are_never_pruned(tmp_path: Path) -> None:
    """A shared root: another tool's old ``name-YYYYMMDDTHHMMSSZ`` folders stay."""
    root = tmp_path / "evidence"
    ours = run_folder(root, "studio", 45)
    theirs = unmarked(run_folder(root, "backup", 45))
    # From before the marker: an app of the config's, by its name.
    legacy = unmarked(run_folder(root, "shop", 45))
    # A marker that is a symlink is no marker.
    linked = unmarked(run_folder(root, "other", 45), link_to=ours / RUN_MARKER)
    pruned = prune_evidence(root, 30, now=NOW, apps=["studio", "shop"])
    assert sorted(f for f, _ in pruned.folders) == sorted([ours, legacy])
    assert theirs.is_dir() and linked.is_dir()
    assert prune_evidence(root, 30, now=NOW).folders == []  # nothing left of ours


@pytest.mark.unit
def test_a_run_folder_a_live_seal_links_is_kept_however_old(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    shown = run_folder(root, "studio", 45)
    old = run_folder(root, "studio", 44)
    seal = {"status": "red", "checks": [
        {"name": "tasks render", "evidence": str(shown / "tasks-render")},
        {"name": "up", "evidence": None}, "damaged", {"evidence": 42}]}
    keep = evidence_in_use([seal, None, {"checks": "damaged"}], root)
    assert keep == {shown.resolve()}
    pruned = prune_evidence(root, 30, now=NOW, keep=keep)
    assert [f for f, _ in pruned.folders] == [old]
    assert shown.is_dir()


@pytest.mark.integration
def test_a_failed_page_check_marks_its_run_folder(demo: Demo, write_config: Callable[[str], Path],
                                                  browser_executable: str) -> None:
    config = write_config(demo.config_yaml())
    demo.state.set_faults("tasks_js_error")
    result = cli("prod-smoke", "demo", "--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    [run] = [p for p in (config.parent / ".smokeseal" / "evidence").iterdir() if p.is_dir()]
    assert (run / RUN_MARKER).is_file()
