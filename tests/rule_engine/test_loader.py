"""Tests for rule_engine.loader: hostile and broken documents, YAML 1.2 scalars, JSON, $ref, files."""

from __future__ import annotations

import os
import re
import stat
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rule_engine import loader
from rule_engine.errors import CompileError, DocumentError, Problem, SchemaError
from rule_engine.loader import Document, Limits, load_document, parse_document

CJK = re.compile(r"[\u4e00-\u9fff]")


def problems_of(text: str | bytes, limits: Limits = Limits(), source: str = "t.yaml") -> list[Problem]:
    with pytest.raises(DocumentError) as info:
        parse_document(text, source, limits=limits)
    problems = info.value.problems
    assert problems
    for p in problems:
        assert p.source == source
        assert p.line is not None and p.line >= 1
        assert p.column is not None and p.column >= 1
        assert CJK.search(p.zh), p.zh
    return problems


def billion_laughs() -> str:
    lines = ['lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def ref_bomb(levels: int = 7) -> str:
    lines = ["l0: [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"l{i}: [" + ", ".join([f'{{$ref: "#/l{i - 1}"}}'] * 10) + "]")
    return "\n".join(lines) + "\n"


# id, document, limits, code, line, fragment of the English message
HOSTILE: list[tuple[str, str | bytes, Limits, str, int, str]] = [
    # syntax
    ("unclosed flow sequence", "a: 1\nb: [1, 2\nc: 3\n", Limits(), "syntax", 3, "expected ',' or ']'"),
    ("bad indentation", "a:\n  b: 1\n c: 2\n", Limits(), "syntax", 3, "YAML syntax error"),
    ("json double comma", '{"a": 1,,}', Limits(), "syntax", 1, "expected the node content"),
    ("tab indentation in block yaml", "a:\n\tb: 1\n", Limits(), "syntax", 2, "'\\t'"),
    ("mapping value in plain scalar", "a: 1\nb: c: d\n", Limits(), "syntax", 2, "mapping values are not allowed"),
    ("unterminated quote", 'a: "unterminated\n', Limits(), "syntax", 2, "unexpected end of stream"),
    ("json missing brace", '{\n  "a": 1,\n  "b": [1, 2]\n', Limits(), "syntax", 4, "YAML syntax error"),
    # encoding and characters
    ("invalid utf-8", b"a: 1\nb: \xff\n", Limits(), "encoding", 2, "not valid UTF-8"),
    ("utf-16 bytes", "a: 1\n".encode("utf-16"), Limits(), "encoding", 1, "not valid UTF-8"),
    ("nul character", "a: 1\nb: x\x00\n", Limits(), "character", 2, "U+0000"),
    ("control character", "a: 1\nb: \x07\n", Limits(), "character", 2, "U+0007"),
    ("lone surrogate escape", 'a: 1\nb: "\\ud800"\n', Limits(), "character", 2, "unpaired surrogate"),
    # tags
    ("python object tag", 'a: 1\nb: !!python/object/apply:os.system ["ls"]\n', Limits(), "yaml_tag", 2, "tags are not allowed"),
    ("python name tag", "a: !!python/name:os.system\n", Limits(), "yaml_tag", 1, "!!python/name:os.system"),
    ("binary tag", "a: 1\nb: !!binary aGVsbG8=\n", Limits(), "yaml_tag", 2, "!!binary"),
    ("custom tag", "a: !custom x\n", Limits(), "yaml_tag", 1, "!custom"),
    ("str tag", "a: 1\n\nb: !!str 1\n", Limits(), "yaml_tag", 3, "!!str"),
    ("tag on mapping", "a: !!map {b: 1}\n", Limits(), "yaml_tag", 1, "!!map"),
    ("tag on sequence", "a:\n  - 1\nb: !!set [1]\n", Limits(), "yaml_tag", 3, "!!set"),
    ("tag on key", "a: 1\n!!str k: v\n", Limits(), "yaml_tag", 2, "!!str"),
    ("tag directive", "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n", Limits(), "yaml_tag", 3, "tags are not allowed"),
    # keys
    ("duplicate key", "fields: 1\nname: x\nfields: 2\n", Limits(), "duplicate_key", 3, "duplicate key 'fields' (first defined on line 1)"),
    ("duplicate nested key", "a:\n  b: 1\n  c: 2\n  b: 3\n", Limits(), "duplicate_key", 4, "duplicate key 'b' (first defined on line 2)"),
    ("duplicate json key", '{\n  "a": 1,\n  "a": 2\n}', Limits(), "duplicate_key", 3, "duplicate key 'a'"),
    ("duplicate key quoted and plain", 'a: 1\n"a": 2\n', Limits(), "duplicate_key", 2, "duplicate key 'a'"),
    ("duplicate key crlf", "a: 1\r\nb: 1\r\na: 2\r\n", Limits(), "duplicate_key", 3, "first defined on line 1"),
    ("integer key", "a: 1\n1: x\n", Limits(), "key_type", 2, "mapping keys must be strings (found 1)"),
    ("null key", "null: x\n", Limits(), "key_type", 1, "mapping keys must be strings (found null)"),
    ("tilde key", "a: 1\n~: x\n", Limits(), "key_type", 2, "(found ~)"),
    ("boolean key", "true: x\n", Limits(), "key_type", 1, "(found true)"),
    ("float key", "1.5: x\n", Limits(), "key_type", 1, "(found 1.5)"),
    ("infinite key", ".inf: x\n", Limits(), "key_type", 1, "(found .inf)"),
    ("sequence key", "a: 1\n[a]: x\n", Limits(), "key_type", 2, "(found a list)"),
    ("mapping key", "? {a: 1}\n: x\n", Limits(), "key_type", 1, "(found a mapping)"),
    ("json number key", "{1: 2}", Limits(), "key_type", 1, "mapping keys must be strings"),
    ("merge key", "base: &b {a: 1}\nother:\n  <<: *b\n  c: 2\n", Limits(), "merge_key", 3, "merge keys (<<) are not allowed"),
    # anchors and aliases
    ("billion laughs", billion_laughs(), Limits(), "node_limit", 6, "more than 200000 nodes"),
    ("alias limit", "a: &a x\nb: [" + ", ".join(["*a"] * 101) + "]\n", Limits(), "alias_limit", 2, "more than 100 times"),
    ("alias limit small", "a: &a x\nb: *a\nc: *a\n", Limits(max_aliases=1), "alias_limit", 3, "more than 1 times"),
    ("unknown alias", "a: 1\nb: [*nope]\n", Limits(), "alias_unknown", 2, "the alias *nope has no anchor"),
    ("alias before anchor", "a: *x\nb: &x 1\n", Limits(), "alias_unknown", 1, "*x"),
    ("recursive alias", "a: &x [1, *x]\n", Limits(), "alias_recursive", 1, "inside its own anchor"),
    ("recursive alias in mapping", "a: &x\n  b: *x\n", Limits(), "alias_recursive", 2, "*x"),
    ("duplicate anchor", "a: &x 1\nb: &x 2\n", Limits(), "anchor_duplicate", 2, "&x is defined twice"),
    ("alias depth", "a: &x [[[1]]]\nb: [[*x]]\n", Limits(max_depth=5), "depth_limit", 2, "more than 5 levels"),
    # limits
    ("deep flow sequences", "a: " + "[" * 10_000 + "]" * 10_000, Limits(), "depth_limit", 1, "more than 64 levels"),
    ("deep flow sequences root", "[" * 10_000 + "]" * 10_000, Limits(), "root_type", 1, "must be a mapping"),
    ("deep block sequences", "a:\n  " + "- " * 10_000 + "x\n", Limits(), "depth_limit", 2, "more than 64 levels"),
    ("deep flow mappings", "a: " + "{a: " * 10_000 + "1" + "}" * 10_000, Limits(), "depth_limit", 1, "more than 64 levels"),
    ("deep json objects", '{"a": ' * 10_000 + "1" + "}" * 10_000, Limits(), "depth_limit", 1, "more than 64 levels"),
    ("deep, small limit", "a:\n  b:\n    c: 1\n", Limits(max_depth=2), "depth_limit", 3, "more than 2 levels"),
    ("too many nodes", "a: [1, 2, 3]\nb: [4, 5, 6]\n", Limits(max_nodes=8), "node_limit", 2, "more than 8 nodes"),
    ("too large", "a: 1234567890\n", Limits(max_bytes=10), "size_limit", 1, "larger than 10 bytes"),
    ("too large bytes", b"a: 1234567890\n", Limits(max_bytes=10), "size_limit", 1, "larger than 10 bytes"),
    ("too large multibyte", "a: 中文中文\n", Limits(max_bytes=10), "size_limit", 1, "larger than 10 bytes"),
    ("over 1 MiB", "a: " + "x" * 1_048_576 + "\n", Limits(), "size_limit", 1, "larger than 1048576 bytes"),
    ("long scalar", "a: ok\nb: " + "x" * 11 + "\n", Limits(max_scalar_length=10), "scalar_limit", 2, "longer than 10 characters"),
    ("long key", "a: ok\n" + "k" * 11 + ": v\n", Limits(max_scalar_length=10), "scalar_limit", 2, "longer than 10 characters"),
    # document shape
    ("two documents", "a: 1\n---\nb: 2\n", Limits(), "multiple_documents", 2, "only one document"),
    ("two documents after end marker", "a: 1\n...\n---\nb: 1\n", Limits(), "multiple_documents", 3, "only one document"),
    ("empty second document", "---\na: 1\n---\n", Limits(), "multiple_documents", 3, "only one document"),
    ("empty text", "", Limits(), "empty_document", 1, "the document is empty"),
    ("empty bytes", b"", Limits(), "empty_document", 1, "the document is empty"),
    ("only whitespace", "  \n\n", Limits(), "empty_document", 1, "the document is empty"),
    ("only a comment", "# fields: {}\n", Limits(), "empty_document", 1, "the document is empty"),
    ("only a start marker", "---\n", Limits(), "empty_document", 1, "the document is empty"),
    ("only a bom", b"\xef\xbb\xbf", Limits(), "empty_document", 1, "the document is empty"),
    ("root sequence", "- a\n- b\n", Limits(), "root_type", 1, "must be a mapping"),
    ("root json array", "[1, 2]", Limits(), "root_type", 1, "must be a mapping"),
    ("root string", "just text\n", Limits(), "root_type", 1, "must be a mapping"),
    ("root number", "\n42\n", Limits(), "root_type", 2, "must be a mapping"),
    ("root null", "null\n", Limits(), "root_type", 1, "must be a mapping"),
    ("root alias", "*a\n", Limits(), "root_type", 1, "must be a mapping"),
    # numbers
    ("infinity", "a: 1\nb: .inf\n", Limits(), "not_finite", 2, ".inf is not a finite number"),
    ("negative infinity", "a: -.Inf\n", Limits(), "not_finite", 1, "not a finite number"),
    ("nan", "a: [1, .NaN]\n", Limits(), "not_finite", 1, ".NaN is not a finite number"),
    ("float overflow", "a: 1\nb: 1e999\n", Limits(), "not_finite", 2, "1e999 is not a finite number"),
    ("json float overflow", '{"a": -1.5e400}', Limits(), "not_finite", 1, "not a finite number"),
    ("too many digits", "a: " + "9" * 5000 + "\n", Limits(), "number_range", 1, "too many digits"),
    # $ref
    ("ref http", 'a: 1\nb: {$ref: "http://example.com/t.yaml#/a"}\n', Limits(), "ref_external", 2, "never fetched"),
    ("ref https", 'b:\n  $ref: "https://example.com/x"\n', Limits(), "ref_external", 2, "outside the document"),
    ("ref file", 'b: {$ref: "file:///etc/passwd"}\n', Limits(), "ref_external", 1, "never fetched"),
    ("ref relative file", 'b: {$ref: "other.yaml#/fields"}\n', Limits(), "ref_external", 1, "other.yaml#/fields"),
    ("ref absolute path", 'b: {$ref: "/etc/passwd"}\n', Limits(), "ref_external", 1, "never fetched"),
    ("ref json", '{\n  "a": {"$ref": "https://x/y.json"}\n}', Limits(), "ref_external", 2, "never fetched"),
    ("ref missing", "a: {x: 1}\nb: {$ref: '#/a/y'}\n", Limits(), "ref_missing", 2, "#/a/y points to nothing"),
    ("ref index out of range", "a: [1]\nb: {$ref: '#/a/1'}\n", Limits(), "ref_missing", 2, "points to nothing"),
    ("ref leading zero index", "a: [1]\nb: {$ref: '#/a/01'}\n", Limits(), "ref_missing", 2, "points to nothing"),
    ("ref dash index", "a: [1]\nb: {$ref: '#/a/-'}\n", Limits(), "ref_missing", 2, "points to nothing"),
    ("ref into scalar", "a: 1\nb: {$ref: '#/a/x'}\n", Limits(), "ref_missing", 2, "points to nothing"),
    ("ref to itself", "a: 1\nb: {$ref: '#/b'}\n", Limits(), "ref_cycle", 2, "#/b leads back to itself"),
    ("ref to root", "a: 1\nb: {$ref: '#'}\n", Limits(), "ref_cycle", 2, "leads back to itself"),
    ("ref mutual", "a: {$ref: '#/b'}\nb: {$ref: '#/a'}\n", Limits(), "ref_cycle", 2, "leads back to itself"),
    ("ref into own parent", "a:\n  b:\n    $ref: '#/a'\n", Limits(), "ref_cycle", 3, "#/a leads back to itself"),
    ("ref indirect containment", "a: {x: {$ref: '#/b'}}\nb: {y: {$ref: '#/a'}}\n", Limits(), "ref_cycle", 2, "leads back to itself"),
    ("ref with siblings", "a: 1\nb:\n  $ref: '#/a'\n  c: 2\n", Limits(), "ref_siblings", 3, "no other keys"),
    ("ref not a string", "b: {$ref: 5}\n", Limits(), "ref_invalid", 1, "$ref must be a string"),
    ("ref empty", "b: {$ref: ''}\n", Limits(), "ref_invalid", 1, "not a valid JSON Pointer"),
    ("ref without slash", "b: {$ref: '#a'}\n", Limits(), "ref_invalid", 1, "#a is not a valid JSON Pointer"),
    ("ref bad escape", "a: 1\nb: {$ref: '#/a~2'}\n", Limits(), "ref_invalid", 2, "not a valid JSON Pointer"),
    ("ref bomb", ref_bomb(), Limits(), "node_limit", 6, "after expanding references"),
    ("ref depth", "a: [[[1]]]\nb: [[{$ref: '#/a'}]]\n", Limits(max_depth=5), "depth_limit", 2, "after expanding references"),
]


@pytest.mark.parametrize(
    ("document", "limits", "code", "line", "fragment"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_document(document: str | bytes, limits: Limits, code: str, line: int, fragment: str) -> None:
    problems = problems_of(document, limits)
    first = problems[0]
    assert (first.code, first.line) == (code, line), problems
    assert fragment in first.en
    assert first.zh.strip() and first.zh != first.en


def test_hostile_table_covers_every_code() -> None:
    codes = {case[3] for case in HOSTILE}
    assert codes >= {
        "syntax", "encoding", "character", "yaml_tag", "duplicate_key", "key_type", "merge_key",
        "alias_limit", "node_limit", "alias_unknown", "alias_recursive", "anchor_duplicate",
        "depth_limit", "size_limit", "scalar_limit", "multiple_documents", "empty_document",
        "root_type", "not_finite", "number_range", "ref_external", "ref_missing", "ref_cycle",
        "ref_siblings", "ref_invalid",
    }  # fmt: skip


def test_syntax_messages() -> None:
    [problem] = problems_of("a: 1\nb: c: d\n")
    assert problem.en == "YAML syntax error: mapping values are not allowed here"
    assert problem.zh.startswith("YAML 语法错误")
    assert problem.zh.endswith("mapping values are not allowed here")
    assert problem.format() == "t.yaml:2: $: YAML syntax error: mapping values are not allowed here"


def test_duplicate_key_messages_and_path() -> None:
    [problem] = problems_of("name: x\nfields:\n  a: 1\n  b: 2\n  a: 3\n")
    assert problem.path == ("fields", "a")
    assert problem.en == "duplicate key 'a' (first defined on line 3)"
    assert problem.zh == "重复的键 'a'(第 3 行已定义)"
    assert (problem.line, problem.column) == (5, 3)


def test_all_problems_are_reported_in_order() -> None:
    text = "a: 1\nb: !!binary eA==\na: 2\nc: .nan\n1: x\n"
    problems = problems_of(text)
    assert [(p.code, p.line) for p in problems] == [
        ("yaml_tag", 2),
        ("duplicate_key", 3),
        ("not_finite", 4),
        ("key_type", 5),
    ]


def test_problems_before_a_syntax_error_are_kept() -> None:
    problems = problems_of("a: 1\na: 2\nb: [\n")
    assert [p.code for p in problems] == ["duplicate_key", "syntax"]


def test_problem_count_is_capped() -> None:
    text = "".join(f"{i}: x\n" for i in range(500))
    problems = problems_of(text)
    assert len(problems) == loader.MAX_PROBLEMS
    assert all(p.code == "key_type" for p in problems)


def test_billion_laughs_is_stopped_before_expanding() -> None:
    tracemalloc.start()
    try:
        problems = problems_of(billion_laughs())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems[0].code == "node_limit"
    assert peak < 20_000_000  # 9**9 nodes would need tens of gigabytes


def test_billion_laughs_is_stopped_without_the_alias_limit() -> None:
    problems = problems_of(billion_laughs(), Limits(max_aliases=10**9))
    assert problems[0].code == "node_limit"


def test_aliases_within_limits_are_expanded_as_copies() -> None:
    doc = parse_document("base: &b {x: [1, 2]}\nother: *b\n")
    assert doc.data == {"base": {"x": [1, 2]}, "other": {"x": [1, 2]}}
    assert doc.data["other"] is not doc.data["base"]
    assert doc.data["other"]["x"] is not doc.data["base"]["x"]
    assert doc.locate(("other", "x", 1)) == (2, 1)


def test_alias_uses_count_their_expanded_size() -> None:
    text = "a: &a [1, 2, 3, 4]\nb: *a\nc: *a\n"
    # 1 root + (key + 5) per entry: 19 nodes
    assert parse_document(text, limits=Limits(max_nodes=19)).data["c"] == [1, 2, 3, 4]
    assert problems_of(text, Limits(max_nodes=18))[0].code == "node_limit"


def test_scalar_anchor_alias_key() -> None:
    doc = parse_document("a: &k region\n*k : 1\n")
    assert doc.data == {"a": "region", "region": 1}


def test_deep_nesting_within_limits() -> None:
    text = "a: " + "[" * 63 + "]" * 63
    data = parse_document(text).data
    depth = 0
    node: Any = data["a"]
    while node:
        node = node[0]
        depth += 1
    assert depth == 62
    assert problems_of("a: " + "[" * 64 + "]" * 64)[0].code == "depth_limit"


def test_deep_nesting_with_a_high_limit_has_no_recursion_error() -> None:
    depth = 3 * sys.getrecursionlimit()
    text = "b: " + "[\n" * depth + "]" * depth
    data = parse_document(text, limits=Limits(max_depth=depth + 20)).data
    node: Any = data["b"]
    for _ in range(depth - 1):
        node = node[0]
    assert node == []


# --------------------------------------------------------------------------------------------
# Scalars: YAML 1.2 core schema

SCALARS: list[tuple[str, Any]] = [
    ("NO", "NO"),
    ("no", "no"),
    ("No", "No"),
    ("yes", "yes"),
    ("Yes", "Yes"),
    ("on", "on"),
    ("off", "off"),
    ("OFF", "OFF"),
    ("y", "y"),
    ("n", "n"),
    ("true", True),
    ("True", True),
    ("TRUE", True),
    ("false", False),
    ("False", False),
    ("FALSE", False),
    ("tRUE", "tRUE"),
    ("null", None),
    ("Null", None),
    ("NULL", None),
    ("~", None),
    ("", None),
    ("nULL", "nULL"),
    ("0", 0),
    ("42", 42),
    ("-17", -17),
    ("+5", 5),
    ("007", 7),
    ("0x1F", 31),
    ("0o17", 15),
    ("0b101", "0b101"),
    ("017", 17),
    ("1_000_000", "1_000_000"),
    ("1:20", "1:20"),
    ("190:20:30", "190:20:30"),
    ("1.5", 1.5),
    ("-0.5", -0.5),
    (".5", 0.5),
    ("5.", 5.0),
    ("1e6", 1e6),
    ("1E+6", 1e6),
    ("2.5e-3", 0.0025),
    ("1_0.5", "1_0.5"),
    ("inf", "inf"),
    ("nan", "nan"),
    ("Infinity", "Infinity"),
    ("2026-01-31", "2026-01-31"),
    ("2026-01-31T08:00:00+08:00", "2026-01-31T08:00:00+08:00"),
    ("12:30", "12:30"),
    ("'1'", "1"),
    ('"true"', "true"),
    ("'no'", "no"),
    ('"null"', "null"),
    ("''", ""),
    ('""', ""),
    ('"1e6"', "1e6"),
    ("! 1", "1"),
    ("! true", "true"),
    ("=", "="),
    ("<<", "<<"),
    ("中文", "中文"),
    ("'.inf'", ".inf"),
    ("|\n    literal\n", "literal\n"),
    (">-\n    folded\n    text\n", "folded text"),
    ("０１２", "０１２"),  # full-width digits are not numbers
    ("١٢٣", "١٢٣"),  # nor are other scripts' digits
]


@pytest.mark.parametrize(("written", "expected"), SCALARS, ids=[repr(s[0]) for s in SCALARS])
def test_core_schema_scalars(written: str, expected: Any) -> None:
    value = parse_document(f"v: {written}\n").data["v"]
    assert value == expected
    assert type(value) is type(expected)


def test_norway_problem() -> None:
    doc = parse_document("countries: [CN, NO, SE]\nregion: NO\nenabled: yes\n")
    assert doc.data == {"countries": ["CN", "NO", "SE"], "region": "NO", "enabled": "yes"}


def test_string_keys_that_look_like_other_types_when_quoted() -> None:
    doc = parse_document('"1": a\n\'true\': b\n"null": c\nyes: d\nNO: e\n"": f\n')
    assert doc.data == {"1": "a", "true": "b", "null": "c", "yes": "d", "NO": "e", "": "f"}


def test_non_specific_tag_is_allowed_on_collections() -> None:
    assert parse_document("a: ! {b: 1}\nc: ! [1]\n").data == {"a": {"b": 1}, "c": [1]}


def test_schema_key_is_kept() -> None:
    doc = parse_document('$schema: "https://fenpei.example/template.schema.json"\nfenpei: 1\n')
    assert doc.data == {"$schema": "https://fenpei.example/template.schema.json", "fenpei": 1}


# --------------------------------------------------------------------------------------------
# JSON

JSON_DOCUMENTS: list[tuple[str, str, Any]] = [
    ("compact", '{"a":1,"b":"x"}', {"a": 1, "b": "x"}),
    ("unicode escapes", '{"title": "\\u4e2d\\u6587", "slash": "a\\/b"}', {"title": "中文", "slash": "a/b"}),
    ("surrogate pair escape", '{"emoji": "\\ud83d\\ude00"}', {"emoji": "\U0001f600"}),
    ("raw unicode", '{"标题": "中文"}', {"标题": "中文"}),
    ("escapes", '{"s": "tab\\tnl\\nquote\\"back\\\\"}', {"s": 'tab\tnl\nquote"back\\'}),
    ("nested arrays", '{"a": [[1, [2, [3]]], [], [[]]]}', {"a": [[1, [2, [3]]], [], [[]]]}),
    ("numbers", '{"a": 1e6, "b": -0.5, "c": 0, "d": -0, "e": 1E-2, "f": 12.50, "g": -7}',
     {"a": 1e6, "b": -0.5, "c": 0, "d": 0, "e": 0.01, "f": 12.5, "g": -7}),
    ("empty objects", '{"a": {}, "b": [], "c": [{}], "d": ""}', {"a": {}, "b": [], "c": [{}], "d": ""}),
    ("literals", '{"t": true, "f": false, "n": null}', {"t": True, "f": False, "n": None}),
    ("pretty printed", '{\n  "fenpei": 1,\n  "fields": {\n    "region": {"type": "enum", "options": ["NO", "CN"]}\n  }\n}',
     {"fenpei": 1, "fields": {"region": {"type": "enum", "options": ["NO", "CN"]}}}),
    ("tab indented", '{\n\t"a": {\n\t\t"b": [1,\t2]\n\t},\n\t"c": "x\\ty"\n}', {"a": {"b": [1, 2]}, "c": "x\ty"}),
    ("raw tab in string kept", '{"a": "x\ty"}', {"a": "x\ty"}),
    ("crlf", '{\r\n  "a": 1,\r\n  "b": 2\r\n}\r\n', {"a": 1, "b": 2}),
    ("empty object", "{}", {}),
    ("whitespace around", '  \n {"a": 1} \n', {"a": 1}),
    ("colon in string", '{"url": "http://x/y:z", "t": "12:30"}', {"url": "http://x/y:z", "t": "12:30"}),
    ("hash in string", '{"a": "# not a comment", "b": "x #y"}', {"a": "# not a comment", "b": "x #y"}),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in JSON_DOCUMENTS], ids=[c[0] for c in JSON_DOCUMENTS])
def test_json_documents(text: str, expected: Any) -> None:
    assert parse_document(text, "t.json").data == expected


STRICT_JSON = [c for c in JSON_DOCUMENTS if c[0] != "raw tab in string kept"]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in STRICT_JSON], ids=[c[0] for c in STRICT_JSON])
def test_json_documents_agree_with_json_module(text: str, expected: Any) -> None:
    import json

    assert json.loads(text) == expected


def test_json_lines_are_known() -> None:
    doc = parse_document('{\n  "fenpei": 1,\n  "fields": {\n    "region": {\n      "type": "enum"\n    }\n  }\n}', "t.json")
    assert doc.locate(("fenpei",)) == (2, 3)
    assert doc.locate(("fields", "region", "type")) == (5, 7)


def test_json_with_tabs_keeps_columns() -> None:
    doc = parse_document('{\n\t"a": 1,\n\t"b": 2\n}')
    assert doc.locate(("b",)) == (3, 2)


def test_bytes_and_bom() -> None:
    assert parse_document(b"\xef\xbb\xbfa: 1\n").data == {"a": 1}
    assert parse_document("\ufeffa: 1\n").data == {"a": 1}
    assert parse_document("标题: 中文\n".encode()).data == {"标题": "中文"}


def test_invalid_utf8_is_located() -> None:
    [problem] = problems_of(b"a: 1\nb: caf\xc3\n  c: 1\n")
    assert (problem.code, problem.line, problem.column) == ("encoding", 2, 7)
    assert "0xc3" in problem.en


def test_not_text_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_document(12)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Positions


SAMPLE = """\
fenpei: 1
name: b2b
fields:
  region:
    type: enum
    options:
      - north
      - south
  deal_size: {type: number}
"""


def test_positions_use_the_key_line() -> None:
    doc = parse_document(SAMPLE, "templates/b2b.yaml")
    assert doc.source == "templates/b2b.yaml"
    assert doc.positions[()] == (1, 1)
    assert doc.positions[("fenpei",)] == (1, 1)
    assert doc.positions[("fields",)] == (3, 1)
    assert doc.positions[("fields", "region")] == (4, 3)
    assert doc.positions[("fields", "region", "options")] == (6, 5)
    assert doc.positions[("fields", "region", "options", 1)] == (8, 9)
    assert doc.positions[("fields", "deal_size", "type")] == (9, 15)


def test_locate_falls_back_to_the_nearest_ancestor() -> None:
    doc = parse_document(SAMPLE)
    assert doc.locate(["fields", "region", "title", "zh"]) == (4, 3)
    assert doc.locate(("nope", 3)) == (1, 1)
    assert doc.locate(()) == (1, 1)


def test_locate_without_positions() -> None:
    assert Document(data={}, source="x", positions={}).locate(("a",)) is None


def test_located_adds_source_and_line() -> None:
    doc = parse_document(SAMPLE, "templates/b2b.yaml")
    problem = Problem.make("schema", "bad", "错误", ("fields", "deal_size", "minimum"))
    located = doc.located(problem)
    assert (located.source, located.line, located.column) == ("templates/b2b.yaml", 9, 3)
    assert located.format() == "templates/b2b.yaml:9: $.fields.deal_size.minimum: bad"


def test_located_keeps_an_existing_line() -> None:
    doc = parse_document(SAMPLE, "b2b.yaml")
    problem = Problem.make("x", "bad", "错误", ("fields",), line=42, column=7)
    located = doc.located(problem)
    assert (located.source, located.line, located.column) == ("b2b.yaml", 42, 7)


def test_located_error_keeps_the_type() -> None:
    doc = parse_document(SAMPLE, "b2b.yaml")
    error = SchemaError([Problem.make("a", "x", "错", ("name",)), Problem.make("b", "y", "错", ("fields", "region", "type"))])
    located = doc.located_error(error)
    assert type(located) is SchemaError
    assert [(p.source, p.line) for p in located.problems] == [("b2b.yaml", 2), ("b2b.yaml", 5)]
    assert type(doc.located_error(CompileError(Problem.make("c", "z", "错")))) is CompileError


def test_document_is_frozen() -> None:
    doc = parse_document("a: 1\n")
    with pytest.raises(AttributeError):
        doc.data = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        doc.positions[("b",)] = (1, 1)  # type: ignore[index]


# --------------------------------------------------------------------------------------------
# $ref


def test_ref_is_replaced_by_a_copy_of_its_target() -> None:
    text = (
        "definitions:\n"
        "  regions: [north, south]\n"
        "fields:\n"
        "  region:\n"
        "    type: enum\n"
        "    options: {$ref: '#/definitions/regions'}\n"
        "  home_region:\n"
        "    options:\n"
        "      $ref: '#/definitions/regions'\n"
    )
    doc = parse_document(text)
    regions = doc.data["definitions"]["regions"]
    assert doc.data["fields"]["region"]["options"] == ["north", "south"]
    assert doc.data["fields"]["home_region"]["options"] == ["north", "south"]
    assert doc.data["fields"]["region"]["options"] is not regions
    assert doc.data["fields"]["home_region"]["options"] is not doc.data["fields"]["region"]["options"]
    # the replaced path keeps the line of the $ref entry; its content falls back to it
    assert doc.locate(("fields", "region", "options")) == (6, 5)
    assert doc.locate(("fields", "region", "options", 1)) == (6, 5)
    assert ("fields", "region", "options", "$ref") not in doc.positions


def test_refs_inside_targets_and_chains_are_resolved() -> None:
    text = (
        "base: {min: 0, unit: {$ref: '#/units/cny'}}\n"
        "units: {cny: 元}\n"
        "a: {$ref: '#/b'}\n"
        "b: {$ref: '#/base'}\n"
        "c: {$ref: '#/a/unit'}\n"
    )
    data = parse_document(text).data
    assert data["base"] == {"min": 0, "unit": "元"}
    assert data["a"] == data["b"] == {"min": 0, "unit": "元"}
    assert data["c"] == "元"


def test_ref_pointer_escapes() -> None:
    text = 'defs:\n  "a/b": 1\n  "m~n": 2\n  "sp ace": 3\n  "%": 4\nx: {$ref: "#/defs/a~1b"}\ny: {$ref: "#/defs/m~0n"}\nz: {$ref: "#/defs/sp%20ace"}\nw: {$ref: "#/defs/%25"}\n'
    data = parse_document(text).data
    assert (data["x"], data["y"], data["z"], data["w"]) == (1, 2, 3, 4)


def test_ref_into_lists_and_to_scalars() -> None:
    data = parse_document("rows: [{when: x}, {when: y}]\nfirst: {$ref: '#/rows/1/when'}\nall: {$ref: '#/rows'}\n").data
    assert data["first"] == "y"
    assert data["all"] == [{"when": "x"}, {"when": "y"}]


def test_ref_in_json() -> None:
    text = '{\n  "defs": {"o": ["a", "b"]},\n  "f": {"options": {"$ref": "#/defs/o"}}\n}'
    assert parse_document(text, "t.json").data["f"] == {"options": ["a", "b"]}


def test_ref_expansion_counts_against_max_nodes() -> None:
    text = "a: [1, 2, 3]\nb: {$ref: '#/a'}\n"
    # root + a (key, list, 3 items) + b (key, list copy, 3 items)
    assert parse_document(text, limits=Limits(max_nodes=11)).data["b"] == [1, 2, 3]
    assert problems_of(text, Limits(max_nodes=10))[0].code == "node_limit"


def test_ref_bomb_is_stopped_before_expanding() -> None:
    tracemalloc.start()
    try:
        problems = problems_of(ref_bomb(9))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems[0].code == "node_limit"
    assert peak < 20_000_000


def test_ref_problems_are_all_reported() -> None:
    text = "a: {$ref: 'http://x'}\nb: {$ref: '#/nope'}\nc: {$ref: '#/c'}\n"
    problems = problems_of(text)
    assert [(p.code, p.line) for p in problems] == [("ref_external", 1)]
    text = "b: {$ref: '#/nope'}\nc: {$ref: '#/c'}\nd: {$ref: '#/b'}\n"
    assert [(p.code, p.line) for p in problems_of(text)] == [("ref_missing", 1), ("ref_cycle", 2)]


def test_ref_external_never_opens_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the loader tried to open something")

    monkeypatch.setattr("builtins.open", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    for ref in ("http://127.0.0.1:1/x.yaml", "file:///etc/passwd", "t.yaml#/a", "../secret.yaml"):
        assert problems_of(f"a: {{$ref: '{ref}'}}\n")[0].code == "ref_external"


def test_dollar_ref_as_an_ordinary_word() -> None:
    assert parse_document("a: $ref\nb: ['$ref']\n").data == {"a": "$ref", "b": ["$ref"]}


# --------------------------------------------------------------------------------------------
# Files


def test_load_document(tmp_path: Path) -> None:
    path = tmp_path / "b2b.yaml"
    path.write_text(SAMPLE, encoding="utf-8")
    doc = load_document(path)
    assert doc.data["name"] == "b2b"
    assert doc.source == str(path)
    assert load_document(str(path)).source == str(path)


def test_load_document_json(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b'\xef\xbb\xbf{\n\t"fenpei": 1,\n\t"title": "\\u4e2d"\n}\n')
    assert load_document(path).data == {"fenpei": 1, "title": "中"}


def test_load_document_problems_carry_the_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        load_document(path)
    [problem] = info.value.problems
    assert (problem.source, problem.line, problem.code) == (str(path), 2, "duplicate_key")
    assert str(info.value).startswith(f"{path}:2: ")


def file_problem(path: Path | str, limits: Limits = Limits()) -> Problem:
    with pytest.raises(DocumentError) as info:
        load_document(path, limits=limits)
    [problem] = info.value.problems
    assert problem.source == str(path)
    assert CJK.search(problem.zh)
    return problem


def test_missing_file(tmp_path: Path) -> None:
    problem = file_problem(tmp_path / "nope.yaml")
    assert problem.code == "file_missing"
    assert problem.en == "file not found"


def test_directory(tmp_path: Path) -> None:
    problem = file_problem(tmp_path)
    assert problem.code == "file_unreadable"
    assert "directory" in problem.en


def test_path_with_nul_byte() -> None:
    assert file_problem("bad\x00name.yaml").code == "file_unreadable"


def test_missing_parent_directory(tmp_path: Path) -> None:
    assert file_problem(tmp_path / "a" / "b.yaml").code == "file_missing"


def test_file_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a: 1\n")
    assert file_problem(tmp_path / "f" / "b.yaml").code == "file_unreadable"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    problem = file_problem(path)
    assert problem.code == "file_unreadable"
    assert "not a regular file" in problem.en


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("a: 1\n")
    path.chmod(0)
    try:
        assert file_problem(path).code == "file_unreadable"
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_size_is_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(4 * 1024**3)  # sparse: 4 GiB that take no space

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(loader, "open", refuse, raising=False)
    problem = file_problem(path)
    assert (problem.code, problem.line) == ("size_limit", 1)
    assert "larger than 1048576 bytes" in problem.en


def test_at_most_max_bytes_plus_one_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "grows.yaml"
    path.write_text("a: 1\n")
    sizes: list[int] = []
    real_open = open

    class Spy:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Spy:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def read(self, size: int = -1) -> bytes:
            sizes.append(size)
            return b"a: " + b"x" * 200  # the file grew after stat()

    monkeypatch.setattr(loader, "open", lambda *a, **k: Spy(real_open(*a, **k)), raising=False)
    problem = file_problem(path, Limits(max_bytes=100))
    assert sizes == [101]
    assert problem.code == "size_limit"


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_file_whose_size_is_unknown() -> None:
    # /proc files report size 0 but have content: the read is still bounded.
    problem = file_problem("/proc/self/status", Limits(max_bytes=10))
    assert problem.code == "size_limit"


# --------------------------------------------------------------------------------------------
# Nothing but DocumentError escapes

YAMLISH = st.lists(
    st.sampled_from(
        [
            "{", "}", "[", "]", ",", ":", ": ", "- ", "? ", "\n", "  ", "\t", "#", "&a ", "*a", "&b ", "*b",
            "!!str ", "! ", "!x ", "<<", "$ref", "'#/a'", '"#/a/0"', "'http://x'", "a", "b", "1", "1e9",
            ".inf", "~", "null", "true", "NO", "---\n", "...\n", "%TAG ! tag:x,1:\n", '"', "'", "\\u",
            "\\ud800", "|\n", ">\n", "\x00", "\ufeff", "中", "\r\n", "9" * 30,
        ]
    ),
    max_size=60,
).map("".join)  # fmt: skip


def check_outcome(text: str | bytes) -> None:
    try:
        doc = parse_document(text, "fuzz.yaml", limits=Limits(max_nodes=2000, max_depth=16, max_aliases=10))
    except DocumentError as exc:
        assert exc.problems
        assert all(p.source == "fuzz.yaml" and p.line is not None for p in exc.problems)
    else:
        assert isinstance(doc.data, dict)
        assert () in doc.positions


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_gives_a_document_or_a_document_error(text: str) -> None:
    check_outcome(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_give_a_document_or_a_document_error(data: bytes) -> None:
    check_outcome(data)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_yaml_like_text_gives_a_document_or_a_document_error(text: str) -> None:
    check_outcome(text)
    check_outcome("a:\n  " + text)
    check_outcome("{" + text)
