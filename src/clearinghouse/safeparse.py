"""The one place JSON and YAML from outside become Python objects, with size and depth capped first.

Every reader of untrusted text (the API, the CLI, the importers) goes through here, so a hostile document is
refused before it can cost memory or stack:

- JSON: the size is checked, then the nesting depth is measured on the raw bytes (strings skipped) before orjson
  builds anything. A document nested 900 deep would otherwise parse, then raise `RecursionError` wherever it is
  walked next (validation, serialisation, the audit log). Strings may not hold NUL or other control characters
  (PostgreSQL cannot store NUL; the rest hide text from a reader); tab, line feed and carriage return are text.
- YAML: one loader for the whole project. Aliases and anchors are refused outright (a 394-byte alias bomb
  expands to gigabytes; no document we read needs them), nesting is capped while composing, and the text is
  size-capped before the parser sees it. Each field's line is kept, so errors name file, line and field.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from itertools import accumulate, count
from operator import sub
from typing import Any

import orjson
import yaml

from clearinghouse.errors import (
    InputTooLarge,
    InvalidRecord,
    Location,
    MalformedJson,
    NestedTooDeep,
    YamlAliasRefused,
)

MAX_JSON_DEPTH = 64  # OSV, SARIF and CSAF documents nest well under 20; a submission wraps one of them
MAX_YAML_DEPTH = 32
MAX_YAML_BYTES = 1024 * 1024

Path = tuple[str | int, ...]

# A JSON string token (escapes included); the brackets inside strings do not nest anything.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Maps every byte to 1 except openers (2) and closers (0): a running sum minus the position is the depth.
_DEPTH_STEP = bytes(2 if b in b"[{" else 0 if b in b"]}" else 1 for b in range(256))
_DEPTH_CHUNK = 64 * 1024
_BRACKETS_ONLY = bytes(b for b in range(256) if b not in b"[]{}")
_QUOTES_AND_BRACKETS_ONLY = bytes(b for b in range(256) if b not in b'"[]{}')
_SQUARE = bytes.maketrans(b"{}", b"[]")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NUL = re.compile(r"\x00")
# In valid JSON a control character can only be written as a \u escape (raw ones are a syntax error), so the raw
# text is searched for those escapes (a literal-prefixed search, 100 times faster than walking the tree); the
# tree is walked only when one is found, to rule out an escaped backslash before it and to name the path.
_ESCAPED = {
    CONTROL_CHARACTERS.pattern: re.compile(rb"\\u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])"),
    NUL.pattern: re.compile(rb"\\u0000"),
}


def json_depth(data: bytes, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in a JSON text, measured without parsing it.

    With `stop_above`, the scan stops (in 64 KiB steps) once that depth is passed: 2 MiB of `[` costs 10 ms.
    """
    if data.count(b"[") + data.count(b"{") == 0:
        return 0
    return _deepest(_JSON_STRING.sub(b"", data).translate(None, _BRACKETS_ONLY), stop_above)


def _valid_json_depth(data: bytes, stop_above: int) -> int:
    """`json_depth` of a text that is valid JSON (up to `stop_above` + 1), several times as fast; any other text
    may get another answer.

    In valid JSON a backslash is only ever inside a string, starting an escape: with escaped backslashes and
    then escaped quotes dropped, every quote left opens or closes a string, so the brackets outside strings are
    those between every other quote. They nest properly, so taking away every empty pair, over and over, empties
    them in as many rounds as they nest deep. All of it is in C (replace, translate, split): the regular
    expression that skips strings, and the running sum, were a third of parsing an OSV record.
    """
    if data.count(b"[") + data.count(b"{") == 0:
        return 0
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(data.translate(None, _QUOTES_AND_BRACKETS_ONLY).split(b'"')[::2]).translate(_SQUARE)
    depth = 0
    while brackets and depth <= stop_above:
        fewer = brackets.replace(b"[]", b"")
        if len(fewer) == len(brackets):
            # No empty pair left: the brackets do not nest properly, so the text is not valid JSON (2 MB of "["
            # stops here after one round, not after `stop_above` of them).
            return stop_above + 1
        brackets = fewer
        depth += 1
    return depth


def _deepest(brackets: bytes, stop_above: int | None) -> int:
    """The deepest nesting of a sequence of brackets (strings already left out)."""
    level = deepest = 0
    for start in range(0, len(brackets), _DEPTH_CHUNK):
        steps = brackets[start : start + _DEPTH_CHUNK].translate(_DEPTH_STEP)
        # All in C: accumulate the steps, subtract the index; the maximum is the deepest level in this chunk.
        deepest = max(deepest, level + max(map(sub, accumulate(steps), count(1))))
        level += sum(steps) - len(steps)
        if stop_above is not None and deepest > stop_above:
            break
    return deepest


def json_loads(
    data: bytes | str,
    location: Location | None = None,
    *,
    max_bytes: int | None = None,
    max_depth: int = MAX_JSON_DEPTH,
    refused_characters: re.Pattern[str] = CONTROL_CHARACTERS,
) -> Any:
    """Parse untrusted JSON: size, then depth, then syntax, then characters no string may hold.

    Imported records from public databases keep their escape sequences (`refused_characters=NUL`): only NUL,
    which PostgreSQL cannot store, is refused there; what people submit holds text only.
    """
    location = location or Location()
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if max_bytes is not None and len(raw) > max_bytes:
        raise InputTooLarge(f"the JSON document is {len(raw):,} bytes, over the {max_bytes:,}-byte limit", location)
    # The depth as if the text were valid JSON first: for valid JSON it is exact, so a document parsed here is
    # never nested deeper than the limit; anything else (too deep, or not valid after all) is judged again the
    # slower way, which gives every refusal its usual reason. (orjson refuses nesting past 1,024 levels itself,
    # so a text that only looked shallow costs a failed parse, not the stack.)
    # No text nests deeper than it has opening brackets (those inside strings count too), and most documents have
    # fewer than the limit: they skip the depth scan altogether (it was a twentieth of fingerprinting a record).
    document = _UNPARSED
    if raw.count(b"[") + raw.count(b"{") <= max_depth or _valid_json_depth(raw, max_depth) <= max_depth:
        with contextlib.suppress(orjson.JSONDecodeError):
            document = orjson.loads(raw)
    if document is _UNPARSED:
        document = _loads_checked(raw, location, max_depth)
    escaped = _ESCAPED.get(refused_characters.pattern)
    if escaped is None or escaped.search(raw):
        refuse_characters(document, refused_characters, location)
    return document


_UNPARSED = object()


def _loads_checked(raw: bytes, location: Location, max_depth: int) -> Any:
    """Depth, then syntax, each refused with its reason."""
    depth = json_depth(raw, stop_above=max_depth)
    if depth > max_depth:
        raise NestedTooDeep(f"the JSON document is nested deeper than the limit of {max_depth} levels", location)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise MalformedJson(f"not valid UTF-8 (byte {bad.start}: {bad.reason})", location) from None
        raise MalformedJson(f"not valid JSON: {exc}", location) from None


def check_json_text(raw: bytes, location: Location | None = None, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse, without building it, JSON text nested too deep or escaping a control character into a string.

    For guards in front of parsers that are not ours (FastAPI's request bodies): syntax is left to the parser.
    """
    if json_depth(raw, stop_above=max_depth) > max_depth:
        raise NestedTooDeep(f"the JSON document is nested deeper than the limit of {max_depth} levels", location)
    if _ESCAPED[CONTROL_CHARACTERS.pattern].search(raw):
        json_loads(raw, location, max_depth=max_depth)  # parses only to name the path (or find it was escaped)


def refuse_characters(
    document: Any, refused: re.Pattern[str] = CONTROL_CHARACTERS, location: Location | None = None
) -> None:
    """Refuse NUL and other control characters in any key or string, naming the JSON path of the first one."""
    stack: list[tuple[Any, str]] = [(document, "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if found := refused.search(value):
                _control_found(found, path, location)
        elif isinstance(value, dict):
            for key, item in value.items():
                if found := refused.search(key):
                    _control_found(found, path, location)
                stack.append((item, f"{path}.{key}"))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(value))


def _control_found(match: re.Match[str], path: str, location: Location | None) -> None:
    where = location or Location()
    raise InvalidRecord(
        f"control character U+{ord(match.group()):04X} at offset {match.start()} is not accepted in text",
        Location(where.file, where.line, where.record, path),
    )


# --- YAML ---------------------------------------------------------------------------------------------------


class _Refusal(yaml.MarkedYAMLError):
    def __init__(self, problem: str, mark: yaml.Mark | None, error: type[InvalidRecord]) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.error = error


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats, no implicit timestamps, no aliases or anchors and a nesting cap."""

    max_depth = MAX_YAML_DEPTH

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refusal("anchors and aliases (& and *) are not accepted", event.start_mark, YamlAliasRefused)
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                raise _Refusal(f"nested deeper than {self.max_depth} levels", event.start_mark, NestedTooDeep)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


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


def yaml_load(text: str, file: str, *, max_bytes: int = MAX_YAML_BYTES) -> YamlDocument:
    """Parse one untrusted YAML document; every refusal is an `InvalidRecord` naming the file and line."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InputTooLarge(f"the YAML document is {size:,} bytes, over the {max_bytes:,}-byte limit", Location(file))
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
    except _Refusal as refusal:
        line = refusal.problem_mark.line + 1 if refusal.problem_mark is not None else None
        raise refusal.error(f"not accepted YAML: {refusal.problem}", Location(file=file, line=line)) from None
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
