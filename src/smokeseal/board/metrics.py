"""``GET /metrics``: the ledger as Prometheus metrics, read fresh on every scrape.

Imported only when ``/metrics`` is first asked for: prometheus_client is not needed to
serve pages or to smoke an app. Each scrape builds its metric families from five ledger
statements whatever the number of apps (each app's newest shipped release, which apps are
rolled back, and the outbox counted by sink and status; never a release's notes) and
renders them through a :class:`CollectorRegistry` of its own, so nothing is kept between
scrapes, or shared between two boards in one process (tests start many).

An app's metrics describe what production runs now, as the badge does: the newest shipped,
not abandoned release, and its latest seal. Times are Unix timestamps, the Prometheus way
(``time() - smokeseal_last_seal_timestamp_seconds`` is the seal's age). Label values are
production's and the config's text (check names, versions): prometheus_client escapes
backslashes, quotes and newlines; a value is cut to :data:`MAX_LABEL` characters, because
a scraper with ``label_value_length_limit`` set fails the whole scrape on a longer one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from pydantic import ValidationError

from smokeseal import __version__
from smokeseal.ledger import Ledger, OutboxTally, Release
from smokeseal.seal import CheckRecord

__all__ = ["MAX_LABEL", "OUTBOX_STATUSES", "SEAL_STATES", "SINKS", "exposition", "families"]

#: What ``smokeseal_seal_state`` says of an app: its current release sealed green or red,
#: shipped and awaiting its seal, nothing shipped (only assembled or abandoned releases), or
#: rolled back (its newest release abandoned after it shipped, nothing checked since).
SEAL_STATES = ("green", "red", "pending", "none", "rolled_back")
OUTCOMES = ("passed", "flaky", "failed", "skipped")
#: Sinks always reported (0 when nothing is queued), so an alert has a series to watch.
SINKS = ("discord", "github", "slack", "webhook")
OUTBOX_STATUSES = ("pending", "failed")
MAX_LABEL = 200


def _label(value: Any) -> str:
    text = str(value)
    if len(text) > MAX_LABEL:
        text = text[:MAX_LABEL - 1] + "…"
    # A lone surrogate (a damaged record) cannot be encoded: it must not cost the scrape.
    return text.encode("utf-8", "replace").decode("utf-8")


def _timestamp(value: datetime | str | None) -> float | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value.timestamp() if isinstance(value, datetime) and value.tzinfo else None


def _checks(seal: dict[str, Any]) -> Iterator[CheckRecord]:
    """The seal's checks, each once by name (a damaged record may repeat one, and two
    samples with the same labels would make the scrape invalid)."""
    seen: set[str] = set()
    for raw in seal.get("checks") or []:
        try:
            check = CheckRecord.model_validate(raw)
        except ValidationError:
            continue
        name = _label(check.name)
        if name not in seen:
            seen.add(name)
            yield check


def _certificates(seal: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """The seal's certificates, each host once, as (host, expiry timestamp); records from
    before them have none, and a damaged entry is left out."""
    seen: set[str] = set()
    for raw in seal.get("certificates") or []:
        if not isinstance(raw, dict):
            continue
        host, expires = _label(raw.get("host", "")), _timestamp(raw.get("expires_at"))
        if host and expires is not None and host not in seen:
            seen.add(host)
            yield host, expires


class _Families:
    def __init__(self) -> None:
        def gauge(name: str, help_text: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, help_text, labels=labels)

        self.build = gauge("smokeseal_build_info", "The smokeseal serving these metrics.",
                           ["version"])
        self.state = gauge(
            "smokeseal_seal_state",
            "1 for the state of the app's current (newest shipped) release: green, red, "
            "pending (shipped, not sealed yet) or none (nothing shipped); 0 for the others.",
            ["app", "state"])
        self.green = gauge(
            "smokeseal_seal_green",
            "1 when the app's current release is sealed green, 0 when red; absent while it "
            "has no seal.", ["app"])
        self.release = gauge(
            "smokeseal_release_info",
            "The app's current (newest shipped, not abandoned) release; always 1.",
            ["app", "version", "sha", "release_id"])
        self.shipped = gauge("smokeseal_release_shipped_timestamp_seconds",
                             "When the app's current release was marked shipped.", ["app"])
        self.sealed = gauge(
            "smokeseal_last_seal_timestamp_seconds",
            "When the latest seal of the app's current release checked production "
            "(its checked_at); time() minus this is the seal's age.", ["app"])
        self.seal_duration = gauge("smokeseal_seal_duration_seconds",
                                   "How long the latest seal's suite ran.", ["app"])
        self.outcomes = gauge(
            "smokeseal_seal_checks",
            "Checks of the latest seal by outcome (passed, flaky, failed, skipped).",
            ["app", "outcome"])
        self.check_duration = gauge("smokeseal_check_duration_seconds",
                                    "How long each check of the latest seal took.",
                                    ["app", "check"])
        self.check_ok = gauge("smokeseal_check_ok",
                              "1 when the check passed in the latest seal (on its first try "
                              "or a retry), 0 when it failed or was skipped.",
                              ["app", "check"])
        self.check_flaky = gauge("smokeseal_check_flaky",
                                 "1 when the check failed and then passed on its retry in "
                                 "the latest seal.", ["app", "check"])
        self.outbox = gauge(
            "smokeseal_outbox_messages",
            "Outgoing messages still to deliver (pending) or given up on (failed), by sink.",
            ["sink", "status"])
        self.oldest = gauge(
            "smokeseal_outbox_oldest_pending_timestamp_seconds",
            "When the oldest message still pending for the sink was queued.", ["sink"])
        self.certificate = gauge(
            "smokeseal_certificate_expiry_timestamp_seconds",
            "When the leaf certificate of each https host of the app expires, as the latest "
            "seal read it; minus time() it is the time left.", ["app", "host"])

    def all(self) -> list[Metric]:
        return [self.build, self.state, self.green, self.release, self.shipped, self.sealed,
                self.seal_duration, self.outcomes, self.check_duration, self.check_ok,
                self.check_flaky, self.outbox, self.oldest, self.certificate]

    def app(self, name: str, current: Release | None, rolled_back: bool = False) -> None:
        app = _label(name)
        seal = current.smoke_seal if current is not None else None
        seal = seal if isinstance(seal, dict) else None
        status = seal.get("status") if seal else None
        state = ("rolled_back" if rolled_back else "none" if current is None else
                 status if status in ("green", "red") else "pending")
        for each in SEAL_STATES:
            self.state.add_metric([app, each], 1.0 if each == state else 0.0)
        # After a rollback what runs was not checked: no earlier seal speaks for it.
        if current is None or rolled_back:
            return
        self.release.add_metric([app, _label(current.version), _label(current.sha),
                                 str(current.id)], 1.0)
        if (shipped := _timestamp(current.shipped_at)) is not None:
            self.shipped.add_metric([app], shipped)
        if seal is None or state == "pending":
            return
        self.green.add_metric([app], 1.0 if state == "green" else 0.0)
        if (checked := _timestamp(seal.get("checked_at"))) is not None:
            self.sealed.add_metric([app], checked)
        if isinstance(ms := seal.get("duration_ms"), int | float):
            self.seal_duration.add_metric([app], ms / 1000)
        tally = dict.fromkeys(OUTCOMES, 0)
        for check in _checks(seal):
            tally[check.outcome] = tally.get(check.outcome, 0) + 1
            labels = [app, _label(check.name)]
            if check.duration_ms is not None:
                self.check_duration.add_metric(labels, check.duration_ms / 1000)
            self.check_ok.add_metric(labels, 1.0 if check.outcome in ("passed", "flaky")
                                     else 0.0)
            self.check_flaky.add_metric(labels, 1.0 if check.flaky else 0.0)
        for outcome, count in tally.items():
            self.outcomes.add_metric([app, outcome], count)
        for host, expires in _certificates(seal):
            self.certificate.add_metric([app, host], expires)

    def messages(self, tallies: Iterable[OutboxTally]) -> None:
        counts = {(sink, status): 0 for sink in SINKS for status in OUTBOX_STATUSES}
        for tally in tallies:
            counts[(_label(tally.sink), tally.status)] = tally.count
            if tally.status == "pending" and (oldest := _timestamp(tally.oldest)) is not None:
                self.oldest.add_metric([_label(tally.sink)], oldest)
        for (sink, status), count in sorted(counts.items()):
            self.outbox.add_metric([sink, status], count)


def families(ledger: Ledger) -> list[Metric]:
    """Every metric, from the ledger as it is now (reads only; the caller bounds them)."""
    found = _Families()
    found.build.add_metric([__version__], 1.0)
    # Five statements in all, whatever the number of apps; never a release's notes.
    rolled_back = ledger.rollbacks()
    for name, current in ledger.current_releases(notes=False).items():
        found.app(name, current, rolled_back=name in rolled_back)
    found.messages(ledger.outbox_tallies(OUTBOX_STATUSES))
    return found.all()


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def exposition(ledger: Ledger, accept: str = "") -> tuple[bytes, str]:
    """The metrics as the scraper asked for them (``Accept``): the Prometheus text format,
    or OpenMetrics; the body and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families(ledger)))
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type
