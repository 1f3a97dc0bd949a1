"""The rollback commands printed on red: the app's own templates (``rollback:``), else
``release abandon`` and the right ``git revert``. smokeseal prints them and runs none.

A template names what it needs in braces: ``kamal rollback {last_green.version}``. Values
come from the ledger, where a version is whatever the pipeline called the release; each is
shell-quoted where it needs it, so a pasted command does what it says and nothing more.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PLACEHOLDERS", "ReleaseFacts", "default_commands", "merge_commit",
           "placeholders_in", "render", "rollback_commands"]

#: What a template may name.
PLACEHOLDERS = ("app", "branch", "release.id", "release.sha", "release.short_sha",
                "release.version", "last_green.id", "last_green.sha", "last_green.short_sha",
                "last_green.version")
#: A template's tokens: a ``${VAR}`` left as written (the shell fills it), an escaped brace,
#: a placeholder, or a stray brace.
_FIELD = re.compile(r"\$\{\w+\}|\{\{|\}\}|\{([^{}]*)\}|[{}]")
#: How long ``git`` may take to say whether a commit is a merge: it is a nicety, not a need.
GIT_TIMEOUT = 3.0
_HEX = re.compile(r"[0-9a-fA-F]{7,64}")


@dataclass(frozen=True)
class ReleaseFacts:
    """What a template can be filled with, of one release."""

    id: int
    sha: str
    version: str

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


def placeholders_in(template: str) -> list[str]:
    """The placeholders ``template`` names; ``ValueError`` for an unknown one or a stray
    brace (``{{`` and ``}}`` write a brace)."""
    found: list[str] = []
    for match in _FIELD.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}") or token.startswith("$"):
            continue
        name = match.group(1)
        if name is None:
            raise ValueError(f"stray {token!r} in {template!r} (write {token * 2} for a brace)")
        if name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} in {template!r} "
                             f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
        found.append(name)
    return found


def render(template: str, values: Mapping[str, str | None]) -> str:
    """``template`` filled from ``values``; a value that is None (no earlier green release)
    leaves the line commented out, saying why, so it cannot be pasted by mistake."""
    missing = [name for name in placeholders_in(template) if values.get(name) is None]
    if missing:
        return f"# {template}  (no earlier green release: nothing to fill {{{missing[0]}}})"

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("$"):
            return token
        if token in ("{{", "}}"):
            return token[0]
        return shlex.quote(values[match.group(1)] or "")

    return _FIELD.sub(fill, template)


def merge_commit(sha: str, checkout: Path) -> bool | None:
    """Whether ``sha`` is a merge commit, asking git in ``checkout``; None when that cannot
    be known (no checkout, the commit not in it, no git)."""
    if not _HEX.fullmatch(sha):
        return None
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    environ["GIT_TERMINAL_PROMPT"] = "0"
    try:
        found = subprocess.run(
            ["git", "-C", str(checkout), "rev-list", "--parents", "-n", "1", f"{sha}^{{commit}}"],
            capture_output=True, text=True, timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL,
            env=environ, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    hashes = found.stdout.split()
    if found.returncode != 0 or not hashes or not hashes[0].lower().startswith(sha.lower()):
        return None
    return len(hashes) > 2


def default_commands(release: ReleaseFacts, branch: str, checkout: Path | None) -> list[str]:
    """``release abandon`` and the revert that undoes the release's commit: ``-m 1`` only
    for a merge commit (git refuses it on any other); both, labelled, when git cannot say."""
    short = release.short_sha
    merge = merge_commit(release.sha, checkout) if checkout is not None else None
    commands = [f"smokeseal release abandon {release.id}"]
    if merge is True:
        commands.append(f"git revert -m 1 {short} # on {branch}")
    elif merge is False:
        commands.append(f"git revert {short} # on {branch}")
    else:
        commands += [f"git revert {short} # on {branch}, if {short} is a single commit",
                     f"git revert -m 1 {short} # on {branch}, if {short} is a merge commit"]
    return commands


def rollback_commands(templates: Sequence[str] | None, *, app: str, branch: str,
                      release: ReleaseFacts, last_green: ReleaseFacts | None,
                      checkout: Path | None) -> list[str]:
    """The commands printed on a red seal of ``release``: ``templates`` filled in, else
    :func:`default_commands`."""
    if not templates:
        return default_commands(release, branch, checkout)
    values: dict[str, str | None] = {
        "app": app, "branch": branch, "release.id": str(release.id), "release.sha": release.sha,
        "release.short_sha": release.short_sha, "release.version": release.version,
        "last_green.id": str(last_green.id) if last_green else None,
        "last_green.sha": last_green.sha if last_green else None,
        "last_green.short_sha": last_green.short_sha if last_green else None,
        "last_green.version": last_green.version if last_green else None,
    }
    return [render(template, values) for template in templates]
