from __future__ import annotations

import time

import httpx
import pytest

from smokeseal.sinks.base import retry_after
from smokeseal.sinks.text import (
    SECTION_END,
    SECTION_START,
    fence,
    fit,
    neutralise,
    no_pings,
    with_section,
)

pytestmark = pytest.mark.unit


def test_neutralise_breaks_mentions_and_markdown() -> None:
    out = neutralise("@everyone @here <@123> <@&456> <#789> **b** `c` [l](u) > q")
    assert "@everyone" not in out and "@here" not in out
    assert "<@123>" not in out and "<@&456>" not in out and "<#789>" not in out
    assert "\\*\\*b\\*\\*" in out and "\\`c\\`" in out and "\\[l\\](u)" in out
    assert "\n" not in neutralise("a\nb\n\n# c")


def test_neutralise_caps_length() -> None:
    assert len(neutralise("x" * 5000, limit=100)) == 100


def test_no_pings_keeps_markdown() -> None:
    assert no_pings("**Bold** for @everyone") == "**Bold** for @\u200beveryone"


def test_fit_cuts_at_a_line_and_closes_an_open_fence() -> None:
    text = "intro\n```\n" + "\n".join(f"line {i}" for i in range(500)) + "\n```\n"
    cut = fit(text, 300, tail="… (cut)")
    assert len(cut) <= 300
    assert cut.endswith("… (cut)")
    assert cut.count("```") % 2 == 0
    assert fit("short", 300) == "short"


def test_a_fence_cannot_be_closed_from_inside() -> None:
    block = fence(["echo ```", "rm -rf /"])
    assert block.count("```") == 2


def test_the_seal_section_is_replaced_never_stacked() -> None:
    first = with_section("Notes.", f"{SECTION_START}\nred\n{SECTION_END}")
    second = with_section(first, f"{SECTION_START}\ngreen\n{SECTION_END}")
    assert second.count(SECTION_START) == 1
    assert second.startswith("Notes.\n\n") and "green" in second and "red" not in second
    assert with_section(None, "S") == "S\n"


@pytest.mark.parametrize(("status", "headers", "body", "expected"), [
    (429, {"Retry-After": "1"}, b'{"retry_after": 0.25, "global": false}', 0.25),
    (429, {"Retry-After": "3"}, b"slow down", 3.0),
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "{reset}"}, b"{}", 10.0),
    (503, {}, b"", None),
])
def test_retry_after_reads_every_documented_form(status: int, headers: dict[str, str],
                                                 body: bytes, expected: float | None) -> None:
    headers = {k: v.replace("{reset}", str(time.time() + 10)) for k, v in headers.items()}
    got = retry_after(httpx.Response(status, headers=headers, content=body))
    if expected is None:
        assert got is None
    else:
        assert got is not None and abs(got - expected) < 1.0


def test_a_sinks_error_message_is_cut_so_that_scrub_finds_a_secret_cut_short() -> None:
    from smokeseal.errors import SinkError
    from smokeseal.secrets import scrub
    from smokeseal.sinks.base import raise_for_answer

    token = "ghp_" + "s3cret" * 10
    message = "x" * 170 + f" bad credentials: {token}"  # cut 11 characters into it
    response = httpx.Response(401, json={"message": message},
                              request=httpx.Request("POST", "https://api.github.com/x"))
    with pytest.raises(SinkError) as caught:
        raise_for_answer("github", "release", response)
    shown = scrub(str(caught.value), [token])
    assert shown.endswith(" bad credentials: ***…") and token[:4] not in shown
