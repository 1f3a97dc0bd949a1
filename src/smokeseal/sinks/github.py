"""GitHub: the seal section on the GitHub release whose tag is the version, and optionally a
deployment status for the production environment.

Rate limits: 403 with ``x-ratelimit-remaining: 0`` (wait until ``x-ratelimit-reset``), and
403 or 429 with ``retry-after`` (secondary limits) are retried; other 4xx are not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from smokeseal.config import App, GithubRelease
from smokeseal.errors import SinkError
from smokeseal.ledger import Message, NewMessage, Release
from smokeseal.seal import Seal
from smokeseal.sinks.base import Sink, error_text, raise_for_answer
from smokeseal.sinks.text import seal_section, with_section

__all__ = ["GithubSink", "messages_for_seal"]


def messages_for_seal(app: App, release: Release, seal: Seal) -> list[NewMessage]:
    settings = app.notify.github_release
    if settings is None:
        return []
    key = "seal:{seal_id}:github:"
    out = [NewMessage("github", "release_body", key + "release_body",
                      {"tag": release.version, "section": seal_section(seal.to_dict()),
                       "status": seal.status})]
    if settings.deployment_status:
        out += [
            NewMessage("github", "deployment", key + "deployment",
                       {"sha": release.sha, "environment": settings.environment,
                        "description": f"{release.app} {release.version}"}),
            NewMessage("github", "deployment_status", key + "deployment_status",
                       {"state": "success" if seal.green else "failure",
                        "environment_url": app.url,
                        "description": f"smoke seal {seal.status}: {seal.summary}"[:140]},
                       after_key=key + "deployment"),
        ]
    return out


class GithubSink(Sink):
    name = "github"
    shows_verdict = frozenset({"release_body"})  # the seal section of the release's body
    # Each edit of the body is a `release.edited` event (which may start workflows): made
    # only when the verdict changes, never by a re-seal with the same verdict.
    on_change_only = frozenset({"deployment", "deployment_status", "release_body"})

    def __init__(self, settings: GithubRelease) -> None:
        self.settings = settings

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}",
                "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}

    def _api(self, path: str) -> str:
        return f"{self.settings.api_url}/repos/{self.settings.repo}{path}"

    def _check(self, what: str, response: httpx.Response) -> None:
        limited = response.status_code == 403 and (
            response.headers.get("x-ratelimit-remaining") == "0"
            or "retry-after" in response.headers)
        raise_for_answer("github", what, response, rate_limited=limited)

    def send(self, client: httpx.Client, message: Message,
             before: Message | None) -> dict[str, Any]:
        headers = self._headers()
        payload = message.payload
        if message.kind == "release_body":
            return self._release_body(client, message)
        if message.kind == "deployment":
            made = client.post(self._api("/deployments"), headers=headers, json={
                "ref": payload["sha"], "environment": payload["environment"],
                "description": payload["description"], "auto_merge": False,
                "required_contexts": [], "production_environment": True})
            self._check("creating the deployment", made)
            return {"deployment_id": made.json()["id"]}
        assert message.kind == "deployment_status" and before is not None and before.result
        status = client.post(
            self._api(f"/deployments/{before.result['deployment_id']}/statuses"),
            headers=headers, json=payload)
        self._check("recording the deployment status", status)
        return {"status_id": status.json().get("id")}

    def _release_body(self, client: httpx.Client, message: Message) -> dict[str, Any]:
        headers = self._headers()
        tag = str(message.payload["tag"])
        # A version may hold '#', '?', '%', '/' or a space: one path segment, escaped.
        found = client.get(self._api(f"/releases/tags/{quote(tag, safe='')}"), headers=headers)
        if found.status_code == 404:
            self._missing_release(client, message, tag, found)
        self._check(f"finding the release tagged {tag}", found)
        release = found.json()
        body = with_section(release.get("body"), message.payload["section"])
        if body != release.get("body"):
            changed = client.patch(self._api(f"/releases/{release['id']}"), headers=headers,
                                   json={"body": body})
            self._check("updating the release body", changed)
        return {"release_id": release["id"]}

    def _missing_release(self, client: httpx.Client, message: Message, tag: str,
                         found: httpx.Response) -> None:
        """A 404 for the tag: a release made after the deploy (or a draft, which GitHub
        hides from this endpoint) is waited for, until ``wait_for_release`` from when the
        message was queued; a repository the token cannot see fails at once."""
        repository = client.get(self._api(""), headers=self._headers())
        if repository.status_code == 404:
            raise SinkError(f"github: finding the release tagged {tag}: no repository "
                            f"{self.settings.repo}, or the token cannot see it "
                            f"(404{error_text(found)})", permanent=True)
        self._check(f"finding the repository {self.settings.repo}", repository)
        bound = timedelta(seconds=self.settings.wait_for_release)
        until = message.created_at + bound
        left = (until - datetime.now(UTC)).total_seconds()
        if left <= 0:
            raise SinkError(f"github: gave up after {_span(bound)}: no GitHub release for tag "
                            f"{tag}", permanent=True)
        # A minute, doubling per try up to an hour, and a last try right at the bound.
        wait = min(60.0 * 2 ** min(message.attempts, 6), 3600.0, left)
        raise SinkError(f"github: GitHub has no release for tag {tag} yet; retrying until "
                        f"{until:%Y-%m-%d %H:%M} UTC", retry_after=wait, later=True)


def _span(length: timedelta) -> str:
    """``24 h``, ``90 min``, ``45 s``: a configured bound, as people say it."""
    seconds = round(length.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
