"""Certificates that expire: https stand-ins whose leaves a private CA made in the test
issued, one expiring in 2 days and one in 200, and one already expired. The seal reads each
leaf's expiry from the connection its checks made, notes one within ``cert_warn_days``, and
records every one; an expired leaf stays a failure. ``doctor`` trusts the config's
``ca_file`` as the checks do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from smokeseal.config import load_config
from smokeseal.doctor import diagnose
from smokeseal.runner import run_app
from smokeseal.seal import Seal, seal_from_run
from smokeseal.servers import BackgroundServer
from tests.conftest import Recorder

pytestmark = pytest.mark.component


@dataclass
class Https:
    url: str
    port: int
    log: Recorder
    expires: datetime

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


Serve = Callable[[float], AbstractContextManager[Https]]


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return ca, ca_file


@pytest.fixture
def https(private_ca: tuple[trustme.CA, Path], tmp_path: Path) -> Serve:
    """``with https(days) as server``: an https app on 127.0.0.1 whose leaf expires in
    ``days`` days (negative: expired), issued by the test's private CA."""
    ca, _ = private_ca

    @contextmanager
    def serve(days: float) -> Iterator[Https]:
        now = datetime.now(UTC).replace(microsecond=0)
        expires = now + timedelta(days=days)
        leaf = ca.issue_cert("127.0.0.1", not_before=min(now, expires) - timedelta(days=1),
                             not_after=expires)
        folder = tmp_path / f"leaf-{days}"
        folder.mkdir()
        certfile, keyfile = folder / "leaf.pem", folder / "leaf.key"
        leaf.cert_chain_pems[0].write_to_path(str(certfile))
        leaf.private_key_pem.write_to_path(str(keyfile))
        app = Starlette(routes=[
            Route("/", lambda request: HTMLResponse("<title>Vault</title><main>ok</main>")),
            Route("/up", lambda request: PlainTextResponse("ok"))])
        log = Recorder()
        with BackgroundServer(log.wrap(app), certfile=str(certfile),
                              keyfile=str(keyfile)) as server:
            yield Https(server.url, server.port, log, expires)
        assert all(method in ("GET", "HEAD") for method, _ in log.seen)

    return serve


def _seal(write: Callable[[str], Path], ca_file: Path, url: str, *, top: str = "",
          app: str = "", suite: str = "      - {name: up, get: /up, retries: 0}\n",
          use_browser: bool = True) -> Seal:
    path = write(f"ca_file: {ca_file}\n{top}apps:\n  vault:\n    url: {url}\n{app}"
                 f"    suite:\n{suite}")
    config = load_config(path)
    return seal_from_run(run_app(config, "vault", use_browser=use_browser))


def test_a_leaf_that_expires_in_two_days_is_a_note_on_a_green_seal(
        https: Serve, private_ca: tuple[trustme.CA, Path],
        write_config: Callable[[str], Path]) -> None:
    with https(2) as server:
        seal = _seal(write_config, private_ca[1], server.url)
    assert seal.status == "green"
    day = f"{server.expires:%Y-%m-%d}"
    assert seal.notes == [f"certificate for {server.host} expires in 2 days, {day}"]
    assert seal.to_dict()["notes"] == seal.notes
    assert seal.to_dict()["certificates"] == [
        {"host": server.host, "expires_at": server.expires.strftime("%Y-%m-%dT%H:%M:%SZ")}]
    assert "certificate" not in seal.summary  # a note, not part of the verdict
    # Read from the check's own connection: nothing more was asked of production.
    assert server.log.seen == [("GET", "/up")]


def test_a_leaf_that_expires_in_200_days_is_recorded_without_a_note(
        https: Serve, private_ca: tuple[trustme.CA, Path],
        write_config: Callable[[str], Path]) -> None:
    with https(200) as server:
        seal = _seal(write_config, private_ca[1], server.url)
    assert (seal.status, seal.notes) == ("green", [])
    assert "notes" not in seal.to_dict()
    [certificate] = seal.certificates
    assert (certificate.host, certificate.expires_at) == (
        server.host, server.expires.strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_an_origin_no_check_connected_to_gets_one_head(
        https: Serve, private_ca: tuple[trustme.CA, Path],
        write_config: Callable[[str], Path]) -> None:
    """A suite of page checks (here not run: --no-browser) and an alias no check visits:
    each origin's leaf is read with one HEAD of its root."""
    with https(200) as app_server, https(2) as alias:
        seal = _seal(write_config, private_ca[1], app_server.url,
                     app=f"    aliases: [{alias.url}]\n",
                     suite="      - {name: home, page: /}\n", use_browser=False)
    assert seal.notes == [f"certificate for {alias.host} expires in 2 days, "
                          f"{alias.expires:%Y-%m-%d}"]
    assert [c.host for c in seal.certificates] == [app_server.host, alias.host]
    assert app_server.log.seen == [("HEAD", "/")]
    assert alias.log.seen == [("HEAD", "/")]


def test_cert_warn_days_sets_how_far_ahead_and_the_apps_own_wins(
        https: Serve, private_ca: tuple[trustme.CA, Path],
        write_config: Callable[[str], Path]) -> None:
    with https(2) as server:
        quiet = _seal(write_config, private_ca[1], server.url, top="cert_warn_days: 1\n")
        loud = _seal(write_config, private_ca[1], server.url, top="cert_warn_days: 1\n",
                     app="    cert_warn_days: 3\n")
        off = _seal(write_config, private_ca[1], server.url, app="    cert_warn_days: 0\n")
    assert (quiet.notes, off.notes) == ([], [])
    assert loud.notes == [f"certificate for {server.host} expires in 2 days, "
                          f"{server.expires:%Y-%m-%d}"]
    assert len(off.certificates) == 1  # recorded all the same, for /metrics


def test_an_expired_leaf_stays_a_failure(
        https: Serve, private_ca: tuple[trustme.CA, Path],
        write_config: Callable[[str], Path]) -> None:
    with https(-1) as server:
        seal = _seal(write_config, private_ca[1], server.url)
    assert seal.status == "red"
    assert seal.checks[0].detail == (f"{server.url}: certificate rejected (certificate has "
                                     "expired)")
    assert (seal.notes, seal.certificates) == ([], [])


def test_doctor_trusts_the_configs_ca_file_and_names_a_leaf_that_expires_soon(
        https: Serve, private_ca: tuple[trustme.CA, Path], write_config: Callable[[str], Path],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: "certificate not trusted … set SSL_CERT_FILE or ca_file" with ca_file set,
    while the seal, which trusts it, was green."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with https(2) as server:
        path = write_config(f"ca_file: {private_ca[1]}\napps:\n  vault:\n"
                            f"    url: {server.url}\n")
        found = [f for f in diagnose(path, f"sqlite:///{tmp_path / 'l.db'}")
                 if f.area == "app vault"]
    assert [(f.ok, f.message) for f in found] == [
        (True, f'canonical host: {server.url} answers 200 ("Vault")'),
        (True, "gate /up answers 200"),
        (False, f"certificate for {server.host} expires in 2 days, {server.expires:%Y-%m-%d}")]
    assert found[2].fix == (f"renew it before {server.expires:%Y-%m-%d} (seals note it from 14 "
                            "days ahead: cert_warn_days)")
