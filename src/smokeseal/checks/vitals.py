"""What a page check measures on the way: the page's speed, read from the browser's own
performance entries once the verdict is in (no extra load), and its console errors folded
so that the same error on two seals reads the same.

``vitals`` of a page check: ``ttfb_ms`` (the document's first byte), ``fcp_ms`` (first
contentful paint), ``lcp_ms`` (largest contentful paint), ``cls`` (cumulative layout shift,
shifts after input left out), ``requests`` (the document and every resource it loaded) and
``bytes`` (what they transferred, as the browser reports it: another host's resource
without ``Timing-Allow-Origin`` counts 0). A figure the browser does not have is left out.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_CONSOLE_ERRORS", "MEASURE_TIMEOUT", "VITALS_SCRIPT", "fold_console_error",
           "folded_errors", "measure", "vitals_of"]

#: The most distinct console errors one check keeps.
MAX_CONSOLE_ERRORS = 20
#: How long the one read of the performance entries may take, seconds: a page that does
#: not answer it is measured as nothing, never failed for it.
MEASURE_TIMEOUT = 2.0

#: One evaluate. Largest contentful paint and layout shifts are only given to an observer:
#: ``buffered`` hands it what happened already, and ``takeRecords`` reads that at once.
VITALS_SCRIPT = """() => {
  const out = {};
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  if (nav) {
    out.ttfb_ms = nav.responseStart;
    out.requests = 1 + resources.length;
    out.bytes = (nav.transferSize || 0)
      + resources.reduce((sum, r) => sum + (r.transferSize || 0), 0);
  }
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  if (fcp) out.fcp_ms = fcp.startTime;
  const observed = type => {
    try {
      const observer = new PerformanceObserver(() => {});
      observer.observe({type, buffered: true});
      const records = observer.takeRecords();
      observer.disconnect();
      return records;
    } catch (e) {
      return null;
    }
  };
  const lcp = observed('largest-contentful-paint');
  if (lcp && lcp.length) out.lcp_ms = lcp[lcp.length - 1].startTime;
  const shifts = observed('layout-shift');
  if (shifts) out.cls = shifts.filter(s => !s.hadRecentInput)
    .reduce((sum, s) => sum + s.value, 0);
  return out;
}"""

#: Which figures are whole milliseconds or counts, and which is a score.
_WHOLE = ("ttfb_ms", "fcp_ms", "lcp_ms", "requests", "bytes")


async def measure(page: Any, timeout: float = MEASURE_TIMEOUT) -> dict[str, int | float] | None:
    """The page's vitals (see the module's text), or None when it would not say."""
    try:
        found = await asyncio.wait_for(page.evaluate(VITALS_SCRIPT), timeout)
    except Exception:  # a page gone or hung: measured as nothing, the verdict stands
        return None
    return vitals_of(found)


def vitals_of(found: object) -> dict[str, int | float] | None:
    """What the script returned, as numbers a seal keeps: whole ms and counts, CLS to four
    places; anything else (a page that redefined ``performance``) left out."""
    if not isinstance(found, dict):
        return None
    vitals: dict[str, int | float] = {}
    for key in (*_WHOLE, "cls"):
        value = found.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not 0 <= value < 1e12:
            continue
        vitals[key] = round(value, 4) if key == "cls" else round(value)
    return vitals or None


_URL_TAIL = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s?#'\"<>()]*)[?#][^\s'\"<>()]*", re.I)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
#: A hex id: ``0x…``, or a run of six or more hex digits with a digit and a letter in it
#: (a word such as "decade" is left alone).
_HEX = re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b", re.I)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
#: The most of one console error folded: the folded text keeps 300 characters anyway.
_FOLD_AT = 600
#: The most errors looked at: a page that logs in a loop is not folded for ever.
_FOLD_MOST = 500


def fold_console_error(text: str) -> str:
    """One console error as it reads whichever request, id or moment caused it: URLs'
    query strings and fragments, UUIDs, hex ids and numbers folded, whitespace collapsed.
    ``GET https://x/api/items/42?t=1699 500`` and ``…/items/7?t=1700 500`` are one error."""
    # Cut first: production writes these, and a long one would make the patterns crawl.
    text = _URL_TAIL.sub(r"\1?…", " ".join(text[:_FOLD_AT].split()))
    text = _UUID.sub("<uuid>", text)
    text = _HEX.sub("<hex>", text)
    return _NUMBER.sub("N", text)[:300]


def folded_errors(errors: Iterable[str]) -> list[str]:
    """``errors`` folded, each once, in the order first seen, at most
    :data:`MAX_CONSOLE_ERRORS`."""
    folded: dict[str, None] = {}
    for count, error in enumerate(errors):
        if len(folded) >= MAX_CONSOLE_ERRORS or count >= _FOLD_MOST:
            break
        folded.setdefault(fold_console_error(error))
    return list(folded)
