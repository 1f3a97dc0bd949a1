"""smokeseal's benchmarks, side by side: ``make bench`` (not part of ``make test``).

Every comparison alternates its contenders over several rounds in this one run and quotes
medians (with min–max) and ratios, never a single time. Prints a table and writes
``bench/RESULTS.md``.

    python bench/run.py [--quick] [--only suite,cold,fleet,scaling,board]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn

import smokeseal._startup  # noqa: F401  the console scripts' start-up settings, here too
from smokeseal import __version__
from smokeseal.browser.launch import find_browser
from smokeseal.config import Check, load_config
from smokeseal.demo import DEMO_SUITE, DemoState, create_app, demo_config_yaml
from smokeseal.runner import PAGE_CONCURRENCY
from smokeseal.servers import BackgroundServer

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PLAYWRIGHT_DIR = HERE / "playwright"


@dataclass
class Row:
    """One measured figure, with its goal beside it."""

    section: str
    what: str
    samples: list[float]
    unit: str = "s"
    goal: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def shown(self) -> str:
        if not self.samples:
            return "—"
        low, high = min(self.samples), max(self.samples)
        if self.unit == "latency":
            return (f"p50 {self.median:.1f} ms · p95 {_p95(self.samples):.1f} ms "
                    f"(n={len(self.samples)})")
        if self.unit == "ms":
            return f"{self.median:.1f} ms ({low:.1f}–{high:.1f})"
        if self.unit == "x":
            return f"{self.median:.2f}×"
        if self.unit == "/min":
            return f"{self.median:.0f} apps/min"
        return f"{self.median:.2f} s ({low:.2f}–{high:.2f})"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        verdict = "" if row.met is None else ("  ✓ goal met" if row.met else "  ✗ goal NOT met")
        goal = f"   goal: {row.goal}{verdict}" if row.goal else ""
        print(f"  {row.what:<58} {row.shown():<28}{goal}", flush=True)
        return row

    def note(self, section: str, text: str) -> None:
        self.notes.setdefault(section, []).append(text)
        print(f"  · {text}", flush=True)


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None,
          ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    env.update(extra)
    return env


class MultiPortServer:
    """One uvicorn serving the demo app on ``count`` ports: distinct origins for a fleet."""

    def __init__(self, app: object, count: int) -> None:
        self.sockets = []
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            self.sockets.append(sock)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": self.sockets}, daemon=True)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{s.getsockname()[1]}" for s in self.sockets]

    def __enter__(self) -> MultiPortServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


# --- a. the suite against Playwright Test -------------------------------------------------

def bench_suite(report: Report, work: Path, rounds: int) -> None:
    print("\na. The six-check qa-readonly suite: prod-smoke vs Playwright Test", flush=True)
    if shutil.which("npx") is None or not (PLAYWRIGHT_DIR / "node_modules").exists():
        report.note("suite", "skipped: run `make bench` (it installs Node.js and "
                    "@playwright/test)")
        return
    browser = find_browser()
    # Both tools always drive the same browser; the full Chromium is measured too, when it
    # is installed beside the headless shell, to show the ratio is not the browser's doing.
    browsers = [("", browser)]
    full = "/usr/lib/chromium/chromium"
    if "headless" in browser and os.access(full, os.X_OK):
        browsers.append((" — both on the full Chromium", full))
    baseline = 0.0
    with BackgroundServer(create_app(DemoState())) as server:
        config = work / "suite.yml"
        config.write_text(demo_config_yaml(server.url))
        smoke = [str(BIN / "prod-smoke"), "--config", str(config), "demo"]
        npx = ["npx", "playwright", "test"]
        for label, executable in browsers:
            ours: list[float] = []
            theirs: list[float] = []
            env = clean_env(BASE_URL=server.url, SMOKESEAL_BROWSER=executable,
                            PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
            mine = clean_env(SMOKESEAL_BROWSER=executable)
            timed(smoke, work, mine)  # warm the disk caches for both, unmeasured
            timed(npx, PLAYWRIGHT_DIR, env)
            for _ in range(rounds):
                ours.append(timed(smoke, work, mine))
                theirs.append(timed(npx, PLAYWRIGHT_DIR, env))
            report.add(Row("suite", f"prod-smoke demo (whole process){label}", ours))
            report.add(Row("suite", f"npx playwright test (same six checks, its defaults)"
                           f"{label}", theirs))
            ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
            if not label:
                baseline = statistics.median(theirs)
            report.add(Row("suite", f"ratio, smokeseal / Playwright Test{label}", ratios,
                           unit="x", goal="" if label else "≤ 0.50×",
                           met=None if label else statistics.median(ratios) <= 0.50))
        checks = [c for c in load_config(config).suite_for("demo") if c.kind == "page"]
        phases = [asyncio.run(_suite_phases(browser, server.url, checks))
                  for _ in range(rounds)]
    report.note("suite", f"browser for both: {browser}")
    names = ("Playwright's driver started and the browser launched",
             "three page checks side by side", "browser closed")
    shown = ", ".join(f"{name} {statistics.median(p[i] for p in phases) * 1000:.0f} ms"
                      for i, name in enumerate(names))
    report.note("suite", f"where the time goes, through the library (median of {rounds}): "
                f"{shown}. In a whole prod-smoke run the driver and browser start on a "
                "thread of their own before Python has imported the rest (about 0.1 s in), "
                "so the run is roughly that tenth of a second, plus these three phases, "
                "plus exiting.")
    floor = statistics.median(p[0] + p[1] for p in phases)
    report.note("suite", f"the floor: the driver, the launch and the three pages alone come to "
                f"{floor:.2f} s, {floor / baseline:.2f}× of Playwright Test's whole run, before "
                "smokeseal does any work of its own (Python start-up, config, HTTP checks, "
                "output, exit). The driver is Node.js loading Playwright; the renders are "
                "CPU-bound on two cores; both tools pay for both.")


async def _suite_phases(browser: str, base_url: str,
                        pages: list[Check]) -> tuple[float, float, float]:
    """The browser's part of one qa-readonly run, phase by phase, through the library."""
    from smokeseal.browser.session import BrowserSession
    from smokeseal.checks.page import run_page_check

    started = time.perf_counter()
    session = BrowserSession(browser)
    await session.__aenter__()
    launched = time.perf_counter()
    session.plan(len(pages))
    results = await asyncio.gather(*(run_page_check(session, c, base_url) for c in pages))
    checked = time.perf_counter()
    await session.__aexit__(None, None, None)
    closed = time.perf_counter()
    if not all(r.ok for r in results):
        raise SystemExit(f"the demo suite failed: {[r.detail for r in results]}")
    return launched - started, checked - launched, closed - checked


# --- b. cold start ------------------------------------------------------------------------

def bench_cold(report: Report, work: Path, rounds: int) -> None:
    print("\nb. Cold start: an HTTP-only suite of three get checks, whole process", flush=True)
    with BackgroundServer(create_app(DemoState())) as server:
        config = work / "cold.yml"
        config.write_text(
            f"apps:\n  demo:\n    url: {server.url}\n    suite:\n"
            "      - {name: up, get: /up}\n"
            "      - {name: devops hidden, get: /devops, expect: {status: 404}}\n"
            "      - {name: cycle hidden, get: /devops/cycle, expect: {status: 404}}\n")
        command = [str(BIN / "prod-smoke"), "--config", str(config), "demo"]
        bare = [sys.executable, "-c", "pass"]
        timed(command, work, clean_env())
        runs, python = [], []
        for _ in range(rounds * 3):
            runs.append(timed(command, work, clean_env()))
            python.append(timed(bare, work))
        report.add(Row("cold", "prod-smoke with 3 get checks (whole process)", runs,
                       goal="≤ 0.30 s", met=statistics.median(runs) <= 0.30))
        report.add(Row("cold", "python -c pass (the floor)", python))
        done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                               "import smokeseal._startup, smokeseal.cli, smokeseal.config, "
                               "smokeseal.runner, smokeseal.checks.http, smokeseal.report"],
                              capture_output=True, text=True, check=True)
    top: dict[str, int] = {}
    for line in done.stderr.splitlines()[1:]:
        parts = line.split("|")
        if len(parts) == 3 and re.match(r"^ [^ ]", parts[2]):  # top-level imports only
            top[parts[2].strip()] = int(parts[1])
    total = sum(top.values())
    biggest = sorted(top.items(), key=lambda kv: -kv[1])[:8]
    report.note("cold", f"imports (python -X importtime, top level, cumulative): "
                f"{total / 1000:.0f} ms in all; " + ", ".join(
                    f"{name} {us / 1000:.0f} ms" for name, us in biggest))


# --- c. the fleet -------------------------------------------------------------------------

def bench_fleet(report: Report, work: Path, rounds: int, apps: int) -> None:
    print(f"\nc. Fleet: {apps} apps of six checks, each on its own origin", flush=True)
    with MultiPortServer(create_app(DemoState()), apps) as server:
        entries = "".join(f"  app-{i:02d}:\n    url: {url}\n    suite: qa-readonly\n"
                          for i, url in enumerate(server.urls))
        config = work / "fleet.yml"
        config.write_text(f"apps:\n{entries}suites:\n  qa-readonly:\n{DEMO_SUITE}")
        fleet = [str(BIN / "prod-smoke"), "--config", str(config), "--all"]
        singles: list[float] = []
        fleets: list[float] = []
        names = [f"app-{i:02d}" for i in range(apps)]
        random.Random(7).shuffle(names)
        # Every app's config is the same, so the separate runs are sampled: a few apps each
        # round, alternating with the whole fleet, so both see the same machine.
        per_round = 5
        for batch in (names[i * per_round:(i + 1) * per_round] for i in range(rounds)):
            fleets.append(timed(fleet, work, clean_env()))
            for name in batch:
                singles.append(timed([str(BIN / "prod-smoke"), "--config", str(config),
                                      name], work, clean_env()))
    one = statistics.median(singles)
    report.add(Row("fleet", "one prod-smoke APP (median of every separate run)", singles))
    separate = [one * apps]
    report.add(Row("fleet", f"{apps} separate runs (= {apps} × that median of "
                   f"{len(singles)} runs)", separate))
    report.add(Row("fleet", f"prod-smoke --all over {apps} apps", fleets))
    ratio = statistics.median(fleets) / (one * apps)
    report.add(Row("fleet", "ratio, --all / separate runs", [ratio], unit="x",
                   goal="≤ 0.25×", met=ratio <= 0.25))
    report.add(Row("fleet", "pace of --all", [apps / f * 60 for f in fleets], unit="/min"))


# --- d. scaling ---------------------------------------------------------------------------

def bench_scaling(report: Report, rounds: int) -> None:
    print("\nd. Scaling: suite wall time by number of checks (half page, half get)",
          flush=True)
    from smokeseal.config import Check, Expect
    from smokeseal.runner import run_suite

    def suite(n: int) -> list[Check]:
        pages = ("/", "/signin", "/tasks")
        gets = ("/up", "/devops", "/devops/cycle")
        checks = []
        for i in range(n):
            if i % 2 == 0:
                checks.append(Check(name=f"page {i}", page=pages[i // 2 % 3],
                                    expect=Expect(selector="main")))
            else:
                path = gets[i // 2 % 3]
                checks.append(Check(name=f"get {i}", get=path,
                                    expect=Expect(status=200 if path == "/up" else 404)))
        return checks

    sizes = (1, 6, 24, 96)
    pages = {n: (n + 1) // 2 for n in sizes}
    medians: dict[float, dict[int, float]] = {}

    def per_page(latency: float, small: int, large: int) -> float:
        """Wall time each page check adds between suites of ``small`` and ``large`` checks."""
        return ((medians[latency][large] - medians[latency][small])
                / (pages[large] - pages[small]))

    # The demo app answers at once, as no production does; the second series gives every
    # response the latency of a production a continent away.
    for latency in (0.0, 0.2):
        times: dict[int, list[float]] = {n: [] for n in sizes}
        state = DemoState(delay=latency)
        if latency:
            state.set_faults("slow")
        with BackgroundServer(create_app(state)) as server:
            for _ in range(rounds):
                for n in sizes:
                    started = time.perf_counter()
                    run = run_suite(suite(n), server.url)
                    times[n].append(time.perf_counter() - started)
                    if not run.passed:
                        raise SystemExit(f"scaling suite of {n} failed: "
                                         f"{run.failed[0].detail}")
        where = f", server answers in {latency * 1000:.0f} ms" if latency else \
            ", server answers at once"
        for n in sizes:
            per = statistics.median(times[n]) / n
            report.add(Row("scaling", f"{n} checks ({(n + 1) // 2} pages){where}", times[n],
                           note=f"{per * 1000:.0f} ms per check"))
        medians[latency] = {n: statistics.median(times[n]) for n in sizes}
        report.note("scaling", f"{where[2:]}: each page check beyond the first adds "
                    f"~{per_page(latency, 1, 6) * 1000:.0f} ms up to 6 checks and "
                    f"~{per_page(latency, 24, 96) * 1000:.0f} ms from 24 on; HTTP checks add "
                    "nothing measurable.")
    render, wave = per_page(0.0, 24, 96), per_page(0.2, 24, 96) * PAGE_CONCURRENCY
    report.note("scaling", "where the limit is: against a server that answers at once, the "
                f"CPU is the limit from the second page on (~{render * 1000:.0f} ms of both "
                "cores per render: browser, renderer, Playwright's driver). Against a distant "
                f"server, up to {PAGE_CONCURRENCY} pages wait side by side: 6 checks take "
                f"{medians[0.2][6]:.2f} s against {medians[0.2][1]:.2f} s for 1; beyond that "
                f"pages go in waves of {PAGE_CONCURRENCY} (page_concurrency), ~{wave:.1f} s a "
                "wave here, each page making three round trips.")


# --- e. the board -------------------------------------------------------------------------

def bench_board(report: Report, work: Path, requests: int, concurrency: int) -> None:
    print(f"\ne. Board latency under {concurrency} concurrent clients", flush=True)
    from smokeseal.ledger import Ledger

    targets: list[tuple[str, str]] = [("SQLite", f"sqlite:///{work / 'board.db'}")]
    pg_admin = os.environ.get("SMOKESEAL_TEST_POSTGRES_URL",
                              "postgresql+psycopg:///postgres?host=/var/run/postgresql")
    pg_name = f"smokeseal_bench_{os.getpid()}"
    try:
        _admin(pg_admin, f'CREATE DATABASE "{pg_name}"')
        from sqlalchemy.engine import make_url

        targets.append(("PostgreSQL", make_url(pg_admin).set(database=pg_name)
                        .render_as_string(hide_password=False)))
    except Exception as exc:  # any failure: measure SQLite alone, and say so)
        report.note("board", f"PostgreSQL skipped: {str(exc).splitlines()[0]}")
    try:
        for backend, url in targets:
            with Ledger(url) as ledger:
                filled = 0
                for size in (1_000, 100_000):
                    _fill(ledger, size - filled)
                    filled = size
                    _load(report, backend, url, size, requests, concurrency, work)
    finally:
        if len(targets) > 1:
            _admin(pg_admin, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def _admin(url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _fill(ledger: object, count: int) -> None:
    """``count`` more shipped releases over 20 apps, each with a realistic six-check seal."""
    from sqlalchemy import insert

    from smokeseal.ledger import Ledger
    from smokeseal.models import ReleaseRow

    assert isinstance(ledger, Ledger)
    now = datetime.now(UTC)
    start = len(ledger.releases(limit=1)) and ledger.releases(limit=1)[0].id
    rows = []
    for i in range(start, start + count):
        green = i % 7 != 0
        checks = [{"name": f"check {c}", "kind": "page" if c < 3 else "get", "ok": green or c,
                   "detail": "200" if green or c else "expected 404, got 200",
                   "duration_ms": 30 + c} for c in range(6)]
        seal = {"status": "green" if green else "red",
                "summary": "6/6 passed" if green else "5/6 passed; check 0: expected 404",
                "checked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "base_url": "https://a.test",
                "duration_ms": 2100, "checks": checks, "rollback": []}
        rows.append({"app": f"app-{i % 20:02d}", "version": f"v{i}", "sha": "3f2a9c1",
                     "release_branch": "main", "state": "shipped", "notes": "Notes.",
                     "created_at": now, "updated_at": now, "shipped_at": now,
                     "smoke_seal": seal, "seal_status": seal["status"], "sealed_at": now,
                     "seal_id": None})
    with ledger.engine.begin() as conn:
        for k in range(0, len(rows), 5000):
            conn.execute(insert(ReleaseRow), rows[k:k + 5000])
    if ledger.engine.dialect.name == "postgresql":
        # As a ledger that has lived a while would be: vacuumed and analysed, so autovacuum
        # does not wake up in the middle of the measurement and take one of the two cores.
        with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) releases")
            conn.exec_driver_sql("VACUUM (ANALYZE) outbox")


def _load(report: Report, backend: str, url: str, size: int, requests: int,
          concurrency: int, work: Path) -> None:
    process = subprocess.Popen([str(BIN / "smokeseal"), "--database-url", url, "serve",
                                "--port", "0"], cwd=work, env=clean_env(),
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    base = None
    for line in process.stderr:
        if match := re.search(r"board on (http://127\.0\.0\.1:\d+)/deployments", line):
            base = match.group(1)
            break
    if base is None:
        process.kill()
        raise SystemExit("the board did not start")
    drain = threading.Thread(target=process.stderr.read, daemon=True)
    drain.start()
    try:
        latencies = asyncio.run(_generate(base, size, requests, concurrency))
    finally:
        process.terminate()
        process.wait(timeout=10)
    for route, samples in latencies.items():
        ms = [s * 1000 for s in samples]
        report.add(Row("board", f"{backend} {size:,} releases: GET {route}", ms,
                       unit="latency", goal="p95 < 50 ms" if size == 100_000 else "",
                       met=_p95(ms) < 50 if size == 100_000 else None))


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


async def _generate(base: str, size: int, requests: int, concurrency: int
                    ) -> dict[str, list[float]]:
    """``concurrency`` clients on 127.0.0.1, each alternating between the two routes and
    paging at random depths, as people and scripts would."""
    rng = random.Random(size)
    results: dict[str, list[float]] = {"/deployments": [], "/api/releases": []}
    queue = [("/deployments" if i % 2 == 0 else "/api/releases",
              {} if i % 3 == 0 else {"before": rng.randint(2, size)}) for i in range(requests)]
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for route in results:  # warm up: connections, caches, the first render
            for _ in range(5):
                (await client.get(route)).raise_for_status()

        async def worker() -> None:
            while queue:
                route, params = queue.pop()
                started = time.perf_counter()
                response = await client.get(route, params=params)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                results[route].append(elapsed)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


# --- the report ---------------------------------------------------------------------------

def machine() -> list[str]:
    cpu = "unknown"
    with contextlib.suppress(Exception):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(Exception):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB"
    browser = find_browser()
    browser_version = subprocess.run([browser, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    from importlib.metadata import version as installed

    node = subprocess.run(["node", "--version"], capture_output=True, text=True,
                          check=False).stdout.strip() if shutil.which("node") else "none"
    pt = "not installed"
    package = PLAYWRIGHT_DIR / "node_modules" / "@playwright" / "test" / "package.json"
    if package.exists():
        pt = re.search(r'"version":\s*"([^"]+)"', package.read_text()).group(1)  # type: ignore[union-attr]
    return [
        f"- machine: {os.cpu_count()} cores ({cpu}){memory}, {platform.system()} "
        f"{platform.release()}",
        f"- Python {platform.python_version()}, smokeseal {__version__}, Playwright for "
        f"Python {installed('playwright')}",
        f"- browser: {browser_version} ({browser})",
        f"- Node.js {node}, @playwright/test {pt}",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    ]


def write_results(report: Report, command: str, seconds: float) -> None:
    lines = ["# smokeseal benchmark results", "",
             f"Written by `{command}` in {seconds / 60:.1f} min. Medians over alternating "
             "rounds, min–max in brackets. On a shared 2-core VM whole runs swing by up to 2× "
             "from one hour to the next; the ratios, measured side by side within a run, hold "
             "steadier than the absolute figures.", "", *machine(), ""]
    sections = {"suite": "a. The suite against Playwright Test",
                "cold": "b. Cold start", "fleet": "c. Fleet", "scaling": "d. Scaling",
                "board": "e. Board"}
    for key, title in sections.items():
        rows = [r for r in report.rows if r.section == key]
        if not rows and key not in report.notes:
            continue
        lines += [f"## {title}", ""]
        if rows:
            lines += ["| what | measured | goal |", "|---|---|---|"]
            for r in rows:
                verdict = "" if r.met is None else (" ✓" if r.met else " ✗ not met")
                extra = f" · {r.note}" if r.note else ""
                lines.append(f"| {r.what} | {r.shown()}{extra} | {r.goal}{verdict} |")
            lines.append("")
        lines += [f"- {text}" for text in report.notes.get(key, [])]
        lines.append("")
    (HERE / "RESULTS.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller fleet")
    parser.add_argument("--only", default="suite,cold,fleet,scaling,board")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    rounds = 3 if args.quick else 5
    report = Report()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="smokeseal-bench-") as folder:
        work = Path(folder)
        steps: list[tuple[str, Callable[[], None]]] = [
            ("suite", lambda: bench_suite(report, work, rounds)),
            ("cold", lambda: bench_cold(report, work, rounds)),
            ("fleet", lambda: bench_fleet(report, work, 2 if args.quick else 3,
                                          10 if args.quick else 50)),
            ("scaling", lambda: bench_scaling(report, 2)),
            ("board", lambda: bench_board(report, work, 200 if args.quick else 400, 4)),
        ]
        for name, step in steps:
            if name in wanted:
                step()
    seconds = time.perf_counter() - started
    command = "make bench" if not args.quick and wanted == {
        "suite", "cold", "fleet", "scaling", "board"} else " ".join(["python bench/run.py",
                                                                      *sys.argv[1:]])
    write_results(report, command, seconds)
    print(f"\nwrote {HERE / 'RESULTS.md'} ({seconds / 60:.1f} min)")


if __name__ == "__main__":
    main()
