"""Handovers (交接): the checklist that goes with a lead when it changes owner.

When a trigger or a redistribution moves a lead to a new owner and the template asks for a
handover, :func:`transfer` opens one: the previous owner fills the template's checklist form
(:func:`fill_handover`), then the new owner acknowledges it (:func:`acknowledge_handover`). Until
then the lead is ``locked`` for the new owner: :func:`lead_view` hides its contact fields. The
acknowledgement unlocks the lead and scores ``handover.completed`` in the points ledger.

A lead has at most one open handover (a partial unique index). When it moves again before the
handover is done, the open one is ``cancelled`` and the new one starts from the same previous
owner with the answers already given, so what the customer's real contact knows is not lost.

The fields hidden while locked are the template's ``handover.contact_fields``, or, when it does
not list them, the fields of type ``phone`` or ``email`` (:func:`contact_fields`).

Services never commit: the caller's unit of work does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from configurator.clock import stored as _aware
from configurator.models import AuditEvent, Handover, Lead, Rep, Team, TemplateVersion
from configurator.services import points as points_service
from configurator.services.leads import grade_record, record_of, to_json
from configurator.services.roster import utc
from configurator.services.templates import ServiceError, compiled, get_version
from rule_engine import CompiledTemplate, EvaluationError, Event, InputError, Problem
from rule_engine.errors import closest
from rule_engine.fields import FieldDef, coerce
from rule_engine.template import FormDef

__all__ = [
    "CONTACT_TYPES",
    "OPEN",
    "HandoverView",
    "LeadView",
    "Transfer",
    "acknowledge_handover",
    "checklist_form",
    "contact_fields",
    "fill_handover",
    "get_handover",
    "lead_view",
    "pending_handovers",
    "skip_fill",
    "transfer",
]

OPEN = ("to_fill", "to_ack")
CONTACT_TYPES = frozenset({"phone", "email"})

HANDOVERS = cast(Table, Handover.__table__)
LEADS = cast(Table, Lead.__table__)
AUDIT = cast(Table, AuditEvent.__table__)
_BATCH = 500


def _refuse(code: str, en: str, zh: str, **params: Any) -> ServiceError:
    return ServiceError(Problem.make(code, en, zh, **params))


def contact_fields(template: CompiledTemplate) -> tuple[str, ...]:
    """The lead fields hidden from a new owner until the handover is acknowledged."""
    if template.handover is not None and template.handover.contact_fields is not None:
        return template.handover.contact_fields
    return tuple(name for name, f in template.fields.items() if f.type in CONTACT_TYPES)


def checklist_form(template: CompiledTemplate) -> FormDef | None:
    """The template's handover checklist form (None when the template has no handover)."""
    if template.handover is None:
        return None
    return template.forms.get(template.handover.form)


def _items(form: FormDef) -> list[dict[str, Any]]:
    """The checklist's items as stored with a handover, so it reads the same after a new version."""
    return [
        {"name": f.name, "type": f.type, "title": f.title.to_dict(), "required": f.required, "conditional": f.required_when is not None}
        for f in sorted(form.fields.values(), key=lambda f: f.order)
    ]


# ------------------------------------------------------------------------------------------------
# Opening handovers with an ownership change (called by the services that move leads)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """One lead changing owner: ``to_rep`` None when it goes to the pool or to a manager."""

    lead_id: str
    from_rep: str | None
    to_rep: str | None
    handover: bool  # the trigger asks for a handover
    rule: str | None
    reason: str | None = None


def transfer(session: Session, template: CompiledTemplate, version: TemplateVersion, moves: Sequence[Transfer], now: dt.datetime) -> dict[str, tuple[bool, int | None]]:
    """Cancel the moved leads' open handovers and open the new ones; returns lead id -> (locked, handover id).

    A lead is locked for its new owner when a handover was opened and the template requires an
    acknowledgement. Set-based: one query for the open handovers per 500 leads, one UPDATE and
    one INSERT whatever the number of leads. Run it in the same transaction as the move.
    """
    now_utc = utc(now)
    lead_ids = [m.lead_id for m in moves]
    current: dict[str, Any] = {}
    for i in range(0, len(lead_ids), _BATCH):
        for row in session.execute(
            select(Handover.id, Handover.lead_id, Handover.from_rep_id, Handover.status, Handover.checklist).where(
                Handover.lead_id.in_(lead_ids[i : i + _BATCH]), Handover.status.in_(OPEN)
            )
        ):
            current[row.lead_id] = row
    form = checklist_form(template)
    spec = template.handover
    givers = {m.from_rep for m in moves if m.from_rep} | {row.from_rep_id for row in current.values() if row.from_rep_id}
    inactive = set(session.scalars(select(Rep.id).where(Rep.id.in_(givers), Rep.status == "inactive"))) if givers else set()

    cancels: list[dict[str, Any]] = []
    opened: list[dict[str, Any]] = []
    locked: dict[str, bool] = {}
    for m in moves:
        old = current.get(m.lead_id)
        if old is not None:
            cancels.append({"b_id": old.id, "b_status": old.status})
        locked[m.lead_id] = False
        if m.to_rep is None or not m.handover or form is None or spec is None:
            continue
        # The one who knows the customer: the giver of a handover not yet done, else the owner it leaves.
        giver = old.from_rep_id if old is not None else m.from_rep
        if giver is None or giver == m.to_rep:
            continue
        answers = dict((old.checklist or {}).get("answers") or {}) if old is not None else {}
        status = old.status if old is not None else "to_fill"
        checklist: dict[str, Any] = {"form": form.name, "title": form.title.to_dict(), "items": _items(form), "answers": answers}
        if status == "to_fill" and giver in inactive:
            # Nobody can fill it any more: the new owner acknowledges what there is.
            status = "to_ack"
            checklist["skipped"] = {"en": f"{giver} is deactivated and cannot fill the checklist", "zh": f"{giver} 已停用,无法填写交接清单"}
        opened.append(
            {
                "lead_id": m.lead_id,
                "from_rep_id": giver,
                "to_rep_id": m.to_rep,
                "status": status,
                "checklist": checklist,
                "reason": m.reason,
                "rule": m.rule,
                "template_version_id": version.id,
                "created_at": now_utc,
                "filled_at": now_utc if status == "to_ack" else None,
            }
        )
        locked[m.lead_id] = spec.require_ack
    if cancels:
        h = HANDOVERS
        stmt = update(h).where(h.c.id == bindparam("b_id"), h.c.status == bindparam("b_status")).values(status="cancelled")
        done = cast("CursorResult[Any]", session.execute(stmt, cancels)).rowcount
        if done != len(cancels):
            raise _refuse("handover.changed", "a handover changed meanwhile; nothing was applied, try again", "交接单已被他人修改;未做任何更改,请重试")
    ids: dict[str, int] = {}
    if opened:
        session.execute(insert(HANDOVERS), opened)
        new_leads = [row["lead_id"] for row in opened]
        for i in range(0, len(new_leads), _BATCH):
            ids.update(
                (lead_id, hid)
                for hid, lead_id in session.execute(select(Handover.id, Handover.lead_id).where(Handover.lead_id.in_(new_leads[i : i + _BATCH]), Handover.status.in_(OPEN)))
            )
    return {m.lead_id: (locked[m.lead_id], ids.get(m.lead_id)) for m in moves}


def skip_fill(session: Session, rep_id: str, now: dt.datetime) -> int:
    """Checklists a deactivated rep still had to fill go straight to the new owners' acknowledgement.

    Returns how many. The checklist keeps a note saying why it is empty.
    """
    now_utc = utc(now)
    rows = session.execute(select(Handover.id, Handover.checklist).where(Handover.from_rep_id == rep_id, Handover.status == "to_fill")).all()
    if not rows:
        return 0
    note = {"en": f"{rep_id} is deactivated and cannot fill the checklist", "zh": f"{rep_id} 已停用,无法填写交接清单"}
    h = HANDOVERS
    stmt = update(h).where(h.c.id == bindparam("b_id"), h.c.status == "to_fill").values(status="to_ack", checklist=bindparam("b_checklist"), filled_at=now_utc)
    session.execute(stmt, [{"b_id": hid, "b_checklist": {**(checklist or {}), "skipped": note}} for hid, checklist in rows])
    return len(rows)


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandoverView:
    """One handover as the people involved see it."""

    id: int
    lead_id: str
    from_rep: str | None
    to_rep: str
    status: str
    rule: str | None
    reason: str | None
    created_at: dt.datetime
    filled_at: dt.datetime | None
    acked_at: dt.datetime | None
    items: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    note: dict[str, str] | None = None

    @property
    def waiting_for(self) -> str | None:
        """Whose turn it is: the previous owner (to fill), the new owner (to acknowledge), or nobody."""
        return self.from_rep if self.status == "to_fill" else self.to_rep if self.status == "to_ack" else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "lead": self.lead_id,
            "from": self.from_rep,
            "to": self.to_rep,
            "status": self.status,
            "waiting_for": self.waiting_for,
            "rule": self.rule,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "filled_at": self.filled_at.isoformat() if self.filled_at else None,
            "acked_at": self.acked_at.isoformat() if self.acked_at else None,
            "items": self.items,
            "answers": self.answers,
            "note": self.note,
        }


def _view(h: Handover) -> HandoverView:
    checklist = h.checklist or {}
    created = _aware(h.created_at)
    assert created is not None
    return HandoverView(
        h.id, h.lead_id, h.from_rep_id, h.to_rep_id, h.status, h.rule, h.reason, created, _aware(h.filled_at), _aware(h.acked_at),
        list(checklist.get("items") or []), dict(checklist.get("answers") or {}), checklist.get("skipped"),
    )


def get_handover(session: Session, handover_id: int) -> HandoverView:
    """One handover; ServiceError when there is none."""
    h = session.get(Handover, handover_id)
    if h is None:
        raise _refuse("handover.unknown", "no handover {id}", "没有交接单 {id}", id=handover_id)
    return _view(h)


def pending_handovers(session: Session, team: Team, rep_id: str | None = None) -> list[HandoverView]:
    """The team's handovers not yet done, oldest first; with ``rep_id``, those the rep gives or receives."""
    query = select(Handover).join(Lead, Lead.id == Handover.lead_id).where(Lead.team_id == team.id, Handover.status.in_(OPEN))
    if rep_id is not None:
        query = query.where(or_(Handover.from_rep_id == rep_id, Handover.to_rep_id == rep_id))
    return [_view(h) for h in session.scalars(query.order_by(Handover.created_at, Handover.id))]


@dataclass(frozen=True)
class LeadView:
    """A lead as one viewer may see it: contact fields hidden while it is locked for them."""

    id: str
    state: str
    owner: str | None
    revision: int
    fields: dict[str, Any]
    outputs: dict[str, Any]
    locked: bool
    hidden: tuple[str, ...] = ()
    handover: HandoverView | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "owner": self.owner,
            "revision": self.revision,
            "fields": self.fields,
            "outputs": self.outputs,
            "locked": self.locked,
            "hidden": list(self.hidden),
            "handover": self.handover.to_json() if self.handover else None,
        }


def lead_view(session: Session, lead_id: str, rep_id: str | None = None) -> LeadView:
    """The lead for ``rep_id`` (None: a manager, who sees everything).

    A rep sees a lead they own (its contact fields hidden while a handover to them is not yet
    acknowledged), a lead in the pool, and a lead whose handover they still have to fill; any
    other lead is refused.
    """
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise _refuse("lead.unknown", "no lead {id!r}", "没有线索 {id!r}", id=lead_id)
    open_handover = session.scalars(select(Handover).where(Handover.lead_id == lead_id, Handover.status.in_(OPEN))).first()
    view = _view(open_handover) if open_handover is not None else None
    fields = dict(lead.fields or {})
    hidden: tuple[str, ...] = ()
    if rep_id is not None:
        owns = lead.state == "owned" and lead.owner_id == rep_id
        gives = view is not None and view.from_rep == rep_id
        if not (owns or gives or lead.state == "pool"):
            raise _refuse("lead.not_yours", "lead {id} is not yours: a rep sees own leads and the pool", "线索 {id} 不属于你:销售只能查看自己的线索和公海", id=lead_id)
        if owns and lead.locked:
            team = session.get(Team, lead.team_id)
            assert team is not None  # a foreign key
            hidden = tuple(n for n in contact_fields(compiled(get_version(session, team.template_name))) if n in fields)
            for name in hidden:
                fields.pop(name)
    return LeadView(lead.id, lead.state, lead.owner_id, lead.revision, fields, dict(lead.outputs or {}), bool(lead.locked), hidden, view)


# ------------------------------------------------------------------------------------------------
# Filling and acknowledging
# ------------------------------------------------------------------------------------------------

_STATUS = {
    "to_fill": ("waiting for the previous owner to fill the checklist", "等待原负责人填写交接清单"),
    "to_ack": ("filled, waiting for the new owner to acknowledge it", "已填写,等待新负责人确认"),
    "done": ("already completed", "已完成"),
    "cancelled": ("cancelled: the lead moved again", "已取消:线索已再次转移"),
}


def _locked_handover(session: Session, handover_id: int) -> Handover:
    h = session.scalars(select(Handover).where(Handover.id == handover_id).with_for_update().execution_options(populate_existing=True)).first()
    if h is None:
        raise _refuse("handover.unknown", "no handover {id}", "没有交接单 {id}", id=handover_id)
    return h


def _wrong_state(h: Handover, want: str) -> ServiceError:
    en, zh = _STATUS.get(h.status, (h.status, h.status))
    if want == "to_ack" and h.status == "to_fill":
        return _refuse(
            "handover.not_filled",
            "handover {id} cannot be acknowledged yet: {who} has not filled the checklist",
            "交接单 {id} 还不能确认:{who} 尚未填写交接清单",
            id=h.id,
            who=h.from_rep_id,
        )
    return _refuse("handover.state", "handover {id} is {state}", "交接单 {id} {state_zh}", id=h.id, state=en, state_zh=zh)


def _lead_values(template: CompiledTemplate, lead: Lead, now: dt.datetime) -> dict[str, Any]:
    record = record_of(template, lead)
    try:
        return grade_record(template, record, now).values
    except EvaluationError:  # conditions of the checklist then see the lead's fields only
        return template.values(record, now)


def _holds(fdef_condition: Any, values: Mapping[str, Any]) -> bool:
    try:
        return bool(fdef_condition(values, None))
    except EvaluationError:
        return False


def _answers(template: CompiledTemplate, form: FormDef, raw: Mapping[str, Any], lead: Mapping[str, Any], *, text: bool) -> dict[str, Any]:
    """Typed answers of the checklist; InputError with one problem per item."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    names = list(form.fields)
    for key, raw_value in raw.items():
        fdef = form.fields.get(key)
        if fdef is None:
            problems.append(Problem.make("handover.item", "not an item of the checklist", "不是交接清单中的项目", (key,), suggestion=closest(key, names)))
            continue
        value, problem = coerce(fdef, raw_value, template.timezone, text=text)
        if problem is not None:
            problems.append(problem.under(key))
        elif value is not None:
            values[key] = value
    given = {p.path[0] for p in problems}
    for name, fdef in form.fields.items():
        if name not in values and name not in given and fdef.default is not None:
            values[name] = fdef.default
    seen = {**lead, **values}
    for name, fdef in form.fields.items():
        if name in values or name in given:
            continue
        if _visible(fdef, seen) and (fdef.required or (fdef.required_when is not None and _holds(fdef.required_when, seen))):
            problems.append(Problem.make("field.required", "this item is required", "此项为必填", (name,)))
    if problems:
        raise InputError(problems)
    # An answer to an item the form hides is not kept: the filler never saw the question.
    return {k: v for k, v in values.items() if _visible(form.fields[k], seen)}


def _visible(fdef: FieldDef, seen: Mapping[str, Any]) -> bool:
    return fdef.visible_when is None or _holds(fdef.visible_when, seen)


def _audit(session: Session, lead: Lead, h: Handover, action: str, actor: str, now_utc: dt.datetime, en: str, zh: str) -> None:
    session.execute(
        insert(AUDIT).values(
            at=now_utc,
            team_id=lead.team_id,
            actor=actor,
            action=action,
            lead_id=lead.id,
            from_rep_id=h.from_rep_id,
            to_rep_id=h.to_rep_id,
            rule=h.rule,
            template_version_id=h.template_version_id,
            reason=None,
            explanation={"trace": None, "en": en, "zh": zh, "handover": h.id},
        )
    )


def _lead_and_version(session: Session, h: Handover) -> tuple[Lead, TemplateVersion]:
    """The handover's lead, and the template version it was opened on (else the team's current one)."""
    lead = session.get(Lead, h.lead_id)
    assert lead is not None  # a foreign key
    version = session.get(TemplateVersion, h.template_version_id) if h.template_version_id is not None else None
    if version is None:
        team = session.get(Team, lead.team_id)
        assert team is not None
        version = get_version(session, team.template_name)
    return lead, version


def fill_handover(session: Session, handover_id: int, rep_id: str, answers: Mapping[str, Any], now: dt.datetime, *, text: bool = False) -> HandoverView:
    """The previous owner ``rep_id`` fills the checklist of handover ``handover_id``.

    Answers are checked against the checklist form of the version that opened the handover:
    unknown items, wrong types and missing required items (conditions may read the lead's
    fields) are an InputError with one problem per item; nothing is stored then. Refused when
    ``rep_id`` is not the previous owner or the handover is not waiting to be filled. When the
    template does not require an acknowledgement the handover is complete at once.
    """
    now_utc = utc(now)
    h = _locked_handover(session, handover_id)
    if h.from_rep_id != rep_id:
        raise _refuse(
            "handover.not_giver",
            "only {who} (the previous owner) fills the checklist of handover {id}",
            "交接单 {id} 的清单只能由原负责人 {who} 填写",
            who=h.from_rep_id,
            id=h.id,
        )
    if h.status != "to_fill":
        raise _wrong_state(h, "to_fill")
    lead, version = _lead_and_version(session, h)
    template = compiled(version)
    form = template.forms.get(str((h.checklist or {}).get("form"))) or checklist_form(template)
    if form is None:
        raise _refuse("handover.form", "template version {v} has no handover checklist form", "模板第 {v} 版没有交接清单表单", v=version.version)
    typed = _answers(template, form, answers, _lead_values(template, lead, now), text=text)
    require_ack = template.handover.require_ack if template.handover is not None else True
    status = "to_ack" if require_ack else "done"
    checklist = {**(h.checklist or {}), "answers": to_json(typed)}
    h_table = HANDOVERS
    stmt = (
        update(h_table)
        .where(h_table.c.id == h.id, h_table.c.status == "to_fill")
        .values(status=status, checklist=checklist, filled_at=now_utc, acked_at=None if require_ack else now_utc)
    )
    if cast("CursorResult[Any]", session.execute(stmt)).rowcount != 1:
        raise _refuse("handover.changed", "handover {id} changed meanwhile; reload it and try again", "交接单 {id} 已被他人修改,请刷新后重试", id=h.id)
    _audit(
        session, lead, h, "handover.fill", rep_id, now_utc,
        f"{rep_id} filled the handover checklist for {h.to_rep_id} ({len(typed)} items)",
        f"{rep_id} 为 {h.to_rep_id} 填写了交接清单({len(typed)} 项)",
    )
    if not require_ack:
        _complete(session, lead, h, version, now)
    session.expire(h)
    session.refresh(h)
    return _view(h)


def acknowledge_handover(session: Session, handover_id: int, rep_id: str, now: dt.datetime) -> HandoverView:
    """The new owner ``rep_id`` acknowledges the filled checklist: the lead unlocks for them.

    Scores ``handover.completed`` (the template's rules say who earns it, typically the previous
    owner); the event id is the handover's, so it counts once. Refused when ``rep_id`` is not the
    new owner, the checklist is not filled yet, the handover is done or cancelled, or the lead is
    no longer theirs.
    """
    now_utc = utc(now)
    h = _locked_handover(session, handover_id)
    if h.to_rep_id != rep_id:
        raise _refuse(
            "handover.not_receiver",
            "only {who} (the new owner) acknowledges handover {id}",
            "交接单 {id} 只能由新负责人 {who} 确认",
            who=h.to_rep_id,
            id=h.id,
        )
    if h.status != "to_ack":
        raise _wrong_state(h, "to_ack")
    lead, version = _lead_and_version(session, h)
    savepoint = session.begin_nested()
    try:
        h_table, leads = HANDOVERS, LEADS
        done = session.execute(update(h_table).where(h_table.c.id == h.id, h_table.c.status == "to_ack").values(status="done", acked_at=now_utc))
        unlocked = session.execute(
            update(leads)
            .where(leads.c.id == lead.id, leads.c.owner_id == rep_id, leads.c.state == "owned")
            .values(locked=False, revision=leads.c.revision + 1)
        )
        if cast("CursorResult[Any]", done).rowcount != 1:
            raise _refuse("handover.changed", "handover {id} changed meanwhile; reload it and try again", "交接单 {id} 已被他人修改,请刷新后重试", id=h.id)
        if cast("CursorResult[Any]", unlocked).rowcount != 1:
            raise _refuse("handover.moved", "lead {lead} is no longer yours; handover {id} cannot be acknowledged", "线索 {lead} 已不归你负责,无法确认交接单 {id}", lead=lead.id, id=h.id)
        session.expire(lead)
        _audit(
            session, lead, h, "handover.ack", rep_id, now_utc,
            f"{rep_id} acknowledged the handover checklist from {h.from_rep_id}; contact details unlocked",
            f"{rep_id} 确认了 {h.from_rep_id} 的交接清单;联系方式已解锁",
        )
        _complete(session, lead, h, version, now)
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    session.expire(h)
    session.refresh(h)
    return _view(h)


def _complete(session: Session, lead: Lead, h: Handover, version: TemplateVersion, now: dt.datetime) -> int:
    """Score ``handover.completed`` once per handover; returns the ledger entries written."""
    team = session.get(Team, lead.team_id)
    assert team is not None
    template = compiled(version)
    record = record_of(template, lead)
    answers = dict((session.scalar(select(Handover.checklist).where(Handover.id == h.id)) or {}).get("answers") or {})
    event = Event("handover.completed", event_id=f"handover:{h.id}", at=now, rep=h.to_rep_id, lead=record, previous_owner=h.from_rep_id, data=answers)
    return points_service.award_events(session, team, [event], now, version=version)
