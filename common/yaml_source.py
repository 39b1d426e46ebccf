"""YAML reading that remembers where each mapping and key came from.

Codebook errors must name the file and line, and PyYAML only knows lines while composing nodes.
This loader keeps them: every mapping becomes a `SourceMap` (a dict) with the line of the mapping
and of each key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class SourceMap(dict[str, Any]):
    """A YAML mapping that knows its own line and each key's line (1-based)."""

    line: int
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class SourceList(list[Any]):
    """A YAML sequence that knows the line of each item (1-based)."""

    line: int
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records node lines; never constructs arbitrary Python objects."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> SourceMap:
    loader.flatten_mapping(node)
    result = SourceMap()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> SourceList:
    result = SourceList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
# Dates stay strings and only true/false are booleans (YAML 1.1 reads `yes`, `no`, `on`, `off` as
# booleans, which would turn the option code `no` into False): the element type decides meaning.
_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STRICT_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_LineLoader.yaml_implicit_resolvers = {
    key: [(tag, _STRICT_BOOL if tag == _BOOL else regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class YamlSyntaxError(Exception):
    """A file that is not valid YAML; carries the 1-based line for the problem report."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")


def load_yaml(path: Path) -> Any:
    """Load one YAML file into SourceMap/SourceList values (or scalars)."""
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlSyntaxError(path, line, f"{exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(path, None, str(exc)) from exc


def line_of(value: Any, default: int | None = None) -> int | None:
    """The line a loaded value started on, where known."""
    return getattr(value, "line", default)
