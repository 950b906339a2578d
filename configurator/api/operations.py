"""Templates (validate, draft, publish, versions, diff, rollback, simulate), reclaim, handovers,
points, the audit trail and jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint
from sqlalchemy import select

from configurator import jobs as jobs_module
from configurator import runners
from configurator.api.access import lead_for, team_for
from configurator.api.errors import ApiError
from configurator.api.leads import TRAIL, _iso
from configurator.api.spec import ADMIN, MAX_ID, STAFF, Call, component, operation, page_query
from configurator.models import AuditEvent, Handover, Lead, PointEntry, Team, TemplateDraft, TemplateVersion
from configurator.services import handovers as handovers_service
from configurator.services import points as points_service
from configurator.services import pool as pool_service
from configurator.services import templates as templates_service
from configurator.services.roster import snapshot
from rule_engine import InputError, loads_template
from rule_engine.errors import FenpeiError
from rule_engine.simulate import simulate

__all__ = ["bp"]

bp = Blueprint("api_operations", __name__)

_NAME = {"type": "string", "minLength": 1, "maxLength": 64}
_SOURCE = {"type": "string", "minLength": 1, "maxLength": 1_000_000, "description": "The template document, YAML or JSON."}
_REASON = {"type": "string", "minLength": 1, "maxLength": 1000}

VERSION = component(
    "TemplateVersion",
    {
        "type": "object",
        "required": ["name", "version", "published_at"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "integer"},
            "note": {"type": ["string", "null"]},
            "published_at": {"type": ["string", "null"]},
            "published_by": {"type": ["string", "null"]},
            "rolled_back_from": {"type": ["integer", "null"]},
            "fingerprint": {"type": "string"},
            "source": {"type": "string"},
        },
    },
)
JOB = component(
    "Job",
    {
        "type": "object",
        "required": ["id", "kind", "status"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
            "status": {"type": "string"},
            "progress": {"type": ["integer", "null"]},
            "total": {"type": ["integer", "null"]},
            "result": {},
            "error": {"type": ["string", "null"]},
            "created_at": {"type": ["string", "null"]},
            "finished_at": {"type": ["string", "null"]},
        },
    },
)
HANDOVER = component(
    "Handover",
    {
        "type": "object",
        "required": ["id", "lead", "to", "status"],
        "properties": {
            "id": {"type": "integer"},
            "lead": {"type": "string"},
            "from": {"type": ["string", "null"]},
            "to": {"type": "string"},
            "status": {"type": "string"},
            "waiting_for": {"type": ["string", "null"]},
            "rule": {"type": ["string", "null"]},
            "reason": {"type": ["string", "null"]},
            "items": {"type": "array"},
            "answers": {"type": "object"},
        },
    },
)
LEDGER = component(
    "LedgerEntry",
    {
        "type": "object",
        "required": ["id", "rep", "rule", "amount", "period"],
        "properties": {
            "id": {"type": "integer"},
            "rep": {"type": "string"},
            "rule": {"type": "string"},
            "amount": {"type": "number"},
            "period": {"type": "string"},
            "lead": {"type": ["string", "null"]},
            "reverses": {"type": ["integer", "null"]},
            "reason": {"type": "string"},
            "created_at": {"type": ["string", "null"]},
        },
    },
)
AUDIT = component(
    "AuditEvent",
    {
        "type": "object",
        "required": ["id", "at", "actor", "action"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "string"},
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "lead": {"type": ["string", "null"]},
            "from": {"type": ["string", "null"]},
            "to": {"type": ["string", "null"]},
            "rule": {"type": ["string", "null"]},
            "template_version_id": {"type": ["integer", "null"]},
            "reason": {"type": ["string", "null"]},
        },
    },
)


def _version_json(v: TemplateVersion, *, source: bool = False) -> dict[str, Any]:
    out = {
        "name": v.name,
        "version": v.version,
        "note": v.note,
        "published_at": _iso(v.published_at),
        "published_by": v.published_by,
        "rolled_back_from": v.rolled_back_from,
        "fingerprint": v.fingerprint,
    }
    if source:
        out["source"] = v.source
    return out


# ------------------------------------------------------------------------------------------------
# Templates
# ------------------------------------------------------------------------------------------------


@operation(
    bp, "POST", "/templates/validate", summary="Check a template document; every problem with its line and path", tag="templates", roles=STAFF,
    body={"type": "object", "additionalProperties": False, "required": ["source"], "properties": {"source": _SOURCE}},
    response={"type": "object", "required": ["valid", "problems"], "properties": {"valid": {"type": "boolean"}, "name": {"type": ["string", "null"]}, "problems": {"type": "array"}}},
)
def templates_validate(call: Call) -> dict[str, Any]:
    try:
        template = loads_template(call.body["source"], "<request>")
    except FenpeiError as exc:
        problems = [{"path": p.json_path if p.path else None, "line": p.line, "code": p.code, "message": p.message(call.lang)} for p in exc.problems]
        return {"valid": False, "name": None, "problems": problems}
    return {"valid": True, "name": template.name, "problems": []}


@operation(bp, "GET", "/templates", summary="Templates: name, latest version, whether a draft waits", tag="templates", roles=STAFF, response={"type": "array", "items": {"type": "object"}})
def templates_list(call: Call) -> list[dict[str, Any]]:
    names = set(call.db.scalars(select(TemplateVersion.name).distinct())) | set(call.db.scalars(select(TemplateDraft.name)))
    out = []
    for name in sorted(names):
        latest = templates_service.current_version(call.db, name)
        out.append({"name": name, "version": latest.version if latest else None, "draft": call.db.get(TemplateDraft, name) is not None})
    return out


@operation(
    bp, "PUT", "/templates/draft", summary="Store a template document as the draft of the template it names (validated first)", tag="templates", roles=ADMIN,
    body={"type": "object", "additionalProperties": False, "required": ["source"], "properties": {"source": _SOURCE}},
    response={"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "fingerprint": {"type": "string"}}},
)
def templates_draft(call: Call) -> dict[str, Any]:
    draft, template = templates_service.import_draft(call.db, call.body["source"], source_name="<request>", actor=call.principal.actor)
    return {"name": draft.name, "fingerprint": template.fingerprint}


@operation(bp, "GET", "/templates/{name}/versions", summary="A template's published versions", tag="templates", roles=STAFF, response={"type": "array", "items": VERSION})
def templates_versions(call: Call, name: str) -> list[dict[str, Any]]:
    versions = templates_service.list_versions(call.db, name)
    if not versions:
        templates_service.get_version(call.db, name)  # 404 with the service's message
    return [_version_json(v) for v in versions]


@operation(bp, "GET", "/templates/{name}/versions/{version}", summary="One published version, with its source", tag="templates", roles=STAFF, path_params={"version": {"type": "integer"}}, response=VERSION)
def templates_version(call: Call, name: str, version: int) -> dict[str, Any]:
    return _version_json(templates_service.get_version(call.db, name, version), source=True)


@operation(
    bp, "POST", "/templates/{name}/publish", summary="Publish the draft as a new version", tag="templates", roles=ADMIN, status=201,
    body={"type": "object", "additionalProperties": False, "properties": {"note": {"type": "string", "maxLength": 1000}}},
    response=VERSION,
)
def templates_publish(call: Call, name: str) -> dict[str, Any]:
    return _version_json(templates_service.publish(call.db, name, actor=call.principal.actor, note=call.body.get("note"), now=call.now))


@operation(
    bp, "POST", "/templates/{name}/rollback", summary="Publish an old version again, as a new version", tag="templates", roles=ADMIN, status=201,
    body={"type": "object", "additionalProperties": False, "required": ["version"], "properties": {"version": {"type": "integer", "minimum": 1, "maximum": 1000000}, "note": {"type": "string", "maxLength": 1000}}},
    response=VERSION,
)
def templates_rollback(call: Call, name: str) -> dict[str, Any]:
    return _version_json(templates_service.rollback(call.db, name, call.body["version"], actor=call.principal.actor, note=call.body.get("note"), now=call.now))


@operation(
    bp, "GET", "/templates/{name}/diff", summary="What changed between two versions, in words", tag="templates", roles=STAFF,
    query={"from": {"type": "integer", "minimum": 1, "maximum": 1000000}, "to": {"type": "integer", "minimum": 1, "maximum": 1000000}},
    response={"type": "array", "items": {"type": "string"}},
)
def templates_diff(call: Call, name: str) -> list[str]:
    if "from" not in call.query or "to" not in call.query:
        raise ApiError.make(400, "query.required", "give both versions: ?from=1&to=2", "请给出两个版本:?from=1&to=2", ("query", "from"))
    return [c.text(call.lang) for c in templates_service.diff_versions(call.db, name, call.query["from"], call.query["to"])]


@operation(
    bp, "POST", "/teams/{team}/simulate", summary="Run a template (the published one, or the source given) over leads against the team's live roster; writes nothing", tag="templates", roles=STAFF,
    body={
        "type": "object",
        "additionalProperties": False,
        "required": ["leads"],
        "properties": {
            "source": _SOURCE,
            "leads": {"type": "array", "minItems": 1, "maxItems": 5000, "items": {"type": "object", "maxProperties": 200}},
            "now": {"type": "string", "format": "date-time", "maxLength": 40},
        },
    },
    response={"type": "object", "required": ["leads", "summary"], "properties": {"leads": {"type": "array"}, "summary": {"type": "object"}}},
)
def simulate_run(call: Call, team: str) -> dict[str, Any]:
    row = team_for(call, team, steer=True)
    if call.body.get("source"):
        template = loads_template(call.body["source"], "<request>")
    else:
        template = templates_service.compiled(templates_service.get_version(call.db, row.template_name))
    now = call.now
    if call.body.get("now"):
        try:
            now = dt.datetime.fromisoformat(call.body["now"])
        except ValueError:
            raise ApiError.make(422, "simulate.now", "not a date and time (ISO 8601 with offset)", "不是日期时间(ISO 8601,带时区)", ("now",)) from None
        if now.tzinfo is None:
            raise ApiError.make(422, "simulate.now", "give the time with its offset (+08:00)", "请给出带时区偏移的时间(+08:00)", ("now",))
    records = []
    problems = []
    for i, raw in enumerate(call.body["leads"]):
        values, found = template.lead_record(raw)
        problems += [p.under("leads", i) for p in found]
        values.setdefault("id", str(raw.get("id") or f"row{i + 1}"))
        records.append(values)
    if problems:
        raise InputError(problems)
    result = simulate(template, records, snapshot(call.db, row, template, now), now, lang=call.lang)
    return {"leads": [r.to_json() for r in result.leads], "summary": result.summary}


# ------------------------------------------------------------------------------------------------
# Reclaim and jobs
# ------------------------------------------------------------------------------------------------


@operation(bp, "GET", "/teams/{team}/reclaim/preview", summary="What a reclaim sweep would do now (nothing is written)", tag="reclaim", roles=STAFF, response={"type": "object"})
def reclaim_preview(call: Call, team: str) -> dict[str, Any]:
    team_for(call, team, steer=True)
    from configurator.app import workspace_of

    result = pool_service.run_sweep(workspace_of().sessions, team, call.now, dry_run=True, actor=call.principal.actor)
    return dict(result.to_json())


def _job_json(job: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "total": job.total,
        "result": job.result,
        "error": job.error,
        "created_at": _iso(job.created_at),
        "finished_at": _iso(job.finished_at),
    }


@operation(bp, "POST", "/teams/{team}/reclaim", summary="Run the team's reclaim sweep now, as a job", tag="reclaim", roles=STAFF, status=202, response=JOB)
def reclaim_run(call: Call, team: str) -> dict[str, Any]:
    team_for(call, team, steer=True)
    job_id, _ = runners.submit_reclaim(call.db, team, call.now, call.jobs.append, actor=call.principal.actor)
    return _job_json(jobs_module.get_job(call.db, job_id))


@operation(bp, "POST", "/teams/{team}/jobs/assign", summary="Assign all the team's pending leads, as a job", tag="assignments", roles=STAFF, status=202, response=JOB)
def assign_job(call: Call, team: str) -> dict[str, Any]:
    team_for(call, team, steer=True)
    job_id = runners.submit_assign(call.db, team, call.now, call.jobs.append, actor=call.principal.actor)
    return _job_json(jobs_module.get_job(call.db, job_id))


@operation(bp, "GET", "/jobs/{job_id}", summary="A job's status, progress and result", tag="jobs", roles=STAFF, path_params={"job_id": {"type": "integer"}}, response=JOB)
def job_get(call: Call, job_id: int) -> dict[str, Any]:
    job = jobs_module.get_job(call.db, job_id)
    slug = (job.params or {}).get("team")
    team_id = call.db.scalar(select(Team.id).where(Team.slug == slug)) if slug else None
    if not call.principal.is_admin and not call.principal.steers_team(team_id):
        raise ApiError.make(404, "job.unknown", "no job {id}", "没有任务 {id}", id=job_id)
    return _job_json(job)


# ------------------------------------------------------------------------------------------------
# Handovers
# ------------------------------------------------------------------------------------------------


@operation(bp, "GET", "/teams/{team}/handovers", summary="Handovers still waiting (a rep: those waiting for them)", tag="handovers", response={"type": "array", "items": HANDOVER})
def handovers_list(call: Call, team: str) -> list[dict[str, Any]]:
    row = team_for(call, team)
    rep = None if call.principal.steers_team(row.id) else call.principal.rep_id
    views = handovers_service.pending_handovers(call.db, row, rep)
    return [v.to_json() for v in views]


def _handover_for(call: Call, handover_id: int) -> Any:
    h = call.db.get(Handover, handover_id)
    lead = call.db.get(Lead, h.lead_id) if h is not None else None
    who = call.principal
    if h is None or lead is None or not (who.steers_team(lead.team_id) or (who.role == "rep" and who.rep_id in (h.from_rep_id, h.to_rep_id))):
        raise ApiError.make(404, "handover.unknown", "no handover {id}", "没有交接 {id}", id=handover_id)
    return h


@operation(bp, "GET", "/handovers/{handover_id}", summary="One handover and its checklist", tag="handovers", path_params={"handover_id": {"type": "integer"}}, response=HANDOVER)
def handovers_get(call: Call, handover_id: int) -> dict[str, Any]:
    _handover_for(call, handover_id)
    return handovers_service.get_handover(call.db, handover_id).to_json()


@operation(
    bp, "POST", "/handovers/{handover_id}/fill", summary="The previous owner fills the handover checklist", tag="handovers", roles=("rep",), path_params={"handover_id": {"type": "integer"}},
    body={"type": "object", "additionalProperties": False, "required": ["answers"], "properties": {"answers": {"type": "object", "maxProperties": 200}}},
    response=HANDOVER,
)
def handovers_fill(call: Call, handover_id: int) -> dict[str, Any]:
    _handover_for(call, handover_id)
    assert call.principal.rep_id is not None
    try:
        return handovers_service.fill_handover(call.db, handover_id, call.principal.rep_id, call.body["answers"], call.now).to_json()
    except InputError as exc:
        raise InputError([p.under("answers") for p in exc.problems]) from None


@operation(bp, "POST", "/handovers/{handover_id}/ack", summary="The new owner acknowledges the handover (the lead's contact details show)", tag="handovers", roles=("rep",), path_params={"handover_id": {"type": "integer"}}, response=HANDOVER)
def handovers_ack(call: Call, handover_id: int) -> dict[str, Any]:
    _handover_for(call, handover_id)
    assert call.principal.rep_id is not None
    return handovers_service.acknowledge_handover(call.db, handover_id, call.principal.rep_id, call.now).to_json()


# ------------------------------------------------------------------------------------------------
# Points and audit
# ------------------------------------------------------------------------------------------------


def _checked_period(call: Call, team: Team) -> str | None:
    """The ``period`` query parameter, refused (422) unless it names a period of the team's points rules."""
    period = call.query.get("period")
    if period is None:
        return None
    template = templates_service.compiled(templates_service.get_version(call.db, team.template_name))
    if template.points is None:
        raise ApiError.make(422, "points.none", "template {t!r} has no points rules", "模板 {t!r} 没有积分规则", ("query", "period"), t=team.template_name)
    try:
        points_service.period_bounds(template.points.period, period, template.timezone)
    except FenpeiError as exc:
        raise ApiError(422, [p.under("query", "period") for p in exc.problems]) from None
    return str(period)


@operation(
    bp, "GET", "/teams/{team}/points/leaderboard", summary="The team's reps ranked by points in a period (default: the current one)", tag="points",
    query={"period": {"type": "string", "maxLength": 16, "pattern": r"^\d{4}(-(W?\d{2}|Q[1-4]))?$"}},
    response={"type": "object", "required": ["period", "standings"], "properties": {"period": {"type": "string"}, "standings": {"type": "array"}}},
)
def points_leaderboard(call: Call, team: str) -> dict[str, Any]:
    row = team_for(call, team)
    _checked_period(call, row)
    period, standings = points_service.leaderboard(call.db, row, call.query.get("period"), call.now)
    return {"period": period, "standings": [s.to_json() for s in standings]}


def _entry_json(e: PointEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "rep": e.rep_id,
        "rule": e.rule,
        "amount": float(e.amount),
        "period": e.period,
        "lead": e.lead_id,
        "reverses": e.reverses_id,
        "reason": e.reason,
        "created_at": _iso(e.created_at),
    }


@operation(
    bp, "GET", "/teams/{team}/points/ledger", summary="Ledger entries (a rep: their own)", tag="points",
    query={"rep": {"type": "string", "maxLength": 64}, "period": {"type": "string", "maxLength": 16}, "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}},
    response={"type": "array", "items": LEDGER},
)
def points_ledger(call: Call, team: str) -> list[dict[str, Any]]:
    row = team_for(call, team)
    rep = call.query.get("rep")
    if not call.principal.steers_team(row.id):
        if rep is not None and rep != call.principal.rep_id:
            raise ApiError.make(403, "auth.points", "a rep sees only their own points", "销售只能查看自己的积分", ("query", "rep"))
        rep = call.principal.rep_id
    return [_entry_json(e) for e in points_service.ledger_rows(call.db, row, rep_id=rep, period=_checked_period(call, row), limit=call.query["limit"])]


@operation(
    bp, "POST", "/points/{entry_id}/reverse", summary="Reverse a ledger entry with a reason (an entry is never edited)", tag="points", roles=STAFF, status=201, path_params={"entry_id": {"type": "integer"}},
    body={"type": "object", "additionalProperties": False, "required": ["reason"], "properties": {"reason": _REASON}},
    response=LEDGER,
)
def points_reverse(call: Call, entry_id: int) -> dict[str, Any]:
    entry = call.db.get(PointEntry, entry_id)
    if entry is None or not call.principal.steers_team(entry.team_id):
        raise ApiError.make(404, "points.unknown", "no ledger entry {id}", "没有积分记录 {id}", id=entry_id)
    return _entry_json(points_service.reverse(call.db, entry_id, call.body["reason"], call.principal.actor, call.now))


@operation(
    bp, "GET", "/teams/{team}/audit", summary="The team's audit trail, newest first", tag="audit", roles=STAFF,
    query={**page_query(100, 1000), "lead": {"type": "string", "maxLength": 64}, "action": {"type": "string", "maxLength": 32}},
    response={"type": "object", "required": ["items", "next"], "properties": {"items": {"type": "array", "items": AUDIT}, "next": {"type": ["string", "null"]}}},
)
def audit_list(call: Call, team: str) -> dict[str, Any]:
    row = team_for(call, team, steer=True)
    q = call.query
    stmt = select(AuditEvent).where(AuditEvent.team_id == row.id)
    if q.get("lead"):
        stmt = stmt.where(AuditEvent.lead_id == q["lead"])
    if q.get("action"):
        stmt = stmt.where(AuditEvent.action == q["action"])
    if q.get("after"):
        try:
            after = int(q["after"])
            if not 0 <= after <= MAX_ID:
                raise ValueError(after)
            stmt = stmt.where(AuditEvent.id < after)
        except ValueError:
            raise ApiError.make(400, "query.type", "after must be the `next` of a previous page", "after 须为上一页的 next 值", ("query", "after")) from None
    rows = list(call.db.scalars(stmt.order_by(AuditEvent.id.desc()).limit(q["limit"] + 1)))
    more = len(rows) > q["limit"]
    rows = rows[: q["limit"]]
    items = [
        {"id": e.id, "at": _iso(e.at), "actor": e.actor, "action": e.action, "lead": e.lead_id, "from": e.from_rep_id, "to": e.to_rep_id, "rule": e.rule, "template_version_id": e.template_version_id, "reason": e.reason}
        for e in rows
    ]
    return {"items": items, "next": str(rows[-1].id) if more and rows else None}


@operation(bp, "GET", "/leads/{lead_id}/audit", summary="A lead's audit trail with explanations (same as /explain)", tag="audit", response={"type": "array", "items": TRAIL})
def lead_audit(call: Call, lead_id: str) -> list[dict[str, Any]]:
    from configurator.api.leads import _trail_json
    from configurator.services import assignment as assignment_service

    lead_for(call, lead_id, "view")
    return [_trail_json(e) for e in assignment_service.explain_lead(call.db, lead_id, call.lang)]
