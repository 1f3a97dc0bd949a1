"""Hostile input: production's text, a fuzzed config, odd versions and notes.

Text read from production reaches the board escaped and Discord and the release notes inert;
a config is either valid or refused with one clean line; odd characters round-trip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smokeseal.board.app import create_app
from smokeseal.config import _all_field_names, load_config, parse_config
from smokeseal.errors import ConfigError, UsageError
from smokeseal.ledger import Ledger
from smokeseal.outbox import deliver
from smokeseal.servers import BackgroundServer
from smokeseal.ship import resolve_release, seal_release, ship
from smokeseal.sinks.text import SECTION_END, SECTION_START
from tests.conftest import Api, notify_yaml
from tests.reliability.conftest import Hostile

BIN = Path(sys.executable).parent


# --- production's text ----------------------------------------------------------------------

@pytest.fixture
def hostile_config(hostile: Hostile, discord: Api, github: Api, write_config: Callable[..., Path],
                   secrets_env: dict[str, str], browser_executable: str,
                   monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    github.state.add_release("v1", "## Changes\n- hostile-proofing")
    return load_config(write_config(
        f"apps:\n  prod:\n    url: {hostile.url}\n    deploy: 'true'\n"
        "    gate: {timeout: 3, interval: 0.2}\n"
        "    suite:\n"
        "      - {name: home, page: /, expect: {selector: main, title: Welcome}}\n"
        "      - {name: header, get: /header, expect: {header: {X-Hostile: calm}}}\n"
        "      - {name: body, get: /body, expect: {status: 200}}\n"
        + notify_yaml(discord, github)))


@pytest.mark.integration
def test_production_text_is_escaped_on_the_board_and_inert_in_discord_and_notes(
        hostile_config, discord: Api, github: Api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = resolve_release(ledger, hostile_config, "prod", version="v1", sha="3f2a9c1",
                                  notes="## Changes\n- hostile-proofing")
        result = ship(hostile_config, ledger, release)
        assert result.seal is not None and result.seal.status == "red"
        details = " ".join(c.detail for c in result.seal.checks)
        assert "<script>alert('xss')</script>" in details  # production's text, as it came
        # Sealed again: the seal section is replaced, even though the text fakes its end.
        seal_release(hostile_config, ledger, ledger.release(release.id))
        deliver(hostile_config, ledger, due_only=False)
        notes = ledger.release(release.id).notes or ""

        with BackgroundServer(create_app(ledger)) as server:
            pages = [httpx.get(server.url + path).text for path in
                     ("/deployments", f"/releases/{release.id}")]
            api = httpx.get(f"{server.url}/api/releases/{release.id}").json()

    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "</textarea>" not in page and "<!-- /smokeseal" not in page
    assert "&lt;script&gt;alert(" in pages[1]
    assert any("<script>alert('xss')" in c["detail"] for c in api["checks"])  # JSON, as is

    for body in (notes, *(r["body"] for r in github.state.releases.values())):
        assert body.count(SECTION_START) == 1 and body.count(SECTION_END) == 1
        assert "@everyone" not in body and "<script>" not in body and "<!-- /" not in \
            body.replace(SECTION_END, "")
        assert "- hostile-proofing" in body  # the team's own notes, untouched

    posts = [r.json for r in discord.state.received if r.method in ("POST", "PATCH")]
    assert posts
    for payload in posts:
        text = json.dumps(payload, ensure_ascii=False)
        assert "@everyone" not in text and "@here" not in text and "<@&42>" not in text
        assert "[click](" not in text and "<script>" not in text
        assert payload["allowed_mentions"]["parse"] == []
        assert len(payload.get("content") or "") <= 2000
        for embed in payload.get("embeds", []):
            assert len(embed.get("description", "")) <= 4096
            assert sum(len(str(v)) for v in embed.values()) <= 6000
        content = payload.get("content") or ""
        assert content.count("```") % 2 == 0  # production text opened no code block
    alert = next(p for p in posts if (p.get("content") or "").startswith("<@111>"))
    assert alert["allowed_mentions"] == {"parse": [], "users": ["111"]}


@pytest.mark.integration
def test_production_text_cannot_ping_link_or_format_in_slack(
        hostile: Hostile, slack: Api, slack_env: dict[str, str],
        write_config: Callable[..., Path], browser_executable: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKESEAL_BROWSER", browser_executable)
    config = load_config(write_config(
        f"apps:\n  prod:\n    url: {hostile.url}\n    deploy: 'true'\n"
        "    gate: {timeout: 3, interval: 0.2}\n"
        "    suite:\n"
        "      - {name: home, page: /, expect: {selector: main, title: Welcome}}\n"
        "      - {name: header, get: /header, expect: {header: {X-Hostile: calm}}}\n"
        "      - {name: body, get: /body, expect: {status: 200}}\n"
        + notify_yaml(None, None, slack=slack)))
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        release = resolve_release(ledger, config, "prod", version="v1", sha="3f2a9c1",
                                  notes="## Changes\n- <!here> look at *this*")
        result = ship(config, ledger, release)
        assert result.seal is not None and result.seal.status == "red"
        assert "<script>alert('xss')</script>" in " ".join(c.detail for c in result.seal.checks)
        assert ledger.messages(("pending", "failed")) == [], result.warnings

    calls = [r.json for r in slack.state.received]
    assert len(calls) == 4  # notes, seal, update, alert: all taken by Slack's limits
    for payload in calls:
        texts = [payload["text"], *(b["text"]["text"] for b in payload["blocks"]
                                    if "text" in b),
                 *(e["text"] for b in payload["blocks"] for e in b.get("elements", []))]
        for text_ in texts:
            # No control sequence (mention, link, date) but the configured operator's.
            assert "<" not in text_.replace("<@U0OPERATOR>", ""), text_[:200]
            assert "@everyone" not in text_ and "@here" not in text_
            # Production's formatting characters are look-alikes; a code block is only
            # ever the rollback one, opened and closed by smokeseal.
            assert "*bold*" not in text_ and "<script>" not in text_
            assert text_.count("```") % 2 == 0
    alert = next(p for p in calls if p["text"].startswith("<@U0OPERATOR>"))
    assert alert["text"].count("```") == 2
    assert "\u2217\u2217bold\u2217\u2217" in alert["text"]  # ** as look-alikes
    assert "\u02cb\u02cb\u02cb" in alert["text"]  # production's ``` cannot close the block
    assert "&lt;@&amp;42&gt;" in alert["text"]
    notes = calls[0]["blocks"][2]["text"]["text"]
    assert notes == "## Changes\n- &lt;!here&gt; look at *this*"  # the team's own, inert


# --- the config, fuzzed ---------------------------------------------------------------------

_KEYS = sorted(_all_field_names() | {"apps", "suites", "prod", "qa-readonly", "demo"})
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from(["", "/", "/up", "http://127.0.0.1:9", "https://a.test",
                                      "${NOPE}", "${HOME}", "qa-readonly", "true", "404",
                                      "ftp://x", "http://", " ", "\u0000", "💥"]),
                     st.text(max_size=20))
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8),
                                            inner, max_size=5)),
    max_leaves=25)


@pytest.mark.slow  # 400 examples
@pytest.mark.unit
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.dictionaries(st.sampled_from(["apps", "suites", "ledger", "board", "x"]),
                                _DOCS, min_size=1, max_size=3))
def test_any_config_is_valid_or_refused_with_one_clean_line(document: dict[str, object]) -> None:
    text = json.dumps(document, allow_nan=True)  # JSON is YAML: every shape reaches the parser
    try:
        parse_config(text, source="fuzz.yml", environ={"HOME": "/root"})
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yml"), message
        assert "\n" not in message and "Traceback" not in message


@pytest.mark.unit
@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_at_all_is_valid_or_refused_with_one_clean_line(text: str) -> None:
    try:
        parse_config(text, source="fuzz.yml", environ={})
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yml") and "\n" not in str(exc)


@pytest.mark.e2e
@pytest.mark.parametrize("text", [
    "apps: {prod: {url: 'http://x', suite: [{page: /, get: /}]}}",
    "apps: [1, 2]", "- - -", "apps: {prod: {url: \u0000}}", "{{{{",
    "apps: !!python/object:os.system x",
    "apps:\n  prod:\n    url: http://127.0.0.1:1\n    suite: [{get: /, timeout: -1}]",
])
def test_the_command_line_refuses_a_bad_config_with_exit_2_and_one_line(
        text: str, tmp_path: Path) -> None:
    (tmp_path / "smokeseal.yml").write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    done = subprocess.run([str(BIN / "prod-smoke"), "prod"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert "smokeseal.yml" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "smokeseal.db").exists()  # changed nothing


# --- odd versions and notes -----------------------------------------------------------------

ODD_VERSIONS = ["v1.0.0+build.7", "2026.11.24-rc.1", "ünïcødé-1", "v1<script>", "日本語",
                "a" * 200, "v1';DROP/**/TABLE/**/releases;--", "%00%", "👍"]
ODD_NOTES = ("## Ünïcødé 👍 \u200f עברית \u200b\r\nline two\ttabbed\n```\n<script>x</script>\n"
             "@everyone <!-- comment -->\n" + "long " * 20_000)


@pytest.mark.integration
def test_odd_versions_and_notes_round_trip(ledger_url: str, tmp_path: Path) -> None:
    with Ledger(ledger_url) as ledger:
        made = [ledger.create_release("prod", version, "3f2a9c1", notes=ODD_NOTES)
                for version in ODD_VERSIONS]
        with BackgroundServer(create_app(ledger)) as server:
            for release, version in zip(made, ODD_VERSIONS, strict=True):
                again = ledger.find("prod", version)
                assert again is not None and (again.version, again.notes) == (version, ODD_NOTES)
                assert ledger.release(f"prod@{version}").id == release.id
                shown = httpx.get(f"{server.url}/api/releases/{release.id}").json()
                assert (shown["version"], shown["notes"]) == (version, ODD_NOTES)
            html = httpx.get(server.url + "/deployments").text
        assert "v1&lt;script&gt;" in html and "v1<script>" not in html


@pytest.mark.e2e
def test_a_nul_in_notes_is_refused_cleanly_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "smokeseal.yml").write_text("apps: {prod: {url: 'http://127.0.0.1:9'}}\n")
    (tmp_path / "notes.md").write_bytes(b"before\x00after")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    done = subprocess.run([str(BIN / "smokeseal"), "release", "create", "prod", "--version",
                           "v1", "--sha", "3f2a9c1", "--notes-file", "notes.md"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("error: --notes-file: notes.md contains a NUL byte; "
                           "release notes are text\n")
    assert not (tmp_path / "smokeseal.db").exists()


@pytest.mark.component
def test_a_nul_in_notes_is_refused_by_the_library_on_both_ledgers(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        with pytest.raises(UsageError, match="notes: contain a NUL character"):
            ledger.create_release("prod", "v1", "3f2a9c1", notes="a\x00b")
        assert ledger.releases() == []
