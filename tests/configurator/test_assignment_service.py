"""The assignment service: batches applied in one transaction, audited, idempotent; reassign; explain.

Every test runs on SQLite and on PostgreSQL (``db_url``); the CLI test runs the real ``fenpei``
on the embedded SQLite database.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import fenpei
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.models import AuditEvent, Lead, PointEntry, PoolClaim, RotationState
from configurator.models import Leave as LeaveRow
from configurator.services import assignment as svc
from configurator.services import leads as leads_svc
from configurator.services import roster as roster_svc
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from rule_engine import Leave, Rep

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # a Monday in Shanghai

TEMPLATE = """\
fenpei: 1
name: assign_test
title: {zh: 分配测试, en: Assignment test}
timezone: Asia/Shanghai
fields:
  company: {type: string, title: {zh: 公司, en: Company}}
  route: {type: enum, options: [rotate, least, pool, escalate]}
  size: {type: integer}
rep_fields:
  level: {type: enum, options: [junior, senior]}
load:
  weights:
    - {when: 'size >= 100', weight: 2}
  default_weight: 1
  cap: 5
  daily_quota: 2
assignment:
  policies:
    - {name: rotation, when: 'route == "rotate"', strategy: round_robin, on_no_candidate: pool}
    - {name: balance, when: 'route == "least"', strategy: least_loaded, on_no_candidate: escalate}
    - {name: parked, when: 'route == "pool"', strategy: pool}
  otherwise: escalate
"""

POINTS = """\
points:
  period: month
  rules:
    - {name: took, title: {zh: 接单, en: Took a lead}, "on": lead.assigned, amount: 1, once: per_lead}
    - {name: busy, "on": lead.assigned, amount: 2, cap: 5}
"""

REPS = [Rep("r1", "Ann", {"level": "junior"}), Rep("r2", "Bo", {"level": "senior"}), Rep("r3", "Cy"), Rep("r4", "Di", status="paused")]
ROUTES = ["rotate", "rotate", "rotate", "rotate", "least", "pool", "escalate"]


@pytest.fixture()
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def setup_team(sessions: sessionmaker[Session], source: str = TEMPLATE, routes: list[str] = ROUTES, reps: list[Rep] = REPS) -> None:
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, source)
        version = tmpl_svc.publish(s, "assign_test")
        team = teams_svc.create_team(s, "east", "华东", "assign_test")
        teams_svc.upsert_reps(s, team, reps)
        for i, route in enumerate(routes):
            leads_svc.add_lead(s, team, version, {"id": f"L{i}", "company": "Acme", "route": route}, NOW - dt.timedelta(hours=1) + dt.timedelta(minutes=i))


def add_leads(sessions: sessionmaker[Session], routes: list[str], start: int) -> None:
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "east")
        version = tmpl_svc.get_version(s, "assign_test")
        for i, route in enumerate(routes, start):
            leads_svc.add_lead(s, team, version, {"id": f"L{i}", "company": "Acme", "route": route}, NOW + dt.timedelta(minutes=i))


def run_batch(sessions: sessionmaker[Session], now: dt.datetime = NOW, **kw: Any) -> svc.AssignResult:
    with session_scope(sessions, write_lock=True) as s:
        return svc.assign_pending(s, teams_svc.get_team(s, "east"), now, **kw)


def test_assign_audit_rotation_and_a_second_call(sessions: sessionmaker[Session], db_url: str) -> None:
    setup_team(sessions)
    result = run_batch(sessions, actor="nightly", limit=50)
    # round robin r1, r2, r3, r1 (r4 is paused); least loaded: r2 and r3 tie at load 1, r2 first by id
    assert result.assigned == {"L0": "r1", "L1": "r2", "L2": "r3", "L3": "r1", "L4": "r2"}
    assert result.pool == ["L5"] and result.escalated == ["L6"] and result.errors == []
    assert result.counts == {"assigned": 5, "pool": 1, "escalated": 1, "error": 0}
    assert result.per_rep == {"r1": 2, "r2": 2, "r3": 1} and result.template_version == 1
    with session_scope(sessions) as s:
        leads = {lead.id: lead for lead in s.scalars(select(Lead))}
        assert {i: (lead.state, lead.owner_id) for i, lead in leads.items()} == {
            "L0": ("owned", "r1"), "L1": ("owned", "r2"), "L2": ("owned", "r3"), "L3": ("owned", "r1"),
            "L4": ("owned", "r2"), "L5": ("pool", None), "L6": ("escalated", None),
        }
        assert all(lead.revision == 1 and lead.template_version_id == result.template_version_id for lead in leads.values())
        assigned_at = leads["L0"].assigned_at
        assert assigned_at is not None and assigned_at.replace(tzinfo=None) == dt.datetime(2026, 11, 23, 1, 0)  # stored in UTC
        assert leads["L5"].assigned_at is None
        audit = s.scalars(select(AuditEvent).where(AuditEvent.lead_id.is_not(None)).order_by(AuditEvent.id)).all()
        assert [(a.lead_id, a.action, a.to_rep_id, a.rule, a.actor) for a in audit] == [
            ("L0", "assign", "r1", "rotation", "nightly"), ("L1", "assign", "r2", "rotation", "nightly"),
            ("L2", "assign", "r3", "rotation", "nightly"), ("L3", "assign", "r1", "rotation", "nightly"),
            ("L4", "assign", "r2", "balance", "nightly"), ("L5", "pool", None, "parked", "nightly"),
            ("L6", "escalate", None, None, "nightly"),
        ]
        # The row keeps the decision's record, not sentences: they are rendered from it and the version.
        least = audit[4].explanation
        assert least is not None and least["decision"]["policies"][0]["chosen"] == "r2" and "en" not in least
        (en,) = svc.explain_lead(s, "L4", "en")
        assert en.trace is not None and en.trace["policies"][0]["chosen"] == "r2"
        assert "Ann (2 today, daily quota 2: skipped)" in en.sentence and en.sentence.endswith("→ assigned to Bo")
        (zh,) = svc.explain_lead(s, "L4", "zh")
        assert zh.sentence.endswith("→ 分配给 Bo") and "Di(已暂停接单,跳过)" in zh.sentence
        assert svc.explain_lead(s, "L6", "en")[0].sentence.endswith("→ escalated to a manager")
        rotation = s.scalars(select(RotationState)).one()
        assert rotation.revision == 1 and rotation.state["cursors"] == {"rotation": "r1", "balance": "r2"}
    # a second call finds nothing pending and changes nothing
    again = run_batch(sessions)
    assert again.total == 0 and again.assigned == {}
    with session_scope(sessions) as s:
        assert s.scalars(select(RotationState.revision)).one() == 1
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.lead_id.is_not(None))) == 7
    # later the same day: quotas count what earlier batches gave (r1 and r2 are at 2 today)
    add_leads(sessions, ["rotate", "rotate", "rotate"], 7)
    later = run_batch(sessions, NOW + dt.timedelta(hours=2), limit=2)
    assert later.assigned == {"L7": "r3"} and later.pool == ["L8"]
    assert run_batch(sessions, NOW + dt.timedelta(hours=2)).pool == ["L9"]
    # the next day the quotas start again; the cap (5) still counts the open leads
    add_leads(sessions, ["rotate"] * 6, 10)
    tomorrow = run_batch(sessions, NOW + dt.timedelta(days=1))
    assert tomorrow.per_rep == {"r1": 2, "r2": 2, "r3": 2}
    if db_url.startswith("sqlite"):
        with pytest.raises(svc.ServiceError) as no_lock:
            with session_scope(sessions) as s:
                svc.assign_pending(s, teams_svc.get_team(s, "east"), NOW)
        assert "write lock" in no_lock.value.problems[0].en


def test_timestamps_read_back_as_the_same_instant(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions, routes=["rotate"])
    run_batch(sessions, NOW + dt.timedelta(minutes=5))
    with session_scope(sessions) as s:
        template = tmpl_svc.compiled(tmpl_svc.get_version(s, "assign_test"))
        record = leads_svc.record_of(template, s.get(Lead, "L0"))  # type: ignore[arg-type]
    assert record["created_at"] == NOW - dt.timedelta(hours=1) and record["assigned_at"] == NOW + dt.timedelta(minutes=5)


def test_snapshot_is_derived_from_rows(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions, TEMPLATE + POINTS, routes=[])
    utc = dt.timezone.utc
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "east")
        s.add(LeaveRow(rep_id="r3", start=dt.date(2026, 11, 22), end=dt.date(2026, 11, 24)))
        version = tmpl_svc.get_version(s, "assign_test")
        base = {"team_id": team.id, "fields": {}, "created_at": NOW, "state": "owned", "owner_id": "r1", "template_version_id": version.id}
        s.add_all(
            [
                Lead(id="A", weight=2.0, is_open=True, **base),
                Lead(id="B", weight=5.0, is_open=False, **base),  # closed: not in the load
                Lead(id="C", weight=1.0, is_open=True, from_pool=True, **base),
                Lead(id="D", weight=9.0, is_open=True, **{**base, "state": "pool", "owner_id": None}),
            ]
        )
        s.flush()
        # Shanghai day of NOW is [2026-11-22T16:00Z, 2026-11-23T16:00Z); its ISO week starts 2026-11-22T16:00Z too (Monday)
        for at, action, rep in [
            (dt.datetime(2026, 11, 23, 0, 30, tzinfo=utc), "assign", "r1"),
            (dt.datetime(2026, 11, 22, 16, 0, tzinfo=utc), "claim", "r1"),  # first moment of the day
            (dt.datetime(2026, 11, 22, 15, 59, tzinfo=utc), "assign", "r1"),  # last week (Sunday night in Shanghai)
            (dt.datetime(2026, 11, 23, 15, 59, tzinfo=utc), "reassign", "r2"),
            (dt.datetime(2026, 11, 24, 3, 0, tzinfo=utc), "assign", "r2"),  # tomorrow, same week
            (dt.datetime(2026, 11, 23, 1, 0, tzinfo=utc), "reclaim", "r2"),  # not an assignment
        ]:
            s.add(AuditEvent(at=at, team_id=team.id, actor="t", action=action, lead_id="A", to_rep_id=rep))
        s.add(PoolClaim(lead_id="C", rep_id="r1", at=dt.datetime(2026, 11, 23, 2, 0, tzinfo=utc)))
        s.add(PoolClaim(lead_id="C", rep_id="r1", at=dt.datetime(2026, 11, 21, 2, 0, tzinfo=utc)))
        for key, period, amount in [("k1", "2026-11", 3), ("k2", "2026-11", 4.5), ("k3", "2026-10", 100)]:
            s.add(PointEntry(key=key, team_id=team.id, rep_id="r2", rule="took", amount=amount, period=period, event_id=key))
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "east")
        reps = {r.id: r for r in roster_svc.snapshot(s, team, tmpl_svc.compiled(tmpl_svc.get_version(s, "assign_test")), NOW)}
    assert list(reps) == ["r1", "r2", "r3", "r4"]
    r1, r2, r3 = reps["r1"], reps["r2"], reps["r3"]
    assert (r1.load, r1.open_count, r1.held_from_pool) == (3.0, 2, 1)
    assert (r1.assigned_today, r1.assigned_week, r1.claims_today) == (2, 2, 1)
    assert (r2.assigned_today, r2.assigned_week, r2.points, r2.load) == (1, 2, 7.5, 0.0)
    assert r3.leaves == (Leave(dt.date(2026, 11, 22), dt.date(2026, 11, 24)),) and r3.unavailable_reason(NOW.date()) == "on_leave"
    assert r1.attrs == {"level": "junior"} and r1.team == "east" and reps["r4"].status == "paused"


def test_points_are_written_once(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions, TEMPLATE + POINTS)
    first = run_batch(sessions)
    assert first.points == 5 + 5

    def ledger() -> list[tuple[str, str, str | None, float]]:
        with session_scope(sessions) as s:
            return [(r.key, r.rep_id, r.lead_id, float(r.amount)) for r in s.scalars(select(PointEntry).where(PointEntry.rule == "busy"))]

    def took() -> Counter[str]:
        with session_scope(sessions) as s:
            return Counter(s.scalars(select(PointEntry.lead_id).where(PointEntry.rule == "took")))

    busy = ledger()
    # busy: 2 per assignment, at most 5 a month per rep: r1 and r2 got 2 + 2, the cap cuts nothing yet
    assert Counter(rep for _, rep, _, _ in busy) == {"r1": 2, "r2": 2, "r3": 1}
    assert took() == {f"L{i}": 1 for i in range(5)}
    # The same batch delivered again (the leads back to new at the same revision): no new entries.
    with session_scope(sessions) as s:
        s.execute(update(Lead).where(Lead.state == "owned").values(state="new", owner_id=None, revision=Lead.revision - 1))
        s.execute(text("DELETE FROM audit_events"))  # quotas start over: only the ledger remembers
        s.execute(update(RotationState).values(state={}))
    again = run_batch(sessions)
    assert again.assigned == first.assigned and again.points == 0
    assert ledger() == busy and took() == {f"L{i}": 1 for i in range(5)}
    # A real reassignment later (a new revision): `took` is once per lead, `busy` is per event, capped at 5.
    with session_scope(sessions) as s:
        s.execute(update(Lead).where(Lead.state == "owned").values(state="new", owner_id=None))
        s.execute(text("DELETE FROM audit_events"))
        s.execute(update(RotationState).values(state={}))
    third = run_batch(sessions, NOW + dt.timedelta(hours=1))
    assert third.assigned == first.assigned
    totals: Counter[str] = Counter()
    for _, rep, _, amount in ledger():
        totals[rep] += amount
    assert totals == {"r1": 5, "r2": 5, "r3": 4}  # r1, r2: 4 + 2 capped to 5; r3: 2 + 2
    assert took() == {f"L{i}": 1 for i in range(5)}
    with session_scope(sessions) as s:
        keys = s.scalars(select(PointEntry.key)).all()
        assert len(keys) == len(set(keys))
        assert s.scalars(select(PointEntry.reason).where(PointEntry.rule == "took").limit(1)).one().startswith("+1 points: Took a lead")
        # the roster snapshot reads the ledger: points this month
        snap = roster_svc.snapshot(s, teams_svc.get_team(s, "east"), tmpl_svc.compiled(tmpl_svc.get_version(s, "assign_test")), NOW)
        assert {r.id: r.points for r in snap} == {"r1": 7.0, "r2": 7.0, "r3": 5.0, "r4": 0}


def test_a_lead_changed_meanwhile_rolls_back_the_whole_batch(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    setup_team(sessions)
    real = svc.snapshot

    def racing_snapshot(session: Session, *args: Any) -> Any:
        # someone else edits L2 after the batch read it
        session.execute(update(Lead).where(Lead.id == "L2").values(revision=Lead.revision + 1))
        return real(session, *args)

    monkeypatch.setattr(svc, "snapshot", racing_snapshot)
    with session_scope(sessions, write_lock=True) as s:
        with pytest.raises(svc.ServiceError) as info:
            svc.assign_pending(s, teams_svc.get_team(s, "east"), NOW)
        # the caller swallows the error and commits: still nothing of the batch is applied
    assert "1 of 7 leads changed" in info.value.problems[0].en and "nothing was applied" in info.value.problems[0].en
    with session_scope(sessions) as s:
        assert set(s.scalars(select(Lead.state))) == {"new"} and set(s.scalars(select(Lead.owner_id))) == {None}
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.lead_id.is_not(None))) == 0
        assert s.scalars(select(RotationState.revision)).one() == 0
    monkeypatch.setattr(svc, "snapshot", real)
    assert run_batch(sessions).counts["assigned"] == 5


def test_each_explanation_reads_back_as_the_engine_said_it(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    # Caps, quotas, paused reps, the pool and escalation: every kind of sentence, each lead's
    # rendered later from its audit row alone, must be the one the engine gave when it decided.
    setup_team(sessions, routes=ROUTES * 4)
    said: dict[str, dict[str, str]] = {}
    real = svc.engine_assign

    def listening(template: Any, *args: Any, **kw: Any) -> Any:
        outcome = real(template, *args, **kw)
        for d in outcome.decisions:
            said[d.lead_id] = {lang: d.explain(template, lang) for lang in ("en", "zh")}
        return outcome

    monkeypatch.setattr(svc, "engine_assign", listening)
    result = run_batch(sessions)
    assert result.total == 28 and set(result.counts.values()) != {0} and len(said) == 28
    with session_scope(sessions) as s:
        for lead_id, sentences in said.items():
            for lang, sentence in sentences.items():
                (entry,) = svc.explain_lead(s, lead_id, lang)
                assert entry.sentence == sentence, (lead_id, lang)
    assert any("skipped" in x["en"] for x in said.values()) and any("跳过" in x["zh"] for x in said.values())


def test_a_lead_that_cannot_be_evaluated_is_escalated_with_its_reason(sessions: sessionmaker[Session]) -> None:
    # Two rows of a `unique` table both match "Acme Corp": the engine reports it for that lead only.
    source = TEMPLATE.replace("load:", """segments:
  - name: size_label
    hit_policy: unique
    rules:
      - {when: 'len(company) > 3', output: long}
      - {when: 'len(company) > 5', output: very_long}
    default: short
load:""", 1)
    setup_team(sessions, source, routes=["rotate", "rotate"])
    with session_scope(sessions) as s:
        s.execute(update(Lead).where(Lead.id == "L1").values(fields={"company": "Acme Corp", "route": "rotate"}))
    result = run_batch(sessions)
    assert result.errors == ["L1"] and result.assigned == {"L0": "r1"}
    with session_scope(sessions) as s:
        lead = s.get(Lead, "L1")
        assert lead is not None and (lead.state, lead.owner_id, lead.revision) == ("escalated", None, 1)
        (entry,) = svc.explain_lead(s, "L1", "en")
        assert entry.action == "escalate" and entry.sentence.startswith("could not evaluate: table 'size_label'")
        assert svc.explain_lead(s, "L1", "zh")[0].sentence.startswith("无法评估")


def test_reassign_with_a_reason_and_refusals(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions, routes=["rotate", "rotate", "rotate", "pool", "rotate"])
    run_batch(sessions)  # L0 r1, L1 r2, L2 r3, L3 pool, L4 r1

    def refused(lead: str, rep: str, reason: str = "why", **kw: Any) -> str:
        with pytest.raises(svc.ServiceError) as info:
            with session_scope(sessions, write_lock=True) as s:
                svc.reassign(s, lead, rep, reason, "boss", NOW, **kw)
        return info.value.problems[0].message("en")

    assert refused("L0", "r2", reason="  ") == "a reassignment needs a reason"
    assert refused("L404", "r2") == "no lead 'L404'"
    assert refused("L0", "r22") == "no rep 'r22' in team 'east' (did you mean 'r2'?)"
    assert refused("L0", "r4") == "r4 cannot take leads: paused"
    assert refused("L0", "r1") == "r1 already owns lead L0"
    assert refused("L1", "r1") == "r1 has reached the daily quota (2)"
    assert refused("L0", "r2", expected_revision=0) == "lead L0 changed meanwhile; reload it and try again"
    with session_scope(sessions) as s:
        other = teams_svc.create_team(s, "west", "西区", "assign_test")
        teams_svc.upsert_reps(s, other, [Rep("w1", "Wu")])
    assert refused("L0", "w1") == "rep 'w1' is not in team 'east'"
    with session_scope(sessions, write_lock=True) as s:
        lead = svc.reassign(s, "L0", "r2", "r2 knows the customer", "boss", NOW, expected_revision=1)
        assert (lead.owner_id, lead.previous_owner_id, lead.state, lead.revision) == ("r2", "r1", "owned", 2)
    with session_scope(sessions, write_lock=True) as s:
        svc.reassign(s, "L3", "r3", "from the pool by hand", "boss", NOW)
    # r2 now has 2 today (L1, L0); r3 too (L2, L3)
    assert refused("L4", "r2") == "r2 has reached the daily quota (2)"
    with session_scope(sessions) as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "reassign").order_by(AuditEvent.id)).all()
        assert [(a.lead_id, a.from_rep_id, a.to_rep_id, a.actor, a.reason) for a in rows] == [
            ("L0", "r1", "r2", "boss", "r2 knows the customer"),
            ("L3", None, "r3", "boss", "from the pool by hand"),
        ]
        trail = svc.explain_lead(s, "L0", "en")
        assert [e.action for e in trail] == ["assign", "reassign"]
        assert trail[0].sentence.endswith("→ assigned to Ann") and trail[0].rule == "rotation" and trail[0].template_version == 1
        assert trail[1].sentence == "reassigned by boss from Ann to Bo: r2 knows the customer"
        assert svc.explain_lead(s, "L0", "zh")[1].sentence == "boss 将线索从 Ann 改派给 Bo:r2 knows the customer"
        assert svc.explain_lead(s, "L3", "zh")[0].sentence.endswith("→ 进入公海")
        with pytest.raises(svc.ServiceError):
            svc.explain_lead(s, "nope", "en")
        assert svc.explain_lead(s, "L3", "en")[1].line().startswith("2026-11-23T01:00:00+00:00 reassign (v1) by boss: assigned by boss to Cy")


def test_cap_holds_with_weighted_leads(sessions: sessionmaker[Session]) -> None:
    template = TEMPLATE.replace("daily_quota: 2", "daily_quota: 100")
    setup_team(sessions, template, routes=[], reps=[Rep("r1", "Ann"), Rep("r2", "Bo")])
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "east")
        version = tmpl_svc.get_version(s, "assign_test")
        for i in range(8):
            leads_svc.add_lead(s, team, version, {"id": f"W{i}", "company": "Acme", "route": "rotate", "size": 100 if i % 2 else 1}, NOW + dt.timedelta(minutes=i))
    run_batch(sessions, limit=3)
    run_batch(sessions)
    with session_scope(sessions) as s:
        loads = dict(s.execute(select(Lead.owner_id, func.sum(Lead.weight)).where(Lead.state == "owned").group_by(Lead.owner_id)).all())
        assert all(load <= 5 for load in loads.values()) and sum(loads.values()) >= 8
        assert s.scalar(select(func.count()).select_from(Lead).where(Lead.state == "pool")) > 0


# ------------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------------


def test_cli_team_reps_leads_assign_reassign_explain(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "reps.csv").write_text("id,name,level,status\nr1,Ann,junior,active\nr2,Bo,senior,active\nr3,Cy,,paused\n", encoding="utf-8")
    (tmp_path / "bad.csv").write_text("id,name,level\nr9,X,master\n", encoding="utf-8")
    assert fenpei(tmp_path, "init").returncode == 0
    assert "no published version" in fenpei(tmp_path, "team", "create", "east", "--name", "East", "--template", "assign_test").stdout
    assert fenpei(tmp_path, "template", "import", "t.yaml", "--publish").returncode == 0
    assert "team east created" in fenpei(tmp_path, "team", "create", "east", "--name", "East", "--template", "assign_test").stdout
    dup = fenpei(tmp_path, "team", "create", "east", "--name", "East", "--template", "assign_test")
    assert dup.returncode == 1 and "team 'east' already exists" in dup.stdout
    assert "3 reps created, 0 updated" in fenpei(tmp_path, "reps", "import", "east", "reps.csv").stdout
    bad = fenpei(tmp_path, "reps", "import", "east", "bad.csv")
    assert bad.returncode == 1 and bad.stdout.strip() == "bad.csv:2: level: 'master' is not one of: junior, senior"
    assert fenpei(tmp_path, "reps", "import", "esat", "reps.csv").stdout.strip() == "no team 'esat' (did you mean 'east'?)"
    for i, route in enumerate(["rotate", "rotate", "rotate", "pool"]):
        added = fenpei(tmp_path, "leads", "add", "east", "--field", f"id=L{i}", "--field", "company=Acme", "--field", f"route={route}", "--now", "2026-11-23T09:00:00+08:00")
        assert added.returncode == 0 and f"lead L{i} added" in added.stdout
    wrong = fenpei(tmp_path, "leads", "add", "east", "--field", "route=roate", "--field", "compnay=x", "--field", "size=big")
    assert wrong.returncode == 1
    assert wrong.stdout.splitlines() == [
        "compnay: unknown field (did you mean 'company'?)",
        "route: 'roate' is not one of: rotate, least, pool, escalate (did you mean 'rotate'?)",
        "size: 'big' is not a valid integer",
    ]
    assert fenpei(tmp_path, "leads", "add", "east", "--field", "oops").stdout.strip() == "--field: 'oops' is not NAME=VALUE"
    done = fenpei(tmp_path, "assign", "east", "--limit", "3", "--now", "2026-11-23T10:00:00+08:00")
    assert done.stdout.splitlines() == ["east: assigned 3 (template version 1)", "  r1           +2", "  r2           +1"]
    rest = fenpei(tmp_path, "assign", "east", "--now", "2026-11-23T10:00:00+08:00")
    assert rest.stdout.splitlines()[0] == "east: assigned 0 · pool 1 (template version 1)"
    assert fenpei(tmp_path, "assign", "east").stdout.strip() == "east: no pending leads"
    assert fenpei(tmp_path, "assign", "east", "--now", "yesterday").returncode == 1
    moved = fenpei(tmp_path, "reassign", "L1", "r1", "--reason", "speaks the dialect", "--now", "2026-11-23T10:00:00+08:00")
    assert moved.returncode == 1 and moved.stdout.strip() == "r1 has reached the daily quota (2)"
    moved = fenpei(tmp_path, "reassign", "L0", "r2", "--reason", "speaks the dialect", "--now", "2026-11-23T10:00:00+08:00")
    assert moved.returncode == 0 and moved.stdout.strip() == "lead L0 reassigned from r1 to r2"
    paused = fenpei(tmp_path, "--lang", "zh", "reassign", "L0", "r3", "--reason", "x")
    assert paused.returncode == 1 and paused.stdout.strip() == "r3 无法接收线索:已暂停接单"
    trail = fenpei(tmp_path, "explain", "L0").stdout.splitlines()
    assert trail[0] == "lead L0: owned, owner r2"
    assert trail[1].startswith("2026-11-23T10:00:00+08:00 assign (v1, rotation) by lead-manager: load weight 1 (default); policy rotation (round_robin)")
    assert trail[2] == "2026-11-23T10:00:00+08:00 reassign (v1) by lead-manager: reassigned by lead-manager from Ann to Bo: speaks the dialect"
    zh = fenpei(tmp_path, "explain", "L3", "--lang", "zh").stdout.splitlines()
    assert zh[0] == "线索 L3:在公海" and zh[1].endswith("→ 进入公海")
    missing = fenpei(tmp_path, "explain", "L9")
    assert missing.returncode == 1 and missing.stdout.strip() == "no lead 'L9'"
