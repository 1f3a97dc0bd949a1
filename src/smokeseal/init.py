"""``smokeseal init``: a commented ``smokeseal.yml`` that fits the app it finds.

:func:`survey` looks at the app with GETs only, one per path, all at once and bounded (a
redirect is followed only on the app's host, a body is read up to a limit, the whole look
has a deadline), with the checks' own client (``walk_on_app``, the CA file the suite will
trust, the environment's proxies): which health path answers, whether every path answers 200
(a catch-all, where 404 checks cannot hold), what ``/`` shows, whether ``/`` sends visitors
to sign in (on the app's host or another), and whether the app is a Streamlit, Dash, Gradio
or GraphQL app, whose reads go through POST or a WebSocket. A host that sends every path it
is asked to the same path on one other host is not the app's: that other host is the
canonical one, written as ``url`` (the given one under ``aliases``), and is looked at
instead. With ``browser``, it then opens the home page in the
guarded browser (:mod:`smokeseal.init_browser`): the reads the page needed, tried on load,
are the app's ``reads:``, and the home check expects a text the page drew once its data had
loaded, so that the check is red when the data does not load. :func:`config_text` writes
what it found; without a survey (no URL, or a host that is down) it writes the generic health
suite.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from smokeseal.init_browser import Drawn

__all__ = ["DOTFILE_STATUSES", "GRAPHQL_PATHS", "HEALTH_PATHS", "INTERNAL_ROUTES",
           "MAX_MOVES", "PROBE_TIMEOUT", "STREAMLIT_SELECTOR", "Content", "Note", "Probe",
           "Survey", "Trust", "app_name_for", "config_text", "sanitize", "survey", "trust_for"]

#: Routes that no production app should serve publicly; a team adds its own.
INTERNAL_ROUTES = (("devops hidden", "/devops"), ("env file hidden", "/.env"),
                   ("git hidden", "/.git/config"))
#: A web server that refuses dotfiles says 403 (nginx's ``deny``), an app says 404: both
#: keep the file private.
DOTFILE_STATUSES = (403, 404)
#: Health paths, most specific first: the first that answers 200 is the gate. Rails 7.1+,
#: Laravel 11+ and kamal-proxy's default (``/up``), then the usual names, then those of
#: Streamlit, Spring Boot Actuator, Quarkus, django-health-check and Panel (docs/init.md
#: says what each serves, and where that is documented).
HEALTH_PATHS = ("/up", "/health", "/healthz", "/_stcore/health", "/actuator/health",
                "/q/health", "/ht/", "/liveness", "/api/health", "/status", "/ping", "/livez",
                "/readyz", "/healthcheck", "/_health")
GRAPHQL_PATHS = ("/graphql", "/api/graphql")
#: Every probe, every hop and body, ends within this many seconds.
PROBE_TIMEOUT = 8.0
#: How many hosts, each sending every path to the next, init follows to the canonical one:
#: each is one more round of probes (``PROBE_TIMEOUT`` at most).
MAX_MOVES = 2
#: Streamlit draws each element of the script in one of these: the page shows something.
#: Only once its script has finished (``notRunning``): a script that raises draws its error
#: box after the elements before the raise, which would be seen first.
STREAMLIT_SELECTOR = ("[data-testid=stApp][data-test-script-state=notRunning] "
                      "[data-testid=stMainBlockContainer] [data-testid=stElementContainer]")
#: What Streamlit's box for a script that raised says (with error details on, and off): the
#: box is an element too, so the selector alone would pass it.
STREAMLIT_ERRORS = ("Traceback", "This app has encountered an error")
PLACEHOLDER_URL = "https://app.example.com"
#: The most of a body init reads: an index page, a health answer, a small JSON document.
_BODY_READ = 256 * 1024
_TEXT_MAX = 60
#: Titles and headings of pages that are not the app: a default page or a file listing.
_NOT_THE_APP = re.compile(r"^(index of /|directory listing for|welcome to nginx|it works!?$|"
                          r"apache2? .*default page|react app$|vite \+|test page for)", re.I)


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


def sanitize(text: str, limit: int = _TEXT_MAX) -> str:
    """Production's text made safe to quote: entities decoded, no control or invisible
    characters, whitespace collapsed, at most ``limit`` characters (cut at a word, so it is
    still a substring of what the page shows)."""
    text = html.unescape(text)
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if len(text) > limit:
        cut = text[:limit]
        text = cut[:cut.rfind(" ")] if " " in cut[limit // 2:] else cut
    return text.strip()


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's) with ``$`` written ``$$`` so
    that no ``${VAR}`` from production is ever substituted."""
    return json.dumps(text, ensure_ascii=False).replace("$", "$$")


def config_text(url: str | None, app: str, found: Survey | None = None) -> str:
    """The config, every key explained; valid as written. With ``found`` (see
    :func:`survey`) it fits the app; without, or when the app was down, it is the generic
    health suite."""
    shown = found.url if found is not None else url or PLACEHOLDER_URL
    looked = found if found is not None and found.down is None else None
    edit = "" if url else "    # TODO: your production URL\n"
    down = "" if found is None or found.down is None else (
        f"# {shown} could not be reached when this was written ({_comment(found.down)}):\n"
        f"# the suite is the generic one. Run `smokeseal init --force {shown}` once it "
        "answers.\n")
    return f"""\
# smokeseal.yml, written by `smokeseal init` for {shown}.
{down}# After each edit: `smokeseal doctor` checks it, `prod-smoke {app}` runs the suite.

# The ledger of releases and seals. SQLite beside this file by default; a shared
# PostgreSQL when pipelines run on many machines: postgresql://user@host/dbname
# database_url: sqlite:///smokeseal.db

{_trust_text(found.trust if found is not None else None)}
apps:
  {app}:
    # The canonical production URL: the suite tests exactly this host.
{_moves_text(found)}{edit}    url: {json.dumps(shown)}
    # Other hosts that must redirect to (or serve) the same app; doctor checks them.
{_aliases_text(found)}{_session_text(looked)}{_reads_text(looked)}\
    # The branch you release from (for the revert command printed on red).
    release_branch: main
    # What `smokeseal ship {app}` runs to deploy. Leave it out when your pipeline deploys
    # and records releases with `smokeseal release create --shipped`.
    # deploy: "kamal deploy"
{_gate_text(looked)}\
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
{_home_text(looked)}{_up_text(looked)}{_hidden_text(looked)}\
    # Where the seal is told. Secrets come from the environment, never from this file.
    # notify:
    #   discord:
    #     webhook_url: ${{DISCORD_WEBHOOK_URL}}
    #     thread_id: "1234567890"      # the release-notes thread
    #     operator: "<@111>"           # user <@id> or role <@&id>, alerted on red
    #   github_release: {{repo: owner/name, token: ${{GITHUB_TOKEN}}}}
    #   slack: {{token: ${{SLACK_BOT_TOKEN}}, channel: C0123456789, operator: U0123456789}}
    #   webhook: {{url: ${{SMOKESEAL_WEBHOOK_URL}}, secret: ${{SMOKESEAL_WEBHOOK_SECRET}}}}
"""


def _comment(text: str) -> str:
    return sanitize(text, 200)


def _wrap(text: str, indent: int) -> str:
    """``text`` (sanitized: one line, printable) as comment lines at ``indent``."""
    pad = " " * indent
    return "".join(f"{pad}# {line}\n" for line in textwrap.wrap(text, 92 - indent))


def _trust_text(trust: Trust | None) -> str:
    about = _wrap("CA certificates (PEM) that production's TLS chains to, when a private CA "
                  "signs it; relative to this file. $SSL_CERT_FILE is trusted when it is not "
                  "set.", 0)
    if trust is None:
        return about + "# ca_file: certs/ca.pem\n"
    if trust.written is not None:
        value = json.dumps(trust.written) if trust.verbatim else _quoted(trust.written)
        return (about + "# Kept from the config this file replaced; init trusted it too.\n"
                + f"ca_file: {value}\n")
    return (about + _wrap(f"init trusted $SSL_CERT_FILE ({_comment(trust.path)}), as every "
                          "run where it is set does.", 0) + "# ca_file: certs/ca.pem\n")


def _moves_text(found: Survey | None) -> str:
    if found is None or not found.moves:
        return ""
    said = " ".join(
        f"{move.asked} redirects every path init asked ({move.paths} paths, / among them) to "
        f"the same path on {move.to}: that is the canonical host, and {move.asked} an alias."
        for move in found.moves)
    return _wrap(said, 4)


def _aliases_text(found: Survey | None) -> str:
    if found is None or not found.aliases:
        return '    # aliases: ["https://www.example.com"]\n'
    return f"    aliases: [{', '.join(json.dumps(alias) for alias in found.aliases)}]\n"


#: How a suite is given a session, and renews it: docs/apps.md, "Behind a sign-in".
SESSION_COOKIE = 'cookies: {session: "${SMOKE_SESSION}"}'
SESSION_TOKEN = 'headers: {Authorization: "Bearer ${SMOKE_TOKEN}"}'
RENEW = ("sign in again as the smoke user, copy the cookie's new value into SMOKE_SESSION "
         "(the CI secret); this file does not change")


def _session_text(found: Survey | None) -> str:
    if found is None or found.sign_in is None:
        return ""
    return (_wrap(f"/ sends visitors to sign in ({found.sign_in}): the suite needs a session of "
                  "its own, for a read-only smoke user, sent only to this app's origin. Give "
                  "it one from the environment, never in this file:", 4)
            + f"    # {SESSION_COOKIE}\n"
            + "    #   the app's session cookie, by its name: sessionid (Django),\n"
            + "    #   _APPNAME_session (Rails), ...\n"
            + f"    # {SESSION_TOKEN}\n"
            + "    #   or a token the app (or its edge) accepts: it does not expire with a\n"
            + "    #   browser session.\n"
            + _wrap("When it expires, the checks that want a page fail with \"the session in "
                    f"cookies: is no longer valid\": {RENEW}. See docs/apps.md, \"Behind a "
                    "sign-in\".", 4))


_READS_WHY = {
    "Streamlit": "Streamlit's page reads the app through this WebSocket",
    "Dash": "Dash's callbacks read through POST, on load and on every input",
    "Gradio": "Gradio's events, on load and on every run, join its queue through POST",
    "GraphQL": "GraphQL queries are POSTed here (only queries pass, never a mutation)",
}


def _reads_text(found: Survey | None) -> str:
    if found is None or not (found.reads or found.unused_reads):
        return ""
    unused = "".join(
        f"    #   not declared: {read}: {found.read_why.get(read, 'recognised')}, but / did not "
        "use it on load.\n" for read in found.unused_reads)
    if not found.reads:
        return ("    # Reads the page makes without GET: none used on load when init looked.\n"
                f"{unused}    # reads: [{', '.join(json.dumps(r) for r in found.unused_reads)}]\n")
    why = "".join(f"    #   {read}: {found.read_why.get(read, 'needed by /')}.\n"
                  for read in found.reads)
    return ("    # Reads the page makes without GET, found by init: the browser's read-only guard\n"
            "    # lets exactly these through (and lists each on the check).\n"
            f"{why}{unused}    reads: [{', '.join(json.dumps(r) for r in found.reads)}]\n")


def _gate_text(found: Survey | None) -> str:
    line = "    gate: {{path: {}, timeout: 120, interval: 2}}\n"
    about = "    # The hard gate after a deploy: this path must answer 200 within `timeout` seconds"
    if found is None:
        return f"{about}.\n{line.format('/up')}"
    if found.health is not None:
        return f"{about}\n    # ({found.health} answered 200 when init looked).\n" \
               f"{line.format(found.health)}"
    tried = ", ".join(HEALTH_PATHS)
    fallback = "/" if found.content is not None else "/up"
    until = (": until then the gate waits for / to answer 200." if fallback == "/" else ".")
    return (f"{about}.\n"
            + _wrap(f"TODO: no health path answered 200 when init looked (tried {tried}). "
                    f"Give the app one that answers 200 once it can serve, and gate on it"
                    f"{until}", 4)
            + line.format(fallback))


def _home_text(found: Survey | None) -> str:
    check = ("      - {{name: home renders, page: /, "
             "expect: {{status: 200, error_shell: true{}}}}}\n")
    if found is None:
        return check.format("")
    if found.sign_in is not None:
        # A URL prefix on the app's own host; another host's name alone (an SSO's).
        target = (found.sign_in if _same_host(found.sign_in, found.url)
                  else httpx.URL(found.sign_in).host)
        return (_wrap(f"TODO: / redirects to the sign-in page {found.sign_in}: until the "
                      "suite has a session (cookies: or headers:, above), this check is red, "
                      "as the seal cannot see the app. To check only that sign-in is "
                      "enforced:", 6)
                + f"      #   expect: {{redirect_to: {target}}}\n" + check.format(""))
    if found.elsewhere is not None:
        return (_wrap(f"TODO: / redirects to {found.elsewhere}, another host, but not every "
                      "path init asked did, so it was not taken for the canonical host. If it "
                      "serves this app, run `smokeseal init --force` on it; until then this "
                      "check is red.", 6) + check.format(""))
    unverified = "" if found.unverified is None else _wrap(
        f"TODO: could not verify that the page's data loads: {_comment(found.unverified)}. "
        "This check cannot tell a broken data channel from a healthy one: expect a text "
        "the page draws from its data.", 6)
    if found.content is None:
        return ("      # TODO: expect a text the home page shows (text: \"...\"), so an empty\n"
                "      # page, a skeleton or a directory listing is red.\n" + unverified
                + check.format(""))
    content = found.content
    about = (_wrap(f"{content.key}: {_comment(content.why)}: a page whose data does not "
                   "load does not show it.", 6) if content.verified else
             f"      # {content.key}: what / showed when init looked ({_comment(content.why)}):\n"
             "      # a skeleton, an empty page or a directory listing does not.\n")
    keys = f", {content.key}: {_quoted(content.value)}"
    if content.selector is not None:
        keys += f", selector: {_quoted(content.selector)}"
    if content.not_text:
        keys += f", not_text: [{', '.join(map(_quoted, content.not_text))}]"
    return about + unverified + check.format(keys)


def _up_text(found: Survey | None) -> str:
    if found is None:
        return "      - {name: up, get: /up, expect: {status: 200}}\n"
    if found.health is None:
        return ("      # TODO: the app's health path, once it has one:\n"
                "      # - {name: up, get: /up, expect: {status: 200}}\n")
    return f"      - {{name: up, get: {found.health}, expect: {{status: 200}}}}\n"


def _hidden_text(found: Survey | None) -> str:
    if found is not None and found.catch_all is not None:
        return (f"      # No 404 checks: {found.random_path} {found.catch_all} when init "
                "looked,\n"
                "      # as every path does on this app (an SPA or a framework's catch-all), so\n"
                "      # \"internal routes answer 404\" cannot hold here. Check them another\n"
                "      # way, e.g. {name: devops hidden, get: /devops, expect: {not_text: ...}}.\n")
    routes = "".join(
        f"      - {{name: {name}, get: {path}, expect: {{status: {_statuses(_hidden(path))}}}}}\n"
        for name, path in INTERNAL_ROUTES)
    return ("      # Internal routes must not be public: each must answer 404 (a dotfile 403 or\n"
            "      # 404). Add your app's own.\n" + routes)


def _statuses(codes: tuple[int, ...]) -> str:
    return str(codes[0]) if len(codes) == 1 else f"[{', '.join(map(str, codes))}]"


@dataclass(frozen=True)
class Probe:
    """What one checked path answered when init looked, against what the suite expects."""

    path: str
    want: tuple[int, ...]
    got: int | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.got in self.want


@dataclass(frozen=True)
class Note:
    """One line for the terminal: ``ok`` True (found), False (a problem), None (FYI)."""

    ok: bool | None
    text: str


@dataclass(frozen=True)
class Content:
    """What the home page check expects to see: ``key`` is text, title or selector."""

    key: str
    value: str
    why: str
    #: What the framework's own error box says: the check fails as soon as it is drawn.
    not_text: tuple[str, ...] = ()
    #: A selector expected beside a text (Streamlit's: its script has finished).
    selector: str | None = None
    #: Drawn once the page's data had loaded (seen in the browser): absent when it does not.
    verified: bool = False


@dataclass(frozen=True)
class Trust:
    """CA certificates init trusts for https, as every run of the suite will: the ``ca_file``
    of the config init replaces, else ``$SSL_CERT_FILE``."""

    #: The file, for the HTTP client and the browser.
    path: str
    #: Where it was named, for the terminal.
    source: str = "$SSL_CERT_FILE"
    #: ``ca_file`` as the replaced config wrote it, kept in the new one (None: from the
    #: environment, which every run reads by itself).
    written: str | None = None
    #: ``written`` is as the YAML source had it (with its ``${VAR}`` or ``$$``).
    verbatim: bool = False

    @property
    def shown(self) -> str:
        return self.written if self.written is not None else self.path


@dataclass(frozen=True)
class Move:
    """A host that sent every path init asked (``paths`` of them) to the same path on
    another, ``to``: the canonical host."""

    asked: str
    to: str
    paths: int


@dataclass
class Survey:
    """What init found at the app, and so what it writes."""

    #: The canonical URL: the one init was given, or where that sends every path.
    url: str
    #: Why the app could not be reached (None when ``/`` answered).
    down: str | None = None
    health: str | None = None
    #: The random path's answer when it was 2xx: every path answers, 404 checks cannot hold.
    catch_all: str | None = None
    #: Where ``/`` sends visitors to sign in, on the app's host or another; query dropped.
    sign_in: str | None = None
    #: Where ``/`` alone redirects on another host, to its own path: maybe the app's
    #: canonical host, but not every path went there.
    elsewhere: str | None = None
    #: The hosts init was sent on from (the one it was given first): the app's aliases.
    aliases: list[str] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    trust: Trust | None = None
    frameworks: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    #: Why each read is declared, for its comment.
    read_why: dict[str, str] = field(default_factory=dict)
    #: Reads recognised over HTTP that the page, seen in the browser, did not use on load.
    unused_reads: list[str] = field(default_factory=list)
    content: Content | None = None
    #: Why the home check could not be made to depend on the page's data (None when it was,
    #: or when the page loads none by script).
    unverified: str | None = None
    notes: list[Note] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    random_path: str = ""


# --- the look ----------------------------------------------------------------------------

def trust_for(config: Path | None, environ: Mapping[str, str]) -> tuple[Trust | None,
                                                                       str | None]:
    """The CA file init trusts, as the suite will: the ``ca_file`` of ``config`` (the file
    init replaces, when there is one), else ``$SSL_CERT_FILE``. Second, why the config's
    ``ca_file`` was not used (no such file), or None."""
    problem = None
    if config is not None and (named := _config_ca_file(config, environ)) is not None:
        written, value, verbatim = named
        path = Path(value) if Path(value).is_absolute() else config.parent / value
        if path.is_file():
            return Trust(str(path), "ca_file of the config replaced", written, verbatim), None
        problem = (f"the replaced config's ca_file {_comment(written)}: no such file "
                   f"({_comment(str(path))}); not trusted, and not kept")
    env = environ.get("SSL_CERT_FILE")
    return (Trust(env) if env else None), problem


def _config_ca_file(path: Path, environ: Mapping[str, str]) -> tuple[str, str, bool] | None:
    """``ca_file`` as the config at ``path`` writes it, its value, and whether the written
    form is YAML source (a ``${VAR}`` or ``$$`` in it). A ``${VAR}`` that is not set is
    read as empty: the rest of the file need not be valid for this one key."""
    from smokeseal.errors import ConfigError
    from smokeseal.yamlfile import env_references, read_yaml

    try:
        text = path.read_text(encoding="utf-8")
        unset = {ref.name: "" for ref in env_references(text, str(path))
                 if ref.default is None}
        document = read_yaml(text, str(path), {**unset, **environ})
    except (OSError, UnicodeDecodeError, ConfigError):
        return None
    value = document.data.get("ca_file") if isinstance(document.data, dict) else None
    if not isinstance(value, str) or not value:
        return None
    source = document.written.get(("ca_file",))
    return (source, value, True) if source is not None else (value, value, False)


@dataclass(frozen=True)
class _Answer:
    status: int | None
    content_type: str
    body: bytes
    detail: str
    left_to: str | None = None
    #: The sign-in page (on the app's host) a redirect ended on, query dropped.
    sign_in: str | None = None

    @property
    def redirected(self) -> bool:
        """Sent off the app, or to its sign-in: not an answer of the path asked."""
        return self.left_to is not None or self.sign_in is not None

    @property
    def answered_200(self) -> bool:
        return self.status == 200 and not self.redirected

    @property
    def is_2xx(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.redirected

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        if "json" not in self.content_type or not self.is_2xx:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


async def _get(client: httpx.AsyncClient, url: str, app_urls: tuple[str, ...]) -> _Answer:
    """One GET of ``url`` as a get check makes it: redirects followed on ``app_urls``'
    hosts only, the body read up to a limit, within :data:`PROBE_TIMEOUT`."""
    from smokeseal.checks.http import WalkStopped, WriteRefused, describe_http_error, walk_on_app
    from smokeseal.checks.signin import is_signin_path

    try:
        walk = await walk_on_app(client, "GET", url, app_urls=app_urls, timeout=PROBE_TIMEOUT)
    except TimeoutError:
        return _Answer(None, "", b"", f"no complete answer within {PROBE_TIMEOUT:g} s")
    except httpx.HTTPError as exc:
        return _Answer(None, "", b"", describe_http_error(exc))
    except (WalkStopped, WriteRefused) as exc:
        return _Answer(None, "", b"", str(exc))
    status = walk.response.status_code
    content_type = walk.response.headers.get("content-type", "").lower()
    body = b"" if walk.unreadable else walk.body[:_BODY_READ]
    if walk.left_to is not None:
        return _Answer(status, content_type, b"", f"redirects to {_shown_url(walk.left_to)}",
                       left_to=walk.left_to)
    ended = httpx.URL(walk.url).path
    if ended != httpx.URL(url).path and is_signin_path(ended):
        shown = _shown_url(walk.url)
        return _Answer(status, content_type, b"", f"redirects to the sign-in page {shown}",
                       sign_in=shown)
    return _Answer(status, content_type, body, f"answers {status}")


def _shown_url(url: str) -> str:
    parsed = httpx.URL(url)
    return sanitize(str(parsed.copy_with(query=None, fragment=None)), 200)


@dataclass
class _Look:
    """What every path answered on the app's canonical host, and the hosts before it."""

    url: str
    answers: dict[str, _Answer]
    random_path: str
    moves: list[Move] = field(default_factory=list)


async def _look(url: str, ca_file: str | None) -> _Look:
    """Every path, at once, on ``url``'s host; again on the host it sends every one of them
    to, if it does (:data:`MAX_MOVES` times at most)."""
    from smokeseal.checks.base import canonical_url, common_move, join_url
    from smokeseal.checks.http import read_only_client

    random_path = f"/smokeseal-probe-{secrets.token_hex(6)}"
    paths = list(dict.fromkeys(["/", random_path, *HEALTH_PATHS, "/_dash-layout", "/config",
                                *(f"{p}?query=%7B__typename%7D" for p in GRAPHQL_PATHS),
                                *(p for _, p in INTERNAL_ROUTES)]))
    hosts = [url]
    moves: list[Move] = []
    async with read_only_client(ca_file) as client:
        client.timeout = httpx.Timeout(PROBE_TIMEOUT)
        while True:
            asked = [join_url(hosts[-1], path) for path in paths]
            # Redirects are followed on every host seen so far: the written url and aliases.
            on_app = tuple(reversed(hosts))
            answers = dict(zip(paths, await asyncio.gather(
                *(_get(client, u, on_app) for u in asked)), strict=True))
            # A path that got no answer says nothing of where the host sends it.
            moved = common_move((u, a.left_to) for u, a in zip(asked, answers.values(),
                                                                strict=True)
                                if a.status is not None)
            if moved is None or len(moves) >= MAX_MOVES or any(
                    _same_host(moved, host) for host in hosts):
                return _Look(hosts[-1], answers, random_path, moves)
            answered = sum(a.status is not None for a in answers.values())
            moves.append(Move(hosts[-1], moved, answered))
            hosts.append(canonical_url(moved, hosts[-1]))


def _same_host(a: str, b: str) -> bool:
    return httpx.URL(a).netloc == httpx.URL(b).netloc


def survey(url: str, *, browser: bool = False, executable: str | None = None,
           trust: Trust | None = None) -> Survey:
    """Look at the app at ``url`` (GET only) and decide what its config holds; with
    ``browser``, open its home page in the guarded browser (``executable``, else the one
    :func:`smokeseal.browser.launch.find_browser` finds) to see what it reads and draws.
    ``trust`` is the CA file both trust, as the suite will."""
    ca_file = trust.path if trust is not None else None
    look = asyncio.run(_look(url, ca_file))
    found = _decide(look)
    found.trust = trust
    if trust is not None:
        found.notes.insert(0, Note(None, f"trusted the CA certificates in "
                                         f"{_comment(trust.shown)} ({trust.source})"))
    home = look.answers["/"]
    if found.down is None and found.sign_in is None and home.is_2xx \
            and "html" in home.content_type:
        if browser:
            from smokeseal.init_browser import look as look_in_browser

            _apply(found, look_in_browser(found.url, home.text(), executable, ca_file))
        else:
            found.unverified = "--no-browser: init looked over HTTP only"
            found.notes.append(Note(False, "--no-browser: looked over HTTP only; the home "
                                           "check reads the served HTML, so it cannot tell "
                                           "whether the page's data loads"))
    _home_note(found)
    return found


def _home_note(found: Survey) -> None:
    if found.content is not None:
        found.notes.append(Note(True, f"home: {found.content.key} "
                                      f"{_quoted(found.content.value)} ({found.content.why})"))
    elif found.sign_in is None and found.elsewhere is None and found.down is None:
        found.notes.append(Note(False, "home: no text to expect was found on /; add one "
                                       "(expect text:) so an empty page is red"))


def _apply(found: Survey, drawn: Drawn) -> None:
    """What the browser saw wins: the reads the page needed, and a text it drew with its
    data. What it could not see is said, and the survey's own choice is kept for it."""
    if drawn.unavailable is not None:
        found.unverified = f"no browser looked ({drawn.unavailable})"
        found.notes.append(Note(False, f"no browser ({drawn.unavailable}): looked over HTTP "
                                       "only; the home check reads the served HTML, so it "
                                       "cannot tell whether the page's data loads"))
        return
    needed = drawn.needed
    for line, attempt in needed.items():
        found.read_why[line] = found.read_why.get(line) or _needed_why(line, attempt)
        found.notes.append(Note(True, f"/ needed {line} on load (the guard refused it until "
                                      "declared): written to reads:"))
    chosen = drawn.chosen
    if chosen is None:
        found.reads += [line for line in needed if line not in found.reads]
        found.unverified = drawn.unverified(drawn_by_script=bool(found.frameworks))
        if found.unverified is not None:
            found.notes.append(Note(False, "could not verify that the page's data loads: "
                                           f"{_comment(found.unverified)}; the home check "
                                           "cannot tell a broken data channel from a healthy "
                                           "one"))
        else:
            found.notes.append(Note(None, "/ loads no data by script: its text comes with its "
                                          "HTML, which the home check reads"))
        return
    last = drawn.last
    if last is not None and (problems := [f"read {failure}" for failure in last.read_failures]
                             + [f"uncaught page error: {e}" for e in last.page_errors]):
        found.notes.append(Note(False, f"/ failed in the browser when init looked: "
                                       f"{_comment(problems[0])}"))
    found.unused_reads = [read for read in found.reads if read not in needed]
    found.reads = list(needed)
    old = found.content
    frame = ", and not drawn while its reads were refused" if needed else ""
    found.content = Content(
        "text", chosen.text,
        f"what / drew once its data had loaded, seen in a browser: not in its served "
        f"HTML{frame}",
        not_text=old.not_text if old is not None else (),
        selector=old.value if old is not None and old.key == "selector" else None,
        verified=True)


def _needed_why(line: str, attempt: str) -> str:
    kind = line.split()[0]
    if kind == "WEBSOCKET":
        return "/ reads its data through this WebSocket"
    if kind == "GRAPHQL":
        return "/ POSTs its GraphQL queries here (only queries pass, never a mutation)"
    if "EIO=" in attempt:
        return "/ reads its data through Engine.IO long-polling (socket.io), by POST"
    return "/ POSTs here for its data on load"


# --- what it means -----------------------------------------------------------------------

def _decide(look: _Look) -> Survey:
    answers, random_path = look.answers, look.random_path
    url = look.url
    found = Survey(url, random_path=random_path, moves=look.moves,
                   aliases=[move.asked for move in look.moves])
    _moves_notes(found)
    home = answers["/"]
    if home.status is None:
        found.down = home.detail
        found.notes.append(Note(False, f"{url} could not be reached ({home.detail}): wrote "
                                       "the generic suite; run init again with --force once "
                                       "it is up"))
        return found
    _left(found, home)
    unknown = answers[random_path]
    if unknown.is_2xx:
        found.catch_all = unknown.detail
        found.notes.append(Note(None, f"{random_path} {unknown.detail}: the app answers every "
                                      "path, so no 404 checks were written"))
    found.health = _health(answers, unknown if found.catch_all else None)
    found.notes.append(
        Note(True, f"health: {found.health} answers 200, used for the gate and the up check")
        if found.health else
        Note(False, f"no health path answered 200 (tried {HEALTH_PATHS[0]} and "
                    f"{len(HEALTH_PATHS) - 1} more): the up check is a TODO"))
    _recognise(found, answers)
    if found.sign_in is None and found.elsewhere is None:
        found.content = _content(found, answers)
    found.probes = _probes(found, answers)
    return found


def _moves_notes(found: Survey) -> None:
    from smokeseal.checks.base import canonical_keys

    for index, move in enumerate(found.moves, 1):
        wrote = (f": wrote {canonical_keys(move.to, found.aliases)}"
                 if index == len(found.moves) else "")
        found.notes.append(Note(True, f"canonical host: {move.asked} redirects every path "
                                      f"init asked to the same path on {move.to}{wrote}"))


def _left(found: Survey, home: _Answer) -> None:
    """Where ``/`` sends a visitor instead of answering: a sign-in page (on the app's host
    or another), or, to its own path on another host, maybe the app's canonical host (only
    maybe: the other paths stayed)."""
    from smokeseal.checks.base import canonical_move, join_url

    origin = canonical_move(join_url(found.url, "/"), home.left_to) if home.left_to else None
    if home.left_to is not None and origin is not None:
        found.elsewhere = _shown_url(home.left_to)
        found.notes.append(Note(False, f"/ redirects to {found.elsewhere}, its own path on "
                                       "another host, but not every path init asked does: "
                                       f"if {origin} serves this app, run `smokeseal init "
                                       f"--force {origin}`"))
        return
    found.sign_in = _shown_url(home.left_to) if home.left_to is not None else home.sign_in
    if found.sign_in is None:
        return
    found.notes.append(Note(False, f"/ redirects to the sign-in page {found.sign_in}: the "
                                   "suite needs a session of its own, or every check that "
                                   "wants a page is red"))
    found.notes.append(Note(None, f"give it one from the environment: {SESSION_COOKIE} in "
                                  "smokeseal.yml (or headers: for a token); when it expires, "
                                  "sign in again as the smoke user and put the new value in "
                                  "SMOKE_SESSION (docs/apps.md, \"Behind a sign-in\")"))


def _health(answers: dict[str, _Answer], catch_all: _Answer | None) -> str | None:
    for path in HEALTH_PATHS:
        answer = answers[path]
        if not answer.answered_200:
            continue
        # On a catch-all app every path answers 200 with the index page: a health path
        # is one that answers something else.
        if catch_all is not None and answer.content_type == catch_all.content_type and (
                answer.body == catch_all.body or "html" in answer.content_type):
            continue
        return path
    return None


def _recognise(found: Survey, answers: dict[str, _Answer]) -> None:
    index = answers["/"].text() if answers["/"].is_2xx else ""
    health = answers["/_stcore/health"]
    if ((health.is_2xx and health.body.strip() == b"ok" and "text/plain" in health.content_type)
            or "Streamlit Inc." in index or "<title>Streamlit</title>" in index):
        _reads(found, "Streamlit", "WEBSOCKET /_stcore/stream",
               "its page reads through a WebSocket")
    layout = answers["/_dash-layout"].json()
    if (isinstance(layout, dict) and "props" in layout) or 'id="_dash-config"' in index:
        _reads(found, "Dash", "POST /_dash-update-component", "its callbacks read through POST")
    config = _gradio_config(answers["/config"].json(), index)
    if config is not None:
        prefix = config.get("api_prefix")
        prefix = prefix.rstrip("/") if isinstance(prefix, str) else ""
        _reads(found, "Gradio", f"POST {prefix}/queue/join",
               "its events (on load and on every run) join the queue through POST")
    for path in GRAPHQL_PATHS:
        data = answers[f"{path}?query=%7B__typename%7D"].json()
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            _reads(found, "GraphQL", f"GRAPHQL {path}", "queries are read through POST")
            break


def _reads(found: Survey, framework: str, read: str, why: str) -> None:
    found.frameworks.append(framework)
    found.reads.append(read)
    found.read_why[read] = _READS_WHY[framework]
    found.notes.append(Note(True, f"recognised {framework}: reads {read} ({why})"))


def _gradio_config(config: Any, index: str) -> dict[str, Any] | None:
    if isinstance(config, dict) and {"version", "mode", "components"} <= config.keys():
        return config
    if "window.gradio_config" in index or "<gradio-app" in index:
        return config if isinstance(config, dict) else {}
    return None


def _content(found: Survey, answers: dict[str, _Answer]) -> Content | None:
    home = answers["/"]
    if not home.is_2xx:
        return None
    page = _Page.read(home.text()) if "html" in home.content_type else _Page()
    if "Streamlit" in found.frameworks:
        return Content("selector", STREAMLIT_SELECTOR,
                       "Streamlit draws the page in the browser: the first element the script "
                       "draws", STREAMLIT_ERRORS)
    if "Dash" in found.frameworks:
        heading = _dash_heading(answers["/_dash-layout"].json())
        if heading:
            return Content("text", heading, "the first heading in /_dash-layout, which Dash "
                                            "draws in the browser")
    if "Gradio" in found.frameworks:
        config = answers["/config"].json()
        title = sanitize(str(config.get("title", ""))) if isinstance(config, dict) else ""
        if title and title != "Gradio":
            return Content("title", title, "the title Gradio gives the page it draws")
        heading = _gradio_heading(config)
        if heading:
            return Content("text", heading, "the first Markdown heading Gradio draws")
    for key, value, why in (("text", page.h1, "its first <h1>"),
                            ("title", page.title, "its <title>" + (
                                "; its HTML is a shell that scripts fill" if page.shell else ""))):
        if value and not _NOT_THE_APP.search(value):
            return Content(key, value, why)
        if value:
            found.notes.append(Note(False, f"/ shows {_quoted(value)}: a default page or a "
                                           "listing, not the app; no text expected"))
            return None
    return None


def _dash_heading(layout: Any) -> str:
    """The first H1 (else H2, H3) whose children are text, in a Dash layout."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            props = node.get("props")
            children = props.get("children") if isinstance(props, dict) else None
            kind = node.get("type")
            if kind in ("H1", "H2", "H3") and isinstance(children, str) and kind not in found:
                found[kind] = sanitize(children)
            walk(children)

    walk(layout)
    return next((found[k] for k in ("H1", "H2", "H3") if found.get(k)), "")


def _gradio_heading(config: Any) -> str:
    components = config.get("components") if isinstance(config, dict) else None
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict) or component.get("type") != "markdown":
            continue
        props = component.get("props")
        value = props.get("value") if isinstance(props, dict) else None
        if isinstance(value, str):
            match = re.search(r"^#{1,3}\s+(.+)$", value, re.M)
            if match and (heading := sanitize(match.group(1))):
                return heading
    return ""


class _Page(HTMLParser):
    """The ``<title>``, the first ``<h1>`` and whether the body holds any text of its own."""

    _HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._open: list[str] = []
        self._title: list[str] = []
        self._h1: list[str] | None = None
        self.title = ""
        self.h1 = ""
        #: No text outside scripts and <noscript> (or only "Loading..."): scripts draw it.
        self.shell = True

    @classmethod
    def read(cls, text: str) -> _Page:
        page = cls()
        try:
            page.feed(text)
            page.close()
        except Exception:  # whatever production sent, init writes a config
            pass
        page.title = sanitize("".join(page._title))
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("meta", "link", "br", "img", "input", "hr", "base"):
            return
        self._open.append(tag)
        if tag == "h1" and not self.h1 and self._h1 is None:
            self._h1 = []

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open and self._open.pop() != tag:
                pass
        if tag == "h1" and self._h1 is not None:
            self.h1, self._h1 = sanitize("".join(self._h1)), None

    def handle_data(self, data: str) -> None:
        if "title" in self._open and "svg" not in self._open:
            self._title.append(data)
        if any(tag in self._HIDDEN for tag in self._open):
            return
        if self._h1 is not None:
            self._h1.append(data)
        if data.strip() and data.strip() != "Loading...":
            self.shell = False


def _probes(found: Survey, answers: dict[str, _Answer]) -> list[Probe]:
    """What each written check would find right now, so the first run holds no surprise."""
    checks: list[tuple[str, tuple[int, ...]]] = [("/", (200,))]
    if found.health:
        checks.append((found.health, (200,)))
    if not found.catch_all:
        checks += [(path, _hidden(path)) for _, path in INTERNAL_ROUTES]
    return [Probe(path, want, None if answers[path].redirected else answers[path].status,
                  answers[path].detail) for path, want in checks]


def _hidden(path: str) -> tuple[int, ...]:
    return DOTFILE_STATUSES if any(p.startswith(".") for p in path.split("/")) else (404,)
