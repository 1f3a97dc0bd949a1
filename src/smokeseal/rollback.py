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
        if _quoted_at(template, match.start()):
            # Inside quotes a value's own quoting means nothing: "$(…)" would run.
            raise ValueError(f"{{{name}}} is inside quotes in {template!r}: write it bare "
                             "(smokeseal quotes each value itself)")
        found.append(name)
    return found


def _quoted_at(template: str, index: int) -> bool:
    """Whether ``index`` of ``template`` is inside single or double quotes, or a backquote
    or ``$(`` substitution, as a POSIX shell reads it."""
    quote: str | None = None
    depth = 0
    escaped = False
    for position, char in enumerate(template[:index]):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char == "(" and template[position - 1:position] == "$":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
    return quote is not None or depth > 0


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

    line = _FIELD.sub(fill, template)
    odd = [name for name in placeholders_in(template)
           if shlex.quote(values[name] or "") != values[name]]
    if odd:
        # Quoted, it is one argument here; but a command that hands it to another shell
        # (ssh, kubectl exec) would read it again. Pasting it must be a decision.
        return (f"# {line}  (check before pasting: {{{odd[0]}}} holds characters a shell "
                "reads)")
    return line


def merge_commit(sha: str, checkout: Path) -> bool | None:
    """Whether ``sha`` is a merge commit, asking git in ``checkout``; None when that cannot
    be known (no checkout, a shallow one, the commit not in it, no git)."""
    if not _HEX.fullmatch(sha):
        return None
    if _git(checkout, "rev-parse", "--is-shallow-repository") != "false":
        # A shallow clone (actions/checkout's default) shows a merge with no parents.
        return None
    hashes = (_git(checkout, "rev-list", "--parents", "-n", "1", f"{sha}^{{commit}}")
              or "").split()
    if not hashes or not hashes[0].lower().startswith(sha.lower()):
        return None
    return len(hashes) > 2


def _git(checkout: Path, *args: str) -> str | None:
    """What ``git -C checkout ARGS`` prints, stripped; None when it fails or takes long."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    environ["GIT_TERMINAL_PROMPT"] = "0"
    try:
        found = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True,
                               text=True, timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL,
                               env=environ, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() if found.returncode == 0 else None


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
