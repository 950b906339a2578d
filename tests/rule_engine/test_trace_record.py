"""Stored decision records: a decision explained from its record and template alone reads the same."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rule_engine import (
    CompiledTemplate,
    Decision,
    Rep,
    assign,
    load_template,
    rep_from_raw,
)
from rule_engine.trace import Recorder, render

Build = Callable[..., CompiledTemplate]
RepFactory = Callable[..., Rep]

NOW = dt.datetime.fromisoformat("2026-11-23T09:00:00+08:00")
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ("b2b_software", "medical_devices", "consumer_goods_regional", "finance_points")
KEY_ACCOUNT = {"deal_size": 2_000_000, "employees": 500, "region": "north"}
_OWNED = ("owner", "assigned_at", "first_followup_at", "last_followup_at", "followup_count", "previous_owner", "reclaimed_at")


# A template with every kind of table hit, load weight, policy result and rep note.
TEMPLATE = """
segments:
  - name: value
    title: {zh: 客户价值, en: Deal value}
    rules:
      - {when: 'deal_size >= 1000000', output: high}
      - {when: 'deal_size >= 200000', output: medium}
    default: low
  - name: tier
    rules:
      - {when: 'value == "high" and employees >= 100', output: A}
      - {when: 'value in ["high", "medium"]', output: B}
    default: C
load:
  weights:
    - {when: 'value == "high"', weight: 3}
    - {when: 'value == "medium"', weight: 1.5}
  default_weight: 0.5
  cap: 10
  daily_quota: 5
assignment:
  policies:
    - name: key_accounts
      when: 'tier == "A"'
      eligible: 'rep.level in ["senior", "expert"] and lead.region in rep.regions'
      strategy: least_loaded
    - name: growth
      when: 'tier == "B"'
      eligible: 'industry != "retail" and rep.level != "junior"'
      strategy: round_robin
      on_no_candidate: escalate
    - name: nurture
      when: 'tier == "C" and deal_size < 100'
      strategy: pool
"""

# Policies with every strategy, and eligibility that mixes lead and rep values.
VARIED = """
    - name: territory
      when: 'signed_on is set'
      strategy: by_field
      field: signed_on
      owners: {"2026-11-23": r02}
    - name: skills
      when: 'product_lines is not empty'
      strategy: skill_match
      lead_tags: product_lines
      rep_tags: skills
    - {name: top, when: 'budget_confirmed', strategy: points_priority}
    - {name: spread, when: 'industry == "finance"', strategy: weighted, weight: 'rep.capacity'}
    - name: mixed
      when: 'deal_size > 5'
      eligible: 'rep.load + deal_size / 100 < 8 and days_since(signed_on) < 3'
      strategy: round_robin
"""
VARIED_LEADS: list[dict[str, Any]] = [
    {"id": "a", "deal_size": 150, "signed_on": dt.date(2026, 11, 24)},
    {"id": "b", "deal_size": 150, "signed_on": dt.date(2026, 11, 23)},
    {"id": "c", "deal_size": 150, "product_lines": ("crm",)},
    {"id": "d", "deal_size": 150, "budget_confirmed": True},
    {"id": "e", "deal_size": 150, "industry": "finance"},
    {"id": "e2", "deal_size": 10},
    {"id": "f", "deal_size": 300_000, "industry": "retail"},
    {"id": "g", **KEY_ACCOUNT},
    {"id": "h", "deal_size": 150},
    {"id": "i", "deal_size": 600, "signed_on": dt.date(2026, 11, 1)},
    {"id": "dated", "deal_size": 150, "signed_on": dt.date(2026, 11, 23), "created_at": dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))},
]


def roster(rep: RepFactory) -> list[Rep]:
    return [
        rep("r01", "Li", load=9.5),
        rep("r02", "Wang", load=4.0),
        rep("r03", "Zhao", on_leave=True),
        rep("r04", "Chen", level="junior"),
        rep("r05", "Qian", regions=["south"], load=1.0),
        rep("r06", "Sun", status="paused"),
        rep("r07", "Zhang", load=6.0, assigned_today=5),
    ]


def stored(template: CompiledTemplate, decisions: list[Decision]) -> list[Decision]:
    """Each decision through a JSON record and back, the way the audit trail keeps it."""
    writer, reader = Recorder(template), Recorder(template)
    return [reader.decision(json.loads(writer.record_json(d)), d.lead_id) for d in decisions]


def assert_same(template: CompiledTemplate, decisions: list[Decision]) -> None:
    for d, back in zip(decisions, stored(template, decisions), strict=True):
        for lang in ("en", "zh"):
            assert render(template, back, lang) == d.explain(template, lang), d.lead_id
        if d.trace is not None:
            assert back.trace is not None and back.trace.to_dict() == json.loads(json.dumps(d.trace.to_dict())), d.lead_id
        assert (back.outcome, back.owner, back.policy) == (d.outcome, d.owner, d.policy)


def sample(name: str) -> tuple[CompiledTemplate, list[dict[str, Any]], list[Rep]]:
    template = load_template(ROOT / "templates" / f"{name}.yaml")
    with open(ROOT / "examples" / name / "leads.csv", encoding="utf-8-sig", newline="") as fh:
        leads = []
        for raw in csv.DictReader(fh):
            record, _ = template.lead_record({k: v for k, v in raw.items() if k and k not in _OWNED}, text=True)
            leads.append(record)
    with open(ROOT / "examples" / name / "reps.csv", encoding="utf-8-sig", newline="") as fh:
        reps = [rep for raw in csv.DictReader(fh) for rep in [rep_from_raw(raw, template.rep_fields, template.timezone, text=True)[0]] if rep is not None]
    return template, leads, reps


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_decisions_read_the_same_from_their_records(name: str) -> None:
    template, leads, reps = sample(name)
    decisions = assign(template, leads, reps, None, NOW, explain=True).decisions
    assert len(decisions) == len(leads) > 50
    assert_same(template, decisions)


def test_every_kind_of_note_reads_the_same(build: Build, rep: RepFactory) -> None:
    t = build(TEMPLATE + VARIED)
    reps = roster(rep) + [rep("r08", "Wu", skills=["crm"], capacity=2, points=3)]
    result = assign(t, VARIED_LEADS * 3, reps, None, NOW, explain=True)
    assert {d.outcome for d in result.decisions} >= {"assigned", "pool", "escalated"}
    assert_same(t, result.decisions)


def test_a_record_is_compact_and_keeps_only_the_values_its_sentence_reads(build: Build, rep: RepFactory) -> None:
    t = build(TEMPLATE)
    lead = {"id": "k", **KEY_ACCOUNT, "company": "x" * 500}
    (d,) = assign(t, [lead], roster(rep), None, NOW, explain=True).decisions
    record = Recorder(t).record(d)
    assert "company" not in record["values"] and set(record["values"]) <= set(d.values)
    assert record["policies"][0]["chosen"] == d.owner
    assert len(json.dumps(record, ensure_ascii=False)) < len(json.dumps({"trace": d.trace.to_dict() if d.trace else None, "en": d.explain(t, "en"), "zh": d.explain(t, "zh")}, ensure_ascii=False))


def test_an_error_reads_the_same(build: Build, rep: RepFactory) -> None:
    t = build("""
segments:
  - name: size_label
    hit_policy: unique
    rules:
      - {when: 'len(company) > 3', output: long}
      - {when: 'len(company) > 5', output: very_long}
    default: short
assignment:
  policies:
    - {name: everyone, strategy: round_robin}
""")
    decisions = assign(t, [{"id": "a", "company": "AB"}, {"id": "b", "company": "ACME Corp"}], roster(rep), None, NOW, explain=True).decisions
    assert [d.outcome for d in decisions] == ["assigned", "error"]
    assert_same(t, decisions)


def test_the_varied_batch_covers_every_note(build: Build, rep: RepFactory) -> None:
    # The round trip above is only as good as the notes it met: check they are all there.
    t = build(TEMPLATE + VARIED)
    reps = roster(rep) + [rep("r08", "Wu", skills=["crm"], capacity=2, points=3)]
    records = [Recorder(t).record(d) for d in assign(t, VARIED_LEADS * 3, reps, None, NOW, explain=True).decisions]
    policies = [p for r in records for p in r.get("policies", ())]
    reasons = {c[1] for p in policies for c in p["candidates"]} | {w[0] for p in policies for w in p["skipped"]["why"]}
    assert reasons >= {"candidate", "over_cap", "daily_quota", "not_eligible", "on_leave", "paused", "not_in_territory", "below_min_score", "zero_weight"}
    assert any(p["lead_failed"] for p in policies) and any(r.get("weight_row") is not None for r in records)
    assert any("$now" in r.get("values", {}) for r in records)


def test_record_json_is_the_record(build: Build, rep: RepFactory) -> None:
    t = build(TEMPLATE + VARIED)
    reps = roster(rep) + [rep("r08", "Wu", skills=["crm"], capacity=2, points=3)]
    decisions = assign(t, VARIED_LEADS * 3, reps, None, NOW, explain=True).decisions
    recorder = Recorder(t)
    for d in decisions:
        assert json.loads(recorder.record_json(d)) == json.loads(json.dumps(recorder.record(d))), d.lead_id


def test_shared_parts_keep_each_leads_number_types(build: Build, rep: RepFactory) -> None:
    t = build("""
segments:
  - name: double
    rules:
      - {when: 'deal_size > 0', output_expr: 'deal_size * 2'}
    default: 0
assignment:
  policies:
    - {name: everyone, strategy: round_robin}
""")
    decisions = assign(t, [{"id": "a", "deal_size": 5}, {"id": "b", "deal_size": 5.0}], roster(rep), None, NOW, explain=True).decisions
    recorder = Recorder(t)
    tables = [json.loads(recorder.record_json(d))["tables"][0] for d in decisions]
    assert tables == [["double", 10, [0]], ["double", 10.0, [0]]] and [type(x[1]) for x in tables] == [int, float]
