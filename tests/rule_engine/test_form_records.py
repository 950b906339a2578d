"""A form's hidden fields: never required, and their values dropped (lead_record and form_record)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rule_engine import load_template, loads_template

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE = """
fenpei: 1
name: hidden_fields
title: Hidden fields
fields:
  stage: {type: enum, options: [new, lost], required: true}
  lost_reason: {type: enum, options: [price, other], required: true, visible_when: 'stage == "lost"'}
  note: {type: text, visible_when: 'stage == "lost"', required_when: 'stage == "lost"'}
assignment:
  policies:
    - {name: everyone, strategy: round_robin}
forms:
  followup:
    fields:
      method: {type: enum, options: [call, visit], required: true}
      visit_notes: {type: text, visible_when: 'method == "visit"', required_when: 'method == "visit"'}
      room: {type: string, required: true, visible_when: 'method == "visit"'}
      lost_detail: {type: text, visible_when: 'stage == "lost"', required_when: 'stage == "lost"'}
"""


@pytest.fixture(scope="module")
def template():  # type: ignore[no-untyped-def]
    return loads_template(TEMPLATE)


def codes(problems):  # type: ignore[no-untyped-def]
    return sorted((p.path, p.code) for p in problems)


def test_a_hidden_lead_field_is_never_required(template) -> None:  # type: ignore[no-untyped-def]
    _, problems = template.lead_record({"stage": "new"})
    assert problems == []
    _, problems = template.lead_record({"stage": "lost"})
    assert codes(problems) == [(("lost_reason",), "field.required"), (("note",), "field.required")]


def test_a_hidden_form_field_is_never_required(template) -> None:  # type: ignore[no-untyped-def]
    values, problems = template.form_record("followup", {"method": "call"}, {"stage": "new"})
    assert (values, problems) == ({"method": "call"}, [])
    _, problems = template.form_record("followup", {"method": "visit"}, {"stage": "new"})
    assert codes(problems) == [(("room",), "field.required"), (("visit_notes",), "field.required")]


def test_form_conditions_read_the_lead(template) -> None:  # type: ignore[no-untyped-def]
    _, problems = template.form_record("followup", {"method": "call"}, {"stage": "lost"})
    assert codes(problems) == [(("lost_detail",), "field.required")]


def test_a_hidden_form_fields_value_is_dropped(template) -> None:  # type: ignore[no-untyped-def]
    values, problems = template.form_record("followup", {"method": "call", "visit_notes": "met the CIO", "room": "A1"}, {"stage": "new"})
    assert (values, problems) == ({"method": "call"}, [])
    # a bad value in a hidden field is not an error either: nobody saw the question
    values, problems = template.form_record("followup", {"method": "call", "visit_notes": ["not", "text"]}, {"stage": "new"})
    assert (values, problems) == ({"method": "call"}, [])
    values, _ = template.form_record("followup", {"method": "visit", "visit_notes": "met the CIO", "room": "A1"}, {"stage": "new"})
    assert values == {"method": "visit", "visit_notes": "met the CIO", "room": "A1"}


def test_the_sample_followup_form() -> None:
    t = load_template(ROOT / "templates" / "b2b_software.yaml")
    _, problems = t.form_record("followup", {"method": "visit", "summary": "demo given"}, {}, text=True)
    assert [(p.path, p.code, p.message("zh")) for p in problems] == [(("visit_notes",), "field.required", "此项为必填")]
    values, problems = t.form_record("followup", {"method": "call", "summary": "demo given", "visit_notes": "ignored"}, {}, text=True)
    assert problems == [] and "visit_notes" not in values
