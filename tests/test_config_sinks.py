"""notify.slack and notify.webhook: validated where written, secrets held as secrets."""

from __future__ import annotations

import pytest

from smokeseal.childenv import child_environ, withheld_variables
from smokeseal.config import parse_config
from smokeseal.errors import ConfigError
from smokeseal.secrets import scrub, secrets_of

pytestmark = pytest.mark.unit

BASE = "apps:\n  a:\n    url: https://app.example.com\n    notify:\n"
TOKEN = "xoxb-1000000001-2000000002-Sl4ckTok3n"
HOOK = "https://hooks.example.com/services/T0/B0/PathT0kenLongEnough0000"
SECRET = "whsec-0123456789abcdef"
ENV = {"SLACK_BOT_TOKEN": TOKEN, "SMOKESEAL_WEBHOOK_URL": HOOK,
       "SMOKESEAL_WEBHOOK_SECRET": SECRET}
SINKS = ("      slack: {token: '${SLACK_BOT_TOKEN}', channel: C0123456789, "
         "operator: S0ONCALL}\n"
         "      webhook: {url: '${SMOKESEAL_WEBHOOK_URL}', "
         "secret: '${SMOKESEAL_WEBHOOK_SECRET}'}\n")


def test_slack_and_webhook_read_their_secrets_from_the_environment() -> None:
    config = parse_config(BASE + SINKS, environ=ENV)
    slack, webhook = config.apps["a"].notify.slack, config.apps["a"].notify.webhook
    assert slack is not None and webhook is not None
    assert slack.token.get_secret_value() == TOKEN and TOKEN not in repr(slack)
    assert slack.api_url == "https://slack.com/api" and slack.mention == "<!subteam^S0ONCALL>"
    assert webhook.url.get_secret_value() == HOOK and HOOK not in repr(webhook)
    assert SECRET not in repr(webhook)


@pytest.mark.parametrize(("sink", "env", "key", "says"), [
    ("slack: {token: '${SLACK_BOT_TOKEN}', channel: '#releases'}", {},
     "apps.a.notify.slack.channel", "must be a channel id"),
    ("slack: {token: '${SLACK_BOT_TOKEN}', channel: C01, operator: '<@U1>'}", {},
     "apps.a.notify.slack.operator", "user id (U0123456789) or a user group id"),
    ("slack: {token: '${SLACK_BOT_TOKEN}', channel: C01}",
     {"SLACK_BOT_TOKEN": TOKEN + "\n"}, "apps.a.notify.slack.token", "whitespace"),
    ("slack: {channel: C01}", {}, "apps.a.notify.slack.token", ""),
    ("slack: {token: '${SLACK_BOT_TOKEN}', channel: C01, api_url: 'slack.com'}", {},
     "apps.a.notify.slack.api_url", "absolute http(s) URL"),
    ("slack: {token: '${SLACK_BOT_TOKEN}', channel: C01, webhook: x}", {},
     "apps.a.notify.slack.webhook", ""),
    ("webhook: {url: '${SMOKESEAL_WEBHOOK_URL}', secret: '${SMOKESEAL_WEBHOOK_SECRET}'}",
     {"SMOKESEAL_WEBHOOK_URL": "http://hooks.example.com/s/PathT0kenLongEnough0000"},
     "apps.a.notify.webhook.url", "must use https://"),
    ("webhook: {url: '${SMOKESEAL_WEBHOOK_URL}', secret: '${SMOKESEAL_WEBHOOK_SECRET}'}",
     {"SMOKESEAL_WEBHOOK_URL": HOOK + "\n"}, "apps.a.notify.webhook.url", "whitespace"),
    ("webhook: {url: '${SMOKESEAL_WEBHOOK_URL}', secret: '${SMOKESEAL_WEBHOOK_SECRET}'}",
     {"SMOKESEAL_WEBHOOK_URL": "hooks.example.com/s/PathT0kenLongEnough0000"},
     "apps.a.notify.webhook.url", "absolute https:// URL"),
    ("webhook: {url: '${SMOKESEAL_WEBHOOK_URL}', secret: '${SMOKESEAL_WEBHOOK_SECRET}'}",
     {"SMOKESEAL_WEBHOOK_URL": "https://hooks.example.com:x/PathT0kenLongEnough0000"},
     "apps.a.notify.webhook.url", "not a valid URL"),
    ("webhook: {url: '${SMOKESEAL_WEBHOOK_URL}', secret: '${SMOKESEAL_WEBHOOK_SECRET}'}",
     {"SMOKESEAL_WEBHOOK_SECRET": "short"}, "apps.a.notify.webhook.secret", "16 characters"),
    ("webhook: {url: '${SMOKESEAL_WEBHOOK_URL}'}", {}, "apps.a.notify.webhook.secret", ""),
])
def test_a_bad_sink_names_its_key_and_never_shows_the_secret(
        sink: str, env: dict[str, str], key: str, says: str) -> None:
    environ = {**ENV, **env}
    with pytest.raises(ConfigError) as raised:
        parse_config(BASE + f"      {sink}\n", environ=environ)
    message = str(raised.value)
    assert f"{key}:" in message and says in message and "\n" not in message
    for value in environ.values():
        assert value.strip() not in message
    assert "PathT0ken" not in message


@pytest.mark.parametrize("host", ["127.0.0.1:8123", "localhost:8123", "[::1]:8123"])
def test_plain_http_is_allowed_to_this_machine_only(host: str) -> None:
    environ = {**ENV, "SMOKESEAL_WEBHOOK_URL": f"http://{host}/hook"}
    config = parse_config(BASE + SINKS, environ=environ)
    webhook = config.apps["a"].notify.webhook
    assert webhook is not None and webhook.url.get_secret_value() == f"http://{host}/hook"


def test_the_slack_token_and_the_webhook_url_and_secret_are_scrubbed() -> None:
    config = parse_config(BASE + SINKS, environ=ENV)
    secrets = secrets_of(config, environ={})
    text = (f"token {TOKEN}; hook {HOOK}; signed with {SECRET}; the path alone "
            "/services/T0/B0/PathT0kenLongEnough0000 fails")
    assert scrub(text, secrets) == ("token ***; hook ***; signed with ***; the path alone "
                                    "/services/T0/B0/*** fails")
    # Short pieces of the URL are words, not secrets.
    assert "services" not in secrets and "hooks.example.com" not in secrets


def test_smokeseals_own_slack_and_webhook_variables_are_secrets_even_unused() -> None:
    config = parse_config("apps:\n  a:\n    url: https://app.example.com\n")
    secrets = secrets_of(config, environ=ENV)
    assert {TOKEN, HOOK, SECRET} <= set(secrets)


def test_sink_secrets_are_withheld_from_the_commands_smokeseal_runs() -> None:
    config = parse_config(BASE + SINKS, environ=ENV)
    environ = {**ENV, "PATH": "/usr/bin", "COPY_OF_THE_TOKEN": TOKEN}
    withheld = withheld_variables(config, environ)
    assert set(withheld) == {*ENV, "COPY_OF_THE_TOKEN"}
    child = child_environ(withheld, environ=environ)
    assert child == {"PATH": "/usr/bin"}
    # Not even a config that names none of them passes smokeseal's own on.
    plain = parse_config("apps:\n  a:\n    url: https://app.example.com\n")
    assert child_environ(withheld_variables(plain, ENV), environ=ENV) == {}
