"""The bundled demo app: the production that ``make demo`` and the tests seal."""

import json

from smokeseal.demo.app import FAULTS, HOSTILE, DemoState, create_app

__all__ = ["DEMO_SUITE", "FAULTS", "HOSTILE", "DemoState", "create_app", "demo_config_yaml"]

#: The design's six read-only checks, as a team would write them for this app.
DEMO_SUITE = """\
    - {name: home renders,   page: /,       expect: {status: 200, selector: main}}
    - {name: signin renders, page: /signin, expect: {selector: "form"}}
    - {name: tasks render,   page: /tasks,  expect: {selector: "[data-test=tasks]"}}
    - {name: up,             get: /up,      expect: {status: 200}}
    - {name: devops hidden,  get: /devops,  expect: {status: 404}}
    - {name: cycle hidden,   get: /devops/cycle, expect: {status: 404}}
"""


def demo_config_yaml(url: str, app: str = "demo", deploy: str | None = None) -> str:
    """A complete ``smokeseal.yml`` for the demo app served at ``url``."""
    deploy_line = f"    deploy: {json.dumps(deploy)}\n" if deploy else ""
    return (
        "# smokeseal config for the bundled demo app\n"
        f"apps:\n  {app}:\n    url: {url}\n{deploy_line}    suite: qa-readonly\n"
        f"suites:\n  qa-readonly:\n{DEMO_SUITE}"
    )
