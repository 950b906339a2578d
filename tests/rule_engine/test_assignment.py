"""Picking owners: strategies, eligibility, availability, caps and quotas, fallbacks, determinism."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rule_engine import CompiledTemplate, Leave, Rep, RotationState, assign

Build = Callable[..., CompiledTemplate]
RepFactory = Callable[..., Rep]

NOW = dt.datetime.fromisoformat("2026-11-23T09:00:00+08:00")

LOAD = """
load:
  weights:
    - {when: 'deal_size >= 1000000', weight: 3}
    - {when: 'deal_size >= 200000', weight: 1.5}
  default_weight: 0.5
  cap: 10
"""


def policy(strategy: str, extra: str = "", *, name: str = "p", load: str = LOAD, otherwise: str = "pool") -> str:
    """A template body with one policy."""
    return f"""{load}
assignment:
  policies:
    - name: {name}
      strategy: {strategy}
{extra}
  otherwise: {otherwise}
"""


def owners(decisions: Sequence[Any]) -> list[str | None]:
    return [d.owner for d in decisions]


def lead_list(n: int, **values: Any) -> list[dict[str, Any]]:
    return [{"id": f"l{i:03d}", **values} for i in range(1, n + 1)]


# ------------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------------


def test_round_robin_follows_roster_order_and_the_cursor(build: Build, rep: RepFactory) -> None:
    t = build(policy("round_robin"))
    roster = [rep("r03"), rep("r01"), rep("r02")]  # roster order is rep id order, not input order
    result = assign(t, lead_list(7), roster, None, NOW)
    assert owners(result.decisions) == ["r01", "r02", "r03", "r01", "r02", "r03", "r01"]
    assert result.state.cursors == {"p": "r01"}
    again = assign(t, lead_list(2), roster, RotationState({"p": "r02"}), NOW)
    assert owners(again.decisions) == ["r03", "r01"]
    # a cursor naming a rep who left the roster starts from the beginning
    assert owners(assign(t, lead_list(1), roster, RotationState({"p": "r99"}), NOW).decisions) == ["r01"]


def test_least_loaded_picks_the_lowest_load_then_fewer_today_then_rotation(build: Build, rep: RepFactory) -> None:
    t = build(policy("least_loaded"))
    roster = [rep("r01", load=5.0), rep("r02", load=2.0, assigned_today=3), rep("r03", load=2.0, assigned_today=1), rep("r04", load=2.5)]
    result = assign(t, lead_list(4, deal_size=10), roster, None, NOW)  # weight 0.5 each
    # r03 (2.0, 1 today) beats r02 (2.0, 3 today); then r02 (2.0); then r04 (2.5, 0 today) beats r03 (2.5, 2)
    # and r02 (2.5, 4); then r03 (2.5, 2) beats r02 (2.5, 4) and r04 (3.0)
    assert owners(result.decisions) == ["r03", "r02", "r04", "r03"]
    assert {r.id: r.load for r in result.roster} == {"r01": 5.0, "r02": 2.5, "r03": 3.0, "r04": 3.0}


def test_least_loaded_ties_break_by_rotation(build: Build, reps: Callable[..., list[Rep]]) -> None:
    t = build(policy("least_loaded"))
    result = assign(t, lead_list(6, deal_size=10), reps(3), None, NOW)
    assert owners(result.decisions) == ["r01", "r02", "r03", "r01", "r02", "r03"]


def test_weighted_three_to_one_is_exact_over_every_full_cycle(build: Build, rep: RepFactory) -> None:
    t = build(policy("weighted", "      weight: 'rep.capacity'", load=""))
    roster = [rep("r01", capacity=3), rep("r02", capacity=1)]
    result = assign(t, lead_list(40, deal_size=10), roster, None, NOW)
    picks = owners(result.decisions)
    for cycle in range(10):
        assert Counter(picks[cycle * 4 : cycle * 4 + 4]) == {"r01": 3, "r02": 1}
    # smooth: the light rep is not kept waiting until the end of a cycle
    assert picks[:4] == ["r01", "r02", "r01", "r01"]


def test_weighted_state_carries_between_batches(build: Build, rep: RepFactory) -> None:
    t = build(policy("weighted", "      weight: 'rep.capacity'"))
    roster = [rep("r01", capacity=2), rep("r02", capacity=1), rep("r03", capacity=1)]
    whole = owners(assign(t, lead_list(12, deal_size=10), roster, None, NOW).decisions)
    first = assign(t, lead_list(5, deal_size=10), roster, None, NOW)
    second = assign(t, lead_list(7, deal_size=10), roster, first.state, NOW)
    assert owners(first.decisions) + owners(second.decisions) == whole
    assert Counter(whole) == {"r01": 6, "r02": 3, "r03": 3}


def test_weighted_skips_a_rep_with_no_weight(build: Build, rep: RepFactory) -> None:
    t = build(policy("weighted", "      weight: 'rep.capacity'"))
    result = assign(t, lead_list(3, deal_size=10), [rep("r01", capacity=0), rep("r02"), rep("r03", capacity=2)], None, NOW, explain=True)
    assert set(owners(result.decisions)) == {"r03"}
    reasons = {c.rep: c.reason for c in result.decisions[0].trace.policies[0].notes()}  # type: ignore[union-attr]
    assert reasons == {"r01": "zero_weight", "r02": "zero_weight", "r03": "candidate"}


SKILL_TAGS = "      lead_tags: product_lines\n      rep_tags: skills"
SKILL_SCORE = "      score: 'overlap_count(product_lines, rep.skills) * 10 + if(rep.level == \"expert\", 5, 0)'\n      min_score: 15\n      on_no_candidate: pool"


@pytest.mark.parametrize(
    "extra, lead, expected",
    [
        (SKILL_TAGS, {"product_lines": ["crm", "erp"]}, "r02"),  # two common tags beats one
        (SKILL_TAGS, {"product_lines": ["bi"]}, "r04"),  # r03 and r04 both have bi: r04 is less loaded
        (SKILL_TAGS, {"product_lines": ["crm"]}, "r01"),  # r01, r02 tie on score and load: rotation
        (SKILL_TAGS, {"product_lines": []}, None),  # nobody reaches min_score 1
        (SKILL_TAGS, {}, None),
        (SKILL_SCORE, {"product_lines": ["crm"]}, "r02"),  # 10 + 5 for the expert
        (SKILL_SCORE, {"product_lines": ["crm", "erp"]}, "r02"),  # r02 25
        (SKILL_SCORE, {"product_lines": ["bi"]}, "r04"),  # r04 15 (expert), r03 10 < 15
        (SKILL_SCORE, {"product_lines": ["erp"]}, "r02"),
    ],
)
def test_skill_match(build: Build, rep: RepFactory, extra: str, lead: dict[str, Any], expected: str | None) -> None:
    t = build(policy("skill_match", extra))
    roster = [
        rep("r01", skills=["crm"], level="senior", load=1.0),
        rep("r02", skills=["crm", "erp"], level="expert", load=1.0),
        rep("r03", skills=["bi"], level="senior", load=4.0),
        rep("r04", skills=["bi"], level="expert", load=0.5),
    ]
    (decision,) = assign(t, [{"id": "l1", **lead}], roster, None, NOW).decisions
    assert decision.owner == expected
    assert decision.outcome == ("assigned" if expected else "pool")


def test_skill_match_reports_scores_below_the_minimum(build: Build, rep: RepFactory) -> None:
    t = build(policy("skill_match", SKILL_SCORE))
    (d,) = assign(t, [{"id": "l1", "product_lines": ("bi",)}], [rep("r03", skills=["bi"], level="senior"), rep("r04", skills=["bi"], level="expert")], None, NOW, explain=True).decisions
    notes = {c.rep: (c.reason, c.a) for c in d.trace.policies[0].notes()}  # type: ignore[union-attr]
    assert notes["r03"] == ("below_min_score", {"score": 10, "min": 15.0})
    assert notes["r04"][0] == "candidate"
    assert "score 10 < 15" in d.explain(t, "en")


def test_points_priority_most_points_then_least_loaded(build: Build, rep: RepFactory) -> None:
    t = build(policy("points_priority"))
    roster = [rep("r01", points=10), rep("r02", points=30, load=2.0), rep("r03", points=30, load=1.0), rep("r04", points=-5)]
    result = assign(t, lead_list(3, deal_size=1_000_000), roster, None, NOW)  # weight 3 each
    # r03 (30, 1.0) -> r02 (30, 2.0) beats r03 (30, 4.0) -> r03 (30, 4.0) beats r02 (30, 5.0)
    assert owners(result.decisions) == ["r03", "r02", "r03"]


BY_FIELD = "      field: region\n      owners: {north: [r01, r02], south: r03}\n      on_no_candidate: next"


def test_by_field_rotates_a_list_per_value(build: Build, reps: Callable[..., list[Rep]]) -> None:
    t = build(policy("by_field", BY_FIELD))
    regions = ["north", "south", "north", "north", "east", "south", "north", None]
    leads = [{"id": f"l{i}", **({"region": r} if r else {})} for i, r in enumerate(regions)]
    result = assign(t, leads, reps(4), None, NOW)
    assert owners(result.decisions) == ["r01", "r03", "r02", "r01", None, "r03", "r02", None]
    assert [d.outcome for d in result.decisions][4] == "pool"
    assert result.state.cursors == {"p:north": "r02", "p:south": "r03"}


def test_by_field_owner_must_still_be_available_and_under_cap(build: Build, rep: RepFactory) -> None:
    t = build(policy("by_field", BY_FIELD))
    roster = [rep("r01", on_leave=True), rep("r02", load=9.9), rep("r03")]
    result = assign(t, [{"id": "a", "region": "north", "deal_size": 10}], roster, None, NOW)
    assert owners(result.decisions) == [None]


def test_by_field_owner_field(build: Build, reps: Callable[..., list[Rep]]) -> None:
    t = build(policy("by_field", "      owner_field: account_owner"))
    leads = [{"id": "a", "account_owner": "r02"}, {"id": "b", "account_owner": "r09"}, {"id": "c"}, {"id": "d", "account_owner": "r02"}]
    assert owners(assign(t, leads, reps(3), None, NOW).decisions) == ["r02", None, None, "r02"]


def test_pool_strategy_leaves_leads_for_claiming(build: Build, reps: Callable[..., list[Rep]]) -> None:
    t = build(f"""{LOAD}
assignment:
  policies:
    - {{name: nurture, when: 'deal_size < 1000', strategy: pool}}
    - {{name: rr, strategy: round_robin}}
""")
    result = assign(t, [{"id": "a", "deal_size": 10}, {"id": "b", "deal_size": 5000}], reps(2), None, NOW)
    assert [(d.outcome, d.owner, d.policy) for d in result.decisions] == [("pool", None, "nurture"), ("assigned", "r01", "rr")]


def test_no_assignment_section_sends_every_lead_to_the_pool(build: Build, reps: Callable[..., list[Rep]]) -> None:
    result = assign(build(""), lead_list(2), reps(2), None, NOW)
    assert [(d.outcome, d.owner, d.policy) for d in result.decisions] == [("pool", None, None)] * 2


# ------------------------------------------------------------------------------------------------
# Eligibility and availability
# ------------------------------------------------------------------------------------------------

ELIGIBLE = "      eligible: 'rep.level in [\"senior\", \"expert\"] and lead.region in rep.regions'"


@pytest.mark.parametrize(
    "region, expected",
    [("north", ["r02", "r04", "r02"]), ("south", ["r04", "r04", "r04"]), ("east", [None, None, None])],
)
def test_eligibility_over_lead_and_rep(build: Build, rep: RepFactory, region: str, expected: list[str | None]) -> None:
    t = build(policy("round_robin", ELIGIBLE))
    roster = [
        rep("r01", level="junior", regions=["north", "south"]),
        rep("r02", level="senior", regions=["north"]),
        rep("r03", level="mid", regions=["north", "south", "east"]),
        rep("r04", level="expert", regions=["north", "south"]),
    ]
    assert owners(assign(t, lead_list(3, region=region), roster, None, NOW).decisions) == expected


def test_a_lead_without_the_field_is_eligible_for_nobody(build: Build, reps: Callable[..., list[Rep]]) -> None:
    t = build(policy("round_robin", ELIGIBLE))
    (d,) = assign(t, [{"id": "a"}], reps(3), None, NOW).decisions
    assert d.owner is None and d.outcome == "pool"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": "paused"},
        {"status": "inactive"},
        {"on_leave": True},
        {"leaves": (Leave(NOW.date(), NOW.date()),)},  # a one-day leave today
        {"leaves": (Leave(dt.date(2026, 11, 1), dt.date(2026, 11, 10)), Leave(dt.date(2026, 11, 20), dt.date(2026, 11, 23)))},
    ],
    ids=["paused", "inactive", "on leave", "leave today only", "second of two leaves"],
)
def test_unavailable_reps_are_never_chosen(build: Build, rep: RepFactory, kwargs: dict[str, Any]) -> None:
    for strategy in ("round_robin", "least_loaded", "points_priority", "weighted"):
        t = build(policy(strategy))
        roster = [rep("r01", points=100, **kwargs), rep("r02", load=5.0), rep("r03", load=6.0)]
        result = assign(t, lead_list(9, deal_size=10), roster, None, NOW)
        assert "r01" not in owners(result.decisions), strategy
        assert None not in owners(result.decisions)


@pytest.mark.parametrize(
    "leave",
    [Leave(dt.date(2026, 11, 16), dt.date(2026, 11, 22)), Leave(dt.date(2026, 11, 24), dt.date(2026, 11, 30))],
    ids=["ended yesterday", "starts tomorrow"],
)
def test_a_leave_not_covering_now_does_not_matter(build: Build, rep: RepFactory, leave: Leave) -> None:
    t = build(policy("round_robin"))
    assert owners(assign(t, lead_list(2), [rep("r01", leaves=(leave,)), rep("r02")], None, NOW).decisions) == ["r01", "r02"]


def test_the_day_of_now_is_taken_in_the_template_timezone(build: Build, rep: RepFactory) -> None:
    t = build(policy("round_robin"))
    roster = [rep("r01", leaves=(Leave(dt.date(2026, 11, 24), dt.date(2026, 11, 24)),)), rep("r02")]
    late = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.timezone.utc)  # already the 24th in Shanghai
    assert owners(assign(t, lead_list(2), roster, None, late).decisions) == ["r02", "r02"]


# ------------------------------------------------------------------------------------------------
# Caps and quotas
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "load, deal_size, takes",
    [
        (9.5, 10, True),  # 9.5 + 0.5 = 10 <= cap 10
        (9.0, 300_000, False),  # 9 + 1.5 > 10
        (7.0, 1_000_000, True),  # 7 + 3 = 10
        (7.01, 1_000_000, False),
        (10.0, 10, False),  # at the cap: nothing new
        (12.0, 10, False),  # above it
    ],
)
def test_a_rep_receives_a_lead_only_within_the_cap(build: Build, rep: RepFactory, load: float, deal_size: float, takes: bool) -> None:
    t = build(policy("least_loaded"))
    (d,) = assign(t, [{"id": "a", "deal_size": deal_size}], [rep("r01", load=load)], None, NOW).decisions
    assert (d.owner == "r01") is takes


def test_the_cap_may_be_a_rep_expression(build: Build, rep: RepFactory) -> None:
    load = LOAD.replace("cap: 10", "cap: 'rep.capacity'")
    t = build(policy("round_robin", load=load))
    roster = [rep("r01", capacity=1), rep("r02", capacity=2.5), rep("r03")]  # r03 has no capacity: no cap
    result = assign(t, lead_list(10, deal_size=10), roster, None, NOW)
    # rotation r01 r02 r03 r01 r02 r03, then r01 is full: r02 r03 r02 r03
    assert owners(result.decisions) == ["r01", "r02", "r03", "r01", "r02", "r03", "r02", "r03", "r02", "r03"]
    assert {r.id: r.load for r in result.roster} == {"r01": 1.0, "r02": 2.0, "r03": 2.0}
    (d,) = assign(t, [{"id": "x", "deal_size": 300_000}], result.roster, result.state, NOW).decisions
    assert d.owner == "r03"  # 1.5 more fits only where there is no cap


def test_a_batch_fills_a_rep_up_to_the_cap_and_no_further(build: Build, rep: RepFactory) -> None:
    t = build(policy("round_robin"))
    result = assign(t, lead_list(10, deal_size=1_000_000), [rep("r01", load=1.0), rep("r02", load=4.5)], None, NOW)
    assert owners(result.decisions) == ["r01", "r02", "r01", "r01", None, None, None, None, None, None]
    assert {r.id: (r.load, r.assigned_today, r.open_count) for r in result.roster} == {"r01": (10.0, 3, 3), "r02": (7.5, 1, 1)}


def test_daily_and_weekly_quotas(build: Build, rep: RepFactory) -> None:
    load = LOAD + "  daily_quota: 2\n  weekly_quota: 'rep.capacity'\n"
    t = build(policy("round_robin", load=load))
    roster = [rep("r01", assigned_today=1, capacity=10), rep("r02", assigned_week=4, capacity=5), rep("r03", capacity=0)]
    result = assign(t, lead_list(6, deal_size=10), roster, None, NOW, explain=True)
    assert owners(result.decisions) == ["r01", "r02", None, None, None, None]
    notes = {c.rep: (c.reason, c.a, c.b) for c in result.decisions[2].trace.policies[0].notes()}  # type: ignore[union-attr]
    assert notes == {"r01": ("daily_quota", 2, 2.0), "r02": ("weekly_quota", 5, 5.0), "r03": ("weekly_quota", 0, 0.0)}


# A template for the property tests: quotas and caps per rep, loads and counts at random.
PROPERTY_FIELDS = """
fields:
  deal_size: {type: number}
rep_fields:
  cap_value: {type: number}
  daily: {type: integer}
  weekly: {type: integer}
  w: {type: number}
"""
PROPERTY_LOAD = """
load:
  weights:
    - {when: 'deal_size >= 1000', weight: 3}
    - {when: 'deal_size >= 100', weight: 1.5}
  default_weight: 0.5
  cap: 'rep.cap_value'
  daily_quota: 'rep.daily'
  weekly_quota: 'rep.weekly'
"""
STRATEGY_OPTIONS = {"round_robin": "", "least_loaded": "", "points_priority": "", "weighted": "      weight: 'rep.w'"}
_PROPERTY_TEMPLATES: dict[str, CompiledTemplate] = {}


def property_template(build: Build, strategy: str) -> CompiledTemplate:
    if strategy not in _PROPERTY_TEMPLATES:
        body = policy(strategy, STRATEGY_OPTIONS[strategy] + "\n      on_no_candidate: pool", load=PROPERTY_LOAD)
        _PROPERTY_TEMPLATES[strategy] = build(body, fields=PROPERTY_FIELDS)
    return _PROPERTY_TEMPLATES[strategy]


@st.composite
def rosters(draw: st.DrawFn) -> list[Rep]:
    out = []
    for i in range(draw(st.integers(1, 5))):
        attrs: dict[str, Any] = {"w": draw(st.sampled_from([1, 2, 3, 0.5]))}
        for key, values in (("cap_value", st.sampled_from([0, 1, 2.5, 5, 10])), ("daily", st.integers(0, 4)), ("weekly", st.integers(0, 8))):
            if draw(st.booleans()):
                attrs[key] = draw(values)
        out.append(
            Rep(
                f"r{i}",
                attrs=attrs,
                load=draw(st.sampled_from([0.0, 0.5, 1.5, 4.0, 9.5, 11.0])),
                assigned_today=draw(st.integers(0, 5)),
                assigned_week=draw(st.integers(0, 9)),
                points=draw(st.integers(0, 3)),
            )
        )
    return out


WEIGHT_OF = {10: 0.5, 100: 1.5, 1000: 3.0}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(STRATEGY_OPTIONS)), rosters(), st.lists(st.sampled_from(sorted(WEIGHT_OF)), max_size=30))
def test_a_batch_never_passes_a_cap_or_quota(build: Build, strategy: str, roster: list[Rep], sizes: list[int]) -> None:
    t = property_template(build, strategy)
    leads: list[dict[str, Any]] = [{"id": f"l{i}", "deal_size": s} for i, s in enumerate(sizes)]
    result = assign(t, leads, roster, None, NOW)
    start = {r.id: r for r in roster}
    load = {r.id: r.load for r in roster}
    today = {r.id: r.assigned_today for r in roster}
    week = {r.id: r.assigned_week for r in roster}

    def room(r: Rep, w: float) -> bool:
        cap, daily, weekly = r.attrs.get("cap_value"), r.attrs.get("daily"), r.attrs.get("weekly")
        return (cap is None or load[r.id] + w <= cap) and (daily is None or today[r.id] < daily) and (weekly is None or week[r.id] < weekly)

    for lead, d in zip(leads, result.decisions):
        w = WEIGHT_OF[lead["deal_size"]]
        assert d.weight == w
        if d.owner is None:
            # nobody was left out who had room for it
            assert d.outcome == "pool"
            assert not any(room(r, w) for r in roster if strategy != "weighted" or r.attrs["w"] > 0)
            continue
        assert room(start[d.owner], w)
        load[d.owner] += w
        today[d.owner] += 1
        week[d.owner] += 1
    for r in result.roster:
        s = start[r.id]
        cap, daily, weekly = s.attrs.get("cap_value"), s.attrs.get("daily"), s.attrs.get("weekly")
        assert r.load == pytest.approx(load[r.id])
        if cap is not None:
            assert r.load <= max(cap, s.load) + 1e-9
        if daily is not None:
            assert r.assigned_today <= max(daily, s.assigned_today)
        if weekly is not None:
            assert r.assigned_week <= max(weekly, s.assigned_week)
        assert r.open_count - s.open_count == r.assigned_today - s.assigned_today


# ------------------------------------------------------------------------------------------------
# Fallbacks
# ------------------------------------------------------------------------------------------------

FALLBACKS = f"""{LOAD}
assignment:
  policies:
    - name: seniors
      when: 'deal_size >= 1000000'
      eligible: 'rep.level == "expert"'
      strategy: least_loaded
      on_no_candidate: {{first}}
    - name: juniors
      when: 'deal_size < 100'
      eligible: 'rep.level == "junior"'
      strategy: round_robin
      on_no_candidate: {{second}}
    - name: anyone
      when: 'industry == "medical"'
      strategy: round_robin
  otherwise: {{otherwise}}
"""


@pytest.mark.parametrize(
    "first, second, otherwise, lead, outcome, policy_name, owner",
    [
        ("next", "next", "pool", {"deal_size": 2_000_000, "industry": "medical"}, "assigned", "anyone", "r01"),
        ("next", "next", "pool", {"deal_size": 2_000_000}, "pool", None, None),  # every policy said next
        ("next", "next", "escalate", {"deal_size": 2_000_000}, "escalated", None, None),
        ("pool", "next", "escalate", {"deal_size": 2_000_000, "industry": "medical"}, "pool", "seniors", None),
        ("escalate", "next", "pool", {"deal_size": 2_000_000, "industry": "medical"}, "escalated", "seniors", None),
        ("next", "next", "pool", {"deal_size": 10}, "assigned", "juniors", "r02"),
        ("next", "escalate", "pool", {"deal_size": 500, "industry": "retail"}, "pool", None, None),  # no policy matched
        ("next", "escalate", "escalate", {"deal_size": 500, "industry": "retail"}, "escalated", None, None),
    ],
)
def test_fallbacks(build: Build, rep: RepFactory, first: str, second: str, otherwise: str, lead: dict[str, Any], outcome: str, policy_name: str | None, owner: str | None) -> None:
    t = build(FALLBACKS.replace("{first}", first).replace("{second}", second).replace("{otherwise}", otherwise))
    roster = [rep("r01", level="senior"), rep("r02", level="junior"), rep("r03", level="expert", on_leave=True)]
    (d,) = assign(t, [{"id": "a", **lead}], roster, None, NOW).decisions
    assert (d.outcome, d.policy, d.owner) == (outcome, policy_name, owner)


def test_the_first_matching_policy_handles_the_lead(build: Build, rep: RepFactory) -> None:
    t = build(FALLBACKS.replace("{first}", "next").replace("{second}", "next").replace("{otherwise}", "pool"))
    roster = [rep("r01", level="senior"), rep("r02", level="junior"), rep("r03", level="expert")]
    result = assign(t, [{"id": "a", "deal_size": 2_000_000, "industry": "medical"}, {"id": "b", "deal_size": 5, "industry": "medical"}], roster, None, NOW)
    assert [(d.policy, d.owner) for d in result.decisions] == [("seniors", "r03"), ("juniors", "r02")]


def test_policy_and_exclude_restrict_the_choice(build: Build, rep: RepFactory) -> None:
    t = build(FALLBACKS.replace("{first}", "next").replace("{second}", "next").replace("{otherwise}", "pool"))
    roster = [rep("r01", level="senior"), rep("r02", level="junior"), rep("r03", level="expert")]
    lead = [{"id": "a", "deal_size": 5, "industry": "medical"}]
    assert [(d.policy, d.owner) for d in assign(t, lead, roster, None, NOW, policy="anyone").decisions] == [("anyone", "r01")]
    assert [(d.policy, d.owner) for d in assign(t, lead, roster, None, NOW, exclude=frozenset({"r02"})).decisions] == [("anyone", "r01")]
    assert [(d.policy, d.owner) for d in assign(t, lead, roster, None, NOW, policy="anyone", exclude=frozenset({"r01"})).decisions] == [("anyone", "r02")]


# ------------------------------------------------------------------------------------------------
# Determinism, splitting, fairness, purity
# ------------------------------------------------------------------------------------------------


def _mixed_roster(rep: RepFactory) -> list[Rep]:
    return [
        rep("r04", level="junior", load=1.0, points=5, skills=["crm"]),
        rep("r01", level="senior", load=3.0, points=9, skills=["erp", "bi"]),
        rep("r03", level="expert", load=0.0, points=9, skills=["crm", "erp"], regions=["north"]),
        rep("r02", level="senior", load=2.0, status="paused"),
        rep("r05", level="senior", load=8.0, points=1, on_leave=True),
    ]


MIXED = f"""{LOAD}
assignment:
  policies:
    - name: key
      when: 'deal_size >= 1000000'
      eligible: 'rep.level in ["senior", "expert"] and lead.region in rep.regions'
      strategy: least_loaded
    - name: skills
      when: 'product_lines is not empty'
      strategy: skill_match
      lead_tags: product_lines
      rep_tags: skills
    - name: top
      when: 'industry == "finance"'
      strategy: points_priority
    - name: rr
      strategy: round_robin
"""


def _mixed_leads() -> list[dict[str, Any]]:
    sizes = [10, 300_000, 2_000_000, 50, 1_500_000, 10, 700_000]
    out = []
    for i, (size, region, industry, lines) in enumerate(
        zip(itertools.cycle(sizes), itertools.cycle(["north", "south", "east"]), itertools.cycle(["finance", "retail", "medical", "finance"]), itertools.cycle([(), ("crm",), ("erp", "bi"), ()]))
    ):
        if i == 30:
            break
        out.append({"id": f"l{i:02d}", "deal_size": size, "region": region, "industry": industry, "product_lines": lines})
    return out


def test_same_inputs_give_identical_decisions_and_state(build: Build, rep: RepFactory) -> None:
    t = build(MIXED)
    state = RotationState({"rr": "r03"})
    one = assign(t, _mixed_leads(), _mixed_roster(rep), state, NOW, explain=True)
    two = assign(t, _mixed_leads(), list(reversed(_mixed_roster(rep))), state, NOW, explain=True)
    assert [(d.lead_id, d.outcome, d.owner, d.policy, d.weight) for d in one.decisions] == [(d.lead_id, d.outcome, d.owner, d.policy, d.weight) for d in two.decisions]
    assert [d.explain(t, "en") for d in one.decisions] == [d.explain(t, "en") for d in two.decisions]
    assert one.state.to_dict() == two.state.to_dict()
    assert one.roster == two.roster
    assert {d.owner for d in one.decisions} >= {"r01", "r03", "r04"}  # the batch exercised several reps


@pytest.mark.parametrize("split", [0, 1, 5, 13, 29, 30])
def test_splitting_a_round_robin_batch_gives_the_same_owners(build: Build, reps: Callable[..., list[Rep]], split: int) -> None:
    t = build(policy("round_robin"))
    roster = reps(4)
    leads = lead_list(30, deal_size=10)
    whole = assign(t, leads, roster, None, NOW)
    first = assign(t, leads[:split], roster, None, NOW)
    second = assign(t, leads[split:], first.roster, first.state, NOW)
    assert owners(first.decisions) + owners(second.decisions) == owners(whole.decisions)
    assert second.state == whole.state
    assert second.roster == whole.roster


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 7), st.integers(1, 60), st.integers(0, 7), st.data())
def test_round_robin_counts_never_differ_by_more_than_one(build: Build, n: int, batch: int, start: int, data: st.DataObject) -> None:
    t = build(policy("round_robin", load=""))  # no cap: every lead is assigned
    roster = [Rep(f"r{i}", attrs={"level": "senior"}) for i in range(n)]
    state = RotationState({"p": f"r{start}"}) if start < n else None
    split = data.draw(st.integers(0, batch))
    leads = lead_list(batch, deal_size=10)
    first = assign(t, leads[:split], roster, state, NOW)
    second = assign(t, leads[split:], roster, first.state, NOW)
    counts = Counter({r.id: 0 for r in roster})
    for d in first.decisions + second.decisions:
        assert d.owner is not None
        counts[d.owner] += 1
        assert max(counts.values()) - min(counts.values()) <= 1


def test_assign_writes_nothing(build: Build, rep: RepFactory) -> None:
    t = build(MIXED)
    leads = _mixed_leads()
    roster = _mixed_roster(rep)
    state = RotationState({"rr": "r01"}, {"x": {"r01": 1.0}})
    before = (copy.deepcopy(leads), copy.deepcopy(roster), copy.deepcopy(state.to_dict()))
    data_before = copy.deepcopy(dict(t.data))
    result = assign(t, leads, roster, state, NOW, explain=True)
    assert (leads, roster, state.to_dict()) == before
    assert dict(t.data) == data_before
    assert result.state is not state and result.state.to_dict() != state.to_dict()
    for d in result.decisions:
        assert d.values is not None and d.values is not leads[int(d.lead_id[1:])]


def test_the_returned_roster_carries_the_new_loads_and_counts(build: Build, rep: RepFactory) -> None:
    t = build(policy("round_robin"))
    roster = [rep("r01", load=1.0, assigned_today=2, assigned_week=5, open_count=7), rep("r02")]
    result = assign(t, [{"id": "a", "deal_size": 2_000_000}, {"id": "b", "deal_size": 10}, {"id": "c", "deal_size": 300_000}], roster, None, NOW)
    got = {r.id: (r.load, r.assigned_today, r.assigned_week, r.open_count) for r in result.roster}
    assert got == {"r01": (5.5, 4, 7, 9), "r02": (0.5, 1, 1, 1)}
    assert [dataclasses.replace(r, load=0.0, assigned_today=0, assigned_week=0, open_count=0) for r in result.roster] == [
        dataclasses.replace(r, load=0.0, assigned_today=0, assigned_week=0, open_count=0) for r in roster
    ]


def test_now_must_be_timezone_aware(build: Build, reps: Callable[..., list[Rep]]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        assign(build(policy("round_robin")), lead_list(1), reps(1), None, dt.datetime(2026, 11, 23, 9, 0))
