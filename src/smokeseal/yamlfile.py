"""YAML that remembers where each key was written, with ``${VAR}`` substitution.

Config errors are only useful when they point at the line to fix; PyYAML's plain loader
forgets positions, so this keeps a map from key path to line number beside the data.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from smokeseal.errors import ConfigError

__all__ = ["Document", "EnvRef", "KeyPath", "env_references", "key_text", "read_yaml"]

KeyPath = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_PLACEHOLDER = re.compile(r"__smokeseal_env_(\d+)__")


def key_text(at: KeyPath) -> str:
    """``("apps", "a", "suite", 0)`` -> ``apps.a.suite[0]``."""
    out = ""
    for part in at:
        if not isinstance(part, int):
            # A key with a line break or a control character must not break the one line.
            part = part if part.isprintable() and part.strip() == part and part else repr(part)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


@dataclass
class Document:
    data: Any
    lines: dict[KeyPath, int]
    source: str
    #: Where each ``${VAR}`` taken from the environment was put, and its value.
    substituted: list[tuple[KeyPath, str]] = field(default_factory=list)
    #: Where each ``${VAR}`` taken from the environment was put, and the variable's name.
    variables: list[tuple[KeyPath, str]] = field(default_factory=list)
    #: Strings that held a ``${VAR}`` or ``$$``, as written (before substitution).
    written: dict[KeyPath, str] = field(default_factory=dict)

    def line(self, at: KeyPath) -> int | None:
        """The line of ``at``, or of its nearest ancestor that was written down."""
        for end in range(len(at), -1, -1):
            if at[:end] in self.lines:
                return self.lines[at[:end]]
        return None

    def error(self, message: str, at: KeyPath, line_of: KeyPath | None = None) -> ConfigError:
        return ConfigError(message, path=self.source, key=key_text(at),
                           line=self.line(at if line_of is None else line_of))

    def validation_error(self, exc: ValidationError, field_names: Iterable[str]) -> ConfigError:
        """The one pydantic error a person should fix first, as a :class:`ConfigError`."""
        # A union (``suite: name | [checks]``) fails once per member; the member that got
        # furthest into what the user wrote is the one they meant.
        located = [(self._written_path(err), err) for err in exc.errors(include_url=False)]
        at, err = max(located, key=lambda pair: len(pair[0]))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
            close = difflib.get_close_matches(str(at[-1]), sorted(field_names), n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        elif err["type"] == "missing":
            return self.error("required key is missing", at, line_of=at[:-1])
        message = message.removeprefix("Value error, ")
        return self.error(message, at)

    def _written_path(self, err: Any) -> KeyPath:
        """The part of a pydantic ``loc`` that names real keys (unions add type names)."""
        at: KeyPath = ()
        node = self.data
        for part in err["loc"]:
            found = (isinstance(node, dict) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and part < len(node))
            if found:
                node = node[part]
                at = (*at, part)
            elif err["type"] == "missing" and isinstance(node, dict) and isinstance(part, str):
                return (*at, part)
        return at


def read_yaml(text: str, source: str, environ: Mapping[str, str]) -> Document:
    """Parse ``text``, then replace every ``${VAR}`` / ``${VAR:-default}`` / ``$$``."""
    # ``{token: ${GITHUB_TOKEN}}`` is not valid YAML (``{`` opens a mapping), yet it is how
    # everyone writes it; references become plain placeholders before parsing, and values
    # are put back into the parsed strings, never spliced into the YAML text.
    refs: list[re.Match[str]] = []

    def hold(match: re.Match[str]) -> str:
        refs.append(match)
        return f"__smokeseal_env_{len(refs) - 1}__"

    document = _parse(_ENV_REF.sub(hold, text), source)
    document.data = _Substitution(refs, environ, document).apply(document.data, ())
    return document


@dataclass(frozen=True)
class EnvRef:
    """One ``${NAME}`` / ``${NAME:-default}`` in a config, where it is used."""

    name: str
    default: str | None
    key: str
    line: int | None


def env_references(text: str, source: str) -> list[EnvRef]:
    """Every ``${VAR}`` the config uses (comments excluded), in order; needs valid YAML."""
    refs: list[re.Match[str]] = []

    def hold(match: re.Match[str]) -> str:
        refs.append(match)
        return f"__smokeseal_env_{len(refs) - 1}__"

    document = _parse(_ENV_REF.sub(hold, text), source)
    found: list[EnvRef] = []

    def walk(value: Any, at: KeyPath) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(key, at)
                walk(item, (*at, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*at, index))
        elif isinstance(value, str):
            for match in _PLACEHOLDER.finditer(value):
                ref = refs[int(match.group(1))]
                if ref.group(0) != "$$":
                    found.append(EnvRef(ref.group(1), ref.group(2), key_text(at),
                                        document.line(at)))

    walk(document.data, ())
    return found


def _parse(text: str, source: str) -> Document:
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # YAML allows no control characters at all
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(f"invalid YAML: control character U+{character:04X} is not allowed",
                          path=source, line=text.count("\n", 0, exc.position) + 1) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", path=source,
                          line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError("invalid YAML: " + " ".join(str(exc).split()), path=source) from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    if node is not None:
        for at, line in _node_lines(node, ()):
            lines.setdefault(at, line)
    return Document(data, lines, source)


def _node_lines(node: yaml.Node, at: KeyPath) -> Iterator[tuple[KeyPath, int]]:
    yield at, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            yield (*at, key_node.value), key_node.start_mark.line + 1
            yield from _node_lines(value_node, (*at, key_node.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _node_lines(item, (*at, index))


class _Substitution:
    def __init__(self, refs: list[re.Match[str]], environ: Mapping[str, str],
                 document: Document) -> None:
        self.refs = refs
        self.environ = environ
        self.document = document
        document.substituted = []
        document.variables = []
        document.written = {}

    def apply(self, value: Any, at: KeyPath) -> Any:
        if isinstance(value, dict):
            return {self.expand(k, at) if isinstance(k, str) else k: self.apply(v, (*at, k))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v, (*at, i)) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self.expand(value, at)
        return value

    def expand(self, value: str, at: KeyPath) -> str:
        def replace(match: re.Match[str]) -> str:
            ref = self.refs[int(match.group(1))]
            if ref.group(0) == "$$":
                return "$"
            name, default = ref.group(1), ref.group(2)
            if name in self.environ:
                self.document.substituted.append((at, self.environ[name]))
                self.document.variables.append((at, name))
                return self.environ[name]
            if default is not None:
                return default
            raise self.document.error(f"environment variable {name} is not set", at)

        if _PLACEHOLDER.search(value):
            self.document.written[at] = _PLACEHOLDER.sub(
                lambda match: self.refs[int(match.group(1))].group(0), value)
        return _PLACEHOLDER.sub(replace, value)
