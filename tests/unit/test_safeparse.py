"""The one JSON and YAML reader for untrusted text: caps before building, precise refusals, fast."""

from __future__ import annotations

import json
import time

import pytest

from clearinghouse.errors import InputTooLarge, InvalidRecord, MalformedJson, NestedTooDeep, YamlAliasRefused
from clearinghouse.frontier import criteria
from clearinghouse.safeparse import MAX_JSON_DEPTH, _valid_json_depth, json_depth, json_loads, yaml_load

# 394 bytes: nine anchors, each a list of nine aliases of the previous one (9^9 leaves once expanded).
ALIAS_BOMB = (
    "# criteria: eo-covered-frontier-models, version 1.0\na: &a ["
    + ",".join(['"lol"'] * 9)
    + "]\n"
    + "".join(
        f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
)
# The classic nine-level "billion laughs", in YAML.
BILLION_LAUGHS = "lol0: &lol0 lol\n" + "".join(
    f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]\n" for i in range(1, 10)
)


def test_the_alias_bomb_is_394_bytes() -> None:
    assert len(ALIAS_BOMB.encode()) == 394


@pytest.mark.parametrize("document", [ALIAS_BOMB, BILLION_LAUGHS], ids=["alias-bomb", "billion-laughs"])
def test_yaml_bombs_are_refused_in_milliseconds_naming_file_and_line(document: str) -> None:
    started = time.perf_counter()
    with pytest.raises(YamlAliasRefused, match=r"bomb\.yaml:[12]: .*anchors and aliases"):
        yaml_load(document, "bomb.yaml")
    # Through the criteria reader too (`frontier assess --criteria`, the API criteria upload).
    with pytest.raises(YamlAliasRefused):
        criteria.parse(document, "bomb.yaml")
    assert time.perf_counter() - started < 0.5


def test_an_alias_anywhere_is_refused_with_its_line() -> None:
    with pytest.raises(YamlAliasRefused, match=r"f\.yaml:3"):
        yaml_load("a: 1\nb: 2\nc: *x\n", "f.yaml")


def test_yaml_nesting_and_size_are_capped() -> None:
    with pytest.raises(NestedTooDeep, match="nested deeper than 32"):
        yaml_load("x: " + "[" * 100 + "]" * 100, "deep.yaml")
    with pytest.raises(InputTooLarge):
        yaml_load("a: " + "x" * 2_000_000, "big.yaml")
    assert yaml_load("a: 1e3\nb: [1, {c: 2}]\nd: 2024-01-01\n", "ok.yaml").data == {
        "a": 1000.0,
        "b": [1, {"c": 2}],
        "d": "2024-01-01",
    }


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b"[" * 600) == 600
    assert json_depth(b'{"a": "[[[[\\"]]", "b": [[1]]}') == 3
    # A closing bracket hidden in a string cannot hide real depth.
    assert json_depth(b'[[[["]]]]", [[[[]]]]]]]]') == 8


def test_deep_json_is_refused_before_it_is_built_and_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(NestedTooDeep, match=f"limit of {MAX_JSON_DEPTH} levels"):
        json_loads(b"[" * 2_000_000)
    assert time.perf_counter() - started < 0.5
    with pytest.raises(NestedTooDeep):
        json_loads(b'{"a":' * 900 + b"1" + b"}" * 900)
    assert json_loads(b'{"a": [1, {"b": "c"}]}') == {"a": [1, {"b": "c"}]}


@pytest.mark.parametrize("depth", [1, 2, MAX_JSON_DEPTH // 2, MAX_JSON_DEPTH // 2 + 1, 300])
def test_valid_json_is_measured_as_deep_by_the_quick_scan_as_by_json_depth(depth: int) -> None:
    # Strings full of what could fool a scan: quotes and backslashes (escaped in JSON), brackets, a backslash
    # just before a closing quote.
    tricky = ['"]]}', "\\", '[{"', '\\"', 'a\\\\"]', "]\\\\"]
    value: object = "x"
    for n in reversed(range(depth)):
        value = {f"k{n}": [tricky[n % len(tricky)], value]}
    document = json.dumps(value).encode()
    assert json_depth(document) == 2 * depth  # an object and an array a level
    assert _valid_json_depth(document, MAX_JSON_DEPTH) == min(2 * depth, MAX_JSON_DEPTH + 1)
    if 2 * depth > MAX_JSON_DEPTH:
        with pytest.raises(NestedTooDeep):
            json_loads(document)
    else:
        assert json_loads(document)["k0"][0] == '"]]}'


def test_a_text_only_shallow_to_the_quick_scan_is_refused_as_too_deep() -> None:
    # Not JSON: to the quick scan the brackets are inside a string; the full scan counts them, as before.
    with pytest.raises(NestedTooDeep):
        json_loads(b'"\\"' + b"[" * 100)
    assert _valid_json_depth(b'"\\"' + b"[" * 100, MAX_JSON_DEPTH) == 0


def test_control_characters_are_refused_with_their_path_escaped_backslashes_are_text() -> None:
    with pytest.raises(InvalidRecord, match=r"field \$\.a\[1\]: control character U\+0000"):
        json_loads(b'{"a": ["ok", "x\\u0000"]}')
    with pytest.raises(InvalidRecord, match="U\\+001B"):
        json_loads(b'{"k": "\\u001b[31m"}')
    assert json_loads(b'{"a": "C: \\\\u0000 and tab\\t newline\\n"}') == {"a": "C: \\u0000 and tab\t newline\n"}


def test_json_syntax_errors_say_not_valid_json() -> None:
    with pytest.raises(MalformedJson, match="not valid JSON"):
        json_loads(b'{"a": ')
