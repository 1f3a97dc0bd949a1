"""A private CA for the browser: Chromium's flags, from a CA file.

Chromium takes no CA file. What it does take is
``--ignore-certificate-errors-spki-list``: a chain in which a certificate's key (the
SHA-256 of its SubjectPublicKeyInfo) is listed passes. Two facts, proven by
``tests/checks/test_private_ca.py``, shape how it is used:

* Chromium honours it with a ``--user-data-dir`` (Playwright always passes one) and matches
  only the certificates the server *presents*. A CA's key helps when the server sends that
  CA, never for a root the server leaves out, as most do.
* So for each https origin of the app, the chain is first verified here, by Python, against
  the CA file alone (name, dates, signatures); the key of the leaf that passed is listed
  too. A leaf that the public roots already trust needs nothing and gets nothing.

A listed key makes Chromium skip *every* check of a chain that holds it, expiry and name
included. So from the CA file only the keys of its *roots* are listed: self-signed CA
certificates (issuer and subject the same, the signature its own, ``CA:TRUE``) that no
public store has. An intermediate or a leaf in the file is never listed: an
``SSL_CERT_FILE`` holding a cat'd ``fullchain.pem`` would otherwise switch name and expiry
checks off for every site that intermediate signed. The only other keys listed are the
leaves Python has just verified for the app's own https hosts. HTTP checks verify every
request themselves and still catch an expired or misnamed certificate."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from smokeseal.access import origin_of

if TYPE_CHECKING:
    from cryptography import x509

# cryptography is imported only where a CA file is given: the browser is launched before
# the config is read, and most runs have none.

__all__ = ["SPKI_FLAG", "browser_trust_args", "ca_keys", "spki_hash"]

SPKI_FLAG = "--ignore-certificate-errors-spki-list"
#: The handshakes to the app's origins, to see which leaf each presents, give up after this
#: in all (name lookup, connect and both handshakes of every origin, at once): a server
#: that drips its answer, or a name that takes long to resolve, holds the launch no longer.
HANDSHAKE_TIMEOUT = 5.0


def spki_hash(certificate: x509.Certificate) -> str:
    """Base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo, as Chromium wants."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    spki = certificate.public_key().public_bytes(Encoding.DER,
                                                 PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def _read_pems(path: str | Path) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle that can be read; one odd certificate (system
    bundles hold a few that newer parsers frown on) does not lose the others."""
    from cryptography import x509

    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    found = []
    for block in _PEM.findall(data):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                found.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return found


@cache
def _public_keys() -> frozenset[str]:
    """The keys of the CAs every client already trusts: certifi's and the system's."""
    import certifi

    files = [certifi.where(), ssl.get_default_verify_paths().openssl_cafile]
    return frozenset(spki_hash(c) for f in files if f for c in _read_pems(f))


def _is_root(certificate: x509.Certificate) -> bool:
    """Whether ``certificate`` is a CA's own root: self-signed (issuer is subject and the
    signature checks with its own key) and ``CA:TRUE``. Intermediates and leaves are not."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an odd serial number, say (see _read_pems)
        try:
            if certificate.issuer != certificate.subject:
                return False
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
            if not constraints.value.ca:
                return False
            certificate.verify_directly_issued_by(certificate)
        except (x509.ExtensionNotFound, InvalidSignature, ValueError, TypeError):
            return False
    return True


def ca_keys(ca_file: str | Path) -> list[str]:
    """The keys of the roots in ``ca_file`` that no public store holds (see the module's
    docstring: never an intermediate's or a leaf's). A full system bundle given as
    ``SSL_CERT_FILE`` must not switch checks off for the public CAs."""
    public = _public_keys()
    return sorted({h for c in _read_pems(ca_file)
                   if (h := spki_hash(c)) not in public and _is_root(c)})


def _is_public_bundle(ca_file: str) -> bool:
    """``SSL_CERT_FILE`` is often the system bundle itself: nothing to list, and reading
    every certificate in it would delay the browser's launch by a tenth of a second."""
    import os

    defaults = (ssl.get_default_verify_paths().openssl_cafile,)
    try:
        return any(os.path.exists(d) and os.path.samefile(ca_file, d) for d in defaults if d)
    except OSError:
        return False


def _leaf_key(host: str, port: int, context: ssl.SSLContext, deadline: float) -> str | None:
    """The key of the leaf ``host:port`` presents when ``context`` verifies it, else None;
    None too once ``deadline`` (of :func:`time.monotonic`) has passed."""
    try:
        with socket.create_connection((host, port), timeout=_left(deadline)) as raw:
            # The socket's timeout bounds a whole handshake (CPython's, since 3.5), not each
            # read of it; what connecting took is taken off.
            raw.settimeout(_left(deadline))
            with context.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError, ValueError):  # ValueError: the deadline has passed
        return None
    from cryptography import x509

    return spki_hash(x509.load_der_x509_certificate(der)) if der else None


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ValueError("deadline passed")
    return left


def _private_leaf_key(host: str, port: int, ca_file: str, deadline: float) -> str | None:
    import certifi

    if _leaf_key(host, port, ssl.create_default_context(cafile=certifi.where()), deadline):
        return None  # publicly trusted: Chromium needs no help
    return _leaf_key(host, port, ssl.create_default_context(cafile=ca_file), deadline)


def _private_leaf_keys(hosts: Sequence[tuple[str, int]], ca_file: str,
                       timeout: float) -> list[str]:
    """:func:`_private_leaf_key` of every host at once, all within ``timeout`` seconds. A
    host that has not answered by then lists nothing (its page checks fail, saying the
    certificate is not trusted); its thread, a daemon, is left to its socket's timeout."""
    deadline = time.monotonic() + timeout
    found: dict[tuple[str, int], str | None] = {}

    def probe(host: str, port: int) -> None:
        found[host, port] = _private_leaf_key(host, port, ca_file, deadline)

    threads = [threading.Thread(target=probe, args=hp, daemon=True,
                                name=f"smokeseal-tls-{hp[0]}") for hp in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    return [k for hp in hosts if (k := found.get(hp))]


def browser_trust_args(ca_file: str | None, app_urls: Iterable[str] = (), *,
                       timeout: float = HANDSHAKE_TIMEOUT) -> tuple[str, ...]:
    """The flag that makes Chromium trust ``ca_file`` (see the module's docstring), or none.
    Looking at the leaves of ``app_urls``' https origins takes ``timeout`` seconds at most."""
    if not ca_file or _is_public_bundle(ca_file):
        return ()
    keys = ca_keys(ca_file)
    hosts = sorted({(o[1], o[2]) for u in app_urls
                    if (o := origin_of(u)) is not None and o[0] == "https"})
    if hosts:
        keys = sorted({*keys, *_private_leaf_keys(hosts, ca_file, timeout)})
    return (f"{SPKI_FLAG}={','.join(keys)}",) if keys else ()
