"""The recipes of docs/apps.md, as the tests run them: each YAML block between
``<!-- recipe: NAME -->`` and ``<!-- end recipe -->``, aimed at a local app."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "apps.md"
_RECIPE = re.compile(r"<!-- recipe: (?P<name>[\w-]+) -->\n```yaml\n(?P<yaml>.*?)```\n"
                     r"<!-- end recipe -->", re.DOTALL)


def recipes() -> dict[str, str]:
    """Every recipe's YAML, by name, in the doc's order."""
    found: dict[str, str] = {}
    for match in _RECIPE.finditer(DOC.read_text(encoding="utf-8")):
        assert match["name"] not in found, f"two recipes named {match['name']}"
        found[match["name"]] = match["yaml"]
    return found


def recipe(name: str) -> tuple[str, dict[str, Any]]:
    """The recipe's one app: its name and its settings."""
    config = yaml.safe_load(recipes()[name])
    [(app, settings)] = config["apps"].items()
    return app, settings


def recipe_config(name: str, url: str, where: Path, *, reads: bool = True,
                  timeout: float | None = None, retries: int | None = None,
                  extra_checks: list[dict[str, Any]] | None = None) -> tuple[str, Path]:
    """The recipe written to ``where``/smokeseal.yml with its ``url`` replaced, and, for the
    tests that need it, its ``reads:`` left out or its page checks' timeout and retries set
    (a test that expects red need not wait out a retry). Returns the app's name and the
    file."""
    app, settings = recipe(name)
    settings["url"] = url
    if not reads:
        assert settings.pop("reads", None), f"the {name} recipe declares no reads"
    for check in settings["suite"]:
        if "page" in check:
            if timeout is not None:
                check["timeout"] = timeout
            if retries is not None:
                check["retries"] = retries
    settings["suite"] += extra_checks or []
    where.mkdir(parents=True, exist_ok=True)
    path = where / "smokeseal.yml"
    path.write_text(yaml.safe_dump({"apps": {app: settings}}, sort_keys=False),
                    encoding="utf-8")
    return app, path
