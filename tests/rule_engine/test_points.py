"""Incentive points: amounts, conditions, caps per period, idempotency keys and periods."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rule_engine import CompiledTemplate, Event, Rep, loads_template, score_event
from rule_engine.points import period_key

Build = Callable[..., CompiledTemplate]
RepFactory = Callable[..., Rep]

NOW = dt.datetime.fromisoformat("2026-11-23T09:00:00+08:00")
MONTH = "2026-11"
CJK = re.compile(r"[\u4e00-\u9fff]")

POINTS = """
won_when: 'stage == "won"'
points:
  period: month
  rules:
    - name: assigned
      title: {zh: 接单, en: Lead taken}
      on: lead.assigned
      amount: 1
    - name: challenge_win
      title: {zh: 攻坚成交, en: Hard win}
      on: lead.converted
      when: 'deal_size >= 1000000'
      amount: 'round(deal_size / 100000)'
      cap: 50
    - name: followup
      on: followup.logged
      amount: 2
      cap: 5
    - name: first_contact
      on: followup.logged
      when: 'followup_count <= 1'
      amount: 3
      once: per_lead
    - name: reclaimed_penalty
      title: {zh: 线索被回收, en: Lead reclaimed}
      on: lead.reclaimed
      amount: -10
      cap: 25
      to: previous_owner
    - name: monthly_bonus
      on: period.ended
      amount: 100
      once: per_rep_period
    - name: handover_thanks
      on: handover.completed
      when: 'rep.level == "senior" and complexity >= 3'
      amount: 'complexity'
      to: previous_owner
    - name: extra_for_data
      on: stage.changed
      when: 'stage == "won"'
      amount: 'if(industry == "medical", 7, 4)'
"""


def event(kind: str, event_id: str = "e1", *, rep: str | None = "r01", lead: dict[str, Any] | None = None, at: dt.datetime = NOW, **kw: Any) -> Event:
    return Event(kind, event_id, at, rep, lead, **kw)


def lead(**values: Any) -> dict[str, Any]:
    return {"id": "l1", "owner": "r01", **values}


def entries(t: CompiledTemplate, ev: Event, **kw: Any) -> list[tuple[str, str, float, bool]]:
    return [(e.rep, e.rule, e.amount, e.capped) for e in score_event(t, ev, **kw)]


# ------------------------------------------------------------------------------------------------
# Amounts and conditions
# ------------------------------------------------------------------------------------------------

AMOUNTS: list[tuple[str, Event, dict[str, Any], list[tuple[str, str, float, bool]]]] = [
    # id, event, score_event keywords, entries
    ("a number", event("lead.assigned", lead=lead()), {}, [("r01", "assigned", 1.0, False)]),
    ("an expression", event("lead.converted", lead=lead(deal_size=2_340_000)), {}, [("r01", "challenge_win", 23.0, False)]),
    ("condition fails", event("lead.converted", lead=lead(deal_size=900_000)), {}, []),
    ("condition on a missing value", event("lead.converted", lead=lead()), {}, []),
    ("two rules on one event", event("followup.logged", lead=lead(followup_count=1)), {}, [("r01", "followup", 2.0, False), ("r01", "first_contact", 3.0, False)]),
    ("the second follow-up", event("followup.logged", lead=lead(followup_count=2)), {}, [("r01", "followup", 2.0, False)]),
    ("an event nobody scores", event("lead.created", lead=lead()), {}, []),
    ("no rep", event("lead.assigned", rep=None, lead=lead()), {}, []),
    ("expression with if", event("stage.changed", lead=lead(stage="won", industry="medical")), {}, [("r01", "extra_for_data", 7.0, False)]),
    ("expression with if, else", event("stage.changed", lead=lead(stage="won", industry="retail")), {}, [("r01", "extra_for_data", 4.0, False)]),
    # `to: previous_owner`
    ("to the previous owner", event("lead.reclaimed", rep=None, lead=lead(owner=None), previous_owner="r02"), {}, [("r02", "reclaimed_penalty", -10.0, False)]),
    ("no previous owner", event("lead.reclaimed", rep="r01", lead=lead()), {}, []),
    # a condition over the receiving rep and the event's data
    ("rep and data", event("handover.completed", rep="r03", lead=lead(owner="r03"), previous_owner="r02", data={"complexity": 4}), {"reps": "senior"}, [("r02", "handover_thanks", 4.0, False)]),
    ("rep not senior", event("handover.completed", rep="r03", lead=lead(owner="r03"), previous_owner="r02", data={"complexity": 4}), {"reps": "junior"}, []),
    ("rep unknown", event("handover.completed", rep="r03", lead=lead(owner="r03"), previous_owner="r02", data={"complexity": 4}), {}, []),
    ("data below the threshold", event("handover.completed", rep="r03", lead=lead(owner="r03"), previous_owner="r02", data={"complexity": 2}), {"reps": "senior"}, []),
]


@pytest.mark.parametrize("ev, kw, expected", [a[1:] for a in AMOUNTS], ids=[a[0] for a in AMOUNTS])
def test_amounts_and_conditions(build: Build, rep: RepFactory, ev: Event, kw: dict[str, Any], expected: list[Any]) -> None:
    t = build(POINTS)
    if "reps" in kw:
        kw = {"reps": {"r02": rep("r02", level=kw["reps"])}}
    assert entries(t, ev, **kw) == expected


def test_an_entry_says_why_in_both_languages(build: Build) -> None:
    t = build(POINTS)
    (e,) = score_event(t, event("lead.converted", "conv-7", lead=lead(deal_size=2_340_000)))
    assert (e.period, e.event_id, e.lead_id) == (MONTH, "conv-7", "l1")
    assert e.reason("en") == "+23 points: Hard win (rule challenge_win, lead.converted)"
    assert e.reason("zh") == "+23 分:攻坚成交(规则 challenge_win,lead.converted)"
    (p,) = score_event(t, event("lead.reclaimed", rep=None, lead=lead(owner=None), previous_owner="r02"), totals={("r02", "reclaimed_penalty", MONTH): -20})
    assert p.reason("en") == "-5 points: Lead reclaimed (rule reclaimed_penalty, lead.reclaimed) (capped at 25 per month)"
    assert p.reason("zh") == "-5 分:线索被回收(规则 reclaimed_penalty,lead.reclaimed)(已达每月上限 25)"


def test_no_points_section_scores_nothing(build: Build) -> None:
    assert score_event(build(""), event("lead.assigned", lead=lead())) == []


# ------------------------------------------------------------------------------------------------
# Caps per period
# ------------------------------------------------------------------------------------------------

CAPS: list[tuple[str, Event, float, list[tuple[str, str, float, bool]]]] = [
    # id, event, total already in the ledger for (rep, rule, period), entries
    ("room left", event("lead.converted", lead=lead(deal_size=2_340_000)), 20, [("r01", "challenge_win", 23.0, False)]),
    ("exactly fills the cap", event("lead.converted", lead=lead(deal_size=2_340_000)), 27, [("r01", "challenge_win", 23.0, False)]),
    ("partial amount near the cap", event("lead.converted", lead=lead(deal_size=2_340_000)), 40, [("r01", "challenge_win", 10.0, True)]),
    ("nothing once reached", event("lead.converted", lead=lead(deal_size=2_340_000)), 50, []),
    ("nothing above it", event("lead.converted", lead=lead(deal_size=2_340_000)), 60, []),
    ("small cap partial", event("followup.logged", lead=lead(followup_count=5)), 4, [("r01", "followup", 1.0, True)]),
    ("negative: room left", event("lead.reclaimed", rep=None, lead=lead(), previous_owner="r01"), -10, [("r01", "reclaimed_penalty", -10.0, False)]),
    ("negative: partial by absolute total", event("lead.reclaimed", rep=None, lead=lead(), previous_owner="r01"), -20, [("r01", "reclaimed_penalty", -5.0, True)]),
    ("negative: nothing once reached", event("lead.reclaimed", rep=None, lead=lead(), previous_owner="r01"), -25, []),
]


@pytest.mark.parametrize("ev, used, expected", [c[1:] for c in CAPS], ids=[c[0] for c in CAPS])
def test_caps_per_period(build: Build, ev: Event, used: float, expected: list[Any]) -> None:
    t = build(POINTS)
    rule = {"lead.converted": "challenge_win", "followup.logged": "followup", "lead.reclaimed": "reclaimed_penalty"}[ev.type]
    assert entries(t, ev, totals={("r01", rule, MONTH): used}) == expected


def test_caps_count_per_rep_rule_and_period(build: Build) -> None:
    t = build(POINTS)
    ev = event("lead.converted", lead=lead(deal_size=2_340_000))
    full = {("r01", "challenge_win", MONTH): 50.0}
    assert entries(t, ev, totals=full) == []
    # another rep, another rule or another period is not counted
    assert entries(t, ev, totals={("r02", "challenge_win", MONTH): 50.0}) == [("r01", "challenge_win", 23.0, False)]
    assert entries(t, ev, totals={("r01", "followup", MONTH): 50.0}) == [("r01", "challenge_win", 23.0, False)]
    assert entries(t, ev, totals={("r01", "challenge_win", "2026-10"): 50.0}) == [("r01", "challenge_win", 23.0, False)]
    december = event("lead.converted", lead=lead(deal_size=2_340_000), at=dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.timezone.utc))
    assert entries(t, december, totals=full) == [("r01", "challenge_win", 23.0, False)]  # already December 1st in Shanghai


# ------------------------------------------------------------------------------------------------
# Idempotency keys
# ------------------------------------------------------------------------------------------------


def keys(t: CompiledTemplate, ev: Event) -> dict[str, str]:
    return {e.rule: e.key for e in score_event(t, ev)}


def test_the_same_event_twice_gives_the_same_keys(build: Build) -> None:
    t = build(POINTS)
    ev = event("followup.logged", "f-1", lead=lead(followup_count=1))
    first, again = score_event(t, ev), score_event(t, event("followup.logged", "f-1", lead=lead(followup_count=1)))
    assert first == again
    assert len({e.key for e in first}) == 2
    assert all(re.fullmatch(r"[0-9a-f]{64}", e.key) for e in first)


def test_each_event_counts_once_but_separately(build: Build) -> None:
    t = build(POINTS)
    one = keys(t, event("followup.logged", "f-1", lead=lead(followup_count=1)))
    two = keys(t, event("followup.logged", "f-2", lead=lead(followup_count=1)))
    assert one["followup"] != two["followup"]  # two follow-ups: two entries
    assert one["first_contact"] == two["first_contact"]  # once per lead: one key for the lead
    other_lead = keys(t, event("followup.logged", "f-3", lead=lead(id="l2", followup_count=1)))
    assert other_lead["first_contact"] != one["first_contact"]
    other_rep = keys(t, event("followup.logged", "f-1", rep="r02", lead=lead(owner="r02", followup_count=1)))
    assert other_rep["first_contact"] != one["first_contact"] and other_rep["followup"] != one["followup"]


def test_once_per_rep_period(build: Build) -> None:
    t = build(POINTS)
    a = keys(t, event("period.ended", "p-1"))
    b = keys(t, event("period.ended", "p-2", at=NOW + dt.timedelta(days=5)))
    c = keys(t, event("period.ended", "p-3", at=NOW + dt.timedelta(days=10)))  # December
    d = keys(t, event("period.ended", "p-1", rep="r02"))
    assert a["monthly_bonus"] == b["monthly_bonus"]
    assert len({a["monthly_bonus"], c["monthly_bonus"], d["monthly_bonus"]}) == 3


def test_keys_depend_on_the_template_and_the_rule(build: Build, yaml_of: Callable[..., str]) -> None:
    ev = event("lead.assigned", "a-1", lead=lead())
    key = keys(build(POINTS), ev)["assigned"]
    assert keys(build(POINTS), ev)["assigned"] == key  # compiled again: the same key
    renamed_rule = build(POINTS.replace("name: assigned\n", "name: taken\n"))
    assert keys(renamed_rule, ev)["taken"] != key
    other_template = loads_template(yaml_of(POINTS).replace("name: test\n", "name: other_team\n", 1))
    assert other_template.name == "other_team"
    assert keys(other_template, ev)["assigned"] != key


# ------------------------------------------------------------------------------------------------
# Periods
# ------------------------------------------------------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIODS: list[tuple[str, dt.datetime, str]] = [
    ("day", NOW, "2026-11-23"),
    ("week", NOW, "2026-W48"),
    ("month", NOW, "2026-11"),
    ("quarter", NOW, "2026-Q4"),
    ("year", NOW, "2026"),
    ("quarter", dt.datetime(2026, 3, 31, 23, 59, tzinfo=SHANGHAI), "2026-Q1"),
    ("quarter", dt.datetime(2026, 4, 1, tzinfo=SHANGHAI), "2026-Q2"),
    ("quarter", dt.datetime(2026, 9, 30, tzinfo=SHANGHAI), "2026-Q3"),
    # 20:00 UTC on Dec 31 is already New Year's Day in Shanghai (a Friday in ISO week 53 of 2026)
    ("day", dt.datetime(2026, 12, 31, 20, 0, tzinfo=dt.timezone.utc), "2027-01-01"),
    ("week", dt.datetime(2026, 12, 31, 20, 0, tzinfo=dt.timezone.utc), "2026-W53"),
    ("month", dt.datetime(2026, 12, 31, 20, 0, tzinfo=dt.timezone.utc), "2027-01"),
    ("quarter", dt.datetime(2026, 12, 31, 20, 0, tzinfo=dt.timezone.utc), "2027-Q1"),
    ("year", dt.datetime(2026, 12, 31, 20, 0, tzinfo=dt.timezone.utc), "2027"),
    ("week", dt.datetime(2026, 1, 1, 12, 0, tzinfo=SHANGHAI), "2026-W01"),
    ("week", dt.datetime(2027, 1, 4, 12, 0, tzinfo=SHANGHAI), "2027-W01"),
]


@pytest.mark.parametrize("period, at, expected", PERIODS)
def test_period_key(period: str, at: dt.datetime, expected: str) -> None:
    assert period_key(period, at, SHANGHAI) == expected


@pytest.mark.parametrize("period, expected", [("day", "2026-11-23"), ("week", "2026-W48"), ("month", MONTH), ("quarter", "2026-Q4"), ("year", "2026")])
def test_entries_carry_the_template_period(build: Build, period: str, expected: str) -> None:
    t = build(POINTS.replace("period: month", f"period: {period}"))
    (e,) = score_event(t, event("lead.assigned", lead=lead()))
    assert e.period == expected
    (capped,) = score_event(t, event("followup.logged", lead=lead(followup_count=3)), totals={("r01", "followup", expected): 4})
    assert capped.amount == 1.0 and capped.capped


def test_converted_points_need_won_when_and_contact_fields_must_be_lead_fields(build: Build) -> None:
    from rule_engine import TemplateError

    with pytest.raises(TemplateError) as err:
        build(POINTS.replace("won_when: 'stage == \"won\"'\n", "") + "forms:\n  handover: {fields: {note: {type: text}}}\nhandover: {form: handover, contact_fields: [company, compnay]}\n")
    found = [(p.path, p.code, p.suggestion) for p in err.value.problems]
    assert (("points", "rules", 1, "on"), "compile.won_when", None) in found
    assert any(path == ("handover", "contact_fields", 1) and hint == "company" for path, _, hint in found)
    assert "lead.converted needs the template's 'won_when'" in err.value.problems[0].en
