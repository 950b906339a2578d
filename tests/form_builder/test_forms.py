"""form_builder without an app: every widget, groups and order, help and defaults, the conditions
of a follow-up form, hidden fields, and errors in both languages."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup

import form_builder
from form_builder import WIDGETS, build_form, form_state, read_raw, render_fields, render_form
from rule_engine import load_template, loads_template

ROOT = Path(__file__).resolve().parents[2]

EVERY_WIDGET = """
fenpei: 1
name: widgets
title: Every widget
fields:
  name_: {type: string, title: {zh: 名称, en: Name}, max_length: 40, group: {zh: 基本, en: Basics}}
  notes: {type: text, title: {zh: 备注, en: Notes}, description: {zh: 写点什么, en: Write something}}
  size: {type: integer, minimum: 1, maximum: 500, default: 10, title: {zh: 人数, en: Size}, group: {zh: 基本, en: Basics}}
  amount: {type: number, title: {zh: 金额, en: Amount}}
  close: {type: date, title: {zh: 签约日, en: Close date}}
  meet: {type: datetime, title: {zh: 会面, en: Meeting}}
  industry: {type: enum, options: [{value: it, title: {zh: 信息技术, en: IT}}, finance], title: {zh: 行业, en: Industry}, default: finance}
  tier: {type: enum, options: [a, b], widget: radio}
  skills: {type: tags, options: [crm, erp, bi], widget: checkbox}
  labels: {type: tags, options: [hot, cold], default: [hot]}
  ok: {type: boolean, default: true}
  mail: {type: email}
  mobile: {type: phone}
  site: {type: url}
  remote: {type: boolean, widget: radio}
  first: {type: string, order: -1, title: First}
assignment:
  policies:
    - {name: all, strategy: round_robin}
forms:
  short:
    title: {zh: 简表, en: Short}
    include: [site, name_, size]
    fields:
      extra: {type: string}
"""

CASCADE = """
fenpei: 1
name: cascade
title: Cascade
fields:
  a: {type: enum, options: [x, y]}
assignment:
  policies:
    - {name: all, strategy: round_robin}
forms:
  chain:
    fields:
      b: {type: string, visible_when: 'a == "x"'}
      c: {type: string, visible_when: 'b is set', required: true}
      d: {type: integer, minimum: 1}
"""


@pytest.fixture(scope="module")
def widgets():  # type: ignore[no-untyped-def]
    return loads_template(EVERY_WIDGET)


@pytest.fixture(scope="module")
def b2b():  # type: ignore[no-untyped-def]
    return load_template(ROOT / "templates" / "b2b_software.yaml")


def field_html(html: str, name: str) -> str:
    """The wrapper of one field (div or fieldset) in rendered HTML."""
    m = re.search(rf'<(div|fieldset) class="field[^"]*"[^>]*data-field="{name}".*?</\1>', html, re.S)
    assert m, name
    return m.group(0)


def test_the_public_surface_is_pinned() -> None:
    assert set(form_builder.__all__) == {
        "LEAD_FORM", "WIDGETS", "Form", "FormField", "FormState", "build_form", "form_state", "read_raw", "render_fields", "render_form", "widget_for",
    }


def test_every_widget_renders(widgets) -> None:  # type: ignore[no-untyped-def]
    form = build_form(widgets)
    html = str(render_fields(form, lang="en"))
    seen = {f.widget for f in form.fields}
    assert seen == set(WIDGETS) - {"select"} | {"select"} and seen == set(WIDGETS)
    expect = {
        "name_": '<input type="text" id="f-name_" value="" maxlength="40" name="name_"',
        "notes": '<textarea id="f-notes" rows="4" name="notes"',
        "size": '<input type="number" id="f-size" value="10" step="1" min="1" max="500" inputmode="numeric" name="size"',
        "amount": '<input type="number" id="f-amount" value="" step="any"',
        "close": '<input type="date" id="f-close"',
        "meet": '<input type="datetime-local" id="f-meet"',
        "industry": '<option value="finance" selected>finance</option>',
        "tier": '<input type="radio" id="f-tier-0" value="a" name="tier"',
        "skills": '<input type="checkbox" id="f-skills-1" value="erp" name="skills"',
        "labels": '<input type="checkbox" id="f-labels-0" value="hot" checked name="labels"',
        "ok": '<input type="checkbox" id="f-ok" value="true" checked name="ok"',
        "mail": '<input type="email" id="f-mail"',
        "mobile": '<input type="tel" id="f-mobile" value="" inputmode="tel" autocomplete="tel" name="mobile"',
        "site": '<input type="url" id="f-site"',
        "remote": '<input type="radio" id="f-remote-1" value="false" name="remote"',
    }
    for name, snippet in expect.items():
        assert snippet in field_html(html, name), name
    assert 'class="choices tags"' in field_html(html, "labels") and 'class="choices checkboxes"' in field_html(html, "skills")
    assert '<input type="hidden" name="ok" value="false">' in field_html(html, "ok")  # an unticked box reads as false
    for f in form.fields:  # each field has its error slot, empty
        assert f'<p class="field-error" data-error-for="{f.name}" id="error-{f.name}" role="alert" hidden></p>' in field_html(html, f.name)


def test_labels_help_and_options_in_the_language(widgets) -> None:  # type: ignore[no-untyped-def]
    form = build_form(widgets)
    zh, en = str(render_fields(form, lang="zh")), str(render_fields(form, lang="en"))
    assert '<label for="f-notes">备注' in zh and '<p class="help" id="help-notes">写点什么</p>' in zh
    assert '<label for="f-notes">Notes' in en and "Write something" in en
    assert ">信息技术</option>" in zh and ">IT</option>" in en
    assert "— 请选择 —" in zh and "— choose —" in en
    assert "<span>是</span>" in field_html(zh, "remote") and "<span>Yes</span>" in field_html(en, "remote")


def test_order_and_groups(widgets) -> None:  # type: ignore[no-untyped-def]
    form = build_form(widgets)
    names = [f.name for f in form.fields]
    assert names[0] == "first"  # order: -1 comes first; the others in document order
    assert names[1:4] == ["name_", "notes", "size"]
    # a group sits where its first field comes and holds all its fields
    assert [(g.en if g else None, [f.name for f in fs]) for g, fs in form.groups][:3] == [(None, ["first"]), ("Basics", ["name_", "size"]), (None, names[2:3] + names[4:])]
    html = str(render_fields(form, lang="zh"))
    assert '<fieldset class="group" data-group="Basics"><legend>基本</legend>' in html
    assert html.index('data-field="first"') < html.index('data-field="name_"') < html.index('data-field="size"') < html.index('data-field="notes"')


def test_a_named_form_keeps_its_include_order_then_its_own_fields(widgets) -> None:  # type: ignore[no-untyped-def]
    form = build_form(widgets, "short")
    assert [(f.name, f.lead_field) for f in form.fields] == [("site", True), ("name_", True), ("size", True), ("extra", False)]
    assert form.title.en == "Short"
    with pytest.raises(KeyError):
        build_form(widgets, "nope")


def test_the_new_lead_form_follows_forms_new_lead(b2b) -> None:  # type: ignore[no-untyped-def]
    form = build_form(b2b)
    assert [f.name for f in form.fields] == list(b2b.forms["new_lead"].include)
    assert form.lead_form and form.title.zh == "新建线索"
    assert [g.en for g, _ in form.groups] == ["Account", "Contact", "Opportunity"]
    assert build_form(b2b) is form  # built once per template


def test_defaults_and_values_shown(widgets) -> None:  # type: ignore[no-untyped-def]
    form = build_form(widgets)
    html = str(render_fields(form, {"size": "12", "labels": ["cold"], "ok": "false", "meet": "2026-11-23T01:30:00+00:00", "close": "2026-12-01"}, lang="en"))
    assert 'value="12"' in field_html(html, "size")
    assert 'value="cold" checked' in field_html(html, "labels") and 'value="hot" checked' not in field_html(html, "labels")
    assert "checked" not in field_html(html, "ok").replace('type="checkbox"', "")
    assert 'value="2026-11-23T09:30"' in field_html(html, "meet")  # in the template's timezone (Asia/Shanghai by default)
    assert 'value="2026-12-01"' in field_html(html, "close")


def test_text_is_escaped(widgets) -> None:  # type: ignore[no-untyped-def]
    form = build_form(widgets)
    html = render_fields(form, {"name_": '"><script>alert(1)</script>', "notes": "</textarea><b>x</b>"}, lang="en")
    assert isinstance(html, Markup)
    assert "<script>" not in html and "&lt;script&gt;" in html and "</textarea><b>" not in html


def followup_state(template: Any, values: dict[str, Any], validate: bool = True):  # type: ignore[no-untyped-def]
    return form_state(build_form(template, "followup"), values, {}, validate=validate)


def test_a_visit_shows_visit_notes_and_requires_them(b2b) -> None:  # type: ignore[no-untyped-def]
    call = followup_state(b2b, {"method": "call", "summary": "talked about the pilot"})
    assert "visit_notes" not in call.visible and "visit_notes" not in call.required and call.ok
    visit = followup_state(b2b, {"method": "visit", "summary": "talked about the pilot"})
    assert {"visit_notes", "visit_attendees"} <= visit.visible
    assert visit.required == {"method", "summary", "visit_notes"}
    assert list(visit.errors) == ["visit_notes"] and visit.errors["visit_notes"].code == "field.required"
    assert visit.to_json(build_form(b2b, "followup"), "zh")["errors"] == {"visit_notes": "此项为必填"}
    done = followup_state(b2b, {"method": "visit", "summary": "talked about the pilot", "visit_notes": "met the CIO"})
    assert done.ok and done.values["visit_notes"] == "met the CIO"


def test_a_hidden_field_is_never_required_and_its_value_is_dropped(b2b) -> None:  # type: ignore[no-untyped-def]
    s = followup_state(b2b, {"method": "call", "summary": "talked about the pilot", "visit_notes": "left over", "visit_attendees": "x" * 500})
    assert s.ok  # a value too long for a hidden field is no error either
    assert "visit_notes" not in s.values and "visit_notes" not in s.raw and "visit_attendees" not in s.raw
    html = str(render_fields(build_form(b2b, "followup"), {"method": "call"}, state=s, lang="en"))
    notes = field_html(html, "visit_notes")
    assert " hidden" in notes.split(">")[0] and "disabled" in notes and "required" not in notes.split(">")[0]


def test_a_required_lead_field_shown_only_when_lost(b2b) -> None:  # type: ignore[no-untyped-def]
    form = build_form(b2b, "stage_change")
    s = form_state(form, {"stage": "lost"}, {"stage": "new"}, validate=True)
    assert set(s.errors) == {"lost_reason", "change_note"}
    s = form_state(form, {"stage": "proposal", "lost_reason": "price"}, {"stage": "new"}, validate=True)
    assert s.ok and "lost_reason" not in s.visible and "lost_reason" not in s.raw


def test_visibility_settles_when_a_hidden_value_hides_another_field() -> None:
    t = loads_template(CASCADE)
    form = build_form(t, "chain")
    assert form.watched == {"b"}  # a is a lead field, not in this form: it comes with the lead
    s = form_state(form, {"b": "shown?", "c": "too"}, {"a": "y"}, validate=True)
    assert s.visible == {"d"} and s.ok and s.raw == {}
    s = form_state(form, {"b": "shown"}, {"a": "x"}, validate=True)
    assert s.visible == {"b", "c", "d"} and list(s.errors) == ["c"]


@pytest.mark.parametrize("lang, message", [("en", "'many' is not a valid integer"), ("zh", "'many' 不是有效的整数")])
def test_errors_in_the_language_next_to_the_field(lang: str, message: str) -> None:
    t = loads_template(CASCADE)
    form = build_form(t, "chain")
    s = form_state(form, {"d": "many"}, {"a": "y"}, validate=True)
    html = str(render_form(form, {"d": "many"}, action="/go", state=s, lang=lang, hidden={"csrf_token": "tok"}))
    assert f'<p class="field-error" data-error-for="d" id="error-d" role="alert">{message}</p>' in html.replace("&#39;", "'")
    assert 'class="field widget-number invalid"' in html and 'aria-invalid="true"' in field_html(html, "d")
    assert '<input type="hidden" name="csrf_token" value="tok">' in html


def test_errors_of_no_field_are_shown_above_the_fields(b2b) -> None:  # type: ignore[no-untyped-def]
    form = build_form(b2b, "followup")
    html = str(render_form(form, {}, action="/go", errors={"": "lead LA was reclaimed"}, general=["one more"], lang="en"))
    assert '<div class="form-errors" data-error-for="" role="alert"><p class="error">one more</p><p class="error">lead LA was reclaimed</p></div>' in html


def test_the_form_tells_the_script_where_to_ask_and_what_to_watch(b2b) -> None:  # type: ignore[no-untyped-def]
    html = str(render_form(build_form(b2b, "followup"), None, action="/go", state_url="/forms/east/followup/state", lang="en"))
    assert '<form method="post" action="/go" class="fenpei-form" novalidate data-form="followup" data-test="form-followup" data-state-url="/forms/east/followup/state" data-watch="method">' in html
    assert 'data-test="submit-followup"' in html


def test_read_raw_from_a_submitted_form(widgets) -> None:  # type: ignore[no-untyped-def]
    from werkzeug.datastructures import MultiDict  # a test dependency only: form_builder takes any getlist()

    form = build_form(widgets)
    posted = MultiDict([("skills", "crm"), ("skills", "bi"), ("ok", "false"), ("ok", "true"), ("size", "3"), ("csrf_token", "x"), ("labels", "")])
    assert read_raw(form, posted) == {"skills": ["crm", "bi"], "ok": "true", "size": "3", "labels": []}
    assert read_raw(form, {"size": 3, "junk": 1}) == {"size": 3}


def test_the_form_agrees_with_the_engine(b2b) -> None:  # type: ignore[no-untyped-def]
    """Every combination of method, notes and summary: the form's errors are the engine's for what the form sends."""
    form = build_form(b2b, "followup")
    methods = ["", "call", "visit", "email", "bogus"]
    notes = ["", "met the CIO", "x" * 3000]
    summaries = ["", "hi", "talked about the pilot"]
    for method, note, summary in itertools.product(methods, notes, summaries):
        raw = {"method": method, "visit_notes": note, "summary": summary, "next_followup_date": "2026-12-01"}
        s = form_state(form, raw, {}, validate=True)
        _, problems = b2b.form_record("followup", s.raw, {}, text=True)
        assert sorted(s.errors) == sorted(str(p.path[0]) for p in problems), raw
        assert {k: p.code for k, p in s.errors.items()} == {str(p.path[0]): p.code for p in problems}


def hundred_fields() -> str:
    """100 lead fields of every type in groups of ten; f{i} with i % 5 == 4 shows when its group's
    first field (an enum) is "b", and is then required when i % 7 == 6 too."""
    kinds = ["string", "text", "integer", "number", "boolean", "date", "datetime", "enum", "tags", "email", "phone", "url"]
    lines = ["fenpei: 1", "name: many", "title: Many", "fields:"]
    for i in range(100):
        g = i // 10
        kind = "enum" if i % 10 == 0 else kinds[i % len(kinds)]
        spec = [f"type: {kind}", f"group: {{zh: 组{g}, en: Group {g}}}"]
        spec += ["options: [a, b]"] if kind in ("enum", "tags") else []
        spec += [f"visible_when: 'f{g * 10} == \"b\"'"] if i % 5 == 4 else []
        spec += [f"required_when: 'f{g * 10} == \"b\"'"] if i % 7 == 6 else []
        lines.append(f"  f{i}: {{{', '.join(spec)}}}")
    return "\n".join([*lines, "assignment:", "  policies:", "    - {name: all, strategy: round_robin}"]) + "\n"


def test_a_form_of_a_hundred_fields() -> None:
    """Behaviour only: the timing is benchmarks/forms.py's."""
    form = build_form(loads_template(hundred_fields()))
    assert len(form.fields) == 100 and len(form.groups) == 10 and form.watched == {f"f{g * 10}" for g in range(10)}
    conditional = {f"f{i}" for i in range(100) if i % 5 == 4}
    sent = {f"f{i}": (["b"] if i % 10 == 0 and i < 50 else []) for i in range(100)}  # "b" in the first five groups
    s = form_state(form, read_raw(form, sent), validate=True)
    assert conditional & s.visible == {f"f{i}" for i in range(50) if i % 5 == 4}
    assert s.required == {f"f{i}" for i in range(50) if i % 7 == 6}
    assert set(s.errors) == s.required - {"f20"}  # f20 is a choice, set to "b"
    assert s.to_json(form)["hidden"] == [f"f{i}" for i in range(50, 100) if i % 5 == 4]
    html = str(render_fields(form, read_raw(form, sent), state=s, lang="zh"))
    assert html.count('data-field="') == 100 and html.count('class="group"') == 10
