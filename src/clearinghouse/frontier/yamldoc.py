"""YAML documents that remember where each value came from, so an error can name the file, line and field.

PyYAML's constructed objects lose their marks; composing the node tree first and walking it gives a map from
each field path to its line. The loader also reads YAML 1.2 numbers (`1e26` is a float, as a reader expects,
not the string PyYAML 1.1 makes of it) and keeps dates as strings (the schema checks their format).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from clearinghouse.errors import InvalidRecord, Location

Path = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats and no implicit timestamps."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*(?:\.\d[\d_]*)?|\.\d[\d_]*)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def field_name(path: Path) -> str:
    """A path as a dotted field name: ('criteria', 'cyber', 'any', 0) -> criteria.cyber.any[0]."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "(document)"


@dataclass(frozen=True)
class YamlDocument:
    """A parsed document and the line every field path starts on."""

    file: str
    data: Any
    lines: dict[Path, int]

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor present in the document."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def error(self, reason: str, path: Path) -> InvalidRecord:
        return InvalidRecord(reason, Location(file=self.file, line=self.line_of(path), field=field_name(path)))


def load(text: str, file: str) -> YamlDocument:
    """Parse one YAML document; syntax errors and duplicate keys raise `InvalidRecord` with file and line."""
    try:
        loader = _Loader(text)  # the reader refuses control characters here, before any parsing
    except yaml.YAMLError as exc:
        raise InvalidRecord(f"not valid YAML: {exc}", Location(file=file)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise InvalidRecord("the file is empty", Location(file=file, line=1))
        lines: dict[Path, int] = {}
        _walk(node, (), lines, file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise InvalidRecord(f"not valid YAML: {exc.problem or exc}", Location(file=file, line=line)) from None
    except yaml.YAMLError as exc:
        raise InvalidRecord(f"not valid YAML: {exc}", Location(file=file)) from None
    finally:
        loader.dispose()
    return YamlDocument(file, data, lines)


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int], file: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                # PyYAML keeps the last copy silently; in criteria that would hide a threshold change.
                location = Location(file=file, line=key_node.start_mark.line + 1, field=field_name((*path, key)))
                raise InvalidRecord(f"duplicate key {key!r}", location)
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, file)
