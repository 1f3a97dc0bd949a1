"""Production's text under GitHub Actions: it reaches the job summary as text and the runner
as data, never as HTML or a workflow command; secrets stay redacted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.github_runner import annotations, obeyed, render, unexpected_tags
from tests.reliability.conftest import HOSTILE, Hostile
from tests.test_cli import cli

TOKEN = "tok-Hostile0Secret0Value0123456789"
#: An external suite's output (a Playwright spec printing the page's text, say) that tries to
#: drive the runner: commands on lines of their own, after spaces, after a carriage return,
#: the old ##[ form, and the end token of a stop-commands it hopes for.
SPEC = r"""printf 'boom\n::add-mask::hunter2\n::set-output name=deployed::false\n'
printf '   ::stop-commands::pwned\n##[set-env name=NODE_OPTIONS]--require=/tmp/evil.js\n'
printf 'ok\r::warning title=fake::carriage return\n::pwned::\n'
printf 'Authorization: Bearer %s\n' "$TOKEN"
exit 1
"""


@pytest.mark.e2e
def test_hostile_production_text_cannot_inject_html_or_workflow_commands(
        hostile: Hostile, write_config: Callable[..., Path], browser_executable: str,
        tmp_path: Path) -> None:
    spec = tmp_path / "spec.sh"
    spec.write_text(SPEC)
    path = write_config(
        f"apps:\n  prod:\n    url: {hostile.url}\n"
        "    suite:\n"
        "      - {name: home, page: /, expect: {selector: main, title: Welcome}}\n"
        "      - {name: header, get: /header, expect: {header: {X-Hostile: calm}}}\n"
        "      - {name: body, get: /body, expect: {status: 200}}\n"
        f"      - {{name: spec, command: 'sh {spec}', env: {{TOKEN: '${{SEAL_TOKEN}}'}}}}\n")
    summary = tmp_path / "step_summary.md"
    done = cli("prod-smoke", "-c", str(path), "prod",
               env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary),
                    "SMOKESEAL_BROWSER": browser_executable, "SEAL_TOKEN": TOKEN})
    assert done.returncode == 1, done.stderr

    # The runner: a pause around the table, then one error per failed check, and nothing of
    # production's obeyed (no mask, output, env, warning or early resume).
    commands = obeyed(done.stdout)
    token = commands[0].data
    assert [c.name for c in commands] == ["stop-commands", token, *["error"] * 4]
    assert token.startswith("smokeseal-") and token != "pwned"
    errors = annotations(done.stdout)
    assert [e.properties["title"] for e in errors] == [
        f"smokeseal prod: {name} failed" for name in ("home", "header", "body", "spec")]
    spec_error = errors[3].data
    assert "::add-mask::hunter2" in spec_error and "##[set-env" in spec_error  # shown, inert
    assert obeyed(done.stderr) == []

    # The summary: production's markup is text, long text is cut, the secret is redacted.
    written = summary.read_text()
    page = render(written)
    assert unexpected_tags(page) == [] and page.comments == []
    assert all(len(row) == 5 for row in page.rows)
    rows = {row[0]: row for row in page.rows[1:]}
    assert list(rows) == ["home", "header", "body", "spec"]
    assert "<script>alert('xss')</script><img src=x onerror=alert(1)>" in rows["home"][4]
    assert "<@&42> ``` **bold** [click](https://evil.exam" in rows["header"][4]
    assert max(len(row[4]) for row in page.rows) < 2500  # LONG is 6,000 characters
    assert "::add-mask::hunter2" in rows["spec"][4]
    for text in (written, done.stdout, done.stderr):
        assert TOKEN not in text
    assert "Authorization: Bearer ***" in rows["spec"][4]
    assert "Authorization: Bearer ***" in spec_error
    assert HOSTILE not in written  # never raw
