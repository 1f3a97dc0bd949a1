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


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path, Path]]:
    """An https server on 127.0.0.1 presenting a leaf for *evil.example* and the
    intermediate that issued it (root -> intermediate -> leaf, all trustme), and three CA
    files: the intermediate alone, the root and the intermediate (a cat'd fullchain), and
    all three with the leaf."""
    import trustme

    folder = tmp_path_factory.mktemp("evil-ca")
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("evil.example")
    certfile, keyfile = folder / "leaf.pem", folder / "leaf.key"
    certfile.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(keyfile))
    only_intermediate, fullchain, everything = (folder / "mid.pem", folder / "chain.pem",
                                                folder / "all.pem")
    only_intermediate.write_bytes(intermediate.cert_pem.bytes())
    fullchain.write_bytes(root.cert_pem.bytes() + intermediate.cert_pem.bytes())
    everything.write_bytes(leaf.cert_chain_pems[0].bytes() + fullchain.read_bytes())
    app = Starlette(routes=[Route("/", lambda request: HTMLResponse(
        "<title>evil</title><main>not the host you asked for</main>"))])
    with BackgroundServer(app, certfile=str(certfile), keyfile=str(keyfile)) as server:
        yield server.url, only_intermediate, fullchain, everything


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


@pytest.mark.integration
@pytest.mark.parametrize("which", ["intermediate alone", "root and intermediate",
                                   "root, intermediate and leaf"])
def test_a_certificate_for_another_name_is_red_whatever_the_ca_file_holds(
        evil: tuple[str, Path, Path, Path], write_config: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch, browser_executable: str, which: str) -> None:
    """The server on 127.0.0.1 presents a leaf for evil.example and its intermediate. An
    intermediate's (or a leaf's) key from the CA file would make Chromium skip the name
    check of every chain holding it: none is listed, so both checks are red."""
    url, only_intermediate, fullchain, everything = evil
    ca_file = {"intermediate alone": only_intermediate, "root and intermediate": fullchain,
               "root, intermediate and leaf": everything}[which]
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    results = _run(write_config, url)
    assert results["page"][0] is False, results
    assert results["get"][0] is False, results
    assert "could not load" in results["page"][1]


@pytest.mark.unit
def test_only_the_ca_files_roots_are_listed(evil: tuple[str, Path, Path, Path]) -> None:
    from cryptography import x509

    from smokeseal.trust import spki_hash

    _, only_intermediate, fullchain, everything = evil
    root = x509.load_pem_x509_certificate(fullchain.read_bytes())
    assert ca_keys(only_intermediate) == []
    assert ca_keys(fullchain) == ca_keys(everything) == [spki_hash(root)]


@pytest.mark.integration
def test_looking_at_the_apps_leaves_is_bounded_as_a_whole(private: tuple[str, Path]) -> None:
    """A server that accepts and then drips its answer, one byte at a time, holds the
    browser's launch no longer than the timeout, for all its handshakes together."""
    import socket
    import threading
    import time

    _, ca_file = private
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(0.2)
                # A TLS record header that promises 16 KB, then a byte every 0.2 s.
                for byte in b"\x16\x03\x03\x40\x00" + b"\x02" * 100:
                    if stop.wait(0.2):
                        return
                    try:
                        conn.send(bytes([byte]))
                    except OSError:
                        break

    listener.settimeout(None)
    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        args = browser_trust_args(str(ca_file), [f"https://127.0.0.1:{listener.getsockname()[1]}"],
                                  timeout=1.0)
        took = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    assert took < 1.5, took
    # The root's key alone: the dripping host's leaf was never seen, so none is listed.
    assert args == (f"{SPKI_FLAG}={','.join(ca_keys(ca_file))}",)
