"""When the certificates of an app's https origins expire, read during the run.

An expired certificate is an outage the seal can see coming. The leaf's expiry is read from
the TLS connection a check already made (httpcore hands the stream to the response:
``network_stream`` → ``ssl_object`` → ``getpeercert()``), so a check costs nothing more; an
https origin no check connected to (an alias, or a suite of page checks only) gets one HEAD
of its root, whose answer is not read. The expiry of every origin is recorded on the seal
(for ``/metrics``); one within ``cert_warn_days`` is a note on it. A certificate that does
not verify (expired, not trusted, for another name) stays a failure of the check that met
it: only a verified leaf is read here.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from smokeseal.access import Origin, origin_of

__all__ = ["PROBE_TIMEOUT", "Certificate", "CertificateLog", "expiry_notes", "host_label",
           "leaf_expiry", "read_certificates"]

#: The most the HEADs to origins no check connected to may take, all together.
PROBE_TIMEOUT = 5.0
_DAY = 86400.0


@dataclass(frozen=True)
class Certificate:
    """When the leaf certificate an https origin presented expires."""

    #: ``app.example.com``, with ``:port`` when not 443.
    host: str
    expires_at: datetime

    def to_dict(self) -> dict[str, str]:
        return {"host": self.host, "expires_at": self.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def host_label(origin: Origin) -> str:
    _, host, port = origin
    return host if port == 443 else f"{host}:{port}"


def leaf_expiry(response: httpx.Response) -> datetime | None:
    """The expiry of the leaf certificate of ``response``'s TLS connection, or None (plain
    http, or a stream that does not say)."""
    stream: Any = response.extensions.get("network_stream")
    try:
        tls = stream.get_extra_info("ssl_object") if stream is not None else None
        # Without binary_form, getpeercert gives the fields only of a verified certificate:
        # every https connection of the checks is verified.
        peer = tls.getpeercert() if isinstance(tls, ssl.SSLObject | ssl.SSLSocket) else None
        not_after = peer.get("notAfter") if peer else None
        if not isinstance(not_after, str):
            return None
        return datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
    except (AttributeError, ValueError, OSError):
        return None


class CertificateLog:
    """The leaf expiry of every https origin the checks' client connected to, kept by the
    client's transport as answers come (the first one per origin: a run is short)."""

    def __init__(self) -> None:
        self._seen: dict[Origin, datetime] = {}

    def record(self, url: httpx.URL, response: httpx.Response) -> None:
        origin = origin_of(str(url))
        if origin is None or origin[0] != "https" or origin in self._seen:
            return
        if (expires := leaf_expiry(response)) is not None:
            self._seen[origin] = expires

    def get(self, origin: Origin) -> datetime | None:
        return self._seen.get(origin)


async def read_certificates(client: httpx.AsyncClient, log: CertificateLog,
                            urls: Sequence[str], timeout: float = PROBE_TIMEOUT
                            ) -> tuple[list[Certificate], dict[Origin, str]]:
    """The certificate of each https origin of ``urls``: from ``log`` where a check's
    connection gave it, else from one HEAD of the origin (through ``client``, whose
    transport keeps it in ``log``), all within ``timeout`` s. Also why the certificate of
    an origin was refused there, by origin (a check meeting it fails; an alias no check
    visits would go unseen otherwise)."""
    from smokeseal.checks.http import describe_http_error

    origins = list(dict.fromkeys(o for u in urls if (o := origin_of(u)) is not None
                                 and o[0] == "https"))
    refused: dict[Origin, str] = {}

    async def probe(origin: Origin) -> None:
        url = f"https://{host_label(origin)}/"
        try:
            async with client.stream("HEAD", url, follow_redirects=False):
                pass
        except httpx.HTTPError as exc:
            said = describe_http_error(exc, url)
            if "certificate" in said or "TLS error" in said:
                refused[origin] = said

    missing = [o for o in origins if log.get(o) is None]
    if missing and timeout > 0:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(probe(o) for o in missing))
        except TimeoutError:
            pass  # what answered in time is in the log; the rest is not known this run
    found = [Certificate(host_label(o), expires) for o in origins
             if (expires := log.get(o)) is not None]
    return found, refused


def expiry_notes(certificates: Sequence[Certificate], warn_days: int,
                 now: datetime | None = None) -> list[str]:
    """``certificate for app.example.com expires in 2 days, 2026-12-06`` for each
    certificate that expires within ``warn_days`` days (none with 0)."""
    now = now or datetime.now(UTC)
    notes = []
    for certificate in certificates:
        left = (certificate.expires_at - now).total_seconds()
        if warn_days <= 0 or left > warn_days * _DAY:
            continue
        day = certificate.expires_at.strftime("%Y-%m-%d")
        notes.append(f"certificate for {certificate.host} {_in(left)}, {day}")
    return notes


def _in(seconds: float) -> str:
    if seconds <= 0:
        return "has expired"
    if seconds < _DAY:
        hours = max(1, round(seconds / 3600))
        return f"expires in {hours} hour{'s' * (hours != 1)}"
    days = round(seconds / _DAY)
    return f"expires in {days} day{'s' * (days != 1)}"
