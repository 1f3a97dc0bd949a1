"""``get`` checks: one GET or HEAD with httpx, read-only by construction."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from smokeseal.access import Access
from smokeseal.certificates import CertificateLog
from smokeseal.checks.base import (
    READ_ONLY_METHODS,
    USER_AGENT,
    CheckResult,
    Stopwatch,
    header_failures,
    join_url,
    leave_fix,
    off_app,
    shorten,
    status_failure,
)
from smokeseal.checks.signin import signin_failure
from smokeseal.config import Check, Expect

__all__ = [
    "ACCEPT_ENCODING",
    "BODY_LIMIT",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "TLS_FIX",
    "RedirectLimit",
    "UnreadableBody",
    "Walk",
    "WalkStopped",
    "WriteRefused",
    "browser_proxy",
    "describe_http_error",
    "environment_proxies",
    "leaves_app",
    "normal_proxy",
    "proxy_address",
    "read_only_client",
    "run_get_check",
    "walk_on_app",
]

DEFAULT_TIMEOUT = 10.0
MAX_REDIRECTS = 10
#: A smoke check never needs more of a body than this; production may send gigabytes.
BODY_LIMIT = 2 * 1024 * 1024
#: The encodings smokeseal can decode under :data:`BODY_LIMIT`; a well-behaved server sends
#: no other. (httpx would also offer br and zstd when their packages are installed, and
#: decode every chunk whole before any limit applies.)
ACCEPT_ENCODING = "gzip, deflate"
#: Compressed bytes read at most: a real gzip body is hardly larger than what it holds, so
#: more than this, still short of :data:`BODY_LIMIT` decoded, is a stream of empty blocks.
_RAW_LIMIT = 2 * BODY_LIMIT
#: zlib's window bits for each encoding decoded: gzip's header, or zlib's (deflate).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
#: Content codings that compress: any other token leaves the body as it is.
_COMPRESSIONS = frozenset({*_WBITS, "br", "zstd", "compress", "x-compress", "dcb", "dcz"})


class WriteRefused(RuntimeError):
    """Raised before a non-GET/HEAD request could leave the process."""


async def _refuse_writes(request: httpx.Request) -> None:
    # Redirects are followed hop by hop as GET/HEAD, so this never fires for our own checks;
    # it is the last line of defence should a future code path build a write.
    if request.method not in READ_ONLY_METHODS:
        raise WriteRefused(f"smokeseal refused to send {request.method} {request.url}")


_LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16)


#: Proxy schemes the HTTP checks can go through (SOCKS by ``socksio``, as httpx does).
_PROXY_SCHEMES = frozenset({"http", "https", "socks5", "socks5h"})


def environment_proxies(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (either case, the
    lower-case one winning as curl has it), keyed ``http``, ``https``, ``all``, ``no``."""
    if environ is None:
        return dict(urllib.request.getproxies_environment())
    found: dict[str, str] = {}
    for upper_first in (True, False):
        for name, value in environ.items():
            if name.lower().endswith("_proxy") and value and name.isupper() == upper_first:
                found[name.lower().removesuffix("_proxy")] = value
    return found


def normal_proxy(proxy: str) -> httpx.URL:
    """A proxy as the environment may write it (``proxy:3128``, ``HTTP://proxy``), as a URL
    with a lower-case scheme."""
    scheme, sep, rest = proxy.strip().partition("://")
    return httpx.URL(f"{scheme.lower()}://{rest}" if sep else f"http://{proxy.strip()}")


def proxy_address(proxy: httpx.URL) -> str:
    """Where a proxy is, for a message: never its user name or password."""
    return proxy.host if proxy.port is None else f"{proxy.host}:{proxy.port}"


class _Transports(httpx.AsyncBaseTransport):
    """One transport per way out (plain, TLS, through each proxy), each made on its first
    request.

    Loading the trusted certificates takes ~25 ms, a large share of a run of a few plain-http
    checks (a staging host, a health port); a run that meets https pays it once. A custom
    transport turns httpx's own ``HTTPS_PROXY``/``NO_PROXY`` handling off, so the proxy is
    chosen here, per request, from the same variables: behind an egress proxy the gate and
    every check go out the same way.
    """

    def __init__(self, ca_file: str | None = None,
                 proxies: Mapping[str, str] | None = None,
                 certificates: CertificateLog | None = None) -> None:
        self._ca_file = ca_file
        self._proxies = environment_proxies(proxies)
        self._made: dict[tuple[str, str | None], httpx.AsyncHTTPTransport] = {}
        self._certificates = certificates

    def proxy_for(self, url: httpx.URL) -> httpx.URL | None:
        """The proxy ``url`` goes through, as curl and httpx choose it: ``<scheme>_proxy``,
        else ``all_proxy``, unless ``no_proxy`` names its host."""
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if not proxy or _bypassed(url, self._proxies.get("no", "")):
            return None
        return normal_proxy(proxy)

    def _verify(self, scheme: str, proxy: httpx.URL | None) -> ssl.SSLContext | bool:
        if scheme == "http" and (proxy is None or proxy.scheme != "https"):
            # No TLS anywhere on this way out: a context that trusts nothing (so it could not
            # connect to anything over TLS even by mistake) instead of loading the CAs.
            return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # httpx trusts $SSL_CERT_FILE by itself; the config's ca_file wins over it.
        return ssl.create_default_context(cafile=self._ca_file) if self._ca_file else True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self.proxy_for(request.url)
        key = (request.url.scheme, str(proxy) if proxy else None)
        transport = self._made.get(key)
        if transport is None:
            if proxy is not None and proxy.scheme not in _PROXY_SCHEMES:
                raise httpx.ProxyError(f"proxy {proxy.scheme}:// is not supported (use an "
                                       "http://, https:// or socks5:// proxy)", request=request)
            transport = httpx.AsyncHTTPTransport(verify=self._verify(request.url.scheme, proxy),
                                                 limits=_LIMITS, proxy=proxy)
            self._made[key] = transport
        if proxy is None:
            return self._seen(request, await transport.handle_async_request(request))
        try:
            return self._seen(request, await transport.handle_async_request(request))
        except httpx.ConnectError as exc:
            # A TLS failure is the far end's, through the tunnel: it stays production's.
            if any(isinstance(cause, ssl.SSLError) for cause in _causes(exc)):
                raise
            raise httpx.ProxyError(f"could not reach the proxy {proxy_address(proxy)} "
                                   f"({describe_http_error(exc)})", request=request) from exc

    def _seen(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        # The connection is open while its answer streams: its leaf's expiry costs no
        # extra handshake (see smokeseal.certificates).
        if self._certificates is not None and request.url.scheme == "https":
            self._certificates.record(request.url, response)
        return response

    async def aclose(self) -> None:
        for transport in self._made.values():
            await transport.aclose()


def _bypassed(url: httpx.URL, no_proxy: str) -> bool:
    """Whether ``no_proxy`` names ``url``'s host, as curl reads it: ``*``, a host or a
    domain (with or without a leading dot, optionally ``:port``), or an address range."""
    host = url.host.lower()
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if not name or (entry_port and entry_port != str(port)):
            continue
        if name == "*" or host == name.lstrip(".") or host.endswith("." + name.lstrip(".")):
            return True
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host) in ipaddress.ip_network(name.strip("[]"), strict=False):
                return True
    return False


def _chromium_bypass(no_proxy: str) -> str:
    """``no_proxy`` as Chromium's bypass rules, meaning what curl means: a bare name covers
    its subdomains too (Chromium would match the name alone)."""
    rules: list[str] = []
    for entry in (e.strip() for e in no_proxy.split(",")):
        if not entry:
            continue
        name = entry.lstrip(".")
        rules.append(name)
        if not name.startswith("*") and not any(c in name for c in "/:[") \
                and not name.replace(".", "").isdigit():
            rules.append(f"*.{name}")
    return ",".join(rules)


def browser_proxy(url: str, environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """The proxy for a browser context whose app is at ``url``, as Playwright takes it:
    the one the HTTP checks use for that URL, its credentials apart (Chromium ignores them
    in the URL and answers a 407 only with them given apart), with ``NO_PROXY`` as bypass
    rules. None when the app goes direct.

    Chromium alone would honour the variables, but a read the guard sends on the page's
    behalf (``route.fetch``) leaves from Playwright's driver, which knows only the
    context's proxy.
    """
    proxies = environment_proxies(environ)
    target = httpx.URL(url)
    written = proxies.get(target.scheme) or proxies.get("all")
    no_proxy = proxies.get("no", "")
    if not written or _bypassed(target, no_proxy):
        return None
    proxy = normal_proxy(written)
    settings = {"server": f"{proxy.scheme}://{proxy_address(proxy)}"}
    if proxy.username:
        settings["username"] = proxy.username  # httpx has decoded them
        settings["password"] = proxy.password or ""
    if no_proxy:
        settings["bypass"] = _chromium_bypass(no_proxy)
    return settings


def read_only_client(ca_file: str | None = None,
                     proxies: Mapping[str, str] | None = None,
                     certificates: CertificateLog | None = None) -> httpx.AsyncClient:
    """A client that follows redirects and can only ever send GET or HEAD; ``ca_file``
    (the config's) is trusted for https in place of ``$SSL_CERT_FILE`` and the defaults.
    Requests go through the proxies of ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` but
    for the hosts ``NO_PROXY`` names (``proxies`` in their place: a test's). With
    ``certificates``, the leaf of every https connection is kept there."""
    return httpx.AsyncClient(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
        event_hooks={"request": [_refuse_writes]},
        transport=_Transports(ca_file, proxies, certificates),
    )


async def run_get_check(client: httpx.AsyncClient, check: Check, base_url: str, *,
                        app_urls: Sequence[str] = (),
                        access: Access | None = None) -> CheckResult:
    """Send the check's request to ``base_url`` + its path and judge the answer.

    Redirects are followed hop by hop, only while they stay on the app: ``base_url`` and
    ``app_urls`` (the canonical url and its aliases). A redirect anywhere else is where the
    check stops: a failure, or, when ``expect.redirect_to`` names it, the expected answer.
    """
    url = join_url(base_url, check.target)
    timeout = check.timeout or DEFAULT_TIMEOUT
    expect = check.expect
    watch = Stopwatch()

    def failed(detail: str, final_url: str = url) -> CheckResult:
        return CheckResult(check.label, "get", False, detail, watch.ms(), url=final_url)

    try:
        walk = await walk_on_app(client, check.method, url, app_urls=(base_url, *app_urls),
                                 timeout=timeout, follow_redirects=check.follow_redirects,
                                 redirect_to=expect.redirect_to, access=access)
    except TimeoutError:
        return failed(f"no complete answer within {timeout:g} s")
    except WalkStopped as exc:
        return failed(str(exc))
    except httpx.HTTPError as exc:
        return failed(describe_http_error(exc, url))
    except WriteRefused as exc:
        return failed(str(exc))
    ms = watch.ms()
    on_app = (base_url, *app_urls)
    if walk.left_to is not None:
        hops = len(walk.urls) - 1
        after = f" (after {_redirects(hops)} on the app)" if hops else ""
        if expect.redirect_to is None and (
                signin := signin_failure(url, walk.left_to, expect, access)):
            return CheckResult(check.label, "get", False, signin + after, ms, url=walk.url)
        fix = None if expect.redirect_to else leave_fix(walk.urls[-1], walk.left_to, on_app)
        detail = (f"redirected off the app to {walk.left_to}"
                  + (f", not to {expect.redirect_to}" if expect.redirect_to else "")
                  + after + (f"; {fix}" if fix else ""))
        return CheckResult(check.label, "get", False, detail, ms, url=walk.url)
    failures = _judge(check, walk, ms)
    signin = (signin_failure(url, walk.url, expect, access)
              if len(walk.urls) > 1 and walk.location is None else None)
    if signin:
        # First, and in place of the way there, which it names: it explains the rest (a
        # text the sign-in form lacks).
        return CheckResult(check.label, "get", False, "; ".join([signin, *failures]), ms,
                           url=walk.url)
    head = "; ".join(failures) if failures else str(walk.response.status_code)
    return CheckResult(check.label, "get", not failures, head + _where(walk), ms, url=walk.url)


class WalkStopped(Exception):
    """A walk on the app could not go on; the message says why, in one line."""


class RedirectLimit(WalkStopped):
    """More than :data:`MAX_REDIRECTS` redirects; the message says whether it was a loop."""


class UnreadableBody(ValueError):
    """The answer's body could not be decoded; the message says why, in one line."""


@dataclass
class Walk:
    """How a request on the app ended: the answer to judge and the way there."""

    response: httpx.Response
    #: The answer's body, decoded, at most :data:`BODY_LIMIT` bytes (empty when unreadable).
    body: bytes
    #: Every URL requested, in order; the last one gave ``response``.
    urls: list[str]
    #: Where ``response`` redirects (absolute), when it is a redirect that was not followed.
    location: str | None = None
    #: Set when the walk stopped because the next hop would have left the app.
    left_to: str | None = None
    #: Why the body could not be decoded ("Content-Encoding: br"); None when it was.
    unreadable: str | None = None

    @property
    def url(self) -> str:
        return self.urls[-1]

    def text(self, limit: int | None = None) -> str:
        """The body as text (its first ``limit`` bytes), in the charset the answer names.

        Raises :class:`UnreadableBody` when the body could not be decoded: nothing can be
        said about what it contains, not even that a text is absent. A charset that is not a
        text codec (``charset=zlib``) or that fails is read as UTF-8, never raised.
        """
        if self.unreadable is not None:
            raise UnreadableBody(f"cannot read the body ({self.unreadable})")
        body = self.body if limit is None else self.body[:limit]
        try:
            return body.decode(self.response.encoding or "utf-8", errors="replace")
        except Exception:  # LookupError for charset=zlib, UnicodeError from idna, …
            return body.decode("utf-8", errors="replace")


async def walk_on_app(client: httpx.AsyncClient, method: str, url: str, *,
                      app_urls: Sequence[str], timeout: float, follow_redirects: bool = True,
                      redirect_to: str | None = None, access: Access | None = None) -> Walk:
    """Request ``url`` and follow its redirects one hop at a time, never off the app.

    A hop is followed only when it stays on one of ``app_urls``' hosts (see
    :func:`~smokeseal.checks.base.off_app`) and ``follow_redirects`` is true; a redirect to
    where ``redirect_to`` says is an answer in itself and is not followed either. Nothing
    is ever sent to another host. ``access`` adds its headers and cookies to each hop whose
    origin is one of the app's, and to no other. The whole walk, every hop and body, runs under one
    ``timeout``: raises TimeoutError past it, :class:`RedirectLimit` after
    :data:`MAX_REDIRECTS` redirects, :class:`WalkStopped` on a URL that cannot be requested,
    and httpx errors as they come.
    """
    urls: list[str] = []
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise WalkStopped(f"invalid URL {url}: {exc}") from None
    # httpx's timeouts are per read; a server that trickles one byte a second never trips
    # them, and neither would a chain of slow hops, so the whole walk runs under one deadline.
    async with asyncio.timeout(timeout):
        while True:
            try:
                extra = access.for_origin(url) if access else {}
                response, body, unreadable = await _fetch(client, method, url, timeout, extra)
            except httpx.InvalidURL as exc:
                # httpx reads the Location of every redirect, followed or not, and raises
                # this (not an HTTPError) for some that production may send: javascript:…
                raise WalkStopped(f"{url} redirected to a malformed Location: {exc}") from None
            urls.append(url)
            walk = Walk(response, body, urls, unreadable=unreadable)
            # httpx builds the next request (resolving a relative or scheme-relative Location,
            # refusing a malformed one) even when it does not follow it.
            nxt = response.next_request
            if nxt is None:
                return walk
            walk.location = str(nxt.url)
            if redirect_to is not None and off_app(walk.location, (), redirect_to) is None:
                return walk
            if not follow_redirects:
                return walk
            if off_app(walk.location, app_urls) is not None:
                walk.location, walk.left_to = None, str(nxt.url)
                return walk
            if len(urls) > MAX_REDIRECTS:
                raise RedirectLimit(_limit_message(urls, walk.location))
            # Redirects keep the method: GET stays GET and HEAD stays HEAD.
            url = walk.location


#: How long a look at where a browser request's redirects go may take.
PROBE_TIMEOUT = 5.0
#: Request headers that belong to one connection or request, not to a copy of it.
_NOT_COPIED = frozenset({"host", "content-length", "connection", "transfer-encoding",
                         "upgrade", "keep-alive", "te", "trailer"})


async def leaves_app(client: httpx.AsyncClient, method: str, url: str, *, access: Access,
                     headers: Mapping[str, str], timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when a request for ``url``, its redirects followed, stays on the app's origins;
    else where it goes ("redirects to https://sso.example.com/…") or why that could not be
    told. Only the answers' status and headers are read; ``access`` goes to the app's
    origins only, as in :func:`walk_on_app`."""
    copied = {k: v for k, v in headers.items() if k.lower() not in _NOT_COPIED}
    try:
        async with asyncio.timeout(timeout):
            for _ in range(MAX_REDIRECTS + 1):
                async with client.stream(method, url, follow_redirects=False,
                                         headers={**copied, **access.for_origin(url)}
                                         ) as response:
                    nxt = response.next_request
                if nxt is None:
                    return None
                url = str(nxt.url)
                if not access.on_app(url):
                    return f"redirects to {shorten(url, 100)}"
    except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, WriteRefused) as exc:
        detail = (f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError)
                  else describe_http_error(exc) if isinstance(exc, httpx.HTTPError)
                  else str(exc))
        return f"could not be followed ({detail})"
    return None  # a loop on the app: the browser meets it too, with nothing sent elsewhere


def _limit_message(urls: list[str], nxt: str) -> str:
    # A URL met twice is not a loop by itself (a sign-in dance sets a cookie and comes back),
    # so only at the limit does a repeat make the chain a loop worth naming.
    chain = [*urls, nxt]
    repeated = next((u for u in chain if chain.count(u) > 1), None)
    if repeated is not None:
        return (f"redirect loop: more than {MAX_REDIRECTS} redirects, through {repeated} "
                "again and again")
    return f"too many redirects: more than {MAX_REDIRECTS}, the last to {nxt}"


def _redirects(count: int) -> str:
    return f"{count} redirect{'s' * (count > 1)}"


def _where(walk: Walk) -> str:
    """The way to the judged answer and, for a redirect, where it points."""
    hops = len(walk.urls) - 1
    out = f" via {_redirects(hops)} to {walk.url}" if hops else ""
    if walk.location is not None:
        out += f" (Location: {walk.location})"
    return out


async def _fetch(client: httpx.AsyncClient, method: str, url: str, timeout: float,
                 extra: dict[str, str]) -> tuple[httpx.Response, bytes, str | None]:
    """One hop: the answer, its body decoded up to :data:`BODY_LIMIT`, and why the body
    could not be decoded (None when it was).

    Never lets httpx decode: it inflates each chunk whole before a limit could apply, so
    a few kilobytes of gzip could take gigabytes of memory and seconds of the event loop.
    """
    # One hop only: redirects are the caller's, so it can look where each one goes first.
    async with client.stream(method, url, timeout=timeout, follow_redirects=False,
                             headers={**extra, "Accept-Encoding": ACCEPT_ENCODING}
                             ) as response:
        codings = [c.strip().lower() for c in
                   response.headers.get_list("content-encoding", split_commas=True)]
        # Tokens that are no compression at all ("UTF-8", "none", "binary": misconfigured
        # servers send them) are what browsers and httpx treat them as: identity.
        codings = [c for c in codings if c in _COMPRESSIONS]
        if not codings:
            return response, await _read_plain(response), None
        if len(codings) == 1 and codings[0] in _WBITS:
            body, problem = await _read_inflated(response, codings[0])
            return response, body, problem
        # br, zstd, compress, or several stacked: not decoded, so the body is unknown.
        # What was sent is drained (bounded) so the answer is complete, as for any other.
        await _read_plain(response)
        return response, b"", f"Content-Encoding: {response.headers['content-encoding']}"


async def _read_plain(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) >= BODY_LIMIT:
            break
    return bytes(body[:BODY_LIMIT])


async def _read_inflated(response: httpx.Response, coding: str) -> tuple[bytes, str | None]:
    """The body inflated from gzip or deflate, never more than :data:`BODY_LIMIT` bytes of
    it at any moment, whatever the ratio; or nothing and why, when the data is not valid."""
    inflater = zlib.decompressobj(wbits=_WBITS[coding])
    body = bytearray()
    raw_read = 0
    first = True
    async for chunk in response.aiter_raw():
        raw_read += len(chunk)
        pending = chunk
        while pending and len(body) < BODY_LIMIT and not inflater.eof:
            try:
                # max_length > 0 always: zlib stops there and keeps the rest for later.
                body += inflater.decompress(pending, BODY_LIMIT - len(body))
            except zlib.error as exc:
                if coding == "deflate" and first:
                    # "deflate" as many servers send it: raw, without zlib's header.
                    inflater, first = zlib.decompressobj(wbits=-zlib.MAX_WBITS), False
                    continue
                return b"", f"Content-Encoding: {coding}, but the body is not {coding}: {exc}"
            first = False
            pending = inflater.unconsumed_tail
        if len(body) >= BODY_LIMIT or inflater.eof or raw_read >= _RAW_LIMIT:
            break
    return bytes(body), None


def _judge(check: Check, walk: Walk, ms: int) -> list[str]:
    expect = check.expect
    response = walk.response
    failures = []
    if expect.redirect_to is not None and (
            walk.location is None or off_app(walk.location, (), expect.redirect_to)):
        # Said once: "expected 3xx, got 200" next to it would only repeat it.
        failures.append(f"expected a redirect to {expect.redirect_to}, "
                        f"got {response.status_code}")
    elif problem := _status_failure(expect, response.status_code):
        failures.append(problem)
    texts = expect.absent_texts()
    if expect.text is not None or texts:
        try:
            body = walk.text()
        except UnreadableBody as exc:
            failures.append(str(exc))  # neither present nor absent can be said
        else:
            if expect.text is not None and expect.text not in body:
                failures.append(f"text {shorten(expect.text, 60)!r} not found in the body")
            failures += [f"text {shorten(t, 60)!r} found in the body"
                         for t in texts if t in body]
    failures += header_failures(expect.header, dict(response.headers))
    if expect.max_ms is not None and ms > expect.max_ms:
        failures.append(f"took {ms} ms, over max_ms {expect.max_ms}")
    return failures


def _status_failure(expect: Expect, got: int) -> str | None:
    # A check that expects a redirect elsewhere is answered by that redirect: any 3xx.
    if expect.redirect_to is not None and expect.status is None:
        return None if 300 <= got < 400 else f"expected 3xx, got {got}"
    return status_failure(expect.statuses(), got)


#: What to do about a certificate that does not chain to a trusted CA.
TLS_FIX = "set SSL_CERT_FILE or ca_file to your CA bundle"


def describe_http_error(exc: httpx.HTTPError, url: str | None = None) -> str:
    """One line a person understands, for any transport failure; a TLS one names the https
    origin (of the request that failed, else of ``url``) and, where it helps, the fix."""
    if isinstance(exc, httpx.ProxyError):
        return f"proxy error: {exc}"
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason
            if cause.verify_code in _UNTRUSTED:
                return f"{_tls_origin(exc, url)}certificate not trusted ({why}): {TLS_FIX}"
            return f"{_tls_origin(exc, url)}certificate rejected ({why})"
        if isinstance(cause, ssl.SSLError):
            return f"{_tls_origin(exc, url)}TLS error: {cause.reason or cause}"
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


#: OpenSSL's verify codes for a chain that ends at no trusted CA (a private CA's, say).
_UNTRUSTED = frozenset({2, 18, 19, 20, 21})


def _tls_origin(exc: httpx.HTTPError, url: str | None) -> str:
    try:
        where = str(exc.request.url)
    except RuntimeError:  # no request attached
        where = url or ""
    match = re.match(r"https://[^/?#]+", where)
    return f"{match.group(0)}: " if match else ""


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
