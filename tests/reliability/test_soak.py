"""A long-lived process (a pipeline runner, the board's neighbour) sealing 500 times."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from smokeseal.config import load_config
from smokeseal.ledger import Ledger
from smokeseal.outbox import deliver_quietly
from smokeseal.ship import record_shipped, seal_release
from tests.conftest import Api, Demo, notify_yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEALS = 500
WARM_UP = 100
#: What 400 more seals may add to the resident set: caches settling, not a leak (a leak of
#: even 50 KB a seal would be 20 MB).
RSS_SLACK = 12 * 1024 * 1024


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_five_hundred_seals_keep_memory_and_file_descriptors_flat(
        demo: Demo, discord: Api, tmp_path: Path, write_config: Callable[..., Path],
        secrets_env: dict[str, str]) -> None:
    config = load_config(write_config(
        f"apps:\n  demo:\n    url: {demo.url}\n    suite:\n"
        "      - {name: up, get: /up}\n"
        "      - {name: devops hidden, get: /devops, expect: {status: 404}}\n"
        + notify_yaml(discord, None)))
    samples: dict[int, tuple[int, int]] = {}
    with Ledger(f"sqlite:///{tmp_path}/soak.db") as ledger:
        release = record_shipped(config, ledger, "demo", "v1", "3f2a9c1")
        for n in range(1, SEALS + 1):
            seal, release = seal_release(config, ledger, release, use_browser=False)
            assert seal.status == "green"
            assert deliver_quietly(config, ledger) == []
            if n in (WARM_UP, SEALS):
                gc.collect()
                samples[n] = (resident_bytes(), open_fds())
        assert len(ledger.seals(release.id)) == SEALS
        assert ledger.messages(("pending", "failed")) == []
    (rss_warm, fds_warm), (rss_end, fds_end) = samples[WARM_UP], samples[SEALS]
    print(f"rss {rss_warm >> 20} -> {rss_end >> 20} MiB, fds {fds_warm} -> {fds_end}")
    assert fds_end <= fds_warm, (fds_warm, fds_end)
    assert rss_end - rss_warm < RSS_SLACK, (rss_warm, rss_end)
    # The notes and the first seal's message: 499 re-seals of the same verdict tell the
    # thread nothing (each still edits the notes message's seal line).
    assert len(discord.state.messages) == 1 + 1
