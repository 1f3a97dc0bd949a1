"""The reads an app declares (``reads:``): requests that are not GET or HEAD yet only read.

Dash asks for its callbacks by ``POST /_dash-update-component``, a GraphQL client queries by
``POST /graphql``, Streamlit talks over a WebSocket on ``/_stcore/stream``. The page guard
(:mod:`smokeseal.checks.browser`) lets such a request through only when it goes to the
app's own origin and its path matches a declared read; a ``GRAPHQL`` read only when the
operation is a query (:func:`graphql_refusal`). Everything let through is listed on the
check.

This module parses, matches and judges; it imports neither Playwright nor (until a GraphQL
body is judged) graphql-core.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["GRAPHQL", "MAX_GRAPHQL_BYTES", "WEBSOCKET", "Read", "ReadPolicy", "graphql_refusal",
           "origin_of", "parse_read", "path_of"]

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
        """The path of ``url`` when it is on one of the app's origins, else None."""
        if origin_of(url) not in self.origins:
            return None
        return urlsplit(url).path or "/"

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


def graphql_refusal(body: bytes | None, content_type: str | None) -> Refusal | None:
    """Why a POST to a ``GRAPHQL`` read is no query, or None when every operation it runs is
    one. Strict: a document holding any mutation or subscription is refused, whichever
    operation ``operationName`` selects; so is anything not understood."""
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
        payload = json.loads(text)
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


def _request_refusal(payload: Any) -> Refusal | None:
    if not isinstance(payload, dict):
        return "not a GraphQL request (a JSON object with 'query')"
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
