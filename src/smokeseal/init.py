"""``smokeseal init``: a commented ``smokeseal.yml`` with the generic health suite."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass

import httpx

__all__ = ["INTERNAL_ROUTES", "Probe", "app_name_for", "config_text", "probe"]

#: Routes that no production app should serve publicly; a team adds its own.
INTERNAL_ROUTES = (("devops hidden", "/devops"), ("env file hidden", "/.env"),
                   ("git hidden", "/.git/config"))
PLACEHOLDER_URL = "https://app.example.com"


def app_name_for(url: str | None) -> str:
    """``https://shop.example.com`` -> ``shop``; an IP address or localhost -> ``app``."""
    if not url:
        return "app"
    host = httpx.URL(url).host
    if not host or re.fullmatch(r"[\d.]+|\[?[0-9a-f:]+\]?|localhost", host):
        return "app"
    labels = [label for label in host.split(".") if label not in ("www", "app", "web")]
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", labels[0] if labels else host.split(".")[0])
    return name.strip("-").lower() or "app"


def config_text(url: str | None, app: str) -> str:
    """The config, every key explained; valid as written."""
    shown = url or PLACEHOLDER_URL
    routes = "\n".join(f"      - {{name: {name}, get: {path}, expect: {{status: 404}}}}"
                       for name, path in INTERNAL_ROUTES)
    edit = "" if url else "    # TODO: your production URL\n"
    return f"""\
# smokeseal.yml, written by `smokeseal init` for {shown}.
# After each edit: `smokeseal doctor` checks it, `prod-smoke {app}` runs the suite.

# The ledger of releases and seals. SQLite beside this file by default; a shared
# PostgreSQL when pipelines run on many machines: postgresql://user@host/dbname
# database_url: sqlite:///smokeseal.db

apps:
  {app}:
    # The canonical production URL: the suite tests exactly this host.
{edit}    url: {json.dumps(shown)}
    # Other hosts that must redirect to (or serve) the same app; doctor checks them.
    # aliases: ["https://www.example.com"]
    # The branch you release from (for the revert command printed on red).
    release_branch: main
    # What `smokeseal ship {app}` runs to deploy. Leave it out when your pipeline deploys
    # and records releases with `smokeseal release create --shipped`.
    # deploy: "kamal deploy"
    # The hard gate after a deploy: this path must answer 200 within `timeout` seconds.
    gate: {{path: /up, timeout: 120, interval: 2}}
    # How to read the revision production serves, so the gate waits for the new build and
    # the seal is red while an old one still answers: a JSON key, a header or a pattern.
    # version: {{path: /version, json: sha}}
    # Read-only checks, run against url after every ship. `page` opens a real browser and
    # fails on a bad status, an uncaught page error, a same-origin script or stylesheet
    # that does not load, a page with no visible text, or ending on another host; `get`
    # is one HTTP GET. expect: status (a number or a list), selector (visible), text
    # (waited for), not_text (must be absent), error_shell (a short page saying
    # "Something went wrong" and the like), title, header, max_ms, no_writes.
    # A failed check is tried once more (retries: 0 turns that off); a pass on the retry
    # is flaky: the seal stays green and names it.
    suite:
      - {{name: home renders, page: /, expect: {{status: 200, error_shell: true}}}}
      - {{name: up, get: /up, expect: {{status: 200}}}}
      # Internal routes must not be public: each must answer 404. Add your app's own.
{routes}
    # Where the seal is told. Secrets come from the environment, never from this file.
    # notify:
    #   discord:
    #     webhook_url: ${{DISCORD_WEBHOOK_URL}}
    #     thread_id: "1234567890"      # the release-notes thread
    #     operator: "<@111>"           # user <@id> or role <@&id>, alerted on red
    #   github_release: {{repo: owner/name, token: ${{GITHUB_TOKEN}}}}
"""


@dataclass(frozen=True)
class Probe:
    path: str
    want: int
    got: int | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.got == self.want


async def _probe(url: str) -> list[Probe]:
    from smokeseal.checks.base import join_url
    from smokeseal.checks.http import describe_http_error, read_only_client

    wanted = [("/", 200), ("/up", 200), *((path, 404) for _, path in INTERNAL_ROUTES)]

    async def one(client: httpx.AsyncClient, path: str, want: int) -> Probe:
        try:
            response = await client.get(join_url(url, path))
        except httpx.HTTPError as exc:
            return Probe(path, want, None, describe_http_error(exc))
        return Probe(path, want, response.status_code, f"answers {response.status_code}")

    async with read_only_client() as client:
        client.timeout = httpx.Timeout(10.0)
        return list(await asyncio.gather(*(one(client, p, w) for p, w in wanted)))


def probe(url: str) -> list[Probe]:
    """What the new suite would find right now (GET only), so the first run holds no surprise."""
    return asyncio.run(_probe(url))
