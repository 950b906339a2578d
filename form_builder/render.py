"""A form model as HTML: one control per field with its label, help and error, fields in their
groups, hidden fields hidden (and disabled, so they are not sent). Every text is escaped
(markupsafe). Field names in the HTML are the template's field names.

Hooks for the page's script and for browser tests, all stable:

- the ``<form>``: ``data-form`` (its name), ``data-state-url`` (where the script asks for the
  form's state), ``data-watch`` (the fields whose change may show, hide or require another),
  ``data-test="form-<name>"``;
- each field's wrapper: ``data-field="<name>"``, ``data-test="field-<name>"``, ``id="field-<name>"``,
  the class ``required`` while it is required, and the attribute ``hidden`` while it is hidden;
- each control: ``id="f-<name>"`` (``f-<name>-<i>`` for the i-th choice of radios and checkboxes);
- each error: ``<p class="field-error" data-error-for="<name>">`` right after the field's control;
  errors that belong to no field: ``<div class="form-errors" data-error-for="">``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape

from rule_engine import Problem
from rule_engine.fields import Text, parse_datetime

from form_builder.model import Form, FormField
from form_builder.state import FormState, form_state

__all__ = ["render_fields", "render_form"]

CHOOSE = Text("— 请选择 —", "— choose —")
REQUIRED = Text("必填", "required")
SUBMIT = Text("提交", "Submit")


def _t(text: Text | None, lang: str) -> str:
    return "" if text is None else text.get(lang)


def _message(error: Problem | str, lang: str) -> str:
    return error.message(lang) if isinstance(error, Problem) else str(error)


def _shown(f: FormField, value: Any, tz: Any) -> str | list[str]:
    """A value as the control holds it: text, or a list of option values for tags."""
    if value is None:
        return [] if f.type == "tags" else ""
    if f.type == "tags":
        items = value if isinstance(value, (list, tuple)) else [p for p in str(value).split(";") if p]
        return [str(v) for v in items]
    if isinstance(value, bool):
        return "true" if value else "false"
    if f.type == "datetime":
        moment = value
        if isinstance(value, str):
            try:
                moment = parse_datetime(value, tz)
            except ValueError:
                return value
        if isinstance(moment, dt.datetime):
            return moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _attrs(**pairs: Any) -> Markup:
    """HTML attributes: a value of True is a bare attribute; False and None are left out."""
    out = []
    for key, value in pairs.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")  # names are ours; values are escaped
        out.append(f" {name}" if value is True else f' {name}="{escape(value)}"')
    return Markup("".join(out))


def _control(f: FormField, value: str | list[str], visible: bool, required: bool, invalid: bool, lang: str) -> Markup:
    d = f.definition
    common = {
        "name": f.name,
        "aria_required": "true" if required else None,
        "aria_invalid": "true" if invalid else None,
        "aria_describedby": f"help-{f.name} error-{f.name}" if f.help is not None else f"error-{f.name}",
        "disabled": not visible,
    }
    w = f.widget
    if w == "textarea":
        return Markup("<textarea{}>{}</textarea>").format(_attrs(id=f"f-{f.name}", rows=4, maxlength=d.max_length, **common), value)
    if w in ("select", "radio", "checkboxes", "tags"):
        chosen = set(value) if isinstance(value, list) else {value}
        if w == "select":
            options = [Markup('<option value="">{}</option>').format(CHOOSE.get(lang))]
            options += [Markup("<option{}>{}</option>").format(_attrs(value=o.value, selected=o.value in chosen), o.title.get(lang)) for o in f.options]
            return Markup("<select{}>{}</select>").format(_attrs(id=f"f-{f.name}", **common), Markup("").join(options))
        kind = "radio" if w == "radio" else "checkbox"
        items = [
            Markup('<label class="choice">{}<span>{}</span></label>').format(
                Markup("<input{}>").format(_attrs(type=kind, id=f"f-{f.name}-{i}", value=o.value, checked=o.value in chosen, **common)), o.title.get(lang)
            )
            for i, o in enumerate(f.options)
        ]
        return Markup('<div class="choices {}">{}</div>').format(w, Markup("").join(items))
    if w == "boolean":
        return Markup('<input{}><label class="choice" for="f-{}">{}<span>{}</span></label>').format(
            _attrs(type="hidden", name=f.name, value="false", disabled=not visible),
            f.name,
            Markup("<input{}>").format(_attrs(type="checkbox", id=f"f-{f.name}", value="true", checked=value == "true", **common)),
            f.label.get(lang),
        )
    kinds = {"number": "number", "date": "date", "datetime": "datetime-local", "email": "email", "phone": "tel", "url": "url"}
    extra: dict[str, Any] = {}
    if w == "number":
        extra = {"step": "1" if f.type == "integer" else "any", "min": _num(d.minimum), "max": _num(d.maximum), "inputmode": "numeric" if f.type == "integer" else "decimal"}
    elif w == "phone":
        extra = {"inputmode": "tel", "autocomplete": "tel"}
    elif w in ("text", "email", "url"):
        extra = {"maxlength": d.max_length}
    return Markup("<input{}>").format(_attrs(type=kinds.get(w, "text"), id=f"f-{f.name}", value=value, **extra, **common))


def _num(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


def _field(f: FormField, value: str | list[str], visible: bool, required: bool, error: str | None, lang: str) -> Markup:
    classes = " ".join(c for c in ("field", f"widget-{f.widget}", "required" if required else "", "invalid" if error else "") if c)
    star = Markup('<span class="req" title="{}" aria-hidden="true">*</span>').format(REQUIRED.get(lang))
    help_ = Markup('<p class="help" id="help-{}">{}</p>').format(f.name, _t(f.help, lang)) if f.help is not None else Markup("")
    err = Markup('<p class="field-error" data-error-for="{}" id="error-{}" role="alert"{}>{}</p>').format(f.name, f.name, Markup("") if error else Markup(" hidden"), error or "")
    control = _control(f, value, visible, required, error is not None, lang)
    wrap = _attrs(class_=classes, data_field=f.name, data_test=f"field-{f.name}", id=f"field-{f.name}", hidden=not visible)
    if f.widget in ("radio", "checkboxes", "tags"):
        return Markup("<fieldset{}><legend>{}{}</legend>{}{}{}</fieldset>").format(wrap, f.label.get(lang), star, control, help_, err)
    if f.widget == "boolean":
        return Markup("<div{}>{}{}{}</div>").format(wrap, control, help_, err)
    return Markup('<div{}><label for="f-{}">{}{}</label>{}{}{}</div>').format(wrap, f.name, f.label.get(lang), star, control, help_, err)


def render_fields(
    form: Form,
    values: Mapping[str, Any] | None = None,
    *,
    state: FormState | None = None,
    errors: Mapping[str, Problem | str] | None = None,
    context: Mapping[str, Any] | None = None,
    lang: str = "en",
) -> Markup:
    """The form's fields as HTML, by group. ``values`` are raw (as submitted) or stored values; None
    shows the defaults. ``state`` (default: worked out from ``values`` over ``context``) says what
    shows and what is required; ``errors`` (default: the state's) are shown next to their fields."""
    if state is None:
        state = form_state(form, values or {}, context)
    errs = dict(state.errors) if errors is None else dict(errors)
    shown_values = values if values is not None else {f.name: f.default for f in form.fields}
    parts: list[Markup] = []
    for group, fields in form.groups:
        inner = Markup("").join(
            _field(
                f,
                _shown(f, shown_values.get(f.name), form.timezone),
                f.name in state.visible,
                f.name in state.required,
                _message(errs[f.name], lang) if f.name in errs else None,
                lang,
            )
            for f in fields
        )
        if group is None:
            parts.append(inner)
        else:
            parts.append(Markup('<fieldset class="group"{}><legend>{}</legend>{}</fieldset>').format(_attrs(data_group=group.en), group.get(lang), inner))
    return Markup("").join(parts)


def render_form(
    form: Form,
    values: Mapping[str, Any] | None = None,
    *,
    action: str,
    state_url: str | None = None,
    hidden: Mapping[str, str] | None = None,
    state: FormState | None = None,
    errors: Mapping[str, Problem | str] | None = None,
    general: Iterable[Problem | str] = (),
    context: Mapping[str, Any] | None = None,
    submit: Text | str | None = None,
    attrs: Mapping[str, str] | None = None,
    lang: str = "en",
) -> Markup:
    """The whole ``<form>``: hidden inputs (e.g. the CSRF token), errors that belong to no field,
    the fields and a submit button (``data-test="submit-<name>"``). ``attrs`` are more attributes
    of the ``<form>`` (``{"data-lead": "L1"}``)."""
    messages = [_message(e, lang) for e in general]
    errs = errors
    if errs is not None:
        messages += [_message(e, lang) for name, e in errs.items() if name not in form.by_name]
    head = Markup("").join(Markup('<input type="hidden" name="{}" value="{}">').format(k, v) for k, v in (hidden or {}).items())
    general_html = Markup('<div class="form-errors" data-error-for="" role="alert"{}>{}</div>').format(
        Markup("") if messages else Markup(" hidden"), Markup("").join(Markup('<p class="error">{}</p>').format(m) for m in messages)
    )
    label = submit.get(lang) if isinstance(submit, Text) else (submit or SUBMIT.get(lang))
    tag = _attrs(
        method="post", action=action, class_="fenpei-form", novalidate=True, data_form=form.name, data_test=f"form-{form.name}",
        data_state_url=state_url, data_watch=" ".join(sorted(form.watched)) if state_url else None,
    ) + Markup("").join(Markup(' {}="{}"').format(k, v) for k, v in (attrs or {}).items())
    return Markup('<form{}>{}{}{}<div class="actions"><button type="submit" class="primary" data-test="submit-{}">{}</button></div></form>').format(
        tag, head, general_html, render_fields(form, values, state=state, errors=errors, context=context, lang=lang), form.name, label
    )
