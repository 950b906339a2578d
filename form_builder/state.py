"""Which fields of a form are shown and required for the values entered so far, and what is wrong
with them: the one evaluator behind both the browser (which asks the server on every change that
matters and never evaluates a condition itself) and the server's own validation of a submit.

The rules are the engine's (:meth:`CompiledTemplate.lead_record` and ``form_record``): values
are read with :func:`rule_engine.fields.coerce`; a default fills an empty field; a field is shown
when its ``visible_when`` holds over the form's values laid over the lead's, and required when it
is shown and ``required`` or its ``required_when`` holds; a condition that cannot be evaluated
(a value missing or of the wrong kind) does not hold. A hidden field is never required and its
value is dropped; as dropping a value can hide another field in turn, visibility is worked out
again until it settles, so what the server stores is what the browser showed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rule_engine import Condition, Problem
from rule_engine.fields import coerce

from form_builder.model import Form

__all__ = ["FormState", "form_state", "read_raw"]


class _MultiDict(Protocol):
    def getlist(self, key: str) -> list[Any]: ...

    def __contains__(self, key: object) -> bool: ...


def read_raw(form: Form, source: Mapping[str, Any] | _MultiDict) -> dict[str, Any]:
    """The raw values of ``form``'s fields in a submitted form (a MultiDict) or a JSON object.

    Tags are lists; a boolean checkbox sends ``false`` then ``true`` when ticked, so its last
    value counts (in JSON too, where any field may come as a list); anything else is one value. Keys that are not fields of the form are left out.
    """
    out: dict[str, Any] = {}
    multi = hasattr(source, "getlist")
    for f in form.fields:
        if f.name not in source:
            continue
        if multi:
            items = [v for v in source.getlist(f.name) if v is not None]  # type: ignore[union-attr]
            if f.type == "tags":
                out[f.name] = [v for v in items if v != ""]
            elif items:
                out[f.name] = items[-1]
        else:
            value = source[f.name]  # type: ignore[index]
            if f.type != "tags" and isinstance(value, list):  # a script may send every field as a list
                value = value[-1] if value else ""
            out[f.name] = value
    return out


@dataclass(frozen=True)
class FormState:
    """The state of a form for some values: what shows, what is required, what is wrong."""

    visible: frozenset[str]
    required: frozenset[str]
    values: Mapping[str, Any]  # typed values of the shown fields (defaults included)
    raw: Mapping[str, Any]  # the raw values of the shown fields, as given: what a service is passed
    errors: Mapping[str, Problem] = field(default_factory=dict)  # one per field; only when validated

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self, form: Form, lang: str = "en") -> dict[str, Any]:
        """For the page's script: names shown, hidden and required, and each field's error message."""
        return {
            "visible": [f.name for f in form.fields if f.name in self.visible],
            "hidden": [f.name for f in form.fields if f.name not in self.visible],
            "required": [f.name for f in form.fields if f.name in self.required],
            "errors": {name: p.message(lang) for name, p in self.errors.items()},
        }


def _holds(cond: Condition, seen: Mapping[str, Any]) -> bool:
    try:
        return bool(cond.fn(seen, None))
    except Exception:  # a condition over incomplete input does not hold (as in the engine)
        return False


def _empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "") or (isinstance(raw, (list, tuple)) and not raw)


def form_state(form: Form, raw: Mapping[str, Any], context: Mapping[str, Any] | None = None, *, validate: bool = False) -> FormState:
    """The form's state for ``raw`` values (see :func:`read_raw`) over the lead's typed values ``context``.

    With ``validate``, ``errors`` holds a problem per shown field: a value that does not read as
    the field's type, or a required field left empty. Hidden fields have no errors.
    """
    typed: dict[str, Any] = {}
    problems: dict[str, Problem] = {}
    for f in form.fields:
        given = raw.get(f.name)
        if not _empty(given):
            value, problem = coerce(f.definition, given, form.timezone, text=True)
            if problem is not None:
                problems[f.name] = problem.under(f.name)
                continue
            if value is not None:
                typed[f.name] = value
                continue
        if f.default is not None:
            typed[f.name] = f.default
    base = dict(context or {})
    conditional = [f for f in form.fields if f.visible_when is not None]
    hidden: frozenset[str] = frozenset()
    for _ in range(len(conditional) + 1):  # settles in one or two rounds; bounded whatever the conditions
        seen = {**base, **{k: v for k, v in typed.items() if k not in hidden}}
        now_hidden = frozenset(f.name for f in conditional if not _holds(f.visible_when, seen))  # type: ignore[arg-type]
        if now_hidden == hidden:
            break
        hidden = now_hidden
    seen = {**base, **{k: v for k, v in typed.items() if k not in hidden}}
    visible = frozenset(f.name for f in form.fields if f.name not in hidden)
    required = frozenset(
        f.name for f in form.fields
        if f.name in visible and (f.required or (f.required_when is not None and _holds(f.required_when, seen)))
    )
    errors: dict[str, Problem] = {}
    if validate:
        for f in form.fields:
            if f.name not in visible:
                continue
            if f.name in problems:
                errors[f.name] = problems[f.name]
            elif f.name in required and f.name not in typed:
                errors[f.name] = Problem.make("field.required", "this field is required", "此项为必填", (f.name,))
    return FormState(
        visible,
        required,
        {k: v for k, v in typed.items() if k in visible},
        {k: v for k, v in raw.items() if k in visible and k in form.by_name},
        errors,
    )
