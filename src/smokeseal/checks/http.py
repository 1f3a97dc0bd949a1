"""``get`` checks: one GET or HEAD with httpx, read-only by construction."""

from __future__ import annotations

import asyncio
import socket
import ssl

import httpx

from smokeseal.checks.base import (
    READ_ONLY_METHODS,
    USER_AGENT,
    CheckResult,
    Stopwatch,
    header_failures,
    join_url,
    shorten,
    status_failure,
)
from smokeseal.config import Check

__all__ = [
    "BODY_LIMIT",
    "DEFAULT_TIMEOUT",
    "WriteRefused",
    "describe_http_error",
    "read_only_client",
    "read_only_sync_client",
    "run_get_check",
]

DEFAULT_TIMEOUT = 10.0
MAX_REDIRECTS = 10
#: A smoke check never needs more of a body than this; production may send gigabytes.
BODY_LIMIT = 2 * 1024 * 1024


class WriteRefused(RuntimeError):
    """Raised before a non-GET/HEAD request could leave the process."""


def _refuse_writes_sync(request: httpx.Request) -> None:
    # httpx keeps GET/HEAD across every redirect status, so this never fires for our own
    # checks; it is the last line of defence should a future code path build a write.
    if request.method not in READ_ONLY_METHODS:
        raise WriteRefused(f"smokeseal refused to send {request.method} {request.url}")


async def _refuse_writes(request: httpx.Request) -> None:
    _refuse_writes_sync(request)


_LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16)


class _TLSWhenNeeded(httpx.AsyncBaseTransport):
    """The https transport, made on its first request.

    Loading the trusted certificates takes ~25 ms, a large share of a run of a few plain-http
    checks (a staging host, a health port); a run that meets https pays it once, as before.
    """

    def __init__(self) -> None:
        self._transport: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            self._transport = httpx.AsyncHTTPTransport(limits=_LIMITS)  # verifies, as always
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


def read_only_client() -> httpx.AsyncClient:
    """A client that follows redirects and can only ever send GET or HEAD."""
    # Plain http never uses TLS; its transport gets a context that trusts nothing (so it
    # could not connect to anything over TLS even by mistake) instead of loading the CAs.
    plain = httpx.AsyncHTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
                                     limits=_LIMITS)
    return httpx.AsyncClient(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
        event_hooks={"request": [_refuse_writes]},
        transport=_TLSWhenNeeded(),
        mounts={"http://": plain},
    )


def read_only_sync_client(timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """The blocking twin of :func:`read_only_client`, for polling (the ``/up`` gate)."""
    return httpx.Client(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
        event_hooks={"request": [_refuse_writes_sync]},
        timeout=timeout,
    )


async def run_get_check(client: httpx.AsyncClient, check: Check, base_url: str) -> CheckResult:
    """Send the check's request to ``base_url`` + its path and judge the answer."""
    url = join_url(base_url, check.target)
    timeout = check.timeout or DEFAULT_TIMEOUT
    watch = Stopwatch()

    def failed(detail: str, final_url: str = url) -> CheckResult:
        return CheckResult(check.label, "get", False, detail, watch.ms(), url=final_url)

    try:
        # httpx's timeouts are per read; a server that trickles one byte a second never trips
        # them, so the whole exchange also runs under one deadline.
        async with asyncio.timeout(timeout):
            response, body = await _fetch(client, check.method, url, timeout)
    except TimeoutError:
        return failed(f"no complete answer within {timeout:g} s")
    except httpx.TooManyRedirects:
        return failed(f"redirect loop: more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        return failed(describe_http_error(exc))
    except WriteRefused as exc:
        return failed(str(exc))
    ms = watch.ms()
    final_url = str(response.url)
    failures = _judge(check, response, body, ms)
    hops = len(response.history)
    where = f" via {hops} redirect{'s' if hops > 1 else ''} to {final_url}" if hops else ""
    if failures:
        return CheckResult(check.label, "get", False, "; ".join(failures) + where, ms,
                           url=final_url)
    return CheckResult(check.label, "get", True, f"{response.status_code}{where}", ms,
                       url=final_url)


async def _fetch(client: httpx.AsyncClient, method: str, url: str,
                 timeout: float) -> tuple[httpx.Response, bytes]:
    async with client.stream(method, url, timeout=timeout) as response:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= BODY_LIMIT:
                break
        return response, bytes(body[:BODY_LIMIT])


def _judge(check: Check, response: httpx.Response, body: bytes, ms: int) -> list[str]:
    expect = check.expect
    failures = []
    if problem := status_failure(expect.statuses(), response.status_code):
        failures.append(problem)
    if expect.text is not None:
        text = body.decode(response.encoding or "utf-8", errors="replace")
        if expect.text not in text:
            failures.append(f"text {shorten(expect.text, 60)!r} not found in the body")
    failures += header_failures(expect.header, dict(response.headers))
    if expect.max_ms is not None and ms > expect.max_ms:
        failures.append(f"took {ms} ms, over max_ms {expect.max_ms}")
    return failures


def describe_http_error(exc: httpx.HTTPError) -> str:
    """One line a person understands, for any transport failure."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate rejected: {cause.verify_message or cause.reason}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed: {cause.strerror or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.ReadTimeout):
        return "timed out waiting for the answer"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"server broke the HTTP protocol: {text}"
    return f"{type(exc).__name__}: {text}"


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it; anyio folds several attempts into an ExceptionGroup."""
    seen: list[BaseException] = []
    stack = [exc]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        stack.extend(c for c in (current.__cause__, current.__context__) if c is not None)
    return seen
