"""The outbox: what to tell the sinks about a ship or a seal, and delivering it.

Messages are queued in the ledger in the same transaction as the change that caused them
(:func:`messages_for_ship`, :func:`messages_for_seal`). :func:`deliver` sends whatever is
due: each message is claimed under a lease first, so two processes (a ship and a flush)
never send the same message twice; 429s are honoured (``retry_after``/``Retry-After``),
5xx, timeouts and connection errors back off, other 4xx and an invalid URL fail for good
with the error kept; any other error is that message's (kept, retried), never the run's.
What is still pending stays for the next ``smokeseal outbox flush``.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from smokeseal.checks.base import USER_AGENT
from smokeseal.config import Config
from smokeseal.errors import SinkError
from smokeseal.ledger import Ledger, Message, NewMessage, Release
from smokeseal.seal import Seal, VerdictChange, verdict_change
from smokeseal.secrets import scrub, secrets_of
from smokeseal.sinks import discord, github, slack, webhook
from smokeseal.sinks.base import TIMEOUT, Sink
from smokeseal.sinks.text import seal_section, with_section

__all__ = ["DeliveryReport", "deliver", "deliver_quietly", "messages_for_seal",
           "messages_for_ship", "notes_with_seal", "told_late", "told_on"]

MAX_TRIES_PER_RUN = 5
#: The longest one request may take, whatever the run's budget: a sink that accepts and
#: never answers costs this much of it once, then is left for a later run.
REQUEST_TIMEOUT = 5.0
#: How long a message that failed in a run waits before a later run (not ``outbox flush``)
#: tries it again: 30 s after its first failing run, doubling per run, to an hour.
RUN_BACKOFF = 30.0
RUN_BACKOFF_MAX = 3600.0
#: A claim outlives any one run's budget, so a slow delivery never loses it midway.
LEASE_SECONDS = 600.0
_SINKS: tuple[type[Sink], ...] = (discord.DiscordSink, github.GithubSink, slack.SlackSink,
                                  webhook.WebhookSink)
#: The lines (a sink, or one kind of a sink) in which a release's messages go out in the
#: order they were queued: a thread people read, and each edit of the current verdict (so
#: that a newer seal's edit always lands after an older one's, whichever flusher sends it).
ORDERED: tuple[tuple[str, str | None], ...] = (
    *((sink.name, None) for sink in _SINKS if sink.ordered),
    *((sink.name, kind) for sink in _SINKS if not sink.ordered
      for kind in sorted(sink.shows_verdict)))


def messages_for_ship(config: Config) -> Callable[[Release], list[NewMessage]]:
    def build(release: Release) -> list[NewMessage]:
        app = config.app(release.app)
        return [*discord.messages_for_ship(app, release),
                *slack.messages_for_ship(app, release)]

    return build


def messages_for_seal(config: Config, release: Release, seal: Seal,
                      previous: str | None = None) -> list[NewMessage]:
    """What every sink is told about ``seal``; ``previous`` is the status of the seal the
    release showed before it (None: its first seal), see :func:`told_on`.

    A late seal (checked before the seal ``release`` shows, by a slower run that finished
    after a newer one) will never be shown: it tells only its record (the webhook's), no
    thread post, no alert, no edit, see :func:`told_late`.
    """
    app = config.app(release.app)
    change = verdict_change(previous, seal.status)
    messages = [*discord.messages_for_seal(app, release, seal, change),
                *github.messages_for_seal(app, release, seal),
                *slack.messages_for_seal(app, release, seal),
                *webhook.messages_for_seal(app, release, seal)]
    if _checked_before_shown(release, seal):
        return told_late(messages)
    return told_on(change, messages)


def told_late(messages: list[NewMessage]) -> list[NewMessage]:
    """The messages of a seal older than the one its release shows: only the records of it
    (a sink that is no thread, for a kind that neither shows nor changes the verdict)."""
    sinks = {sink.name: sink for sink in _SINKS}

    def record(message: NewMessage) -> bool:
        sink = sinks.get(message.sink)
        return sink is not None and not (
            message.kind == "alert" or sink.ordered or message.kind in sink.shows_verdict
            or message.kind in sink.on_change_only)

    return [m for m in messages if record(m)]


def _checked_before_shown(release: Release, seal: Seal) -> bool:
    shown = (release.smoke_seal or {}).get("checked_at")
    if not shown:
        return False
    try:
        return _when(seal.checked_at) < _when(str(shown))
    except ValueError:
        return False


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def told_on(change: VerdictChange, messages: list[NewMessage]) -> list[NewMessage]:
    """The messages a seal may send, given how its verdict moved, whatever the sink.

    A first seal, and one that broke the release, tell everything. A recovery tells all
    but an alert. A re-seal with the same verdict posts nothing to a thread (Discord, Slack)
    and makes no new deployment, nor an edit others are notified of (the GitHub release's
    body: each edit is a ``release.edited`` event): only the quiet edits that show the
    current verdict (the notes' seal line in Discord and Slack) are made, to show when
    production was last checked, and a sink that is no thread (the webhook) still gets its
    record of every seal.
    """
    if change in ("first", "broke"):
        return messages
    if change == "recovered":
        return [m for m in messages if m.kind != "alert"]
    sinks = {sink.name: sink for sink in _SINKS}

    def kept(message: NewMessage) -> bool:
        sink = sinks.get(message.sink)
        if sink is None:
            return True
        if message.kind == "alert" or message.kind in sink.on_change_only:
            return False
        return message.kind in sink.shows_verdict or not sink.ordered

    return [m for m in messages if kept(m)]


def notes_with_seal(seal: Seal) -> Callable[[str | None], str | None]:
    """The release notes with their seal section replaced (a re-seal never stacks two)."""
    section = seal_section(seal.to_dict())
    return lambda notes: with_section(notes, section)


@dataclass
class DeliveryReport:
    delivered: list[Message] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pending: int = 0
    failed: int = 0


def deliver(config: Config, ledger: Ledger, *, budget: float = 20.0,
            due_only: bool = True) -> DeliveryReport:
    """Send what is due (everything pending, with ``due_only=False``) within ``budget`` s."""
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + budget
    secrets = secrets_of(config)
    report = DeliveryReport()
    # Each app's sinks that stayed unreachable, why, and until when: not tried again in
    # this run, and their other messages wait as long as the one that was tried.
    down: dict[tuple[str, str], tuple[str, datetime | None]] = {}
    settled: set[int] = set()
    with httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}) as client:
        progress = True
        while progress and time.monotonic() < deadline:
            progress = False
            for message in ledger.claim(worker, LEASE_SECONDS, due_only=due_only,
                                        ordered=ORDERED):
                if message.id in settled:
                    ledger.finish(message.id, worker, attempted=False)
                    continue
                if (message.app, message.sink) in down:
                    why, until = down[(message.app, message.sink)]
                    ledger.finish(message.id, worker, attempted=False, error=f"not tried: {why}",
                                  retry_at=until if due_only else None)
                    continue
                try:
                    outcome = _deliver_one(config, ledger, client, worker, message, deadline,
                                           secrets, report)
                except Exception as exc:  # one message's error, never the whole run's
                    outcome = _unexpected(ledger, worker, message, exc, secrets, report)
                if outcome in ("delivered", "skipped", "failed", "superseded", "later"):
                    # Messages waiting on this one, or queued behind it, may go now; a
                    # message held for later has left the lane's share to newer ones.
                    progress = True
                if outcome != "waiting":
                    settled.add(message.id)
                if outcome == "down":
                    down[(message.app, message.sink)] = (
                        report.errors[-1], datetime.now(UTC) + timedelta(
                            seconds=_run_backoff(message.attempts)))
    remaining = ledger.messages(("pending",), limit=10_000)
    report.pending = len(remaining)
    return report


def deliver_quietly(config: Config, ledger: Ledger, budget: float = 20.0) -> list[str]:
    """:func:`deliver` for ``ship`` and ``seal``: problems become warnings, never errors."""
    try:
        report = deliver(config, ledger, budget=budget)
    except Exception as exc:
        return [f"could not deliver messages: {scrub(str(exc), secrets_of(config))}; "
                "they stay queued for `smokeseal outbox flush`"]
    warnings = list(report.errors)
    if report.pending:
        warnings.append(f"{report.pending} message(s) still queued; deliver them with "
                        "`smokeseal outbox flush`")
    return warnings


def _deliver_one(config: Config, ledger: Ledger, client: httpx.Client, worker: str,
                 message: Message, deadline: float, secrets: list[str],
                 report: DeliveryReport) -> str:
    before = None
    try:
        sink = _sink(config, message)
        if (latest := _superseded_by(ledger, sink, message)) is not None:
            ledger.finish(message.id, worker, attempted=False, superseded_by=latest)
            return "superseded"
        if message.after_key:
            before = ledger.message(message.after_key)
            if before is None or before.status in ("failed", "superseded"):
                before = None
                if message.kind in sink.edits_of_first:
                    # Nothing to edit (the release-notes message was never posted): done.
                    ledger.finish(message.id, worker, attempted=False, delivered=True,
                                  result={"skipped": "no release-notes message to edit: it "
                                                     "was never delivered"})
                    return "skipped"
                if message.kind not in sink.alone_without_first:
                    raise SinkError(f"{message.sink}: {message.kind}: the message it follows "
                                    "was never delivered", permanent=True)
            elif before.status != "delivered":
                ledger.finish(message.id, worker, attempted=False,
                              error=f"waiting for {before.sink} {before.kind} to be delivered")
                return "waiting"
    except SinkError as exc:
        error = scrub(str(exc), secrets)
        ledger.finish(message.id, worker, attempted=True, permanent=True, error=error)
        report.errors.append(error)
        report.failed += 1
        return "failed"
    for attempt in range(1, MAX_TRIES_PER_RUN + 1):
        limited = hung = False
        # A server that accepts and never answers costs REQUEST_TIMEOUT, and never more
        # than what is left of the run's budget.
        left = max(deadline - time.monotonic(), 0.5)
        client.timeout = httpx.Timeout(min(REQUEST_TIMEOUT, left))
        try:
            result = sink.send(client, message, before)
        except SinkError as exc:
            error = scrub(str(exc), secrets)
            if exc.later:
                # Held, not only backed off: even `outbox flush` waits for it, so the
                # lane's newer messages get claimed and GitHub is not asked again early.
                ledger.finish(message.id, worker, attempted=True, error=error, hold=True,
                              retry_at=datetime.now(UTC) + timedelta(
                                  seconds=exc.retry_after or _backoff(attempt)))
                report.errors.append(error)
                return "later"
            if exc.permanent:
                ledger.finish(message.id, worker, attempted=True, permanent=True, error=error)
                report.errors.append(error)
                report.failed += 1
                return "failed"
            limited = exc.retry_after is not None
            wait = exc.retry_after if exc.retry_after is not None else _backoff(attempt)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            # A broken address (a pasted newline, a bad port) never gets better by retrying.
            error = scrub(f"{message.sink}: {message.kind}: invalid URL: "
                          f"{type(exc).__name__}: {exc}", secrets)
            ledger.finish(message.id, worker, attempted=True, permanent=True, error=error)
            report.errors.append(error)
            report.failed += 1
            return "failed"
        except httpx.HTTPError as exc:
            error = scrub(f"{message.sink}: {message.kind}: could not reach it: "
                           f"{type(exc).__name__}: {exc}", secrets)
            wait = _backoff(attempt)
            # A sink that took a whole request's time to say nothing is not asked again
            # in this run: another try would spend the budget the other sinks need.
            hung = isinstance(exc, httpx.TimeoutException)
        except (KeyError, ValueError, TypeError) as exc:
            error = scrub(f"{message.sink}: {message.kind}: unexpected answer "
                           f"({type(exc).__name__}: {exc})", secrets)
            wait = _backoff(attempt)
        else:
            ledger.finish(message.id, worker, attempted=True, delivered=True, result=result)
            report.delivered.append(message)
            return "delivered"
        # Rate limits are honoured in-run; anything else gets a few quick tries at most,
        # then waits for a later run: longer after each run that failed (see RUN_BACKOFF).
        give_up = hung or attempt >= (MAX_TRIES_PER_RUN if limited else 3)
        if give_up or time.monotonic() + wait > deadline:
            later = wait if limited else max(wait, _run_backoff(message.attempts))
            ledger.finish(message.id, worker, attempted=True, error=error,
                          retry_at=datetime.now(UTC) + timedelta(seconds=later))
            report.errors.append(error)
            return "pending" if limited else "down"
        time.sleep(wait)
    raise AssertionError("unreachable")


def _unexpected(ledger: Ledger, worker: str, message: Message, exc: Exception,
                secrets: list[str], report: DeliveryReport) -> str:
    """Any other error while delivering ``message`` becomes its recorded error, retried later
    like a bad answer: the claim is given back now, not after the lease runs out."""
    error = scrub(f"{message.sink}: {message.kind}: failed: {type(exc).__name__}: {exc}",
                  secrets)
    ledger.finish(message.id, worker, attempted=True, error=error,
                  retry_at=datetime.now(UTC) + timedelta(
                      seconds=_run_backoff(message.attempts)))
    report.errors.append(error)
    return "pending"


def _superseded_by(ledger: Ledger, sink: Sink, message: Message) -> int | None:
    """The release's latest seal, when it is not the one ``message`` would show. Decided
    at delivery, not when queued: a slower pipeline's older seal may be recorded last."""
    if message.kind not in sink.shows_verdict or message.seal_id is None:
        return None
    latest = ledger.latest_seal_id(message.release_id)
    if latest is None or latest == message.seal_id:
        return None
    if message.kind in sink.on_change_only and "status" in message.payload and \
            ledger.release(message.release_id).seal_status == message.payload["status"]:
        # The latest seal kept the verdict and made no edit of its own: this one shows it.
        return None
    return latest


def _backoff(attempt: int) -> float:
    return float(min(0.5 * 2 ** (attempt - 1), 30.0))


def _run_backoff(attempts: int) -> float:
    """The wait after a run that failed to deliver a message tried in ``attempts`` runs
    before: 30 s, 1 min, 2 min, … up to an hour."""
    return float(min(RUN_BACKOFF * 2 ** min(attempts, 12), RUN_BACKOFF_MAX))


def _sink(config: Config, message: Message) -> Sink:
    notify = config.app(message.app).notify if message.app in config.apps else None
    if message.sink == "discord" and notify and notify.discord:
        return discord.DiscordSink(notify.discord)
    if message.sink == "github" and notify and notify.github_release:
        return github.GithubSink(notify.github_release)
    if message.sink == "slack" and notify and notify.slack:
        return slack.SlackSink(notify.slack)
    if message.sink == "webhook" and notify and notify.webhook:
        return webhook.WebhookSink(notify.webhook)
    raise SinkError(f"{message.sink}: not configured for app {message.app} any more",
                    permanent=True)

