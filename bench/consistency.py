"""Is the verdict steady? Seal a healthy production stand-in many times in a row and count.

A healthy production must be sealed green every time, with no flaky check: a seal that goes
red (or leans on its retry) on a healthy app teaches operators to ignore it. The same is run
again with two processes busy-looping on the machine, the way a CI runner shares its cores.

    python bench/consistency.py [--runs 100] [--no-busy]

Prints the counts and writes ``bench/CONSISTENCY.md``. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import smokeseal._startup  # noqa: F401  the console scripts' start-up settings, here too
from smokeseal import __version__
from smokeseal.browser.launch import find_browser
from smokeseal.config import load_config
from smokeseal.demo import DemoState, create_app, demo_config_yaml
from smokeseal.runner import run_app
from smokeseal.seal import seal_from_run
from smokeseal.servers import BackgroundServer

HERE = Path(__file__).resolve().parent


def _spin(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        for _ in range(100_000):
            pass


def series(runs: int, config_path: Path, busy: int) -> dict[str, object]:
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
                for _ in range(busy)]
    for spinner in spinners:
        spinner.start()
    statuses: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    reds: list[str] = []
    seconds: list[float] = []
    try:
        config = load_config(config_path)
        for index in range(runs):
            started = time.perf_counter()
            seal = seal_from_run(run_app(config, "demo"))
            seconds.append(time.perf_counter() - started)
            statuses[seal.status] += 1
            outcomes.update(check.outcome for check in seal.checks)
            if not seal.green or seal.flaky:
                reds.append(f"run {index + 1}: {seal.status}: {seal.summary}")
            print(f"\r  {index + 1}/{runs}: {dict(statuses)}", end="", file=sys.stderr)
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join(timeout=5)
    print(file=sys.stderr)
    seconds.sort()
    return {"busy": busy, "runs": runs, "green": statuses["green"], "red": statuses["red"],
            "flaky": outcomes["flaky"], "outcomes": dict(outcomes), "not_green": reds,
            "median_s": seconds[len(seconds) // 2], "max_s": seconds[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--no-busy", action="store_true", help="skip the busy-machine series")
    args = parser.parse_args()
    browser = find_browser()
    state = DemoState()
    state.delay = 0.0
    rows = []
    with BackgroundServer(create_app(state)) as server, \
            tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "smokeseal.yml"
        path.write_text(demo_config_yaml(server.url), encoding="utf-8")
        for busy in (0,) if args.no_busy else (0, 2):
            print(f"{args.runs} runs of the demo suite, {busy} busy-looping processes",
                  file=sys.stderr)
            rows.append(series(args.runs, path, busy))
        writes = state.writes()
    lines = [
        "# Consistency: a healthy production, sealed again and again",
        "",
        f"`python bench/consistency.py --runs {args.runs}` on {datetime.now(UTC):%Y-%m-%d}, "
        f"smokeseal {__version__}, Python {platform.python_version()}, "
        f"{multiprocessing.cpu_count()} cores, browser {browser}.",
        "The demo app's six-check suite (three pages, three gets), each run with its own "
        "browser, as `prod-smoke demo` would; retries at their default (1).",
        "",
        "| busy-looping processes | runs | green | red | flaky checks | median run | slowest |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['busy']} | {row['runs']} | {row['green']} | {row['red']} | "
                     f"{row['flaky']} | {row['median_s']:.2f} s | {row['max_s']:.2f} s |")
    for row in rows:
        for red in row["not_green"]:  # type: ignore[attr-defined]
            lines.append(f"\n- busy {row['busy']}, {red}")
    lines += ["", f"Writes received by the stand-in: {len(writes)}."]
    text = "\n".join(lines) + "\n"
    (HERE / "CONSISTENCY.md").write_text(text, encoding="utf-8")
    print(text)
    if any(row["red"] or row["flaky"] for row in rows) or writes:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
