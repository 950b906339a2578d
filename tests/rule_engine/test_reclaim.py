"""The public pool (公海): reminders and reclaims at a given moment, and who may claim a pool lead."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest

from rule_engine import CompiledTemplate, CompileError, Rep, check_claim, evaluate_reclaim
from rule_engine.reclaim import verdict_for

Build = Callable[..., CompiledTemplate]
RepFactory = Callable[..., Rep]

NOW = dt.datetime.fromisoformat("2026-11-23T09:00:00+08:00")
CJK = re.compile(r"[\u4e00-\u9fff]")

RECLAIM = """
load:
  weights:
    - {when: 'deal_size >= 1000000', weight: 3}
  default_weight: 1
  cap: 10
reclaim:
  rules:
    - name: no_first_followup
      title: {zh: 分配后3天未首次跟进, en: No first follow-up within 3 days}
      since: assigned
      days: 3
      when: 'followup_count == 0'
      remind_before_days: 1
      action: pool
      notify: [owner, manager]
    - name: no_followup_7_days
      title: {zh: 7天未跟进, en: No follow-up for 7 days}
      since: last_followup
      days: 7
      remind_before_days: 2
      action: reassign
    - name: stale
      since: created
      days: 30
      when: 'stage == "new"'
    - name: half_day_for_hot
      since: assigned
      days: 0.5
      when: 'deal_size >= 5000000 and followup_count == 0'
  protected: 'stage in ["negotiation", "won"]'
  cooldown_days: 7
  claim:
    daily_limit: 5
    max_held: 30
    eligible: 'rep.level != "junior"'
"""


def ago(days: float = 0, hours: float = 0) -> dt.datetime:
    return NOW - dt.timedelta(days=days, hours=hours)


def owned(**values: Any) -> dict[str, Any]:
    return {"id": "l1", "owner": "r01", "created_at": ago(1), **values}


VERDICTS: list[tuple[str, dict[str, Any], str, str | None, dt.datetime | None]] = [
    # id, lead, action, rule, deadline
    ("just assigned", owned(assigned_at=ago(hours=1)), "keep", "no_first_followup", ago(hours=1) + dt.timedelta(days=3)),
    ("reminded a day before", owned(assigned_at=ago(2, 1)), "remind", "no_first_followup", ago(2, 1) + dt.timedelta(days=3)),
    ("reminded exactly at the reminder time", owned(assigned_at=ago(2)), "remind", "no_first_followup", ago(2) + dt.timedelta(days=3)),
    ("not yet reminded", owned(assigned_at=ago(1, 23)), "keep", "no_first_followup", ago(1, 23) + dt.timedelta(days=3)),
    ("reclaimed at the deadline", owned(assigned_at=ago(3)), "reclaim", "no_first_followup", ago(3) + dt.timedelta(days=3)),
    ("reclaimed after it", owned(assigned_at=ago(3, 1)), "reclaim", "no_first_followup", ago(3, 1) + dt.timedelta(days=3)),
    ("followed up: first rule does not apply", owned(assigned_at=ago(4), followup_count=1, last_followup_at=ago(1)), "keep", "no_followup_7_days", ago(1) + dt.timedelta(days=7)),
    ("last follow-up reminder", owned(assigned_at=ago(9), followup_count=2, last_followup_at=ago(5, 12)), "remind", "no_followup_7_days", ago(5, 12) + dt.timedelta(days=7)),
    ("last follow-up too old", owned(assigned_at=ago(20), followup_count=2, last_followup_at=ago(7, 1)), "reclaim", "no_followup_7_days", ago(7, 1) + dt.timedelta(days=7)),
    # no follow-up recorded: the 7-day clock starts at the assignment
    ("last follow-up falls back to assignment", owned(assigned_at=ago(8), followup_count=1), "reclaim", "no_followup_7_days", ago(8) + dt.timedelta(days=7)),
    ("falls back and reminds", owned(assigned_at=ago(5, 6), followup_count=1), "remind", "no_followup_7_days", ago(5, 6) + dt.timedelta(days=7)),
    # both rules are due: the first in order wins
    ("first rule wins", owned(assigned_at=ago(10)), "reclaim", "no_first_followup", ago(10) + dt.timedelta(days=3)),
    ("since created", owned(created_at=ago(31), assigned_at=ago(1), followup_count=3, last_followup_at=ago(hours=2), stage="new"), "reclaim", "stale", ago(31) + dt.timedelta(days=30)),
    ("since created, when fails", owned(created_at=ago(31), assigned_at=ago(1), followup_count=3, last_followup_at=ago(hours=2), stage="contacted"), "keep", "no_followup_7_days", ago(hours=2) + dt.timedelta(days=7)),
    ("half a day", owned(assigned_at=ago(hours=12), deal_size=6_000_000), "reclaim", "half_day_for_hot", ago(hours=12) + dt.timedelta(hours=12)),
    ("under half a day", owned(assigned_at=ago(hours=11), deal_size=6_000_000), "keep", "half_day_for_hot", ago(hours=11) + dt.timedelta(hours=12)),
    ("protected", owned(assigned_at=ago(30), stage="negotiation"), "protected", None, None),
    ("protected won", owned(assigned_at=ago(30), stage="won", deal_size=6_000_000), "protected", None, None),
    ("never assigned, no follow-up", owned(created_at=ago(2)), "keep", None, None),
]


@pytest.mark.parametrize("lead, action, rule, deadline", [v[1:] for v in VERDICTS], ids=[v[0] for v in VERDICTS])
def test_reclaim_verdicts(build: Build, lead: dict[str, Any], action: str, rule: str | None, deadline: dt.datetime | None) -> None:
    t = build(RECLAIM)
    (v,) = evaluate_reclaim(t, [lead], NOW)
    assert (v.lead_id, v.owner, v.action, v.rule, v.deadline) == ("l1", "r01", action, rule, deadline)
    if action == "reclaim":
        r = t.reclaim.rules[[x.name for x in t.reclaim.rules].index(rule)]  # type: ignore[union-attr]
        assert v.then == r.action and v.notify == r.notify
    for lang in ("en", "zh"):
        assert v.explain(t, lang)


def test_a_reclaim_says_where_the_lead_goes_and_whom_to_tell(build: Build) -> None:
    t = build(RECLAIM)
    first, second = evaluate_reclaim(t, [owned(assigned_at=ago(4)), owned(id="l2", assigned_at=ago(20), followup_count=1, last_followup_at=ago(8))], NOW)
    assert (first.then, first.notify, first.since) == ("pool", ("owner", "manager"), ago(4))
    assert (second.then, second.notify, second.since) == ("reassign", ("owner",), ago(8))
    assert first.explain(t, "en") == "reclaimed by rule no_first_followup (No first follow-up within 3 days): deadline 2026-11-22T09:00+08:00 passed; back to the pool"
    assert first.explain(t, "zh") == "按规则 no_first_followup(分配后3天未首次跟进)回收:期限 2026-11-22T09:00+08:00 已过,回到公海"
    assert "reassigned" in second.explain(t, "en") and "重新分配" in second.explain(t, "zh")


def test_pool_leads_are_skipped(build: Build) -> None:
    t = build(RECLAIM)
    leads = [owned(id="a", assigned_at=ago(10)), {"id": "b", "assigned_at": ago(10), "previous_owner": "r01"}, owned(id="c", assigned_at=ago(10), owner="")]
    assert [v.lead_id for v in evaluate_reclaim(t, leads, NOW)] == ["a"]


def test_without_reclaim_rules_every_owned_lead_is_kept(build: Build) -> None:
    (v,) = evaluate_reclaim(build(""), [owned(assigned_at=ago(100))], NOW)
    assert (v.action, v.rule) == ("keep", None)


def test_reclaim_when_may_read_the_owner(build: Build, rep: RepFactory) -> None:
    t = build("""
        reclaim:
          rules:
            - name: juniors_fast
              since: assigned
              days: 1
              when: 'rep.level == "junior"'
            - name: everyone
              since: assigned
              days: 5
    """)
    leads = [owned(id="a", assigned_at=ago(2)), owned(id="b", owner="r02", assigned_at=ago(2)), owned(id="c", owner="r09", assigned_at=ago(2))]
    roster = [rep("r01", level="junior"), rep("r02", level="senior")]
    got = [(v.lead_id, v.action, v.rule) for v in evaluate_reclaim(t, leads, NOW, roster)]
    # r09 is not in the roster: rep.level is unset, so the junior rule does not hold
    assert got == [("a", "reclaim", "juniors_fast"), ("b", "keep", "everyone"), ("c", "keep", "everyone")]


def test_verdict_for_grades_nothing_itself(build: Build) -> None:
    t = build(RECLAIM)
    L = t.values(owned(assigned_at=ago(4)), NOW)
    assert verdict_for(t.reclaim, L, NOW).action == "reclaim"
    assert verdict_for(None, L, NOW).action == "keep"


def test_the_reminder_must_come_before_the_deadline(build: Build) -> None:
    with pytest.raises(CompileError) as info:
        build("reclaim:\n  rules:\n    - {name: r, since: assigned, days: 2, remind_before_days: 2}\n")
    (p,) = info.value.problems
    assert p.code == "compile.reclaim" and p.path == ("reclaim", "rules", 0, "remind_before_days")


# ------------------------------------------------------------------------------------------------
# Claiming from the pool
# ------------------------------------------------------------------------------------------------

POOL = {"id": "p1", "deal_size": 10}

CLAIMS: list[tuple[str, dict[str, Any], dict[str, Any], str | None, str]] = [
    # id, rep attributes, lead, refusal reason (None: allowed), fragment of the English message
    ("allowed", {}, POOL, None, ""),
    ("not in the pool", {}, {**POOL, "owner": "r02"}, "not_in_pool", "not in the pool"),
    ("paused", {"status": "paused"}, POOL, "unavailable", "while paused"),
    ("inactive", {"status": "inactive"}, POOL, "unavailable", "while inactive"),
    ("on leave", {"on_leave": True}, POOL, "unavailable", "while on leave"),
    ("daily limit reached", {"claims_today": 5}, POOL, "daily_limit", "(5 of 5 today)"),
    ("under the daily limit", {"claims_today": 4}, POOL, None, ""),
    ("max held", {"held_from_pool": 30}, POOL, "max_held", "you already hold 30 leads from the pool (at most 30)"),
    ("under max held", {"held_from_pool": 29}, POOL, None, ""),
    ("cooldown for the previous owner", {}, {**POOL, "previous_owner": "r01", "reclaimed_at": ago(2)}, "cooldown", "after 2026-11-28T09:00+08:00"),
    ("cooldown just before it ends", {}, {**POOL, "previous_owner": "r01", "reclaimed_at": ago(6, 23)}, "cooldown", "may claim it again"),
    ("cooldown over", {}, {**POOL, "previous_owner": "r01", "reclaimed_at": ago(7)}, None, ""),
    ("cooldown is not for others", {}, {**POOL, "previous_owner": "r02", "reclaimed_at": ago(1)}, None, ""),
    ("over cap", {"load": 9.5}, POOL, "over_cap", "your load 9.5 + 1 would pass your cap 10"),
    ("over cap with a heavy lead", {"load": 7.5}, {**POOL, "deal_size": 2_000_000}, "over_cap", "7.5 + 3"),
    ("exactly at cap after", {"load": 9.0}, POOL, None, ""),
    ("not eligible", {"level": "junior"}, POOL, "not_eligible", 'you are not eligible for this lead (rep.level junior ≠ "junior")'),
]


@pytest.mark.parametrize("rep_kw, lead, reason, fragment", [c[1:] for c in CLAIMS], ids=[c[0] for c in CLAIMS])
def test_check_claim(build: Build, rep: RepFactory, rep_kw: dict[str, Any], lead: dict[str, Any], reason: str | None, fragment: str) -> None:
    t = build(RECLAIM)
    verdict = check_claim(t, lead, rep("r01", **rep_kw), NOW)
    assert verdict.allowed is (reason is None)
    assert verdict.reason == reason
    if reason is not None:
        assert fragment in verdict.message("en")
        assert CJK.search(verdict.message("zh")), verdict.zh
    else:
        assert verdict.en == verdict.zh == ""


def test_claim_without_limits_is_only_refused_for_availability(build: Build, rep: RepFactory) -> None:
    t = build("")
    busy = rep("r01", claims_today=100, held_from_pool=100, load=100.0, level="junior")
    assert check_claim(t, POOL, busy, NOW).allowed
    assert check_claim(t, {**POOL, "previous_owner": "r01", "reclaimed_at": ago(hours=1)}, busy, NOW).allowed  # no cooldown
    assert check_claim(t, POOL, rep("r01", on_leave=True), NOW).reason == "unavailable"


SAMPLES = ("b2b_software", "medical_devices", "consumer_goods_regional", "finance_points")


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_verdict_read_from_the_reclaim_reads_is_the_verdict_on_the_whole_lead(sample: str) -> None:
    """The sweep reads of each candidate only ``reclaim_reads`` (some fields, some tables): over the
    sample leads, at many clocks and counters, that gives the verdict the whole graded lead gives."""
    import csv
    from pathlib import Path

    from rule_engine import load_template

    def to_json_value(value: Any) -> Any:  # as the service stores a field (JSON)
        return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else list(value) if isinstance(value, tuple) else value

    root = Path(__file__).resolve().parents[2]
    template = load_template(root / "templates" / f"{sample}.yaml")
    fields, names, tables = template.reclaim_reads
    assert fields <= set(template.fields) and not fields & names
    assert [name for name, _ in tables] == [t.name for t in template.segments if t.name in {n for n, _ in tables}]  # grading order
    if template.reclaim is not None and template.reclaim.rules:
        assert len(fields) < len(template.fields)  # the point: less than the whole lead
    with open(root / "examples" / sample / "leads.csv", encoding="utf-8-sig", newline="") as fh:
        rows = [{k: v for k, v in row.items() if k} for row in csv.DictReader(fh)]
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    clock = template.clock(now)
    decided: set[str] = set()
    skipped = 0  # leads whose verdict needed no grade
    for i, raw in enumerate(rows):
        values, _ = template.lead_record(raw, text=True)
        stored = {k: to_json_value(v) for k, v in values.items() if k != "id"}
        assigned = now - dt.timedelta(hours=7 * i % 240)
        record: dict[str, Any] = {"id": f"L{i}", "owner": "r1", "assigned_at": assigned, "created_at": assigned - dt.timedelta(hours=2), "followup_count": i % 3, "reclaim_count": i % 2}
        if i % 3:
            record["first_followup_at"] = record["last_followup_at"] = assigned + dt.timedelta(hours=5 * i % (7 * i % 240 + 1))
        whole = template.values({**template.stored_values(stored), **record}, now, clock)
        template.grade(whole)
        lean = template.values({**template.stored_values(stored, fields), **record}, now, clock)
        for name, value in tables:
            lean[name] = value(lean)
        expected, got = verdict_for(template.reclaim, whole, now), verdict_for(template.reclaim, lean, now)
        assert got == expected, (sample, i)
        # graded only when a condition reads a grade: the same verdict again
        lazy = template.values({**template.stored_values(stored, fields), **record}, now, clock)

        def grade(L: dict[str, Any]) -> None:
            for name, value in tables:
                L[name] = value(L)

        assert verdict_for(template.reclaim, lazy, now, grade=grade, graded=frozenset(name for name, _ in tables)) == expected, (sample, i)
        skipped += not tables or tables[0][0] not in lazy
        decided.add(expected.action)
    if template.reclaim is not None and template.reclaim.rules:
        assert {"reclaim", "keep"} <= decided, decided  # the clocks reach both sides of a deadline
    if sample == "b2b_software":  # its first rule reads no grade: leads it reclaims are never graded
        assert 0 < skipped < len(rows)
