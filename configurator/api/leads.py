"""Teams, reps, leads, follow-ups, stage changes, exports, the pool and assignment.

Thin routes: each checks access (``access``), then calls one service. Field values in bodies
are JSON values (numbers as numbers, dates as ISO strings, tags as lists); the template's field
definitions validate them, and anything not a field of the template is refused by name.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response
from sqlalchemy import select

from configurator.api.access import lead_for, leads_for, team_for, visible_leads
from configurator.api.errors import ApiError
from configurator.api.spec import ANYONE, STAFF, Call, component, operation, page_query
from configurator.clock import iso as _iso
from configurator.clock import stored
from configurator.models import FollowUp, Lead, Rep, Team
from configurator.services import assignment as assignment_service
from configurator.services import changes as changes_service
from configurator.services import exports as exports_service
from configurator.services import handovers as handovers_service
from configurator.services import leads as leads_service
from configurator.services import pool as pool_service
from configurator.services import teams as teams_service
from configurator.services.templates import compiled, get_version
from rule_engine import CompiledTemplate, InputError, Problem
from rule_engine.errors import closest

__all__ = ["bp", "lead_json"]

bp = Blueprint("api_leads", __name__)

_STRING_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_REASON = {"type": "string", "minLength": 1, "maxLength": 1000}
_FIELDS = {"type": "object", "maxProperties": 200, "description": "Values of the template's fields by name (JSON types)."}

LEAD = component(
    "Lead",
    {
        "type": "object",
        "required": ["id", "team", "state", "owner", "fields", "grades", "revision"],
        "properties": {
            "id": {"type": "string"},
            "team": {"type": "string"},
            "state": {"type": "string", "enum": ["new", "owned", "pool", "escalated"]},
            "owner": {"type": ["string", "null"]},
            "previous_owner": {"type": ["string", "null"]},
            "fields": {"type": "object"},
            "grades": {"type": "object"},
            "locked": {"type": "boolean", "description": "Contact fields are hidden from the new owner until they acknowledge the handover."},
            "hidden": {"type": "array", "items": {"type": "string"}},
            "revision": {"type": "integer"},
            "created_at": {"type": ["string", "null"]},
            "assigned_at": {"type": ["string", "null"]},
            "last_followup_at": {"type": ["string", "null"]},
            "followup_count": {"type": "integer"},
            "reclaim_count": {"type": "integer"},
            "reclaimed_at": {"type": ["string", "null"]},
        },
    },
)
LEAD_PAGE = component(
    "LeadPage",
    {"type": "object", "required": ["items", "next"], "properties": {"items": {"type": "array", "items": LEAD}, "next": {"type": ["string", "null"]}}},
)
TEAM = component(
    "Team",
    {"type": "object", "required": ["slug", "name", "template"], "properties": {"slug": {"type": "string"}, "name": {"type": "string"}, "template": {"type": "string"}}},
)
REP = component(
    "Rep",
    {
        "type": "object",
        "required": ["id", "name", "status"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "status": {"type": "string"},
            "manager": {"type": ["string", "null"]},
            "attrs": {"type": "object"},
        },
    },
)
ASSIGN_RESULT = component(
    "AssignResult",
    {
        "type": "object",
        "required": ["template_version", "counts", "assigned", "pool", "escalated"],
        "properties": {
            "template_version": {"type": ["integer", "null"]},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "assigned": {"type": "object", "additionalProperties": {"type": "string"}},
            "pool": {"type": "array", "items": {"type": "string"}},
            "escalated": {"type": "array", "items": {"type": "string"}},
        },
    },
)
TRAIL = component(
    "TrailEntry",
    {
        "type": "object",
        "required": ["at", "action", "actor", "sentence"],
        "properties": {
            "at": {"type": "string"},
            "action": {"type": "string"},
            "actor": {"type": "string"},
            "from": {"type": ["string", "null"]},
            "to": {"type": ["string", "null"]},
            "rule": {"type": ["string", "null"]},
            "template_version": {"type": ["integer", "null"]},
            "reason": {"type": ["string", "null"]},
            "sentence": {"type": "string"},
        },
    },
)


def lead_json(lead: Lead, team_slug: str, hidden: tuple[str, ...] = ()) -> dict[str, Any]:
    """A lead as the API shows it (``hidden`` fields left out)."""
    fields = {k: v for k, v in (lead.fields or {}).items() if k not in hidden}
    return {
        "id": lead.id,
        "team": team_slug,
        "state": lead.state,
        "owner": lead.owner_id,
        "previous_owner": lead.previous_owner_id,
        "fields": fields,
        "grades": dict(lead.outputs or {}),
        "locked": bool(lead.locked),
        "hidden": list(hidden),
        "revision": lead.revision,
        "created_at": _iso(lead.created_at),
        "assigned_at": _iso(lead.assigned_at),
        "last_followup_at": _iso(lead.last_followup_at),
        "followup_count": lead.followup_count,
        "reclaim_count": lead.reclaim_count,
        "reclaimed_at": _iso(lead.reclaimed_at),
    }


def _template(call: Call, team: Team) -> CompiledTemplate:
    return compiled(get_version(call.db, team.template_name))


def _hidden_for(call: Call, lead: Lead, template: CompiledTemplate) -> tuple[str, ...]:
    """The contact fields a rep does not see yet on a lead handed to them."""
    who = call.principal
    if who.role == "rep" and lead.locked and lead.owner_id == who.rep_id:
        return tuple(n for n in handovers_service.contact_fields(template) if n in (lead.fields or {}))
    return ()


def _show(call: Call, lead: Lead) -> dict[str, Any]:
    team = call.db.get(Team, lead.team_id)
    assert team is not None
    return lead_json(lead, team.slug, _hidden_for(call, lead, _template(call, team)))


def _only_fields(template: CompiledTemplate, values: dict[str, Any], where: str = "fields") -> None:
    """Refuse any key that is not one of the template's fields (owner, points, state… are never set here)."""
    known = list(template.fields)
    problems = [
        Problem.make("field.unknown", "{f} is not a field of the template (owners, states and points are never set here)", "{f} 不是模板字段(负责人、状态和积分不能在此设置)", (where, name), suggestion=closest(name, known), f=name)
        for name in values
        if name not in template.fields
    ]
    if problems:
        raise InputError(problems)


def _in_fields(exc: InputError, *top: str) -> InputError:
    """The template's problems with a field as paths of the body (``$.fields.deal_size``); ``top`` names stay at the top."""
    return InputError([p.under("fields") if p.path and p.path[0] not in top else p for p in exc.problems])


# ------------------------------------------------------------------------------------------------
# Teams and reps
# ------------------------------------------------------------------------------------------------


@operation(bp, "GET", "/teams", summary="The teams I work in (all, for an admin)", tag="teams", response={"type": "array", "items": TEAM})
def teams_list(call: Call) -> list[dict[str, Any]]:
    stmt = select(Team).order_by(Team.slug)
    if not call.principal.is_admin:
        stmt = stmt.where(Team.id.in_(call.principal.team_ids))
    return [{"slug": t.slug, "name": t.name, "template": t.template_name} for t in call.db.scalars(stmt)]


@operation(bp, "GET", "/teams/{team}/reps", summary="A team's reps (a rep sees names and status only)", tag="reps", response={"type": "array", "items": REP})
def reps_list(call: Call, team: str) -> list[dict[str, Any]]:
    row = team_for(call, team)
    staff = call.principal.steers_team(row.id)
    out = []
    for rep in call.db.scalars(select(Rep).where(Rep.team_id == row.id).order_by(Rep.id)):
        item: dict[str, Any] = {"id": rep.id, "name": rep.name, "status": rep.status}
        if staff:
            item.update(manager=rep.manager, attrs=dict(rep.attrs or {}))
        out.append(item)
    return out


@operation(
    bp, "POST", "/reps/{rep}/status", summary="Pause, resume or deactivate a rep (their open leads move by the template's rules)", tag="reps", roles=STAFF,
    body={"type": "object", "additionalProperties": False, "required": ["status"], "properties": {"status": {"type": "string", "enum": ["active", "paused", "inactive"]}, "reason": _REASON}},
    response={"type": "object", "required": ["rep", "status", "changed"], "properties": {"rep": {"type": "string"}, "status": {"type": "string"}, "changed": {"type": "boolean"}, "moved": {"type": "integer"}}},
)
def rep_status(call: Call, rep: str) -> dict[str, Any]:
    row = call.db.get(Rep, rep)
    if row is None or not call.principal.steers_team(row.team_id):
        raise ApiError.make(404, "rep.unknown", "no rep {r!r}", "没有销售 {r!r}", r=rep)
    change = changes_service.set_rep_status(call.db, rep, call.body["status"], call.principal.actor, call.now, call.body.get("reason"))
    moved = change.redistribution.total if change.redistribution is not None else 0
    return {"rep": rep, "status": change.status, "changed": change.changed, "moved": moved}


@operation(
    bp, "PUT", "/teams/{team}/reps/{rep}", summary="Create or update a rep: name, manager and the template's rep fields (status and leave have their own calls)", tag="reps", roles=STAFF,
    body={
        "type": "object",
        "additionalProperties": False,
        "properties": {"name": {"type": "string", "maxLength": 200}, "manager": {"type": ["string", "null"], "maxLength": 64}, "attrs": {"type": "object", "maxProperties": 100}},
    },
    response=REP,
)
def reps_put(call: Call, team: str, rep: str) -> dict[str, Any]:
    from dataclasses import replace

    from rule_engine.roster import Leave as EngineLeave
    from rule_engine.roster import rep_from_raw

    row = team_for(call, team, steer=True)
    template = _template(call, row)
    attrs = dict(call.body.get("attrs") or {})
    unknown = [k for k in attrs if k not in template.rep_fields]
    if unknown:
        raise InputError([Problem.make("rep.field", "{f} is not a rep field of the template", "{f} 不是模板的销售属性", ("attrs", k), suggestion=closest(k, list(template.rep_fields)), f=k) for k in unknown])
    existing = call.db.get(Rep, rep)
    raw = {"id": rep, "name": call.body.get("name", existing.name if existing else ""), "manager": call.body.get("manager", existing.manager if existing else None)}
    raw.update({**(dict(existing.attrs or {}) if existing else {}), **attrs})
    record, problems = rep_from_raw(raw, template.rep_fields, template.timezone)
    if problems or record is None:
        raise InputError([p.under("attrs") if p.path and p.path[0] in template.rep_fields else p for p in problems])
    if existing is not None:
        record = replace(record, status=existing.status, leaves=tuple(EngineLeave(leave.start, leave.end) for leave in existing.leaves))
    teams_service.upsert_reps(call.db, row, [record])
    saved = call.db.get(Rep, rep)
    assert saved is not None
    return {"id": saved.id, "name": saved.name, "status": saved.status, "manager": saved.manager, "attrs": dict(saved.attrs or {})}


@operation(
    bp, "POST", "/reps/{rep}/leave", summary="Record a leave (both days included); open leads move when it starts", tag="reps", roles=STAFF, status=201,
    body={"type": "object", "additionalProperties": False, "required": ["start", "end"], "properties": {"start": {"type": "string", "format": "date", "maxLength": 10}, "end": {"type": "string", "format": "date", "maxLength": 10}, "reason": _REASON}},
    response={"type": "object", "required": ["rep", "start", "end"], "properties": {"rep": {"type": "string"}, "start": {"type": "string"}, "end": {"type": "string"}, "moved": {"type": "integer"}}},
)
def rep_leave(call: Call, rep: str) -> dict[str, Any]:
    row = call.db.get(Rep, rep)
    if row is None or not call.principal.steers_team(row.team_id):
        raise ApiError.make(404, "rep.unknown", "no rep {r!r}", "没有销售 {r!r}", r=rep)
    days = {}
    for key in ("start", "end"):
        try:
            days[key] = dt.date.fromisoformat(call.body[key])
        except ValueError:
            raise ApiError.make(422, "leave.dates", "not a date (YYYY-MM-DD)", "不是日期(YYYY-MM-DD)", (key,)) from None
    change = changes_service.add_leave(call.db, rep, days["start"], days["end"], call.principal.actor, call.now, call.body.get("reason"))
    return {"rep": rep, "start": days["start"].isoformat(), "end": days["end"].isoformat(), "moved": change.redistribution.total if change.redistribution is not None else 0}


# ------------------------------------------------------------------------------------------------
# Leads
# ------------------------------------------------------------------------------------------------


@operation(
    bp, "POST", "/teams/{team}/leads", summary="Create a lead (validated against the template's fields); optionally assign it at once", tag="leads", status=201,
    body={
        "type": "object",
        "additionalProperties": False,
        "required": ["fields"],
        "properties": {"id": _STRING_ID, "fields": _FIELDS, "assign": {"type": "boolean", "default": False, "description": "Assign the lead now by the template's policies."}},
    },
    response={"type": "object", "required": ["lead"], "properties": {"lead": LEAD, "assignment": {"type": ["object", "null"]}}},
)
def leads_create(call: Call, team: str) -> dict[str, Any]:
    row = team_for(call, team)
    version = get_version(call.db, row.template_name)
    template = compiled(version)
    _only_fields(template, call.body["fields"])
    raw = dict(call.body["fields"])
    if "id" in call.body:
        raw["id"] = call.body["id"]
    try:
        lead = leads_service.add_lead(call.db, row, version, raw, call.now)
    except InputError as exc:
        raise _in_fields(exc, "id") from None
    assignment = None
    if call.body.get("assign"):
        if not call.principal.steers_team(row.id) and call.principal.role == "rep":
            raise ApiError.make(403, "auth.manager", "only the team's manager or an admin may assign", "只有团队经理或管理员可以分配")
        result = assignment_service.assign_pending(call.db, row, call.now, actor=call.principal.actor, version=version, only=[lead.id])
        call.db.refresh(lead)
        assignment = {"owner": result.assigned.get(lead.id), "state": lead.state, "template_version": result.template_version}
    return {"lead": lead_json(lead, row.slug), "assignment": assignment}


_LIST_QUERY = {
    **page_query(),
    "state": {"type": "string", "enum": ["new", "owned", "pool", "escalated"], "description": "Only leads in this state."},
    "owner": {"type": "string", "maxLength": 64, "description": "Only this rep's leads."},
}


@operation(bp, "GET", "/teams/{team}/leads", summary="A team's leads I may see, in id order, a page at a time", tag="leads", query=_LIST_QUERY, response=LEAD_PAGE)
def leads_list(call: Call, team: str) -> dict[str, Any]:
    row = team_for(call, team)
    q = call.query
    stmt = visible_leads(select(Lead).where(Lead.team_id == row.id), call.principal)
    if q.get("state"):
        stmt = stmt.where(Lead.state == q["state"])
    if q.get("owner"):
        stmt = stmt.where(Lead.owner_id == q["owner"])
    if q.get("after"):
        stmt = stmt.where(Lead.id > q["after"])
    limit = q["limit"]
    leads = list(call.db.scalars(stmt.order_by(Lead.id).limit(limit + 1)))
    more = len(leads) > limit
    leads = leads[:limit]
    template = _template(call, row)
    return {"items": [lead_json(lead, row.slug, _hidden_for(call, lead, template)) for lead in leads], "next": leads[-1].id if more and leads else None}


@operation(bp, "GET", "/leads/{lead_id}", summary="One lead (contact fields hidden until a handover to me is acknowledged)", tag="leads", response=LEAD)
def leads_get(call: Call, lead_id: str) -> dict[str, Any]:
    lead = lead_for(call, lead_id, "view")
    return _show(call, lead)


@operation(
    bp, "PATCH", "/leads/{lead_id}", summary="Change a lead's fields; it is graded again and the template's triggers apply", tag="leads",
    body={"type": "object", "additionalProperties": False, "required": ["fields"], "properties": {"fields": {**_FIELDS, "minProperties": 1}, "revision": {"type": "integer", "minimum": 0, "description": "Refuse (409) if the lead changed since this revision."}}},
    response={"type": "object", "required": ["lead", "changed"], "properties": {"lead": LEAD, "changed": {"type": "object"}, "grades": {"type": "object"}, "handover": {"type": ["integer", "null"]}}},
)
def leads_update(call: Call, lead_id: str) -> dict[str, Any]:
    lead = lead_for(call, lead_id, "edit")
    team = call.db.get(Team, lead.team_id)
    assert team is not None
    _only_fields(_template(call, team), call.body["fields"])
    try:
        done = changes_service.update_lead(call.db, lead_id, call.body["fields"], call.principal.actor, call.now, expected_revision=call.body.get("revision"))
    except InputError as exc:
        raise _in_fields(exc) from None
    call.db.refresh(lead)
    return {
        "lead": _show(call, lead),
        "changed": {k: {"old": a, "new": b} for k, (a, b) in done.changes.items()},
        "grades": {k: {"old": a, "new": b} for k, (a, b) in done.grades.items()},
        "handover": done.handover_id,
    }


@operation(
    bp, "POST", "/leads/{lead_id}/stage", summary="Move a lead to another stage (with the fields that stage asks for)", tag="leads",
    body={"type": "object", "additionalProperties": False, "required": ["stage"], "properties": {"stage": {"type": "string", "minLength": 1, "maxLength": 64}, "fields": _FIELDS, "revision": {"type": "integer", "minimum": 0}, "note": {"type": "string", "maxLength": 1000, "description": "Why, kept with the change in the audit trail."}}},
    response={"type": "object", "required": ["lead"], "properties": {"lead": LEAD, "changed": {"type": "object"}}},
)
def leads_stage(call: Call, lead_id: str) -> dict[str, Any]:
    lead = lead_for(call, lead_id, "stage")
    team = call.db.get(Team, lead.team_id)
    assert team is not None
    template = _template(call, team)
    if "stage" not in template.fields:
        raise ApiError.make(422, "stage.none", "this team's template has no stage field", "该团队的模板没有阶段字段", ("stage",))
    extra = dict(call.body.get("fields") or {})
    _only_fields(template, extra)
    try:
        done = changes_service.update_lead(
            call.db, lead_id, {**extra, "stage": call.body["stage"]}, call.principal.actor, call.now, expected_revision=call.body.get("revision"), reason=call.body.get("note")
        )
    except InputError as exc:
        raise _in_fields(exc, "stage") from None
    call.db.refresh(lead)
    return {"lead": _show(call, lead), "changed": {k: {"old": a, "new": b} for k, (a, b) in done.changes.items()}}


FOLLOWUP = component(
    "FollowUp",
    {"type": "object", "required": ["id", "lead", "rep", "at", "data"], "properties": {"id": {"type": "integer"}, "lead": {"type": "string"}, "rep": {"type": "string"}, "at": {"type": "string"}, "data": {"type": "object"}}},
)


@operation(
    bp, "POST", "/leads/{lead_id}/followups", summary="Log a follow-up on my lead (the template's follow-up form)", tag="leads", roles=("rep",), status=201,
    body={"type": "object", "additionalProperties": False, "required": ["data"], "properties": {"data": _FIELDS, "at": {"type": "string", "format": "date-time", "maxLength": 40}}},
    response=FOLLOWUP,
)
def followups_create(call: Call, lead_id: str) -> dict[str, Any]:
    lead_for(call, lead_id, "followup")
    at = None
    if call.body.get("at"):
        try:
            at = dt.datetime.fromisoformat(call.body["at"])
        except ValueError:
            raise ApiError.make(422, "followup.at", "not a date and time (ISO 8601 with offset)", "不是日期时间(ISO 8601,带时区)", ("at",)) from None
        if at.tzinfo is None:
            raise ApiError.make(422, "followup.at", "give the time with its offset (+08:00)", "请给出带时区偏移的时间(+08:00)", ("at",))
        lead = call.db.get(Lead, lead_id)
        assigned = lead.assigned_at if lead is not None else None
        if assigned is not None and at < stored(assigned):
            raise ApiError.make(422, "followup.before", "the follow-up is dated before the lead was assigned to you", "跟进时间早于线索分配给你的时间", ("at",))
    rep_id = call.principal.rep_id
    assert rep_id is not None
    try:
        f = pool_service.log_followup(call.db, lead_id, rep_id, call.body["data"], call.now, at=at)
    except InputError as exc:
        raise InputError([p.under("data") for p in exc.problems]) from None
    return _followup_json(f)


def _followup_json(f: FollowUp) -> dict[str, Any]:
    return {"id": f.id, "lead": f.lead_id, "rep": f.rep_id, "at": _iso(f.at), "data": f.data}


@operation(
    bp, "GET", "/leads/{lead_id}/followups", summary="A lead's follow-ups, newest first", tag="leads",
    query={"limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
    response={"type": "array", "items": FOLLOWUP},
)
def followups_list(call: Call, lead_id: str) -> list[dict[str, Any]]:
    lead_for(call, lead_id, "view")
    rows = call.db.scalars(select(FollowUp).where(FollowUp.lead_id == lead_id).order_by(FollowUp.at.desc(), FollowUp.id.desc()).limit(call.query["limit"]))
    return [_followup_json(f) for f in rows]


@operation(
    bp, "GET", "/teams/{team}/leads/export", summary="Export the leads I may see as CSV or XLSX (formula-like cells neutralised)", tag="leads",
    query={"format": {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"}, "state": {"type": "string", "enum": ["new", "owned", "pool", "escalated"]}},
    produces=("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
)
def leads_export(call: Call, team: str) -> Response:
    row = team_for(call, team)
    fmt = call.query["format"]
    who = call.principal
    owner = None if who.steers_team(row.id) else who.rep_id
    if owner is None and not who.steers_team(row.id):
        raise ApiError.make(403, "auth.lead", "you may not export this team's leads", "你不能导出该团队的线索")
    states = {call.query["state"]} if call.query.get("state") else None
    data, _count = exports_service.export_leads(call.db, row, fmt, states=states, owner=owner)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, mimetype=media, headers={"Content-Disposition": f"attachment; filename={row.slug}-leads.{fmt}", "X-Content-Type-Options": "nosniff"})


# ------------------------------------------------------------------------------------------------
# The pool
# ------------------------------------------------------------------------------------------------


@operation(bp, "GET", "/teams/{team}/pool", summary="The team's public pool (公海), most recently reclaimed first", tag="pool", query={"limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "offset": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0}}, response={"type": "array", "items": LEAD})
def pool_list(call: Call, team: str) -> list[dict[str, Any]]:
    row = team_for(call, team)
    return [lead_json(lead, row.slug) for lead in pool_service.pool_leads(call.db, row, limit=call.query["limit"], offset=call.query["offset"])]


@operation(
    bp, "POST", "/pool/claim", summary="Claim leads from the pool (all or none; within the daily limit, maximum held and cooldown)", tag="pool", roles=("rep",),
    body={"type": "object", "additionalProperties": False, "required": ["leads"], "properties": {"leads": {"type": "array", "items": _STRING_ID, "minItems": 1, "maxItems": 100, "uniqueItems": True}}},
    response={"type": "array", "items": LEAD},
)
def pool_claim(call: Call) -> list[dict[str, Any]]:
    leads = leads_for(call, call.body["leads"], "claim")
    rep_id = call.principal.rep_id
    assert rep_id is not None
    out = []
    for i, lead in enumerate(leads):
        try:
            claimed = pool_service.claim(call.db, lead.id, rep_id, call.now)
        except InputError as exc:
            raise InputError([p.under("leads", i) for p in exc.problems]) from None
        out.append(_show(call, claimed))
    return out


@operation(
    bp, "POST", "/leads/{lead_id}/release", summary="Give my lead back to the pool, with a reason", tag="pool", roles=("rep",),
    body={"type": "object", "additionalProperties": False, "required": ["reason"], "properties": {"reason": _REASON}},
    response=LEAD,
)
def pool_release(call: Call, lead_id: str) -> dict[str, Any]:
    lead_for(call, lead_id, "release")
    rep_id = call.principal.rep_id
    assert rep_id is not None
    return _show(call, pool_service.release(call.db, lead_id, rep_id, call.body["reason"], call.now))


# ------------------------------------------------------------------------------------------------
# Assignment
# ------------------------------------------------------------------------------------------------


@operation(
    bp, "POST", "/teams/{team}/assign", summary="Assign the team's pending leads now (at most `limit`; a bigger run is a job: POST /teams/{team}/jobs/assign)", tag="assignments", roles=STAFF,
    body={"type": "object", "additionalProperties": False, "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}, "leads": {"type": "array", "items": _STRING_ID, "maxItems": 1000, "uniqueItems": True}}},
    response=ASSIGN_RESULT,
)
def assign_run(call: Call, team: str) -> dict[str, Any]:
    row = team_for(call, team, steer=True)
    only = None
    if call.body.get("leads"):
        only = [lead.id for lead in leads_for(call, call.body["leads"], "reassign")]
    result = assignment_service.assign_pending(call.db, row, call.now, limit=call.body.get("limit", 1000), actor=call.principal.actor, only=only)
    return {"template_version": result.template_version, "counts": result.counts, "assigned": result.assigned, "pool": result.pool, "escalated": result.escalated}


def _trail_json(entry: Any) -> dict[str, Any]:
    return {
        "at": _iso(entry.at),
        "action": entry.action,
        "actor": entry.actor,
        "from": entry.from_rep,
        "to": entry.to_rep,
        "rule": entry.rule,
        "template_version": entry.template_version,
        "reason": entry.reason,
        "sentence": entry.sentence,
    }


@operation(bp, "GET", "/leads/{lead_id}/explain", summary="Why the lead is where it is: its audit trail with each decision explained", tag="assignments", response={"type": "array", "items": TRAIL})
def leads_explain(call: Call, lead_id: str) -> list[dict[str, Any]]:
    lead_for(call, lead_id, "view")
    return [_trail_json(e) for e in assignment_service.explain_lead(call.db, lead_id, call.lang)]


@operation(
    bp, "POST", "/assignments/reassign", summary="Give leads to another rep with a reason (all or none; a handover opens for each)", tag="assignments", roles=STAFF,
    body={
        "type": "object",
        "additionalProperties": False,
        "required": ["leads", "to", "reason"],
        "properties": {"leads": {"type": "array", "items": _STRING_ID, "minItems": 1, "maxItems": 500, "uniqueItems": True}, "to": _STRING_ID, "reason": _REASON},
    },
    response={"type": "array", "items": LEAD},
)
def reassign(call: Call) -> list[dict[str, Any]]:
    leads = leads_for(call, call.body["leads"], "reassign")
    target = call.db.get(Rep, call.body["to"])
    if target is None or not call.principal.steers_team(target.team_id):
        raise ApiError.make(422, "rep.unknown", "no rep {r!r} in a team you manage", "你管理的团队中没有销售 {r!r}", ("to",), r=call.body["to"])
    out = []
    for i, lead in enumerate(leads):
        try:
            moved = assignment_service.reassign(call.db, lead.id, target.id, call.body["reason"], call.principal.actor, call.now)
        except InputError as exc:
            raise InputError([p.under("leads", i) for p in exc.problems]) from None
        out.append(_show(call, moved))
    return out


__all__ += ["ANYONE"]
