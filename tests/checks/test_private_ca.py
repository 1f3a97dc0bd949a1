"""A private CA, trusted by the browser as by the HTTP checks: real Chromium, a real https
server whose certificate a trustme CA issued (the server sends its leaf only, as most do)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from smokeseal.config import load_config
from smokeseal.runner import run_app
from smokeseal.servers import BackgroundServer
from smokeseal.trust import SPKI_FLAG, browser_trust_args, ca_keys


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An https server on 127.0.0.1, and the file of the CA that issued its certificate."""
    import trustme

    folder = tmp_path_factory.mktemp("private-ca")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    certfile, keyfile, ca_file = folder / "leaf.pem", folder / "leaf.key", folder / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(certfile))
    leaf.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(ca_file))
    app = Starlette(routes=[Route("/", lambda request: HTMLResponse(
        "<title>internal</title><main>behind a private CA</main>"))])
    with BackgroundServer(app, certfile=str(certfile), keyfile=str(keyfile)) as server:
        yield server.url, ca_file


SUITE = ("    suite:\n      - {name: page, page: /, retries: 0, timeout: 10}\n"
         "      - {name: get, get: /, retries: 0}\n")


def _run(write: Callable[[str], Path], url: str, top: str = "") -> dict[str, tuple[bool, str]]:
    path = write(f"{top}apps:\n  internal:\n    url: {url}\n{SUITE}")
    return {r.name: (r.ok, r.detail) for r in run_app(load_config(path), "internal").results}


@pytest.mark.integration
def test_without_the_ca_the_page_check_names_the_host_and_the_fix(
        private: tuple[str, Path], write_config: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch, browser_executable: str) -> None:
    url, _ = private
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    results = _run(write_config, url)
    fix = "set SSL_CERT_FILE or ca_file to your CA bundle"
    assert results["page"] == (False, f"could not load: {url}: certificate not trusted "
                                      f"(ERR_CERT_AUTHORITY_INVALID): {fix}")
    assert results["get"] == (False, f"{url}: certificate not trusted (unable to get local "
                                     f"issuer certificate): {fix}")


@pytest.mark.integration
def test_ssl_cert_file_makes_the_page_check_trust_the_ca(
        private: tuple[str, Path], write_config: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch, browser_executable: str) -> None:
    url, ca_file = private
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    assert _run(write_config, url) == {"page": (True, "200"), "get": (True, "200")}


@pytest.mark.integration
def test_the_configs_ca_file_wins_over_ssl_cert_file(
        private: tuple[str, Path], write_config: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch, browser_executable: str) -> None:
    url, ca_file = private
    # The system bundle, which knows nothing of this CA: the config's ca_file must win.
    monkeypatch.setenv("SSL_CERT_FILE", ssl.get_default_verify_paths().openssl_cafile)
    config_dir = write_config("").parent
    (config_dir / "certs").mkdir(exist_ok=True)
    (config_dir / "certs" / "ca.pem").write_bytes(ca_file.read_bytes())
    results = _run(write_config, url, top="ca_file: certs/ca.pem\n")
    assert results == {"page": (True, "200"), "get": (True, "200")}


@pytest.mark.integration
def test_the_root_key_alone_does_not_reach_a_server_that_leaves_its_root_out(
        private: tuple[str, Path]) -> None:
    """Why the leaf the server presents is verified and listed too: Chromium matches only
    the certificates a server sends (proven in the tests above by the leaf-only server)."""
    url, ca_file = private
    [root] = ca_keys(ca_file)
    [flag] = browser_trust_args(str(ca_file), [url])
    listed = flag.removeprefix(f"{SPKI_FLAG}=").split(",")
    assert root in listed and len(listed) == 2  # the root's key, and the verified leaf's
    assert browser_trust_args(None, [url]) == ()


@pytest.mark.unit
def test_a_full_system_bundle_lists_no_key() -> None:
    """SSL_CERT_FILE pointing at the system's own bundle must not switch Chromium's checks
    off for the public CAs."""
    assert ca_keys(ssl.get_default_verify_paths().openssl_cafile) == []
    assert browser_trust_args(ssl.get_default_verify_paths().openssl_cafile) == ()
