"""Explanations: every decision in plain English and Chinese, and its trace as JSON."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from rule_engine import CompiledTemplate, Decision, Rep, assign

Build = Callable[..., CompiledTemplate]
RepFactory = Callable[..., Rep]

NOW = dt.datetime.fromisoformat("2026-11-23T09:00:00+08:00")
CJK = re.compile(r"[\u4e00-\u9fff]")

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
    - name: rest
      when: 'tier == "C"'
      strategy: round_robin
"""


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


def decide(build: Build, rep: RepFactory, lead: dict[str, Any], **kw: Any) -> tuple[CompiledTemplate, Decision]:
    t = build(TEMPLATE)
    (d,) = assign(t, [{"id": "l1", **lead}], roster(rep), None, NOW, explain=True, **kw).decisions
    return t, d


KEY_ACCOUNT = {"deal_size": 2_000_000, "employees": 500, "region": "north"}


def test_an_assignment_in_english(build: Build, rep: RepFactory) -> None:
    t, d = decide(build, rep, KEY_ACCOUNT)
    text = d.explain(t, "en")
    expected_parts = [
        # each table, the row that decided it and the values it compared
        "value high by row 1 of `value` (deal_size 2000000 ≥ 1000000)",
        'tier A by row 1 of `tier` (value = "high", employees 500 ≥ 100)',
        'load weight 3 (value = "high")',
        # the policy and its strategy
        "policy key_accounts (least_loaded)",
        # the skipped candidates with their reasons
        "Zhao (on leave: skipped)",
        'Chen (not eligible: rep.level in ["senior", "expert"]: skipped)',
        "Sun (paused: skipped)",
        "Li (load 9.5 + 3 > cap 10: skipped)",
        "Qian (not eligible: lead.region north in rep.regions [south]: skipped)",
        "Zhang (5 today, daily quota 5: skipped)",
        # the winner
        "Wang (load 4): chosen",
        "→ assigned to Wang",
    ]
    for part in expected_parts:
        assert part in text, part
    positions = [text.index(p) for p in expected_parts]
    assert positions[:4] == sorted(positions[:4])  # grading, then weight, then the policy
    assert text.endswith("→ assigned to Wang")


def test_an_assignment_in_chinese(build: Build, rep: RepFactory) -> None:
    t, d = decide(build, rep, KEY_ACCOUNT)
    text = d.explain(t, "zh")
    for part in [
        "value = high:`value` 表第 1 行命中(deal_size 2000000 ≥ 1000000)",
        'tier = A:`tier` 表第 1 行命中(value = "high"、employees 500 ≥ 100)',
        '负载权重 3(value = "high")',
        "策略 key_accounts(负载最低)",
        "Zhao(休假中,跳过)",
        'Chen(不符合 rep.level in ["senior", "expert"],跳过)',
        "Sun(已暂停接单,跳过)",
        "Li(负载 9.5 + 3 > 上限 10,跳过)",
        "Qian(不符合条件:lead.region north 属于 rep.regions [south],跳过)",
        "Zhang(今日已分 5,达到日配额 5,跳过)",
        "Wang(负载 4):选中",
        "→ 分配给 Wang",
    ]:
        assert part in text, part


@pytest.mark.parametrize(
    "lead, en, zh",
    [
        # every table fell to its default
        ({"deal_size": 150}, ["value low (no row matched: default)", "tier C (no row matched: default)", "load weight 0.5 (default)", "policy rest (round_robin)", "→ assigned to"], ["value = low(无规则命中,取默认值)", "负载权重 0.5(默认)", "策略 rest(轮到)", "→ 分配给"]),
        # a pool policy
        ({"deal_size": 5}, ["policy nurture: leave in the pool for claiming", "→ left in the pool"], ["策略 nurture:留在公海待领取", "→ 进入公海"]),
        # the lead itself does not qualify: nobody is asked, and the policy escalates
        (
            {"deal_size": 300_000, "industry": "retail"},
            ['tier B by row 2 of `tier` (value medium in ["high", "medium"])', 'this lead does not qualify (industry retail ≠ "retail")', "nobody available, escalated", "→ escalated to a manager"],
            ["此线索不符合条件(industry retail ≠ \"retail\")", "无人可分,上报主管", "→ 上报主管处理"],
        ),
        # no policy matches at all
        ({"deal_size": 2_000_000, "employees": 5, "region": "north", "industry": "medical"}, ["policy growth (round_robin)"], ["策略 growth(轮到)"]),
    ],
    ids=["defaults", "pool", "lead not eligible", "second policy"],
)
def test_other_outcomes(build: Build, rep: RepFactory, lead: dict[str, Any], en: list[str], zh: list[str]) -> None:
    t, d = decide(build, rep, lead)
    english, chinese = d.explain(t, "en"), d.explain(t, "zh")
    for part in en:
        assert part in english, (part, english)
    for part in zh:
        assert part in chinese, (part, chinese)


def test_nobody_left_falls_through_to_otherwise(build: Build, rep: RepFactory) -> None:
    t = build(TEMPLATE)
    reps = [rep("r01", "Li", load=9.9), rep("r02", "Wang", level="junior")]
    (d,) = assign(t, [{"id": "l1", **KEY_ACCOUNT}], reps, None, NOW, explain=True).decisions
    assert d.outcome == "pool"
    text = d.explain(t, "en")
    assert "Li (load 9.9 + 3 > cap 10: skipped)" in text
    assert 'Wang (not eligible: rep.level in ["senior", "expert"]: skipped)' in text
    assert "nobody available, next policy" in text
    assert text.endswith("→ left in the pool")
    assert "无人可分,转下一策略" in d.explain(t, "zh")
    assert d.trace is not None and d.trace.otherwise == "pool"


def test_reps_left_out_for_the_same_reason_are_named_together(build: Build, rep: RepFactory) -> None:
    t = build(TEMPLATE)
    reps = [rep("r01", "Li", level="junior"), rep("r02", "Wang", level="junior"), rep("r03", "Zhao"), rep("r04", "Sun", on_leave=True), rep("r05", "Zhou", on_leave=True)]
    (d,) = assign(t, [{"id": "l1", **KEY_ACCOUNT}], reps, None, NOW, explain=True).decisions
    text = d.explain(t, "en")
    assert 'Li, Wang (not eligible: rep.level in ["senior", "expert"]: skipped)' in text
    assert "Sun, Zhou (on leave: skipped)" in text
    assert "Li、Wang(不符合" in d.explain(t, "zh")


def test_scores_points_and_weights_are_shown(build: Build, rep: RepFactory) -> None:
    t = build("""
assignment:
  policies:
    - {name: skills, when: 'deal_size < 10', strategy: skill_match, lead_tags: product_lines, rep_tags: skills}
    - {name: top, when: 'deal_size < 100', strategy: points_priority}
    - {name: spread, strategy: weighted, weight: 'rep.capacity'}
""")
    reps = [rep("r01", "Li", skills=["crm"], points=7, capacity=3), rep("r02", "Wang", skills=["crm", "erp"], points=2, capacity=1), rep("r03", "Zhao", skills=[], points=1)]
    leads = [{"id": "a", "deal_size": 1, "product_lines": ("crm", "erp")}, {"id": "b", "deal_size": 50}, {"id": "c", "deal_size": 500}]
    a, b, c = assign(t, leads, reps, None, NOW, explain=True).decisions
    assert "Wang (score 2, load 0): chosen" in a.explain(t, "en") and "Li (score 1, load 0)" in a.explain(t, "en")
    assert "Zhao (score 0 < 1: skipped)" in a.explain(t, "en")
    assert "Wang(匹配分 2, 负载 0):选中" in a.explain(t, "zh")
    assert "Li (points 7, load 0): chosen" in b.explain(t, "en") and "Li(积分 7, 负载 0):选中" in b.explain(t, "zh")
    assert "Li (weight 3, load 1): chosen" in c.explain(t, "en") and "Zhao (weight ∅: skipped)" in c.explain(t, "en")


def test_an_evaluation_error_is_explained(build: Build, rep: RepFactory) -> None:
    t = build("""
segments:
  - name: label
    hit_policy: unique
    rules:
      - {when: 'len(company) > 3', output: long}
      - {when: 'len(company) > 5', output: very_long}
    default: short
""")
    (d,) = assign(t, [{"id": "l1", "company": "ACME Corp"}], [rep("r01")], None, NOW, explain=True).decisions
    assert d.explain(t, "en") == "could not evaluate: table 'label' has hit policy 'unique' but rows 1, 2 all match"
    assert d.explain(t, "zh") == "无法评估:分级表 'label' 的命中策略是 'unique',但第 1, 2 行同时命中"


def test_without_a_trace_only_the_outcome_is_told(build: Build, rep: RepFactory) -> None:
    t = build(TEMPLATE)
    (d,) = assign(t, [{"id": "l1", **KEY_ACCOUNT}], roster(rep), None, NOW).decisions
    assert d.trace is None
    assert d.explain(t, "en") == "→ assigned to r02"
    assert d.explain(t, "zh") == "→ 分配给 r02"


def test_explanations_do_not_change_decisions(build: Build, rep: RepFactory) -> None:
    t = build(TEMPLATE)
    leads = [{"id": f"l{i}", "deal_size": size, "employees": 500, "region": region, "industry": industry}
             for i, (size, region, industry) in enumerate([(2e6, "north", "medical"), (3e5, "south", "retail"), (10, None, None), (500, "east", "finance"), (2e6, "south", None)] * 3)]
    plain = assign(t, leads, roster(rep), None, NOW)
    traced = assign(t, leads, roster(rep), None, NOW, explain=True)
    assert [(d.outcome, d.owner, d.policy) for d in plain.decisions] == [(d.outcome, d.owner, d.policy) for d in traced.decisions]
    assert plain.state == traced.state and plain.roster == traced.roster


# ------------------------------------------------------------------------------------------------
# The trace as data
# ------------------------------------------------------------------------------------------------


def test_trace_to_dict_names_every_fact(build: Build, rep: RepFactory) -> None:
    t, d = decide(build, rep, KEY_ACCOUNT)
    assert d.trace is not None
    data = json.loads(json.dumps(d.trace.to_dict(), ensure_ascii=False))
    assert data["tables"] == [{"table": "value", "value": "high", "rows": [1]}, {"table": "tier", "value": "A", "rows": [1]}]
    assert (data["weight"], data["weight_row"], data["otherwise"]) == (3.0, 1, None)
    (p,) = data["policies"]
    assert (p["policy"], p["strategy"], p["result"], p["chosen"]) == ("key_accounts", "least_loaded", "chosen", "r02")
    by_rep = {c["rep"]: c for c in p["candidates"]}
    assert by_rep["r01"] == {"rep": "r01", "verdict": "skipped", "reason": "over_cap", "load": 9.5, "weight": 3.0, "cap": 10.0}
    assert by_rep["r02"] == {"rep": "r02", "verdict": "chosen", "reason": "candidate", "load": 4.0}
    assert by_rep["r03"] == {"rep": "r03", "verdict": "skipped", "reason": "on_leave"}
    assert by_rep["r04"]["reason"] == "not_eligible" and by_rep["r04"]["condition"] == 'rep.level in ["senior", "expert"]'
    assert by_rep["r05"]["condition"] == "lead.region in rep.regions"
    assert by_rep["r07"] == {"rep": "r07", "verdict": "skipped", "reason": "daily_quota", "count": 5, "quota": 5.0}


def test_every_trace_of_a_varied_batch_is_json(build: Build, rep: RepFactory) -> None:
    without_rest = TEMPLATE.replace("    - name: rest\n      when: 'tier == \"C\"'\n      strategy: round_robin\n", "")
    assert without_rest != TEMPLATE
    t = build(without_rest + """
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
""")
    leads = [  # deal size 150: tier C, past the nurture pool
        {"id": "a", "deal_size": 150, "signed_on": dt.date(2026, 11, 24)},
        {"id": "b", "deal_size": 150, "signed_on": dt.date(2026, 11, 23)},
        {"id": "c", "deal_size": 150, "product_lines": ("crm",)},
        {"id": "d", "deal_size": 150, "budget_confirmed": True},
        {"id": "e", "deal_size": 150, "industry": "finance"},
        {"id": "e2", "deal_size": 10},
        {"id": "f", "deal_size": 300_000, "industry": "retail"},
        {"id": "g", **KEY_ACCOUNT},
        {"id": "h", "deal_size": 150},
    ]
    reps = roster(rep) + [rep("r08", "Wu", skills=["crm"], capacity=2, points=3)]
    decisions = assign(t, leads, reps, None, NOW, explain=True).decisions
    assert [d.policy for d in decisions] == [None, "territory", "skills", "top", "spread", "nurture", "growth", "key_accounts", None]
    first = json.loads(json.dumps(decisions[0].trace.to_dict()))  # type: ignore[union-attr]
    territory = next(p for p in first["policies"] if p["policy"] == "territory")
    assert {"rep": "r02", "verdict": "skipped", "reason": "not_in_territory", "field": "signed_on", "value": "2026-11-24"} in territory["candidates"]
    assert "Wang (not an owner for signed_on = 2026-11-24: skipped)" in decisions[0].explain(t, "en")
    for d in decisions:
        assert d.trace is not None
        json.dumps(d.trace.to_dict())
        json.dumps(d.outputs)
        for lang in ("en", "zh"):
            assert d.explain(t, lang)
        assert CJK.search(d.explain(t, "zh"))
