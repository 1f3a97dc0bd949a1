"""``smokeseal init`` on hosts, certificates and sessions as operators have them: a name that
sends every path to another (the canonical host, which init writes as ``url``), an https app
whose certificate a private CA issued, and a home page behind a sign-in, on the app's host
or another."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from smokeseal.config import parse_config
from smokeseal.init import Survey, Trust, config_text, survey, trust_for
from smokeseal.servers import BackgroundServer
from tests import framework_standins as standins
from tests.conftest import Recorder, TwoNames, _read_only_proof
from tests.test_init import GENERIC_404S, Serve, home, parse_written, summary, written
from tests.test_init_browser import failed, init, seal

SESSION_LINE = '    # cookies: {session: "${SMOKE_SESSION}"}'


def canonical_note(apex: str, www: str) -> str:
    return (f"canonical host: {apex} redirects every path init asked to the same path on "
            f"{www}: wrote url: {www} and aliases: [{apex}]")


# --- the canonical host -------------------------------------------------------------------

@pytest.mark.component
def test_a_name_that_sends_every_path_to_another_is_written_as_its_alias(
        two_names: TwoNames) -> None:
    """Before: "/ redirects to http://127.0.0.1:…/: the app needs a sign-in", url: the
    apex, and a suite that failed every check."""
    apex, www = two_names.apex, two_names.www
    found = survey(apex)
    text = config_text(apex, "app", found)
    config = parse_written(text)
    app = config.apps["app"]
    assert (app.url, app.aliases) == (www, [apex])
    assert (found.url, found.aliases, found.sign_in) == (www, [apex], None)
    assert canonical_note(apex, www) in [n.text for n in found.notes]
    # What the canonical host serves, surveyed there: its health path, its heading, and
    # its catch-all (every path answers its page), so no 404 checks.
    assert app.gate.path == "/up"
    assert summary(config.suite_for("app")) == [("page", "/", 200), ("get", "/up", 200)]
    assert home(config).expect.text == "Tasks"
    said = " ".join(line.strip(" #") for line in text.splitlines())
    assert re.search(re.escape(f"{apex} redirects every path init asked (") + r"\d+ paths, / "
                     + re.escape(f"among them) to the same path on {www}: that is the "
                                 f"canonical host, and {apex} an alias."), said)
    assert text.startswith(f"# smokeseal.yml, written by `smokeseal init` for {www}.\n")


@pytest.mark.e2e
def test_init_on_the_redirecting_name_writes_a_suite_that_is_green(
        two_names: TwoNames, tmp_path: Path, browser_executable: str) -> None:
    apex, www = two_names.apex, two_names.www
    text, said = init(apex, tmp_path, browser_executable)
    assert f'    url: "{www}"\n' in text and f'    aliases: ["{apex}"]\n' in text
    assert canonical_note(apex, www) in said
    assert "sign-in" not in said
    record = seal(tmp_path, browser_executable)
    assert (record["status"], failed(record)) == ("green", [])


@pytest.mark.component
def test_a_home_page_alone_sent_to_another_host_is_not_taken_for_the_canonical_host(
        serve: Serve) -> None:
    other = serve(standins.healthz_only(b"<title>Shop</title><h1>Welcome</h1>"))
    app = serve(standins.home_moved(other.url))
    found, text, config = written(app.url)
    assert (found.url, found.aliases, found.sign_in) == (app.url, [], None)
    assert config.apps["app"].url == app.url and config.apps["app"].aliases == []
    assert other.recorder.seen == []  # named, never visited
    note = (f"/ redirects to {other.url}/, its own path on another host, but not every path "
            f"init asked does: if {other.url} serves this app, run `smokeseal init --force "
            f"{other.url}`")
    assert note in [n.text for n in found.notes]
    assert "the app needs a sign-in" not in text and "SMOKE_SESSION" not in text
    assert config.apps["app"].gate.path == "/up"


# --- a sign-in ----------------------------------------------------------------------------

@pytest.mark.component
def test_a_sign_in_page_on_the_apps_own_host_is_a_sign_in_not_the_app(serve: Serve) -> None:
    """Before: the home check expected "Log in", the sign-in form's heading: green on the
    sign-in page, whatever the app behind it did."""
    app = serve(standins.signin_on_host())
    found, text, config = written(app.url)
    assert found.sign_in == f"{app.url}/accounts/login/"  # the ?next= left out
    expect = home(config).expect
    assert (expect.text, expect.title, expect.redirect_to) == (None, None, None)
    assert "Log in" not in text
    assert SESSION_LINE in text
    assert summary(config.suite_for("app")) == [("page", "/", 200), ("get", "/up", 200),
                                                *GENERIC_404S]


@pytest.mark.component
def test_the_written_session_line_is_the_apps_cookies_once_uncommented(serve: Serve) -> None:
    app = serve(standins.signin_on_host())
    _, text, _ = written(app.url)
    config = parse_config(text.replace(SESSION_LINE, SESSION_LINE.replace("# ", "", 1)),
                          environ={"SMOKE_SESSION": "s3cr3t"})
    assert config.apps["app"].cookies == {"session": "s3cr3t"}


@pytest.mark.e2e
def test_init_says_how_to_give_the_suite_a_session_and_how_to_renew_it(
        serve: Serve, tmp_path: Path, browser_executable: str) -> None:
    sign_in = serve(standins.healthz_only(b"<title>Sign in</title>"))
    app = serve(standins.sso(sign_in.url))
    text, said = init(app.url, tmp_path, browser_executable)
    assert sign_in.recorder.seen == []
    assert (f"/ redirects to the sign-in page {sign_in.url}/login: the suite needs a session "
            "of its own, or every check that wants a page is red") in said
    assert ('give it one from the environment: cookies: {session: "${SMOKE_SESSION}"} in '
            "smokeseal.yml (or headers: for a token); when it expires, sign in again as the "
            "smoke user and put the new value in SMOKE_SESSION (docs/apps.md, \"Behind a "
            "sign-in\")") in said
    comment = " ".join(line.strip(" #") for line in text.splitlines()
                       if line.lstrip().startswith("#"))
    assert SESSION_LINE in text
    assert '# headers: {Authorization: "Bearer ${SMOKE_TOKEN}"}' in text
    assert ("When it expires, the checks that want a page fail with \"the session in "
            "cookies: is no longer valid\": sign in again as the smoke user, copy the "
            "cookie's new value into SMOKE_SESSION (the CI secret); this file does not "
            "change.") in comment


# --- a private CA -------------------------------------------------------------------------

@dataclass
class Private:
    url: str
    ca_file: Path
    log: Recorder


@pytest.fixture(scope="module")
def _private_server(tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[str, Path, Recorder]]:
    import trustme

    folder = tmp_path_factory.mktemp("init-private-ca")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    certfile, keyfile, ca_file = folder / "leaf.pem", folder / "leaf.key", folder / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(certfile))
    leaf.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(ca_file))
    app = Starlette(routes=[
        Route("/", lambda request: HTMLResponse("<title>Vault</title><h1>Vault</h1>")),
        Route("/up", lambda request: PlainTextResponse("ok")),
        Route("/{path:path}", lambda request: PlainTextResponse("Not Found", 404))])
    log = Recorder()
    with BackgroundServer(log.wrap(app), certfile=str(certfile), keyfile=str(keyfile)) as server:
        yield server.url, ca_file, log


@pytest.fixture
def private(_private_server: tuple[str, Path, Recorder], request: pytest.FixtureRequest,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Private]:
    """An https app on 127.0.0.1 whose certificate a private CA issued, and that CA's file;
    ``SSL_CERT_FILE`` unset unless the test sets it."""
    url, ca_file, log = _private_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    log.clear()
    yield Private(url, ca_file, log)
    _read_only_proof(request, list(log.seen), "the private-CA app")


def _healthy(text: str, said: str) -> None:
    config = parse_written(text)
    assert "could not be reached" not in text, said
    assert config.apps["app"].gate.path == "/up"
    assert home(config).expect.text == "Vault"
    assert "health: /up answers 200" in said


@pytest.mark.e2e
def test_init_trusts_the_ca_file_of_the_config_it_replaces_and_keeps_it(
        private: Private, tmp_path: Path, browser_executable: str) -> None:
    """Before: "could not be reached (certificate not trusted…)", the generic suite, and the
    config's ca_file gone."""
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_bytes(private.ca_file.read_bytes())
    (tmp_path / "smokeseal.yml").write_text(
        f"ca_file: certs/ca.pem\napps:\n  app:\n    url: {private.url}\n", encoding="utf-8")
    text, said = init(private.url, tmp_path, browser_executable, "--force")
    _healthy(text, said)
    assert yaml.safe_load(text)["ca_file"] == "certs/ca.pem"
    assert "trusted the CA certificates in certs/ca.pem (ca_file of the config replaced)" in said
    assert "could not verify" not in said  # the browser trusted it too
    assert (seal(tmp_path, browser_executable)["status"], ) == ("green", )


@pytest.mark.e2e
def test_init_trusts_ssl_cert_file_in_the_browser_too(
        private: Private, tmp_path: Path, browser_executable: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the HTTP look trusted $SSL_CERT_FILE (httpx reads it) but the browser did
    not, so the home check was "could not verify … certificate not trusted"."""
    monkeypatch.setenv("SSL_CERT_FILE", str(private.ca_file))
    text, said = init(private.url, tmp_path, browser_executable)
    _healthy(text, said)
    assert "could not verify" not in said
    assert "/ loads no data by script" in said
    assert f"trusted the CA certificates in {private.ca_file} ($SSL_CERT_FILE)" in said
    # The comment wraps at the config's width, wherever a long path falls.
    comments = " ".join(line.strip().removeprefix("#").strip() for line in text.splitlines()
                        if line.strip().startswith("#"))
    assert "".join(f"init trusted $SSL_CERT_FILE ({private.ca_file})".split()) in \
        "".join(comments.split())  # a long path may be cut at the wrap, spaces aside


@pytest.mark.component
def test_without_the_ca_init_says_the_certificate_is_not_trusted(private: Private) -> None:
    found = survey(private.url)
    assert found.down is not None and "certificate not trusted" in found.down
    assert survey(private.url, trust=Trust(str(private.ca_file))).down is None


@pytest.mark.unit
def test_the_replaced_configs_ca_file_is_kept_as_written(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not read here", encoding="utf-8")
    config = tmp_path / "smokeseal.yml"
    # A ${VAR} that is not set elsewhere in the file does not keep ca_file from being read.
    config.write_text("ca_file: ${CERTS:-.}/ca.pem\napps:\n  app:\n    url: https://x.test\n"
                      "    cookies: {session: '${SMOKE_SESSION}'}\n", encoding="utf-8")
    trust, problem = trust_for(config, {})
    assert (trust, problem) == (Trust(str(tmp_path / "ca.pem"), "ca_file of the config "
                                      "replaced", "${CERTS:-.}/ca.pem", True), None)
    assert trust is not None
    found = Survey("https://x.test", down="connection refused", trust=trust)
    written_text = config_text("https://x.test", "app", found)
    assert "\nca_file: \"${CERTS:-.}/ca.pem\"\n" in written_text
    assert parse_config(written_text, environ={}).ca_file == "./ca.pem"


@pytest.mark.unit
def test_a_ca_file_that_is_not_there_is_said_and_ssl_cert_file_trusted_instead(
        tmp_path: Path) -> None:
    config = tmp_path / "smokeseal.yml"
    config.write_text("ca_file: certs/gone.pem\napps: {}\n", encoding="utf-8")
    trust, problem = trust_for(config, {"SSL_CERT_FILE": "/etc/ssl/ours.pem"})
    assert trust == Trust("/etc/ssl/ours.pem")
    assert problem == (f"the replaced config's ca_file certs/gone.pem: no such file "
                       f"({tmp_path / 'certs' / 'gone.pem'}); not trusted, and not kept")
    assert trust_for(None, {}) == (None, None)
