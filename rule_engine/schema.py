"""The template schema: the shipped JSON Schema, and its violations as bilingual problems.

The schema (``rule_engine/schema/template.schema.json``, JSON Schema Draft 2020-12) describes the
structure of a template: every section, every key, closed sets of values, and the structural
rules a schema can state (``output`` or ``output_expr``, ``aggregate`` only on a ``collect``
table, options on enum fields, ...). What needs the whole template (names that refer to each
other, types of conditions, table order) is checked later, when the template is compiled.

The validator resolves ``$ref`` only inside this one schema: its registry holds the schema and
nothing else and has no retrieve function, so nothing is ever fetched. A ``$schema`` key in a
template is just a string.

Each jsonschema error becomes a :class:`~rule_engine.errors.Problem` with code
``schema.<keyword>`` and our own wording in English and Chinese. One small function per keyword
renders it (:data:`_RENDERERS`); ``oneOf``/``anyOf`` errors are explained by the most relevant
error of the branch the value was most likely meant for.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
import pathlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from rule_engine.errors import PathPart, Problem, closest

__all__ = [
    "MAX_DEPTH",
    "NAME_PATTERN",
    "OPTION_VALUE_PATTERN",
    "SCHEMA_ID",
    "SCHEMA_PATH",
    "json_type",
    "schema_problems",
    "template_schema",
]

SCHEMA_ID: Final = "https://fenpei.dev/schema/template-1.json"
SCHEMA_PATH: pathlib.Path = pathlib.Path(__file__).resolve().parent / "schema" / "template.schema.json"

NAME_PATTERN: Final = "^[a-z][a-z0-9_]{0,62}$"
NAME_REF_PATTERN: Final = "^((lead|rep)\\.)?[a-z][a-z0-9_]{0,62}$"
OPTION_VALUE_PATTERN: Final = "^[A-Za-z0-9_.\\-]{1,64}$"
TIMEZONE_PATTERN: Final = "^[A-Za-z][A-Za-z0-9_+\\-]*(/[A-Za-z0-9_+\\-]+)*$"

# Nesting of mappings and lists (the root mapping is level 1), the same bound as the loader's.
# Checked before validating: jsonschema recurses, and a deeper document would exhaust the stack.
MAX_DEPTH: Final = 64


# ------------------------------------------------------------------------------------------------
# The schema and its validator
# ------------------------------------------------------------------------------------------------


@functools.cache
def template_schema() -> dict[str, Any]:
    """The template JSON Schema (format version 1), loaded once from the package data."""
    resource = importlib.resources.files("rule_engine") / "schema" / "template.schema.json"
    schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return schema


@dataclass(frozen=True)
class _Engine:
    validator: Draft202012Validator
    # id of each ``then`` subschema (and of its property schemas) -> the ``if`` it depends on.
    # jsonschema reports an error found in a ``then`` branch without its ``if``; this lets the
    # message say when the rule applies ("missing required key 'options' (when 'type' is ...)").
    conditions: Mapping[int, Mapping[str, Any]]


@functools.cache
def _engine() -> _Engine:
    # A private copy: callers of template_schema() may change theirs, and the ids in
    # ``conditions`` must be those of the very dicts the validator reports errors against.
    schema = copy.deepcopy(template_schema())
    # Only this schema, and Registry's default retrieve refuses every other URI: never fetched.
    registry: Registry[Any] = Registry().with_resource(
        SCHEMA_ID, Resource.from_contents(schema, default_specification=DRAFT202012)
    )
    return _Engine(Draft202012Validator(schema, registry=registry), _if_conditions(schema))


def _if_conditions(schema: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    found: dict[int, Mapping[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("if"), dict) and isinstance(node.get("then"), dict):
                then = node["then"]
                found[id(then)] = node["if"]
                for sub in (then.get("properties") or {}).values():
                    found[id(sub)] = node["if"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


# ------------------------------------------------------------------------------------------------
# Public entry point
# ------------------------------------------------------------------------------------------------


def schema_problems(data: Any) -> list[Problem]:
    """Every way ``data`` breaks the template schema, sorted by path; ``[]`` when it follows it."""
    too_deep = _depth_problem(data)
    if too_deep is not None:
        return [too_deep]
    messages: list[_Msg] = []
    for error in _drop_shadowed(list(_engine().validator.iter_errors(data))):
        messages.extend(_explain(error))
    return _unique_sorted(m.problem() for m in _drop_consequences(messages))


def _drop_consequences(messages: list[_Msg]) -> list[_Msg]:
    """Drop "'K' is only allowed when 'P' is ..." when 'P' itself is already reported as wrong."""
    wrong = {m.path for m in messages if m.code != "schema.dependentSchemas"}
    return [
        m
        for m in messages
        if not (m.code == "schema.dependentSchemas" and "prop" in m.params and (*m.path[:-1], m.params["prop"]) in wrong)
    ]


def _depth_problem(data: Any) -> Problem | None:
    stack: list[tuple[Any, tuple[PathPart, ...], int]] = [(data, (), 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict):
            items: Iterable[tuple[PathPart, Any]] = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        if depth > MAX_DEPTH:
            return Problem.make(
                "schema.depth",
                "nested too deeply (more than {limit} levels of mappings and lists)",
                "嵌套层级过深(映射和列表超过 {limit} 层)",
                path,
                limit=MAX_DEPTH,
            )
        stack.extend((value, (*path, key), depth + 1) for key, value in items)
    return None


def _unique_sorted(problems: Iterable[Problem]) -> list[Problem]:
    seen: set[tuple[Any, ...]] = set()
    out: list[Problem] = []
    for p in problems:
        key = (p.code, p.path, p.en, p.zh)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return sorted(out, key=lambda p: (_path_key(p.path), p.code, p.en))


def _path_key(path: Sequence[PathPart]) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in path)


# ------------------------------------------------------------------------------------------------
# From jsonschema errors to messages
# ------------------------------------------------------------------------------------------------


@dataclass
class _Msg:
    """A problem before it is built: templates over ``params`` (user text only ever in params)."""

    code: str
    en: str
    zh: str
    path: tuple[PathPart, ...]
    suggestion: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def problem(self) -> Problem:
        return Problem.make(self.code, self.en, self.zh, self.path, suggestion=self.suggestion, **self.params)


def _msg(
    code: str, en: str, zh: str, path: Sequence[PathPart], suggestion: str | None = None, **params: Any
) -> _Msg:
    return _Msg(code, en, zh, tuple(path), suggestion, params)


def _explain(error: ValidationError) -> Iterator[_Msg]:
    """The messages for one error (several for ``required`` or ``additionalProperties``)."""
    if _dependent_key(error) is not None:
        yield from _dependent(error)
        return
    render = _RENDERERS.get(str(error.validator), _generic)
    for m in render(error):
        when = _condition_of(error)
        if when is not None and "when_en" not in m.params:
            m.en += " ({when_en})"
            m.zh += "({when_zh})"
            m.params.update(when_en=when[0], when_zh=when[1])
        yield m


def _drop_shadowed(errors: list[ValidationError]) -> list[ValidationError]:
    """Where a value has the wrong type, keep only that: other complaints about it follow from it
    (a rule such as ``oneOf: [{required: [a]}, {required: [b]}]`` is even "valid twice" on a string)."""
    mismatched = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    return [e for e in errors if e.validator == "type" or tuple(e.absolute_path) not in mismatched]


def _path(error: ValidationError) -> tuple[PathPart, ...]:
    path = tuple(error.absolute_path)
    if _in_property_names(error):
        # propertyNames validates each key without adding it to the path: point at the key itself.
        path = (*path, _instance(error))
    return path


def _in_property_names(error: ValidationError) -> bool:
    schema_path = list(error.relative_schema_path)
    return len(schema_path) >= 2 and schema_path[-2] == "propertyNames" and isinstance(_instance(error), str)


def _condition_of(error: ValidationError) -> tuple[str, str] | None:
    """When the failed rule applies only under an ``if``: that condition in words."""
    condition = _engine().conditions.get(id(error.schema))
    return _describe_condition(condition) if condition is not None else None


def _describe_condition(condition: Mapping[str, Any]) -> tuple[str, str] | None:
    props = condition.get("properties") or {}
    if len(props) != 1:
        return None
    (key, rule), = props.items()
    if "const" in rule:
        return f"when {key!r} is {_show(rule['const'])}", f"当 {key!r} 为 {_show(rule['const'])} 时"
    if "enum" in rule:
        values = _join(rule["enum"])
        return f"when {key!r} is one of: {values}", f"当 {key!r} 为以下之一时:{values}"
    return None


# ------------------------------------------------------------------------------------------------
# Renderers, one per keyword
# ------------------------------------------------------------------------------------------------

Renderer = Callable[[ValidationError], Iterable[_Msg]]


def _required(error: ValidationError) -> Iterator[_Msg]:
    instance = _instance(error) if isinstance(_instance(error), dict) else {}
    for key in _value(error):
        if key not in instance:
            yield _msg("schema.required", "missing required key {key!r}", "缺少必填的键 {key!r}", _path(error), key=key)


def _additional_properties(error: ValidationError) -> Iterator[_Msg]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = list(schema.get("properties") or {})
    patterns = list(schema.get("patternProperties") or {})
    instance = _instance(error) if isinstance(_instance(error), dict) else {}
    for key in instance:
        if key in allowed or any(re.search(p, str(key)) for p in patterns):
            continue
        yield _msg(
            "schema.additionalProperties",
            "unknown key {key!r}",
            "未知的键 {key!r}",
            (*_path(error), key),
            _suggest(str(key), allowed),
            key=key,
            allowed=", ".join(allowed),
        )


def _enum(error: ValidationError) -> Iterator[_Msg]:
    allowed = list(_value(error))
    suggestion = None
    if isinstance(_instance(error), str):
        suggestion = _suggest(_instance(error), [a for a in allowed if isinstance(a, str)])
    yield _msg(
        "schema.enum",
        "{value} is not one of: {allowed}",
        "{value} 不是以下之一:{allowed}",
        _path(error),
        suggestion,
        value=_show(_instance(error)),
        allowed=_join(allowed),
    )


def _const(error: ValidationError) -> Iterator[_Msg]:
    yield _msg(
        "schema.const",
        "must be {expected} (found {value})",
        "必须是 {expected}(现为 {value})",
        _path(error),
        expected=_show(_value(error)),
        value=_show(_instance(error)),
    )


_TYPE_EN: Final = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "object": "a mapping (key: value)",
    "array": "a list",
    "null": "nothing (null)",
}
_TYPE_ZH: Final = {
    "string": "文本",
    "integer": "整数",
    "number": "数字",
    "boolean": "布尔值(true 或 false)",
    "object": "映射(键: 值)",
    "array": "列表",
    "null": "空值(null)",
}


def json_type(value: Any) -> str:
    """The JSON Schema type name of a loaded value (``integer`` for whole numbers, not ``number``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _alternatives(words: Sequence[str], comma: str, last: str) -> str:
    return words[0] if len(words) == 1 else comma.join(words[:-1]) + last + words[-1]


def _type_msg(path: Sequence[PathPart], expected: Sequence[str], instance: Any) -> _Msg:
    actual = json_type(instance)
    # What was found: its type, and the value itself unless it is null.
    shown, shown_zh = ("", "") if actual == "null" else (f" ({_show(instance)})", f"({_show(instance)})")
    return _msg(
        "schema.type",
        "expected {expected_en}, got {actual_en}{shown}",
        "应为{expected_zh},实际是{actual_zh}{shown_zh}",
        path,
        expected_en=_alternatives([_TYPE_EN.get(t, t) for t in expected], ", ", " or "),
        expected_zh=_alternatives([_TYPE_ZH.get(t, t) for t in expected], "、", "或"),
        actual_en={"boolean": "a boolean", "null": "nothing (null)"}.get(actual, _TYPE_EN.get(actual, actual)),
        actual_zh={"boolean": "布尔值"}.get(actual, _TYPE_ZH.get(actual, actual)),
        shown=shown,
        shown_zh=shown_zh,
    )


def _types(validator_value: Any) -> list[str]:
    return [validator_value] if isinstance(validator_value, str) else list(validator_value)


def _type(error: ValidationError) -> Iterator[_Msg]:
    yield _type_msg(_path(error), _types(_value(error)), _instance(error))


_PATTERNS: Final[dict[str, tuple[str, str]]] = {
    NAME_PATTERN: (
        "{value} is not a valid name: names use lowercase letters, digits and _ and start with a letter "
        "(at most 63 characters)",
        "{value} 不是合法的名称:名称只能使用小写字母、数字和 _,并以字母开头(最多 63 个字符)",
    ),
    NAME_REF_PATTERN: (
        "{value} is not a valid name: write NAME, lead.NAME or rep.NAME; names use lowercase letters, "
        "digits and _ and start with a letter",
        "{value} 不是合法的名称:请写 NAME、lead.NAME 或 rep.NAME;名称只能使用小写字母、数字和 _,并以字母开头",
    ),
    OPTION_VALUE_PATTERN: (
        "{value} is not a valid option value: use 1 to 64 letters, digits, _, . or -",
        "{value} 不是合法的选项值:请使用 1 到 64 个字母、数字、_、. 或 -",
    ),
    TIMEZONE_PATTERN: (
        "{value} is not a timezone name: use an IANA name such as Asia/Shanghai",
        "{value} 不是时区名称:请使用 IANA 名称,如 Asia/Shanghai",
    ),
}


def _pattern(error: ValidationError) -> Iterator[_Msg]:
    pattern = str(_value(error))
    en, zh = _PATTERNS.get(
        pattern, ("{value} does not match the pattern {pattern}", "{value} 不符合格式 {pattern}")
    )
    suggestion = None
    if pattern in (NAME_PATTERN, NAME_REF_PATTERN) and isinstance(_instance(error), str):
        suggestion = _slug(_instance(error))
    yield _msg("schema.pattern", en, zh, _path(error), suggestion, value=_show(_instance(error)), pattern=pattern)


def _bound(en: str, zh: str) -> Renderer:
    def render(error: ValidationError) -> Iterator[_Msg]:
        yield _msg(
            f"schema.{error.validator}", en, zh, _path(error), limit=_show(_value(error)), value=_show(_instance(error))
        )

    return render


def _size(
    unit_en: str, unit_zh: str, low: bool, measure: Callable[[Any], int], empty: tuple[str, str] | None = None
) -> Renderer:
    """minLength/maxLength, minItems/maxItems, minProperties/maxProperties."""

    def render(error: ValidationError) -> Iterator[_Msg]:
        limit = int(_value(error))
        code = f"schema.{error.validator}"
        if low and limit == 1 and empty is not None:
            yield _msg(code, empty[0], empty[1], _path(error))
        elif low:
            yield _msg(
                code,
                "needs at least {limit} " + unit_en + " (found {count})",
                "至少需要 {limit} 个" + unit_zh + "(现有 {count} 个)",
                _path(error),
                limit=limit,
                count=measure(_instance(error)),
            )
        else:
            yield _msg(
                code,
                "may have at most {limit} " + unit_en + " (found {count})",
                "最多 {limit} 个" + unit_zh + "(现有 {count} 个)",
                _path(error),
                limit=limit,
                count=measure(_instance(error)),
            )

    return render


def _unique_items(error: ValidationError) -> Iterator[_Msg]:
    seen: set[str] = set()
    for index, item in enumerate(_instance(error) if isinstance(_instance(error), list) else []):
        key = json.dumps(item, sort_keys=True, default=str)
        if key in seen:
            yield _msg(
                "schema.uniqueItems",
                "{value} is listed more than once",
                "{value} 重复出现",
                (*_path(error), index),
                value=_show(item),
            )
        seen.add(key)


def _dependent_required(error: ValidationError) -> Iterator[_Msg]:
    instance = _instance(error) if isinstance(_instance(error), dict) else {}
    for key, needs in _value(error).items():
        if key not in instance:
            continue
        for other in needs:
            if other not in instance:
                yield _msg(
                    "schema.dependentRequired",
                    "{key!r} needs {other!r} as well",
                    "使用 {key!r} 时还需要 {other!r}",
                    (*_path(error), key),
                    key=key,
                    other=other,
                )


def _not(error: ValidationError) -> Iterator[_Msg]:
    forbidden = _value(error) if isinstance(_value(error), dict) else {}
    if _in_property_names(error) and "enum" in forbidden:
        yield _msg(
            "schema.not",
            "{value} is a built-in name and cannot be defined here",
            "{value} 是内置名称,不能在此定义",
            _path(error),
            value=_show(_instance(error)),
        )
    elif list(forbidden) == ["required"] and isinstance(_instance(error), dict):
        for key in forbidden["required"]:
            yield _msg(
                "schema.not", "key {key!r} is not allowed here", "此处不允许使用键 {key!r}", (*_path(error), key), key=key
            )
    else:
        yield _msg("schema.not", "{value} is not allowed here", "此处不允许 {value}", _path(error), value=_show(_instance(error)))


def _required_only(branches: Any) -> list[list[str]] | None:
    """The key sets of ``oneOf``/``anyOf`` branches that only say ``required``, else None."""
    if not isinstance(branches, list) or not branches:
        return None
    out = []
    for branch in branches:
        if not isinstance(branch, dict) or list(branch) != ["required"]:
            return None
        out.append(list(branch["required"]))
    return out


def _key_sets(sets: Sequence[Sequence[str]], lang: str) -> str:
    """``[["score"], ["lead_tags", "rep_tags"]]`` -> ``'score' or 'lead_tags' with 'rep_tags'``."""
    joiner, comma, last = (" with ", ", ", " or ") if lang == "en" else (" 和 ", "、", " 或 ")
    return _alternatives([joiner.join(repr(k) for k in keys) for keys in sets], comma, last)


def _one_of(error: ValidationError) -> Iterator[_Msg]:
    keyword = str(error.validator)
    code = f"schema.{keyword}"
    sets = _required_only(_value(error))
    if sets is not None:
        instance = _instance(error) if isinstance(_instance(error), dict) else {}
        if not error.context:  # valid under more than one branch
            present = [keys for keys in sets if all(k in instance for k in keys)]
            yield _msg(
                code,
                "use only one of: {keys_en}",
                "只能使用其中之一:{keys_zh}",
                _path(error),
                keys_en=_key_sets(present, "en"),
                keys_zh=_key_sets(present, "zh"),
            )
        else:
            en, zh = (
                ("needs exactly one of: {keys_en}", "需要且只能有其中之一:{keys_zh}")
                if keyword == "oneOf"
                else ("needs at least one of: {keys_en}", "至少需要其中之一:{keys_zh}")
            )
            yield _msg(code, en, zh, _path(error), keys_en=_key_sets(sets, "en"), keys_zh=_key_sets(sets, "zh"))
        return
    if not error.context:
        yield _msg(
            code,
            "{value} matches more than one of the allowed forms",
            "{value} 同时符合多种允许的写法",
            _path(error),
            value=_show(_instance(error)),
        )
        return
    yield from _best_branch(error)


def _best_branch(error: ValidationError) -> Iterator[_Msg]:
    """Explain a failed ``oneOf``/``anyOf`` by the branch the value was most likely meant for.

    Branches whose ``type`` does not even match the value are set aside. Of the others, the one
    whose errors reach deepest into the value wins (so ``{field: x, op: "=>"}`` is explained by the
    bad ``op``, not by "not a string"). When no branch has the right type, the message lists the
    types that would do.
    """
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        index = sub.relative_schema_path[0] if sub.relative_schema_path else 0
        branches.setdefault(int(index), []).append(sub)
    candidates = {i: errs for i, errs in branches.items() if not _type_mismatch(errs)}
    if not candidates:
        expected: list[str] = []
        for errs in branches.values():
            for e in errs:
                if e.validator == "type" and not e.relative_path:
                    expected.extend(t for t in _types(_value(e)) if t not in expected)
        yield _type_msg(_path(error), expected, _instance(error))
        return

    def rank(item: tuple[int, list[ValidationError]]) -> tuple[int, int, int, int]:
        index, errs = item
        has_type = any(e.validator == "type" for e in errs)
        return (-max(_depth(e) for e in errs), int(has_type), len(errs), index)

    _, chosen = min(candidates.items(), key=rank)
    for sub in _drop_shadowed(chosen):
        yield from _explain(sub)


def _type_mismatch(errors: Sequence[ValidationError]) -> bool:
    return any(e.validator == "type" and not e.relative_path for e in errors)


def _depth(error: ValidationError) -> int:
    if error.context:
        return max(_depth(sub) for sub in error.context)
    depth = len(error.absolute_path)
    if _in_property_names(error) or error.validator in ("additionalProperties", "dependentRequired"):
        depth += 1  # these point at a key below the object
    return depth


def _generic(error: ValidationError) -> Iterator[_Msg]:
    yield _msg(
        f"schema.{error.validator}",
        "{value} does not follow the template schema here ({keyword})",
        "{value} 不符合此处的模板结构({keyword})",
        _path(error),
        value=_show(_instance(error)),
        keyword=str(error.validator),
    )


_RENDERERS: Final[dict[str, Renderer]] = {
    "required": _required,
    "additionalProperties": _additional_properties,
    "enum": _enum,
    "const": _const,
    "type": _type,
    "pattern": _pattern,
    "minimum": _bound("must be at least {limit} (found {value})", "不能小于 {limit}(现为 {value})"),
    "maximum": _bound("must be at most {limit} (found {value})", "不能大于 {limit}(现为 {value})"),
    "exclusiveMinimum": _bound("must be greater than {limit} (found {value})", "必须大于 {limit}(现为 {value})"),
    "exclusiveMaximum": _bound("must be less than {limit} (found {value})", "必须小于 {limit}(现为 {value})"),
    "minLength": _size("characters", "字符", True, lambda v: len(v), ("must not be empty", "不能为空")),
    "maxLength": _size("characters", "字符", False, lambda v: len(v)),
    "minItems": _size("items", "项", True, lambda v: len(v), ("needs at least one item", "至少需要一项")),
    "maxItems": _size("items", "项", False, lambda v: len(v)),
    "minProperties": _size("entries", "条目", True, lambda v: len(v), ("needs at least one entry", "至少需要一个条目")),
    "maxProperties": _size("entries", "条目", False, lambda v: len(v)),
    "uniqueItems": _unique_items,
    "dependentRequired": _dependent_required,
    "not": _not,
    "oneOf": _one_of,
    "anyOf": _one_of,
}


# ------------------------------------------------------------------------------------------------
# dependentSchemas: "key K is only allowed when ..."
# ------------------------------------------------------------------------------------------------


def _dependent_key(error: ValidationError) -> str | None:
    """The key K when ``error`` comes from ``dependentSchemas: {K: ...}`` (a flat subschema)."""
    schema_path = list(error.relative_schema_path)
    for tail in (1, 3):  # [..., dependentSchemas, K, kw] or [..., dependentSchemas, K, properties, P, kw]
        at = len(schema_path) - tail - 2
        if at >= 0 and schema_path[at] == "dependentSchemas":
            if tail == 3 and schema_path[at + 2] != "properties":
                continue
            return str(schema_path[at + 1])
    return None


def _dependent(error: ValidationError) -> Iterator[_Msg]:
    key = _dependent_key(error)
    assert key is not None
    schema = error.schema if isinstance(error.schema, dict) else {}
    object_path = tuple(error.absolute_path)
    if error.validator in ("const", "enum"):
        # The error is on the property the key depends on; the object is one level up.
        prop = object_path[-1]
        object_path = object_path[:-1]
        rule: Mapping[str, Any] = {str(error.validator): _value(error)}
    elif error.validator == "required":
        prop = next((k for k in _value(error) if k not in (_instance(error) or {})), "")
        rule = (schema.get("properties") or {}).get(prop, {})
    elif error.validator == "not" and isinstance(_value(error), dict):
        others = list(_value(error).get("required", []))
        yield _msg(
            "schema.dependentSchemas",
            "{key!r} cannot be used together with {others}",
            "{key!r} 不能与 {others} 同时使用",
            (*object_path, key),
            key=key,
            others=", ".join(repr(o) for o in others),
        )
        return
    else:
        yield from _generic(error)
        return
    if "const" in rule:
        en = "{key!r} is only allowed when {prop!r} is {allowed}"
        zh = "只有当 {prop!r} 为 {allowed} 时才能使用 {key!r}"
        allowed = _show(rule["const"])
    elif "enum" in rule:
        en = "{key!r} is only allowed when {prop!r} is one of: {allowed}"
        zh = "只有当 {prop!r} 为以下之一时才能使用 {key!r}:{allowed}"
        allowed = _join(rule["enum"])
    else:
        en = "{key!r} needs {prop!r} as well"
        zh = "使用 {key!r} 时还需要 {prop!r}"
        allowed = ""
    yield _msg("schema.dependentSchemas", en, zh, (*object_path, key), key=key, prop=prop, allowed=allowed)


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------


def _value(error: ValidationError) -> Any:
    """The failed keyword's value in the schema."""
    return error.validator_value


def _instance(error: ValidationError) -> Any:
    """The value in the document that failed."""
    return error.instance


def _show(value: Any, limit: int = 60) -> str:
    """A value as the user wrote it, quoted if it is a string, shortened if long."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _join(values: Iterable[Any]) -> str:
    return ", ".join(v if isinstance(v, str) else _show(v) for v in values)


def _normal(word: str) -> str:
    return re.sub(r"[\s\-]+", "_", word.strip().lower())


def _suggest(word: str, candidates: Sequence[str]) -> str | None:
    """The allowed value the user most likely meant: same spelling up to case and separators,
    the same characters in another order (``=>`` for ``>=``), or a close spelling."""
    if not candidates:
        return None
    normal = _normal(word)
    for candidate in candidates:
        if _normal(candidate) == normal:
            return candidate
    letters = sorted(normal)
    for candidate in candidates:
        if sorted(_normal(candidate)) == letters:
            return candidate
    return closest(word, candidates)


def _slug(word: str) -> str | None:
    """``Deal Size`` -> ``deal_size``: the valid name closest to what was written, if any."""
    slug = re.sub(r"[^a-z0-9_]+", "_", word.strip().lower()).strip("_")
    slug = re.sub(r"_+", "_", slug)
    slug = re.sub(r"^[^a-z]+", "", slug)[:63]
    return slug if slug and re.fullmatch(NAME_PATTERN, slug) and slug != word else None
