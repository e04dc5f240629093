"""Reading the config's YAML: the mapping, the line of every dotted key, and one-line messages.

Invariants:
- One parse: the node tree gives each key's line, then the data; every failure (missing file,
  not UTF-8, not YAML, not a mapping) is one ConfigError line naming the file.
- A secret-looking key (`password`, `api_key`, ...) is refused, pointing at the variable.
- msgspec's messages become `<file> line N: <dotted.key>: <what is wrong>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from engine.errors import ConfigError

_SECRET_KEYS = {"password", "icloud_password", "api_key", "token"}
_PATH_RE = re.compile(r"`\$((?:\.[A-Za-z0-9_-]+|\[\d+\])*)`")


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The YAML mapping and the line of every dotted key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found (pass --config or set PHOTOLEDGER_CONFIG; "
            "`photoledger init` writes one)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()  # one parse: the node gives line numbers, then the data
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    key_lines = dict(_key_lines(node)) if node is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with `library:` and `icloud:` sections")
    return data, key_lines


def _key_lines(node: yaml.Node, prefix: str = "") -> Iterator[tuple[str, int]]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            yield key, key_node.start_mark.line + 1
            yield from _key_lines(value_node, key)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = f"{prefix}[{index}]"
            yield key, item.start_mark.line + 1
            yield from _key_lines(item, key)


def refuse_secrets(data: Mapping[str, Any], path: Path, key_lines: Mapping[str, int]) -> None:
    for section, values in data.items():
        if not isinstance(values, dict):
            continue
        for key in values:
            if str(key).lower() in _SECRET_KEYS:
                dotted = f"{section}.{key}"
                raise ConfigError(
                    f"{path} line {key_lines.get(dotted, '?')}: {dotted}: secrets are never "
                    "read from the config; set PHOTOLEDGER_ICLOUD_PASSWORD or use a .env file "
                    "beside the config"
                )


def explain(message: str, path: Path, key_lines: Mapping[str, int]) -> str:
    """Turn msgspec's `... - at `$.a.b`` into `<file> line N: a.b: <what is wrong>`."""
    found = _PATH_RE.search(message)
    dotted = found.group(1).lstrip(".") if found else ""
    what = message.split(" - at ", maxsplit=1)[0]
    unknown = re.match(r"Object contains unknown field `([^`]+)`", what)
    missing = re.match(r"Object missing required field `([^`]+)`", what)
    if unknown:
        dotted = f"{dotted}.{unknown.group(1)}" if dotted else unknown.group(1)
        what = "unknown key (check the spelling; config.example.yaml lists every key)"
    elif missing:
        dotted = f"{dotted}.{missing.group(1)}" if dotted else missing.group(1)
        what = "missing required value"
    else:
        what = what[0].lower() + what[1:]
    line = _nearest_line(dotted, key_lines)
    return f"{path}{f' line {line}' if line else ''}: {dotted or '(top level)'}: {what}"


def _nearest_line(dotted: str, key_lines: Mapping[str, int]) -> int | None:
    key = dotted
    while key:
        if key in key_lines:
            return key_lines[key]
        key = key.rpartition(".")[0]
    return None
