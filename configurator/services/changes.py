"""What a change means for a lead's ownership: lead updates with their triggers, and reps becoming unavailable.

- :func:`update_lead` validates changed fields, stores them with a conditional update by revision,
  grades the lead again, scores ``stage.changed`` / ``lead.converted``, and runs the template's lead
  triggers (:func:`rule_engine.on_lead_change`): a reassignment (with a handover when the trigger
  says so), a return to the pool, an escalation, or a suggestion that changes nothing.
- :func:`set_rep_status` and :func:`add_leave` change a rep's availability and redistribute the
  rep's open leads at once when the rep is unavailable now; :func:`redistribute_unavailable` is
  the periodic pass (a leave that starts today) and is idempotent: a second run moves nothing.

Every ownership change takes the team's rotation lock first (:func:`lock_rotation`; on SQLite the
session must come from ``session_scope(factory, write_lock=True)``), is conditional on the lead's
revision and owner, and is audited with the trigger's name, the template version and the engine's
explanation. Services never commit: the caller's unit of work does.

A lead counts as converted when the template's ``won_when`` starts to hold with the change
(``lead.converted`` is scored then, once per lead and change).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from configurator.models import (
    AuditEvent,
    Lead,
    Leave,
    Rep,
    RotationState,
    Team,
    TemplateVersion,
)
from configurator.services import audit
from configurator.services import handovers as handovers_service
from configurator.services import points as points_service
from configurator.services import targets as targets_service
from configurator.services.assignment import lock_rotation
from configurator.services.leads import FRESH_OWNERSHIP, RECORD_COLUMNS, dedup_key, grade_record, record_of, to_json
from configurator.services.roster import snapshot, utc
from configurator.services.templates import ServiceError, compiled, get_version
from rule_engine import (
    CompiledTemplate,
    Event,
    InputError,
    Problem,
    TriggerOutcome,
    on_lead_change,
    on_rep_unavailable,
)
from rule_engine import Rep as EngineRep
from rule_engine import RotationState as EngineRotation
from rule_engine.errors import closest
from rule_engine.fields import coerce
from rule_engine.roster import STATUSES
from rule_engine.template import LEAD_BUILTIN_FIELDS
from rule_engine.triggers import LEAD_EVENTS

__all__ = ["LeadUpdate", "Move", "Redistribution", "RepChange", "add_leave", "redistribute_unavailable", "set_rep_status", "update_lead"]


LEADS = cast(Table, Lead.__table__)
AUDIT = cast(Table, AuditEvent.__table__)
_BATCH = 500

# Audit action of a trigger's outcome on one lead (a redistribution is audited as "redistribute").
_LEAD_ACTIONS = {"reassign": "reassign", "pool": "pool", "escalated": "escalate", "error": "escalate"}
_STATES = {"reassign": "owned", "pool": "pool", "escalated": "escalated", "error": "escalated"}
_STATUS_WORDS = {"active": ("active", "在岗"), "paused": ("paused", "暂停接单"), "inactive": ("inactive", "停用")}
_WHY = {"paused": ("paused", "已暂停接单"), "inactive": ("deactivated", "已停用"), "on_leave": ("on leave", "休假中")}


def _refuse(code: str, en: str, zh: str, **params: Any) -> ServiceError:
    return ServiceError(Problem.make(code, en, zh, **params))


def _changed(lead_id: str) -> ServiceError:
    return _refuse("lead.changed", "lead {id} changed meanwhile; reload it and try again", "线索 {id} 已被他人修改,请刷新后重试", id=lead_id)


def _acting_triggers(template: CompiledTemplate) -> bool:
    """Whether a lead change may move the lead (a trigger that does more than suggest)."""
    return any(t.on in LEAD_EVENTS and t.action != "suggest" for t in template.triggers)


# ------------------------------------------------------------------------------------------------
# Moving leads (shared by triggers and redistribution)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """One lead leaving ``from_rep`` as a trigger decided; applied only if the lead is still at ``revision``."""

    lead_id: str
    revision: int
    from_rep: str
    outcome: TriggerOutcome
    weight: float
    outputs: Mapping[str, Any]
    is_open: bool
    reason: str | None = None

    @property
    def to_rep(self) -> str | None:
        return self.outcome.new_owner if self.outcome.action == "reassign" else None


def _sentences(template: CompiledTemplate, outcome: TriggerOutcome) -> dict[str, Any]:
    d = outcome.decision
    out: dict[str, Any] = {"trace": d.trace.to_dict() if d is not None and d.trace is not None else None}
    for lang, stop, joint in (("en", ".", ". Decision: "), ("zh", "。", "。决策:")):
        said = outcome.explain(lang)
        out[lang] = said.rstrip(".。") + joint + d.explain(template, lang) if d is not None else said
        out[lang] += "" if out[lang].endswith((".", "。")) else stop
    if d is not None and d.error is not None:
        out["error"] = d.error.code
    return out


def _apply_moves(
    session: Session,
    team: Team,
    template: CompiledTemplate,
    version: TemplateVersion,
    moves: Sequence[Move],
    actor: str,
    now: dt.datetime,
    *,
    action: str | None = None,
    job_id: int | None = None,
) -> dict[str, int | None]:
    """Apply ``moves`` set-based (one UPDATE executemany, one audit INSERT, handovers in bulk).

    All or nothing: if any lead changed meanwhile (revision, owner or state), nothing is applied
    and a ServiceError says so. Returns lead id -> the handover opened for it (or None).
    """
    if not moves:
        return {}
    now_utc = utc(now)
    savepoint = session.begin_nested()
    try:
        opened = handovers_service.transfer(
            session,
            template,
            version,
            [handovers_service.Transfer(m.lead_id, m.from_rep, m.to_rep, m.outcome.handover, m.outcome.trigger, m.reason) for m in moves],
            now,
        )
        params = []
        audit_rows = []
        for m in moves:
            to_rep = m.to_rep
            locked, handover_id = opened[m.lead_id]
            params.append(
                {
                    "b_id": m.lead_id,
                    "b_rev": m.revision,
                    "b_from": m.from_rep,
                    "b_owner": to_rep,
                    "b_state": _STATES.get(m.outcome.action, "escalated"),
                    "b_assigned_at": now_utc if to_rep is not None else None,
                    "b_locked": locked,
                    "b_weight": m.weight,
                    "b_outputs": dict(m.outputs),
                    "b_open": m.is_open,
                    "b_version": version.id,
                }
            )
            explanation = _sentences(template, m.outcome)
            if handover_id is not None:
                explanation["handover"] = handover_id
                explanation["en"] += f" Handover {handover_id} opened."
                explanation["zh"] += f"已创建交接单 {handover_id}。"
            audit_rows.append(
                {
                    "at": now_utc,
                    "team_id": team.id,
                    "actor": actor,
                    "action": action or _LEAD_ACTIONS.get(m.outcome.action, "escalate"),
                    "lead_id": m.lead_id,
                    "from_rep_id": m.from_rep,
                    "to_rep_id": to_rep,
                    "rule": m.outcome.trigger,
                    "template_version_id": version.id,
                    "reason": m.reason,
                    "explanation": explanation,
                    "job_id": job_id,
                }
            )
        leads = LEADS
        change = (
            update(leads)
            .where(leads.c.id == bindparam("b_id"), leads.c.revision == bindparam("b_rev"), leads.c.owner_id == bindparam("b_from"), leads.c.state == "owned")
            .values(
                owner_id=bindparam("b_owner"),
                previous_owner_id=bindparam("b_from"),
                state=bindparam("b_state"),
                assigned_at=bindparam("b_assigned_at"),
                from_pool=False,
                locked=bindparam("b_locked"),
                weight=bindparam("b_weight"),
                outputs=bindparam("b_outputs"),
                is_open=bindparam("b_open"),
                template_version_id=bindparam("b_version"),
                revision=leads.c.revision + 1,
                **FRESH_OWNERSHIP,  # the new owner's follow-up clock
            )
        )
        matched = cast("CursorResult[Any]", session.execute(change, params)).rowcount
        if matched != len(params):
            raise _refuse(
                "move.conflict",
                "{n} of {total} leads changed while they were being moved; nothing was applied, try again",
                "{total} 条线索中有 {n} 条在转移过程中被修改;未做任何更改,请重试",
                n=len(params) - matched,
                total=len(params),
            )
        session.execute(insert(AUDIT), audit_rows)
        session.flush()
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    for m in moves:
        obj = session.identity_map.get(session.identity_key(Lead, m.lead_id))
        if obj is not None:
            session.expire(obj)
    return {lead_id: hid for lead_id, (_, hid) in opened.items()}


def _save_rotation(rotation: RotationState, state: EngineRotation) -> None:
    new = state.to_dict()
    if new != (rotation.state or {}):
        rotation.state = new
        rotation.revision = rotation.revision + 1


# ------------------------------------------------------------------------------------------------
# Updating a lead
# ------------------------------------------------------------------------------------------------


@dataclass
class LeadUpdate:
    """What :func:`update_lead` did."""

    lead_id: str
    revision: int  # the lead's revision afterwards
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (old, new), JSON values
    grades: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # table -> (old, new)
    outcomes: list[TriggerOutcome] = field(default_factory=list)  # every trigger that fired
    applied: TriggerOutcome | None = None  # the one that moved the lead
    owner: str | None = None  # the owner afterwards
    handover_id: int | None = None
    points: int = 0  # ledger entries written
    version: int | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def suggestions(self) -> list[TriggerOutcome]:
        return [o for o in self.outcomes if o.action == "suggest"]


def _describe_changes(changes: Mapping[str, tuple[Any, Any]], grades: Mapping[str, tuple[Any, Any]]) -> tuple[str, str]:
    def fmt(value: Any) -> str:
        return "(empty)" if value is None else str(value)

    def fmt_zh(value: Any) -> str:
        return "(空)" if value is None else str(value)

    en = "changed " + "; ".join(f"{k}: {fmt(a)} → {fmt(b)}" for k, (a, b) in changes.items())
    zh = "修改了 " + ";".join(f"{k}:{fmt_zh(a)} → {fmt_zh(b)}" for k, (a, b) in changes.items())
    if grades:
        en += "; grades: " + ", ".join(f"{k} {fmt(a)} → {fmt(b)}" for k, (a, b) in grades.items())
        zh += ";分级:" + "、".join(f"{k} {fmt_zh(a)} → {fmt_zh(b)}" for k, (a, b) in grades.items())
    return en, zh


def _validated(template: CompiledTemplate, lead: Lead, changes: Mapping[str, Any], *, text: bool) -> dict[str, Any]:
    """The lead's typed field values after ``changes``; InputError with one problem per field."""
    problems: list[Problem] = []
    known = list(template.fields)
    merged: dict[str, Any] = dict(lead.fields or {})
    for name, raw in changes.items():
        fdef = template.fields.get(name)
        if fdef is None:
            if name in LEAD_BUILTIN_FIELDS:
                problems.append(Problem.make("field.builtin", "{f} is kept by Fenpei and cannot be changed here", "{f} 由系统维护,不能在此修改", (name,), f=name))
            else:
                problems.append(Problem.make("field.unknown", "unknown field", "未知字段", (name,), suggestion=closest(name, known)))
            continue
        value, problem = coerce(fdef, raw, template.timezone, text=text)
        if problem is not None:
            problems.append(problem.under(name))
        elif value is None:
            merged.pop(name, None)
        else:
            merged[name] = to_json({name: value})[name]
    if problems:
        raise InputError(problems)
    values, problems = template.lead_record(merged)
    if problems:
        raise InputError(problems)
    return {k: v for k, v in values.items() if k in template.fields}


def update_lead(
    session: Session,
    lead_id: str,
    changes: Mapping[str, Any],
    actor: str,
    now: dt.datetime,
    *,
    expected_revision: int | None = None,
    text: bool = False,
    reason: str | None = None,
) -> LeadUpdate:
    """Change fields of ``lead_id`` (raw values; ``text`` for form or CLI input) and apply what follows.

    ``reason`` (e.g. the note of a stage change) is kept on the change's audit row.

    Per-field problems (unknown field, bad value, a field now required) are an InputError and
    nothing is stored. A change that leaves every field as it was does nothing. Otherwise the
    fields, grades, load weight and open flag are stored with a conditional update by revision
    (``expected_revision``: the revision the user saw; a mismatch is refused), audited as
    ``update``; ``stage.changed`` and ``lead.converted`` are scored for the owner; and for an owned
    lead the template's lead triggers run: the first that moves the lead is applied (audited
    with the trigger as rule; a handover opened where the trigger says so) and every suggestion
    is audited as ``suggest``. When the template has triggers that move leads, the team's
    rotation lock is taken first (on SQLite: a ``write_lock=True`` unit of work).
    """
    now_utc = utc(now)
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise _refuse("lead.unknown", "no lead {id!r}", "没有线索 {id!r}", id=lead_id)
    if not changes:
        raise _refuse("lead.no_change", "nothing to change: give at least one field", "没有要修改的内容:请至少给出一个字段")
    team = session.get(Team, lead.team_id)
    assert team is not None  # a foreign key
    version = get_version(session, team.template_name)
    template = compiled(version)
    rotation = None
    if _acting_triggers(template):
        rotation = lock_rotation(session, team)
        session.refresh(lead)  # what the lead is now that no move of its team can run
    if expected_revision is not None and lead.revision != expected_revision:
        raise _changed(lead_id)

    values = _validated(template, lead, changes, text=text)
    old_fields = dict(lead.fields or {})
    # Values of fields a later version dropped stay stored (an older version may read them again).
    new_fields = {**{k: v for k, v in old_fields.items() if k not in template.fields}, **to_json(values)}
    diff = {k: (old_fields.get(k), new_fields.get(k)) for k in sorted(set(old_fields) | set(new_fields)) if old_fields.get(k) != new_fields.get(k)}
    result = LeadUpdate(lead_id, lead.revision, owner=lead.owner_id, version=version.version)
    if not diff:
        return result
    key = dedup_key(template, values)
    if key is not None and key != lead.dedup_key:
        other = session.scalar(select(Lead.id).where(Lead.team_id == team.id, Lead.dedup_key == key, Lead.id != lead_id))
        if other is not None:
            raise _refuse(
                "lead.duplicate",
                "a lead with the same {fields} already exists: {id}",
                "已存在相同{fields}的线索:{id}",
                fields=", ".join(n for n, f in template.fields.items() if f.unique),
                id=other,
            )

    before = record_of(template, lead)
    after = {k: v for k, v in before.items() if k not in template.fields}
    after.update(values)
    old_grade = grade_record(template, before, now)
    grade = grade_record(template, after, now)
    grades = {k: (old_grade.outputs.get(k), grade.outputs.get(k)) for k in grade.outputs if old_grade.outputs.get(k) != grade.outputs.get(k)}
    revision = lead.revision
    leads = LEADS
    stored = session.execute(
        update(leads)
        .where(leads.c.id == lead_id, leads.c.revision == revision)
        .values(
            fields=new_fields,
            dedup_key=key,
            outputs=grade.outputs,
            weight=grade.weight,
            is_open=grade.is_open,
            template_version_id=version.id,
            revision=leads.c.revision + 1,
        )
    )
    if cast("CursorResult[Any]", stored).rowcount != 1:
        raise _changed(lead_id)
    revision += 1
    result.revision, result.changes, result.grades = revision, diff, grades
    owner_id = lead.owner_id if lead.state == "owned" else None

    roster: list[EngineRep] | None = None
    outcomes: list[TriggerOutcome] = []
    new_state: EngineRotation | None = None
    if owner_id is not None and any(t.on in LEAD_EVENTS for t in template.triggers):
        roster = snapshot(session, team, template, now)
        owner = next((r for r in roster if r.id == owner_id), None)
        state = EngineRotation.from_dict(rotation.state if rotation is not None else _rotation_state(session, team))
        outcomes, new_state = on_lead_change(template, before, after, owner, roster, state, now)
    result.outcomes = outcomes

    en, zh = _describe_changes(diff, grades)
    kept = [o for o in outcomes if o.action == "keep"]
    for o in kept:
        en += f"; trigger {o.trigger}: {o.explain('en')}"
        zh += f";触发器 {o.trigger}:{o.explain('zh')}"
    audit.record(
        session, at=now_utc, team_id=team.id, actor=actor, action="update", lead_id=lead_id, version_id=version.id, en=en, zh=zh,
        reason=(reason or "").strip() or None, changes={k: list(v) for k, v in diff.items()}, grades={k: list(v) for k, v in grades.items()},
    )

    # Targets: a deal won counts for its owner now (once per lead and metric); leads.won_at follows won_when.
    won = template.won_when
    if won is not None:
        won_now, won_before = won.fn(grade.values, None), won.fn(old_grade.values, None)
        if won_now != won_before:
            targets_service.record_won(session, team, template, lead_id, owner_id, grade.values, now, won=won_now)

    # Points: the stage the owner moved the lead to (scored before any trigger moves it on).
    events: list[Event] = []
    if owner_id is not None:
        data = {"previous_stage": diff["stage"][0]} if "stage" in diff else {}
        if "stage" in diff:
            events.append(Event("stage.changed", event_id=f"stage:{lead_id}:{revision}", at=now, rep=owner_id, lead=after, data=data))
        if won is not None and won.fn(grade.values, None) and not won.fn(old_grade.values, None):
            events.append(Event("lead.converted", event_id=f"converted:{lead_id}:{revision}", at=now, rep=owner_id, lead=after, data=data))
    if events and template.points is not None:
        reps = {r.id: r for r in (roster if roster is not None else snapshot(session, team, template, now))}
        result.points = points_service.write_entries(session, points_service.award(session, team, template, version, events, reps, now))

    for o in outcomes:
        if o.action != "suggest":
            continue
        session.execute(
            insert(AUDIT).values(
                at=now_utc,
                team_id=team.id,
                actor=actor,
                action="suggest",
                lead_id=lead_id,
                from_rep_id=owner_id,
                to_rep_id=o.new_owner,
                rule=o.trigger,
                template_version_id=version.id,
                reason=None,
                explanation=_sentences(template, o),
            )
        )

    acting = next((o for o in outcomes if o.action in _STATES), None)
    if acting is not None and owner_id is not None:
        d = acting.decision
        ok = d is not None and d.error is None
        move = Move(
            lead_id,
            revision,
            owner_id,
            acting,
            d.weight if ok and d is not None else grade.weight,
            d.outputs if ok and d is not None else grade.outputs,
            template.load.counts(d.values) if ok and d is not None else grade.is_open,
        )
        opened = _apply_moves(session, team, template, version, [move], actor, now)
        result.applied, result.handover_id = acting, opened.get(lead_id)
        result.revision = revision + 1
        result.owner = move.to_rep
        if rotation is not None and new_state is not None and acting.action == "reassign":
            _save_rotation(rotation, new_state)
    session.expire(lead)
    return result


def _rotation_state(session: Session, team: Team) -> dict[str, Any]:
    return session.scalar(select(RotationState.state).where(RotationState.team_id == team.id)) or {}


# ------------------------------------------------------------------------------------------------
# Reps becoming unavailable
# ------------------------------------------------------------------------------------------------


@dataclass
class Redistribution:
    """What one pass of :func:`redistribute_unavailable` did."""

    team: str
    trigger: str | None = None  # the template's rep_unavailable trigger (None: the template has none)
    template_version: int | None = None
    reps: dict[str, str] = field(default_factory=dict)  # unavailable rep -> why (paused, inactive, on_leave), those who held open leads
    moved: dict[str, str] = field(default_factory=dict)  # lead -> new owner
    pooled: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    handovers: dict[str, int] = field(default_factory=dict)  # lead -> handover opened

    @property
    def total(self) -> int:
        return len(self.moved) + len(self.pooled) + len(self.escalated)


_LEAD_COLUMNS = (*RECORD_COLUMNS, Lead.revision, Lead.weight, Lead.outputs, Lead.is_open)


def redistribute_unavailable(
    session: Session,
    team: Team,
    now: dt.datetime,
    *,
    rep_ids: Collection[str] | None = None,
    actor: str = "system",
    reason: str | None = None,
    job_id: int | None = None,
) -> Redistribution:
    """Move the open leads of the team's reps who are unavailable at ``now`` (paused, deactivated,
    or on leave today), by the template's ``rep_unavailable`` trigger: redistribute by the rules or
    return to the pool; audited as ``redistribute`` with the trigger as rule, with handovers where
    the trigger says so. ``rep_ids`` limits the pass to some reps.

    One engine call per rep for all of that rep's leads; each rep's moves raise the loads the next
    rep's leads see, so caps and quotas hold across the pass. One conditional UPDATE executemany
    for all leads, all or nothing. Idempotent: a second run finds no open leads left to move.
    Takes the team's rotation lock (on SQLite: a ``write_lock=True`` unit of work).
    """
    rotation = lock_rotation(session, team)
    version = get_version(session, team.template_name)
    template = compiled(version)
    result = Redistribution(team.slug, template_version=version.version)
    trig = next((t for t in template.triggers if t.on == "rep_unavailable"), None)
    if trig is None:
        return result
    result.trigger = trig.name
    roster = snapshot(session, team, template, now)
    day = now.astimezone(template.timezone).date()
    away = {r.id: why for r in roster if (why := r.unavailable_reason(day)) is not None and (rep_ids is None or r.id in rep_ids)}
    if not away:
        return result
    rows = session.execute(
        select(*_LEAD_COLUMNS)
        .where(Lead.team_id == team.id, Lead.state == "owned", Lead.is_open.is_(True), Lead.owner_id.in_(sorted(away)))
        .order_by(Lead.owner_id, Lead.assigned_at, Lead.id)
    ).all()
    if not rows:
        return result
    by_owner: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_owner[row.owner_id].append(row)
    reps = {r.id: r for r in roster}
    state = EngineRotation.from_dict(rotation.state)
    moves: list[Move] = []
    for rep_id in sorted(by_owner):
        held = by_owner[rep_id]
        result.reps[rep_id] = away[rep_id]
        records = [record_of(template, cast(Lead, row)) for row in held]
        outcomes, state = on_rep_unavailable(template, reps[rep_id], records, list(reps.values()), state, now)
        why_en, _ = _WHY.get(away[rep_id], (away[rep_id], away[rep_id]))
        for row, o in zip(held, outcomes, strict=True):
            d = o.decision
            ok = d is not None and d.error is None
            weight = d.weight if ok and d is not None else row.weight
            moves.append(
                Move(
                    row.id,
                    row.revision,
                    rep_id,
                    o,
                    weight,
                    d.outputs if ok and d is not None else (row.outputs or {}),
                    template.load.counts(d.values) if ok and d is not None else row.is_open,
                    reason or why_en,
                )
            )
            if o.action == "reassign" and o.new_owner is not None:
                # The next rep's leads see this one's moves (the engine returns no roster here).
                r = reps[o.new_owner]
                reps[o.new_owner] = replace(r, load=r.load + weight, open_count=r.open_count + 1, assigned_today=r.assigned_today + 1, assigned_week=r.assigned_week + 1)
                result.moved[row.id] = o.new_owner
            elif o.action == "pool":
                result.pooled.append(row.id)
            else:
                result.escalated.append(row.id)
    opened = _apply_moves(session, team, template, version, moves, actor, now, action="redistribute", job_id=job_id)
    result.handovers = {k: v for k, v in opened.items() if v is not None}
    _save_rotation(rotation, state)
    return result


@dataclass
class RepChange:
    """What :func:`set_rep_status` or :func:`add_leave` did."""

    rep_id: str
    old_status: str
    status: str
    changed: bool
    skipped_checklists: int = 0  # handovers the rep had to fill, sent on to acknowledgement (deactivation)
    leave: tuple[dt.date, dt.date] | None = None
    redistribution: Redistribution | None = None


def _rep(session: Session, rep_id: str) -> tuple[Rep, Team]:
    rep = session.get(Rep, rep_id)
    if rep is None:
        raise _refuse("rep.unknown", "no rep {r!r}", "没有销售 {r!r}", r=rep_id)
    team = session.get(Team, rep.team_id)
    assert team is not None  # a foreign key
    return rep, team


def _audit_rep(session: Session, team: Team, rep: Rep, action: str, actor: str, now_utc: dt.datetime, reason: str | None, en: str, zh: str) -> None:
    session.execute(
        insert(AUDIT).values(
            at=now_utc,
            team_id=team.id,
            actor=actor,
            action=action,
            lead_id=None,
            from_rep_id=rep.id,
            to_rep_id=None,
            rule=None,
            template_version_id=None,
            reason=reason,
            explanation={"trace": None, "en": en, "zh": zh},
        )
    )


def set_rep_status(session: Session, rep_id: str, status: str, actor: str, now: dt.datetime, reason: str | None = None) -> RepChange:
    """Set a rep ``active``, ``paused`` or ``inactive`` (audited), then redistribute the rep's open
    leads by the template's rules when the rep is unavailable.

    Setting the status a rep already has changes nothing but still runs the redistribution (it
    moves nothing the second time). Deactivating sends the checklists the rep still had to fill
    straight to the new owners' acknowledgement. Takes the team's rotation lock.
    """
    if status not in STATUSES:
        raise _refuse("rep.status", "{s!r} is not a rep status (use: {ok})", "{s!r} 不是有效的销售状态(可用:{ok})", suggestion=closest(status, STATUSES), s=status, ok=", ".join(STATUSES))
    reason = (reason or "").strip() or None
    now_utc = utc(now)
    rep, team = _rep(session, rep_id)
    lock_rotation(session, team)
    session.refresh(rep)
    old = rep.status
    change = RepChange(rep_id, old, status, old != status)
    if change.changed:
        rep.status = status
        session.flush()
        old_en, old_zh = _STATUS_WORDS.get(old, (old, old))
        new_en, new_zh = _STATUS_WORDS[status]
        why_en, why_zh = (f": {reason}", f":{reason}") if reason else ("", "")
        _audit_rep(
            session, team, rep, "rep.status", actor, now_utc, reason,
            f"{actor} changed {rep.name or rep.id} from {old_en} to {new_en}{why_en}",
            f"{actor} 将 {rep.name or rep.id} 由{old_zh}改为{new_zh}{why_zh}",
        )
    if status == "inactive":
        change.skipped_checklists = handovers_service.skip_fill(session, rep_id, now)
    if status != "active":
        change.redistribution = redistribute_unavailable(session, team, now, rep_ids={rep_id}, actor=actor, reason=reason)
    return change


def add_leave(session: Session, rep_id: str, start: dt.date, end: dt.date, actor: str, now: dt.datetime, reason: str | None = None) -> RepChange:
    """Record a leave from ``start`` to ``end`` (both included) for a rep (audited); when it covers
    today, the rep's open leads are redistributed at once, else the periodic pass does it the day
    it starts. Refused when the dates are reversed or overlap a leave already recorded.
    """
    if end < start:
        raise _refuse("leave.dates", "the leave ends ({end}) before it starts ({start})", "休假结束日期({end})早于开始日期({start})", start=start.isoformat(), end=end.isoformat())
    reason = (reason or "").strip() or None
    now_utc = utc(now)
    rep, team = _rep(session, rep_id)
    lock_rotation(session, team)
    for other_start, other_end in session.execute(select(Leave.start, Leave.end).where(Leave.rep_id == rep_id)):
        if other_start <= end and start <= other_end:
            raise _refuse(
                "leave.overlap",
                "{r} already has a leave from {a} to {b} that overlaps this one",
                "{r} 已有 {a} 至 {b} 的休假,与本次重叠",
                r=rep_id,
                a=other_start.isoformat(),
                b=other_end.isoformat(),
            )
    session.add(Leave(rep_id=rep_id, start=start, end=end))
    session.flush()
    why_en, why_zh = (f": {reason}", f":{reason}") if reason else ("", "")
    _audit_rep(
        session, team, rep, "rep.leave", actor, now_utc, reason,
        f"{actor} recorded a leave for {rep.name or rep.id} from {start.isoformat()} to {end.isoformat()}{why_en}",
        f"{actor} 为 {rep.name or rep.id} 登记休假 {start.isoformat()} 至 {end.isoformat()}{why_zh}",
    )
    change = RepChange(rep_id, rep.status, rep.status, True, leave=(start, end))
    template = compiled(get_version(session, team.template_name))
    today = now.astimezone(template.timezone).date()
    if start <= today <= end:
        change.redistribution = redistribute_unavailable(session, team, now, rep_ids={rep_id}, actor=actor, reason=reason)
    return change
