"""The live build: reading the revision production serves, and the ``version`` check."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import pytest

from smokeseal.checks.http import read_only_client
from smokeseal.checks.version import (
    Revision,
    VersionCheckResult,
    read_revision,
    read_revision_sync,
    run_version_check,
    same_revision,
    shown,
    what_is_live,
)
from smokeseal.config import VersionSource
from tests.checks.standins_http import NEW, OLD, Build, Live, Served, live_build
from tests.conftest import _read_only_proof


@pytest.fixture(scope="module")
def _live() -> Iterator[Live]:
    with live_build() as live:
        yield live


@pytest.fixture
def live(_live: Live, request: pytest.FixtureRequest) -> Iterator[tuple[Build, Served, Served]]:
    """(what the build serves, the build's server, another host); read-only proof after."""
    _live.reset()
    yield _live.state, _live.build, _live.elsewhere
    _read_only_proof(request, list(_live.build.log.seen), "the build stand-in")
    _read_only_proof(request, list(_live.elsewhere.log.seen), "the other host")


def source(**kwargs: object) -> VersionSource:
    return VersionSource.model_validate(kwargs)


def read(src: VersionSource, base_url: str) -> Revision:
    async def go() -> Revision:
        async with read_only_client() as client:
            return await read_revision(client, src, base_url)

    return asyncio.run(go())


def check(src: VersionSource, base_url: str, sha: str | None) -> VersionCheckResult:
    async def go() -> VersionCheckResult:
        async with read_only_client() as client:
            return await run_version_check(client, src, base_url, sha)

    return asyncio.run(go())


# --- same_revision and how revisions are shown ----------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize(("served", "sha", "same"), [
    ("3f2a9c1", "3f2a9c1deadbeef", True),         # short served, full release sha
    ("3f2a9c1deadbeef", "3f2a9c1", True),         # and the other way round
    ("3F2A9C1DEADBEEF", "3f2a9c1", True),         # case does not matter
    (" 3f2a9c1\n", "3f2a9c1dead", True),          # nor whitespace around it
    ("3f2a9c1", "3f2a9c1", True),
    ("abc", "abcdef0123", False),                 # 3 characters never match
    ("abcdef0123", "abc", False),
    ("3f2a9c", "3f2a9c1dead", False),             # 6 are still too few
    ("1a2b3c4", "3f2a9c1", False),
    ("3f2a9c1deadbeef", "3f2a9c1deadbeee", False),  # both long, differing late
    ("", "3f2a9c1", False),
])
def test_same_revision_is_a_prefix_match_of_at_least_seven(served: str, sha: str,
                                                           same: bool) -> None:
    assert same_revision(served, sha) is same


@pytest.mark.unit
def test_revisions_are_shown_short_but_never_alike_when_they_differ() -> None:
    assert shown(NEW) == "3f2a9c1"
    assert shown("1a2b3c4d", "1a2b3c4e") == "1a2b3c4d"  # 7 would read as the same
    assert shown("v1.4.2") == "v1.4.2"  # not a sha: as it is
    assert shown("abc") == "abc"
    assert what_is_live(Revision(OLD, "json"), NEW) == "1a2b3c4 is still live, not 3f2a9c1"
    assert what_is_live(Revision(NEW, "json"), "3f2a9c1") == "3f2a9c1 is live"
    assert what_is_live(Revision(None, "/version answered 404"), NEW) == (
        "the live revision could not be read (/version answered 404)")


# --- reading the revision ---------------------------------------------------------------------

@pytest.mark.component
@pytest.mark.parametrize(("kwargs", "how"), [
    ({"json": "sha"}, "json key 'sha' of /version"),
    ({"json": "build.sha"}, "json key 'build.sha' of /version"),
    ({"json": "build.tags.0"}, "json key 'build.tags.0' of /version"),
    ({"path": "/version/header", "header": "x-revision"}, "header x-revision of /version/header"),
    ({"path": "/version/page", "pattern": 'name="revision" content="([0-9a-f]+)"'},
     "pattern 'name=\"revision\" content=\"([0-9a-f]+)\"' on /version/page"),
    ({"path": "/version/text", "pattern": r"(\S+)"}, r"pattern '(\\S+)' on /version/text"),
    ({"path": "/version/moved", "json": "sha"}, "json key 'sha' of /version/moved"),
])
def test_each_way_of_saying_the_revision_is_read(live: tuple[Build, Served, Served],
                                                 kwargs: dict[str, object], how: str) -> None:
    state, build, _ = live
    revision = read(source(**kwargs), build.url)
    assert revision.detail == how
    assert revision.value is not None and revision.value.lower() == OLD  # trimmed, as served
    assert state.reads == 1


@pytest.mark.component
def test_a_build_number_is_a_revision_too(live: tuple[Build, Served, Served]) -> None:
    _, build, _ = live
    assert read(source(json="build.number"), build.url).value == "1234"


@pytest.mark.component
@pytest.mark.parametrize(("kwargs", "why"), [
    ({"path": "/version/404", "json": "sha"}, "/version/404 answered 404"),
    ({"path": "/version/not-json", "json": "sha"}, "/version/not-json is not JSON ("),
    ({"path": "/version/nested", "json": "sha"}, "/version/nested is JSON nested too deep"),
    ({"json": "commit"}, "the JSON of /version has no 'commit'"),
    ({"json": "build.commit"}, "the JSON of /version has no 'build.commit' (no 'commit')"),
    ({"json": "build.tags.7"}, "the JSON of /version has no 'build.tags.7' (no '7')"),
    ({"json": "nothing"}, "'nothing' in the JSON of /version is null, not a revision"),
    ({"json": "build"}, "'build' in the JSON of /version is dict, not a revision"),
    ({"header": "X-Revision"}, "/version answered without a X-Revision header"),
    ({"path": "/version/page", "pattern": r"commit=(\w+)"},
     "pattern 'commit=(\\\\w+)' found nothing in the body of /version/page"),
    ({"path": "/version/page", "pattern": r"<main>(\d*)"},
     "pattern '<main>(\\\\d*)' on /version/page is empty"),
])
def test_an_unreadable_revision_says_why(live: tuple[Build, Served, Served],
                                         kwargs: dict[str, object], why: str) -> None:
    _, build, _ = live
    revision = read(source(**kwargs), build.url)
    assert revision.value is None
    assert revision.detail.startswith(why), revision.detail


@pytest.mark.component
def test_a_hanging_version_endpoint_is_bounded_by_its_timeout(
        live: tuple[Build, Served, Served]) -> None:
    _, build, _ = live
    started = time.monotonic()
    revision = read(source(path="/version/hang", json="sha", timeout=0.5), build.url)
    assert revision == Revision(None, "/version/hang gave no complete answer within 0.5 s")
    assert time.monotonic() - started < 5


@pytest.mark.component
def test_a_version_endpoint_redirecting_elsewhere_is_not_followed(
        live: tuple[Build, Served, Served]) -> None:
    # The other host serves the release's sha: following it would be green while the app
    # itself says nothing.
    _, build, elsewhere = live
    revision = read(source(path="/version/away", json="sha"), build.url)
    assert revision == Revision(None, f"/version/away redirected off the app to "
                                      f"{elsewhere.url}/version")
    assert elsewhere.log.seen == []


@pytest.mark.component
def test_a_huge_revision_is_cut_to_an_identifier(live: tuple[Build, Served, Served]) -> None:
    _, build, _ = live
    revision = read(source(json="long"), build.url)
    # Cut with the ellipsis the secrets filter knows (a secret cut short is still found).
    assert revision.value == (OLD * 3)[:99] + "…"


@pytest.mark.component
def test_the_sync_twin_reads_the_same(live: tuple[Build, Served, Served]) -> None:
    _, build, _ = live
    assert read_revision_sync(source(json="sha"), build.url) == Revision(
        OLD, "json key 'sha' of /version")


@pytest.mark.component
def test_a_closed_port_is_unreadable_not_an_error(closed_port: int) -> None:
    revision = read_revision_sync(source(json="sha"), f"http://127.0.0.1:{closed_port}")
    assert revision == Revision(None, "/version: connection refused")


# --- the version check ----------------------------------------------------------------------

@pytest.mark.component
def test_the_release_s_build_passes_and_the_served_revision_is_kept(
        live: tuple[Build, Served, Served]) -> None:
    state, build, _ = live
    state.old = NEW.upper()
    result = check(source(json="sha"), build.url, "3f2a9c1")
    assert (result.ok, result.kind, result.name) == (True, "version", "version")
    assert result.detail == "serving 3F2A9C1, the release's sha"
    assert result.url == build.url + "/version"
    assert result.revision == NEW.upper()
    assert result.to_dict()["revision"] == NEW.upper()
    assert result.outcome == "passed"


@pytest.mark.component
def test_an_older_build_still_answering_fails_naming_both(
        live: tuple[Build, Served, Served]) -> None:
    _, build, _ = live
    result = check(source(json="sha"), build.url, NEW)
    assert (result.ok, result.outcome) == (False, "failed")
    assert result.detail == "serving 1a2b3c4, expected 3f2a9c1: an older build still answers"
    assert result.revision == OLD


@pytest.mark.component
def test_a_revision_too_short_to_tell_never_passes(live: tuple[Build, Served, Served]) -> None:
    state, build, _ = live
    state.old = "3f2"
    result = check(source(json="sha"), build.url, NEW)
    assert result.detail == ("serving 3f2, expected 3f2a9c1: too short to tell (a sha needs at "
                             "least 7 characters)")


@pytest.mark.component
def test_a_revision_that_is_not_a_sha_fails_saying_so(live: tuple[Build, Served, Served]) -> None:
    state, build, _ = live
    state.old = "v1.4.2"
    result = check(source(json="sha"), build.url, NEW)
    assert result.detail == ("serving v1.4.2, expected 3f2a9c1: not a commit sha, so not the "
                             "release's")


@pytest.mark.component
def test_without_a_sha_the_check_records_what_is_served(
        live: tuple[Build, Served, Served]) -> None:
    _, build, _ = live
    result = check(source(json="sha"), build.url, None)
    assert (result.ok, result.detail, result.revision) == (True, "serving 1a2b3c4", OLD)


@pytest.mark.component
def test_an_unreadable_revision_fails_the_check_saying_why(
        live: tuple[Build, Served, Served]) -> None:
    _, build, _ = live
    for sha in (NEW, None):
        result = check(source(path="/version/404", json="sha"), build.url, sha)
        assert (result.ok, result.revision) == (False, None)
        assert result.detail == "could not read the live revision: /version/404 answered 404"
        assert "revision" not in result.to_dict()


# --- bodies that are not what they seem ------------------------------------------------------

@pytest.mark.component
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compressed_version_is_read(live: tuple[Build, Served, Served], coding: str) -> None:
    _, build, _ = live
    revision = read(source(path=f"/version/compressed?as={coding}", json="sha"), build.url)
    assert revision.value == OLD


@pytest.mark.component
@pytest.mark.parametrize(("path", "why"), [
    ("/version/compressed?as=br", "Content-Encoding: br"),
    ("/version/bomb", "Content-Encoding: gzip, gzip"),
])
@pytest.mark.parametrize("how", [{"json": "sha"}, {"pattern": r'"sha": ?"(\w+)"'}])
def test_a_version_body_that_cannot_be_decoded_says_so(
        live: tuple[Build, Served, Served], path: str, why: str, how: dict[str, str]) -> None:
    # Before: the bomb was inflated whole (gigabytes), br read as if it were text.
    _, build, _ = live
    revision = read(source(path=path, **how), build.url)
    assert revision == Revision(None, f"{path}: cannot read the body ({why})")


@pytest.mark.component
def test_a_charset_that_is_not_a_text_codec_does_not_stop_the_read(
        live: tuple[Build, Served, Served]) -> None:
    # httpx takes "zlib" for the charset (it is a codec); decoding text with it raised
    # LookupError out of the read, and out of the ship's gate.
    _, build, _ = live
    revision = read(source(path="/version/charset?name=zlib", json="sha"), build.url)
    assert revision == Revision(OLD, "json key 'sha' of /version/charset?name=zlib")


@pytest.mark.component
def test_a_pattern_that_backtracks_gives_up_within_a_bound_saying_so(
        live: tuple[Build, Served, Served]) -> None:
    # Over one 40 KB line this pattern takes Python's re 14 s, on the event loop: neither
    # the check's deadline nor the run's budget could stop it.
    _, build, _ = live
    path = "/version/long-line?n=40000"
    started = time.monotonic()
    revision = read(source(path=path, pattern=r"(\w*)\d"), build.url)
    assert time.monotonic() - started < 5
    assert revision == Revision(None, f"pattern took too long on the body of {path} "
                                      r"('(\\w*)\\d' gave up after 1 s); anchor it or make "
                                      "it more specific")


@pytest.mark.component
def test_a_pattern_gets_no_more_than_what_is_left_of_the_timeout(
        live: tuple[Build, Served, Served]) -> None:
    # A source with a timeout under the pattern's own second: the pattern gets what the
    # fetch left of it, not a second more.
    _, build, _ = live
    revision = read(source(path="/version/long-line?n=40000", pattern=r"(\w*)\d",
                           timeout=0.4), build.url)
    assert revision.value is None
    assert re.search(r"took too long .* gave up after 0\.[1-4]\d* s\)", revision.detail), (
        revision.detail)


@pytest.mark.component
def test_a_pattern_that_re_would_take_seconds_over_a_long_line_reads_at_once(
        live: tuple[Build, Served, Served]) -> None:
    # The reviewer's pattern: quadratic in re (150 KB: ~10 s); regex looks for "build=" first.
    _, build, _ = live
    pattern = ".*build=([0-9a-f]+)"
    started = time.monotonic()
    nothing = read(source(path="/version/long-line?n=150000", pattern=pattern), build.url)
    assert time.monotonic() - started < 5
    assert nothing.detail == (f"pattern {pattern!r} found nothing in the body of "
                              "/version/long-line?n=150000")
    found = read(source(path="/version/long-line?n=150000&at", pattern=pattern), build.url)
    assert found.value == OLD


@pytest.mark.component
def test_a_pattern_reads_only_the_first_256_kib_of_the_body(
        live: tuple[Build, Served, Served]) -> None:
    _, build, _ = live
    path = "/version/long-line?n=262200&at"
    revision = read(source(path=path, pattern=r"build=([0-9a-f]+)"), build.url)
    assert revision == Revision(None, "pattern 'build=([0-9a-f]+)' found nothing in the first "
                                      f"256 KiB of the body of {path}")
    near_the_top = "/version/long-line?n=262000&at"  # the revision ends within the scope
    assert read(source(path=near_the_top, pattern=r"build=([0-9a-f]+)"), build.url).value == OLD
