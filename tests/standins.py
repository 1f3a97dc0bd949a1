"""Local servers that implement the parts of Discord's and GitHub's HTTP APIs smokeseal uses,
with their documented status codes, error bodies and rate-limit headers. Started by fixtures
in conftest.py; tests script faults into them (``fail_next``) and read what they received.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

_ids = itertools.count(1_100_000_000_000_000_000)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    at: float
    headers: dict[str, str]


@dataclass
class StandIn:
    """Shared by one fake API: what it received, and faults to answer with next."""

    received: list[Received] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    down: bool = False
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, *faults: str) -> None:
        with self.lock:
            self.faults.extend(faults)

    def _next_fault(self) -> str | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    async def _record(self, request: Request) -> Any:
        body = await request.body()
        payload = None
        if body:
            import json

            payload = json.loads(body)
        with self.lock:
            self.received.append(Received(request.method, request.url.path,
                                          dict(request.query_params), payload, time.monotonic(),
                                          dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)
        return payload

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.faults.clear()
            self.down = False
            self.delay = 0.0


# --- Discord ----------------------------------------------------------------------------

DISCORD_WEBHOOK_ID = "1187000000000000001"
DISCORD_TOKEN = "dIsCoRd-T0ken-s3cret-value"


@dataclass
class DiscordStandIn(StandIn):
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def webhook_url(self, base: str) -> str:
        return f"{base}/api/webhooks/{DISCORD_WEBHOOK_ID}/{DISCORD_TOKEN}"

    def posts(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST"]

    def reset(self) -> None:
        super().reset()
        self.messages.clear()


def _discord_rate_limited() -> Response:
    reset_after = 0.25
    return JSONResponse(
        {"message": "You are being rate limited.", "retry_after": reset_after, "global": False},
        status_code=429,
        headers={"Retry-After": "1", "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                 "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                 "X-RateLimit-Reset-After": f"{reset_after}",
                 "X-RateLimit-Bucket": "d721dea6054f6322373d361f98e5c38b",
                 "X-RateLimit-Scope": "user"})


def _discord_invalid(errors: list[str]) -> Response:
    return JSONResponse({"message": "Invalid Form Body", "code": 50035,
                         "errors": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                                 "message": e} for e in errors]}},
                        status_code=400)


def _discord_problems(body: dict[str, Any]) -> list[str]:
    problems = []
    if len(body.get("content") or "") > 2000:
        problems.append("content: Must be 2000 or fewer in length.")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        problems.append("embeds: Must be 10 or fewer in length.")
    for embed in embeds:
        title, description = embed.get("title", ""), embed.get("description", "")
        footer = (embed.get("footer") or {}).get("text", "")
        if len(title) > 256 or len(description) > 4096 or len(footer) > 2048:
            problems.append("embed field too long")
        if len(title) + len(description) + len(footer) > 6000:
            problems.append("Embed size exceeds maximum size of 6000")
    if not (body.get("content") or embeds):
        problems.append("Cannot send an empty message")
    return problems


def discord_app(state: DiscordStandIn) -> Starlette:
    async def guard(request: Request) -> Response | None:
        if request.path_params["webhook_id"] != DISCORD_WEBHOOK_ID:
            return JSONResponse({"message": "Unknown Webhook", "code": 10015}, 404)
        if request.path_params["token"] != DISCORD_TOKEN:
            return JSONResponse({"message": "Invalid Webhook Token", "code": 50027}, 401)
        if state.down:
            return PlainTextResponse("upstream connect error", 503)
        fault = state._next_fault()
        if fault == "429":
            return _discord_rate_limited()
        if fault == "500":
            return JSONResponse({"message": "500: Internal Server Error", "code": 0}, 500)
        if fault == "garbage":
            return PlainTextResponse("<html>cloudflare says hi</html>", 200)
        if fault == "hang":  # accepted, never answered, nothing posted
            await asyncio.sleep(30)
            return PlainTextResponse("too late", 504)
        return None

    async def execute(request: Request) -> Response:
        body = await state._record(request)
        if (refusal := await guard(request)) is not None:
            return refusal
        if problems := _discord_problems(body):
            return _discord_invalid(problems)
        message = {"id": str(next(_ids)), "channel_id": request.query_params.get("thread_id"),
                   "content": body.get("content", ""), "embeds": body.get("embeds", []),
                   "allowed_mentions": body.get("allowed_mentions"), "webhook_id":
                   DISCORD_WEBHOOK_ID}
        state.messages[message["id"]] = message
        if request.query_params.get("wait") != "true":
            return Response(status_code=204)
        return JSONResponse(message)

    async def edit(request: Request) -> Response:
        body = await state._record(request)
        if (refusal := await guard(request)) is not None:
            return refusal
        message = state.messages.get(request.path_params["message_id"])
        if message is None:
            return JSONResponse({"message": "Unknown Message", "code": 10008}, 404)
        if problems := _discord_problems({**message, **body}):
            return _discord_invalid(problems)
        message.update({k: v for k, v in body.items() if k in ("content", "embeds")})
        message["edited"] = True
        return JSONResponse(message)

    return Starlette(routes=[
        Route("/api/webhooks/{webhook_id}/{token}", execute, methods=["POST"]),
        Route("/api/webhooks/{webhook_id}/{token}/messages/{message_id}", edit,
              methods=["PATCH"]),
    ])


# --- GitHub -----------------------------------------------------------------------------

GITHUB_TOKEN = "ghp_S3cretT0kenForTests0000000000000000"
GITHUB_REPO = "acme/studio"


@dataclass
class GithubStandIn(StandIn):
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add_release(self, tag: str, body: str | None) -> None:
        self.releases[tag] = {"id": len(self.releases) + 1, "tag_name": tag, "body": body}

    def reset(self) -> None:
        super().reset()
        self.releases.clear()
        self.deployments.clear()


def github_app(state: GithubStandIn) -> Starlette:
    async def guard(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {GITHUB_TOKEN}":
            return JSONResponse({"message": "Bad credentials",
                                 "documentation_url": "https://docs.github.com/rest"}, 401)
        if f"{request.path_params['owner']}/{request.path_params['repo']}" != GITHUB_REPO:
            return JSONResponse({"message": "Not Found"}, 404)
        fault = state._next_fault()
        if fault == "primary":
            return JSONResponse(
                {"message": "API rate limit exceeded for installation ID 1."}, 403,
                headers={"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                         "x-ratelimit-used": "5000",
                         "x-ratelimit-reset": str(int(time.time()) + 1)})
        if fault == "secondary":
            return JSONResponse({"message": "You have exceeded a secondary rate limit."}, 429,
                                headers={"retry-after": "1"})
        if fault == "500":
            return JSONResponse({"message": "Server Error"}, 500)
        if fault == "garbage":
            return PlainTextResponse("<html>unicorn!</html>", 200)
        if fault == "hang":
            await asyncio.sleep(30)
            return PlainTextResponse("too late", 504)
        return None

    async def repository(request: Request) -> Response:
        await state._record(request)
        if (refusal := await guard(request)) is not None:
            return refusal
        return JSONResponse({"id": 1, "full_name": GITHUB_REPO, "private": True})

    async def release_by_tag(request: Request) -> Response:
        await state._record(request)
        if (refusal := await guard(request)) is not None:
            return refusal
        release = state.releases.get(request.path_params["tag"])
        if release is None:
            return JSONResponse({"message": "Not Found"}, 404)
        return JSONResponse(release)

    async def update_release(request: Request) -> Response:
        body = await state._record(request)
        if (refusal := await guard(request)) is not None:
            return refusal
        for release in state.releases.values():
            if release["id"] == int(request.path_params["release_id"]):
                release["body"] = body["body"]
                return JSONResponse(release)
        return JSONResponse({"message": "Not Found"}, 404)

    async def create_deployment(request: Request) -> Response:
        body = await state._record(request)
        if (refusal := await guard(request)) is not None:
            return refusal
        deployment_id = len(state.deployments) + 1
        state.deployments[deployment_id] = {**body, "id": deployment_id, "statuses": []}
        return JSONResponse({"id": deployment_id, "ref": body["ref"]}, 201)

    async def create_status(request: Request) -> Response:
        body = await state._record(request)
        if (refusal := await guard(request)) is not None:
            return refusal
        deployment = state.deployments.get(int(request.path_params["deployment_id"]))
        if deployment is None:
            return JSONResponse({"message": "Not Found"}, 404)
        deployment["statuses"].append(body)
        return JSONResponse({"id": len(deployment["statuses"]), **body}, 201)

    base = "/repos/{owner}/{repo}"
    return Starlette(routes=[
        Route(base, repository),
        Route(base + "/releases/tags/{tag}", release_by_tag),
        Route(base + "/releases/{release_id:int}", update_release, methods=["PATCH"]),
        Route(base + "/deployments", create_deployment, methods=["POST"]),
        Route(base + "/deployments/{deployment_id:int}/statuses", create_status,
              methods=["POST"]),
    ])


# --- Slack (Web API) --------------------------------------------------------------------

SLACK_TOKEN = "xoxb-1000000001-2000000002-SlAcKs3cretB0tT0ken"
SLACK_CHANNEL = "C0RELEASES1"
#: Channels the stand-in knows the bot is not a member of, or that are archived.
SLACK_NOT_IN_CHANNEL = "C0NOTINVITED"
SLACK_ARCHIVED = "C0ARCHIVED1"
_ts = itertools.count(1)


@dataclass
class SlackStandIn(StandIn):
    """``chat.postMessage`` and ``chat.update`` as documented: HTTP 200 with ``ok: false``
    and an error code for most errors, 429 with ``Retry-After`` for rate limits."""

    #: ts -> the message as stored (channel, text, blocks, thread_ts, edited).
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry_after: str = "1"

    def calls(self, method: str) -> list[Received]:
        return [r for r in self.received if r.path == f"/api/{method}"]

    def reset(self) -> None:
        super().reset()
        self.messages.clear()
        self.retry_after = "1"


def _slack_error(error: str, **extra: Any) -> Response:
    return JSONResponse({"ok": False, "error": error, **extra})


def _slack_problems(body: dict[str, Any]) -> Response | None:
    """Block Kit's limits, answered as Slack answers them."""
    text, blocks = body.get("text"), body.get("blocks")
    if not text and not blocks:
        return _slack_error("no_text")
    if text is not None and len(text) > 40_000:
        return _slack_error("msg_too_long")
    problems = []
    if blocks is not None:
        if not isinstance(blocks, list) or len(blocks) > 50:
            problems.append("[ERROR] must provide an array of at most 50 blocks")
        for index, block in enumerate(blocks if isinstance(blocks, list) else []):
            kind = block.get("type")
            limit = {"header": 150, "section": 3000}.get(kind)
            if kind in ("header", "section"):
                if len(block["text"]["text"]) > (limit or 0):
                    problems.append(f"[ERROR] must be less than {limit} characters "
                                    f"[json-pointer:/blocks/{index}/text/text]")
                if kind == "header" and block["text"]["type"] != "plain_text":
                    problems.append(f"[ERROR] must be plain_text [json-pointer:/blocks/{index}]")
            elif kind != "context":
                problems.append(f"[ERROR] unsupported type [json-pointer:/blocks/{index}]")
    if problems:
        return _slack_error("invalid_blocks", response_metadata={"messages": problems})
    return None


def slack_app(state: SlackStandIn) -> Starlette:
    async def guard(request: Request, body: Any) -> Response | None:
        authorization = request.headers.get("authorization")
        if not authorization:
            return _slack_error("not_authed")
        if authorization != f"Bearer {SLACK_TOKEN}":
            return _slack_error("invalid_auth")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _slack_error("invalid_arguments")
        if state.down:
            return PlainTextResponse("upstream connect error", 503)
        fault = state._next_fault()
        if fault == "429":
            return JSONResponse({"ok": False, "error": "ratelimited"}, 429,
                                headers={"Retry-After": state.retry_after})
        if fault == "500":
            return PlainTextResponse("Internal Server Error", 500)
        if fault in ("internal_error", "fatal_error", "service_unavailable", "request_timeout",
                     "invalid_auth", "account_inactive", "token_revoked"):
            return _slack_error(fault)
        if fault == "garbage":
            return PlainTextResponse("<html>slack says hi</html>", 200)
        if fault == "hang":
            await asyncio.sleep(30)
            return PlainTextResponse("too late", 504)
        channel = body.get("channel")
        if channel == SLACK_NOT_IN_CHANNEL:
            return _slack_error("not_in_channel")
        if channel == SLACK_ARCHIVED:
            return _slack_error("is_archived")
        if channel != SLACK_CHANNEL:
            return _slack_error("channel_not_found")
        return None

    async def post_message(request: Request) -> Response:
        body = await state._record(request)
        if (refusal := await guard(request, body)) is not None:
            return refusal
        if (problem := _slack_problems(body)) is not None:
            return problem
        thread = body.get("thread_ts")
        if thread is not None and thread not in state.messages:
            return _slack_error("thread_not_found")
        ts = f"1700000000.{next(_ts):06d}"
        state.messages[ts] = {"ts": ts, "channel": body["channel"], "text": body.get("text"),
                              "blocks": body.get("blocks"), "thread_ts": thread,
                              "edited": 0}
        return JSONResponse({"ok": True, "channel": body["channel"], "ts": ts,
                             "message": {"type": "message", "text": body.get("text"),
                                         "ts": ts}})

    async def update(request: Request) -> Response:
        body = await state._record(request)
        if (refusal := await guard(request, body)) is not None:
            return refusal
        message = state.messages.get(body.get("ts", ""))
        if message is None or message["channel"] != body["channel"]:
            return _slack_error("message_not_found")
        if (problem := _slack_problems(body)) is not None:
            return problem
        message.update(text=body.get("text"), blocks=body.get("blocks"),
                       edited=message["edited"] + 1)
        return JSONResponse({"ok": True, "channel": body["channel"], "ts": body["ts"],
                             "text": body.get("text")})

    return Starlette(routes=[
        Route("/api/chat.postMessage", post_message, methods=["POST"]),
        Route("/api/chat.update", update, methods=["POST"]),
    ])


# --- a webhook receiver -------------------------------------------------------------------

WEBHOOK_SECRET = "whsec-S1gningSecretForTests-000000"
#: The path holds a token, as many receivers' URLs do (``/hooks/T0/B0/XXXX``).
WEBHOOK_PATH = "/hooks/smokeseal/TOKENinTheURL0000000000"


@dataclass
class Delivery:
    delivery: str
    event: str
    signature_ok: bool
    body: bytes
    headers: dict[str, str]
    at: float
    status: int


@dataclass
class WebhookReceiver(StandIn):
    """Verifies ``X-Smokeseal-Signature`` against the raw body as a receiver should, answers
    401 when it does not match, and keeps the deliveries it accepted, each id once."""

    deliveries: list[Delivery] = field(default_factory=list)
    accepted: dict[str, Any] = field(default_factory=dict)
    retry_after: str = "1"

    def url(self, base: str) -> str:
        return base + WEBHOOK_PATH

    def reset(self) -> None:
        super().reset()
        self.deliveries.clear()
        self.accepted.clear()
        self.retry_after = "1"


def verify(secret: str, body: bytes, header: str) -> bool:
    """The receiver's check, as the README shows it."""
    import hashlib
    import hmac

    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def webhook_app(state: WebhookReceiver) -> Starlette:
    async def receive(request: Request) -> Response:
        import json

        body = await request.body()
        ok = verify(WEBHOOK_SECRET, body, request.headers.get("x-smokeseal-signature", ""))
        fault = state._next_fault()
        status = 401 if not ok else int(fault) if fault and fault.isdigit() else 200
        with state.lock:
            state.deliveries.append(Delivery(
                request.headers.get("x-smokeseal-delivery", ""),
                request.headers.get("x-smokeseal-event", ""), ok, body, dict(request.headers),
                time.monotonic(), status))
        if fault == "hang":
            await asyncio.sleep(30)
            return PlainTextResponse("too late", 504)
        if status == 401:
            return JSONResponse({"message": "signature does not match"}, 401)
        if status == 429:
            return JSONResponse({"message": "slow down"}, 429,
                                headers={"Retry-After": state.retry_after})
        if status != 200:
            return JSONResponse({"message": f"receiver says {status}"}, status)
        delivery = request.headers["x-smokeseal-delivery"]
        with state.lock:
            state.accepted.setdefault(delivery, json.loads(body))
        return JSONResponse({"received": delivery})

    return Starlette(routes=[Route(WEBHOOK_PATH, receive, methods=["POST"])])
