"""Targets, KPIs and weekly health reports in the REST API: thin routes over
:mod:`configurator.services.targets` and :mod:`configurator.services.kpis`.

A manager sets plans for the teams they steer (an admin for any), and sees the KPIs and health
reports of those teams; a rep sees the team's targets and only their own KPIs and reports.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint
from sqlalchemy import select

from configurator.api.access import team_for
from configurator.api.errors import ApiError
from configurator.api.spec import STAFF, Call, component, operation
from configurator.models import TargetNode, Team
from configurator.services import kpis as kpis_service
from configurator.services import targets as targets_service
from configurator.services.templates import compiled, get_version

__all__ = ["bp"]

bp = Blueprint("api_targets", __name__)

_DEC = {"type": ["string", "null"], "description": "a decimal, as text"}
_MOMENT = {"type": "string", "format": "date-time", "maxLength": 40}
_PERIOD = {"type": "string", "maxLength": 8, "pattern": "^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]|W[0-5][0-9]))?$"}

TREE = component(
    "TargetTree",
    {
        "type": "object",
        "required": ["template", "period", "metric", "version", "effective_from", "nodes"],
        "properties": {
            "template": {"type": "string"},
            "period": {"type": "string"},
            "metric": {"type": "string"},
            "version": {"type": "integer"},
            "effective_from": {"type": "string"},
            "nodes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "level", "key", "owner", "split", "target", "result", "completion"],
                    "properties": {
                        "path": {"type": "string"}, "level": {"type": "string"}, "key": {"type": "string"}, "owner": {"type": "string"}, "split": {"type": "string"},
                        "target": {"type": "string"}, "result": {"type": "string"}, "completion": _DEC,
                    },
                },
            },
            "versions": {"type": "array", "items": {"type": "object"}},
        },
    },
)
KPI_ROW = {"type": "object", "required": ["rep", "owned", "assigned"], "properties": {"rep": {"type": "string"}, "completion": _DEC, "coverage": _DEC, "compliance": _DEC, "first_response_hours": _DEC, "reclaim_rate": _DEC, "owned": {"type": "integer"}, "assigned": {"type": "integer"}, "conversion": {"type": "object"}}}
KPIS = component(
    "Kpis",
    {
        "type": "object",
        "required": ["team", "period", "reps", "fairness"],
        "properties": {"team": {"type": "string"}, "period": {"type": "string"}, "start": {"type": "string"}, "end": {"type": "string"}, "measured_at": {"type": "string"}, "reps": {"type": "array", "items": KPI_ROW}, "team_total": KPI_ROW, "fairness": {"type": "object"}},
    },
)
HEALTH = component(
    "HealthReport",
    {
        "type": "object",
        "required": ["rep", "week", "status", "items"],
        "properties": {
            "rep": {"type": "string"},
            "week": {"type": "string"},
            "status": {"type": "string", "enum": ["red", "yellow", "green", "grey"]},
            "generated_at": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object", "required": ["item", "status"], "properties": {"item": {"type": "string"}, "value": _DEC, "status": {"type": "string"}, "en": {"type": "string"}, "zh": {"type": "string"}}}},
        },
    },
)


def _moment(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError.make(422, "targets.at", "not a date and time (ISO 8601 with offset)", "不是日期时间(ISO 8601,带时区)", (name,)) from None
    if moment.tzinfo is None:
        raise ApiError.make(422, "targets.at", "give the time with its offset (+08:00)", "请给出带时区偏移的时间(+08:00)", (name,))
    return moment


@operation(
    bp, "POST", "/targets", summary="Set a target plan (YAML or JSON text): checked (SMART), stored as the next version of its tree", tag="targets", roles=STAFF, status=201,
    body={"type": "object", "additionalProperties": False, "required": ["plan"], "properties": {"plan": {"type": "string", "minLength": 1, "maxLength": 1048576}, "at": _MOMENT}},
    response={"type": "object", "required": ["template", "period", "metric", "version", "created"], "properties": {"template": {"type": "string"}, "period": {"type": "string"}, "metric": {"type": "string"}, "version": {"type": "integer"}, "effective_from": {"type": "string"}, "created": {"type": "boolean"}}},
)
def targets_set(call: Call) -> dict[str, Any]:
    at = _moment(call.body.get("at"), "at")
    plan, created = targets_service.set_plan(call.db, call.body["plan"], source_name="plan", actor=call.principal.actor, now=call.now, at=at)
    if not call.principal.is_admin:
        slugs = set(call.db.scalars(select(TargetNode.key).where(TargetNode.plan_id == plan.id, TargetNode.level == "team")))
        teams = call.db.scalars(select(Team).where(Team.slug.in_(sorted(slugs)))).all()
        if not teams or not all(call.principal.steers_team(t.id) for t in teams):
            raise ApiError.make(403, "auth.manager", "only the managers of every team in the plan, or an admin, may set it", "只有计划中所有团队的经理或管理员可以设定")
    return {"template": plan.template_name, "period": plan.period, "metric": plan.metric, "version": plan.version, "effective_from": plan.effective_from.isoformat(), "created": created}


@operation(
    bp, "GET", "/teams/{team}/targets", summary="The target tree of the team's template: each node's target, result so far and completion", tag="targets",
    query={"period": _PERIOD, "metric": {"type": "string", "maxLength": 64}, "at": _MOMENT, "history": {"type": "boolean", "default": False}},
    response=TREE,
)
def targets_show(call: Call, team: str) -> dict[str, Any]:
    team_for(call, team)
    at = _moment(call.query.get("at"), "at")
    progress = targets_service.progress(call.db, team, call.query.get("period"), call.query.get("metric"), call.now, at=at)
    out = progress.to_json()
    if call.query.get("history"):
        out["versions"] = [
            {"version": v.version, "effective_from": v.effective_from.isoformat(), "by": v.created_by, "note": v.note}
            for v in targets_service.plan_versions(call.db, progress.template, progress.period, progress.metric)
        ]
    return out


@operation(
    bp, "GET", "/teams/{team}/kpis", summary="KPIs per rep and for the team in a period (a rep: their own row)", tag="targets",
    query={"period": _PERIOD}, response=KPIS,
)
def kpis_show(call: Call, team: str) -> dict[str, Any]:
    row = team_for(call, team)
    out = kpis_service.kpis(call.db, team, call.query.get("period"), call.now).to_json()
    if not call.principal.steers_team(row.id):
        out["reps"] = [r for r in out["reps"] if r["rep"] == call.principal.rep_id]
        out.pop("team_total", None)
    return out


@operation(
    bp, "GET", "/teams/{team}/health", summary="Weekly health reports kept for the team (a rep: their own)", tag="targets",
    query={"week": _PERIOD, "rep": {"type": "string", "maxLength": 64}}, response={"type": "array", "items": HEALTH},
)
def health_list(call: Call, team: str) -> list[dict[str, Any]]:
    row = team_for(call, team)
    rep = call.query.get("rep")
    if not call.principal.steers_team(row.id):
        rep = call.principal.rep_id
    return [
        {"rep": r.rep_id, "week": r.week, "status": r.status, "generated_at": r.generated_at.isoformat(), "items": r.items}
        for r in kpis_service.health_reports(call.db, team, call.query.get("week"), rep)
    ]


@operation(
    bp, "POST", "/teams/{team}/health", summary="Make a week's health reports now if they are not kept yet (the weekly job does this on its own)", tag="targets", roles=STAFF, status=201,
    body={"type": "object", "additionalProperties": False, "properties": {"week": _PERIOD}},
    response={"type": "object", "required": ["team", "week", "reports"], "properties": {"team": {"type": "string"}, "week": {"type": "string"}, "reports": {"type": "integer"}}},
)
def health_make(call: Call, team: str) -> dict[str, Any]:
    row = team_for(call, team, steer=True)
    week = call.body.get("week") or kpis_service.previous_week(call.now, compiled(get_version(call.db, row.template_name)).timezone)
    kpis_service.write_health(call.db, row, week, call.now)
    return {"team": team, "week": week, "reports": len(kpis_service.health_reports(call.db, team, week))}
