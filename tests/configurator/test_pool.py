"""The public pool: follow-ups, the reclaim sweep (reminders, notifications, re-offer), claims, releases, points.

Every test runs on SQLite and on PostgreSQL (``db_url``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support import fenpei
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.models import AuditEvent, FollowUp, Lead, Notification, PointEntry, PoolClaim
from configurator.services import assignment as assign_svc
from configurator.services import leads as leads_svc
from configurator.services import points as points_svc
from configurator.services import pool as svc
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from configurator.services.templates import ServiceError
from rule_engine import InputError, Rep

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # a Monday in Shanghai
DAY = dt.timedelta(days=1)

TEMPLATE = """\
fenpei: 1
name: pool_test
title: {zh: 公海测试, en: Pool test}
timezone: Asia/Shanghai
fields:
  company: {type: string}
  tier: {type: enum, options: [A, B]}
  stage: {type: enum, options: [new, negotiation], default: new}
rep_fields:
  level: {type: enum, options: [junior, senior]}
load:
  default_weight: 1
  cap: 20
assignment:
  policies:
    - {name: rotation, strategy: round_robin, on_no_candidate: pool}
reclaim:
  rules:
    - name: no_first_followup
      title: {zh: 3 天未首次跟进, en: No first follow-up within 3 days}
      since: assigned
      days: 3
      when: 'followup_count == 0 and tier == "B"'
      remind_before_days: 1
      action: pool
      notify: [owner, manager]
    - name: key_stale
      title: {zh: A 类 3 天未跟进改派, en: Tier A not followed up for 3 days}
      since: last_followup
      days: 3
      when: 'tier == "A"'
      action: reassign
  protected: 'stage == "negotiation"'
  cooldown_days: 7
  claim:
    daily_limit: 2
    max_held: 3
    eligible: 'rep.level == "senior" or tier == "B"'
points:
  period: month
  rules:
    - {name: touch, "on": followup.logged, amount: 1, once: per_lead}
    - {name: lost, "on": lead.reclaimed, amount: -5, to: previous_owner}
    - {name: month_end, "on": period.ended, amount: 3}
forms:
  followup:
    fields:
      method: {type: enum, options: [call, visit], required: true}
      summary: {type: string, required: true, min_length: 2}
      visit_notes: {type: text, visible_when: 'method == "visit"', required_when: 'method == "visit"'}
"""

REPS = [
    Rep("r1", "Ann", {"level": "senior"}, manager="m1"),
    Rep("r2", "Bo", {"level": "junior"}, manager="m1"),
    Rep("r3", "Cy", {"level": "senior"}, manager="m2"),
]


@pytest.fixture()
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def setup(sessions: sessionmaker[Session], tiers: list[str]) -> dict[str, str]:
    """Leads L0.. with the given tiers, assigned at T0 by rotation; returns lead -> owner."""
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, TEMPLATE)
        version = tmpl_svc.publish(s, "pool_test")
        team = teams_svc.create_team(s, "east", "华东", "pool_test")
        teams_svc.upsert_reps(s, team, REPS)
        for i, tier in enumerate(tiers):
            leads_svc.add_lead(s, team, version, {"id": f"L{i}", "company": "Acme", "tier": tier}, T0 - dt.timedelta(hours=1) + dt.timedelta(minutes=i))
    with session_scope(sessions, write_lock=True) as s:
        return assign_svc.assign_pending(s, teams_svc.get_team(s, "east"), T0).assigned


def sweep(sessions: sessionmaker[Session], now: dt.datetime, **kw: Any) -> svc.SweepResult:
    return svc.run_sweep(sessions, "east", now, **kw)


def followup(sessions: sessionmaker[Session], lead: str, rep: str, now: dt.datetime, **data: Any) -> FollowUp:
    with session_scope(sessions, write_lock=True) as s:
        return svc.log_followup(s, lead, rep, data or {"method": "call", "summary": "called"}, now)


def leads(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str | None]]:
    with session_scope(sessions) as s:
        return {lead.id: (lead.state, lead.owner_id) for lead in s.scalars(select(Lead))}


def test_followup_validates_the_form_and_belongs_to_the_owner(sessions: sessionmaker[Session]) -> None:
    owners = setup(sessions, ["B", "B"])
    assert owners == {"L0": "r1", "L1": "r2"}
    with pytest.raises(InputError) as bad:
        followup(sessions, "L0", "r1", T0 + DAY, method="visit", summary="x")
    assert sorted((p.path, p.code) for p in bad.value.problems) == [(("summary",), "field.min_length"), (("visit_notes",), "field.required")]
    with pytest.raises(ServiceError) as other:
        followup(sessions, "L0", "r2", T0 + DAY)
    assert other.value.problems[0].code == "followup.owner" and "owned by r1" in other.value.problems[0].en
    with session_scope(sessions, write_lock=True) as s, pytest.raises(ServiceError) as future:
        svc.log_followup(s, "L0", "r1", {"method": "call", "summary": "ok"}, T0 + DAY, at=T0 + 2 * DAY)
    assert future.value.problems[0].code == "followup.future"
    done = followup(sessions, "L0", "r1", T0 + DAY, method="visit", summary="on site", visit_notes="met the CIO")
    assert done.data == {"method": "visit", "summary": "on site", "visit_notes": "met the CIO"}
    followup(sessions, "L0", "r1", T0 + 2 * DAY)
    with session_scope(sessions) as s:
        lead = s.get(Lead, "L0")
        assert lead is not None and lead.followup_count == 2 and lead.revision == 3
        assert lead.first_followup_at is not None and lead.last_followup_at is not None
        assert lead.last_followup_at.replace(tzinfo=None) == (T0 + 2 * DAY).astimezone(dt.timezone.utc).replace(tzinfo=None)
        # once per lead: the second follow-up earns nothing more
        assert [(e.rep_id, e.rule, e.amount) for e in s.scalars(select(PointEntry))] == [("r1", "touch", Decimal("1.00"))]


def test_sweep_reminds_then_reclaims_notifies_and_audits_once(sessions: sessionmaker[Session]) -> None:
    setup(sessions, ["B", "B", "B"])
    followup(sessions, "L1", "r2", T0 + DAY)  # L1 followed up: no rule holds any more
    early = sweep(sessions, T0 + 1.5 * DAY)
    assert early.reminded == [] and early.reclaimed == []
    reminded = sweep(sessions, T0 + 2.5 * DAY)
    assert [(r["lead"], r["owner"], r["rule"]) for r in reminded.reminded] == [("L0", "r1", "no_first_followup"), ("L2", "r3", "no_first_followup")]
    assert reminded.reclaimed == [] and reminded.notifications == 4  # owner and manager each
    again = sweep(sessions, T0 + 2.6 * DAY)
    assert again.reminded == [] and again.notifications == 0
    with session_scope(sessions) as s:
        notes = s.scalars(select(Notification).order_by(Notification.id)).all()
        assert [(n.kind, n.recipient, n.role, n.lead_id) for n in notes] == [
            ("remind", "r1", "owner", "L0"), ("remind", "m1", "manager", "L0"), ("remind", "r3", "owner", "L2"), ("remind", "m2", "manager", "L2"),
        ]
        assert "reclaims at 2026-11-26T09:00+08:00" in notes[0].message_en and "回收期限" in notes[0].message_zh  # in the team's timezone

    done = sweep(sessions, T0 + 3 * DAY + dt.timedelta(minutes=1))
    assert [(r["lead"], r["owner"], r["rule"], r["then"]) for r in done.reclaimed] == [("L0", "r1", "no_first_followup", "pool"), ("L2", "r3", "no_first_followup", "pool")]
    assert done.pooled == ["L0", "L2"] and done.points == 2
    assert leads(sessions) == {"L0": ("pool", None), "L1": ("owned", "r2"), "L2": ("pool", None)}
    with session_scope(sessions) as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "reclaim").order_by(AuditEvent.id)).all()
        assert [(a.lead_id, a.from_rep_id, a.rule, a.actor) for a in audit] == [("L0", "r1", "no_first_followup", "system"), ("L2", "r3", "no_first_followup", "system")]
        assert all(a.template_version_id is not None and a.explanation and a.explanation["verdict"]["rule"] == "no_first_followup" for a in audit)
        # the sentence is rendered from the stored verdict and the template version, in either language
        reclaimed = [e for e in assign_svc.explain_lead(s, "L0") if e.action == "reclaim"]
        assert [e.sentence for e in reclaimed] == [
            "reclaimed by rule no_first_followup (No first follow-up within 3 days): deadline 2026-11-26T09:00+08:00 passed; back to the pool"
        ]
        assert [e.sentence for e in assign_svc.explain_lead(s, "L0", "zh") if e.action == "reclaim"] == [
            "按规则 no_first_followup(3 天未首次跟进)回收:期限 2026-11-26T09:00+08:00 已过,回到公海"
        ]
        lead = s.get(Lead, "L0")
        assert lead is not None and lead.previous_owner_id == "r1" and lead.reclaim_count == 1 and lead.revision == 2
        assert [(e.rep_id, e.rule, e.amount) for e in s.scalars(select(PointEntry).where(PointEntry.rule == "lost").order_by(PointEntry.rep_id))] == [
            ("r1", "lost", Decimal("-5.00")), ("r3", "lost", Decimal("-5.00"))]
    twice = sweep(sessions, T0 + 3 * DAY + dt.timedelta(minutes=1))
    assert twice.reclaimed == [] and twice.points == 0 and twice.notifications == 0
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "reclaim")) == 2
        assert s.scalar(select(func.count()).select_from(PointEntry)) == 3


def test_a_notice_per_person_and_rule_names_every_lead(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(svc, "NOTICE_SHOWN", 3)  # the message names 3 leads; ``leads`` holds them all
    owners = setup(sessions, ["B"] * 8)  # rotation: r1 L0 L3 L6, r2 L1 L4 L7, r3 L2 L5
    reminded = sweep(sessions, T0 + 2.5 * DAY)
    assert len(reminded.reminded) == 8
    assert reminded.notifications == 5  # r1, r2, r3 (owner) and m1 (r1 and r2), m2 (r3) as manager
    with session_scope(sessions) as s:
        notes = {(n.recipient, n.role): n for n in s.scalars(select(Notification).where(Notification.kind == "remind"))}
        assert sorted(notes) == [("m1", "manager"), ("m2", "manager"), ("r1", "owner"), ("r2", "owner"), ("r3", "owner")]
        m1 = notes[("m1", "manager")]
        assert m1.lead_count == 6 and m1.lead_id is None and m1.rule == "no_first_followup"
        assert [lead for lead, _, _ in m1.leads] == ["L0", "L1", "L3", "L4", "L6", "L7"]
        assert {(lead, owner) for lead, owner, _ in m1.leads} == {(lead, owners[lead]) for lead in ("L0", "L1", "L3", "L4", "L6", "L7")}
        assert all(when.startswith("2026-11-26T09:0") and when.endswith("+08:00") for _, _, when in m1.leads)  # in the team's timezone
        assert m1.message_en.startswith("6 leads: reminder: rule no_first_followup (No first follow-up within 3 days) reclaims them")
        assert m1.message_en.count(" (r") == 3 and m1.message_en.endswith("; and 3 more")  # 3 leads named, then how many more
        assert m1.message_zh.startswith("6 条线索:提醒:规则 no_first_followup(3 天未首次跟进)") and m1.message_zh.endswith(";另有 3 条")
        r3 = notes[("r3", "owner")]
        assert r3.lead_count == 2 and [lead for lead, _, _ in r3.leads] == ["L2", "L5"] and "and" not in r3.message_en
    assert sweep(sessions, T0 + 2.6 * DAY).notifications == 0  # reminded once per deadline
    done = sweep(sessions, T0 + 3 * DAY + dt.timedelta(hours=1))
    assert len(done.reclaimed) == 8 and done.notifications == 5
    with session_scope(sessions) as s:
        single = s.scalars(select(Notification).where(Notification.kind == "reclaim", Notification.lead_count == 1)).all()
        assert single == []  # every person lost more than one lead
        total = s.scalar(select(func.sum(Notification.lead_count)).where(Notification.kind == "reclaim", Notification.role == "owner"))
        assert total == 8
    assert sweep(sessions, T0 + 3 * DAY + dt.timedelta(hours=1)).notifications == 0


def test_dry_run_writes_nothing(sessions: sessionmaker[Session]) -> None:
    setup(sessions, ["B", "B"])
    before = leads(sessions)
    preview = sweep(sessions, T0 + 4 * DAY, dry_run=True)
    assert [r["lead"] for r in preview.reclaimed] == ["L0", "L1"] and preview.dry_run
    assert leads(sessions) == before
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 0
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "reclaim")) == 0


def test_protected_leads_stay_and_reassign_rule_reoffers_to_someone_else(sessions: sessionmaker[Session]) -> None:
    setup(sessions, ["A", "A", "B"])
    with session_scope(sessions) as s:
        lead = s.get(Lead, "L2")
        assert lead is not None
        lead.fields = dict(lead.fields, stage="negotiation")
    result = sweep(sessions, T0 + 5 * DAY)
    assert [(r["lead"], r["then"]) for r in result.reclaimed] == [("L0", "reassign"), ("L1", "reassign")]
    # never back to the previous owner; rotation goes on where it stood (r3 was next after r1, r2, r3 -> r1)
    assert result.reassigned["L0"] != "r1" and result.reassigned["L1"] != "r2"
    state = leads(sessions)
    assert state["L2"] == ("owned", "r3")
    assert state["L0"] == ("owned", result.reassigned["L0"]) and state["L1"] == ("owned", result.reassigned["L1"])
    with session_scope(sessions) as s:
        trail = [(a.action, a.from_rep_id, a.to_rep_id) for a in s.scalars(select(AuditEvent).where(AuditEvent.lead_id == "L0").order_by(AuditEvent.id))]
        assert trail == [("assign", None, "r1"), ("reclaim", "r1", None), ("assign", None, result.reassigned["L0"])]
        lead = s.get(Lead, "L0")
        assert lead is not None and lead.followup_count == 0 and lead.assigned_at is not None
    # the new owner's clock starts at the re-offer: nothing is due right after it
    assert sweep(sessions, T0 + 5 * DAY + dt.timedelta(hours=1)).reclaimed == []


def test_followup_on_a_reclaimed_lead_is_refused_with_the_reason(sessions: sessionmaker[Session]) -> None:
    setup(sessions, ["B"])
    sweep(sessions, T0 + 4 * DAY)
    with pytest.raises(ServiceError) as refused:
        followup(sessions, "L0", "r1", T0 + 4 * DAY)
    problem = refused.value.problems[0]
    assert problem.code == "followup.reclaimed"
    assert "reclaimed to the pool at 2026-11-27" in problem.en and "no_first_followup" in problem.en
    assert "已于" in problem.zh and "公海" in problem.zh
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(FollowUp)) == 0


def claim(sessions: sessionmaker[Session], lead: str, rep: str, now: dt.datetime) -> None:
    with session_scope(sessions, write_lock=True) as s:
        svc.claim(s, lead, rep, now)


def test_claims_respect_cooldown_eligibility_limits_and_are_audited(sessions: sessionmaker[Session]) -> None:
    assert setup(sessions, ["B", "B", "A", "B", "B", "B"]) == {"L0": "r1", "L1": "r2", "L2": "r3", "L3": "r1", "L4": "r2", "L5": "r3"}
    now = T0 + 4 * DAY
    result = sweep(sessions, now)
    assert result.reassigned == {"L2": "r1"}  # the A-tier rule re-offers it; r3 is excluded
    with session_scope(sessions, write_lock=True) as s:
        svc.release(s, "L2", "r1", "customer asked for another rep", now)
    assert sorted(i for i, (state, _) in leads(sessions).items() if state == "pool") == ["L0", "L1", "L2", "L3", "L4", "L5"]
    with pytest.raises(ServiceError) as cooldown:
        claim(sessions, "L0", "r1", now)  # r1 lost L0 to the sweep a moment ago
    assert cooldown.value.problems[0].code == "pool.cooldown" and "after 2026-12-04" in cooldown.value.problems[0].en
    with pytest.raises(ServiceError) as junior:
        claim(sessions, "L2", "r2", now)
    assert junior.value.problems[0].code == "pool.not_eligible"
    claim(sessions, "L1", "r3", now)
    claim(sessions, "L4", "r3", now)
    with pytest.raises(ServiceError) as daily:
        claim(sessions, "L0", "r3", now)
    assert daily.value.problems[0].code == "pool.daily_limit" and "2 of 2" in daily.value.problems[0].en
    assert "每日领取上限" in daily.value.problems[0].zh
    claim(sessions, "L0", "r3", now + DAY)  # a new day
    with pytest.raises(ServiceError) as held:
        claim(sessions, "L3", "r3", now + 2 * DAY)
    assert held.value.problems[0].code == "pool.max_held"
    with pytest.raises(ServiceError) as taken:
        claim(sessions, "L1", "r1", now + 2 * DAY)
    assert taken.value.problems[0].code == "pool.not_in_pool"
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(PoolClaim)) == 3
        claims = s.scalars(select(AuditEvent).where(AuditEvent.action == "claim").order_by(AuditEvent.id)).all()
        assert [(a.lead_id, a.to_rep_id, a.actor) for a in claims] == [("L1", "r3", "r3"), ("L4", "r3", "r3"), ("L0", "r3", "r3")]
        lead = s.get(Lead, "L1")
        assert lead is not None and lead.from_pool and lead.followup_count == 0
        release = s.scalars(select(AuditEvent).where(AuditEvent.action == "release")).one()
        assert release.reason == "customer asked for another rep"
    with session_scope(sessions, write_lock=True) as s, pytest.raises(ServiceError) as no_reason:
        svc.release(s, "L1", "r3", "  ", now)
    assert no_reason.value.problems[0].code == "release.reason"


def test_points_leaderboard_reversal_and_period_close(sessions: sessionmaker[Session]) -> None:
    setup(sessions, ["B", "B", "B"])
    followup(sessions, "L0", "r1", T0 + DAY)
    followup(sessions, "L1", "r2", T0 + DAY)
    sweep(sessions, T0 + 4 * DAY)  # L2 reclaimed from r3: -5
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "east")
        period, board = points_svc.leaderboard(s, team, now=T0 + 4 * DAY)
        assert period == "2026-11"
        assert [(b.rank, b.rep_id, b.points) for b in board] == [(1, "r1", Decimal("1.00")), (1, "r2", Decimal("1.00")), (3, "r3", Decimal("-5.00"))]
        lost = s.scalars(select(PointEntry).where(PointEntry.rule == "lost")).one()
        lost_id = lost.id
    with session_scope(sessions) as s:
        reversal = points_svc.reverse(s, lost_id, "the customer was unreachable: not the rep's fault", "m2", T0 + 5 * DAY)
        assert reversal.amount == Decimal("5.00") and reversal.reverses_id == lost_id
    with session_scope(sessions) as s, pytest.raises(ServiceError) as twice:
        points_svc.reverse(s, lost_id, "again", "m2", T0 + 5 * DAY)
    assert twice.value.problems[0].code == "points.reversed"
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "east")
        assert points_svc.close_period(s, team, "2026-11", T0 + 8 * DAY) == 3
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "east")
        assert points_svc.close_period(s, team, "2026-11", T0 + 8 * DAY) == 0
        _, board = points_svc.leaderboard(s, team, "2026-11")
        assert [(b.rep_id, b.points) for b in board] == [("r1", Decimal("4.00")), ("r2", Decimal("4.00")), ("r3", Decimal("3.00"))]
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "points.reverse")).one()
        assert audit.actor == "m2" and audit.reason is not None


# ------------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------------


def test_cli_followup_reclaim_pool_and_points(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "reps.csv").write_text("id,name,level,manager\nr1,Ann,senior,m1\nr2,Bo,junior,m1\n", encoding="utf-8")
    assert fenpei(tmp_path, "init").returncode == 0
    assert fenpei(tmp_path, "template", "import", "t.yaml", "--publish").returncode == 0
    assert fenpei(tmp_path, "team", "create", "east", "--name", "East", "--template", "pool_test").returncode == 0
    assert fenpei(tmp_path, "reps", "import", "east", "reps.csv").returncode == 0
    for i in range(3):
        assert fenpei(tmp_path, "leads", "add", "east", "--field", f"id=L{i}", "--field", "company=Acme", "--field", "tier=B", "--now", "2026-11-23T09:00:00+08:00").returncode == 0
    assert fenpei(tmp_path, "assign", "east", "--now", "2026-11-23T09:00:00+08:00").returncode == 0
    bad = fenpei(tmp_path, "followup", "L0", "--rep", "r1", "--field", "method=visit", "--field", "summary=ok", "--now", "2026-11-24T09:00:00+08:00")
    assert bad.returncode == 1 and bad.stdout.splitlines() == ["visit_notes: this field is required"]
    ok = fenpei(tmp_path, "followup", "L0", "--rep", "r1", "--field", "method=call", "--field", "summary=called", "--now", "2026-11-24T09:00:00+08:00")
    assert ok.returncode == 0 and "follow-up on L0 by r1 recorded" in ok.stdout
    preview = fenpei(tmp_path, "reclaim", "east", "--dry-run", "--now", "2026-11-26T10:00:00+08:00")
    assert preview.stdout.splitlines()[0] == "east: 2 would be reclaimed (2 to the pool, 0 reassigned), 0 would be reminded"
    done = fenpei(tmp_path, "reclaim", "east", "--now", "2026-11-26T10:00:00+08:00")
    assert done.stdout.splitlines()[0] == "east: 2 reclaimed (2 to the pool, 0 reassigned), 0 reminded"
    assert "L1" in done.stdout and "no_first_followup" in done.stdout
    assert fenpei(tmp_path, "reclaim", "east", "--now", "2026-11-26T10:00:00+08:00").stdout.splitlines()[0].startswith("east: 0 reclaimed")
    refused = fenpei(tmp_path, "followup", "L1", "--rep", "r2", "--field", "method=call", "--field", "summary=called", "--now", "2026-11-26T10:05:00+08:00")
    assert refused.returncode == 1 and refused.stdout.startswith("lead L1 was reclaimed to the pool at 2026-11-26")
    assert [line.split()[0] for line in fenpei(tmp_path, "pool", "list", "east").stdout.splitlines()] == ["L1", "L2"]
    cooldown = fenpei(tmp_path, "--lang", "zh", "pool", "claim", "L1", "--rep", "r2", "--now", "2026-11-26T10:10:00+08:00")
    assert cooldown.returncode == 1 and "才能再次领取" in cooldown.stdout
    assert fenpei(tmp_path, "pool", "claim", "L1", "--rep", "r1", "--now", "2026-11-26T10:10:00+08:00").stdout.strip() == "r1 claimed L1 from the pool"
    board = fenpei(tmp_path, "points", "leaderboard", "east", "--json", "--now", "2026-11-26T10:10:00+08:00")
    standings = json.loads(board.stdout)["standings"]
    assert [(s["rank"], s["rep"], s["points"]) for s in standings] == [(1, "r1", -4.0), (2, "r2", -5.0)]
    assert "no lead 'L9'" in fenpei(tmp_path, "pool", "claim", "L9", "--rep", "r1").stdout
    inbox = fenpei(tmp_path, "notifications", "m1", "--unread", "--mark-read").stdout.splitlines()
    # one notice for the manager naming both reps' leads, each with its deadline
    assert inbox == [
        "* 2026-11-26T10:00+08:00 reclaimed: 2 leads reclaimed by rule no_first_followup (No first follow-up within 3 days): deadlines passed; "
        "back to the pool: L1 (r2) 2026-11-26T09:00+08:00; L2 (r1) 2026-11-26T09:00+08:00"
    ], inbox
    assert fenpei(tmp_path, "notifications", "m1", "--unread").stdout.strip() == "no notifications for m1"
    early = fenpei(tmp_path, "points", "close", "east", "--period", "2026-12", "--now", "2026-11-26T10:10:00+08:00")
    assert early.returncode == 1 and "has not ended yet" in early.stdout
    assert "2 period-end entries written" in fenpei(tmp_path, "points", "close", "east", "--period", "2026-11", "--now", "2026-12-01T00:10:00+08:00").stdout
    assert "0 period-end entries written" in fenpei(tmp_path, "points", "close", "east", "--period", "2026-11", "--now", "2026-12-01T00:10:00+08:00").stdout
    assert "not a month period" in fenpei(tmp_path, "points", "close", "east", "--period", "2026-13").stdout


def test_a_managers_reassignment_starts_the_new_owners_clock(sessions: sessionmaker[Session]) -> None:
    setup(sessions, ["B"])
    followup(sessions, "L0", "r1", T0 + DAY)
    with session_scope(sessions, write_lock=True) as s:
        assign_svc.reassign(s, "L0", "r3", "r3 speaks the customer's dialect", "m1", T0 + 2 * DAY)
    with session_scope(sessions) as s:
        lead = s.get(Lead, "L0")
        assert lead is not None and (lead.owner_id, lead.followup_count, lead.last_followup_at) == ("r3", 0, None)
    # no first follow-up by r3 within 3 days of *its* assignment: due at T0 + 5 days, not T0 + 3
    assert sweep(sessions, T0 + 4 * DAY).reclaimed == []
    assert [r["owner"] for r in sweep(sessions, T0 + 5 * DAY + dt.timedelta(minutes=1)).reclaimed] == ["r3"]


def test_the_sweep_reads_stored_times_as_utc_whatever_their_form() -> None:
    read = svc._reader(sqlite=True)
    utc = dt.timezone.utc
    expected = dt.datetime(2026, 11, 23, 1, 0, 0, 250000, tzinfo=utc)
    assert read("2026-11-23 01:00:00.250000") == expected and read("2026-11-23 01:00:00.250000").tzinfo is utc  # SQLite: naive UTC text
    assert read("2026-11-23 09:00:00.250000+08:00") == expected  # text with its own offset
    assert read(dt.datetime(2026, 11, 23, 1, 0, 0, 250000)) == expected
    assert read(expected.astimezone(dt.timezone(dt.timedelta(hours=8)))) == expected
    assert read(None) is None
    with pytest.raises(ValueError):
        read("not a time")
