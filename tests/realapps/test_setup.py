"""The real apps' setup is the project's: pinned, in a venv of their own that ``make test``
builds and ``make clean`` removes, and never among smokeseal's own dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "tests" / "realapps" / "requirements.txt"
FRAMEWORKS = ("streamlit", "dash", "strawberry-graphql", "gradio", "shiny", "nicegui", "panel",
              "ariadne")


def requirements() -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    pins = {}
    for line in filter(None, lines):
        name, _, version = line.partition("==")
        assert re.fullmatch(r"\d+(\.\d+)+", version), f"{line!r} is not pinned to a version"
        pins[name.lower()] = version
    return pins


def test_every_framework_is_pinned() -> None:
    assert set(FRAMEWORKS) <= set(requirements())


def test_no_framework_is_a_dependency_of_smokeseal() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *(d for group in project["optional-dependencies"]
                                             .values() for d in group)]
    names = {re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower() for d in declared}
    assert names.isdisjoint(FRAMEWORKS)


def test_make_test_builds_the_venv_and_make_clean_removes_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    [test_needs] = re.findall(r"^test: (.*)$", makefile, re.MULTILINE)
    assert "realapps" in test_needs.split()
    assert "REALAPPS_VENV := tests/realapps/.venv" in makefile
    [clean] = re.findall(r"^clean:\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert "$(REALAPPS_VENV)" in clean
    assert re.search(r"^\$\(REALAPPS_STAMP\): tests/realapps/requirements.txt$", makefile,
                     re.MULTILINE)
