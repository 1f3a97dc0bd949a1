"""``smokeseal init``: a commented ``smokeseal.yml`` that fits the app it finds.

:func:`survey` looks at the app with GETs only, one per path, all at once and bounded (a
redirect is followed only on the app's host, a body is read up to a limit, the whole look
has a deadline): which health path answers, whether every path answers 200 (a catch-all,
where 404 checks cannot hold), what ``/`` shows, whether ``/`` sends visitors to another
host to sign in, and whether the app is a Streamlit, Dash, Gradio or GraphQL app, whose
reads go through POST or a WebSocket. With ``browser``, it then opens the home page in the
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
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from smokeseal.init_browser import Drawn

__all__ = ["DOTFILE_STATUSES", "GRAPHQL_PATHS", "HEALTH_PATHS", "INTERNAL_ROUTES",
           "PROBE_TIMEOUT", "STREAMLIT_SELECTOR", "Content", "Note", "Probe", "Survey",
           "app_name_for", "config_text", "sanitize", "survey"]

#: Routes that no production app should serve publicly; a team adds its own.
INTERNAL_ROUTES = (("devops hidden", "/devops"), ("env file hidden", "/.env"),
                   ("git hidden", "/.git/config"))
#: A web server that refuses dotfiles says 403 (nginx's ``deny``), an app says 404: both
#: keep the file private.
DOTFILE_STATUSES = (403, 404)
#: Health paths, most specific first: the first that answers 200 is the gate.
HEALTH_PATHS = ("/up", "/health", "/healthz", "/_stcore/health", "/api/health", "/status",
                "/ping", "/livez", "/readyz", "/healthcheck", "/_health")
GRAPHQL_PATHS = ("/graphql", "/api/graphql")
#: Every probe, every hop and body, ends within this many seconds.
PROBE_TIMEOUT = 8.0
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
    shown = url or PLACEHOLDER_URL
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

apps:
  {app}:
    # The canonical production URL: the suite tests exactly this host.
{edit}    url: {json.dumps(shown)}
    # Other hosts that must redirect to (or serve) the same app; doctor checks them.
    # aliases: ["https://www.example.com"]
{_reads_text(looked)}\
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
    fallback = "/" if found.sign_in is None and found.content is not None else "/up"
    return (f"{about}.\n"
            f"    # TODO: no health path answered 200 when init looked (tried {tried}).\n"
            "    # Give the app one that answers 200 once it can serve, and gate on it"
            + (": until\n    # then the gate waits for / to answer 200.\n" if fallback == "/"
               else ".\n")
            + line.format(fallback))


def _home_text(found: Survey | None) -> str:
    check = ("      - {{name: home renders, page: /, "
             "expect: {{status: 200, error_shell: true{}}}}}\n")
    if found is None:
        return check.format("")
    if found.sign_in is not None:
        host = httpx.URL(found.sign_in).host
        return (f"      # TODO: / redirects to {found.sign_in}: the app needs a\n"
                "      # sign-in. Give the suite a session with the app's headers: or cookies:\n"
                "      # (sent only to this app's origin); until then this check is red: the\n"
                "      # seal cannot see the app. To check only that sign-in is enforced:\n"
                f"      #   expect: {{redirect_to: {host}}}\n" + check.format(""))
    unverified = "" if found.unverified is None else _wrapped(
        f"TODO: could not verify that the page's data loads: {_comment(found.unverified)}. "
        "This check cannot tell a broken data channel from a healthy one: expect a text "
        "the page draws from its data.")
    if found.content is None:
        return ("      # TODO: expect a text the home page shows (text: \"...\"), so an empty\n"
                "      # page, a skeleton or a directory listing is red.\n" + unverified
                + check.format(""))
    content = found.content
    about = (_wrapped(f"{content.key}: {_comment(content.why)}: a page whose data does not "
                      "load does not show it.") if content.verified else
             f"      # {content.key}: what / showed when init looked ({_comment(content.why)}):\n"
             "      # a skeleton, an empty page or a directory listing does not.\n")
    keys = f", {content.key}: {_quoted(content.value)}"
    if content.selector is not None:
        keys += f", selector: {_quoted(content.selector)}"
    if content.not_text:
        keys += f", not_text: [{', '.join(map(_quoted, content.not_text))}]"
    return about + unverified + check.format(keys)


def _wrapped(text: str) -> str:
    """A comment in the suite's list, wrapped (``text`` is sanitized: one line, printable)."""
    return "".join(f"      # {line}\n" for line in textwrap.wrap(text, 86))


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


@dataclass
class Survey:
    """What init found at the app, and so what it writes."""

    url: str
    #: Why the app could not be reached (None when ``/`` answered).
    down: str | None = None
    health: str | None = None
    #: The random path's answer when it was 2xx: every path answers, 404 checks cannot hold.
    catch_all: str | None = None
    #: Where ``/`` redirects off the app (a sign-in page), query string dropped.
    sign_in: str | None = None
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

@dataclass(frozen=True)
class _Answer:
    status: int | None
    content_type: str
    body: bytes
    detail: str
    left_to: str | None = None

    @property
    def answered_200(self) -> bool:
        return self.status == 200 and self.left_to is None

    @property
    def is_2xx(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.left_to is None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        if "json" not in self.content_type or not self.is_2xx:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


async def _get(client: httpx.AsyncClient, url: str, path: str) -> _Answer:
    from smokeseal.checks.base import join_url
    from smokeseal.checks.http import WalkStopped, WriteRefused, describe_http_error, walk_on_app

    try:
        walk = await walk_on_app(client, "GET", join_url(url, path), app_urls=(url,),
                                 timeout=PROBE_TIMEOUT)
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
    return _Answer(status, content_type, body, f"answers {status}")


def _shown_url(url: str) -> str:
    parsed = httpx.URL(url)
    return sanitize(str(parsed.copy_with(query=None, fragment=None)), 200)


async def _look(url: str) -> tuple[dict[str, _Answer], str]:
    from smokeseal.checks.http import read_only_client

    random_path = f"/smokeseal-probe-{secrets.token_hex(6)}"
    paths = dict.fromkeys(["/", random_path, *HEALTH_PATHS, "/_dash-layout", "/config",
                           *(f"{p}?query=%7B__typename%7D" for p in GRAPHQL_PATHS),
                           *(p for _, p in INTERNAL_ROUTES)])
    async with read_only_client() as client:
        client.timeout = httpx.Timeout(PROBE_TIMEOUT)
        answers = await asyncio.gather(*(_get(client, url, p) for p in paths))
    return dict(zip(paths, answers, strict=True)), random_path


def survey(url: str, *, browser: bool = False, executable: str | None = None) -> Survey:
    """Look at the app at ``url`` (GET only) and decide what its config holds; with
    ``browser``, open its home page in the guarded browser (``executable``, else the one
    :func:`smokeseal.checks.browser.find_browser` finds) to see what it reads and draws."""
    answers, random_path = asyncio.run(_look(url))
    found = _decide(url, answers, random_path)
    home = answers["/"]
    if found.down is None and found.sign_in is None and home.is_2xx \
            and "html" in home.content_type:
        if browser:
            from smokeseal.init_browser import look

            _apply(found, look(url, home.text(), executable))
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
    elif found.sign_in is None and found.down is None:
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

def _decide(url: str, answers: dict[str, _Answer], random_path: str) -> Survey:
    found = Survey(url, random_path=random_path)
    home = answers["/"]
    if home.status is None:
        found.down = home.detail
        found.notes.append(Note(False, f"{url} could not be reached ({home.detail}): wrote "
                                       "the generic suite; run init again with --force once "
                                       "it is up"))
        return found
    if home.left_to is not None:
        found.sign_in = _shown_url(home.left_to)
        found.notes.append(Note(False, f"/ redirects to {found.sign_in}: the app needs a "
                                       "sign-in; see headers/cookies"))
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
    if found.sign_in is None:
        found.content = _content(found, answers)
    found.probes = _probes(found, answers)
    return found


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
    return [Probe(path, want, answers[path].status if answers[path].left_to is None else None,
                  answers[path].detail) for path, want in checks]


def _hidden(path: str) -> tuple[int, ...]:
    return DOTFILE_STATUSES if any(p.startswith(".") for p in path.split("/")) else (404,)
