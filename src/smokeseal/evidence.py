"""The evidence root: pruning run folders older than the config's ``evidence_keep_days``.

Every run that keeps evidence makes one folder directly under the root, named after the app
and the run's start (``studio-20261124T110000123456Z``, see
:func:`smokeseal.runner.evidence_folder`). Pruning looks at those top-level folders only
(cheap enough to run after every ``prod-smoke`` and ``seal``), and removes one when both its
name's time and its modification time are older than the limit. It never removes anything
else: not a file, not a folder whose name is not a run's, not a symlink (nor what it points
at), nothing outside the root; inside a run folder, a symlink is removed as a link, never
followed.

Only folders smokeseal wrote: the root may be shared with other tools whose folders are
named the same way, so a run folder counts only when it holds the marker :data:`RUN_MARKER`
(a regular file, written when the run folder is made, see :func:`mark_run_folder`), or, for
folders kept before the marker existed, when its name's app is one of the config's apps.
And never one in ``keep``: the seal command passes the run folders that each app's live
release's seal links (:func:`evidence_in_use`), read from the ledger in the two statements
the board's app strip costs. Older releases' evidence goes by age, as ``evidence_keep_days``
says (the board then shows it as pruned); ``prod-smoke`` records nothing and opens no
ledger, so its prune keeps no live seal's folder beyond the age limit either.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_KEEP_DAYS", "RUN_MARKER", "Pruned", "evidence_in_use", "mark_run_folder",
           "prune_evidence", "run_folders"]

DEFAULT_KEEP_DAYS = 30
#: The file that makes a folder under the evidence root one of smokeseal's run folders.
RUN_MARKER = ".smokeseal-run"
#: A run folder's name: the app, then the run's start in UTC.
_RUN_FOLDER = re.compile(r"^(?P<app>.+)-(?P<at>\d{8}T\d{6}(\d{6})?Z)$")


@dataclass
class Pruned:
    """What a prune removed (or, with ``dry_run``, would remove)."""

    root: Path
    days: int
    dry_run: bool = False
    #: Each run folder, with the bytes it held.
    folders: list[tuple[Path, int]] = field(default_factory=list)
    #: Folders that could not be removed, with why.
    errors: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(size for _, size in self.folders)


def _started(name: str) -> datetime | None:
    match = _RUN_FOLDER.match(name)
    if match is None:
        return None
    at = match.group("at")
    try:
        return datetime.strptime(at, "%Y%m%dT%H%M%S%fZ" if len(at) > 16 else "%Y%m%dT%H%M%SZ"
                                 ).replace(tzinfo=UTC)
    except ValueError:
        return None


def run_folders(root: Path) -> Iterator[tuple[Path, datetime]]:
    """The run folders directly under ``root`` (real folders, not symlinks), each with the
    later of its name's time and its modification time."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        started = _started(entry.name)
        if started is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode):  # a symlink, a file: not a run's folder
            continue
        touched = datetime.fromtimestamp(info.st_mtime, UTC)
        yield Path(entry.path), max(started, touched)


def mark_run_folder(folder: Path) -> None:
    """Make ``folder`` (and its parents) and mark it as a run folder of smokeseal's."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / RUN_MARKER
    if not marker.is_file():
        marker.write_text("written by smokeseal: evidence of one run; "
                          "`smokeseal evidence prune` removes it when old\n", encoding="utf-8")


def _marked(folder: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(folder / RUN_MARKER).st_mode)
    except OSError:
        return False


def evidence_in_use(seals: Iterable[Any], root: Path) -> set[Path]:
    """The run folders under ``root`` that the checks of ``seals`` (records as the ledger
    keeps them; anything else is ignored) link to as their evidence."""
    try:
        real_root = root.resolve()
    except (OSError, RuntimeError):
        return set()
    found: set[Path] = set()
    for seal in seals:
        checks = seal.get("checks") if isinstance(seal, dict) else None
        for check in checks if isinstance(checks, list) else ():
            recorded = check.get("evidence") if isinstance(check, dict) else None
            if not isinstance(recorded, str) or not recorded:
                continue
            try:
                folder = Path(recorded).resolve()
            except (OSError, RuntimeError):
                continue
            if folder.is_relative_to(real_root) and folder != real_root:
                found.add(real_root / folder.relative_to(real_root).parts[0])
    return found


def _size(folder: Path) -> int:
    """Bytes held under ``folder``, symlinks counted as links, never followed."""
    total = 0
    for top, dirs, files in os.walk(folder, followlinks=False):
        for name in (*dirs, *files):
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total


def prune_evidence(root: Path, days: int, *, dry_run: bool = False,
                   now: datetime | None = None, apps: Iterable[str] = (),
                   keep: Iterable[Path] = ()) -> Pruned:
    """Remove smokeseal's run folders under ``root`` older than ``days`` days; with
    ``dry_run``, only say which. A folder is smokeseal's when it holds :data:`RUN_MARKER`,
    or (kept before the marker) its name's app is one of ``apps``; one in ``keep`` stays."""
    if days < 1:
        raise ValueError("days: must be 1 or more")
    pruned = Pruned(root, days, dry_run)
    try:
        real_root = root.resolve(strict=True)
    except OSError:
        return pruned  # no evidence kept yet
    limit = (now or datetime.now(UTC)) - timedelta(days=days)
    ours = set(apps)
    kept = set(keep)
    for folder, when in sorted(run_folders(real_root)):
        if when >= limit or folder.parent != real_root or folder in kept:
            continue
        match = _RUN_FOLDER.match(folder.name)
        if not _marked(folder) and (match is None or match.group("app") not in ours):
            continue  # not a folder smokeseal wrote: the root may be shared
        size = _size(folder)
        if not dry_run:
            try:
                # On Linux and macOS, rmtree works on file descriptors: a symlink inside is
                # unlinked, never followed, even one swapped in meanwhile.
                shutil.rmtree(folder)
            except OSError as exc:
                pruned.errors.append(f"{folder}: {exc.strerror or exc}")
                continue
        pruned.folders.append((folder, size))
    return pruned
