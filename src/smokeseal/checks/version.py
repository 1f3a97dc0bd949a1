"""The live build: which revision production serves, and whether it is the release's.

A deploy can pass its ``/up`` gate while the old build still answers (a rolling deploy not
done yet, a cache in front, a release that never replaced the old containers). An app that
says how to read its revision (``version:`` in the config) gets one more check: the
revision it serves against the release's sha.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import regex

from smokeseal.access import Access
from smokeseal.checks.base import CheckResult, Stopwatch, join_url, shorten
from smokeseal.checks.http import (
    UnreadableBody,
    Walk,
    WalkStopped,
    WriteRefused,
    describe_http_error,
    read_only_client,
    walk_on_app,
)
from smokeseal.config import VersionSource

__all__ = [
    "MIN_SHA_LENGTH",
    "Revision",
    "VersionCheckResult",
    "read_revision",
    "read_revision_sync",
    "run_version_check",
    "same_revision",
    "shown",
    "what_is_live",
]

#: Fewer characters than git's own short sha could match a different commit by chance.
MIN_SHA_LENGTH = 7
#: A revision is an identifier; production's text beyond this is not one.
REVISION_LIMIT = 100
_HEX = re.compile(r"[0-9a-fA-F]+")
#: A ``pattern`` looks at most this much of the body: a revision is near its top.
PATTERN_SCOPE = 256 * 1024
#: And for at most this long: a pattern that backtracks can take minutes on a long line,
#: on the event loop, where no deadline could stop it.
PATTERN_TIMEOUT = 1.0
#: The least time a pattern gets, even when the fetch left less of the source's timeout.
_PATTERN_FLOOR = 0.1


@dataclass(frozen=True)
class Revision:
    """What production says it serves: ``value``, or None with ``detail`` saying why not."""

    value: str | None
    #: How it was read ("json key 'sha' of /version"), or why it could not be.
    detail: str


@dataclass
class VersionCheckResult(CheckResult):
    """A check result that also carries the revision production served, for the seal."""

    #: The full revision production served, or None when it could not be read.
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.revision is not None:
            out["revision"] = self.revision
        return out


def same_revision(served: str, sha: str) -> bool:
    """Whether ``served`` names the commit ``sha``: one is a prefix of the other, ignoring
    case, and both have at least :data:`MIN_SHA_LENGTH` characters."""
    a, b = served.strip().lower(), sha.strip().lower()
    if len(a) < MIN_SHA_LENGTH or len(b) < MIN_SHA_LENGTH:
        return False
    return a.startswith(b) or b.startswith(a)


def what_is_live(revision: Revision, sha: str) -> str:
    """"1a2b3c4 is still live, not 3f2a9c1", "3f2a9c1 is live", or why none could be read."""
    if revision.value is None:
        return f"the live revision could not be read ({revision.detail})"
    if same_revision(revision.value, sha):
        return f"{shown(revision.value)} is live"
    return f"{shown(revision.value, sha)} is still live, not {shown(sha.strip(), revision.value)}"


def shown(value: str, other: str | None = None) -> str:
    """``value`` as people read a sha: 7 characters, or as many as it takes to tell it from
    ``other``; anything that is not a hex sha is shown as it is, shortened."""
    if not _HEX.fullmatch(value) or len(value) <= MIN_SHA_LENGTH:
        return shorten(value, 40)
    common = 0
    if other is not None:
        for a, b in zip(value.lower(), other.strip().lower(), strict=False):
            if a != b:
                break
            common += 1
    return value[:max(MIN_SHA_LENGTH, common + 1)]


async def read_revision(client: httpx.AsyncClient, source: VersionSource, base_url: str, *,
                        app_urls: Sequence[str] = (), access: Access | None = None) -> Revision:
    """Ask production which revision it serves: one GET of ``source.path``, bounded by
    ``source.timeout``, redirects followed only on the app (``base_url``, ``app_urls``)."""
    path = source.path
    loop = asyncio.get_running_loop()
    deadline = loop.time() + source.timeout
    try:
        walk = await walk_on_app(client, "GET", join_url(base_url, path),
                                 app_urls=(base_url, *app_urls), timeout=source.timeout,
                                 access=access)
    except TimeoutError:
        return Revision(None, f"{path} gave no complete answer within {source.timeout:g} s")
    except (WalkStopped, WriteRefused) as exc:
        return Revision(None, f"{path}: {exc}")
    except httpx.HTTPError as exc:
        return Revision(None, f"{path}: {describe_http_error(exc, base_url)}")
    if walk.left_to is not None:
        return Revision(None, f"{path} redirected off the app to {walk.left_to}")
    status = walk.response.status_code
    if not 200 <= status < 300:
        return Revision(None, f"{path} answered {status}")
    if source.pattern is not None:
        # Off the event loop, so that the check's deadline and the run's budget still hold
        # while it runs (it gives up on its own past its timeout).
        left = max(min(PATTERN_TIMEOUT, deadline - loop.time()), _PATTERN_FLOOR)
        return await asyncio.to_thread(_pattern_revision, walk, source, source.pattern, left)
    return _revision_in(walk, source)


def _pattern_revision(walk: Walk, source: VersionSource, pattern: str,
                      timeout: float) -> Revision:
    path, shown_pattern = source.path, shorten(pattern, 60)
    try:
        text = walk.text(PATTERN_SCOPE)
    except UnreadableBody as exc:
        return Revision(None, f"{path}: {exc}")
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        return Revision(None, f"pattern {shown_pattern!r} is not a regular expression: {exc}")
    if compiled.groups != 1:
        return Revision(None, f"pattern {shown_pattern!r} needs exactly one group (it has "
                              f"{compiled.groups})")
    try:
        # concurrent: the search lets go of the GIL, so the event loop runs meanwhile.
        match = compiled.search(text, timeout=timeout, concurrent=True)
    except TimeoutError:
        return Revision(None, f"pattern took too long on the body of {path} ({shown_pattern!r}"
                              f" gave up after {timeout:.2g} s); anchor it or make it more "
                              "specific")
    if match is None:
        scope = (f"the first {PATTERN_SCOPE // 1024} KiB of " if len(walk.body) > PATTERN_SCOPE
                 else "")
        return Revision(None, f"pattern {shown_pattern!r} found nothing in {scope}the body "
                              f"of {path}")
    return _found(match.group(1) or "", f"pattern {shown_pattern!r} on {path}")


def _revision_in(walk: Walk, source: VersionSource) -> Revision:
    path = source.path
    if source.header is not None:
        value = walk.response.headers.get(source.header)
        if value is None:
            return Revision(None, f"{path} answered without a {source.header} header")
        return _found(value, f"header {source.header} of {path}")
    assert source.json_key is not None  # the config holds exactly one of the three
    try:
        document = json.loads(walk.text())
    except UnreadableBody as exc:
        return Revision(None, f"{path}: {exc}")
    except ValueError as exc:
        return Revision(None, f"{path} is not JSON ({exc})")
    except RecursionError:  # production's body is untrusted: thousands of nested brackets
        return Revision(None, f"{path} is JSON nested too deep to read")
    return _json_revision(document, source.json_key, path)


def _json_revision(document: object, dotted: str, path: str) -> Revision:
    at: object = document
    for part in dotted.split("."):
        if isinstance(at, dict) and part in at:
            at = at[part]
        elif isinstance(at, list) and part.isdigit() and int(part) < len(at):
            at = at[int(part)]
        else:
            return Revision(None, f"the JSON of {path} has no {dotted!r}"
                                  + (f" (no {part!r})" if part != dotted else ""))
    # A build number is a revision too; true, null, an object or a list is not.
    if isinstance(at, bool) or not isinstance(at, str | int):
        kind = "null" if at is None else type(at).__name__
        return Revision(None, f"{dotted!r} in the JSON of {path} is {kind}, not a revision")
    return _found(str(at), f"json key {dotted!r} of {path}")


def _found(raw: str, how: str) -> Revision:
    # Cut with the ellipsis the secrets filter knows, so a secret cut short is still found.
    value = shorten(raw.strip(), REVISION_LIMIT)
    if not value:
        return Revision(None, f"{how} is empty")
    return Revision(value, how)


def read_revision_sync(source: VersionSource, base_url: str, *,
                       app_urls: Sequence[str] = (), access: Access | None = None,
                       ca_file: str | None = None) -> Revision:
    """:func:`read_revision` for blocking code (the ship's gate), with a client of its own.

    Must not be called from a running event loop.
    """

    async def once() -> Revision:
        async with read_only_client(ca_file) as client:
            return await read_revision(client, source, base_url, app_urls=app_urls,
                                       access=access)

    return asyncio.run(once())


async def run_version_check(client: httpx.AsyncClient, source: VersionSource, base_url: str,
                            expected_sha: str | None, *, app_urls: Sequence[str] = (),
                            access: Access | None = None) -> VersionCheckResult:
    """The ``version`` check: the revision production serves, against ``expected_sha``.

    Without a sha it passes when the revision can be read, recording what is served. The
    served revision is on the result's ``revision`` (and in its ``to_dict``) for the seal.
    """
    watch = Stopwatch()
    url = join_url(base_url, source.path)
    revision = await read_revision(client, source, base_url, app_urls=app_urls, access=access)
    served = revision.value

    def result(ok: bool, detail: str) -> VersionCheckResult:
        return VersionCheckResult("version", "version", ok, detail, watch.ms(), url=url,
                                  revision=served)

    if served is None:
        return result(False, f"could not read the live revision: {revision.detail}")
    if expected_sha is None:
        return result(True, f"serving {shown(served)}")
    if same_revision(served, expected_sha):
        return result(True, f"serving {shown(served)}, the release's sha")
    want = expected_sha.strip()
    serving = f"serving {shown(served, want)}, expected {shown(want, served)}"
    if not _HEX.fullmatch(served):
        return result(False, f"{serving}: not a commit sha, so not the release's")
    if len(served) < MIN_SHA_LENGTH:
        return result(False, f"{serving}: too short to tell (a sha needs at least "
                             f"{MIN_SHA_LENGTH} characters)")
    return result(False, f"{serving}: an older build still answers")
