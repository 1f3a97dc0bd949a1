"""What every sink shares: turning an HTTP answer into done, retry-after-N, or never."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from smokeseal.checks.base import shorten
from smokeseal.errors import SinkError
from smokeseal.ledger import Message

__all__ = ["TIMEOUT", "Sink", "error_text", "raise_for_answer", "retry_after"]

#: Each request's limit (the outbox also cuts it to what is left of a run's budget).
TIMEOUT = httpx.Timeout(5.0)


class Sink:
    """One delivery channel. ``send`` delivers one message or raises :class:`SinkError`."""

    name = "sink"
    #: Whether people read this sink's messages as a conversation (a thread), so that a
    #: release's messages must arrive in the order they were queued.
    ordered = False
    #: Kinds whose messages show the release's current verdict (an edit of something
    #: already there): only the latest seal's are sent, one after another, oldest first.
    shows_verdict: frozenset[str] = frozenset()
    #: Kinds worth sending for a re-seal only when its verdict changed (a new record on the
    #: other side each time: a deployment), besides alerts and a thread's posts.
    on_change_only: frozenset[str] = frozenset()
    #: Kinds that edit the message they follow (the release notes): when that message was
    #: never delivered (it failed for good, or the sink was configured after the release
    #: shipped), there is nothing to edit and they are skipped.
    edits_of_first: frozenset[str] = frozenset()
    #: Kinds that follow a message (in its thread) but go out on their own, at the top of
    #: the channel, when that message was never delivered; ``send`` gets ``before=None``.
    alone_without_first: frozenset[str] = frozenset()

    def send(self, client: httpx.Client, message: Message,
             before: Message | None) -> dict[str, Any]:
        """Deliver ``message``; ``before`` is the delivered message it waited for, if any."""
        raise NotImplementedError


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait, from a JSON ``retry_after`` (Discord), ``Retry-After`` or a reset time."""
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("retry_after"), int | float):
            return max(float(body["retry_after"]), 0.0)
    except ValueError:
        pass
    header = response.headers.get("retry-after")
    if header:
        try:
            return max(float(header), 0.0)
        except ValueError:
            when = email.utils.parsedate_to_datetime(header)
            return max(when.timestamp() - time.time(), 0.0)
    reset = response.headers.get("x-ratelimit-reset")  # GitHub: epoch seconds
    if reset and response.headers.get("x-ratelimit-remaining") == "0":
        try:
            return max(float(reset) - time.time(), 0.0)
        except ValueError:
            return None
    return None


def raise_for_answer(sink: str, what: str, response: httpx.Response,
                     rate_limited: bool = False) -> None:
    """Raise the right :class:`SinkError` for a non-2xx answer; errors name the sink only."""
    if response.is_success:
        return
    status = response.status_code
    detail = error_text(response)
    if status == 429 or rate_limited:
        wait = retry_after(response)
        raise SinkError(f"{sink}: {what}: rate limited ({status}); retry after "
                        f"{wait if wait is not None else '?'} s", retry_after=wait)
    if status >= 500 or status == 408:
        raise SinkError(f"{sink}: {what}: server error {status}{detail}")
    raise SinkError(f"{sink}: {what}: refused with {status}{detail}", permanent=True)


def error_text(response: httpx.Response) -> str:
    """``: the API's message (code N)`` from an error answer's JSON body, or nothing."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and body.get("message"):
        code = f" (code {body['code']})" if body.get("code") else ""
        # Cut as shorten() cuts, with an ellipsis: scrub() then knows where a secret may
        # have been cut short.
        return f": {shorten(str(body['message']), 200)}{code}"
    return ""
