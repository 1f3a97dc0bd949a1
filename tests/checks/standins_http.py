"""Stand-ins for get checks and the live build: an app whose routes redirect where a test says,
another host that must never be asked, and a build whose served revision flips mid-deploy.

Plain context managers, not fixtures, so that test modules can wrap them in fixtures of their
own without a shared conftest. Every server records what it received; the fixtures apply the
read-only proof to it afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp

from smokeseal.servers import BackgroundServer
from tests.conftest import Recorder

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@dataclass
class Served:
    url: str
    port: int
    log: Recorder


@contextmanager
def serve(app: ASGIApp) -> Iterator[Served]:
    log = Recorder(with_query=True)
    with BackgroundServer(log.wrap(app)) as server:
        yield Served(server.url, server.port, log)


# --- bodies that are not what they seem ------------------------------------------------------

#: What a gzip bomb holds: enough zeros that decoding it whole shows in memory.
BOMB_MB = 256


@functools.cache
def gzip_bomb(layers: int) -> bytes:
    """:data:`BOMB_MB` of zeros in gzip, gzipped again ``layers - 1`` times: 255 KB, or
    under a kilobyte stacked twice (``Content-Encoding: gzip, gzip``)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    body = b"".join([packer.compress(zeros) for _ in range(BOMB_MB)] + [packer.flush()])
    for _ in range(layers - 1):
        body = gzip.compress(body, 9)
    return body


#: Content-Encoding values misconfigured servers send that compress nothing.
NO_COMPRESSION = ("utf-8", "none", "binary", "identity", "text")


def encoded(text: bytes, coding: str) -> bytes:
    """``text`` as a server sends it with ``Content-Encoding: coding`` (as far as smokeseal
    can decode it; for any other coding, bytes that are not ``text``)."""
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(text)
    if coding == "deflate":  # as the RFC says: zlib's format
        return zlib.compress(text)
    if coding == "raw-deflate":  # as many servers send it
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return packer.compress(text) + packer.flush()
    if coding.lower() in NO_COMPRESSION:
        return text
    return bytes(b ^ 0x5A for b in text)  # br, zstd, ...: opaque here


def compressed_response(text: bytes, coding: str, headers: dict[str, str] | None = None,
                        media_type: str = "text/html") -> Response:
    """``text`` sent with ``Content-Encoding: coding``; ``corrupt-gzip`` says gzip and is not."""
    sent = {"raw-deflate": "deflate", "corrupt-gzip": "gzip"}.get(coding, coding)
    body = b"not gzip at all" if coding == "corrupt-gzip" else encoded(text, coding)
    return Response(body, media_type=media_type,
                    headers={"Content-Encoding": sent, **(headers or {})})


async def trickle(request: Request) -> Response:
    """200 at once, then one byte a second for a minute."""

    async def body() -> AsyncIterator[bytes]:
        for _ in range(60):
            yield b"."
            await asyncio.sleep(1)

    return StreamingResponse(body(), media_type="text/plain")


# --- an app that redirects ------------------------------------------------------------------

def site_app() -> Starlette:
    """Routes for redirect cases; ``/to?url=U&code=C`` redirects to U (absolute or not)."""

    async def to(request: Request) -> Response:
        return RedirectResponse(request.query_params["url"],
                                status_code=int(request.query_params.get("code", 302)))

    async def raw_location(request: Request) -> Response:
        # Starlette would quote a malformed Location; production's proxies do not.
        return Response(status_code=302, headers={"Location": request.query_params["url"]})

    async def chain(request: Request) -> Response:
        left = int(request.query_params["n"])
        if left == 0:
            return PlainTextResponse("end of the chain")
        await asyncio.sleep(float(request.query_params.get("s", "0")))
        return RedirectResponse(f"/chain?n={left - 1}&s={request.query_params.get('s', '0')}",
                                status_code=302)

    async def dance(request: Request) -> Response:
        # A sign-in dance: the first visit sets a cookie and sends the visitor back to the
        # same URL; with the cookie, the page. The same URL twice is not a loop.
        if request.cookies.get("visited") == "1":
            return PlainTextResponse("danced")
        response = RedirectResponse("/dance", status_code=302)
        response.set_cookie("visited", "1")
        return response

    async def landed(request: Request) -> Response:
        return PlainTextResponse("landed on the app")

    async def error_shell(request: Request) -> Response:
        # A framework's error page, served with 200: the body is the only sign.
        return HTMLResponse("<h1>Internal Server Error</h1><p>Something went wrong</p>")

    async def endless(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            chunk = b"x" * 65536
            while True:
                yield chunk
                await asyncio.sleep(0)

        return StreamingResponse(body())

    async def bomb(request: Request) -> Response:
        layers = int(request.query_params.get("layers", "1"))
        return Response(gzip_bomb(layers), media_type="text/html",
                        headers={"Content-Encoding": ", ".join(["gzip"] * layers)})

    async def compressed(request: Request) -> Response:
        # The body says which Accept-Encoding arrived, so a check can see what was asked.
        asked = request.headers.get("accept-encoding", "")
        text = f"<main>hello from a compressed body (asked for: {asked})</main>".encode()
        return compressed_response(text, request.query_params["as"],
                                   headers={"X-Shop": "open"})

    async def empty_blocks(request: Request) -> Response:
        # Valid gzip that never ends and never holds a byte: empty deflate blocks, forever.
        async def body() -> AsyncIterator[bytes]:
            yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # gzip's header
            chunk = b"\x00\x00\x00\xff\xff" * 13_000  # an empty stored block, repeated
            while True:
                yield chunk
                await asyncio.sleep(0)

        return StreamingResponse(body(), media_type="text/html",
                                 headers={"Content-Encoding": "gzip"})

    async def charset(request: Request) -> Response:
        return Response("<main>hello, café</main>".encode(), headers={
            "Content-Type": f"text/html; charset={request.query_params['name']}"})

    return Starlette(routes=[
        Route("/to", to, methods=ALL_METHODS),
        Route("/bomb", bomb),
        Route("/compressed", compressed),
        Route("/charset", charset),
        Route("/empty-blocks", empty_blocks),
        Route("/endless", endless),
        Route("/raw-location", raw_location),
        Route("/chain", chain),
        Route("/dance", dance),
        Route("/landed", landed, methods=ALL_METHODS),
        Route("/error-shell", error_shell),
    ])


def elsewhere_app() -> Starlette:
    """Another host: an SSO login page, say. Tests assert it was never asked."""

    async def login(request: Request) -> Response:
        return PlainTextResponse("sign in at the identity provider")

    async def version(request: Request) -> Response:
        return JSONResponse({"sha": "3f2a9c1deadbeef"})

    return Starlette(routes=[Route("/login", login, methods=ALL_METHODS),
                             Route("/version", version)])


# --- the live build -----------------------------------------------------------------------

OLD = "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"
NEW = "3f2a9c1deadbeef00112233445566778899aabb"


@dataclass
class Build:
    """What the build stand-in serves. ``flip_after``: how many revision reads get ``old``
    before ``new`` answers (a rolling deploy); None never flips. ``up``: the statuses
    ``/up`` answers, one per request, the last repeated."""

    old: str = OLD
    new: str = NEW
    flip_after: int | None = None
    up: list[int] = field(default_factory=lambda: [200])
    reads: int = 0
    up_asked: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.old, self.new, self.flip_after = OLD, NEW, None
            self.up, self.reads, self.up_asked = [200], 0, 0

    def revision(self) -> str:
        with self.lock:
            self.reads += 1
            flipped = self.flip_after is not None and self.reads > self.flip_after
            return self.new if flipped else self.old

    def up_status(self) -> int:
        with self.lock:
            self.up_asked += 1
            return self.up[min(self.up_asked, len(self.up)) - 1]


def build_app(build: Build, elsewhere: list[str]) -> Starlette:
    """``/up`` and every way a build says (or fails to say) its revision."""

    async def up(request: Request) -> Response:
        status = build.up_status()
        return PlainTextResponse("ok" if status == 200 else "starting", status_code=status)

    async def as_json(request: Request) -> Response:
        rev = build.revision()
        return JSONResponse({"sha": rev, "build": {"sha": rev, "number": 1234,
                                                   "tags": [rev]},
                             "nothing": None, "short": "abc", "long": rev * 10})

    async def as_header(request: Request) -> Response:
        return PlainTextResponse("ok", headers={"X-Revision": f"  {build.revision()}  "})

    async def as_page(request: Request) -> Response:
        return HTMLResponse(f'<!doctype html><meta name="revision" content="{build.revision()}">'
                            "<main>about</main>")

    async def as_text(request: Request) -> Response:
        return PlainTextResponse(build.revision().upper() + "\n")

    async def missing(request: Request) -> Response:
        return PlainTextResponse("Not Found", status_code=404)

    async def not_json(request: Request) -> Response:
        return HTMLResponse("<html>this is not JSON</html>")

    async def nested(request: Request) -> Response:
        return Response("[" * 100_000 + "]" * 100_000, media_type="application/json")

    async def hang(request: Request) -> Response:
        await asyncio.sleep(30)
        return JSONResponse({"sha": build.revision()})

    async def away(request: Request) -> Response:
        return RedirectResponse(f"{elsewhere[0]}/version", status_code=302)

    async def moved(request: Request) -> Response:
        return RedirectResponse("/version", status_code=301)

    async def compressed(request: Request) -> Response:
        text = JSONResponse({"sha": build.revision()}).body
        return compressed_response(text, request.query_params["as"],
                                   media_type="application/json")

    async def bomb(request: Request) -> Response:
        return Response(gzip_bomb(2), media_type="application/json",
                        headers={"Content-Encoding": "gzip, gzip"})

    async def charset(request: Request) -> Response:
        # httpx takes zlib for a charset (it is a codec), but it does not decode text.
        return Response(JSONResponse({"sha": build.revision()}).body, headers={
            "Content-Type": f"application/json; charset={request.query_params['name']}"})

    async def long_line(request: Request) -> Response:
        # A page that is one long line (a bundle inlined); with ``at``, the revision comes
        # after those ``n`` bytes, else nowhere.
        revision = build.revision()
        tail = f"build={revision}" if "at" in request.query_params else ""
        return HTMLResponse("<script>" + "a" * int(request.query_params["n"]) + tail
                            + "</script>")

    async def up_away(request: Request) -> Response:
        return RedirectResponse(f"{elsewhere[0]}/login", status_code=302)

    return Starlette(routes=[
        Route("/up", up), Route("/version", as_json), Route("/version/header", as_header),
        Route("/version/page", as_page), Route("/version/text", as_text),
        Route("/version/404", missing), Route("/version/not-json", not_json),
        Route("/version/nested", nested), Route("/version/hang", hang),
        Route("/version/away", away), Route("/version/moved", moved),
        Route("/version/compressed", compressed), Route("/version/bomb", bomb),
        Route("/version/charset", charset), Route("/version/long-line", long_line),
        Route("/up/away", up_away), Route("/up/trickle", trickle),
    ])


@dataclass
class Live:
    """The build stand-in as tests use it: what it serves, its server, and another host."""

    state: Build
    build: Served
    elsewhere: Served

    @property
    def url(self) -> str:
        return self.build.url

    def reset(self) -> None:
        self.state.reset()
        self.build.log.clear()
        self.elsewhere.log.clear()


@contextmanager
def live_build() -> Iterator[Live]:
    """A build stand-in and another host it can redirect to, both on 127.0.0.1."""
    state = Build()
    where: list[str] = []
    with serve(elsewhere_app()) as elsewhere, serve(build_app(state, where)) as build:
        where.append(elsewhere.url)
        yield Live(state, build, elsewhere)
