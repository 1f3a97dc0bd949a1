"""Six checks that each take 1.5 s: how long does the whole suite take?

Run in series they would take 9 s. Three page checks and three HTTP checks hit the demo
app's ``/slow`` route (1.5 s per answer); the runner should overlap all six, so the wall
time is about one answer plus the browser's start-up.

    python bench/six_checks.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from smokeseal.config import Check, Expect
from smokeseal.demo import DemoState, create_app
from smokeseal.runner import run_suite
from smokeseal.servers import BackgroundServer

DELAY = 1.5
GOAL = 0.5 * 6 * DELAY  # "well under 9 s": half of running them one after another


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    checks = [Check(name=f"get {i}", get=f"/slow?n={i}") for i in range(3)] + [
        Check(name=f"page {i}", page=f"/slow?n={i}", expect=Expect(selector="main"))
        for i in range(3)]
    state = DemoState(delay=DELAY)
    times = []
    with BackgroundServer(create_app(state)) as server:
        for _ in range(args.rounds):
            started = time.perf_counter()
            run = run_suite(checks, server.url)
            times.append(time.perf_counter() - started)
            if not run.passed:
                raise SystemExit(f"suite failed: {[r.detail for r in run.failed]}")
    median = statistics.median(times)
    print(f"six {DELAY} s checks, {args.rounds} rounds")
    print(f"  serial would be   {6 * DELAY:.2f} s")
    print(f"  median wall time  {median:.2f} s  (min {min(times):.2f}, max {max(times):.2f})")
    print(f"  ratio to serial   {median / (6 * DELAY):.2f}")
    print(f"  goal              < {GOAL:.1f} s: {'met' if median < GOAL else 'NOT met'}")


if __name__ == "__main__":
    main()
