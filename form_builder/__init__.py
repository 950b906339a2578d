"""form_builder: a template's fields and named forms as HTML forms, and their validation.

Builds on :mod:`rule_engine` only (no web framework, no database): :func:`build_form` turns a
compiled template's fields, or one of its named forms, into a :class:`Form` (fields in order,
with widget, bilingual label and help, options, default, group and the compiled
``visible_when``/``required_when``); :func:`form_state` says which fields show and which are
required for the values entered so far and, when validating, what is wrong with each (the same
code answers the browser and checks the submit); :func:`render_form` writes the HTML.
"""

from __future__ import annotations

from form_builder.model import LEAD_FORM, WIDGETS, Form, FormField, build_form, widget_for
from form_builder.render import render_fields, render_form
from form_builder.state import FormState, form_state, read_raw

__all__ = [
    "LEAD_FORM",
    "WIDGETS",
    "Form",
    "FormField",
    "FormState",
    "build_form",
    "form_state",
    "read_raw",
    "render_fields",
    "render_form",
    "widget_for",
]
