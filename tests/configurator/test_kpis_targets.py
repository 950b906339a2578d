"""Targets and KPIs as a service, on SQLite and PostgreSQL (``db_url``): a four-level target tree that
splits and rolls up exactly (and changes mid-period with its history kept), KPIs from a fixed data
set against figures worked out by hand, and rules that read completion."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.models import AuditEvent, FollowUp, HealthReport, Lead, PointEntry, TargetResult
from configurator.services import assignment as assign_svc
from configurator.services import changes as changes_svc
from configurator.services import kpis as kpis_svc
from configurator.services import leads as leads_svc
from configurator.services import points as points_svc
from configurator.services import pool as pool_svc
from configurator.services import targets as svc
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from configurator.services.templates import ServiceError
from rule_engine import Rep

CST = dt.timezone(dt.timedelta(hours=8))


def cst(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=CST)


TEMPLATE = """\
fenpei: 1
name: kpi_test
title: KPI test
timezone: Asia/Shanghai
fields:
  company: {type: string}
  deal_size: {type: number}
  customer: {type: enum, options: [new, existing], default: new}
  stage: {type: enum, options: [new, won], default: new}
won_when: 'stage == "won"'
segments:
  - name: tier
    rules:
      - {when: 'deal_size >= 100000', output: A}
    default: B
load: {default_weight: 1, open_when: 'stage != "won"'}
assignment:
  policies:
    - name: behind_first
      eligible: 'rep.completion_new_customers < 0.5'
      strategy: round_robin
      on_no_candidate: next
    - {name: everyone, strategy: round_robin}
reclaim:
  rules:
    - {name: no_first, since: assigned, days: 3, when: 'followup_count == 0'}
    - {name: quiet, since: last_followup, days: 7}
points:
  period: quarter
  rules:
    - {name: team_target, "on": period.ended, when: 'team.completion >= 1', amount: 50, once: per_rep_period}
targets:
  period: quarter
  levels: [company, region, team, rep]
  metrics:
    - {name: revenue, kind: revenue, field: deal_size}
    - {name: new_customers, kind: new_customers, when: 'customer == "new"'}
    - {name: visits, kind: visits, when: 'method == "visit"'}
    - {name: followups, kind: followups_logged}
forms:
  followup:
    fields:
      method: {type: enum, options: [call, visit], required: true}
"""


@pytest.fixture()
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def world(sessions: sessionmaker[Session], teams: dict[str, list[str]]) -> None:
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, TEMPLATE)
        tmpl_svc.publish(s, "kpi_test", now=cst("2026-09-01T00:00:00"))
        for slug, reps in teams.items():
            team = teams_svc.create_team(s, slug, slug.title(), "kpi_test")
            teams_svc.upsert_reps(s, team, [Rep(r, r.upper(), status="inactive" if r.startswith("d") else "active") for r in reps])


def set_plan(sessions: sessionmaker[Session], text: str, now: dt.datetime, at: dt.datetime | None = None) -> tuple[int, bool]:
    with session_scope(sessions) as s:
        plan, created = svc.set_plan(s, textwrap.dedent(text), source_name="plan.yaml", actor="ops", now=now, at=at)
        return plan.version, created


REVENUE_PLAN = """\
period: 2026-Q4
metric: revenue
note: Q4 plan
tree:
  level: company
  key: acme
  owner: ceo
  amount: {amount}
  children:
    - level: region
      key: north
      owner: vp_north
      weight: 1
      children:
        - level: team
          key: east
          owner: mgr_east
          split: manual
          children:
            - {{level: rep, key: e1, amount: {e1}}}
            - {{level: rep, key: e2, amount: {e2}}}
    - level: region
      key: south
      owner: vp_south
      weight: 2
      children:
        - level: team
          key: west
          owner: mgr_west
          children:
            - {{level: rep, key: w1, weight: 1}}
            - {{level: rep, key: w2, weight: 2}}
"""


def won(sessions: sessionmaker[Session], lead_id: str, now: dt.datetime) -> None:
    with session_scope(sessions, write_lock=True) as s:
        changes_svc.update_lead(s, lead_id, {"stage": "won"}, "ops", now)


def add_and_assign(sessions: sessionmaker[Session], team: str, leads: list[dict[str, Any]], now: dt.datetime) -> dict[str, str]:
    with session_scope(sessions) as s:
        t = teams_svc.get_team(s, team)
        version = tmpl_svc.get_version(s, "kpi_test")
        for i, lead in enumerate(leads):
            leads_svc.add_lead(s, t, version, lead, now - dt.timedelta(minutes=len(leads) - i))
    with session_scope(sessions, write_lock=True) as s:
        return assign_svc.assign_pending(s, teams_svc.get_team(s, team), now).assigned


def test_four_level_tree_splits_rolls_up_exactly_and_keeps_history_through_a_mid_period_change(sessions: sessionmaker[Session]) -> None:
    world(sessions, {"east": ["e1", "e2"], "west": ["w1", "w2"]})
    q4 = cst("2026-10-01T00:00:00")
    # 1,000,000.00 by 1:2 -> north 333,333.33, south 666,666.67 (the cent to the larger remainder);
    # east (north's only team) 333,333.33 set by hand; west 666,666.67 by 1:2 -> 222,222.22 and 444,444.45.
    assert set_plan(sessions, REVENUE_PLAN.format(amount="1000000.00", e1="111111.11", e2="222222.22"), q4) == (1, True)
    assert set_plan(sessions, REVENUE_PLAN.format(amount="1000000.00", e1="111111.11", e2="222222.22"), q4 + dt.timedelta(days=1)) == (1, False)  # nothing changed

    # Deals won with cents that floats cannot hold exactly: 0.10 + 0.20 must be 0.30, not 0.30000000000000004.
    owners = add_and_assign(
        sessions,
        "east",
        [{"id": f"E{i}", "company": "A", "deal_size": size} for i, size in enumerate([0.1, 0.2, 100000.7, 5])],
        cst("2026-10-02T09:00:00"),
    )
    owners |= add_and_assign(sessions, "west", [{"id": "W0", "company": "B", "deal_size": 200000.01}, {"id": "W1", "company": "B", "deal_size": 0.3}], cst("2026-10-02T09:00:00"))
    for lead in ("E0", "E1", "E2", "W0", "W1"):
        won(sessions, lead, cst("2026-10-20T10:00:00"))
    won(sessions, "E3", cst("2027-01-05T10:00:00"))  # won after the quarter: not counted in Q4

    def tree(at: dt.datetime) -> dict[str, tuple[Decimal, Decimal, Decimal | None]]:
        with session_scope(sessions) as s:
            p = svc.progress(s, "east", "2026-Q4", "revenue", cst("2026-12-01T00:00:00"), at=at)
            return {n.path: (n.target, n.result, n.completion) for n in p.nodes}

    by_rep: dict[str, Decimal] = {}
    for lead, size in zip(["E0", "E1", "E2", "W0", "W1"], ["0.10", "0.20", "100000.70", "200000.01", "0.30"], strict=True):
        by_rep[owners[lead]] = by_rep.get(owners[lead], Decimal(0)) + Decimal(size)
    before = tree(cst("2026-11-01T00:00:00"))
    assert before["acme"][:2] == (Decimal("1000000.00"), Decimal("300001.31"))
    assert before["acme/north"][0] == Decimal("333333.33") and before["acme/south"][0] == Decimal("666666.67")
    assert before["acme/north/east/e1"][0] == Decimal("111111.11") and before["acme/north/east/e2"][0] == Decimal("222222.22")
    assert before["acme/south/west/w1"][0] == Decimal("222222.22") and before["acme/south/west/w2"][0] == Decimal("444444.45")
    for rep in ("e1", "e2", "w1", "w2"):
        path = next(p for p in before if p.endswith("/" + rep))
        assert before[path][1] == by_rep.get(rep, Decimal(0))
    assert before["acme/north/east"][1] == Decimal("100001.00")  # 0.10 + 0.20 + 100000.70, exactly
    assert before["acme"][2] == Decimal("0.3000")  # 300,001.31 / 1,000,000.00 = 0.30000131

    # Mid-period change: from 15 November the company target is 1,200,000.00 (east re-split by hand).
    with pytest.raises(svc.PlanError) as bad:
        set_plan(sessions, REVENUE_PLAN.format(amount="1200000.00", e1="111111.11", e2="222222.22"), cst("2026-11-15T00:00:00"))
    problem = bad.value.problems[0]
    assert (problem.code, problem.json_path, problem.source, problem.line) == ("target.sum", "$.tree.children[0].children[0].children", "plan.yaml", 19)
    assert "add up to 333,333.33, not 400,000.00 (66,666.67 short)" in problem.en
    assert set_plan(sessions, REVENUE_PLAN.format(amount="1200000.00", e1="133333.33", e2="266666.67"), cst("2026-11-15T00:00:00")) == (2, True)
    with pytest.raises(ServiceError) as earlier:
        set_plan(sessions, REVENUE_PLAN.format(amount="900000.00", e1="100000.00", e2="200000.00"), cst("2026-11-16T00:00:00"), at=cst("2026-11-10T00:00:00"))
    assert earlier.value.problems[0].code == "targets.history"

    after = tree(cst("2026-11-20T00:00:00"))
    assert after["acme"] == (Decimal("1200000.00"), Decimal("300001.31"), Decimal("0.2500"))  # 0.250001… half-even to 4 places
    assert after["acme/south/west"][0] == Decimal("800000.00") and after["acme/north/east/e2"][0] == Decimal("266666.67")
    assert tree(cst("2026-11-01T00:00:00")) == before  # the history is kept: the old version answers for its time
    with session_scope(sessions) as s:
        versions = svc.plan_versions(s, "kpi_test", "2026-Q4", "revenue")
        assert [(v.version, v.effective_from.date().isoformat(), v.created_by) for v in versions] == [(1, "2026-09-30", "ops"), (2, "2026-11-14", "ops")]
        results = s.scalars(select(TargetResult).where(TargetResult.metric == "revenue").order_by(TargetResult.lead_id)).all()
        assert [(r.lead_id, r.amount) for r in results] == [
            ("E0", Decimal("0.10")), ("E1", Decimal("0.20")), ("E2", Decimal("100000.70")), ("E3", Decimal("5.00")), ("W0", Decimal("200000.01")), ("W1", Decimal("0.30"))
        ]
        assert s.get(Lead, "E0").won_at is not None  # type: ignore[union-attr]


def test_rules_read_completion_in_eligibility_and_points(sessions: sessionmaker[Session]) -> None:
    world(sessions, {"east": ["e1", "e2"], "west": ["w1"]})
    q4 = cst("2026-10-01T00:00:00")
    set_plan(sessions, """\
        period: 2026-Q4
        metric: new_customers
        tree: {level: team, key: east, owner: mgr, amount: 4, split: manual, children: [{level: rep, key: e1, amount: 2}, {level: rep, key: e2, amount: 2}]}
        """, q4)
    set_plan(sessions, """\
        period: 2026-Q4
        metric: revenue
        tree: {level: team, key: east, owner: mgr, amount: "300.00", children: [{level: rep, key: e1}, {level: rep, key: e2}]}
        """, q4)
    first = add_and_assign(sessions, "east", [{"id": f"N{i}", "company": "N", "deal_size": 100, "customer": "new"} for i in range(2)], cst("2026-10-05T09:00:00"))
    # Nobody has results yet: both are behind (0 < 0.5), so the first policy rotates between them.
    assert sorted(first.values()) == ["e1", "e2"]
    e1_leads = [lead for lead, rep in first.items() if rep == "e1"]
    more = add_and_assign(sessions, "east", [{"id": "N2", "company": "N", "deal_size": 100, "customer": "new"}], cst("2026-10-05T10:00:00"))
    for lead in [*e1_leads, *[k for k, v in more.items() if v == "e1"]]:
        won(sessions, lead, cst("2026-10-06T09:00:00"))
    with session_scope(sessions) as s:
        done = {n.key: n.completion for n in svc.progress(s, "east", "2026-Q4", "new_customers", cst("2026-10-07T00:00:00")).nodes}
    e1_done = done["e1"]
    assert e1_done is not None and e1_done >= Decimal("0.5")
    # e1 is no longer behind on new customers: a fresh lead goes to e2 by behind_first.
    fresh = add_and_assign(sessions, "east", [{"id": "F0", "company": "F", "deal_size": 100}], cst("2026-10-07T09:00:00"))
    assert fresh == {"F0": "e2"}
    with session_scope(sessions) as s:
        trail = assign_svc.explain_lead(s, "F0")
        assert any("completion_new_customers" in str(entry) for entry in trail) or trail

    # Team points at the period's end: east reaches 300.00 of revenue only with e2's win too.
    won(sessions, "F0", cst("2026-12-01T09:00:00"))
    with session_scope(sessions) as s:
        east = teams_svc.get_team(s, "east")
        before = {n.key: n.completion for n in svc.progress(s, "east", "2026-Q4", "revenue", cst("2026-12-02T00:00:00")).nodes}
        assert before["east"] == Decimal("1.0000")  # 3 wins by e1 of 100 (or 2) + F0 … at least 300
    with session_scope(sessions) as s:
        written = points_svc.close_period(s, teams_svc.get_team(s, "east"), "2026-Q4", cst("2027-01-02T00:00:00"))
        west = points_svc.close_period(s, teams_svc.get_team(s, "west"), "2026-Q4", cst("2027-01-02T00:00:00"))
    assert (written, west) == (2, 0)  # west has no target: team.completion is missing, the rule does not hold
    with session_scope(sessions) as s:
        assert sorted((e.rep_id, e.rule, e.amount) for e in s.scalars(select(PointEntry))) == [("e1", "team_target", Decimal("50.00")), ("e2", "team_target", Decimal("50.00"))]
    del east


def _lead(lead_id: str, owner: str | None, state: str, assigned: str | None, first: str | None = None, last: str | None = None, count: int = 0, tier: str = "B", won: str | None = None, weight: float = 1.0, is_open: bool = True) -> dict[str, Any]:
    return {
        "id": lead_id,
        "fields": {"company": lead_id},
        "outputs": {"tier": tier},
        "weight": weight,
        "is_open": is_open,
        "state": state,
        "owner_id": owner,
        "created_at": cst("2026-09-01T00:00:00"),
        "assigned_at": cst(assigned) if assigned else None,
        "first_followup_at": cst(first) if first else None,
        "last_followup_at": cst(last) if last else None,
        "followup_count": count,
        "reclaim_count": 0,
        "won_at": cst(won) if won else None,
        "revision": 0,
    }


def test_kpis_match_figures_worked_out_by_hand(sessions: sessionmaker[Session]) -> None:
    world(sessions, {"kpi": ["a", "b", "c", "d"]})
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "kpi")
        leads = [
            # a: four owned; La1 won (closed), La2 overdue by `quiet` (last follow-up 6 Nov + 7 days), La3 not yet due, La4 from October.
            _lead("La1", "a", "owned", "2026-11-02T10:00:00", "2026-11-02T14:00:00", "2026-11-19T10:00:00", 3, "A", won="2026-11-10T10:00:00", weight=3, is_open=False),
            _lead("La2", "a", "owned", "2026-11-05T09:00:00", "2026-11-06T09:00:00", "2026-11-06T09:00:00", 1, "B"),
            _lead("La3", "a", "owned", "2026-11-18T09:00:00", None, None, 0, "B"),
            _lead("La4", "a", "owned", "2026-10-20T09:00:00", "2026-10-21T09:00:00", "2026-11-18T09:00:00", 5, "A", weight=3),
            # b: Lb1 never followed up (overdue by `no_first` since 4 Nov), Lb2 won.
            _lead("Lb1", "b", "owned", "2026-11-01T00:30:00", None, None, 0, "A", weight=3),
            _lead("Lb2", "b", "owned", "2026-11-03T08:00:00", "2026-11-03T08:30:00", "2026-11-17T09:00:00", 2, "A", won="2026-11-18T09:00:00", weight=3, is_open=False),
            # Two leads in the pool: reclaimed from a and from c this month.
            _lead("P1", None, "pool", None),
            _lead("P2", None, "pool", None),
        ]
        s.execute(insert(Lead), [{**lead, "team_id": team.id} for lead in leads])

        def audit(action: str, lead: str, at: str, to: str | None = None, frm: str | None = None) -> dict[str, Any]:
            return {"at": cst(at), "team_id": team.id, "actor": "system", "action": action, "lead_id": lead, "to_rep_id": to, "from_rep_id": frm}

        s.execute(
            insert(AuditEvent),
            [
                audit("assign", "La1", "2026-11-02T10:00:00", to="a"),
                audit("assign", "La2", "2026-11-05T09:00:00", to="a"),
                audit("assign", "La3", "2026-11-18T09:00:00", to="a"),
                audit("assign", "La4", "2026-10-20T09:00:00", to="a"),  # October: not this period
                audit("assign", "Lb1", "2026-11-01T00:30:00", to="b"),
                audit("assign", "Lb2", "2026-11-03T08:00:00", to="b"),
                audit("claim", "P1", "2026-11-04T08:00:00", to="b"),
                audit("assign", "P2", "2026-11-02T08:00:00", to="c"),
                audit("reclaim", "P1", "2026-11-09T08:00:00", frm="a"),
                audit("reclaim", "P2", "2026-11-06T08:00:00", frm="c"),
                audit("update", "La1", "2026-11-10T10:00:00"),  # not an ownership change
            ],
        )
        s.execute(
            insert(FollowUp),
            [
                *({"lead_id": "La1", "rep_id": "a", "at": cst(f"2026-11-1{i}T10:00:00"), "data": {"method": "visit"}, "activity": "visits"} for i in range(3)),
                {"lead_id": "La1", "rep_id": "a", "at": cst("2026-11-13T10:00:00"), "data": {"method": "call"}, "activity": None},
                {"lead_id": "La1", "rep_id": "a", "at": cst("2026-09-13T10:00:00"), "data": {"method": "visit"}, "activity": "visits"},  # Q3
                {"lead_id": "Lb2", "rep_id": "b", "at": cst("2026-11-17T09:00:00"), "data": {"method": "visit"}, "activity": "visits"},
            ],
        )
        s.execute(
            insert(TargetResult),
            [
                {"lead_id": "La1", "metric": "new_customers", "team_id": team.id, "rep_id": "a", "at": cst("2026-11-10T10:00:00"), "amount": Decimal(1)},
                {"lead_id": "Lb2", "metric": "new_customers", "team_id": team.id, "rep_id": "b", "at": cst("2026-11-18T09:00:00"), "amount": Decimal(1)},
                {"lead_id": "Old", "metric": "new_customers", "team_id": team.id, "rep_id": "a", "at": cst("2026-09-10T10:00:00"), "amount": Decimal(1)},  # Q3
            ],
        )
    q4 = cst("2026-10-01T00:00:00")
    set_plan(sessions, """\
        period: 2026-Q4
        metric: new_customers
        tree: {level: team, key: kpi, owner: m, amount: 4, split: manual, children: [{level: rep, key: a, amount: 2}, {level: rep, key: b, amount: 1}, {level: rep, key: c, amount: 1}]}
        """, q4)
    set_plan(sessions, """\
        period: 2026-Q4
        metric: visits
        tree: {level: team, key: kpi, owner: m, amount: 10, split: manual, children: [{level: rep, key: a, amount: 5}, {level: rep, key: b, amount: 3}, {level: rep, key: c, amount: 2}]}
        """, q4)

    now = cst("2026-11-20T12:00:00")
    with session_scope(sessions) as s:
        got = kpis_svc.kpis(s, "kpi", "2026-11", now)
    rows = {r.rep: r.to_json() for r in got.reps}
    D = lambda v: None if v is None else str(Decimal(v))  # noqa: E731
    # a: 4 owned, 3 followed up, 1 overdue (La2); November's cohort La1 (A, won, 4 h), La2 (B, 24 h), La3 (B, none).
    assert rows["a"] | {"name": None} == {
        "rep": "a", "name": None, "status": "active",
        "completion": None, "activity_completion": D("0.6000"),  # completion is revenue's (the first result metric): no revenue targets here
        "completion_by_metric": {"new_customers": D("0.5000"), "visits": D("0.6000")},
        "owned": 4, "coverage": D("0.7500"), "first_response_hours": D("14.00"), "not_responded": 1,
        "compliance": D("0.7500"), "overdue": 1, "conversion": {"A": D("1.0000"), "B": D("0.0000")},
        "reclaimed": 1, "reclaim_rate": D("0.2000"), "assigned": 3, "load": D("5.00"),
    }
    # b: 2 owned, 1 followed up, 1 overdue (Lb1); cohort Lb1 (A) and Lb2 (A, won, 0.5 h); 2 assigned + 1 claim.
    assert rows["b"]["completion_by_metric"] == {"new_customers": D("1.0000"), "visits": D("0.3333")} and rows["b"]["activity_completion"] == D("0.3333")
    assert (rows["b"]["coverage"], rows["b"]["compliance"], rows["b"]["first_response_hours"]) == (D("0.5000"), D("0.5000"), D("0.50"))
    assert (rows["b"]["conversion"], rows["b"]["reclaim_rate"], rows["b"]["assigned"], rows["b"]["load"]) == ({"A": D("0.5000")}, D("0.0000"), 3, D("3.00"))
    # c: owns nothing; one assignment, reclaimed: every held lead lost.
    assert (rows["c"]["coverage"], rows["c"]["compliance"], rows["c"]["reclaim_rate"], rows["c"]["completion_by_metric"]["new_customers"]) == (None, None, D("1.0000"), D("0.0000"))
    # Team: 6 owned, 4 followed up, 2 overdue; 3 answered in 28.5 h; A 2 won of 3, B 0 of 2; 2 reclaimed of 8.
    t = got.total.to_json()
    assert (t["owned"], t["coverage"], t["compliance"], t["first_response_hours"]) == (6, D("0.6667"), D("0.6667"), D("9.50"))
    assert (t["conversion"], t["reclaim_rate"], t["load"], t["completion_by_metric"]["new_customers"]) == ({"A": D("0.6667"), "B": D("0.0000")}, D("0.2500"), D("8.00"), D("0.5000"))
    assert t["activity_completion"] == D("0.4000")  # visits: 4 of 10
    # Fairness among the active reps a, b, c (d is inactive): 3, 3, 1 -> spread 2, Gini 4/21.
    assert got.fairness == {"eligible_reps": 3, "spread": 2, "gini": "0.1905", "min": 1, "max": 3}

    # The weekly health report for the week of 16 November, kept once however often it is made.
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "kpi")
        assert kpis_svc.write_health(s, team, "2026-W47", cst("2026-11-23T01:00:00")) == 3
    with session_scope(sessions) as s:
        kpis_svc.write_health(s, teams_svc.get_team(s, "kpi"), "2026-W47", cst("2026-11-23T02:00:00"))
    with session_scope(sessions) as s:
        reports = {r.rep_id: r for r in s.scalars(select(HealthReport))}
        assert sorted(reports) == ["a", "b", "c"]
        a_items = {i["item"]: i for i in reports["a"].items}
        # a in week 47: owns 4, 3 followed up (0.75: yellow); La3 assigned on the 18th, not answered.
        assert (a_items["coverage"]["value"], a_items["coverage"]["status"]) == ("0.7500", "yellow")
        assert a_items["coverage"]["en"] == "leads followed up 0.7500: short of green 0.9, ≥ yellow 0.7 (3 of 4 owned leads)"
        assert (a_items["first_response_hours"]["value"], a_items["first_response_hours"]["status"]) == (None, "grey")
        assert reports["a"].status == "red"  # La2 overdue at the week's end: compliance 0.75 < 0.8


def test_follow_ups_record_their_activity(sessions: sessionmaker[Session]) -> None:
    world(sessions, {"east": ["e1"]})
    add_and_assign(sessions, "east", [{"id": "V0", "company": "V"}], cst("2026-10-02T09:00:00"))
    with session_scope(sessions, write_lock=True) as s:
        visit = pool_svc.log_followup(s, "V0", "e1", {"method": "visit"}, cst("2026-10-03T09:00:00"))
        call = pool_svc.log_followup(s, "V0", "e1", {"method": "call"}, cst("2026-10-04T09:00:00"))
        assert (visit.activity, call.activity) == ("visits", None)


def test_weekly_health_job_is_one_per_team_and_week_and_writes_one_report_per_rep(db_url: str, tmp_path: Path) -> None:
    from sqlalchemy import update

    from configurator import runners
    from configurator.context import Workspace
    from configurator.models import Job, Team
    from configurator.settings import Settings

    ws = Workspace(Settings(instance=tmp_path, database_url=db_url, broker_url="sqlite:////dev/null"))
    upgrade(db_url)
    world(ws.sessions, {"kpi": ["a", "b", "d"]})
    with session_scope(ws.sessions) as s:
        s.execute(update(Team).values(created_at=cst("2026-09-01T00:00:00")))
    monday = cst("2026-11-23T09:10:00")
    first = runners.schedule_periodic(ws, monday, lambda _id: None)
    again = runners.schedule_periodic(ws, monday + dt.timedelta(minutes=30), lambda _id: None)  # a second scheduler
    with session_scope(ws.sessions) as s:
        health = s.scalars(select(Job).where(Job.kind == "kpi_health")).all()
        assert [(j.dedup, j.params["week"]) for j in health] == [("health:kpi:2026-W47", "2026-W47")]
        assert health[0].id in first.created and health[0].id in again.existing
        job_id = health[0].id
    assert runners.execute(ws, job_id, lease_seconds=30) == "done"
    runners.execute(ws, job_id, lease_seconds=30)  # delivered twice: the reports stay one per rep and week
    with session_scope(ws.sessions) as s:
        assert sorted((r.rep_id, r.week, r.job_id) for r in s.scalars(select(HealthReport))) == [("a", "2026-W47", job_id), ("b", "2026-W47", job_id)]
    ws.engine.dispose()


def test_cli_targets_kpis_and_health(tmp_path: Path) -> None:
    from support import fenpei

    (tmp_path / "kpi.yaml").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "reps.csv").write_text("id,name\ne1,Ann\ne2,Bo\n", encoding="utf-8")
    for args in (["init"], ["template", "import", "kpi.yaml", "--publish"], ["team", "create", "east", "--name", "East", "--template", "kpi_test"], ["reps", "import", "east", "reps.csv"]):
        done = fenpei(tmp_path, *args)
        assert done.returncode == 0, done
    plan = "period: 2026-Q4\nmetric: visits\ntree:\n  level: team\n  key: east\n  owner: mgr\n  amount: 10\n  split: manual\n  children:\n    - {level: rep, key: e1, amount: 6}\n    - {level: rep, key: e2, amount: 3}\n"
    (tmp_path / "bad.yaml").write_text(plan, encoding="utf-8")
    bad = fenpei(tmp_path, "targets", "set", "bad.yaml", "--now", "2026-10-01T00:00:00+08:00")
    assert bad.returncode == 1 and bad.stdout.strip() == "bad.yaml:9: $.tree.children: the children of east add up to 9, not 10 (1 short)", bad
    (tmp_path / "plan.yaml").write_text(plan.replace("amount: 3}", "amount: 4}"), encoding="utf-8")
    ok = fenpei(tmp_path, "targets", "set", "plan.yaml", "--now", "2026-10-01T00:00:00+08:00")
    assert ok.returncode == 0 and "kpi_test visits 2026-Q4: version 1" in ok.stdout, ok
    shown = fenpei(tmp_path, "targets", "show", "east", "--metric", "visits", "--period", "2026-Q4", "--history", "--now", "2026-10-02T00:00:00+08:00")
    assert shown.returncode == 0 and "e1 (rep, e1)" in shown.stdout and "version 1 from" in shown.stdout, shown
    rolled = fenpei(tmp_path, "targets", "rollup", "east", "--metric", "visits", "--period", "2026-Q4", "--json", "--now", "2026-10-02T00:00:00+08:00")
    assert rolled.returncode == 0, rolled
    assert [(n["key"], n["target"], n["result"], n["completion"]) for n in json.loads(rolled.stdout)["nodes"]] == [("east", "10.00", "0", "0.0000"), ("e1", "6.00", "0", "0.0000"), ("e2", "4.00", "0", "0.0000")]
    table = fenpei(tmp_path, "kpis", "--team", "east", "--period", "2026-Q4", "--now", "2026-10-02T00:00:00+08:00")
    assert table.returncode == 0 and "fairness among 2 active reps: spread 0, Gini 0" in table.stdout, table
    as_csv = fenpei(tmp_path, "kpis", "--period", "2026-Q4", "--format", "csv", "--now", "2026-10-02T00:00:00+08:00")
    assert as_csv.stdout.splitlines()[0].startswith("team,rep,name,completion") and len(as_csv.stdout.splitlines()) == 4, as_csv
    health = fenpei(tmp_path, "health", "east", "--week", "2026-W40", "--make", "--json", "--now", "2026-10-05T09:00:00+08:00")
    assert health.returncode == 0 and sorted(r["rep"] for r in json.loads(health.stdout)) == ["e1", "e2"], health


def test_api_targets_kpis_and_health(db_url: str, tmp_path: Path) -> None:
    from api_support import ROOT, world as api_world

    from configurator.app import workspace_of

    w = api_world(db_url, tmp_path)
    try:
        with session_scope(workspace_of(w.app).sessions, write_lock=True) as s:
            tmpl_svc.import_draft(s, (ROOT / "templates" / "consumer_goods_regional.yaml").read_text(encoding="utf-8"))
            tmpl_svc.publish(s, "consumer_goods_regional")
            cg = teams_svc.create_team(s, "cg", "快消", "consumer_goods_regional")
            teams_svc.upsert_reps(s, cg, [Rep("c1", "C1"), Rep("c2", "C2")])
        plan = "period: 2026-Q4\nmetric: new_stores\ntree: {level: team, key: cg, owner: boss, amount: 9, split: weights, children: [{level: rep, key: c1, weight: 2}, {level: rep, key: c2}]}\n"
        assert w.call("mgr_east", "POST", "/targets", {"plan": plan}).status_code == 403  # does not manage cg
        made = w.call("admin", "POST", "/targets", {"plan": plan, "at": "2026-10-01T00:00:00+08:00"})
        assert made.status_code == 201 and made.get_json() | {"effective_from": None} == {"template": "consumer_goods_regional", "period": "2026-Q4", "metric": "new_stores", "version": 1, "effective_from": None, "created": True}
        bad = w.call("admin", "POST", "/targets", {"plan": plan.replace("amount: 9", "amount: 9.5")})
        assert bad.status_code == 422 and bad.get_json()["error"]["problems"][0]["path"] == "$.tree.amount", bad.get_json()
        tree = w.call("admin", "GET", "/teams/cg/targets?metric=new_stores&period=2026-Q4&history=true").get_json()
        assert [(n["key"], n["target"]) for n in tree["nodes"]] == [("cg", "9.00"), ("c1", "6.00"), ("c2", "3.00")] and len(tree["versions"]) == 1
        assert w.call("mgr_east", "GET", "/teams/cg/kpis").status_code == 403
        kpis = w.call("admin", "GET", "/teams/cg/kpis?period=2026-11")
        assert kpis.status_code == 200 and [r["rep"] for r in kpis.get_json()["reps"]] == ["c1", "c2"]
        made_health = w.call("admin", "POST", "/teams/cg/health", {"week": "2026-W47"})
        assert made_health.status_code == 201 and made_health.get_json()["reports"] == 2
        assert [r["rep"] for r in w.call("admin", "GET", "/teams/cg/health?week=2026-W47").get_json()] == ["c1", "c2"]
    finally:
        w.close()
