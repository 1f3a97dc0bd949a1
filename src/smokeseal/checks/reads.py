"""The reads an app declares (``reads:``): requests that are not GET or HEAD yet only read.

Dash asks for its callbacks by ``POST /_dash-update-component``, a GraphQL client queries by
``POST /graphql``, Streamlit talks over a WebSocket on ``/_stcore/stream``. The page guard
(:mod:`smokeseal.browser.guard`) lets such a request through only when it goes to the
app's own origin and its path matches a declared read; a ``GRAPHQL`` read only when the
operation is a query (:func:`graphql_refusal`). Everything let through is listed on the
check.

This module parses, matches and judges; it imports neither Playwright nor (until a GraphQL
body is judged) graphql-core.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["GRAPHQL", "MAX_GRAPHQL_BYTES", "METHOD_OVERRIDES", "WEBSOCKET", "AllowFailing", "Read",
           "ReadPolicy", "graphql_errors", "graphql_refusal", "needed_read", "origin_of",
           "override_refusal", "parse_allow_failing", "parse_read", "path_of"]

GRAPHQL = "GRAPHQL"
WEBSOCKET = "WEBSOCKET"
#: The largest GraphQL body judged: a query is a few kilobytes, and parsing is linear in the
#: text, so a bigger body is refused rather than parsed while the page waits.
MAX_GRAPHQL_BYTES = 1_000_000
#: graphql-core's own bound on what it reads: past it, parsing stops with an error.
_MAX_TOKENS = 50_000
# RFC 9110's token: what an HTTP method may be spelled with.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ALWAYS = frozenset({"GET", "HEAD"})
#: What makes a path mean another path to some server or proxy: an encoded slash, backslash
#: or dot, a ``;`` parameter (Tomcat's ``..;``), a backslash, an empty or dot segment.
_AMBIGUOUS = re.compile(r"%2f|%5c|%2e|;|\\|//|(^|/)\.\.?(/|$)", re.IGNORECASE)
#: GraphQL error codes (Apollo's, and common) that say the visitor may not see it.
_REFUSALS = frozenset({"UNAUTHENTICATED", "FORBIDDEN", "UNAUTHORIZED"})
#: What turns a POST into another method in many frameworks (Rails, Express, Laravel).
METHOD_OVERRIDES = ("x-http-method-override", "x-http-method", "x-method-override")
#: URL parameters by which servers (express-graphql, graphene-django) take the operation
#: from the query string of a POST, over its body.
_GRAPHQL_URL_PARAMS = frozenset({"query", "operationName", "id", "documentId", "extensions",
                                 "variables", "doc_id", "queryId"})
#: The keys of a GraphQL request over JSON (the GraphQL-over-HTTP spec): any other may name
#: a stored document the server runs in place of ``query``.
_GRAPHQL_KEYS = frozenset({"query", "operationName", "variables", "extensions"})

Origin = tuple[str, str, int]


@dataclass(frozen=True)
class Read:
    """One declared read: ``kind`` is an HTTP method, ``GRAPHQL`` or ``WEBSOCKET``; ``path``
    is matched exactly, or as a prefix when ``prefix`` (written with a trailing ``*``)."""

    kind: str
    path: str
    prefix: bool = False

    def __str__(self) -> str:
        return f"{self.kind} {self.path}{'*' * self.prefix}"

    def matches(self, path: str) -> bool:
        return path.startswith(self.path) if self.prefix else path == self.path


def parse_read(entry: str) -> Read:
    """``"POST /_dash-update-component"``, ``"GRAPHQL /graphql"``, ``"WEBSOCKET /ws*"``; a
    ValueError saying what is wrong otherwise."""
    parts = entry.split()
    if len(parts) != 2:
        raise ValueError(f"{entry!r}: write a read as 'METHOD /path', 'GRAPHQL /path' or "
                         "'WEBSOCKET /path'")
    kind, path = parts[0].upper(), parts[1]
    if not _TOKEN.fullmatch(kind):
        raise ValueError(f"{entry!r}: {parts[0]!r} is not an HTTP method")
    if kind in _ALWAYS:
        raise ValueError(f"{entry!r}: {kind} always passes (smokeseal reads with GET and "
                         "HEAD); list only what is not a GET or HEAD")
    if not path.startswith("/"):
        raise ValueError(f"{entry!r}: the path must start with '/' (reads go to the app's "
                         "own origin)")
    if "?" in path or "#" in path:
        raise ValueError(f"{entry!r}: a read is matched on the path alone; leave out the "
                         "query")
    if _AMBIGUOUS.search(path.removesuffix("*")):
        raise ValueError(f"{entry!r}: a path with ';', '//', '\\' or an encoded '/', '\\' "
                         "or '.' never matches (a proxy may read it as another path)")
    prefix = path.endswith("*")
    if "*" in path[:-1]:
        raise ValueError(f"{entry!r}: '*' may only end the path (a prefix), not stand "
                         "inside it")
    return Read(kind, path.removesuffix("*"), prefix)


def origin_of(url: str) -> Origin | None:
    """Scheme, host and port of an http(s) URL (ws and wss count as http and https: a
    socket is on the origin of the page that may open it); None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


@dataclass(frozen=True)
class ReadPolicy:
    """What one check lets through: its reads, to the app's origins only."""

    reads: tuple[Read, ...] = ()
    origins: frozenset[Origin] = frozenset()

    @classmethod
    def of(cls, reads: Iterable[Read], app_urls: Sequence[str]) -> ReadPolicy:
        origins = frozenset(o for o in map(origin_of, app_urls) if o is not None)
        return cls(tuple(reads), origins)

    def _path_on_app(self, url: str) -> str | None:
        """The path of ``url`` when it is on one of the app's origins and means what it
        says, else None: a path that a server or proxy in front of the app could read as
        another one (``/api/..;/admin``, ``/api%2F..%2Fadmin``) matches no read."""
        if origin_of(url) not in self.origins:
            return None
        path = urlsplit(url).path or "/"
        return None if _AMBIGUOUS.search(path) else path

    def http_read(self, method: str, url: str) -> Read | None:
        """The read that lets ``method url`` through: one naming the method first, else a
        ``GRAPHQL`` read for a POST (whose body is still to be judged)."""
        path = self._path_on_app(url)
        if path is None:
            return None
        kinds = (method.upper(), GRAPHQL) if method.upper() == "POST" else (method.upper(),)
        for kind in kinds:
            for read in self.reads:
                if read.kind == kind and read.matches(path):
                    return read
        return None

    @property
    def declares_sockets(self) -> bool:
        return any(read.kind == WEBSOCKET for read in self.reads)

    def socket_read(self, url: str) -> Read | None:
        path = self._path_on_app(url)
        if path is None:
            return None
        return next((r for r in self.reads if r.kind == WEBSOCKET and r.matches(path)), None)


def path_of(url: str) -> str:
    """A request's path, which is how a read is listed: its origin is the app's."""
    return urlsplit(url).path or "/"


# --- GraphQL --------------------------------------------------------------------------------

Refusal = str


def override_refusal(url: str, headers: Mapping[str, str],
                     body: bytes | None = None) -> Refusal | None:
    """Why a let-through request may be taken for another method (a POST read that a
    framework would run as a DELETE), or None."""
    names = {k.lower() for k in headers}
    for name in METHOD_OVERRIDES:
        if name in names:
            return f"it carries {name}: the server may take it for another method"
    fields = [key for key, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)]
    mime = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if body and mime.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        fields += [key for key, _ in parse_qsl(body.decode("latin-1"), keep_blank_values=True)]
    if "_method" in fields:
        return "it carries _method: the server may take it for another method"
    return None


def graphql_refusal(body: bytes | None, content_type: str | None,
                    url: str = "") -> Refusal | None:
    """Why a POST to a ``GRAPHQL`` read is no query, or None when every operation it runs is
    one. Strict: a document holding any mutation or subscription is refused, whichever
    operation ``operationName`` selects; so is anything not understood, and an operation
    named in the URL (which some servers run in place of the body's)."""
    params = {key for key, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    if named := sorted(params & _GRAPHQL_URL_PARAMS):
        return f"the URL carries {', '.join(named)}: servers may run that, not the body"
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime.startswith("multipart/"):
        return "a multipart body (an upload) is not a query"
    if not body:
        return "no body: not a GraphQL request"
    if len(body) > MAX_GRAPHQL_BYTES:
        return f"a body over {MAX_GRAPHQL_BYTES // 1_000_000} MB is not judged"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8 text"
    if mime == "application/graphql":
        return _document_refusal(text, None)
    try:
        payload = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        # Parsers differ on which copy wins: the server may run the one not judged.
        return f"the key {exc} appears twice"
    except (ValueError, RecursionError):
        return "the body is not JSON (nor sent as application/graphql)"
    if isinstance(payload, list):
        if not payload:
            return "an empty batch"
        for index, one in enumerate(payload):
            if why := _request_refusal(one):
                return f"batch [{index}]: {why}"
        return None
    return _request_refusal(payload)


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(repr(key))
        seen[key] = value
    return seen


def _request_refusal(payload: Any) -> Refusal | None:
    if not isinstance(payload, dict):
        return "not a GraphQL request (a JSON object with 'query')"
    if extra := sorted(set(payload) - _GRAPHQL_KEYS):
        return f"it carries {', '.join(map(repr, extra))}: the server may run another document"
    extensions = payload.get("extensions")
    if isinstance(extensions, dict) and "persistedQuery" in extensions:
        return "a persisted query: the server may run its stored document, not the text sent"
    query = payload.get("query")
    if query is None:
        # Apollo's persisted queries send a hash alone: what it runs cannot be read.
        return "no query text (a persisted query cannot be judged)"
    if not isinstance(query, str):
        return "'query' is not a string"
    name = payload.get("operationName")
    if name is not None and not isinstance(name, str):
        return "'operationName' is not a string"
    return _document_refusal(query, name)


def graphql_errors(body: bytes) -> tuple[str | None, str | None]:
    """What a GraphQL answer says went wrong: the first error of an answer with no data (the
    query failed), else the first error of one with data beside it (a partial answer); None
    for either when there is none or the body is no GraphQL answer."""
    if len(body) > MAX_GRAPHQL_BYTES:
        return None, None
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    failed = partial = None
    for answer in payload if isinstance(payload, list) else [payload]:
        if not isinstance(answer, dict) or not isinstance(errors := answer.get("errors"), list) \
                or not errors:
            continue
        first = errors[0]
        message = str(first.get("message", first) if isinstance(first, dict) else first)
        # A visitor not signed in is refused a `me` query by a healthy app: not a fault.
        refused = all(isinstance(e, dict) and isinstance(e.get("extensions"), dict)
                      and e["extensions"].get("code") in _REFUSALS for e in errors)
        if answer.get("data") is None and not refused:
            failed = failed or message
        else:
            partial = partial or message
    return failed, partial


def _document_refusal(text: str, operation_name: str | None) -> Refusal | None:
    from graphql import GraphQLError, parse
    from graphql.language import FragmentDefinitionNode, OperationDefinitionNode

    try:
        document = parse(text, no_location=True, max_tokens=_MAX_TOKENS)
    except GraphQLError as exc:
        return f"the query does not parse: {exc.message}"
    except RecursionError:
        return "the query does not parse: nested too deeply"
    operations: list[OperationDefinitionNode] = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            operations.append(definition)
        elif not isinstance(definition, FragmentDefinitionNode):
            return "the document holds more than operations and fragments"
    if not operations:
        return "the document holds no operation"
    for operation in operations:
        kind = str(operation.operation.value)
        if kind != "query":
            named = f" {operation.name.value}" if operation.name else ""
            return (f"a {kind}{named}, not a query" if len(operations) == 1 else
                    f"the document holds a {kind}{named}: only documents of queries pass, "
                    "whichever operation is selected")
    if operation_name is None:
        return None if len(operations) == 1 else \
            "several operations and no operationName to select one"
    if not any(op.name is not None and op.name.value == operation_name for op in operations):
        return f"operationName {operation_name!r} is not in the document"
    return None


# --- What a page needed ---------------------------------------------------------------------

#: Paths by which well-known frameworks fetch what a page shows, over a POST that is no
#: GraphQL query: refusing one leaves the page a frame with no data in it.
_DATA_POSTS = (
    re.compile(r"/_dash-update-component$"),  # Dash callbacks
    re.compile(r"/(gradio_api/)?queue/join$"),  # Gradio's event queue
)
#: Engine.IO's own path (socket.io's, or one a framework mounts it under, as NiceGUI's
#: ``/_nicegui_ws/socket.io/``): only there is a polling POST taken for it, not on any path
#: a page puts ``?EIO=`` on.
_ENGINE_IO = re.compile(r"/(socket|engine)\.io/$")
#: SignalR's negotiation (Blazor Server), before its socket: its own path and parameter.
_SIGNALR = re.compile(r"/negotiate$")


def needed_read(method: str, url: str, body: bytes | None = None,
                content_type: str | None = None) -> str | None:
    """The ``reads:`` line that would declare a refused request a page needs to draw its
    data, or None for a write it can do without (a beacon, an analytics POST, a form).

    A page's data channel is recognised by what it is, never by what it is called in one
    app: any WebSocket (``WEBSOCKET /path``), a POST whose body is a GraphQL query
    (``GRAPHQL /path``: only queries pass such a read), Engine.IO's long-polling POST
    (socket.io before or instead of its socket), and the few frameworks' data POSTs of
    :data:`_DATA_POSTS`. The caller decides whether the request went to the app's origin.
    """
    path = path_of(url)
    kind = method.upper()
    if kind == WEBSOCKET:
        return f"{WEBSOCKET} {path}"
    if kind != "POST":
        return None
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    if "EIO" in query and query.get("transport") == "polling" and _ENGINE_IO.search(path):
        return f"POST {path}"
    if "negotiateVersion" in query and _SIGNALR.search(path):
        return f"POST {path}"
    if any(pattern.search(path) for pattern in _DATA_POSTS):
        return f"POST {path}"
    if body and graphql_refusal(body, content_type, url) is None:
        return f"{GRAPHQL} {path}"
    return None


@dataclass(frozen=True)
class AllowFailing:
    """One ``allow_failing`` entry: ``GET /api/optional*``, ``WEBSOCKET /live``, ``* /x``:
    same-origin requests whose failure (or refusal by the guard) does not fail the page."""

    kind: str
    path: str
    prefix: bool = False

    def __str__(self) -> str:
        return f"{self.kind} {self.path}{'*' * self.prefix}"

    def covers(self, kind: str, url_or_path: str) -> bool:
        if self.kind not in ("*", kind.upper()):
            return False
        path = path_of(url_or_path) if "://" in url_or_path else url_or_path
        return path.startswith(self.path) if self.prefix else path == self.path


def parse_allow_failing(entry: str) -> AllowFailing:
    """``"GET /api/optional*"``; a ValueError saying what is wrong otherwise."""
    parts = entry.split()
    if len(parts) != 2:
        raise ValueError(f"{entry!r}: write it as 'METHOD /path', 'WEBSOCKET /path' or "
                         "'* /path' (a trailing '*' matches a prefix)")
    kind, path = parts[0].upper(), parts[1]
    if kind != "*" and not _TOKEN.fullmatch(kind):
        raise ValueError(f"{entry!r}: {parts[0]!r} is not an HTTP method")
    if not path.startswith("/"):
        raise ValueError(f"{entry!r}: the path must start with '/' (only the app's own "
                         "requests fail a page)")
    if "?" in path or "#" in path:
        raise ValueError(f"{entry!r}: matched on the path alone; leave out the query")
    if "*" in path[:-1]:
        raise ValueError(f"{entry!r}: '*' may only end the path (a prefix)")
    return AllowFailing(kind, path.removesuffix("*"), path.endswith("*"))
