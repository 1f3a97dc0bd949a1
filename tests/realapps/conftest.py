"""Real apps as production: Streamlit, Dash, Strawberry GraphQL, Gradio, and four whose data
arrives over a WebSocket, Engine.IO or a GraphQL POST (Shiny, NiceGUI, Panel, an Ariadne
server that refuses GET queries), installed from PyPI into tests/realapps/.venv (``make
realapps``, a part of ``make test``), each started with its own server on a free 127.0.0.1
port, healthy and broken (``REALAPP_MODE=broken``), once for the package's tests. All sixteen
start at once when the first is asked for: they take seconds to import."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
#: The apps' python: the tier's own venv, or another one that has tests/realapps/requirements.txt.
PYTHON_ENV = "SMOKESEAL_REALAPPS_PYTHON"
DEFAULT_PYTHON = HERE / ".venv" / "bin" / "python"
#: Gradio imports in seconds, and sixteen apps start at once on two cores.
READY_TIMEOUT = 120.0
MODES = ("healthy", "broken")


@dataclass(frozen=True)
class Kind:
    """How to start one framework's app and tell that it is serving."""

    name: str
    #: The command after the python, with ``{port}`` and ``{app}`` (the app's file).
    args: tuple[str, ...]
    script: str
    #: A GET that answers 200 once the app is serving.
    ready: str


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("streamlit", ("-m", "streamlit", "run", "{app}", "--server.port", "{port}",
                       "--server.address", "127.0.0.1", "--server.headless", "true",
                       "--browser.gatherUsageStats", "false", "--server.fileWatcherType",
                       "none", "--global.developmentMode", "false"),
         "streamlit_app.py", "/_stcore/health"),
    Kind("dash", ("{app}", "{port}"), "dash_app.py", "/health"),
    Kind("graphql", ("{app}", "{port}"), "graphql_app.py", "/health"),
    Kind("gradio", ("{app}", "{port}"), "gradio_app.py", "/config"),
    # Shiny has no health path: its page frame answers 200 once it serves.
    Kind("shiny", ("{app}", "{port}"), "shiny_app.py", "/"),
    Kind("nicegui", ("{app}", "{port}"), "nicegui_app.py", "/health"),
    Kind("panel", ("{app}", "{port}"), "panel_app.py", "/liveness"),
    Kind("ariadne", ("{app}", "{port}"), "ariadne_app.py", "/health"),
)}

#: The network is closed: no telemetry, no update checks, no model hub.
QUIET_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "STREAMLIT_SERVER_HEADLESS": "true",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}


#: How Streamlit, Flask, uvicorn, Tornado and Gradio say that the port they were given was taken
#: meanwhile (between :func:`free_port` and the app's bind, by any process's connection).
_PORT_TAKEN = re.compile(r"already in use|Errno 98|empty port|Port \d+ is not available",
                         re.IGNORECASE)


class PortTaken(Exception):
    """The app lost its port before it could bind it: start it again on another."""


def apps_python() -> Path:
    return Path(os.environ.get(PYTHON_ENV) or DEFAULT_PYTHON)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RealApp:
    """One app's server process: ``url`` once :meth:`wait_ready` returned."""

    kind: Kind
    mode: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]
    ready: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        return f"{self.kind.name} ({self.mode})"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, deadline: float) -> None:
        with httpx.Client(timeout=2.0) as client:
            while not self.ready:
                if self.process.poll() is not None:
                    if _PORT_TAKEN.search(self.log_tail()):
                        raise PortTaken(self.name)
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                       f"{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    self.ready = client.get(self.url + self.kind.ready).status_code == 200
                if not self.ready:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{self.name} was not serving {self.kind.ready} "
                                           f"within {READY_TIMEOUT:g} s:\n{self.log_tail()}")
                    time.sleep(0.2)

    def stop(self) -> None:
        """The whole process group: Streamlit and Gradio may have children."""
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if self.process.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(wait)

    def get(self, path: str) -> Any:
        """A read of the app's own state (GraphQL's mutation counter), as JSON."""
        answer = httpx.get(self.url + path, timeout=5.0)
        answer.raise_for_status()
        return answer.json()


def start(kind: Kind, mode: str, python: Path, logs: Path) -> RealApp:
    port = free_port()
    args = [a.format(app=APPS / kind.script, port=port) for a in kind.args]
    log = logs / f"{kind.name}-{mode}.log"
    # Production runs under no test runner: NiceGUI takes PYTEST_CURRENT_TEST for its own
    # screen tests and then ignores the port it is given.
    inherited = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env = {**inherited, **QUIET_ENV, "REALAPP_MODE": mode, "HOME": str(logs)}
    with log.open("wb") as out:
        process = subprocess.Popen([str(python), *args], cwd=APPS, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    return RealApp(kind, mode, port, log, process)


@dataclass
class Fleet:
    """Every real app, healthy and broken, started at once; :meth:`app` waits for one."""

    python: Path
    logs: Path
    apps: dict[tuple[str, str], RealApp] = field(default_factory=dict)
    deadline: float = 0.0

    def start_all(self) -> None:
        self.deadline = time.monotonic() + READY_TIMEOUT
        for kind in KINDS.values():
            for mode in MODES:
                self.apps[kind.name, mode] = start(kind, mode, self.python, self.logs)

    def app(self, kind: str, mode: str = "healthy") -> RealApp:
        for _ in range(3):
            app = self.apps[kind, mode]
            try:
                app.wait_ready(self.deadline)
            except PortTaken:
                app.stop()
                self.apps[kind, mode] = start(app.kind, mode, self.python, self.logs)
            else:
                return app
        raise RuntimeError(f"{kind} ({mode}) lost its port three times")

    def stop_all(self) -> None:
        for app in self.apps.values():
            app.stop()


@pytest.fixture(scope="session")
def realapps_python() -> Path:
    """The python of the real apps' venv. CI must have it (make test builds it): there a
    missing one is a failure, as for the browser, PostgreSQL and Playwright Test."""
    python = apps_python()
    if not python.exists():
        problem = (f"no real apps' python at {python}: run make test (it builds "
                   f"tests/realapps/.venv from tests/realapps/requirements.txt), or set "
                   f"{PYTHON_ENV}")
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the real apps: {problem}")
        pytest.skip(problem)
    return python


@pytest.fixture(scope="package")
def realapps(realapps_python: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Fleet]:
    """Every app, healthy and broken, for this package's tests: stopped once they are done,
    so that the rest of the suite does not run beside them."""
    fleet = Fleet(realapps_python, tmp_path_factory.mktemp("realapps"))
    try:
        fleet.start_all()
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture(params=list(KINDS))
def healthy_app(realapps: Fleet, request: pytest.FixtureRequest) -> RealApp:
    """Each real app, healthy."""
    return realapps.app(request.param)


@pytest.fixture(params=list(KINDS))
def broken_app(realapps: Fleet, request: pytest.FixtureRequest) -> RealApp:
    """Each real app, broken: its script, callback, load function or resolver raises, while
    its page frame still answers 200."""
    return realapps.app(request.param, "broken")
