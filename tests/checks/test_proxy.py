"""Behind an egress proxy: ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` are honoured by the
get checks as by the gate, through a real forward proxy on 127.0.0.1. Production is only
reachable through it: ``app.internal`` resolves nowhere, the proxy alone knows where it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from smokeseal.config import load_config
from smokeseal.runner import run_app
from smokeseal.servers import BackgroundServer
from tests.checks.conftest import Proxy

_ASKS = ("<title>Asks</title><main id=out></main><script>fetch('/api/answer', {method: 'POST', "
         "body: '{}'}).then(r => r.text()).then(t => { out.textContent = t })</script>")

_APP = Starlette(routes=[
    Route("/", lambda request: HTMLResponse("<title>Internal</title><h1>Behind the proxy</h1>")),
    Route("/up", lambda request: PlainTextResponse("ok")),
    Route("/asks", lambda request: HTMLResponse(_ASKS)),
    Route("/api/answer", lambda request: PlainTextResponse("the answer is 42"), methods=["POST"]),
])

SUITE = """
    suite:
      - {name: home, get: /, expect: {text: Behind the proxy}, retries: 0, timeout: 5}
      - {name: up, get: /up, retries: 0, timeout: 5}
"""


@pytest.fixture(scope="module")
def origin() -> Iterator[BackgroundServer]:
    with BackgroundServer(_APP) as server:
        yield server


@pytest.fixture(scope="module")
def tls_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BackgroundServer, Path]]:
    """The same app over https, its certificate for ``app.internal`` from a private CA."""
    import trustme

    folder = tmp_path_factory.mktemp("proxy-ca")
    ca = trustme.CA()
    leaf = ca.issue_cert("app.internal")
    leaf.cert_chain_pems[0].write_to_path(str(folder / "leaf.pem"))
    leaf.private_key_pem.write_to_path(str(folder / "leaf.key"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    with BackgroundServer(_APP, certfile=str(folder / "leaf.pem"),
                          keyfile=str(folder / "leaf.key")) as server:
        yield server, folder / "ca.pem"


@pytest.fixture(autouse=True)
def _no_proxy_of_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def _run(write: Callable[[str], Path], url: str, top: str = "") -> dict[str, tuple[bool, str]]:
    path = write(f"{top}apps:\n  internal:\n    url: {url}\n{SUITE}")
    return {r.name: (r.ok, r.detail) for r in run_app(load_config(path), "internal").results}


@pytest.mark.component
def test_get_checks_go_through_http_proxy(proxy: Proxy, origin: BackgroundServer,
                                          write_config: Callable[[str], Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    proxy.hosts["app.internal"] = (origin.host, origin.port)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    results = _run(write_config, "http://app.internal")
    assert results == {"home": (True, results["home"][1]), "up": (True, results["up"][1])}
    assert set(proxy.seen) == {"GET http://app.internal/", "GET http://app.internal/up"}


@pytest.mark.component
def test_https_goes_through_the_proxy_as_a_tunnel_and_is_still_verified(
        proxy: Proxy, tls_origin: tuple[BackgroundServer, Path],
        write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    server, ca_file = tls_origin
    proxy.hosts["app.internal"] = (server.host, server.port)
    monkeypatch.setenv("https_proxy", proxy.url)
    results = _run(write_config, "https://app.internal", top=f"ca_file: {ca_file}\n")
    assert all(ok for ok, _ in results.values()), results
    assert set(proxy.seen) == {"CONNECT app.internal:443"}
    # The tunnel does not vouch for the far end: without the CA it is still untrusted.
    untrusted = _run(write_config, "https://app.internal")
    assert not untrusted["home"][0]
    assert "certificate not trusted" in untrusted["home"][1], untrusted


@pytest.mark.component
def test_no_proxy_hosts_are_reached_directly(proxy: Proxy, origin: BackgroundServer,
                                             write_config: Callable[[str], Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", f"localhost,{origin.host}")
    results = _run(write_config, origin.url)
    assert all(ok for ok, _ in results.values()), results
    assert proxy.seen == []


@pytest.mark.component
def test_a_proxy_that_is_down_is_named_without_its_password(
        origin: BackgroundServer, closed_port: int, write_config: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://egress:hunter2secret@127.0.0.1:{closed_port}")
    results = _run(write_config, "http://app.internal")
    ok, detail = results["home"]
    assert not ok
    assert f"could not reach the proxy 127.0.0.1:{closed_port}" in detail, detail
    assert "hunter2secret" not in detail


@pytest.mark.integration
def test_page_checks_go_through_the_proxy_too(proxy: Proxy, origin: BackgroundServer,
                                              write_config: Callable[[str], Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    proxy.hosts["app.internal"] = (origin.host, origin.port)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    path = write_config("apps:\n  internal:\n    url: http://app.internal\n    suite:\n"
                        "      - {name: page, page: /, expect: {text: Behind the proxy}, "
                        "retries: 0, timeout: 10}\n")
    [result] = run_app(load_config(path), "internal").results
    assert result.ok, result.detail
    assert "GET http://app.internal/" in proxy.seen


@pytest.mark.integration
def test_a_declared_read_goes_through_the_proxy_as_the_page_does(
        proxy: Proxy, origin: BackgroundServer, write_config: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The guard sends a declared read itself, out of the browser: it must leave the same way.
    proxy.hosts["app.internal"] = (origin.host, origin.port)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    path = write_config("apps:\n  internal:\n    url: http://app.internal\n"
                        "    reads: [POST /api/answer]\n    suite:\n"
                        "      - {name: page, page: /asks, expect: {text: the answer is 42}, "
                        "retries: 0, timeout: 10}\n")
    [result] = run_app(load_config(path), "internal").results
    assert result.ok, result.detail
    # Playwright's driver tunnels plain http too; either way it went through the proxy.
    assert {"POST http://app.internal/api/answer", "CONNECT app.internal:80"} & set(proxy.seen)


@pytest.mark.unit
@pytest.mark.parametrize(("url", "no_proxy", "bypassed"), [
    ("http://127.0.0.1:8000/", "localhost,127.0.0.1", True),
    ("http://api.example.com/", ".example.com", True),
    ("http://example.com/", "example.com", True),
    ("http://badexample.com/", "example.com", False),
    ("http://10.1.2.3/", "10.0.0.0/8", True),
    ("http://11.1.2.3/", "10.0.0.0/8", False),
    ("http://host:81/", "host:80", False),
    ("http://host/", "host:80", True),
    ("https://host/", "host:443", True),
    ("http://[::1]:5/", "::1", True),
    ("http://anything/", "*", True),
    ("http://anything/", "", False),
])
def test_no_proxy_is_read_as_curl_reads_it(url: str, no_proxy: str, bypassed: bool) -> None:
    import httpx

    from smokeseal.checks.http import _bypassed

    assert _bypassed(httpx.URL(url), no_proxy) is bypassed


@pytest.mark.unit
@pytest.mark.parametrize(("url", "environ", "expected"), [
    ("https://shop.example", {}, None),
    ("https://shop.example", {"HTTP_PROXY": "http://p:3128"}, None),
    # Only the variable of the app's scheme: the common "HTTPS_PROXY only" setup.
    ("https://shop.example", {"HTTPS_PROXY": "http://p:3128"}, {"server": "http://p:3128"}),
    ("http://shop.example", {"HTTP_PROXY": "p:3128"}, {"server": "http://p:3128"}),
    ("http://shop.example", {"ALL_PROXY": "HTTP://p:3128"}, {"server": "http://p:3128"}),
    # Chromium ignores credentials in the URL: given apart, decoded.
    ("https://shop.example", {"https_proxy": "http://egress:s%40cret@p:3128"},
     {"server": "http://p:3128", "username": "egress", "password": "s@cret"}),
    # NO_PROXY as curl means it: a bare name covers its subdomains.
    ("https://shop.example", {"HTTPS_PROXY": "http://p:3128",
                              "NO_PROXY": "internal, .corp,10.0.0.0/8,localhost:8080"},
     {"server": "http://p:3128",
      "bypass": "internal,*.internal,corp,*.corp,10.0.0.0/8,localhost:8080"}),
    ("https://api.internal", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "internal"}, None),
])
def test_the_browser_goes_out_the_way_the_http_checks_do_for_its_app(
        url: str, environ: dict[str, str], expected: dict[str, str] | None) -> None:
    from smokeseal.checks.http import browser_proxy

    assert browser_proxy(url, environ) == expected


@pytest.mark.integration
def test_an_authenticating_proxy_lets_the_page_get_and_read_through(
        proxy: Proxy, origin: BackgroundServer, write_config: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    proxy.hosts["app.internal"] = (origin.host, origin.port)
    proxy.credentials = "egress:s3cret!"
    # Only the variable of the app's scheme, upper-case scheme and all.
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "HTTP://egress:s3cret%21@"))
    path = write_config("apps:\n  internal:\n    url: http://app.internal\n"
                        "    reads: [POST /api/answer]\n    suite:\n"
                        "      - {name: page, page: /asks, expect: {text: the answer is 42}, "
                        "retries: 0, timeout: 10}\n"
                        "      - {name: get, get: /, retries: 0, timeout: 5}\n")
    results = {r.name: (r.ok, r.detail) for r in run_app(load_config(path), "internal").results}
    assert all(ok for ok, _ in results.values()), results
    assert not [line for line in proxy.seen if line.endswith("(407)") and "POST" in line]
    assert {"POST http://app.internal/api/answer", "CONNECT app.internal:80"} & set(proxy.seen)


@pytest.mark.component
def test_a_certificate_error_through_the_tunnel_is_productions_not_the_proxys(
        proxy: Proxy, tls_origin: tuple[BackgroundServer, Path],
        write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = tls_origin
    proxy.hosts["app.internal"] = (server.host, server.port)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    ok, detail = _run(write_config, "https://app.internal")["home"]
    assert not ok
    assert detail.startswith("https://app.internal: certificate not trusted"), detail
    assert "proxy" not in detail


@pytest.mark.unit
def test_a_socks_proxy_is_supported_and_an_unknown_scheme_is_named() -> None:
    import asyncio

    import httpx

    from smokeseal.checks.http import read_only_client

    async def ask(proxy: str) -> str:
        async with read_only_client(proxies={"all_proxy": proxy}) as client:
            try:
                await client.get("http://app.internal/")
            except httpx.HTTPError as exc:
                from smokeseal.checks.http import describe_http_error

                return describe_http_error(exc)
        return "answered"

    # socksio is installed: a SOCKS proxy is tried (and here, found closed), not refused.
    assert asyncio.run(ask("socks5://127.0.0.1:9")).startswith(
        "proxy error: could not reach the proxy 127.0.0.1:9")
    assert asyncio.run(ask("gopher://127.0.0.1:9")).startswith(
        "proxy error: proxy gopher:// is not supported")


@pytest.mark.component
def test_the_gate_goes_through_the_proxy_as_the_checks_do(proxy: Proxy, origin: BackgroundServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from smokeseal.config import Gate
    from smokeseal.ship import wait_for_gate

    proxy.hosts["app.internal"] = (origin.host, origin.port)
    monkeypatch.setenv("http_proxy", proxy.url)
    said: list[str] = []
    wait_for_gate("http://app.internal", Gate(timeout=5, interval=0.05), say=said.append)
    assert said[-1].startswith("gate: http://app.internal/up answered 200"), said
    assert proxy.seen == ["GET http://app.internal/up"]


@pytest.mark.component
def test_the_certificate_is_read_from_the_checks_tunnel(
        proxy: Proxy, tls_origin: tuple[BackgroundServer, Path],
        write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    server, ca_file = tls_origin
    proxy.hosts["app.internal"] = (server.host, server.port)
    monkeypatch.setenv("https_proxy", proxy.url)
    path = write_config(f"ca_file: {ca_file}\napps:\n  internal:\n    url: https://app.internal\n"
                        f"{SUITE}")
    run = run_app(load_config(path), "internal")
    assert [c.host for c in run.certificates] == ["app.internal"]
    assert set(proxy.seen) == {"CONNECT app.internal:443"}  # no HEAD: the checks had it


@pytest.mark.component
def test_doctor_goes_out_as_the_checks_do_through_the_proxy_trusting_ca_file(
        proxy: Proxy, tls_origin: tuple[BackgroundServer, Path],
        write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """Before: doctor ignored ca_file, and called a host the seal verified untrusted."""
    import os

    from smokeseal.doctor import diagnose

    server, ca_file = tls_origin
    proxy.hosts["app.internal"] = (server.host, server.port)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    path = write_config(f"ca_file: {ca_file}\napps:\n  internal:\n    url: https://app.internal\n")
    environ = {**os.environ, "https_proxy": proxy.url}
    found = [(f.ok, f.message) for f in diagnose(path, f"sqlite:///{tmp_path / 'l.db'}", environ)
             if f.area == "app internal"]
    assert found[:2] == [(True, 'canonical host: https://app.internal answers 200 ("Internal")'),
                         (True, "gate /up answers 200")]
    assert set(proxy.seen) == {"CONNECT app.internal:443"}
