"""docs/template-reference.md cannot drift from the shipped schema and the condition language.

Conventions the reference follows (and this test reads):

* Every key, enum value, operator and function is written as a ``code`` span outside code blocks.
* Each table of keys sits under a heading that starts with "Keys", right after a comment
  ``<!-- schema: LOCATION ... -->`` naming the schema objects it documents: ``$`` (the top level),
  ``.key`` (a property), ``.*`` (the values of a mapping), ``[]`` (the items of a list), or
  ``#name`` (a ``$defs`` entry); several locations when they share one definition. The table's
  rows start with the key as a code span, and list exactly the keys of each of those objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rule_engine.schema import schema_problems, template_schema

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "template-reference.md"

_FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_LOCATION_COMMENT = re.compile(r"^<!--\s*schema:\s*(\S+(?:\s+\S+)*?)\s*-->\s*$")
_ROW_KEY = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def _text() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def _prose() -> str:
    """The reference without its fenced code blocks (examples are not where keys are documented)."""
    return _FENCE.sub("", _text())


def _code_spans() -> set[str]:
    return {m.group(1).strip() for m in _CODE_SPAN.finditer(_prose())}


# ------------------------------------------------------------------------------------------------
# Walking the schema
# ------------------------------------------------------------------------------------------------


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for sub in node.values():
            yield from _walk(sub)
    elif isinstance(node, list):
        for sub in node:
            yield from _walk(sub)


def _property_names() -> set[str]:
    return {name for node in _walk(template_schema()) for name in (node.get("properties") or {})}


def _enum_values() -> set[str]:
    values: set[str] = set()
    for node in _walk(template_schema()):
        for value in node.get("enum") or ():
            assert isinstance(value, str), f"non-string enum value {value!r}: document it and extend this test"
            values.add(value)
    return values


def _deref(node: dict[str, Any]) -> dict[str, Any]:
    defs = template_schema()["$defs"]
    seen = 0
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/$defs/"), ref
        node = defs[ref.removeprefix("#/$defs/")]
        seen += 1
        assert seen < 20, "reference loop"
    return node


def _object(node: dict[str, Any]) -> dict[str, Any]:
    """The object schema at ``node``: itself, or the branch of a oneOf/anyOf that has properties."""
    node = _deref(node)
    if "properties" in node:
        return node
    for keyword in ("oneOf", "anyOf"):
        for branch in node.get(keyword, ()):
            branch = _deref(branch)
            if "properties" in branch:
                return branch
    raise AssertionError(f"no object schema here: {node}")


def _resolve(location: str) -> dict[str, Any]:
    """The object schema named by a location such as ``$.segments[].rules[]`` or ``#option``."""
    if location.startswith("#"):
        node: dict[str, Any] = template_schema()["$defs"][location[1:]]
        return _object(node)
    assert location.startswith("$"), location
    rest = location[1:]
    tokens = re.findall(r"\.\*|\.[A-Za-z_$][A-Za-z0-9_$]*|\[\]", rest)
    assert "".join(tokens) == rest, f"cannot read location {location!r}"
    node = template_schema()
    for token in tokens:
        node = _deref(node)
        if token == ".*":
            node = node["additionalProperties"]
        elif token == "[]":
            node = node["items"]
        else:
            node = _object(node)["properties"][token[1:]]
    return _object(node)


# ------------------------------------------------------------------------------------------------
# Reading the key tables
# ------------------------------------------------------------------------------------------------


def _key_tables() -> list[tuple[str, tuple[str, ...], list[str]]]:
    """(heading, locations, keys) for every "Keys" table of the reference."""
    tables: list[tuple[str, tuple[str, ...], list[str]]] = []
    lines = _prose().splitlines()
    i = 0
    while i < len(lines):
        heading = _HEADING.match(lines[i])
        if heading is None or not heading.group(2).startswith("Keys"):
            i += 1
            continue
        title = heading.group(2)
        i += 1
        locations: tuple[str, ...] = ()
        keys: list[str] = []
        while i < len(lines) and _HEADING.match(lines[i]) is None:
            line = lines[i].strip()
            comment = _LOCATION_COMMENT.match(line)
            if comment is not None:
                assert not locations, f"two schema comments under {title!r}"
                locations = tuple(comment.group(1).split())
            elif line.startswith("|"):
                row = _ROW_KEY.match(line)
                if row is not None:
                    keys.append(row.group(1))
            i += 1
        assert locations, f"the table under {title!r} does not say which schema object it documents"
        assert keys, f"no keys under {title!r} ({' '.join(locations)})"
        tables.append((title, locations, keys))
    return tables


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


def test_every_schema_key_is_documented() -> None:
    missing = sorted(_property_names() - _code_spans())
    assert missing == [], f"keys of the schema not written as `code` in {REFERENCE.name}: {missing}"


def test_every_value_of_every_closed_set_is_documented() -> None:
    missing = sorted(_enum_values() - _code_spans())
    assert missing == [], f"enum values not written as `code` in {REFERENCE.name}: {missing}"


@pytest.mark.parametrize("table", _key_tables(), ids=lambda t: " ".join(t[1]))
def test_key_table_lists_exactly_the_keys_of_its_schema_objects(table: tuple[str, tuple[str, ...], list[str]]) -> None:
    title, locations, keys = table
    assert len(keys) == len(set(keys)), f"a key is listed twice under {title!r}"
    for location in locations:
        properties = set(_resolve(location)["properties"])
        unknown = sorted(set(keys) - properties)
        assert unknown == [], f"{location}: documented but not in the schema: {unknown}"
        undocumented = sorted(properties - set(keys))
        assert undocumented == [], f"{location}: in the schema but missing from the table: {undocumented}"


def test_key_tables_cover_every_key_of_the_schema() -> None:
    documented = {key for _, _, keys in _key_tables() for key in keys}
    assert sorted(_property_names() - documented) == []
    assert sorted(documented - _property_names()) == []


def test_key_tables_cover_every_object_of_the_template() -> None:
    """Every object a template can contain has its table: walk the schema from the top."""
    documented = {location for _, locations, _ in _key_tables() for location in locations}
    expected: set[str] = set()

    def visit(location: str, node: dict[str, Any], depth: int = 0) -> None:
        node = _deref(node)
        branches = [node] + [_deref(b) for k in ("oneOf", "anyOf") for b in node.get(k, ())]
        for branch in branches:
            if "properties" in branch:
                expected.add(location)
                for key, sub in branch["properties"].items():
                    if key not in ("all", "any", "not", "title", "description", "group", "message", "options"):
                        visit(f"{location}.{key}", sub, depth + 1)
            if isinstance(branch.get("additionalProperties"), dict):
                visit(f"{location}.*", branch["additionalProperties"], depth + 1)
            if isinstance(branch.get("items"), dict):
                visit(f"{location}[]", branch["items"], depth + 1)

    visit("$", template_schema())
    # Shared definitions are documented once, by name.
    expected |= {"#title", "#option", "#condition_tree"}
    missing = sorted(loc for loc in expected if loc not in documented and not loc.endswith(("when", "eligible", "protected")))
    assert missing == [], f"objects without a Keys table: {missing}"


def test_error_format_and_choices_are_documented() -> None:
    text = _text()
    assert "`FILE:LINE: $.path: message`" in text
    assert re.search(r"^## Choices made", text, re.MULTILINE)


def test_every_operator_and_function_is_documented() -> None:
    # The condition language's own lists; an ImportError here is a failure, not a skip.
    from rule_engine.conditions import FUNCTIONS, OPERATORS

    spans = _code_spans()
    assert OPERATORS and FUNCTIONS
    missing_ops = [op for op in OPERATORS if op not in spans]
    assert missing_ops == [], f"operators not documented: {missing_ops}"
    missing_functions = sorted(name for name in FUNCTIONS if name not in spans)
    assert missing_functions == [], f"functions not documented: {missing_functions}"
    tree_ops = template_schema()["$defs"]["condition_tree"]["properties"]["op"]["enum"]
    assert set(tree_ops) <= set(OPERATORS), "the condition tree allows an operator the language does not have"


def _template_pieces() -> list[str]:
    """The YAML examples that are pieces of a template: only top-level keys, no placeholders."""
    top_keys = set(template_schema()["properties"])
    pieces = []
    for block in re.findall(r"^```yaml\n(.*?)^```", _text(), re.MULTILINE | re.DOTALL):
        written = set(re.findall(r"^([$a-z_]+):", block, re.MULTILINE))
        if "..." not in block and written and written <= top_keys:
            pieces.append(block)
    return pieces


def test_every_section_has_an_example() -> None:
    shown = {key for piece in _template_pieces() for key in re.findall(r"^([$a-z_]+):", piece, re.MULTILINE)}
    sections = {"fields", "rep_fields", "segments", "load", "assignment", "reclaim", "triggers", "handover", "points", "forms"}
    assert sorted(sections - shown) == []


@pytest.mark.parametrize("example", _template_pieces(), ids=lambda b: b.split(":", 1)[0].strip())
def test_section_examples_follow_the_schema(example: str) -> None:
    """Every YAML example that is a piece of a template is valid as written."""
    from rule_engine.loader import parse_document

    data = dict(parse_document(example, "example.yaml").data)
    document: dict[str, Any] = {"fenpei": 1, "name": "example", "title": "Example", "fields": {"company": {"type": "string"}}}
    document.update(data)
    assert schema_problems(document) == []
