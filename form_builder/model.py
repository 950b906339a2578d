"""A template's fields (or one of its named forms) as a form model: fields in order, with their
widget, label and help in both languages, options, default, group and conditions.

The model holds the template's compiled conditions (``visible_when``/``required_when``) as they
are: :mod:`form_builder.state` evaluates them for the browser and for the server alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rule_engine import CompiledTemplate, Condition
from rule_engine.fields import FieldDef, Option, Text

__all__ = ["LEAD_FORM", "WIDGETS", "Form", "FormField", "build_form", "widget_for"]

LEAD_FORM = "new_lead"
"""The form a new lead is entered in: the template's ``forms.new_lead`` (its ``include`` order), or
every lead field in order when the template does not define it."""

WIDGETS = ("text", "textarea", "number", "date", "datetime", "select", "radio", "checkboxes", "tags", "boolean", "email", "phone", "url")

_STRING_LIKE = ("string", "text", "email", "phone", "url")
_BY_TYPE = {
    "string": "text", "text": "textarea", "integer": "number", "number": "number", "boolean": "boolean", "date": "date",
    "datetime": "datetime", "enum": "select", "tags": "tags", "email": "email", "phone": "phone", "url": "url",
}
# The template's widget hint (template reference: input, textarea, number, date, datetime, select,
# radio, checkbox, tags, email, phone, url) for each type it suits; any other pairing is ignored.
_HINTS: dict[tuple[str, str], str] = {
    **{(t, "input"): _BY_TYPE[t] if t != "text" else "text" for t in _STRING_LIKE},
    **{(t, "textarea"): "textarea" for t in _STRING_LIKE},
    **{(t, w): w for t in ("string", "text") for w in ("email", "phone", "url")},
    ("integer", "number"): "number", ("number", "number"): "number",
    ("date", "date"): "date", ("datetime", "datetime"): "datetime", ("datetime", "date"): "datetime",
    ("enum", "select"): "select", ("enum", "radio"): "radio",
    ("boolean", "checkbox"): "boolean", ("boolean", "radio"): "radio", ("boolean", "select"): "select",
    ("tags", "checkbox"): "checkboxes", ("tags", "select"): "checkboxes", ("tags", "tags"): "tags",
}

YES_NO = (Option("true", Text("是", "Yes")), Option("false", Text("否", "No")))


def widget_for(fdef: FieldDef) -> str:
    """The widget a field is shown with: the template's hint when it suits the type, else the type's."""
    if fdef.widget is not None:
        hinted = _HINTS.get((fdef.type, fdef.widget))
        if hinted is not None:
            return hinted
    return _BY_TYPE.get(fdef.type, "text")


@dataclass(frozen=True)
class FormField:
    """One field of a form, ready to show and to check."""

    name: str
    type: str
    widget: str
    label: Text
    help: Text | None
    options: tuple[Option, ...]
    default: Any
    group: Text | None
    order: int
    required: bool
    visible_when: Condition | None
    required_when: Condition | None
    definition: FieldDef
    lead_field: bool  # a lead field (stored on the lead) rather than one of the form's own

    @classmethod
    def of(cls, fdef: FieldDef, position: int, *, lead_field: bool) -> FormField:
        widget = widget_for(fdef)
        options = fdef.options if fdef.type != "boolean" else YES_NO
        return cls(
            fdef.name, fdef.type, widget, fdef.title, fdef.description, options, fdef.default, fdef.group, position,
            fdef.required, fdef.visible_when, fdef.required_when, fdef, lead_field,
        )

    @property
    def conditional(self) -> bool:
        """Whether the field is shown or required only under a condition."""
        return self.visible_when is not None or self.required_when is not None


@dataclass(frozen=True)
class Form:
    """A form: its fields in order, as the template describes them."""

    name: str
    title: Text
    fields: tuple[FormField, ...]
    lead_form: bool  # the new-lead form (values checked as a lead), else a named form
    timezone: Any

    @cached_property
    def by_name(self) -> Mapping[str, FormField]:
        return {f.name: f for f in self.fields}

    @cached_property
    def watched(self) -> frozenset[str]:
        """The form's fields its conditions read: a change to one of them may show, hide or require another."""
        names: set[str] = set()
        for f in self.fields:
            for cond in (f.visible_when, f.required_when):
                if cond is not None:
                    names |= cond.lead_names
        return frozenset(names & set(self.by_name))

    @cached_property
    def groups(self) -> tuple[tuple[Text | None, tuple[FormField, ...]], ...]:
        """The fields by group: a group sits where its first field comes and holds all its fields;
        fields of no group stay where they come. Fields keep their order."""
        sections: list[tuple[Text | None, list[FormField]]] = []
        named: dict[Text, list[FormField]] = {}
        for f in self.fields:
            if f.group is None:
                if not sections or sections[-1][0] is not None:
                    sections.append((None, []))
                sections[-1][1].append(f)
            elif f.group in named:
                named[f.group].append(f)
            else:
                named[f.group] = [f]
                sections.append((f.group, named[f.group]))
        return tuple((g, tuple(fs)) for g, fs in sections)


_CACHE: dict[tuple[str, str], Form] = {}
_CACHE_SIZE = 256


def build_form(template: CompiledTemplate, name: str = LEAD_FORM) -> Form:
    """The form ``name`` of ``template`` (built once per template version).

    ``new_lead`` is the form a lead is entered in: the template's ``forms.new_lead`` in its
    ``include`` order, or every lead field in the fields' ``order``. Any other name is one of the
    template's named forms: its included lead fields in ``include`` order, then its own fields in
    their ``order``. Raises KeyError for a form the template does not define.
    """
    key = (template.fingerprint or f"id:{id(template)}", name)
    form = _CACHE.get(key)
    if form is None:
        form = _build(template, name)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = form
    return form


def _by_order(defs: Mapping[str, FieldDef]) -> list[FieldDef]:
    return [d for _, d in sorted(enumerate(defs.values()), key=lambda item: (item[1].order, item[0]))]


def _build(template: CompiledTemplate, name: str) -> Form:
    spec = template.forms.get(name)
    if spec is None and name != LEAD_FORM:
        raise KeyError(name)
    if spec is None:
        lead_defs, own_defs, title = _by_order(template.fields), [], Text("新建线索", "New lead")
    else:
        lead_defs = [template.fields[n] for n in spec.include if n in template.fields]
        if name == LEAD_FORM and not spec.include:
            lead_defs = _by_order(template.fields)
        own_defs, title = _by_order(spec.fields), spec.title
    fields = [FormField.of(d, i, lead_field=True) for i, d in enumerate(lead_defs)]
    fields += [FormField.of(d, len(fields) + i, lead_field=False) for i, d in enumerate(own_defs)]
    return Form(name, title, tuple(fields), name == LEAD_FORM, template.timezone)
