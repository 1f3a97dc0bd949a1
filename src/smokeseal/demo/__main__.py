"""``python -m smokeseal.demo [--port P] [--fault NAME ...]``: serve the demo app."""

from __future__ import annotations

import argparse

import uvicorn

from smokeseal.demo.app import FAULTS, DemoState, create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m smokeseal.demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--fault", action="append", default=[], choices=sorted(FAULTS),
                        help="inject a fault (repeatable)")
    parser.add_argument("--delay", type=float, default=1.5, help="seconds, for --fault slow")
    args = parser.parse_args()
    state = DemoState(delay=args.delay)
    state.set_faults(*args.fault)
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
