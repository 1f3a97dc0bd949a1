"""A Playwright trace of each page check, kept (scrubbed) beside its screenshot when it fails.

Each page check starts tracing on its tab's context (screenshots and DOM snapshots) and stops
it at its end: a failed check keeps ``trace.zip`` in its evidence folder, a passing one
discards what was recorded. The trace opens with ``npx playwright show-trace trace.zip`` or at
https://trace.playwright.dev.

Why a whole ``start``/``stop`` per check rather than one ``start`` per context and a chunk per
check: Playwright keeps a context's network log and the bodies it refers to across chunks (so
its viewer can draw earlier snapshots), so the chunk of a tab's second check would hold the
first check's requests and responses. Stopping and starting again costs about the same and
gives each check a trace of its own.

**Secrets.** A trace holds every request's and response's headers and the bodies that are
text, and the calls smokeseal made (``add_cookies``, the guard's ``continue_`` with the
app's headers). The evidence is served on the board, so the zip Playwright writes (outside the
evidence folder, in a temporary file) is rewritten before it is kept: every text entry has the
config's secrets and the values of the app's ``headers``, ``cookies`` and basic auth replaced
by ``***`` (the JSON entries parsed, so an escaped value is found too), and in the network log
the values of ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie`` and of
every configured header are dropped whatever they hold. Binary entries (screenshots, the
screencast's frames, images and fonts) are kept as they are: a secret a page *shows* is in
them, as it is in the evidence screenshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smokeseal.secrets import MIN_SECRET_LENGTH, scrub

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

    from smokeseal.access import Access

__all__ = ["CREDENTIAL_HEADERS", "TRACE_FILE", "TRACE_TIMEOUT", "access_values",
           "scrub_trace", "start_trace", "stop_trace"]

TRACE_FILE = "trace.zip"
#: Starting or stopping a trace: past this the tab's tracing is in doubt and it is not reused.
#: A stuck page's trace takes about 2 s to stop; this keeps its check inside the runner's
#: hard deadline (its timeout plus GRACE, 5 s), where its own failure is still the detail.
TRACE_TIMEOUT = 2.5
#: Headers whose values are credentials whatever the config says: dropped from the network log.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
REDACTED = "***"


async def start_trace(context: BrowserContext) -> bool:
    """Start tracing ``context``; False (and no trace) when Playwright would not."""
    from playwright.async_api import Error as PlaywrightError

    try:
        await asyncio.wait_for(context.tracing.start(screenshots=True, snapshots=True),
                               TRACE_TIMEOUT)
    except (PlaywrightError, TimeoutError):
        return False
    return True


async def stop_trace(context: BrowserContext, keep: Path | None, secrets: Sequence[str] = (),
                     header_names: Iterable[str] = ()) -> bool:
    """Stop tracing ``context``; with ``keep``, write the trace there, scrubbed (see the
    module's docstring). False when tracing could not be stopped cleanly (the context is then
    not fit for reuse); a trace that could not be kept costs the trace only."""
    from playwright.async_api import Error as PlaywrightError

    if keep is None:
        try:
            await asyncio.wait_for(context.tracing.stop(), TRACE_TIMEOUT)
        except (PlaywrightError, TimeoutError):
            return False
        return True
    handle, raw = tempfile.mkstemp(prefix="smokeseal-trace-", suffix=".zip")
    os.close(handle)
    try:
        try:
            await asyncio.wait_for(context.tracing.stop(path=raw), TRACE_TIMEOUT)
        except (PlaywrightError, TimeoutError):
            return False
        # Off the event loop: other page checks run on it meanwhile.
        with contextlib.suppress(OSError, zipfile.BadZipFile, ValueError):
            await asyncio.to_thread(scrub_trace, Path(raw), keep, secrets, header_names)
        return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(raw)


def access_values(access: Access | None) -> list[str]:
    """The values of what ``access`` sends (headers, cookies, basic auth's token): credentials,
    scrubbed from a trace even when the config wrote them out rather than as ``${VAR}``."""
    if access is None:
        return []
    found = [value for _, value in (*access.headers, *access.cookies)]
    found += [value.split(None, 1)[1] for name, value in access.headers
              if name.lower() == "authorization" and len(value.split(None, 1)) == 2]
    return [value for value in found if len(value) >= MIN_SECRET_LENGTH]


def scrub_trace(raw: Path, out: Path, secrets: Sequence[str],
                header_names: Iterable[str] = ()) -> None:
    """Write the trace ``raw`` to ``out`` with its secrets taken out (see the module's
    docstring); ``out`` appears whole or not at all."""
    secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    dropped = CREDENTIAL_HEADERS | {name.lower() for name in header_names}
    part = out.with_name(out.name + ".part")
    try:
        with zipfile.ZipFile(raw) as source, \
                zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as kept:
            for info in source.infolist():
                if info.is_dir():
                    continue
                data = source.read(info)
                name = info.filename
                if name.endswith((".trace", ".network", ".stacks")):
                    data = _scrub_json_lines(data, secrets, dropped)
                else:
                    data = _scrub_text(data, secrets)
                kept.writestr(scrub(name, secrets), data)
        os.replace(part, out)
    finally:
        with contextlib.suppress(OSError):
            part.unlink()


def _scrub_text(data: bytes, secrets: Sequence[str]) -> bytes:
    """A text entry (a page, a stylesheet, a script) scrubbed; a binary one as it is."""
    if not secrets:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return scrub(text, secrets).encode("utf-8")


def _scrub_json_lines(data: bytes, secrets: Sequence[str], dropped: frozenset[str]) -> bytes:
    """Each line of a JSON-lines entry parsed and scrubbed, credential headers dropped; a line
    that is not JSON is scrubbed as text."""
    text = data.decode("utf-8", errors="replace")
    lines = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            lines.append(scrub(line, secrets))
            continue
        # ASCII: a lone surrogate in a page's text stays an escape, valid JSON either way.
        lines.append(json.dumps(_scrub_value(value, secrets, dropped), separators=(",", ":")))
    return ("\n".join(lines) + ("\n" if text.endswith("\n") else "")).encode("utf-8")


def _scrub_value(value: Any, secrets: Sequence[str], dropped: frozenset[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets) if secrets else value
    if isinstance(value, list):
        return [_scrub_value(item, secrets, dropped) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in ("headers", "cookies") and isinstance(item, list):
            item = [_drop(entry, key == "cookies", dropped) for entry in item]
        out[scrub(key, secrets) if secrets else key] = _scrub_value(item, secrets, dropped)
    # A header as {"name": ..., "value": ...} anywhere else (a call's params).
    if isinstance(out.get("name"), str) and "value" in out \
            and out["name"].lower() in dropped:
        out["value"] = REDACTED
    return out


def _drop(entry: Any, cookie: bool, dropped: frozenset[str]) -> Any:
    """A network entry's header or cookie, its value dropped when it is a credential (every
    cookie is one)."""
    if not isinstance(entry, dict) or "value" not in entry:
        return entry
    if cookie or str(entry.get("name", "")).lower() in dropped:
        return {**entry, "value": REDACTED}
    return entry
