from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from smokeseal.config import HEALTH_SUITE, find_config_path, load_config, parse_config
from smokeseal.errors import ConfigError, UsageError

pytestmark = pytest.mark.unit

DESIGN = """\
database_url: sqlite:///smokeseal.db
apps:
  studio:
    url: https://app.example.com/
    aliases: [https://example.com]
    release_branch: main
    deploy: "kamal deploy"
    gate: {path: /up, timeout: 120, interval: 2}
    suite: qa-readonly
    notify:
      discord:
        webhook_url: ${DISCORD_WEBHOOK_URL}
        thread_id: "1234567890"
        operator: "<@111>"
      github_release: {repo: owner/name, token: ${GITHUB_TOKEN}}
suites:
  qa-readonly:
    - {name: home renders,   page: /,       expect: {status: 200, selector: main}}
    - {name: signin renders, page: /signin, expect: {selector: "form"}}
    - {name: tasks render,   page: /tasks,  expect: {selector: "[data-test=tasks]"}}
    - {name: up,             get: /up,      expect: {status: 200}}
    - {name: devops hidden,  get: /devops,  expect: {status: 404}}
    - {name: cycle hidden,   get: /devops/cycle, expect: {status: 404}}
    - name: existing spec
      command: npx playwright test --grep @qa-readonly --reporter=junit
      env: {BASE_URL: "{url}"}
      junit: results.xml
"""
SECRETS = {"DISCORD_WEBHOOK_URL": "https://discord.test/api/webhooks/1/s3cr3t",
           "GITHUB_TOKEN": "ghp_tok3n"}


def error_for(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="smokeseal.yml", environ=environ or {})
    return str(caught.value)


def test_the_design_example_parses_into_the_suite_it_describes() -> None:
    config = parse_config(DESIGN, environ=SECRETS)
    app = config.app("studio")
    assert app.url == "https://app.example.com"  # trailing slash dropped: one canonical form
    suite = config.suite_for("studio")
    assert [c.kind for c in suite] == ["page"] * 3 + ["get"] * 3 + ["command"]
    assert suite[4].expect.statuses() == (404,)
    assert suite[6].env == {"BASE_URL": "{url}"}
    assert app.notify.discord is not None
    assert app.notify.discord.webhook_url.get_secret_value() == SECRETS["DISCORD_WEBHOOK_URL"]
    # ``{token: ${GITHUB_TOKEN}}`` is not plain YAML, but it is what the design shows.
    assert app.notify.github_release is not None
    assert app.notify.github_release.token.get_secret_value() == "ghp_tok3n"


def test_substituted_values_are_text_never_yaml() -> None:
    text = "apps:\n  a:\n    url: https://a.example.com\n    release_branch: ${BRANCH}\n"
    config = parse_config(text, environ={"BRANCH": "x: {y: [1]}\n# z"})
    assert config.app("a").release_branch == "x: {y: [1]}\n# z"


def test_secrets_never_show_in_the_config_repr() -> None:
    config = parse_config(DESIGN, environ=SECRETS)
    shown = repr(config) + str(config.model_dump())
    assert "s3cr3t" not in shown and "ghp_tok3n" not in shown


def test_a_missing_variable_names_the_key_and_line() -> None:
    message = error_for(DESIGN, {"GITHUB_TOKEN": "x"})
    assert message == ("smokeseal.yml:12: apps.studio.notify.discord.webhook_url: "
                       "environment variable DISCORD_WEBHOOK_URL is not set")


def test_variables_take_defaults_and_dollars_escape() -> None:
    text = ("apps:\n  a:\n    url: ${BASE:-https://a.example.com}\n"
            "    suite: [{name: price, get: '/p?c=$$5', expect: {text: '${MISSING:-}'}}]\n")
    config = parse_config(text, environ={})
    check = config.suite_for("a")[0]
    assert config.app("a").url == "https://a.example.com"
    assert check.get == "/p?c=$5"
    assert check.expect.text == ""


def test_an_unknown_key_is_named_with_a_suggestion() -> None:
    text = "apps:\n  a:\n    url: https://a.example.com\n    suite:\n" \
           "      - {page: /, expect: {selecter: main}}\n"
    assert error_for(text) == ("smokeseal.yml:5: apps.a.suite[0].expect.selecter: "
                               "unknown key (did you mean 'selector'?)")


def test_a_wrong_type_names_the_key() -> None:
    text = "apps:\n  a:\n    url: https://a.example.com\n    suite:\n" \
           "      - {get: /up, expect: {status: ok}}\n"
    message = error_for(text)
    assert message.startswith("smokeseal.yml:5: apps.a.suite[0].expect.status: ")


def test_numbers_given_as_strings_are_refused() -> None:
    text = "apps:\n  a:\n    url: https://a.example.com\n    gate: {timeout: '120'}\n"
    assert error_for(text).startswith("smokeseal.yml:4: apps.a.gate.timeout: ")


def test_a_status_outside_http_is_refused() -> None:
    text = ("apps:\n  a:\n    url: https://a.example.com\n"
            "    suite: [{get: /, expect: {status: 99}}]\n")
    assert "99 is not an HTTP status code" in error_for(text)


@pytest.mark.parametrize("url", ["ftp://a.example.com", "a.example.com", "https://", "https://a.example.com/?q=1",
                                 "http://a.example.com:99999"])
def test_a_bad_url_is_named(url: str) -> None:
    message = error_for(f"apps:\n  a:\n    url: '{url}'\n")
    assert message.startswith("smokeseal.yml:3: apps.a.url: ")


USERINFO = ("must not hold a user name or password: use basic_auth: "
            "{username: ..., password: ${VAR}} instead")


@pytest.mark.parametrize(("yaml", "key", "says"), [
    ("url: 'https://robot:${PW}@app.example.com'", "apps.a.url", USERINFO),
    ("url: 'https://${PW}@app.example.com'", "apps.a.url", USERINFO),
    ("url: 'https://robot:${PW}@'", "apps.a.url", USERINFO),
    ("url: https://a.example.com\n    aliases: ['https://robot:${PW}@b.example.com']",
     "apps.a.aliases", USERINFO),
    ("url: https://a.example.com\n    notify: {github_release: {repo: o/r, token: t0ken,"
     " api_url: 'https://x:${PW}@ghe.example.com/api/v3'}}", "apps.a.notify.github_release.api_url",
     "must not hold a user name or password: the token goes in token: ${VAR}"),
    # urlsplit's own error would quote the bracketed part: the value of ${PW}.
    ("url: 'http://u:[${PW}]@x'", "apps.a.url", "is not a valid URL: its host cannot be read"),
    ("url: 'https://app.example.com/?token=${PW}'", "apps.a.url",
     "'https://app.example.com/' must not have a query or fragment"),
])
def test_a_url_with_a_password_is_refused_without_showing_it(yaml: str, key: str,
                                                              says: str) -> None:
    for password in ("hunter2-0042", "1,2"):
        with pytest.raises(ConfigError) as caught:
            parse_config(f"apps:\n  a:\n    {yaml}\n", environ={"PW": password})
        message = str(caught.value)
        assert message.endswith(f"{key}: {says}"), message
        assert password not in message and len(message.splitlines()) == 1


def test_an_unknown_suite_is_named_with_the_known_ones() -> None:
    text = ("apps:\n  a:\n    url: https://a.example.com\n    suite: qa\n"
            "suites:\n  smoke: [{get: /up}]\n")
    assert error_for(text) == ("smokeseal.yml:4: apps.a.suite: "
                               "unknown suite 'qa' (known: health, smoke)")


def test_malformed_yaml_gives_the_line() -> None:
    message = error_for("apps:\n  a:\n    url: [unclosed\n  b: x\n")
    assert message.startswith("smokeseal.yml:4: invalid YAML")


def test_an_empty_file_is_an_error() -> None:
    assert "must be a mapping" in error_for("")


def test_a_missing_required_key_is_named() -> None:
    assert error_for("apps:\n  a:\n    aliases: []\n") == \
        "smokeseal.yml:2: apps.a.url: required key is missing"


def test_an_app_without_a_suite_gets_the_health_suite() -> None:
    config = parse_config("apps:\n  a: {url: 'https://a.example.com'}\n")
    assert config.suite_for("a") == HEALTH_SUITE
    assert [(c.kind, c.target) for c in HEALTH_SUITE] == [("page", "/"), ("get", "/up")]


@pytest.mark.parametrize(("check", "complaint"), [
    ("{get: /up, page: /}", "exactly one of 'get', 'page' or 'command', not get and page"),
    ("{name: x}", "exactly one of 'get', 'page' or 'command'"),
    ("{get: /up, expect: {selector: main}}", "expect.selector does not apply to a get check"),
    ("{command: 'true', expect: {status: 200}}", "expect.status does not apply to a command"),
    ("{page: /, junit: r.xml}", "'junit' applies only to command checks"),
    ("{page: /, method: HEAD}", "'method' applies only to get checks"),
    ("{get: 'https://evil.example.com/'}", "must be a path on the app's url"),
    ("{get: /up, method: POST}", "Input should be 'GET' or 'HEAD'"),
])
def test_checks_that_cannot_work_are_refused(check: str, complaint: str) -> None:
    text = f"apps:\n  a:\n    url: https://a.example.com\n    suite: [{check}]\n"
    message = error_for(text)
    assert message.startswith("smokeseal.yml:4: apps.a.suite[0]")
    assert complaint in message


def test_duplicate_check_names_are_refused() -> None:
    text = "apps:\n  a:\n    url: https://a.example.com\nsuites:\n  s:\n" \
           "    - {name: up, get: /up}\n    - {name: up, get: /health}\n"
    assert error_for(text) == "smokeseal.yml:7: suites.s[1]: duplicate check name 'up'"


def test_an_operator_must_be_a_mention() -> None:
    text = "apps:\n  a:\n    url: https://a.example.com\n    notify:\n      discord:\n" \
           "        webhook_url: https://d.test/x\n        operator: '@everyone'\n"
    assert "apps.a.notify.discord.operator: must be a user mention" in error_for(text)


def test_an_unknown_app_lists_the_known_ones() -> None:
    config = parse_config("apps:\n  b: {url: 'https://b.example.com'}\n"
                          "  a: {url: 'https://a.example.com'}\n")
    with pytest.raises(UsageError, match=r"unknown app 'c' \(apps in config: a, b\)"):
        config.app("c")


def test_load_config_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yml: no such file"):
        load_config(tmp_path / "nope.yml")


def test_relative_paths_resolve_beside_the_config(write_config: Callable[[str], Path]) -> None:
    path = write_config("apps:\n  a: {url: 'https://a.example.com'}\n")
    assert load_config(path).base_dir == path.parent.resolve()


def test_config_path_prefers_the_flag_then_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMOKESEAL_CONFIG", raising=False)
    assert find_config_path() == tmp_path / "smokeseal.yml"
    monkeypatch.setenv("SMOKESEAL_CONFIG", "/etc/smokeseal.yml")
    assert find_config_path() == Path("/etc/smokeseal.yml")
    assert find_config_path("mine.yml") == Path("mine.yml")


@pytest.mark.unit
def test_a_key_with_a_line_break_is_named_on_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('apps: {"\\n": null}', environ={})
    assert str(caught.value) == ("smokeseal.yml:1: apps.'\\n': Input should be a valid "
                                 "dictionary or instance of App")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "message"), [
    ("apps: {a: {url: 'https://x.com', version: {json: sha},"
     " suite: [{name: version, get: /v}]}}",
     "apps.a.suite[0].name: 'version' is the name of the built-in check"),
    ("apps: {a: {url: 'https://x.com',"
     " suite: [{page: /, expect: {redirect_to: 'sso.x.com:8443'}}]}}",
     "apps.a.suite[0].expect.redirect_to: 'sso.x.com:8443': give a bare host"),
    ("apps: {a: {url: 'https://x.com', suite: [{get: /, expect: {error_shell: true}}]}}",
     "apps.a.suite[0]: expect.error_shell does not apply to a get check"),
])
def test_checks_that_could_never_be_judged_right_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(text, environ={})


def test_the_health_suite_looks_for_an_error_shell_and_retries() -> None:
    home, up = HEALTH_SUITE
    assert (home.page, home.expect.status, home.expect.error_shell) == ("/", 200, True)
    assert (home.attempts, up.attempts) == (2, 2)


def test_reads_are_parsed_for_the_app_and_a_page_check() -> None:
    config = parse_config(
        "apps: {a: {url: 'https://x.com', reads: ['post /_dash-update-component',"
        " 'GRAPHQL /graphql', 'WEBSOCKET /_stcore/*'],"
        " suite: [{page: /, reads: ['PATCH /api/search']}]}}", environ={})
    from smokeseal.checks.reads import Read

    app = config.app("a")
    assert app.reads == ["post /_dash-update-component", "GRAPHQL /graphql",
                         "WEBSOCKET /_stcore/*"]
    assert app.parsed_reads == (Read("POST", "/_dash-update-component"),
                                Read("GRAPHQL", "/graphql"),
                                Read("WEBSOCKET", "/_stcore/", prefix=True))
    [page] = config.suite_for("a")
    assert page.parsed_reads == (Read("PATCH", "/api/search"),)


def test_the_runner_carries_the_apps_reads_to_its_page_checks() -> None:
    from smokeseal.checks.reads import Read
    from smokeseal.runner import target_for

    config = parse_config("apps: {a: {url: 'https://x.com', reads: ['GRAPHQL /graphql']}}",
                          environ={})
    assert target_for(config, "a").reads == (Read("GRAPHQL", "/graphql"),)
    assert target_for(config, "a", url="http://127.0.0.1:9").reads == (
        Read("GRAPHQL", "/graphql"),)


@pytest.mark.parametrize(("reads", "message"), [
    ("['GET /api']", "apps.a.reads[0]: 'GET /api': GET always passes"),
    ("['POST /a', 'head /b']", "apps.a.reads[1]: 'head /b': HEAD always passes"),
    ("['POST api']", "apps.a.reads[0]: 'POST api': the path must start with '/'"),
    ("['POST /a/*/b']", "apps.a.reads[0]: 'POST /a/*/b': '*' may only end the path"),
    ("['POST']", "apps.a.reads[0]: 'POST': write a read as 'METHOD /path'"),
    ("['POST /a /b']", "apps.a.reads[0]: 'POST /a /b': write a read as"),
    ("['PO(ST /a']", "apps.a.reads[0]: 'PO(ST /a': 'PO(ST' is not an HTTP method"),
    ("['POST /a?x=1']", "apps.a.reads[0]: 'POST /a?x=1': a read is matched on the path"),
    ("'POST /a'", "apps.a.reads: Input should be a valid list"),
])
def test_a_bad_read_is_named(reads: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(f"apps: {{a: {{url: 'https://x.com', reads: {reads}}}}}", environ={})


@pytest.mark.parametrize("kind", ["get: /up", "command: 'true'"])
def test_reads_on_a_check_that_is_not_a_page_are_refused(kind: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("apps.a.suite[0]: 'reads' applies only "
                                                    "to page checks")):
        parse_config(f"apps: {{a: {{url: 'https://x.com', suite: [{{{kind}, "
                     "reads: ['POST /x']}]}}", environ={})


def test_a_bad_read_on_a_page_check_is_named() -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "apps.a.suite[0].reads[0]: 'GET /x': GET always passes")):
        parse_config("apps: {a: {url: 'https://x.com', suite: [{page: /, reads: ['GET /x']}]}}",
                     environ={})


ACCESS = """\
apps:
  a:
    url: https://app.example.com
    release_branch: ${BRANCH}
    headers: {X-Api-Key: "${KEY}"}
    cookies: {session: "${SESSION}"}
    basic_auth: {username: robot, password: "${PASSWORD}"}
    suite:
      - {name: home, page: "/?token=${TOKEN}", headers: {X-Extra: "${EXTRA}"}}
      - {name: short, get: "/up?debug=${ON}"}
"""
ACCESS_ENV = {"BRANCH": "release", "KEY": "k3y-value", "SESSION": "s3ssion", "PASSWORD": "pw0rd",
              "TOKEN": "t0ken", "EXTRA": "extra-value", "ON": "1"}


def test_headers_cookies_and_basic_auth_are_read_and_their_values_are_secrets() -> None:
    config = parse_config(ACCESS, environ=ACCESS_ENV)
    app = config.app("a")
    assert app.headers == {"X-Api-Key": "k3y-value"}
    assert app.cookies == {"session": "s3ssion"}
    assert app.basic_auth is not None and app.basic_auth.password.get_secret_value() == "pw0rd"
    assert config.suite_for("a")[0].headers == {"X-Extra": "extra-value"}
    from smokeseal.secrets import secrets_of

    found = secrets_of(config, environ={})
    assert {"k3y-value", "s3ssion", "pw0rd", "t0ken", "extra-value"} <= set(found)
    # Shorter than 4 characters would scrub every "1"; the branch is in every rollback line.
    assert "1" not in found and "release" not in found


def test_scrub_takes_out_a_secret_cut_short_encoded_or_as_basic_auth() -> None:
    from base64 import b64encode

    from smokeseal.checks.base import shorten
    from smokeseal.secrets import scrub, secrets_of

    token = "T0k/en+with space&ü"
    config = parse_config(ACCESS, environ={**ACCESS_ENV, "TOKEN": token,
                                           "PASSWORD": "pa55-w0rd"})
    secrets = secrets_of(config, environ={})
    url = f"https://app.example.com/start?next=1&token={token}&tail=xxxxxxxxxxxxxxxxx"
    # Cut inside the token (and in its percent-encoded form): what is left of it goes.
    for cut in range(len("https://app.example.com/start?next=1&token=") + 4,
                     len(url) - len("&tail=xxxxxxxxxxxxxxxxx")):
        assert scrub(shorten(url, cut + 1), secrets) == (
            "https://app.example.com/start?next=1&token=***…"), cut
    from urllib.parse import quote, quote_plus

    for encoded in (quote(token, safe=""), quote(token), quote_plus(token)):
        assert encoded != token
        assert scrub(f"GET /x?t={encoded} 302", secrets) == "GET /x?t=*** 302"
        cut = f"GET /x?t={encoded}"[:-3]
        assert scrub(shorten(cut + "and on", len(cut) + 1), secrets) == "GET /x?t=***…"
    # shorten makes whitespace one space: a secret with two spaces in a row is still found.
    assert scrub(shorten("key a  b  c!"), ["a  b  c!"]) == "key ***"
    # Basic auth: the password, and the header's base64 a page may echo.
    pair = b64encode(b"robot:pa55-w0rd").decode()
    assert scrub(f"Authorization: Basic {pair}", secrets) == "Authorization: Basic ***"
    assert scrub(shorten(f"Basic {pair}", 16), secrets) == "Basic ***…"
    # An ellipsis is no secret, nor are fewer than 4 characters of one before it.
    assert scrub("Loading… T0k… k3y-…", secrets) == "Loading… T0k… ***…"


@pytest.mark.parametrize(("yaml", "key", "says"), [
    ('headers: {X-Api-Key: "${KEY}"}', "apps.a.headers", "'X-Api-Key': the value contains a "
     "line break"),
    ('headers: {"X Api": "${KEY}"}', "apps.a.headers", "'X Api' is not a valid header name"),
    ('headers: {Cookie: "${KEY}"}', "apps.a.headers", "cannot be set (use cookies:)"),
    ('cookies: {session: "${KEY}"}', "apps.a.cookies", "'session': the value contains a line"),
    ('basic_auth: {username: robot, password: "${KEY}"}', "apps.a.basic_auth.password",
     "the value contains a line break"),
])
def test_a_bad_header_or_a_pasted_newline_names_the_key_never_the_value(
        yaml: str, key: str, says: str) -> None:
    text = f"apps:\n  a:\n    url: https://app.example.com\n    {yaml}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, environ={"KEY": "s3cret-value\n"})
    message = str(caught.value)
    assert key in message and says in message
    assert "s3cret-value" not in message


def test_a_command_check_takes_no_headers() -> None:
    text = ("apps:\n  a:\n    url: https://app.example.com\n    suite:\n"
            "      - {command: 'true', headers: {X-A: b}}\n")
    with pytest.raises(ConfigError, match="'headers' applies to get and page checks"):
        parse_config(text, environ={})


def test_ca_file_is_relative_to_the_config(tmp_path: Path) -> None:
    path = tmp_path / "smokeseal.yml"
    path.write_text("ca_file: certs/ca.pem\napps: {a: {url: https://app.example.com}}\n",
                    encoding="utf-8")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("", encoding="utf-8")
    assert load_config(path).ca_path == tmp_path / "certs" / "ca.pem"


def test_a_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "smokeseal.yml"
    path.write_text("ca_file: nowhere.pem\napps: {a: {url: https://app.example.com}}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"ca_file.*no such file"):
        load_config(path)


@pytest.mark.unit
@pytest.mark.parametrize("path", ["@evil.example/up", "up", ".evil.example/up"])
def test_a_gate_path_that_would_name_another_host_is_refused(path: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("apps.a.gate.path: ")):
        parse_config(f"apps: {{a: {{url: 'https://app.example.com', gate: {{path: '{path}'}}}}}}",
                     environ={})


@pytest.mark.unit
def test_a_joined_url_never_leaves_the_apps_host() -> None:
    from smokeseal.checks.base import join_url

    assert join_url("https://app.example.com/", "/up") == "https://app.example.com/up"
    for path in ("@evil.example/up", ".evil.example", ":8080/x", "up"):
        with pytest.raises(ValueError, match="is not a path on"):
            join_url("https://app.example.com", path)


@pytest.mark.parametrize("webhook", [
    "https://discord.test/api/webhooks/1/s3cr3t-t0ken\n",
    "https://discord.test/api/webhooks/1/s3cr3t-t0ken\r\n",
    " https://discord.test/api/webhooks/1/s3cr3t-t0ken",
    "https://discord.test/api/webhooks/1/s3cr3t\tt0ken",
])
def test_a_webhook_url_with_whitespace_is_refused_without_showing_it(webhook: str) -> None:
    text = ("apps:\n  a:\n    url: https://a.example.com\n"
            "    notify: {discord: {webhook_url: '${HOOK}'}}\n")
    message = error_for(text, environ={"HOOK": webhook})
    assert message.startswith("smokeseal.yml:4: apps.a.notify.discord.webhook_url: the value "
                              "contains whitespace or a control character"), message
    assert "s3cr3t" not in message and "discord.test" not in message
    assert len(message.splitlines()) == 1


def test_smokeseal_own_tokens_and_the_database_password_are_secrets() -> None:
    from smokeseal.secrets import scrub, secrets_of

    config = parse_config("database_url: postgresql://seal:c0nf%40pass@db.internal/seals\n"
                          "apps:\n  a:\n    url: https://app.example.com\n")
    environ = {"GITHUB_TOKEN": "ghp_s3cr3t", "DISCORD_WEBHOOK_URL": "https://discord.test/w/1/t0k",
               "SMOKESEAL_METRICS_TOKEN": "m3trics", "SMOKESEAL_BOARD_TOKEN": "b0ard",
               "SMOKESEAL_DATABASE_URL": "postgresql://seal:env-pa55@db/seals"}
    secrets = secrets_of(config, environ=environ)
    text = ("token ghp_s3cr3t, hook https://discord.test/w/1/t0k, m3trics b0ard, "
            "env-pa55, c0nf%40pass, c0nf@pass")
    assert scrub(text, secrets) == "token ***, hook ***, *** ***, ***, ***, ***"
    # The user name and the host are no secrets: they name what failed.
    assert not {"seal", "db.internal"} & set(secrets)


def test_passwords_urlsplit_cannot_read_and_proxy_passwords_are_secrets() -> None:
    from smokeseal.secrets import database_url_given, scrub, secrets_of

    config = parse_config("database_url: postgresql://seal:a#b/c?d@db.internal/seals\n"
                          "apps:\n  a:\n    url: https://app.example.com\n")
    environ = {"HTTPS_PROXY": "http://egress:pr0xy-pass@proxy.corp:3128",
               "http_proxy": "http://proxy.corp:3128"}
    database_url_given("postgresql://cli:f1ag%2Fpass@db/seals")
    secrets = secrets_of(config, environ=environ)
    text = "a#b/c?d pr0xy-pass f1ag%2Fpass f1ag/pass proxy.corp:3128 seal@db.internal"
    assert scrub(text, secrets) == "*** *** *** *** proxy.corp:3128 seal@db.internal"


@pytest.mark.parametrize(("line", "complaint"), [
    ("    signin_path: [admin/login]\n",
     "smokeseal.yml:4: apps.a.signin_path[0]: 'admin/login' must be a path starting with '/'"),
    ("    signin_path: /login\n", "smokeseal.yml:4: apps.a.signin_path: "),
    ("    cert_warn_days: -1\n", "smokeseal.yml:4: apps.a.cert_warn_days: "),
    ("    cert_warn_days: '14'\n", "smokeseal.yml:4: apps.a.cert_warn_days: "),
])
def test_the_sign_in_and_certificate_keys_are_validated_by_name(line: str,
                                                                  complaint: str) -> None:
    message = error_for(f"apps:\n  a:\n    url: https://a.example.com\n{line}")
    assert message.startswith(complaint)
    assert "\n" not in message


def test_cert_warn_days_is_the_configs_unless_the_app_says_otherwise() -> None:
    config = parse_config("cert_warn_days: 30\napps:\n  a:\n    url: https://a.example.com\n"
                          "  b:\n    url: https://b.example.com\n    cert_warn_days: 0\n"
                          "    signin_path: [/auth/start]\n", environ={})
    assert (config.cert_warn_days_for("a"), config.cert_warn_days_for("b")) == (30, 0)
    assert config.app("a").signin_path is None and config.app("b").signin_path == ["/auth/start"]
    default = parse_config("apps:\n  a:\n    url: https://a.example.com\n", environ={})
    assert default.cert_warn_days_for("a") == 14
    assert "smokeseal.yml:1: cert_warn_days: " in error_for(
        "cert_warn_days: 9999\napps:\n  a:\n    url: https://a.example.com\n")
