"""The condition builder: a condition shown as rows (field, operator, value) in and/or groups, or
as text, writing the same condition tree the engine accepts (``docs/template-reference.md``,
"Condition tree"; :func:`rule_engine.conditions.parse_tree`).

Pure: a condition value in, HTML out; conversions between the text and the tree use the engine's
own parser (:func:`~rule_engine.conditions.parse`, :func:`~rule_engine.conditions.to_tree`,
:func:`~rule_engine.conditions.unparse`), so the builder can never write what the engine reads
differently. The operators offered are the engine's list.

A group shows ``{all: [...]}``, ``{any: [...]}`` and ``{not: ...}``; a condition that is a single
row shows as a group of one, and the page's script writes a group of one back as that row. Rows
that are not a comparison (``{expr: ...}``, or a string inside a tree) show as text rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from form_builder.schema_form import ActionError, ptr_attr
from rule_engine.conditions import COMPARISON_OPERATORS, TEST_OPERATORS, parse, parse_tree, to_tree, unparse
from rule_engine.errors import FenpeiError, format_path
from rule_engine.template import LEAD_BUILTINS, REP_BUILTINS

__all__ = ["OPERATORS", "add", "blank_row", "convert", "names_of", "render_condition"]

OPERATORS: tuple[str, ...] = COMPARISON_OPERATORS + TEST_OPERATORS

_FIELD_KINDS = {
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "tags": "list",
}


def _option_values(options: Any) -> list[str]:
    out = []
    for option in options or ():
        value = option.get("value") if isinstance(option, Mapping) else option
        if isinstance(value, str):
            out.append(value)
    return out


def names_of(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The names a condition of ``document`` may read, with their kind and options (for the rows)."""
    names: dict[str, dict[str, Any]] = {}
    fields = document.get("fields")
    if isinstance(fields, Mapping):
        for name, spec in fields.items():
            if isinstance(spec, Mapping):
                info: dict[str, Any] = {"kind": _FIELD_KINDS.get(str(spec.get("type")), "string"), "scope": "field"}
                if spec.get("type") in ("enum", "tags"):
                    info["options"] = _option_values(spec.get("options"))
                names[str(name)] = info
    segments = document.get("segments")
    if isinstance(segments, list):
        for table in segments:
            if not isinstance(table, Mapping) or not isinstance(table.get("name"), str):
                continue
            outputs = [row.get("output") for row in table.get("rules") or () if isinstance(row, Mapping) and "output" in row]
            numeric = any(isinstance(row, Mapping) and "output_expr" in row for row in table.get("rules") or ()) or (
                bool(outputs) and all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in outputs)
            )
            info = {"kind": "number" if numeric else "string", "scope": "table"}
            if not numeric:
                strings = [o for o in [*outputs, table.get("default")] if isinstance(o, str)]
                info["options"] = list(dict.fromkeys(strings))
            names[table["name"]] = info
    for name, vtype in LEAD_BUILTINS.items():
        names.setdefault(name, {"kind": vtype.kind, "scope": "builtin"})
    rep_fields = document.get("rep_fields")
    if isinstance(rep_fields, Mapping):
        for name, spec in rep_fields.items():
            if isinstance(spec, Mapping):
                info = {"kind": _FIELD_KINDS.get(str(spec.get("type")), "string"), "scope": "rep"}
                if spec.get("type") in ("enum", "tags"):
                    info["options"] = _option_values(spec.get("options"))
                names[f"rep.{name}"] = info
    for name, vtype in REP_BUILTINS.items():
        info = {"kind": vtype.kind, "scope": "rep"}
        if vtype.options:
            info["options"] = sorted(vtype.options)
        names.setdefault(f"rep.{name}", info)
    return names


def blank_row() -> dict[str, Any]:
    """A new comparison row, to be filled in."""
    return {"field": "", "op": "==", "value": ""}


def _group(node: Any) -> tuple[str, bool, list[Any], list[tuple[str | int, ...]]] | None:
    """``node`` as a group: (join, negated, items, each item's path relative to ``node``)."""
    negate = False
    prefix: tuple[str | int, ...] = ()
    inner = node
    if isinstance(node, Mapping) and set(node) == {"not"}:
        negate, prefix, inner = True, ("not",), node["not"]
    if isinstance(inner, Mapping) and len(inner) == 1:
        join = next(iter(inner))
        if join in ("all", "any"):
            items = inner[join]
            if not isinstance(items, list):
                return None
            return join, negate, list(items), [(*prefix, join, i) for i in range(len(items))]
    return "all", negate, [inner], [prefix]


def add(value: Any, what: str) -> Any:
    """``value`` (a condition tree, or a string) with a new row or group at its end."""
    new = {"any": [blank_row(), blank_row()]} if what == "group" else blank_row()
    if isinstance(value, str) or value is None:
        return {"all": [value, new]} if isinstance(value, str) and value.strip() else new
    shape = _group(value)
    if shape is None:
        return {"all": [value, new]}
    join, negate, items, _ = shape
    inner = {join: [*items, new]}
    return {"not": inner} if negate else inner


def convert(value: Any, mode: str, where: str = "$") -> Any:
    """The same condition as rows (``mode="rows"``: a tree) or as text (``mode="text"``).

    Raises ActionError with the engine's message when the condition does not parse.
    """
    try:
        if mode == "rows":
            if isinstance(value, str):
                return to_tree(parse(value)) if value.strip() else blank_row()
            return value
        if mode == "text":
            if isinstance(value, str):
                return value
            return unparse(parse_tree(value))
    except FenpeiError as exc:
        problem = exc.problems[0]
        path = format_path(tuple(_parse_ptr(where)) + problem.path) if problem.path else where
        raise ActionError(f"{path}: {problem.message('en')}", f"{path}:{problem.message('zh')}", path) from None
    raise ActionError(f"unknown mode {mode!r}", f"未知的模式 {mode!r}", where)


def _parse_ptr(where: str) -> list[str | int]:
    """The parts of a JSONPath written by :func:`format_path` (for messages only)."""
    import re

    parts: list[str | int] = []
    for name, index, quoted in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]", where):
        parts.append(name if name else (int(index) if index else quoted))
    return parts


def _t(lang: str, en: str, zh: str) -> str:
    return zh if lang.startswith("zh") else en


def _attr(value: Any) -> str:
    return escape(str(value), quote=True)


def _literal_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_literal_text(v) for v in value)
    if value is None:
        return ""
    return str(value)


def render_condition(value: Any, ptr: Sequence[str | int], *, lang: str = "en", names: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The builder for the condition ``value`` at ``ptr`` (HTML)."""
    names = names or {}
    ptr = tuple(ptr)
    path = format_path(ptr)
    mode = "text" if isinstance(value, str) or value is None else "rows"
    out = [
        f'<div class="sf-node sf-condition" data-kind="condition" data-mode="{mode}" data-path="{_attr(path)}" data-ptr=\'{ptr_attr(ptr)}\'>',
        '<div class="cond-modes" role="group">',
    ]
    for m, en, zh in (("text", "Text", "文本"), ("rows", "Builder", "条件构建器")):
        pressed = "true" if m == mode else "false"
        out.append(
            f'<button type="button" class="cond-mode" data-action="cond-mode" data-mode="{m}" data-ptr=\'{ptr_attr(ptr)}\' '
            f'aria-pressed="{pressed}" data-test="cond-mode-{m}-{_attr(path)}">{escape(_t(lang, en, zh))}</button>'
        )
    out.append("</div>")
    if mode == "text":
        text = value if isinstance(value, str) else ""
        out.append(
            f'<input type="text" class="cond-text" data-role="value" value="{_attr(text)}" spellcheck="false" '
            f'placeholder="{_attr(_t(lang, "e.g. deal_size >= 1000000", "例如 deal_size >= 1000000"))}" '
            f'data-test="condition-{_attr(path)}" aria-label="{_attr(_t(lang, "Condition", "条件"))}">'
        )
    else:
        _render_group(out, value, ptr, lang, names, top=True)
    out.append("</div>")
    return "".join(out)


def _render_group(out: list[str], node: Any, ptr: tuple[str | int, ...], lang: str, names: Mapping[str, Mapping[str, Any]], *, top: bool) -> None:
    shape = _group(node)
    path = format_path(ptr)
    if shape is None:
        _render_raw(out, node, ptr, lang)
        return
    join, negate, items, rel = shape
    out.append(f'<div class="cond-group" data-kind="cond-group" data-path="{_attr(path)}" data-ptr=\'{ptr_attr(ptr)}\'>')
    out.append('<div class="cond-head">')
    out.append(f'<select data-role="join" aria-label="{_attr(_t(lang, "Join", "组合方式"))}" data-test="cond-join-{_attr(path)}">')
    for j, en, zh in (("all", "all of these (and)", "全部满足(且)"), ("any", "any of these (or)", "任一满足(或)")):
        selected = " selected" if j == join else ""
        out.append(f'<option value="{j}"{selected}>{escape(_t(lang, en, zh))}</option>')
    out.append("</select>")
    checked = " checked" if negate else ""
    out.append(f'<label class="sf-check"><input type="checkbox" data-role="negate"{checked}> {escape(_t(lang, "not", "取反"))}</label>')
    if not top:
        out.append(
            f'<button type="button" class="sf-remove" data-action="remove" data-ptr=\'{ptr_attr(ptr)}\' '
            f'title="{_attr(_t(lang, "Remove the group", "删除该组"))}" data-test="remove-{_attr(path)}">×</button>'
        )
    out.append('</div><div class="cond-items">')
    for item, r in zip(items, rel):
        item_ptr = (*ptr, *r)
        if isinstance(item, Mapping) and (set(item) == {"not"} or (len(item) == 1 and next(iter(item)) in ("all", "any"))):
            _render_group(out, item, item_ptr, lang, names, top=False)
        elif isinstance(item, Mapping) and "field" in item:
            _render_row(out, item, item_ptr, lang, names)
        elif isinstance(item, str) or (isinstance(item, Mapping) and set(item) == {"expr"}):
            _render_expr(out, item, item_ptr, lang)
        else:
            _render_raw(out, item, item_ptr, lang)
    out.append("</div>")
    out.append(
        f'<div class="cond-tools"><button type="button" data-action="cond-add" data-what="row" data-ptr=\'{ptr_attr(ptr)}\' data-test="cond-add-row-{_attr(path)}">'
        f'{escape(_t(lang, "+ condition", "+ 条件"))}</button>'
        f'<button type="button" data-action="cond-add" data-what="group" data-ptr=\'{ptr_attr(ptr)}\' data-test="cond-add-group-{_attr(path)}">'
        f'{escape(_t(lang, "+ and/or group", "+ 且/或分组"))}</button></div>'
    )
    out.append("</div>")


def _remove(ptr: tuple[str | int, ...], lang: str) -> str:
    return (
        f'<button type="button" class="sf-remove" data-action="remove" data-ptr=\'{ptr_attr(ptr)}\' '
        f'title="{_attr(_t(lang, "Remove", "删除"))}" data-test="remove-{_attr(format_path(ptr))}">×</button>'
    )


def _render_row(out: list[str], row: Mapping[str, Any], ptr: tuple[str | int, ...], lang: str, names: Mapping[str, Mapping[str, Any]]) -> None:
    path = format_path(ptr)
    name = row.get("field")
    name_text = name if isinstance(name, str) else json.dumps(name, ensure_ascii=False)
    op = row.get("op")
    ops = list(OPERATORS) + ([str(op)] if op not in OPERATORS else [])
    rhs = "field" if "ref" in row else "value"
    shown = _literal_text(row.get("ref") if rhs == "field" else row.get("value"))
    info = names.get(name_text.removeprefix("lead.")) if isinstance(name, str) else None
    value_list = "sf-names" if rhs == "field" else (f"sf-opts-{name_text.removeprefix('lead.')}" if info and info.get("options") else "")
    out.append(f'<div class="cond-row" data-kind="cond-row" data-path="{_attr(path)}" data-ptr=\'{ptr_attr(ptr)}\'>')
    out.append(
        f'<input class="cond-field" data-role="field" list="sf-names" value="{_attr(name_text)}" spellcheck="false" '
        f'placeholder="{_attr(_t(lang, "field", "字段"))}" aria-label="{_attr(_t(lang, "Field", "字段"))}" data-test="cond-field-{_attr(path)}">'
    )
    out.append(f'<select class="cond-op" data-role="op" aria-label="{_attr(_t(lang, "Operator", "运算符"))}" data-test="cond-op-{_attr(path)}">')
    for o in ops:
        selected = " selected" if o == op else ""
        out.append(f"<option{selected}>{escape(o)}</option>")
    out.append("</select>")
    hidden = " hidden" if op in TEST_OPERATORS else ""
    out.append(f'<select class="cond-rhs{hidden}" data-role="rhs" aria-label="{_attr(_t(lang, "Compare with", "比较对象"))}">')
    for k, en, zh in (("value", "value", "值"), ("field", "field", "字段")):
        selected = " selected" if k == rhs else ""
        out.append(f'<option value="{k}"{selected}>{escape(_t(lang, en, zh))}</option>')
    out.append("</select>")
    list_attr = f' list="{_attr(value_list)}"' if value_list else ""
    placeholder = _t(lang, "a, b, c", "a, b, c") if op in ("in", "not in") and rhs == "value" else _t(lang, "value", "值")
    out.append(
        f'<input class="cond-value{hidden}" data-role="value"{list_attr} value="{_attr(shown)}" spellcheck="false" '
        f'placeholder="{_attr(placeholder)}" aria-label="{_attr(_t(lang, "Value", "值"))}" data-test="cond-value-{_attr(path)}">'
    )
    out.append(_remove(ptr, lang))
    out.append("</div>")


def _render_expr(out: list[str], item: Any, ptr: tuple[str | int, ...], lang: str) -> None:
    path = format_path(ptr)
    plain = isinstance(item, str)
    text = item if plain else item.get("expr", "")
    text_path = path if plain else format_path((*ptr, "expr"))
    out.append(f'<div class="cond-expr" data-kind="cond-expr" data-plain="{"1" if plain else "0"}" data-path="{_attr(text_path)}" data-ptr=\'{ptr_attr(ptr)}\'>')
    out.append(
        f'<input class="cond-text" data-role="value" value="{_attr(text if isinstance(text, str) else "")}" spellcheck="false" '
        f'aria-label="{_attr(_t(lang, "Condition as text", "文本条件"))}" data-test="cond-expr-{_attr(path)}">'
    )
    out.append(_remove(ptr, lang))
    out.append("</div>")


def _render_raw(out: list[str], item: Any, ptr: tuple[str | int, ...], lang: str) -> None:
    path = format_path(ptr)
    out.append(f'<div class="cond-raw sf-node" data-kind="raw" data-path="{_attr(path)}" data-ptr=\'{ptr_attr(ptr)}\'>')
    out.append(f'<textarea data-role="value" class="sf-json" rows="2" aria-label="{_attr(_t(lang, "Value as JSON", "JSON 值"))}">{escape(json.dumps(item, ensure_ascii=False))}</textarea>')
    out.append(_remove(ptr, lang))
    out.append("</div>")
