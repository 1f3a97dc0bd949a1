"""Ctrl-C and SIGTERM to the real ``prod-smoke`` end the run promptly and take the command
check's whole process group with them (it runs in a session of its own, so the terminal's
Ctrl-C never reaches it: smokeseal must stop it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.checks.procs import SPAWNER, gone_soon, read_pids

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def _sigint(disposition: signal.Handlers) -> Callable[[], None]:
    """Set in the child before exec: a terminal's shell gives SIGINT its default, a shell
    running prod-smoke as a background job (``&`` in a CI script) ignores it."""
    def set_sigint() -> None:
        signal.signal(signal.SIGINT, disposition)

    return set_sigint


@pytest.mark.usefixtures("strays")
@pytest.mark.parametrize(("sig", "sigint"), [
    (signal.SIGINT, signal.SIG_DFL),
    (signal.SIGTERM, signal.SIG_DFL),
    (signal.SIGTERM, signal.SIG_IGN),  # Ctrl-C ignored: SIGTERM must still end the run
], ids=["SIGINT", "SIGTERM", "SIGTERM-in-background-job"])
def test_a_signal_to_prod_smoke_stops_the_command_and_its_children(
        tmp_path: Path, sig: signal.Signals, sigint: signal.Handlers) -> None:
    (tmp_path / "runner.py").write_text(SPAWNER)
    config = tmp_path / "smokeseal.yml"
    # A closed port: the command check never contacts the app, and nothing else runs.
    config.write_text(
        "apps:\n  stuck:\n    url: http://127.0.0.1:9\n    suite:\n"
        f"      - {{name: e2e suite, command: '{sys.executable} runner.py', timeout: 600}}\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMOKESEAL_")}
    process = subprocess.Popen([str(BIN / "prod-smoke"), "--config", str(config), "stuck"],
                               cwd=tmp_path, env=environ, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=_sigint(sigint))
    try:
        pids = read_pids(tmp_path)
        process.send_signal(sig)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # 130 is the CLI's (and Typer's) exit status for an interrupted run.
    assert process.returncode == 130, (process.returncode, out, err)
    assert "Traceback" not in err and "never retrieved" not in err, err
    # The group is stopped before prod-smoke exits; allow the kernel a moment to tidy up.
    assert gone_soon(pids, timeout=2) == [], "the command's processes outlived prod-smoke"
