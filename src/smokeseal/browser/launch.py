"""Which Chromium to launch, and with what: the flags that make it unable to write past the
guard (:mod:`smokeseal.browser.guard`) and quiet on a closed network.

No Playwright here: ``doctor`` and ``init`` ask for the browser's path without starting it.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from smokeseal.errors import BrowserError

__all__ = ["IGNORED_DEFAULT_ARGS", "LAUNCH_ARGS", "SEND_PATH_FEATURES", "SYSTEM_BROWSERS",
           "find_browser", "launch_args"]

#: Playwright's own ``--disable-features`` (its ``chromiumSwitches``, 1.65): Chromium honours
#: only the last such switch, and Playwright's comes first, so smokeseal's repeats them.
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose", "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable", "LensOverlay", "MediaRouter", "PaintHolding",
    "ThirdPartyStoragePartitioning", "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin", "OptimizationHints", "NetworkTimeServiceQuerying", "AimEnabled",
    "PreconnectToSearch", "msForceBrowserSignIn", "msEdgeUpdateLaunchServicesPreferredVersion",
)
#: Chromium features that send to production past every route (Playwright's routes see
#: none of their requests), so the guard could neither refuse nor list them. Each is shown
#: firing without the flag and silent with it by tests/checks/test_send_paths.py.
SEND_PATH_FEATURES = (
    # The Reporting API: CSP ``report-to``, deprecation, intervention, Permissions-Policy,
    # COOP/COEP and crash reports, POSTed by the network service up to a minute later.
    "Reporting",
    # Network Error Logging (the ``NEL`` header): reports POSTed the same way.
    "NetworkErrorLogging",
    # ``fetchLater()``: the browser sends it, also after the page is gone.
    "FetchLaterAPI",
    # Speculation-rules prerender and the prefetch it starts with (another page, no route).
    "Prerender2",
    "Prerender2FallbackPrefetchSpecRules",
)
_DISABLE_FEATURES = "--disable-features="
#: Without the first ones Chromium keeps phoning home and stalls on a closed network.
#: ``--disable-shared-workers``: a SharedWorker's requests pass no route (Playwright's guard
#: never sees them), so a page could write through one; the browser gets none to start.
LAUNCH_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--disable-shared-workers",
    # A WebSocketStream is a socket no route sees, in pages and workers alike.
    "--disable-blink-features=WebSocketStream",
    # No popups (``window.open``, ``target=_blank``): a new page would get the route but
    # not the page target's socket rule. The headless shell honours this flag; the full
    # Chromium ignores it and blocks them by its popup blocker instead, which Playwright
    # turns off by default (see :data:`IGNORED_DEFAULT_ARGS`).
    "--block-new-web-contents",
    # One switch for every feature turned off: Chromium honours only the last one given.
    _DISABLE_FEATURES + ",".join((*PLAYWRIGHT_DISABLED_FEATURES, *SEND_PATH_FEATURES)),
)
#: Playwright's default flags taken back: with its popup blocker on, the full Chromium refuses
#: a popup no click opened (smokeseal never clicks).
IGNORED_DEFAULT_ARGS = ("--disable-popup-blocking",)
# The headless shell first: Chromium's build for automation (Playwright's own choice for
# headless runs) launches in a third of the time and renders a page in about half.
SYSTEM_BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome",
                   "google-chrome-stable")
# Debian's /usr/bin/chromium* are shell scripts that fork a shell per launch (and print
# warnings of their own); the binaries behind them take the same flags.
_WRAPPED = {"/usr/bin/chromium": "/usr/lib/chromium/chromium",
            "/usr/bin/chromium-headless-shell": "/usr/lib/chromium/chromium-headless-shell"}
_PLAYWRIGHT_GLOBS = (
    "chromium_headless_shell-*/chrome-*/headless_shell",
    "chromium-*/chrome-linux*/chrome",
    "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
)


def launch_args(extra: Sequence[str] = ()) -> list[str]:
    """:data:`LAUNCH_ARGS`, then ``extra``, with every feature they disable in one
    ``--disable-features`` switch at the end (Chromium would drop all but the last)."""
    features: list[str] = []
    args: list[str] = []
    for arg in (*LAUNCH_ARGS, *extra):
        if arg.startswith(_DISABLE_FEATURES):
            features += arg.removeprefix(_DISABLE_FEATURES).split(",")
        else:
            args.append(arg)
    return [*args, _DISABLE_FEATURES + ",".join(dict.fromkeys(filter(None, features)))]


def find_browser(environ: Mapping[str, str] | None = None) -> str:
    """The Chromium to launch: ``$SMOKESEAL_BROWSER``, Playwright's own, then the system's."""
    environ = os.environ if environ is None else environ
    if wanted := environ.get("SMOKESEAL_BROWSER"):
        path = shutil.which(wanted) or wanted
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise BrowserError(f"SMOKESEAL_BROWSER={wanted}: not an executable file")
        return _unwrap(path)
    cache = environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache/ms-playwright")
    for pattern in _PLAYWRIGHT_GLOBS:
        if found := sorted(glob.glob(os.path.join(cache, pattern))):
            return found[-1]
    for name in SYSTEM_BROWSERS:
        if found_path := shutil.which(name, path=environ.get("PATH")):
            return _unwrap(found_path)
    raise BrowserError(
        "no Chromium found: install one (Debian: apt-get install chromium), "
        "set SMOKESEAL_BROWSER to its path, or run with --no-browser"
    )


def _unwrap(path: str) -> str:
    real = os.path.realpath(path)
    inner = _WRAPPED.get(path) or _WRAPPED.get(real)
    return inner if inner and os.access(inner, os.X_OK) else path
