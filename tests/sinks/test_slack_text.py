"""Slack's mrkdwn rules: production's text can neither ping, link nor format; Block Kit's
limits are kept; every ``ok: false`` answer is sorted into retry or never."""

from __future__ import annotations

import httpx
import pytest

from smokeseal.errors import SinkError
from smokeseal.sinks.slack import check_answer
from smokeseal.sinks.text import slack_escape, slack_fence, slack_neutralise, slack_no_pings

pytestmark = pytest.mark.unit

#: Everything Slack's mrkdwn would act on, in one line from production.
SLACK_HOSTILE = ("<!channel> <!here> <!everyone> @channel @here <@U0123> <#C0123|general> "
                 "<!subteam^S0123> <https://evil.example|click> *bold* _it_ ~strike~ `code` "
                 "``` &amp; & <!date^1392734382^{date}|x> > quote")


def test_slack_neutralise_leaves_no_control_sequence_and_no_formatting() -> None:
    out = slack_neutralise(SLACK_HOSTILE, 1000)
    assert "<" not in out and ">" not in out  # no <!…>, <@…>, <#…>, <url|text>
    assert "&lt;!channel&gt;" in out and "&lt;!subteam^S0123&gt;" in out
    assert "@channel" not in out and "@here" not in out and "@\u200bchannel" in out
    assert not set("*_~`") & set(out)
    assert "\u2217bold\u2217" in out and "\u02cbcode\u02cb" in out
    # An entity production wrote stays text, not the character it names.
    assert "&amp;amp;" in out


def test_slack_neutralise_is_one_line_and_capped_before_escaping() -> None:
    assert "\n" not in slack_neutralise("a\nb\n\n```\nc")
    assert len(slack_neutralise("x" * 5000, 100)) == 100


def test_the_teams_notes_keep_their_formatting_but_cannot_ping() -> None:
    notes = "*Bold* for <!here> and @everyone, <@U1>; `code` & more"
    assert slack_no_pings(notes) == ("*Bold* for &lt;!here&gt; and @\u200beveryone, "
                                     "&lt;@U1&gt;; `code` &amp; more")


def test_slack_escape_is_slacks_documented_three() -> None:
    assert slack_escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"


def test_a_slack_code_block_cannot_be_closed_from_inside() -> None:
    fenced = slack_fence(["git revert -m 1 abc # on ```main``` <!here>"])
    assert fenced.startswith("```\n") and fenced.endswith("\n```")
    assert fenced.count("```") == 2 and "&lt;!here&gt;" in fenced


def _answer(status: int, body: object, headers: dict[str, str] | None = None
            ) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers,
                          request=httpx.Request("POST", "https://slack.test/api/x"))


@pytest.mark.parametrize(("error", "says"), [
    ("invalid_auth", "Slack refused the token: check notify.slack.token"),
    ("not_authed", "no token reached Slack"),
    ("account_inactive", "deactivated"),
    ("token_revoked", "the token was revoked"),
    ("channel_not_found", "no channel C0X, or the bot cannot see it"),
    ("not_in_channel", "the bot is not in channel C0X: invite it"),
    ("is_archived", "channel C0X is archived"),
    ("msg_too_long", "too long"),
    ("invalid_blocks", "Slack refused the message's blocks"),
    ("something_new", "Slack refused it"),
])
def test_slack_errors_that_no_retry_mends_are_permanent(error: str, says: str) -> None:
    with pytest.raises(SinkError) as raised:
        check_answer("posting", _answer(200, {"ok": False, "error": error}), "C0X")
    assert raised.value.permanent and not raised.value.later
    assert says in str(raised.value) and f"({error}" in str(raised.value)


@pytest.mark.parametrize("error", ["internal_error", "fatal_error", "service_unavailable",
                                   "request_timeout"])
def test_slacks_own_trouble_is_retried(error: str) -> None:
    with pytest.raises(SinkError) as raised:
        check_answer("posting", _answer(200, {"ok": False, "error": error}), "C0X")
    assert not raised.value.permanent and raised.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_a_5xx_or_408_is_retried(status: int) -> None:
    with pytest.raises(SinkError) as raised:
        check_answer("posting", _answer(status, {"ok": False}), "C0X")
    assert not raised.value.permanent


def test_a_rate_limit_says_how_long_to_wait() -> None:
    for answer in (_answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}),
                   _answer(200, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})):
        with pytest.raises(SinkError) as raised:
            check_answer("posting", answer, "C0X")
        assert raised.value.retry_after == 7.0 and not raised.value.permanent


def test_what_slack_adds_to_an_error_is_kept() -> None:
    body = {"ok": False, "error": "invalid_blocks",
            "response_metadata": {"messages": ["[ERROR] must be less than 3000 characters"]}}
    with pytest.raises(SinkError, match="must be less than 3000 characters"):
        check_answer("posting", _answer(200, body), "C0X")
    body = {"ok": False, "error": "missing_scope", "needed": "chat:write", "provided": "x"}
    with pytest.raises(SinkError, match="needed: chat:write"):
        check_answer("posting", _answer(200, body), "C0X")
