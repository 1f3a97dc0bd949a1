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
every configured header are dropped whatever they hold. Images and fonts (by the extension
Playwright gives a resource after its content type: screenshots, the screencast's frames) are
kept as they are: a secret a page *shows* is in them, as it is in the evidence screenshot.

**Fails closed.** Any other entry could hold text: one that is not UTF-8 (a Latin-1 page, a
UTF-16 stylesheet, a binary request body) cannot be scrubbed, so it is left out of the trace,
and anything else that stops the scrub (a JSON line nested too deep to parse) costs the whole
trace. Either way the check's ``console.txt`` says so; an unscrubbed trace is never kept.
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
#: Entries kept as they are, by the extension Playwright names a resource with after its
#: content type: images (the screencast's frames, the page's pictures), fonts, audio and
#: video. Every other entry could hold text and is scrubbed, or left out if it cannot be.
_BINARY_TYPES = (".png", ".jpeg", ".jpg", ".gif", ".webp", ".avif", ".ico", ".bmp", ".tif",
                 ".tiff", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp4", ".webm", ".mp3",
                 ".ogg", ".wav")


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
        # Off the event loop: other page checks run on it meanwhile. Fails closed: a trace
        # that could not be scrubbed whole is not kept (the check's console log says so).
        try:
            dropped = await asyncio.to_thread(scrub_trace, Path(raw), keep, secrets,
                                              header_names)
        except Exception as exc:  # whatever it was: no unscrubbed trace
            with contextlib.suppress(OSError):
                keep.unlink()
            _note(keep, f"trace not kept: it could not be scrubbed ({type(exc).__name__})")
        else:
            if dropped:
                _note(keep, f"trace kept without {len(dropped)} entr"
                            f"{'y' if len(dropped) == 1 else 'ies'} that could not be read as "
                            "text to scrub: " + ", ".join(dropped[:5]))
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


def _note(trace: Path, line: str) -> None:
    """A line on the check's console log, beside its trace."""
    with contextlib.suppress(OSError), \
            (trace.parent / "console.txt").open("a", encoding="utf-8") as log:
        log.write(f"note: {line}\n")


def scrub_trace(raw: Path, out: Path, secrets: Sequence[str],
                header_names: Iterable[str] = ()) -> list[str]:
    """Write the trace ``raw`` to ``out`` with its secrets taken out (see the module's
    docstring); ``out`` appears whole or not at all. Returns the entries left out because
    they could hold text and could not be decoded to scrub it (Latin-1, UTF-16, a binary
    request body): never kept unscrubbed. Raises rather than keep a trace it could not
    scrub (a JSON line nested too deep to parse, say)."""
    secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    dropped = CREDENTIAL_HEADERS | {name.lower() for name in header_names}
    part = out.with_name(out.name + ".part")
    left_out: list[str] = []
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
                elif not name.lower().endswith(_BINARY_TYPES):
                    scrubbed = _scrub_text(data, secrets)
                    if scrubbed is None:
                        left_out.append(scrub(name, secrets))
                        continue
                    data = scrubbed
                kept.writestr(scrub(name, secrets), data)
        os.replace(part, out)
        return left_out
    finally:
        with contextlib.suppress(OSError):
            part.unlink()


def _scrub_text(data: bytes, secrets: Sequence[str]) -> bytes | None:
    """An entry that may hold text (a page, a stylesheet, a script, a request body)
    scrubbed; ``None`` when it is not UTF-8, so cannot be scrubbed (and is not kept)."""
    if not secrets:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
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
