"""The coercers a template compiles for its fields give exactly what ``coerce`` gives, for any input."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

from rule_engine import CompiledTemplate, Problem, load_template
from rule_engine.fields import coerce
from rule_engine.template import LEAD_BUILTIN_FIELDS, _safe

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ("b2b_software", "medical_devices", "consumer_goods_regional", "finance_points")

# Values a field may meet: its own valid forms, another type's, padded, empty, out of range.
ODD: list[Any] = [
    None, "", "  ", " x ", "x", "A", "a" * 31, "a" * 101, "a" * 2001, 0, 1, -1, 1.5, -0.0, 10**15, 10**15 + 1, 1e15, 1.0000001e15,
    math.nan, math.inf, -math.inf, True, False, "true", "True", " true", "是", "no", "N", "t", "0", "1", "-0", "007", "+5", "1,500", "1_000",
    "1.0", "2.50", "999999999999999", "-999999999999999", "1000000000000000", "9999999999999999", "-9999999999999999", "12\n", "１２", "1e3", "nan", "-", "2026-11-23", " 2026-11-23",
    "20261123", "2026-W48-1", "2026-02-30", "2026-11-23T09:00:00+08:00", "2026-11-23 09:00", "2026-11-23T09:00:00Z", "bad", [], ["x"], ["a", "a"],
    [1], (), {"a": 1}, dt.date(2026, 11, 23), dt.datetime(2026, 11, 23, 9, 0), "13912345678", "+86 139 1234 5678", "139", "a@b.co", "a @b.co",
    "https://example.com", "ftp://x.y", "91310000MA1K3YJ123", "91310000MA1K3YJ12", ";", "a;;b",
]


def same(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    (va, pa), (vb, pb) = a, b
    if (pa is None) != (pb is None) or (pa is not None and (pa.code, pa.en, pa.zh) != (pb.code, pb.en, pb.zh)):
        return False
    if isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb):
        return True
    return type(va) is type(vb) and va == vb


def inputs(template: CompiledTemplate, sample: str, name: str) -> list[Any]:
    fdef = template.fields[name]
    options = [o.value for o in fdef.options]
    titles = [t for o in fdef.options for t in (o.title.en, o.title.zh, o.value.upper())]
    with open(ROOT / "examples" / sample / "leads.csv", encoding="utf-8-sig", newline="") as fh:
        cells = [row.get(name) for row in csv.DictReader(fh)]
    joined = [";".join(options[:2]), ";".join(options[:1] * 2), ";".join([*options, "nope"]), " ; ".join(options[:2]), ";".join(options)]
    return [*ODD, *cells, *options, *titles, *(f" {o}" for o in options), options[:2], options[:1] * 2, [*options, "nope"], options, *joined]


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("text", [False, True])
def test_each_field_reads_a_value_as_coerce_does(sample: str, text: bool) -> None:
    template = load_template(ROOT / "templates" / f"{sample}.yaml")
    plan = template._lead_plans[text]
    for name, fdef in template.fields.items():
        for raw in inputs(template, sample, name):
            got, want = plan.coercers[name](raw), coerce(fdef, raw, template.timezone, text=text)
            assert same(got, want), (sample, name, fdef.type, text, raw, got, want)


def reference_record(template: CompiledTemplate, raw: dict[str, Any], text: bool) -> tuple[dict[str, Any], list[tuple[str, tuple[Any, ...]]]]:
    """lead_record as it was written before fields had compiled coercers: coerce each value, then
    defaults and required fields over every field."""
    values: dict[str, Any] = {}
    problems = []
    for key, raw_value in raw.items():
        fdef = template.fields.get(key) or LEAD_BUILTIN_FIELDS.get(key)
        if fdef is None:
            continue
        value, problem = coerce(fdef, raw_value, template.timezone, text=text)
        if problem is not None:
            problems.append(problem.under(key))
        elif value is not None:
            values[key] = value
    for name, fdef in template.fields.items():
        if name not in values and fdef.default is not None and (name not in raw or raw.get(name) in (None, "")):
            values[name] = fdef.default
    bad = {p.path[0] for p in problems}
    for name, fdef in template.fields.items():
        if name in values or name in bad:
            continue
        visible = fdef.visible_when is None or _safe(fdef.visible_when, values)
        required = fdef.required or (fdef.required_when is not None and _safe(fdef.required_when, values))
        if visible and required:
            problems.append(Problem.make("field.required", "this field is required", "此项为必填", (name,)))
    return values, [(p.code, p.path) for p in problems]


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_lead_record_is_what_it_was(sample: str) -> None:
    template = load_template(ROOT / "templates" / f"{sample}.yaml")
    with open(ROOT / "examples" / sample / "leads.csv", encoding="utf-8-sig", newline="") as fh:
        rows = [{k: v for k, v in row.items() if k} for row in csv.DictReader(fh)]
    names = list(template.fields)
    # The sample rows, and rows with cells blanked or swapped to make problems, defaults and required fields.
    variants = [*rows, *({**row, names[i % len(names)]: ""} for i, row in enumerate(rows)), *({**row, names[i % len(names)]: row.get(names[(i + 3) % len(names)])} for i, row in enumerate(rows))]
    for raw in variants:
        for text in (True, False):
            values, problems = template.lead_record(raw, text=text)
            assert (values, [(p.code, p.path) for p in problems]) == reference_record(template, raw, text)
            assert list(values) == list(reference_record(template, raw, text)[0])  # the same order too


ODD_FIELDS = """
fields:
  tags: {type: tags, options: [a.b, c, d, e], max_items: 2}
  choice: {type: enum, options: [x, y, z]}
  small: {type: integer, minimum: 2, maximum: 20}
  ratio: {type: number, minimum: -1.5, maximum: 1e16}
  code: {type: string, min_length: 2, max_length: 5, pattern: '^[A-Z]+$'}
  mail: {type: email, max_length: 8}
  flag: {type: boolean}
  day: {type: date}
  at: {type: datetime}
"""


@pytest.mark.parametrize("text", [False, True])
def test_odd_fields_read_a_value_as_coerce_does(build: Any, text: bool) -> None:
    template = build(fields=ODD_FIELDS)
    plan = template._lead_plans[text]
    extra = ["a.b", "c;a.b", "c; d", " d", "c;e", "c;e;c", "c;c", "c;d;e", ["a.b"], [" d"], ["c", "e", "a.b"], " x", "y", "z ", "2", "20", "21", "1",
             "ABC", "ABCDEF", "A", "abc", "a@b.cn", "ab@cd.com", -1.5, -1.6, 1e16, 2, 20, 21, 2.0]
    for name, fdef in template.fields.items():
        for raw in [*ODD, *extra]:
            got, want = plan.coercers[name](raw), coerce(fdef, raw, template.timezone, text=text)
            assert same(got, want), (name, fdef.type, text, raw, got, want)


def test_stored_values_read_json_back(build: Any) -> None:
    t = build()
    stored = {"deal_size": 1.5e6, "employees": 250, "industry": "finance", "product_lines": ["crm", "bi"], "signed_on": "2026-11-23", "company": " ACME ", "gone": 1, "region": "west"}
    assert t.stored_values(stored) == {
        "deal_size": 1.5e6, "employees": 250, "industry": "finance", "product_lines": ("crm", "bi"), "signed_on": dt.date(2026, 11, 23), "company": "ACME",
    }
    assert t.stored_values(None) == {} and t.stored_values({}) == {}
