"""Forms generated from a JSON Schema: the template builder edits every section of a template
in controls made from the template's own schema (``rule_engine/schema/template.schema.json``).

Pure: a schema and a document in, HTML out; an action (add a row, remove a key, move a row,
choose a variant, switch a condition between text and rows) in, the new document out. No Flask,
no I/O. The page's script reads the controls back into the document (``data-*`` attributes
below) and the server turns the document into YAML and validates it.

How a schema becomes controls (a registry of small renderers, by kind):

- ``$ref`` is followed within the document; the keys beside it (title, description) win.
- The ``condition`` definition becomes the condition builder (:mod:`form_builder.schema_condition`).
- ``oneOf``/``anyOf`` whose branches are different types becomes a type chooser; branches that only
  add ``required`` are constraints, left to validation. A list of types (``["string", "number"]``)
  is a chooser too.
- ``const`` is shown, not edited; ``enum`` is a select; an array of enum values with
  ``uniqueItems`` is a set of checkboxes; ``boolean`` is a checkbox; strings and numbers are inputs.
- An object with ``properties`` is a fieldset: its required keys and the keys it has are shown,
  the absent optional keys are offered in an "add" list, and each optional key can be removed.
- An object with ``additionalProperties`` only is a map: key/value rows with add and remove.
- An array is a list of rows with add, remove, up and down.
- Anything else (a key the schema does not know, a value of the wrong type, a schema with no type)
  is a JSON text box, so every document can be shown and nothing is dropped.

Every value's element has ``class="sf-node"``, ``data-kind``, ``data-path`` (the JSONPath that
validation errors use, ``$.segments[4].rules[1].when``) and ``data-ptr`` (the same path as a JSON
list, for actions). Inputs carry ``data-role="value"``; map keys ``data-role="key"``; a chooser's
select ``data-role="variant"``. Action controls carry ``data-action`` and ``data-ptr``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from form_builder.schema_labels import label
from rule_engine.errors import format_path
from rule_engine.schema import json_type

__all__ = ["ActionError", "SchemaForm", "json_ptr", "ptr_attr"]

Ptr = tuple[str | int, ...]

# Top-level keys shown together in the first section; every other top-level key is a section.
GENERAL = ("$schema", "fenpei", "name", "title", "description", "timezone", "won_when")


class ActionError(ValueError):
    """An action the document cannot take (a wrong path, a condition that does not parse)."""

    def __init__(self, en: str, zh: str, path: str = "$") -> None:
        super().__init__(en)
        self.en, self.zh, self.path = en, zh, path

    def message(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


def json_ptr(ptr: Sequence[str | int]) -> str:
    """``ptr`` as compact JSON (what ``data-ptr`` holds)."""
    return json.dumps(list(ptr), ensure_ascii=False, separators=(",", ":"))


def ptr_attr(ptr: Sequence[str | int]) -> str:
    """``ptr`` as JSON escaped for an attribute in single quotes."""
    return json_ptr(ptr).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")


def _attr(value: Any) -> str:
    return escape(str(value), quote=True)


def _type_ok(expected: str, value: Any) -> bool:
    got = json_type(value)
    if expected == "number":
        return got in ("number", "integer")
    if expected == "integer":
        return got == "integer" or (got == "number" and float(value).is_integer())
    return got == expected


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Render:
    """One rendering: the page language, the names conditions may read, and the output."""

    lang: str
    names: Mapping[str, Mapping[str, Any]]
    out: list[str] = field(default_factory=list)

    def t(self, en: str, zh: str) -> str:
        return zh if self.lang.startswith("zh") else en

    def label(self, text: str | None) -> str:
        return label(text, self.lang)


class SchemaForm:
    """Controls for documents of one JSON Schema (the template schema unless another is given)."""

    def __init__(self, schema: Mapping[str, Any] | None = None) -> None:
        if schema is None:
            from rule_engine.schema import template_schema

            schema = template_schema()
        self.schema: Mapping[str, Any] = schema
        self.defs: Mapping[str, Any] = schema.get("$defs", {})
        self._renderers: dict[str, Callable[[_Render, Mapping[str, Any], Any, Ptr], None]] = {
            "condition": self._condition,
            "choice": self._choice,
            "const": self._const,
            "enum": self._enum,
            "enumset": self._enumset,
            "boolean": self._boolean,
            "string": self._scalar,
            "number": self._scalar,
            "integer": self._scalar,
            "object": self._object,
            "map": self._map,
            "array": self._array,
            "raw": self._raw,
        }

    # ------------------------------------------------------------------------------------------
    # Reading the schema
    # ------------------------------------------------------------------------------------------

    def resolve(self, node: Mapping[str, Any]) -> dict[str, Any]:
        """``node`` with its ``$ref`` followed (the keys beside ``$ref`` win); ``x-def`` names the definition."""
        out = dict(node)
        for _ in range(32):  # a cycle of bare $refs would be a broken schema; stop anyway
            ref = out.pop("$ref", None)
            if not isinstance(ref, str):
                break
            name = ref.rsplit("/", 1)[-1]
            target = self.defs.get(name)
            if not ref.startswith("#/$defs/") or target is None:
                break
            out.setdefault("x-def", name)
            out = {**target, **out}
        return out

    def variants(self, node: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """The branches a type chooser offers for ``node`` (None: not a chooser)."""
        if isinstance(node.get("type"), list):
            return [{"type": t} for t in node["type"]]
        for key in ("oneOf", "anyOf"):
            branches = node.get(key)
            if isinstance(branches, list) and any(set(b) - {"required"} for b in branches):
                out: list[dict[str, Any]] = []
                for b in branches:
                    branch = self.resolve(b)
                    inner = self.variants(branch) if branch.get("x-def") != "condition" else None
                    out.extend(inner if inner is not None else [branch])  # a chooser in a chooser: one list
                return out
        return None

    def kind(self, node: Mapping[str, Any], value: Any = None) -> str:
        """Which renderer shows ``node`` (resolved)."""
        if node.get("x-def") == "condition":
            return "condition"
        if self.variants(node) is not None:
            return "choice"
        if "const" in node:
            return "const"
        if "enum" in node:
            return "enum"
        t = node.get("type")
        if t == "object" or (t is None and ("properties" in node or "additionalProperties" in node)):
            if "properties" not in node and isinstance(node.get("additionalProperties"), Mapping):
                return "map"
            return "object"
        if t == "array":
            items = self.resolve(node.get("items") or {})
            if "enum" in items and node.get("uniqueItems"):
                return "enumset"
            return "array"
        if t in ("boolean", "string", "number", "integer"):
            return str(t)
        return "raw"

    def matches(self, node: Mapping[str, Any], value: Any) -> bool:
        """A light check that ``value`` has the shape of ``node`` (to pick a chooser's branch)."""
        node = self.resolve(node)
        if "const" in node:
            return bool(value == node["const"])
        if "enum" in node:
            return value in node["enum"]
        choices = self.variants(node)
        if choices is not None:
            return any(self.matches(c, value) for c in choices)
        t = node.get("type")
        if isinstance(t, str) and not _type_ok(t, value):
            return False
        if isinstance(value, dict):
            if t is None and "properties" not in node and "additionalProperties" not in node:
                return node.get("x-def") == "condition"
            props = node.get("properties") or {}
            if any(k not in value for k in node.get("required") or ()):
                return False
            if node.get("additionalProperties") is False and any(k not in props for k in value):
                return False
        return t is not None or "properties" in node

    def variant_index(self, node: Mapping[str, Any], value: Any) -> int | None:
        """The branch of a chooser that ``value`` fits (None: none does)."""
        for i, branch in enumerate(self.variants(node) or ()):
            if self.matches(branch, value):
                return i
        return None

    def blank(self, node: Mapping[str, Any]) -> Any:
        """A value to start a new row or key with: the default, else the simplest valid shape."""
        node = self.resolve(node)
        if "default" in node:
            return copy.deepcopy(node["default"])
        if "const" in node:
            return node["const"]
        if node.get("x-def") == "condition":
            return ""
        if "enum" in node:
            return node["enum"][0]
        choices = self.variants(node)
        if choices:
            return self.blank(choices[0])
        t = node.get("type")
        if t == "object" or "properties" in node:
            props = node.get("properties") or {}
            return {k: self.blank(props.get(k, {})) for k in node.get("required") or ()}
        if t == "array":
            return [self.blank(node.get("items") or {}) for _ in range(int(node.get("minItems") or 0))]
        if t == "boolean":
            return False
        if t in ("number", "integer"):
            minimum = node.get("minimum")
            return minimum if isinstance(minimum, (int, float)) else (1 if "exclusiveMinimum" in node else 0)
        return ""

    def schema_at(self, document: Any, ptr: Sequence[str | int]) -> dict[str, Any] | None:
        """The (resolved) schema of the value at ``ptr`` in ``document`` (None: not known)."""
        node = self.resolve(self.schema)
        value = document
        for part in ptr:
            choices = self.variants(node)
            if choices is not None and node.get("x-def") != "condition":
                i = self.variant_index(node, value)
                if i is None:
                    return None
                node = choices[i]
            if node.get("x-def") == "condition":
                return None  # inside a condition: the builder's own business
            if isinstance(part, int):
                node = self.resolve(node.get("items") or {})
                value = value[part] if isinstance(value, list) and 0 <= part < len(value) else None
            else:
                props = node.get("properties") or {}
                if part in props:
                    node = self.resolve(props[part])
                elif isinstance(node.get("additionalProperties"), Mapping):
                    node = self.resolve(node["additionalProperties"])
                else:
                    return None
                value = value.get(part) if isinstance(value, dict) else None
        return node

    # ------------------------------------------------------------------------------------------
    # Rendering
    # ------------------------------------------------------------------------------------------

    def render(self, document: Any, *, lang: str = "en", names: Mapping[str, Mapping[str, Any]] | None = None, open_sections: Sequence[str] = ("general",)) -> str:
        """The whole document as sections of controls (HTML)."""
        from form_builder.schema_condition import names_of

        r = _Render(lang, names if names is not None else names_of(document if isinstance(document, dict) else {}))
        root = self.resolve(self.schema)
        doc = document if isinstance(document, dict) else {}
        props: Mapping[str, Any] = root.get("properties") or {}
        required = set(root.get("required") or ())
        r.out.append(f'<div class="sf-node sf-root" data-kind="object" data-path="$" data-ptr="[]"><div class="sf-children">')
        general = [k for k in GENERAL if k in props]
        opened = "open" if "general" in open_sections else ""
        r.out.append(f'<details class="sf-section" data-section="general" {opened}><summary data-test="section-general">{escape(r.t("General", "基本信息"))}</summary>')
        for key in general:
            if key in doc or key in required:
                self._prop(r, props[key], doc.get(key), (key,), key, optional=key not in required)
        self._add_list(r, (), [k for k in general if k not in doc and k not in required], props)
        r.out.append("</details>")
        for key, sub in props.items():
            if key in GENERAL:
                continue
            node = self.resolve(sub)
            title = r.label(node.get("title")) or key
            opened = "open" if key in open_sections else ""
            r.out.append(
                f'<details class="sf-section" data-section="{_attr(key)}" {opened}><summary data-test="section-{_attr(key)}" data-path="{_attr(format_path((key,)))}">'
                f'{escape(title)} <code>{escape(key)}</code></summary>'
            )
            if node.get("description"):
                r.out.append(f'<p class="help">{escape(r.label(node.get("description")))}</p>')
            if key in doc:
                self._prop(r, sub, doc[key], (key,), key, optional=key not in required, bare=True)
            else:
                r.out.append(
                    f'<p><button type="button" data-action="add-prop" data-ptr="[]" data-key="{_attr(key)}" data-test="add-section-{_attr(key)}">'
                    f'{escape(r.t("Add this section", "添加此部分"))}</button></p>'
                )
            r.out.append("</details>")
        for key in doc:
            if key not in props:
                self._unknown(r, doc[key], (key,), key)
        r.out.append("</div></div>")
        r.out.append(self._names_script(r))
        return "".join(r.out)

    def render_value(self, node: Mapping[str, Any], value: Any, ptr: Sequence[str | int], *, lang: str = "en", names: Mapping[str, Mapping[str, Any]] | None = None) -> str:
        """The controls of one value (HTML)."""
        r = _Render(lang, names or {})
        self._value(r, self.resolve(node), value, tuple(ptr))
        return "".join(r.out)

    def _names_script(self, r: _Render) -> str:
        data = json.dumps(r.names, ensure_ascii=False).replace("</", "<\\/")
        options = "".join(f'<option value="{_attr(n)}">' for n in r.names)
        lists = [f'<datalist id="sf-names">{options}</datalist>']
        for n, info in r.names.items():
            if info.get("options"):
                opts = "".join(f'<option value="{_attr(o)}">' for o in info["options"])
                lists.append(f'<datalist id="sf-opts-{_attr(n)}">{opts}</datalist>')
        return f'<script type="application/json" id="sf-names-data">{data}</script>' + "".join(lists)

    def _open(self, r: _Render, kind: str, ptr: Ptr, extra: str = "", cls: str = "") -> None:
        r.out.append(f'<div class="sf-node sf-{kind} {cls}" data-kind="{kind}" data-path="{_attr(format_path(ptr))}" data-ptr=\'{ptr_attr(ptr)}\'{extra}>')

    def _value(self, r: _Render, node: dict[str, Any], value: Any, ptr: Ptr) -> None:
        kind = self.kind(node, value)
        if kind == "raw" and not any(k in node for k in ("type", "properties", "items", "enum", "const")):
            # A value of any type (a field's `default`): the widget of the value's own type.
            typ = {"boolean": "boolean", "integer": "number", "number": "number", "string": "string"}.get(json_type(value))
            if typ is not None:
                node, kind = {**node, "type": typ}, typ
        elif kind not in ("raw", "choice", "condition") and not self._fits(kind, node, value):
            kind = "raw"
        self._renderers[kind](r, node, value, ptr)

    def _fits(self, kind: str, node: Mapping[str, Any], value: Any) -> bool:
        if kind in ("object", "map"):
            return isinstance(value, dict)
        if kind in ("array", "enumset"):
            return isinstance(value, list)
        if kind == "boolean":
            return isinstance(value, bool)
        if kind in ("number", "integer"):
            return json_type(value) in ("number", "integer")
        if kind == "string":
            return isinstance(value, str)
        if kind == "enum":
            return value in node["enum"] or isinstance(value, str)
        if kind == "const":
            return bool(value == node["const"])
        return True

    def _help(self, r: _Render, node: Mapping[str, Any]) -> str:
        text = r.label(node.get("description"))
        return f'<span class="help">{escape(text)}</span>' if text else ""

    def _remove_button(self, r: _Render, ptr: Ptr, what_en: str = "Remove", what_zh: str = "删除") -> str:
        return (
            f'<button type="button" class="sf-remove" data-action="remove" data-ptr=\'{ptr_attr(ptr)}\' '
            f'data-test="remove-{_attr(format_path(ptr))}" title="{_attr(r.t(what_en, what_zh))}" aria-label="{_attr(r.t(what_en, what_zh))}">×</button>'
        )

    def _prop(self, r: _Render, sub: Mapping[str, Any], value: Any, ptr: Ptr, key: str, *, optional: bool, bare: bool = False) -> None:
        node = self.resolve(sub)
        kind = self.kind(node, value)
        title = r.label(node.get("title")) or key
        remove = self._remove_button(r, ptr) if optional else ""
        help_ = self._help(r, node) if key not in ("zh", "en") else ""  # "Chinese"/"English" say it all
        r.out.append(f'<div class="sf-prop sf-prop-{kind}" data-key="{_attr(key)}">')
        if bare:
            if optional:
                r.out.append(f'<div class="sf-tools">{remove}</div>')
            self._value(r, node, value, ptr)
        elif kind in ("object", "map", "array"):
            r.out.append(
                f'<fieldset><legend>{escape(title)} <code>{escape(key)}</code> {remove}</legend>{help_}'
            )
            self._value(r, node, value, ptr)
            r.out.append("</fieldset>")
        else:
            r.out.append(f'<div class="sf-field"><div class="sf-label"><span>{escape(title)}</span> <code>{escape(key)}</code> {remove}</div>{help_}')
            self._value(r, node, value, ptr)
            r.out.append("</div>")
        r.out.append("</div>")

    def _unknown(self, r: _Render, value: Any, ptr: Ptr, key: str) -> None:
        r.out.append(f'<div class="sf-prop sf-unknown" data-key="{_attr(key)}"><div class="sf-field"><div class="sf-label">')
        r.out.append(f'<span>{escape(r.t("Unknown key", "未知的键"))}</span> <code>{escape(key)}</code> {self._remove_button(r, ptr)}</div>')
        self._raw(r, {}, value, ptr)
        r.out.append("</div></div>")

    def _add_list(self, r: _Render, ptr: Ptr, absent: Sequence[str], props: Mapping[str, Any]) -> None:
        if not absent:
            return
        r.out.append(
            f'<select class="sf-add" data-action="add-prop" data-ptr=\'{ptr_attr(ptr)}\' data-test="add-prop-{_attr(format_path(ptr))}" aria-label="{_attr(r.t("Add a key", "添加一项"))}">'
            f'<option value="">{escape(r.t("+ add…", "+ 添加…"))}</option>'
        )
        for key in absent:
            title = r.label(self.resolve(props[key]).get("title")) or key
            r.out.append(f'<option value="{_attr(key)}">{escape(title)} ({escape(key)})</option>')
        r.out.append("</select>")

    # ---- renderers ---------------------------------------------------------------------------

    def _object(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        value = value if isinstance(value, dict) else {}
        props: Mapping[str, Any] = node.get("properties") or {}
        required = set(node.get("required") or ())
        self._open(r, "object", ptr)
        r.out.append('<div class="sf-children">')
        for key, sub in props.items():
            if key in value or key in required:
                self._prop(r, sub, value.get(key), (*ptr, key), key, optional=key not in required)
        for key in value:
            if key not in props:
                self._unknown(r, value[key], (*ptr, key), key)
        r.out.append("</div>")
        self._add_list(r, ptr, [k for k in props if k not in value and k not in required], props)
        r.out.append("</div>")

    def _summary_of(self, r: _Render, value: Any, fallback: str) -> str:
        if isinstance(value, dict):
            title = value.get("title")
            if isinstance(title, dict):
                title = title.get("zh" if r.lang.startswith("zh") else "en") or title.get("en")
            name = value.get("name")
            parts = [str(p) for p in (name, title) if isinstance(p, str) and p]
            if not parts and isinstance(value.get("when"), str):
                parts.append(value["when"])
            if not parts and "value" in value:
                parts.append(_short(value["value"]))
            if parts:
                return " · ".join(_short(p) for p in parts)
        elif value is not None and not isinstance(value, list):
            return _short(value)
        return fallback

    def _map(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        value = value if isinstance(value, dict) else {}
        sub = self.resolve(node.get("additionalProperties") or {})
        complex_values = self.kind(sub) in ("object", "map", "array", "choice")
        self._open(r, "map", ptr)
        r.out.append('<div class="sf-children">')
        for key, item in value.items():
            p = (*ptr, key)
            r.out.append(f'<div class="sf-entry" data-key="{_attr(key)}">')
            key_input = f'<input class="sf-key" data-role="key" value="{_attr(key)}" aria-label="{_attr(r.t("Key", "键"))}" data-test="key-{_attr(format_path(p))}">'
            if complex_values:
                summary = self._summary_of(r, item, "")
                r.out.append(
                    f'<details data-ptr=\'{ptr_attr(p)}\'><summary data-path="{_attr(format_path(p))}"><code>{escape(key)}</code> '
                    f'<span class="muted">{escape(summary)}</span> {self._remove_button(r, p)}</summary>'
                    f'<label class="sf-keyrow">{escape(r.t("Name", "名称"))}{key_input}</label>'
                )
                self._value(r, sub, item, p)
                r.out.append("</details>")
            else:
                r.out.append(f'<div class="sf-kv">{key_input}')
                self._value(r, sub, item, p)
                r.out.append(f"{self._remove_button(r, p)}</div>")
            r.out.append("</div>")
        r.out.append("</div>")
        r.out.append(
            f'<div class="sf-add-entry"><input data-role="new-key" placeholder="{_attr(r.t("new name", "新名称"))}" aria-label="{_attr(r.t("New name", "新名称"))}" data-test="new-key-{_attr(format_path(ptr))}">'
            f'<button type="button" data-action="add-entry" data-ptr=\'{ptr_attr(ptr)}\' data-test="add-entry-{_attr(format_path(ptr))}">{escape(r.t("+ add", "+ 添加"))}</button></div>'
        )
        r.out.append("</div>")

    def _array(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        value = value if isinstance(value, list) else []
        items = self.resolve(node.get("items") or {})
        complex_items = self.kind(items) in ("object", "map", "array") or (self.kind(items) == "choice" and any(self.kind(v) == "object" for v in self.variants(items) or ()))
        self._open(r, "array", ptr)
        r.out.append('<div class="sf-children">')
        n = len(value)
        for i, item in enumerate(value):
            p = (*ptr, i)
            tools = (
                f'<span class="sf-tools"><button type="button" data-action="move" data-by="-1" data-ptr=\'{ptr_attr(p)}\' title="{_attr(r.t("Up", "上移"))}" {"disabled" if i == 0 else ""}>↑</button>'
                f'<button type="button" data-action="move" data-by="1" data-ptr=\'{ptr_attr(p)}\' title="{_attr(r.t("Down", "下移"))}" {"disabled" if i == n - 1 else ""}>↓</button>'
                f"{self._remove_button(r, p)}</span>"
            )
            r.out.append(f'<div class="sf-item" data-index="{i}">')
            if complex_items:
                summary = self._summary_of(r, item, "")
                r.out.append(
                    f'<details data-ptr=\'{ptr_attr(p)}\'><summary data-path="{_attr(format_path(p))}" data-test="item-{_attr(format_path(p))}">'
                    f'<span class="sf-index">{i + 1}</span> {escape(summary)} {tools}</summary>'
                )
                self._value(r, items, item, p)
                r.out.append("</details>")
            else:
                r.out.append('<div class="sf-row">')
                self._value(r, items, item, p)
                r.out.append(f"{tools}</div>")
            r.out.append("</div>")
        r.out.append("</div>")
        r.out.append(
            f'<button type="button" class="sf-add-item" data-action="add-item" data-ptr=\'{ptr_attr(ptr)}\' data-test="add-item-{_attr(format_path(ptr))}">'
            f'{escape(r.t("+ add a row", "+ 添加一行"))}</button>'
        )
        r.out.append("</div>")

    def _choice(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        choices = self.variants(node) or []
        index = self.variant_index(node, value)
        self._open(r, "choice", ptr)
        r.out.append(
            f'<select class="sf-variant" data-role="variant" data-action="variant" data-ptr=\'{ptr_attr(ptr)}\' '
            f'data-test="variant-{_attr(format_path(ptr))}" aria-label="{_attr(r.t("Kind of value", "取值方式"))}">'
        )
        for i, branch in enumerate(choices):
            selected = " selected" if i == index else ""
            r.out.append(f'<option value="{i}"{selected}>{escape(self._variant_label(r, branch))}</option>')
        if index is None:
            r.out.append(f'<option value="" selected>{escape(r.t("(other)", "(其他)"))}</option>')
        r.out.append("</select>")
        if index is None:
            self._raw(r, {}, value, ptr)
        else:
            self._value(r, choices[index], value, ptr)
        r.out.append("</div>")

    def _variant_label(self, r: _Render, branch: Mapping[str, Any]) -> str:
        if branch.get("x-def") == "condition":
            return r.t("condition", "条件")
        if branch.get("title") and branch.get("x-def") not in (None,):
            return r.label(branch["title"])
        t = branch.get("type")
        if t == "object":
            keys = list((branch.get("properties") or {}).keys())
            if set(keys) == {"zh", "en"}:
                return r.t("Chinese and English", "中英文分别填写")
            return r.t("object", "对象") + (f" ({', '.join(keys[:3])})" if keys else "")
        names = {
            "string": r.t("text", "文本"),
            "number": r.t("number", "数字"),
            "integer": r.t("whole number", "整数"),
            "boolean": r.t("yes/no", "是/否"),
            "array": r.t("list", "列表"),
        }
        if isinstance(t, str):
            if t == "string" and branch.get("maxLength") in (200, 4000):
                return r.t("one text for both languages", "中英文共用")
            return names.get(t, t)
        return r.label(branch.get("title")) or "?"

    def _const(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        self._open(r, "const", ptr, f' data-json="{_attr(json.dumps(node["const"]))}"')
        r.out.append(f'<code>{escape(json.dumps(node["const"], ensure_ascii=False))}</code></div>')

    def _enum(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        options = list(node["enum"])
        if value not in options:
            options.append(value)
        self._open(r, "enum", ptr, f' data-enum="{_attr(json.dumps(options, ensure_ascii=False))}"')
        r.out.append(f'<select data-role="value">')
        for option in options:
            selected = " selected" if option == value else ""
            r.out.append(f'<option{selected}>{escape(str(option))}</option>')
        r.out.append("</select></div>")

    def _enumset(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        items = self.resolve(node.get("items") or {})
        options = list(items["enum"])
        chosen = value if isinstance(value, list) else []
        options += [v for v in chosen if v not in options]
        self._open(r, "enumset", ptr)
        r.out.append('<div class="sf-checks">')
        for option in options:
            checked = " checked" if option in chosen else ""
            r.out.append(f'<label class="sf-check"><input type="checkbox" data-role="member" data-json="{_attr(json.dumps(option, ensure_ascii=False))}"{checked}> {escape(str(option))}</label>')
        r.out.append("</div></div>")

    def _boolean(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        self._open(r, "boolean", ptr)
        checked = " checked" if value is True else ""
        r.out.append(f'<label class="sf-check"><input type="checkbox" data-role="value"{checked}> {escape(r.t("yes", "是"))}</label></div>')

    def _scalar(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        t = node.get("type")
        kind = t if t in ("number", "integer") else "string"
        self._open(r, kind, ptr)
        shown = "" if value is None else (value if isinstance(value, str) else json.dumps(value))
        if kind == "string" and ((node.get("maxLength") or 0) > 200 or "\n" in shown):
            r.out.append(f'<textarea data-role="value" rows="3">{escape(shown)}</textarea>')
        else:
            typ = "number" if kind != "string" else "text"
            step = ' step="1"' if kind == "integer" else (' step="any"' if kind == "number" else "")
            r.out.append(f'<input type="{typ}"{step} data-role="value" value="{_attr(shown)}">')
        r.out.append("</div>")

    def _raw(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        self._open(r, "raw", ptr)
        text = json.dumps(value, ensure_ascii=False)
        r.out.append(
            f'<textarea data-role="value" rows="{min(8, 1 + text.count(",") // 4)}" class="sf-json" '
            f'aria-label="{_attr(r.t("Value as JSON", "JSON 值"))}">{escape(text)}</textarea>'
            f'<span class="help">{escape(r.t("Written as JSON.", "以 JSON 书写。"))}</span></div>'
        )

    def _condition(self, r: _Render, node: Mapping[str, Any], value: Any, ptr: Ptr) -> None:
        from form_builder.schema_condition import render_condition

        r.out.append(render_condition(value, ptr, lang=r.lang, names=r.names))

    # ------------------------------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------------------------------

    def apply(self, document: Any, action: Mapping[str, Any]) -> Any:
        """The document after ``action`` (a copy); raises ActionError when it cannot be taken.

        Actions: ``{"op": "add-item", "ptr"}`` appends a blank row to an array;
        ``{"op": "add-prop", "ptr", "key"}`` adds a key to an object (its blank value);
        ``{"op": "add-entry", "ptr", "key"}`` adds a key to a map; ``{"op": "remove", "ptr"}``;
        ``{"op": "move", "ptr", "by": -1|1}`` moves a row; ``{"op": "variant", "ptr", "variant": i}``
        switches a chooser to branch ``i``; ``{"op": "cond-mode", "ptr", "mode": "text"|"rows"}``
        and ``{"op": "cond-add", "ptr", "what": "row"|"group"}`` work on conditions.
        """
        from form_builder import schema_condition as cond

        doc = copy.deepcopy(document)
        op = action.get("op")
        raw_ptr = action.get("ptr") or []
        if not isinstance(raw_ptr, list) or not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in raw_ptr):
            raise ActionError("an action needs a path: a list of keys and indexes", "操作需要路径:由键和下标组成的列表")
        ptr = tuple(raw_ptr)
        where = format_path(ptr)
        if op in ("cond-mode", "cond-add"):
            current = _get(doc, ptr, where)
            if op == "cond-mode":
                new = cond.convert(current, str(action.get("mode")), where)
            else:
                new = cond.add(current, str(action.get("what") or "row"))
            return _set(doc, ptr, new, where)
        if op == "remove":
            if not ptr:
                raise ActionError("the whole document cannot be removed", "不能删除整个文档")
            parent = _get(doc, ptr[:-1], where)
            last = ptr[-1]
            if isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
                del parent[last]
            elif isinstance(parent, dict) and last in parent:
                del parent[last]
            else:
                raise _missing(where)
            return doc
        if op == "move":
            parent = _get(doc, ptr[:-1], where)
            i = ptr[-1] if ptr else None
            by = action.get("by")
            j = (i + by) if isinstance(i, int) and isinstance(by, int) and by in (-1, 1) else None
            if not isinstance(parent, list) or not isinstance(i, int) or j is None or not (0 <= i < len(parent) and 0 <= j < len(parent)):
                raise _missing(where)
            parent[i], parent[j] = parent[j], parent[i]
            return doc
        node = self.schema_at(doc, ptr)
        if node is None:
            raise ActionError(f"{where} is not a place the template schema knows", f"模板结构中没有 {where} 这个位置", where)
        if op == "add-item":
            target = _get(doc, ptr, where) if _has(doc, ptr) else None
            if target is None:
                doc = _set(doc, ptr, [], where)
                target = _get(doc, ptr, where)
            if not isinstance(target, list):
                raise ActionError(f"{where} is not a list", f"{where} 不是列表", where)
            target.append(self.blank(node.get("items") or {}))
            return doc
        if op in ("add-prop", "add-entry"):
            key = str(action.get("key") or "").strip()
            if not key:
                raise ActionError("give a name first", "请先填写名称", where)
            target = _get(doc, ptr, where)
            if not isinstance(target, dict):
                raise ActionError(f"{where} is not an object", f"{where} 不是对象", where)
            if key in target:
                raise ActionError(f"{key!r} is already there", f"{key!r} 已存在", format_path((*ptr, key)))
            props = node.get("properties") or {}
            if op == "add-prop":
                if key not in props:
                    raise ActionError(f"{key!r} is not a key of {where}", f"{key!r} 不是 {where} 的键", where)
                target[key] = self.blank(props[key])
            else:
                extra = node.get("additionalProperties")
                if not isinstance(extra, Mapping):
                    raise ActionError(f"{where} takes no new names", f"{where} 不能添加新名称", where)
                target[key] = self.blank(extra)
            return doc
        if op == "variant":
            choices = self.variants(node)
            index = action.get("variant")
            if choices is None or not isinstance(index, int) or not 0 <= index < len(choices):
                raise ActionError(f"{where} has no such kind of value", f"{where} 没有这种取值方式", where)
            current = _get(doc, ptr, where) if _has(doc, ptr) else None
            return _set(doc, ptr, self._convert(current, choices[index]), where)
        raise ActionError(f"unknown action {op!r}", f"未知操作 {op!r}")

    def _convert(self, value: Any, branch: dict[str, Any]) -> Any:
        """``value`` carried over to ``branch`` where it can be (text ↔ {zh, en}), else a blank."""
        if self.matches(branch, value):
            return value
        t = branch.get("type")
        props = branch.get("properties") or {}
        if t == "object" and isinstance(value, str) and props and all(self.resolve(p).get("type") == "string" for p in props.values()):
            return {k: value for k in (branch.get("required") or props)}
        if t == "string" and isinstance(value, dict):
            texts = [v for v in value.values() if isinstance(v, str) and v]
            if texts:
                return texts[-1] if "en" in value else texts[0]
        if t in ("number", "integer") and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                return int(number) if number.is_integer() else number
        if t == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return self.blank(branch)


def _missing(where: str) -> ActionError:
    return ActionError(f"nothing at {where}", f"{where} 处没有内容", where)


def _has(doc: Any, ptr: Ptr) -> bool:
    try:
        _get(doc, ptr, "")
    except ActionError:
        return False
    return True


def _get(doc: Any, ptr: Ptr, where: str) -> Any:
    node = doc
    for part in ptr:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            raise _missing(where)
    return node


def _set(doc: Any, ptr: Ptr, value: Any, where: str) -> Any:
    if not ptr:
        return value
    parent = _get(doc, ptr[:-1], where)
    last = ptr[-1]
    if isinstance(parent, dict) and isinstance(last, str):
        parent[last] = value
    elif isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
        parent[last] = value
    else:
        raise _missing(where)
    return doc
