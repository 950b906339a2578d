"""Lead changes and their triggers, handovers, rep availability and redistribution.

Every service test runs on SQLite and on PostgreSQL (``db_url``); the CLI test runs the real
``fenpei`` on the embedded SQLite database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from support import fenpei

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.models import (
    AuditEvent,
    Handover,
    Lead,
    PointEntry,
    Rep,
    TemplateVersion,
)
from configurator.services import assignment as assign_svc
from configurator.services import changes as svc
from configurator.services import handovers as ho_svc
from configurator.services import leads as leads_svc
from configurator.services import pool as pool_svc
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from configurator.services.templates import ServiceError
from rule_engine import InputError
from rule_engine import Rep as EngineRep

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # a Monday in Shanghai
LATER = NOW + dt.timedelta(hours=2)

TEMPLATE = """\
fenpei: 1
name: handover_test
title: {zh: 交接测试, en: Handover test}
timezone: Asia/Shanghai
fields:
  company: {type: string, title: {zh: 公司, en: Company}, required: true}
  contact: {type: string, title: {zh: 联系人, en: Contact}}
  phone: {type: phone, title: {zh: 手机, en: Mobile}}
  procurement: {type: enum, options: [direct, tender]}
  size: {type: integer, minimum: 0}
  stage: {type: enum, options: [new, proposal, negotiation, won, lost], default: new}
  lost_reason: {type: string, visible_when: 'stage == "lost"', required_when: 'stage == "lost"'}
rep_fields:
  level: {type: enum, options: [junior, senior]}
segments:
  - name: tier
    hit_policy: first
    rules:
      - {when: 'size >= 100', output: A}
    default: C
load:
  weights:
    - {when: 'tier == "A"', weight: 2}
  default_weight: 1
  cap: 5
  open_when: 'not (stage in ["won", "lost"])'
assignment:
  policies:
    - {name: key, when: 'tier == "A"', eligible: 'rep.level == "senior"', strategy: least_loaded, on_no_candidate: escalate}
    - {name: rest, eligible: 'rep.level == "junior"', strategy: round_robin, on_no_candidate: pool}
    # only for the suggestion below: `rest` already decides every lead the key policy leaves
    - {name: seniors, eligible: 'rep.level == "senior"', strategy: least_loaded, on_no_candidate: escalate}
  otherwise: pool
triggers:
  - name: upgrade
    "on": grade_changed
    table: tier
    when: 'tier == "A"'
    action: reassign_if_ineligible
    handover: true
    message:
      zh: 已升为 A 类,需要交接。
      en: Now tier A; a handover is needed.
  - name: negotiation_help
    "on": stage_changed
    when: 'stage == "negotiation"'
    action: suggest
    policy: seniors
    message:
      zh: 资深同事可能更合适,要不要转给 TA?
      en: A senior rep may suit it better. Hand it over?
  - name: away
    "on": rep_unavailable
    action: redistribute
    handover: true
handover:
  form: handover
  contact_fields: [contact, phone]
won_when: 'stage == "won"'
points:
  period: month
  rules:
    - {name: proposal, "on": stage.changed, when: 'stage == "proposal"', amount: 5, once: per_lead}
    - {name: won, "on": lead.converted, amount: 10, once: per_lead}
    - {name: thanks, "on": handover.completed, amount: 2, to: previous_owner}
forms:
  handover:
    title: {zh: 交接清单, en: Handover checklist}
    fields:
      preferences: {type: text, title: {zh: 客户偏好, en: Preferences}, required: true, max_length: 200}
      meeting: {type: enum, options: [none, call], required: true}
      meeting_date: {type: date, visible_when: 'meeting == "call"', required_when: 'meeting == "call"'}
      tender_status: {type: enum, options: [open, closed], visible_when: 'procurement == "tender"', required_when: 'procurement == "tender"'}
"""

REPS = [
    EngineRep("r1", "Ann", {"level": "junior"}),
    EngineRep("r2", "Bo", {"level": "junior"}),
    EngineRep("r3", "Cy", {"level": "senior"}),
    EngineRep("r4", "Di", {"level": "senior"}),
]


@pytest.fixture()
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def setup_team(sessions: sessionmaker[Session], n_leads: int = 1, source: str = TEMPLATE) -> None:
    """Team east with reps r1..r4 and ``n_leads`` tier C leads L0.. assigned in rotation to r1, r2."""
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, source)
        version = tmpl_svc.publish(s, "handover_test")
        team = teams_svc.create_team(s, "east", "华东", "handover_test")
        teams_svc.upsert_reps(s, team, REPS)
        for i in range(n_leads):
            leads_svc.add_lead(s, team, version, {"id": f"L{i}", "company": f"Acme {i}", "contact": "Mr Li", "phone": "13800000000", "size": 10}, NOW - dt.timedelta(hours=1) + dt.timedelta(minutes=i))
    with session_scope(sessions, write_lock=True) as s:
        assign_svc.assign_pending(s, teams_svc.get_team(s, "east"), NOW)


def update(sessions: sessionmaker[Session], lead_id: str, changes: dict[str, object], now: dt.datetime = LATER, **kw: object) -> svc.LeadUpdate:
    with session_scope(sessions, write_lock=True) as s:
        return svc.update_lead(s, lead_id, changes, "manager", now, **kw)  # type: ignore[arg-type]


def lead(sessions: sessionmaker[Session], lead_id: str) -> Lead:
    with session_scope(sessions) as s:
        row = s.get(Lead, lead_id)
        assert row is not None
        s.expunge(row)
        return row


def ledger(sessions: sessionmaker[Session]) -> list[tuple[str, str, float]]:
    with session_scope(sessions) as s:
        return [(rep, rule, float(amount)) for rep, rule, amount in s.execute(select(PointEntry.rep_id, PointEntry.rule, PointEntry.amount).order_by(PointEntry.id))]


def refused(exc: pytest.ExceptionInfo[ServiceError]) -> tuple[str, str]:
    return exc.value.format("en"), exc.value.format("zh")


# ------------------------------------------------------------------------------------------------
# Lead changes, triggers and the handover flow
# ------------------------------------------------------------------------------------------------


def test_grade_change_reassigns_with_a_handover_that_unlocks_contact_on_ack(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions)
    assert (lead(sessions, "L0").owner_id, lead(sessions, "L0").revision) == ("r1", 1)
    done = update(sessions, "L0", {"size": "150"}, text=True, expected_revision=1)
    assert done.changes == {"size": (10, 150)} and done.grades == {"tier": ("C", "A")}
    assert done.applied is not None and done.applied.trigger == "upgrade" and done.owner == "r3"
    assert done.revision == 3 and done.handover_id is not None
    row = lead(sessions, "L0")
    assert (row.state, row.owner_id, row.previous_owner_id, row.locked, row.weight, row.outputs) == ("owned", "r3", "r1", True, 2.0, {"tier": "A"})

    with session_scope(sessions) as s:
        trail = s.scalars(select(AuditEvent).where(AuditEvent.lead_id == "L0").order_by(AuditEvent.id)).all()
        version_id = s.scalar(select(TemplateVersion.id))
        assert [(a.action, a.from_rep_id, a.to_rep_id, a.rule, a.actor) for a in trail] == [
            ("assign", None, "r1", "rest", "system"),
            ("update", None, None, None, "manager"),
            ("reassign", "r1", "r3", "upgrade", "manager"),
        ]
        assert all(a.template_version_id == version_id for a in trail)
        moved = trail[2].explanation
        assert moved is not None and moved["handover"] == done.handover_id and moved["trace"]["policies"][0]["chosen"] == "r3"
        assert moved["en"].startswith("tier changed from C to A; Ann no longer qualifies for policy key (rep.level == \"senior\"): Now tier A; a handover is needed.")
        assert moved["en"].endswith(f"→ assigned to Cy. Handover {done.handover_id} opened.") and ". Decision: tier A by row 1 of `tier`" in moved["en"]
        assert moved["zh"].startswith("tier 由 C 变为 A;Ann 不再符合策略 key") and moved["zh"].endswith(f"→ 分配给 Cy。已创建交接单 {done.handover_id}。")
        assert trail[1].explanation is not None and trail[1].explanation["en"].startswith("changed size: 10 → 150; grades: tier C → A")

        # The new owner sees the lead without its contact details; the previous owner still sees them.
        view = ho_svc.lead_view(s, "L0", "r3")
        assert view.locked and view.hidden == ("contact", "phone") and "phone" not in view.fields and view.fields["company"] == "Acme 0"
        assert view.handover is not None and view.handover.status == "to_fill" and view.handover.waiting_for == "r1"
        assert ho_svc.lead_view(s, "L0", "r1").fields["phone"] == "13800000000"
        assert ho_svc.lead_view(s, "L0").fields["phone"] == "13800000000"  # a manager
        with pytest.raises(ServiceError) as exc:
            ho_svc.lead_view(s, "L0", "r2")
        assert refused(exc) == ("lead L0 is not yours: a rep sees own leads and the pool", "线索 L0 不属于你:销售只能查看自己的线索和公海")
        pending = ho_svc.pending_handovers(s, teams_svc.get_team(s, "east"), "r1")
        assert [(h.id, h.from_rep, h.to_rep, h.status, h.rule) for h in pending] == [(done.handover_id, "r1", "r3", "to_fill", "upgrade")]
        assert [i["name"] for i in pending[0].items] == ["preferences", "meeting", "meeting_date", "tender_status"]
        assert ho_svc.pending_handovers(s, teams_svc.get_team(s, "east"), "r2") == []

    hid = done.handover_id
    with session_scope(sessions) as s:
        with pytest.raises(ServiceError) as exc:
            ho_svc.acknowledge_handover(s, hid, "r3", LATER)
        assert refused(exc) == (f"handover {hid} cannot be acknowledged yet: r1 has not filled the checklist", f"交接单 {hid} 还不能确认:r1 尚未填写交接清单")
        with pytest.raises(ServiceError) as exc:
            ho_svc.fill_handover(s, hid, "r3", {"preferences": "x", "meeting": "none"}, LATER)
        assert refused(exc)[0] == f"only r1 (the previous owner) fills the checklist of handover {hid}"
        with pytest.raises(InputError) as bad:
            ho_svc.fill_handover(s, hid, "r1", {"preferenses": "calls after 5", "meeting": "call", "meeting_date": "someday"}, LATER, text=True)
        assert [(p.path, p.message("en")) for p in bad.value.problems] == [
            (("preferenses",), "not an item of the checklist (did you mean 'preferences'?)"),
            (("meeting_date",), "'someday' is not a date (YYYY-MM-DD)"),
            (("preferences",), "this item is required"),
        ]
        assert bad.value.problems[2].message("zh") == "此项为必填"
    with session_scope(sessions) as s:
        filled = ho_svc.fill_handover(s, hid, "r1", {"preferences": "calls after 5", "meeting": "call", "meeting_date": "2026-11-25"}, LATER, text=True)
        assert filled.status == "to_ack" and filled.answers == {"preferences": "calls after 5", "meeting": "call", "meeting_date": "2026-11-25"}
    with session_scope(sessions) as s:
        with pytest.raises(ServiceError) as exc:
            ho_svc.fill_handover(s, hid, "r1", {"preferences": "again", "meeting": "none"}, LATER)
        assert refused(exc) == (f"handover {hid} is filled, waiting for the new owner to acknowledge it", f"交接单 {hid} 已填写,等待新负责人确认")
        with pytest.raises(ServiceError) as exc:
            ho_svc.acknowledge_handover(s, hid, "r1", LATER)
        assert refused(exc) == (f"only r3 (the new owner) acknowledges handover {hid}", f"交接单 {hid} 只能由新负责人 r3 确认")
    assert ledger(sessions) == []
    with session_scope(sessions) as s:
        acked = ho_svc.acknowledge_handover(s, hid, "r3", LATER)
        assert acked.status == "done" and acked.acked_at is not None
        view = ho_svc.lead_view(s, "L0", "r3")
        assert not view.locked and view.hidden == () and view.fields["phone"] == "13800000000" and view.handover is None
    assert ledger(sessions) == [("r1", "thanks", 2.0)]
    with session_scope(sessions) as s:
        with pytest.raises(ServiceError) as exc:
            ho_svc.acknowledge_handover(s, hid, "r3", LATER)
        assert refused(exc) == (f"handover {hid} is already completed", f"交接单 {hid} 已完成")
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.lead_id == "L0").order_by(AuditEvent.id)).all()
        assert actions[-2:] == ["handover.fill", "handover.ack"]
        with pytest.raises(ServiceError) as exc:
            ho_svc.get_handover(s, 999)
        assert refused(exc) == ("no handover 999", "没有交接单 999")
    assert ledger(sessions) == [("r1", "thanks", 2.0)]
    assert lead(sessions, "L0").revision == 4  # the acknowledgement changed the lead


def test_a_conditional_checklist_item_reads_the_lead(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions)
    update(sessions, "L0", {"procurement": "tender"})
    hid = update(sessions, "L0", {"size": 300}).handover_id
    assert hid is not None
    with session_scope(sessions) as s:
        with pytest.raises(InputError) as bad:
            ho_svc.fill_handover(s, hid, "r1", {"preferences": "x", "meeting": "none", "meeting_date": "2026-11-25"}, LATER, text=True)
        assert [(p.path, p.message("en")) for p in bad.value.problems] == [(("tender_status",), "this item is required")]
    with session_scope(sessions) as s:
        # meeting_date is hidden when there is no call: its answer is not kept
        filled = ho_svc.fill_handover(s, hid, "r1", {"preferences": "x", "meeting": "none", "meeting_date": "2026-11-25", "tender_status": "open"}, LATER, text=True)
        assert filled.answers == {"preferences": "x", "meeting": "none", "tender_status": "open"}


def test_a_senior_owner_who_still_qualifies_keeps_the_lead(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions)
    with session_scope(sessions, write_lock=True) as s:
        assign_svc.reassign(s, "L0", "r4", "knows the client", "manager", NOW)
    done = update(sessions, "L0", {"size": 120})
    assert done.applied is None and done.handover_id is None and done.owner == "r4"
    assert [(o.trigger, o.action) for o in done.outcomes] == [("upgrade", "keep")]
    row = lead(sessions, "L0")
    # the manager's reassignment opened a handover from r1: the lead stays locked for r4 until acknowledged
    assert (row.owner_id, row.locked, row.outputs) == ("r4", True, {"tier": "A"})
    with session_scope(sessions) as s:
        assert [(h.from_rep_id, h.to_rep_id, h.status, h.reason) for h in s.scalars(select(Handover))] == [("r1", "r4", "to_fill", "knows the client")]
        audit = s.scalars(select(AuditEvent).where(AuditEvent.lead_id == "L0", AuditEvent.action == "update")).one()
        assert audit.explanation is not None and "trigger upgrade: tier changed from C to A; Di still qualifies for policy key" in audit.explanation["en"]


def test_a_suggestion_is_audited_and_leaves_the_owner(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions)
    done = update(sessions, "L0", {"stage": "negotiation"})
    assert done.applied is None and done.owner == "r1" and done.revision == 2
    assert [(o.trigger, o.action, o.new_owner) for o in done.suggestions] == [("negotiation_help", "suggest", "r3")]
    row = lead(sessions, "L0")
    assert (row.owner_id, row.locked, row.fields["stage"]) == ("r1", False, "negotiation")
    with session_scope(sessions) as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.lead_id == "L0", AuditEvent.action == "suggest")).all()
        assert [(a.from_rep_id, a.to_rep_id, a.rule, a.template_version_id is not None) for a in rows] == [("r1", "r3", "negotiation_help", True)]
        explanation = rows[0].explanation
        assert explanation is not None and "suggest handing over to Cy: A senior rep may suit it better. Hand it over?" in explanation["en"]
        assert "建议转交给 Cy:资深同事可能更合适,要不要转给 TA?" in explanation["zh"]
        assert s.scalar(select(func.count()).select_from(Handover)) == 0


def test_stage_and_conversion_points_count_once(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions)
    assert update(sessions, "L0", {"stage": "proposal"}).points == 1
    again = update(sessions, "L0", {"stage": "proposal"})
    assert not again.changed and again.points == 0 and again.revision == 2  # nothing changed, nothing stored
    assert ledger(sessions) == [("r1", "proposal", 5.0)]
    assert update(sessions, "L0", {"stage": "won"}).points == 1
    assert lead(sessions, "L0").is_open is False  # won leads no longer weigh
    update(sessions, "L0", {"stage": "proposal"})
    update(sessions, "L0", {"stage": "won"})
    assert ledger(sessions) == [("r1", "proposal", 5.0), ("r1", "won", 10.0)]
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.lead_id == "L0", AuditEvent.action == "update")) == 4


def test_bad_changes_are_refused_per_field_and_nothing_is_stored(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions)
    with pytest.raises(InputError) as bad:
        update(sessions, "L0", {"sise": "5", "stage": "lost", "owner": "r2"}, text=True)
    assert [(p.path, p.message("en")) for p in bad.value.problems] == [
        (("sise",), "unknown field (did you mean 'size'?)"),
        (("owner",), "owner is kept by Fenpei and cannot be changed here"),
    ]
    with pytest.raises(InputError) as bad:
        update(sessions, "L0", {"stage": "lost", "size": "-3"}, text=True)
    assert [(p.path, p.message("en")) for p in bad.value.problems] == [(("size",), "must be at least 0")]
    with pytest.raises(InputError) as bad:
        update(sessions, "L0", {"stage": "lost"})
    assert [(p.path, p.message("zh")) for p in bad.value.problems] == [(("lost_reason",), "此项为必填")]
    with pytest.raises(InputError) as bad:
        update(sessions, "L0", {"company": ""}, text=True)
    assert [(p.path, p.message("en")) for p in bad.value.problems] == [(("company",), "this field is required")]
    with pytest.raises(ServiceError) as exc:
        update(sessions, "L0", {"size": 20}, expected_revision=0)
    assert refused(exc) == ("lead L0 changed meanwhile; reload it and try again", "线索 L0 已被他人修改,请刷新后重试")
    with pytest.raises(ServiceError) as exc:
        update(sessions, "L9", {"size": 20})
    assert refused(exc)[0] == "no lead 'L9'"
    row = lead(sessions, "L0")
    assert (row.revision, row.fields.get("stage"), row.fields["size"]) == (1, "new", 10)
    done = update(sessions, "L0", {"stage": "lost", "lost_reason": "price"}, expected_revision=1)
    assert done.changes == {"lost_reason": (None, "price"), "stage": ("new", "lost")} and lead(sessions, "L0").is_open is False


# ------------------------------------------------------------------------------------------------
# Rep availability
# ------------------------------------------------------------------------------------------------


def loads(sessions: sessionmaker[Session]) -> dict[str, float]:
    with session_scope(sessions) as s:
        rows = s.execute(select(Lead.owner_id, func.sum(Lead.weight)).where(Lead.state == "owned", Lead.is_open.is_(True)).group_by(Lead.owner_id))
        return {owner: float(total) for owner, total in rows}


def test_pausing_a_rep_redistributes_within_caps_and_a_second_run_moves_nothing(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions, n_leads=7)
    assert loads(sessions) == {"r1": 4.0, "r2": 3.0}
    with session_scope(sessions, write_lock=True) as s:
        change = svc.set_rep_status(s, "r1", "paused", "manager", LATER, "sick")
        assert change.changed and change.old_status == "active"
        moved = change.redistribution
        assert moved is not None and moved.trigger == "away" and moved.reps == {"r1": "paused"}
        # r2 takes two (load 3 + 1 + 1 = cap 5); nobody else is a junior, so the rest go to the pool
        assert moved.moved == {"L0": "r2", "L2": "r2"} and moved.pooled == ["L4", "L6"] and moved.escalated == []
        assert sorted(moved.handovers) == ["L0", "L2"]
    assert loads(sessions) == {"r2": 5.0}
    with session_scope(sessions) as s:
        rows = {r.id: r for r in s.scalars(select(Lead))}
        assert {i: (r.state, r.owner_id, r.previous_owner_id, r.locked) for i, r in rows.items() if i in ("L0", "L4")} == {
            "L0": ("owned", "r2", "r1", True),
            "L4": ("pool", None, "r1", False),
        }
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "redistribute").order_by(AuditEvent.lead_id)).all()
        assert [(a.lead_id, a.from_rep_id, a.to_rep_id, a.rule, a.reason, a.actor) for a in audit] == [
            ("L0", "r1", "r2", "away", "sick", "manager"),
            ("L2", "r1", "r2", "away", "sick", "manager"),
            ("L4", "r1", None, "away", "sick", "manager"),
            ("L6", "r1", None, "away", "sick", "manager"),
        ]
        assert all(a.template_version_id is not None for a in audit)
        assert audit[0].explanation is not None and audit[0].explanation["en"].startswith("Ann is unavailable; reassigned to Bo")
        assert audit[2].explanation is not None and audit[2].explanation["zh"].startswith("Ann 暂不可用,回到公海")
        status = s.scalars(select(AuditEvent).where(AuditEvent.action == "rep.status")).one()
        assert status.explanation is not None and status.explanation["en"] == "manager changed Ann from active to paused: sick"
        handovers = s.scalars(select(Handover).order_by(Handover.lead_id)).all()
        assert [(h.lead_id, h.from_rep_id, h.to_rep_id, h.status, h.rule) for h in handovers] == [("L0", "r1", "r2", "to_fill", "away"), ("L2", "r1", "r2", "to_fill", "away")]
    with session_scope(sessions, write_lock=True) as s:
        again = svc.redistribute_unavailable(s, teams_svc.get_team(s, "east"), LATER)
        assert again.total == 0 and again.trigger == "away"
        same = svc.set_rep_status(s, "r1", "paused", "manager", LATER)
        assert not same.changed and same.redistribution is not None and same.redistribution.total == 0
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.in_(["redistribute", "rep.status"]))) == 5
        assert s.scalar(select(func.count()).select_from(Handover)) == 2
    with session_scope(sessions, write_lock=True) as s:
        back = svc.set_rep_status(s, "r1", "active", "manager", LATER)
        assert back.changed and back.redistribution is None
        with pytest.raises(ServiceError) as exc:
            svc.set_rep_status(s, "r1", "holiday", "manager", LATER)
        assert refused(exc)[0] == "'holiday' is not a rep status (use: active, paused, inactive)"
        with pytest.raises(ServiceError) as exc:
            svc.set_rep_status(s, "r9", "paused", "manager", LATER)
        assert refused(exc) == ("no rep 'r9'", "没有销售 'r9'")


def test_a_leave_moves_leads_the_day_it_starts_and_a_lead_moved_again_keeps_its_handover(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions)
    hid = update(sessions, "L0", {"size": 150}).handover_id  # r1 -> r3 (least loaded senior), to fill by r1
    assert hid is not None and lead(sessions, "L0").owner_id == "r3"
    with session_scope(sessions) as s:
        ho_svc.fill_handover(s, hid, "r1", {"preferences": "mornings", "meeting": "none"}, LATER)
    tomorrow = LATER.date() + dt.timedelta(days=1)
    with session_scope(sessions, write_lock=True) as s:
        planned = svc.add_leave(s, "r3", tomorrow, tomorrow + dt.timedelta(days=4), "manager", LATER, "annual leave")
        assert planned.redistribution is None and planned.leave == (tomorrow, tomorrow + dt.timedelta(days=4))
        with pytest.raises(ServiceError) as exc:
            svc.add_leave(s, "r3", tomorrow + dt.timedelta(days=2), tomorrow + dt.timedelta(days=9), "manager", LATER)
        assert refused(exc)[1] == f"r3 已有 {tomorrow} 至 {tomorrow + dt.timedelta(days=4)} 的休假,与本次重叠"
        with pytest.raises(ServiceError) as exc:
            svc.add_leave(s, "r3", tomorrow, LATER.date(), "manager", LATER)
        assert refused(exc)[0] == f"the leave ends ({LATER.date()}) before it starts ({tomorrow})"
        assert svc.redistribute_unavailable(s, teams_svc.get_team(s, "east"), LATER).total == 0  # not started yet
    next_day = LATER + dt.timedelta(days=1)
    with session_scope(sessions, write_lock=True) as s:
        moved = svc.redistribute_unavailable(s, teams_svc.get_team(s, "east"), next_day)
        assert moved.reps == {"r3": "on_leave"} and moved.moved == {"L0": "r4"}
    with session_scope(sessions) as s:
        rows = s.scalars(select(Handover).order_by(Handover.id)).all()
        # the unacknowledged handover is cancelled; the new one is from r1 (who knows the client) with the answers
        assert [(h.from_rep_id, h.to_rep_id, h.status) for h in rows] == [("r1", "r3", "cancelled"), ("r1", "r4", "to_ack")]
        assert rows[1].checklist["answers"] == {"preferences": "mornings", "meeting": "none"}
        row = s.get(Lead, "L0")
        assert row is not None and (row.owner_id, row.previous_owner_id, row.locked) == ("r4", "r3", True)
        with pytest.raises(ServiceError) as exc:
            ho_svc.acknowledge_handover(s, rows[0].id, "r3", next_day)
        assert refused(exc) == (f"handover {rows[0].id} is cancelled: the lead moved again", f"交接单 {rows[0].id} 已取消:线索已再次转移")
    with session_scope(sessions) as s:
        ho_svc.acknowledge_handover(s, rows[1].id, "r4", next_day)
    assert ledger(sessions) == [("r1", "thanks", 2.0)]
    with session_scope(sessions, write_lock=True) as s:
        assert svc.redistribute_unavailable(s, teams_svc.get_team(s, "east"), next_day).total == 0


def test_deactivating_a_rep_sends_their_checklists_to_acknowledgement(sessions: sessionmaker[Session]) -> None:
    setup_team(sessions, n_leads=2)  # L0 -> r1, L1 -> r2
    hid = update(sessions, "L0", {"size": 150}).handover_id
    assert hid is not None
    with session_scope(sessions, write_lock=True) as s:
        change = svc.set_rep_status(s, "r1", "inactive", "manager", LATER, "left the company")
        assert change.skipped_checklists == 1
        assert change.redistribution is not None and change.redistribution.total == 0  # r1 holds no open lead any more
        rep = s.get(Rep, "r1")
        assert rep is not None and rep.status == "inactive"
    with session_scope(sessions) as s:
        h = ho_svc.get_handover(s, hid)
        assert h.status == "to_ack" and h.note == {"en": "r1 is deactivated and cannot fill the checklist", "zh": "r1 已停用,无法填写交接清单"}
        ho_svc.acknowledge_handover(s, hid, "r3", LATER)
    assert lead(sessions, "L0").locked is False
    with session_scope(sessions, write_lock=True) as s:
        # r2 deactivated while holding L1: it moves to r1? No: r1 is inactive; nobody junior is left, so the pool
        moved = svc.set_rep_status(s, "r2", "inactive", "manager", LATER).redistribution
        assert moved is not None and moved.pooled == ["L1"] and moved.handovers == {}


def test_without_a_rep_unavailable_trigger_leads_stay(sessions: sessionmaker[Session]) -> None:
    source = TEMPLATE.replace('  - name: away\n    "on": rep_unavailable\n    action: redistribute\n    handover: true\n', "")
    setup_team(sessions, n_leads=2, source=source)
    with session_scope(sessions, write_lock=True) as s:
        change = svc.set_rep_status(s, "r1", "paused", "manager", LATER)
        assert change.redistribution is not None and change.redistribution.trigger is None and change.redistribution.total == 0
    assert lead(sessions, "L0").owner_id == "r1"


def test_a_template_that_pools_on_leave(sessions: sessionmaker[Session]) -> None:
    source = TEMPLATE.replace("    action: redistribute\n    handover: true\n", "    action: pool\n")
    setup_team(sessions, n_leads=3)  # L0, L2 -> r1
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, source)
        tmpl_svc.publish(s, "handover_test")
    with session_scope(sessions, write_lock=True) as s:
        moved = svc.add_leave(s, "r1", LATER.date(), LATER.date(), "manager", LATER).redistribution
        assert moved is not None and moved.pooled == ["L0", "L2"] and moved.template_version == 2
    with session_scope(sessions) as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "redistribute")).all()
        versions = dict(s.execute(select(TemplateVersion.id, TemplateVersion.version)).all())
        assert {versions[a.template_version_id] for a in audit if a.template_version_id is not None} == {2} and len(audit) == 2


def test_sqlite_refuses_a_move_without_the_write_lock(sessions: sessionmaker[Session], db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL locks the rotation row instead")
    setup_team(sessions)
    with session_scope(sessions) as s, pytest.raises(ServiceError) as exc:
        svc.update_lead(s, "L0", {"size": 150}, "manager", LATER)
    assert "write lock" in refused(exc)[0]


# ------------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------------


def test_cli_update_handover_and_rep_availability(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "reps.csv").write_text("id,name,level\nr1,Ann,junior\nr2,Bo,junior\nr3,Cy,senior\nr4,Di,senior\n", encoding="utf-8")
    at = "--now"
    assert fenpei(tmp_path, "init").returncode == 0
    assert fenpei(tmp_path, "template", "import", "t.yaml", "--publish").returncode == 0
    assert fenpei(tmp_path, "team", "create", "east", "--name", "East", "--template", "handover_test").returncode == 0
    assert fenpei(tmp_path, "reps", "import", "east", "reps.csv").returncode == 0
    for i in range(3):
        assert fenpei(tmp_path, "leads", "add", "east", "--field", f"id=L{i}", "--field", f"company=Acme {i}", "--field", "phone=13800000000", "--field", "size=10", at, "2026-11-23T09:00:00+08:00").returncode == 0
    assert fenpei(tmp_path, "assign", "east", at, "2026-11-23T09:00:00+08:00").returncode == 0  # L0, L2 -> r1; L1 -> r2

    bad = fenpei(tmp_path, "leads", "update", "L0", "sise=5", "size=big")
    assert bad.returncode == 1 and bad.stdout.splitlines() == ["sise: unknown field (did you mean 'size'?)", "size: 'big' is not a valid integer"]
    assert fenpei(tmp_path, "leads", "update", "L0", "oops").stdout.strip() == "'oops' is not NAME=VALUE"
    stale = fenpei(tmp_path, "leads", "update", "L0", "size=150", "--expect-revision", "0")
    assert stale.returncode == 1 and stale.stdout.strip() == "lead L0 changed meanwhile; reload it and try again"
    done = fenpei(tmp_path, "leads", "update", "L0", "size=150", "--expect-revision", "1", at, "2026-11-23T11:00:00+08:00")
    assert done.returncode == 0, done
    assert done.stdout.splitlines() == [
        "lead L0 updated (revision 3): size 10 → 150",
        "  grades: tier C → A",
        "  reassigned from r1 to r3 by trigger upgrade",
        "  handover 1 opened: the previous owner fills the checklist, the new owner acknowledges it",
    ]
    assert fenpei(tmp_path, "leads", "update", "L0", "size=150").stdout.strip() == "lead L0: nothing changed (revision 3)"
    shown = fenpei(tmp_path, "leads", "show", "L0", "--rep", "r3").stdout.splitlines()
    assert "  phone: 13800000000" not in shown and "  hidden until the handover is acknowledged: phone" in shown
    assert fenpei(tmp_path, "leads", "show", "L0", "--rep", "r2").stdout.strip() == "lead L0 is not yours: a rep sees own leads and the pool"
    listed = fenpei(tmp_path, "handover", "list", "east").stdout.splitlines()
    assert listed == ["1  lead L0  r1 → r3  to_fill, waiting for r1 (upgrade)", "    items (* required): preferences*, meeting*, meeting_date, tender_status"]
    early = fenpei(tmp_path, "--lang", "zh", "handover", "ack", "1", "--rep", "r3")
    assert early.returncode == 1 and early.stdout.strip() == "交接单 1 还不能确认:r1 尚未填写交接清单"
    wrong = fenpei(tmp_path, "handover", "fill", "1", "--rep", "r1", "meeting=call")
    assert wrong.returncode == 1 and wrong.stdout.splitlines() == ["preferences: this item is required", "meeting_date: this item is required"]
    assert fenpei(tmp_path, "handover", "fill", "1", "--rep", "r1", "preferences=mornings", "meeting=none").stdout.strip() == "handover 1 filled; waiting for r3 to acknowledge it"
    assert fenpei(tmp_path, "handover", "ack", "1", "--rep", "r1").stdout.strip() == "only r3 (the new owner) acknowledges handover 1"
    assert fenpei(tmp_path, "handover", "ack", "1", "--rep", "r3").stdout.strip() == "handover 1 acknowledged; lead L0 unlocked for r3"
    assert "  phone: 13800000000" in fenpei(tmp_path, "leads", "show", "L0", "--rep", "r3").stdout.splitlines()
    assert fenpei(tmp_path, "handover", "list", "east").stdout.strip() == "east: no pending handovers"

    paused = fenpei(tmp_path, "reps", "pause", "r1", "--reason", "sick", at, "2026-11-23T12:00:00+08:00")
    assert paused.stdout.splitlines() == ["r1 paused", "  1 leads redistributed, 0 to the pool, 0 escalated (trigger away)", "    L2 → r2 (handover 2)"]
    assert fenpei(tmp_path, "reps", "pause", "r1").stdout.strip() == "r1 was already paused"
    assert fenpei(tmp_path, "reps", "redistribute", "east").stdout.strip() == "east: no unavailable rep holds open leads"
    assert fenpei(tmp_path, "reps", "resume", "r1").stdout.strip() == "r1 active again"
    leave = fenpei(tmp_path, "reps", "leave", "r2", "--from", "2026-11-23", "--to", "2026-11-24", at, "2026-11-23T12:00:00+08:00")
    assert leave.stdout.splitlines()[0] == "r2: leave recorded from 2026-11-23 to 2026-11-24"
    assert "    L1 → r1 (handover 3)" in leave.stdout.splitlines()
    bad_date = fenpei(tmp_path, "reps", "leave", "r2", "--from", "tomorrow", "--to", "2026-11-24")
    assert bad_date.returncode == 1 and bad_date.stdout.strip() == "--from: 'tomorrow' is not a date (YYYY-MM-DD)"
    assert fenpei(tmp_path, "reps", "deactivate", "r9").stdout.strip() == "no rep 'r9'"
    trail = fenpei(tmp_path, "explain", "L2").stdout.splitlines()
    assert trail[-2].startswith("2026-11-23T12:00:00+08:00 redistribute (v1, away) by lead-manager: Ann is unavailable; reassigned to Bo")
    # L2 went back to r1, who knows the client: the open handover is cancelled and nothing is locked
    assert trail[-1].startswith("2026-11-23T12:00:00+08:00 redistribute (v1, away) by lead-manager: Bo is unavailable; reassigned to Ann")
    assert "  phone: 13800000000" in fenpei(tmp_path, "leads", "show", "L2", "--rep", "r1").stdout.splitlines()
    assert fenpei(tmp_path, "handover", "list", "east", "--rep", "r1").stdout.splitlines()[0] == "3  lead L1  r2 → r1  to_fill, waiting for r2 (away)"


def test_the_hourly_job_moves_leads_when_a_leave_starts_once_however_often_it_runs(sessions: sessionmaker[Session], db_url: str, tmp_path: Path) -> None:
    from configurator import runners
    from configurator.context import Workspace
    from configurator.models import Job
    from configurator.settings import Settings

    setup_team(sessions, n_leads=4)  # r1: L0, L2; r2: L1, L3
    tomorrow = LATER.date() + dt.timedelta(days=1)
    with session_scope(sessions, write_lock=True) as s:
        pool_svc.log_followup(s, "L0", "r1", {"note": "called"}, LATER)
        svc.add_leave(s, "r1", tomorrow, tomorrow + dt.timedelta(days=2), "manager", LATER, "annual leave")
    ws = Workspace(Settings(instance=tmp_path, database_url=db_url, broker_url="sqlite:////dev/null", job_lease=30))
    try:
        morning = dt.datetime.combine(tomorrow, dt.time(8, 5), NOW.tzinfo)
        first = runners.schedule_periodic(ws, morning, lambda _id: None)
        again = runners.schedule_periodic(ws, morning + dt.timedelta(minutes=20), lambda _id: None)  # a second scheduler, same hour
        with session_scope(sessions) as s:
            kinds = {job_id: s.get(Job, job_id).kind for job_id in first.created}  # type: ignore[union-attr]
        (job_id,) = [j for j, kind in kinds.items() if kind == "redistribute"]
        assert job_id in again.existing and job_id not in again.created
        assert runners.execute(ws, job_id, lease_seconds=30) == "done"
        assert runners.execute(ws, job_id, lease_seconds=30) == "done"  # delivered twice: nothing more
        with session_scope(sessions) as s:
            job = s.get(Job, job_id)
            assert job is not None and job.result is not None
            assert (job.result["moved"], job.result["reps"], job.result["trigger"]) == (2, {"r1": "on_leave"}, "away")
            owners = dict(s.execute(select(Lead.id, Lead.owner_id)).all())
            assert owners["L0"] != "r1" and owners["L2"] != "r1" and (owners["L1"], owners["L3"]) == ("r2", "r2")
            moved = s.get(Lead, "L0")  # r1's follow-up does not count for the new owner's clock
            assert moved is not None and (moved.followup_count, moved.last_followup_at) == (0, None)
            moves = s.scalars(select(AuditEvent).where(AuditEvent.action == "redistribute")).all()
            assert sorted(a.lead_id for a in moves) == ["L0", "L2"] and all(a.job_id == job_id for a in moves)
        later = runners.schedule_periodic(ws, morning + dt.timedelta(hours=1), lambda _id: None)
        (next_job,) = [j for j in later.created if j != job_id and j not in first.created and j not in again.existing and _kind(sessions, j) == "redistribute"]
        assert runners.execute(ws, next_job, lease_seconds=30) == "done"
        with session_scope(sessions) as s:
            nothing = s.get(Job, next_job)
            assert nothing is not None and nothing.result is not None and nothing.result["moved"] == 0
    finally:
        ws.engine.dispose()


def _kind(sessions: sessionmaker[Session], job_id: int) -> str:
    from configurator.models import Job

    with session_scope(sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job.kind
