"""Production stand-ins for ``smokeseal init``: what real apps answer on the paths it probes.

Captured from the real apps (streamlit 1.67.0, dash 4.4.1, gradio 6.31.0, strawberry-graphql
0.341.2 under uvicorn) and cut down: the status, the Content-Type and the bytes init reads
(markers, titles, JSON keys) are theirs; the rest of each page (hundreds of asset links) is
left out. Each function returns a Starlette app.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

__all__ = ["HEALTH_ANSWERS", "dash", "directory_listing", "forbidden_dotfiles", "gradio",
           "graphql", "health_at", "healthz_only", "home_moved", "signin_on_host", "spa", "sso",
           "streamlit"]

HTML = "text/html; charset=utf-8"
# Streamlit's index: the same bytes for every path that is not one of its own (a catch-all).
STREAMLIT_INDEX = b"""<!--
 Copyright (c) Streamlit Inc. (2018-2022) Snowflake Inc. (2022-2026)

 Licensed under the Apache License, Version 2.0 (the "License");
-->

<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <link rel="shortcut icon" href="./favicon.png" />
    <title>Streamlit</title>
    <script type="module" crossorigin src="./static/js/index.DormvYxC.js"></script>
  </head>
  <body>
    <noscript>
      <p>You need to enable JavaScript to run this app.</p>
    </noscript>
    <div id="root"></div>
  </body>
</html>
"""
DASH_INDEX = b"""<!DOCTYPE html>
<html>
    <head>
        <meta http-equiv="X-UA-Compatible" content="IE=edge">
      <meta charset="UTF-8">
        <title>Ops metrics</title>
        <link rel="icon" type="image/x-icon" href="/_favicon.ico?v=4.4.1">
    </head>
    <body>
<div id="react-entry-point">
    <div class="_dash-loading">
        Loading...
    </div>
</div>
        <footer>
            <script id="_dash-config" type="application/json">{"url_base_pathname":null,\
"requests_pathname_prefix":"\\u002f","ui":false}</script>
<script src="/_dash-component-suites/dash/dash-renderer/build/\
dash_renderer.v4_4_1m1795630072.min.js"></script>
            <script id="_dash-renderer" type="application/javascript">\
var renderer = new DashRenderer();</script>
        </footer>
    </body>
</html>"""
DASH_LAYOUT = (b'{"props":{"children":[{"props":{"children":"Ops metrics"},"type":"H1",'
               b'"namespace":"dash_html_components"},{"props":{"value":"x","id":"i"},'
               b'"type":"Input","namespace":"dash_core_components"},{"props":{"children":null,'
               b'"id":"o"},"type":"Div","namespace":"dash_html_components"}]},"type":"Div",'
               b'"namespace":"dash_html_components"}')


def _gradio_config(title: str) -> dict[str, Any]:
    return {"version": "6.31.0", "api_prefix": "/gradio_api", "mode": "blocks",
            "title": title, "enable_queue": True,
            "components": [{"id": 1, "type": "markdown", "props": {"value": "# Greeter"}},
                           {"id": 2, "type": "textbox", "props": {"label": "Name"}},
                           {"id": 4, "type": "button", "props": {"value": "Greet"}}]}


def _gradio_index(config: dict[str, Any]) -> bytes:
    return (b'<!doctype html>\n<html\n\tlang="en"\n>\n\t<head>\n\t\t<meta charset="utf-8" />\n'
            b'\t\t<meta property="og:title" content="Gradio" />\n'
            b"\t\t<script>window.gradio_config = " + json.dumps(config).encode() +
            b";</script>\n\t\t<script data-gradio-mode>\n\t\t\twindow.__gradio_mode__ = "
            b'"app";\n\t\t</script>\n\t</head>\n\t<body>\n\t\t<gradio-app\n\t\t\t'
            b'control_page_title="true"\n\t\t\tembed="false"\n\t\t>\n\t\t</gradio-app>\n'
            b"\t</body>\n</html>\n")


GRADIO_NOT_FOUND = b'{"detail":"Not Found"}'
GRAPHQL_TYPENAME = b'{"data":{"__typename":"Query"}}'
GRAPHIQL = (b"<!doctype html>\n<html>\n  <head>\n    <title>Strawberry GraphiQL</title>\n"
            b'  </head>\n  <body>\n    <div id="graphiql" class="graphiql-container">'
            b"Loading...</div>\n  </body>\n</html>\n")


def _app(routes: list[Route]) -> Starlette:
    return Starlette(routes=routes)


def _bytes(body: bytes, media_type: str = HTML, status: int = 200) -> Any:
    async def answer(request: Request) -> Response:
        return Response(body, status, media_type=media_type)

    return answer


def streamlit() -> Starlette:
    """Streamlit: ``ok`` on ``/_stcore/health``, its index on every other path."""
    return _app([Route("/_stcore/health", _bytes(b"ok", "text/plain; charset=utf-8")),
                 Route("/{path:path}", _bytes(STREAMLIT_INDEX))])


def dash() -> Starlette:
    """Dash: its layout as JSON, its index (``_dash-config``, ``_dash-renderer``) everywhere
    else, ``/up`` and ``/health`` included."""
    return _app([Route("/_dash-layout", _bytes(DASH_LAYOUT, "application/json")),
                 Route("/{path:path}", _bytes(DASH_INDEX))])


def gradio(title: str = "Greeter") -> Starlette:
    """Gradio (FastAPI): its index, ``/config``, and FastAPI's JSON 404 for the rest."""
    config = _gradio_config(title)
    return _app([Route("/", _bytes(_gradio_index(config))),
                 Route("/config", _bytes(json.dumps(config).encode(), "application/json")),
                 Route("/{path:path}", _bytes(GRADIO_NOT_FOUND, "application/json", 404))])


def graphql() -> Starlette:
    """A bookshop whose API is Strawberry on ``/graphql``: a GET query is answered with
    ``data``, a GET without one with GraphiQL; ``/healthz`` answers ``ok``."""
    async def endpoint(request: Request) -> Response:
        if "query" in request.query_params:
            return Response(GRAPHQL_TYPENAME, media_type="application/json")
        return Response(GRAPHIQL, media_type=HTML)

    return _app([Route("/", _bytes(b"<!doctype html><title>Bookshop</title>"
                                   b"<main><h1>Books &amp; more</h1></main>")),
                 Route("/graphql", endpoint),
                 Route("/healthz", _bytes(b"ok", "text/plain")),
                 Route("/{path:path}", _bytes(b"not found", "text/plain", 404))])


def spa() -> Starlette:
    """A single-page app: its shell on every path, and a JSON health answer on /api/health."""
    shell = (b'<!doctype html><html><head><title>Acme Console</title></head><body>'
             b'<div id="root"></div><script src="/assets/app.js"></script></body></html>')
    return _app([Route("/api/health", _bytes(b'{"status":"ok"}', "application/json")),
                 Route("/{path:path}", _bytes(shell))])


def healthz_only(home: bytes) -> Starlette:
    """A server-rendered app with only ``/healthz``; its home page is ``home``."""
    return _app([Route("/", _bytes(home)), Route("/healthz", _bytes(b"ok", "text/plain")),
                 Route("/{path:path}", _bytes(b"Not Found", "text/plain", 404))])


def forbidden_dotfiles() -> Starlette:
    """Behind a server that denies dotfiles with 403, as nginx's ``location ~ /\\.``."""
    return _app([Route("/", _bytes(b"<title>Ledger</title><h1>Your ledger</h1>")),
                 Route("/up", _bytes(b"<body style='background: green'></body>")),
                 Route("/.env", _bytes(b"Forbidden", "text/plain", 403)),
                 Route("/.git/config", _bytes(b"Forbidden", "text/plain", 403)),
                 Route("/{path:path}", _bytes(b"Not Found", "text/plain", 404))])


def directory_listing() -> Starlette:
    """A web server that lists its files at / (the app was never deployed)."""
    listing = (b"<!DOCTYPE HTML><html><head><title>Directory listing for /</title></head>"
               b"<body><h1>Directory listing for /</h1><ul><li><a href='app.py'>app.py</a>"
               b"</li></ul></body></html>")
    return _app([Route("/", _bytes(listing)),
                 Route("/{path:path}", _bytes(b"Not Found", "text/plain", 404))])


def sso(sign_in: str) -> Starlette:
    """Every page but ``/up`` sends visitors to ``sign_in`` (another host) to sign in."""
    async def to_sign_in(request: Request) -> Response:
        return RedirectResponse(f"{sign_in}/login?return_to={request.url}", 302)

    return _app([Route("/up", _bytes(b"ok", "text/plain")),
                 Route("/{path:path}", to_sign_in)])


def home_moved(to: str) -> Starlette:
    """A host that sends its home page alone to ``to``'s (another host) and answers every
    other path itself: ``/up`` ``ok``, the rest 404."""
    return _app([Route("/", lambda request: RedirectResponse(f"{to}/", 301)),
                 Route("/up", _bytes(b"ok", "text/plain")),
                 Route("/{path:path}", _bytes(b"Not Found", "text/plain", 404))])


#: Django's sign-in page, cut down: what a visitor without a session is sent to.
DJANGO_LOGIN = (b"<!DOCTYPE html><html><head><title>Log in | Ledger</title></head><body>"
                b"<h1>Log in</h1><form method=post><input name=username>"
                b"<input name=password type=password><input type=submit value='Log in'>"
                b"</form></body></html>")


def signin_on_host() -> Starlette:
    """As Django's ``login_required`` does: ``/`` sends a visitor without a session to
    ``/accounts/login/?next=/`` on the same host, whose form answers 200; ``/up`` answers
    ``ok``, the rest 404."""
    return _app([Route("/", lambda request: RedirectResponse("/accounts/login/?next=/", 302)),
                 Route("/accounts/login/", _bytes(DJANGO_LOGIN)),
                 Route("/up", _bytes(b"ok", "text/plain")),
                 Route("/{path:path}", _bytes(b"Not Found", "text/plain", 404))])


#: What each framework's own health path answers when the app is up, as its documentation
#: shows it (the sources are in docs/init.md): the path, the body, the Content-Type.
HEALTH_ANSWERS = {
    "Spring Boot Actuator": ("/actuator/health", b'{"status":"UP"}',
                             "application/vnd.spring-boot.actuator.v3+json"),
    "Quarkus (SmallRye Health)": ("/q/health", b'{\n    "status": "UP",\n    "checks": [\n'
                                               b'    ]\n}', "application/json;charset=UTF-8"),
    "django-health-check": ("/ht/", b"<!DOCTYPE html><html><head><title>System status</title>"
                                    b"</head><body><table><tr><td>DatabaseBackend</td>"
                                    b"<td>working</td></tr></table></body></html>", HTML),
    "Panel (panel serve --liveness)": ("/liveness", b'{"/liveness": true}',
                                       "application/json; charset=UTF-8"),
}


def health_at(path: str, body: bytes, media_type: str) -> Starlette:
    """A server-rendered app whose one health path is ``path``, answering ``body``; every
    other path but ``/`` answers 404."""
    return _app([Route("/", _bytes(b"<title>Fleet</title><h1>Fleet overview</h1>")),
                 Route(path, _bytes(body, media_type)),
                 Route("/{path:path}", _bytes(b"Not Found", "text/plain", 404))])
