"""A private CA for the browser: Chromium's flags, from a CA file.

Chromium takes no CA file. What it does take is
``--ignore-certificate-errors-spki-list``: a chain in which a certificate's key (the
SHA-256 of its SubjectPublicKeyInfo) is listed passes. Two facts, proven by
``tests/checks/test_private_ca.py``, shape how it is used:

* Chromium honours it with a ``--user-data-dir`` (Playwright always passes one) and matches
  only the certificates the server *presents*. A CA's key helps when the server sends that
  CA (an intermediate, usually), never for a root the server leaves out, as most do.
* So for each https origin of the app, the chain is first verified here, by Python, against
  the CA file alone (name, dates, signatures); the key of the leaf that passed is listed
  too. A leaf that the public roots already trust needs nothing and gets nothing.

A listed key makes Chromium skip *every* check of a chain that holds it, expiry and name
included: only keys of the CA file that no public store has, and leaves Python has just
verified, are listed. HTTP checks verify every request themselves and still catch an
expired or misnamed certificate.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import re
import socket
import ssl
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
#: A handshake to an app's origin, to see which leaf it presents, gives up after this.
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


def ca_keys(ca_file: str | Path) -> list[str]:
    """The keys of the certificates in ``ca_file`` that no public store holds: a full system
    bundle given as ``SSL_CERT_FILE`` must not switch checks off for the public CAs."""
    public = _public_keys()
    return sorted({h for c in _read_pems(ca_file) if (h := spki_hash(c)) not in public})


def _is_public_bundle(ca_file: str) -> bool:
    """``SSL_CERT_FILE`` is often the system bundle itself: nothing to list, and reading
    every certificate in it would delay the browser's launch by a tenth of a second."""
    import os

    defaults = (ssl.get_default_verify_paths().openssl_cafile,)
    try:
        return any(os.path.exists(d) and os.path.samefile(ca_file, d) for d in defaults if d)
    except OSError:
        return False


def _leaf_key(host: str, port: int, context: ssl.SSLContext) -> str | None:
    """The key of the leaf ``host:port`` presents when ``context`` verifies it, else None."""
    try:
        with socket.create_connection((host, port), timeout=HANDSHAKE_TIMEOUT) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    from cryptography import x509

    return spki_hash(x509.load_der_x509_certificate(der)) if der else None


def _private_leaf_key(host: str, port: int, ca_file: str) -> str | None:
    import certifi

    if _leaf_key(host, port, ssl.create_default_context(cafile=certifi.where())):
        return None  # publicly trusted: Chromium needs no help
    return _leaf_key(host, port, ssl.create_default_context(cafile=ca_file))


def browser_trust_args(ca_file: str | None, app_urls: Iterable[str] = ()) -> tuple[str, ...]:
    """The flag that makes Chromium trust ``ca_file`` (see the module's docstring), or none."""
    if not ca_file or _is_public_bundle(ca_file):
        return ()
    keys = ca_keys(ca_file)
    hosts = sorted({(o[1], o[2]) for u in app_urls
                    if (o := origin_of(u)) is not None and o[0] == "https"})
    if hosts:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            leaves: Sequence[str | None] = list(pool.map(
                lambda hp: _private_leaf_key(hp[0], hp[1], ca_file), hosts))
        keys = sorted({*keys, *(k for k in leaves if k)})
    return (f"{SPKI_FLAG}={','.join(keys)}",) if keys else ()
