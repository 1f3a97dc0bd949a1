from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from smokeseal.board.badge import COLOURS, badge_svg, text_width

pytestmark = pytest.mark.unit
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("status", ["green", "red", "pending", "none"])
def test_the_message_sits_on_its_status_colour(status: str) -> None:
    svg = ET.fromstring(badge_svg("studio seal", status, status))
    rects = [r.get("fill") for r in svg.iter(f"{SVG}rect")]
    assert rects[1:3] == ["#555", COLOURS[status]]
    assert svg.get("aria-label") == f"studio seal: {status}"


def test_hostile_text_stays_text_and_the_svg_stays_well_formed() -> None:
    hostile = '<script>alert(1)</script>"&\''
    svg = ET.fromstring(badge_svg(hostile, hostile, "red"))
    assert [t.text for t in svg.iter(f"{SVG}text")] == [hostile] * 4
    assert not list(svg.iter(f"{SVG}script")) and not list(svg.iter("script"))


def test_the_badge_grows_with_its_text() -> None:
    short = ET.fromstring(badge_svg("a", "green", "green"))
    long = ET.fromstring(badge_svg("a-much-longer-app-name", "green · v12.40.3", "green"))
    assert int(long.get("width") or 0) > int(short.get("width") or 0)
    assert text_width("WWW") > text_width("iii")
