"""A session that expires: an admin area behind a sign-in, whose session the test rotates.
Before, ``{get: /admin/, expect: {status: 200}}`` stayed green on the sign-in form ("200 via
1 redirect to …/admin/login/") once the session in ``cookies:`` had expired."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from smokeseal.checks.base import CheckResult
from smokeseal.config import load_config
from smokeseal.runner import run_app
from smokeseal.servers import BackgroundServer
from tests.conftest import Recorder, _read_only_proof


@dataclass
class Backoffice:
    url: str
    #: The one session the app accepts now; changing it expires every other.
    session: str = "smoke-1"


def _app(state: Backoffice) -> Starlette:
    def signed_in(request: Request) -> bool:
        return state.session in (request.cookies.get("session"),
                                 request.headers.get("x-session"))

    async def admin(request: Request) -> Response:
        if not signed_in(request):
            return RedirectResponse(f"/admin/login/?next={request.url.path}", status_code=302)
        return HTMLResponse("<title>Orders</title><main>Signed in as smoke: 3 orders</main>")

    async def login(request: Request) -> Response:
        return HTMLResponse("<title>Log in</title><main><form><input name=user>"
                            "<button>Log in</button></form></main>")

    async def private(request: Request) -> Response:
        if not signed_in(request):
            return RedirectResponse("/auth/start", status_code=302)
        return HTMLResponse("<main>private</main>")

    async def start(request: Request) -> Response:
        return HTMLResponse("<main>Continue with your company account</main>")

    return Starlette(routes=[Route("/admin/", admin), Route("/admin/login/", login),
                             Route("/private", private), Route("/auth/start", start)])


@pytest.fixture(scope="module")
def _backoffice_server() -> Iterator[tuple[Backoffice, Recorder]]:
    state, log = Backoffice(""), Recorder()
    with BackgroundServer(log.wrap(_app(state))) as server:
        state.url = server.url
        yield state, log


@pytest.fixture
def backoffice(_backoffice_server: tuple[Backoffice, Recorder],
               request: pytest.FixtureRequest) -> Iterator[Backoffice]:
    state, log = _backoffice_server
    state.session = "smoke-1"
    log.clear()
    yield state
    _read_only_proof(request, list(log.seen), "the backoffice")


def _run(write: Callable[[str], Path], url: str, checks: str, app: str = "",
         use_browser: bool = False) -> dict[str, CheckResult]:
    path = write(f"apps:\n  backoffice:\n    url: {url}\n{app}    suite:\n{checks}")
    run = run_app(load_config(path), "backoffice", use_browser=use_browser)
    return {r.name: r for r in run.results}


ADMIN = "      - {name: admin, get: /admin/, expect: {status: 200}, retries: 0}\n"
EXPIRED = "redirected to the sign-in page /admin/login/: the session in {} is no longer valid"


@pytest.mark.component
def test_a_get_check_is_red_once_the_session_in_cookies_expires(
        backoffice: Backoffice, write_config: Callable[[str], Path]) -> None:
    cookies = "    cookies: {session: smoke-1}\n"
    fresh = _run(write_config, backoffice.url, ADMIN, cookies)["admin"]
    assert (fresh.ok, fresh.detail) == (True, "200")
    backoffice.session = "rotated"  # the smoke user's session expired
    expired = _run(write_config, backoffice.url, ADMIN, cookies)["admin"]
    assert (expired.ok, expired.detail) == (False, EXPIRED.format("cookies:"))
    assert expired.url == f"{backoffice.url}/admin/login/?next=/admin/"


@pytest.mark.component
def test_the_failure_names_the_key_that_holds_the_session(
        backoffice: Backoffice, write_config: Callable[[str], Path]) -> None:
    backoffice.session = "rotated"
    in_headers = _run(write_config, backoffice.url, ADMIN,
                      "    headers: {X-Session: smoke-1}\n")["admin"]
    assert in_headers.detail == EXPIRED.format("headers:")
    # A check's own cookies hold the session as well as the app's.
    own = _run(write_config, backoffice.url,
               "      - {name: admin, get: /admin/, cookies: {session: old}, retries: 0}\n")
    assert own["admin"].detail == EXPIRED.format("cookies:")
    # Nothing configured and no sign-in named: the sign-in page is what a visitor without
    # a session gets, and the check sees it (the built-in suite on an app behind a sign-in
    # stays what it was). Basic auth is the proxy's, not a session of the app's.
    none = _run(write_config, backoffice.url, ADMIN,
                "    basic_auth: {username: smoke, password: pw}\n")["admin"]
    assert none.ok, none.detail
    named = _run(write_config, backoffice.url, ADMIN,
                 "    signin_path: [/admin/login]\n")["admin"]
    assert named.detail == ("redirected to the sign-in page /admin/login/: this page needs a "
                            "session (cookies: or headers:)")


@pytest.mark.component
def test_what_is_meant_to_be_the_sign_in_is_not_a_session_that_expired(
        backoffice: Backoffice, write_config: Callable[[str], Path]) -> None:
    backoffice.session = "rotated"
    found = _run(write_config, backoffice.url,
                 "      - {name: form, get: /admin/login/, expect: {text: Log in}}\n"
                 "      - {name: bounce, get: /admin/, follow_redirects: false,\n"
                 "         expect: {status: 302, header: {Location: /admin/login/}}}\n"
                 "      - {name: either, get: /admin/, expect: {status: [200, 302]}}\n")
    assert [(name, r.ok) for name, r in found.items()] == [
        ("form", True), ("bounce", True), ("either", True)]


@pytest.mark.component
def test_an_apps_own_signin_path_replaces_the_usual_ones(
        backoffice: Backoffice, write_config: Callable[[str], Path]) -> None:
    backoffice.session = "rotated"
    check = "      - {name: private, get: /private, retries: 0}\n"
    # /auth/start names no sign-in: by default it is a page like any other.
    assert _run(write_config, backoffice.url, check)["private"].ok
    named = _run(write_config, backoffice.url, check, "    signin_path: [/auth/start]\n")
    assert named["private"].detail == ("redirected to the sign-in page /auth/start: this page "
                                       "needs a session (cookies: or headers:)")
    off = _run(write_config, backoffice.url, ADMIN, "    signin_path: []\n")
    assert off["admin"].ok


@pytest.mark.integration
def test_a_page_check_is_red_once_the_session_in_cookies_expires(
        backoffice: Backoffice, write_config: Callable[[str], Path],
        browser_executable: str) -> None:
    cookies = "    cookies: {session: smoke-1}\n"
    page = "      - {name: orders, page: /admin/, retries: 0, timeout: 10}\n"
    fresh = _run(write_config, backoffice.url, page, cookies, use_browser=True)["orders"]
    assert (fresh.ok, fresh.detail) == (True, "200")
    backoffice.session = "rotated"
    expired = _run(write_config, backoffice.url, page, cookies, use_browser=True)["orders"]
    assert (expired.ok, expired.detail) == (False, EXPIRED.format("cookies:"))


@pytest.mark.unit
@pytest.mark.parametrize(("path", "paths", "signin"), [
    ("/admin/login/", None, True), ("/accounts/login/", None, True),
    ("/users/sign_in", None, True), ("/auth/signin", None, True), ("/LogIn", None, True),
    ("/admin/", None, False), ("/logbook", None, False),
    ("/auth/start", ["/auth/start"], True), ("/auth/start/next", ["/auth/start/"], True),
    ("/auth/starting", ["/auth/start"], False), ("/login", ["/auth/start"], False),
    ("/login", [], False),
    # Words inside other words are no sign-in.
    ("/blog/designing-apis", None, False), ("/docs/code-signing", None, False),
    ("/tasks/assigning", None, False),
    # Identity providers' own sign-in paths.
    ("/common/oauth2/v2.0/authorize", None, True), ("/ServiceLogin", None, True),
    ("/realms/acme/protocol/openid-connect/auth", None, True),
    ("/v3/signin/identifier", None, True),
])
def test_which_paths_are_a_sign_in(path: str, paths: list[str] | None, signin: bool) -> None:
    from smokeseal.checks.signin import is_signin_path

    assert is_signin_path(path, paths) is signin
