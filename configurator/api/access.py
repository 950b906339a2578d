"""Who may see and touch what, in one place.

- An admin: everything.
- A manager: the teams they steer (every lead of them, their reps, jobs, points and audit).
- A rep: their team's pool, their own leads, and a lead whose handover checklist they still have
  to fill; their own points. Never another rep's lead, and never owners, points or roles.

Objects the caller may not see answer 404 (their ids cannot be probed); a visible object the
caller may not act on answers 403. A call naming several leads is refused as a whole (403) when
any one of them may not be touched, before anything changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.sql import Select

from configurator.api.errors import ApiError
from configurator.api.spec import Call
from configurator.models import Handover, Lead, Team
from configurator.services.accounts import Principal
from configurator.services.teams import get_team

__all__ = ["lead_for", "leads_for", "team_for", "visible_leads"]

OPEN_HANDOVER = ("to_fill", "to_ack")


def team_for(call: Call, slug: str, *, steer: bool = False) -> Team:
    """The team ``slug`` if the caller sees it (``steer``: manages it), else 403 (404 when unknown)."""
    team = get_team(call.db, slug)
    who = call.principal
    if not who.sees_team(team.id):
        raise ApiError.make(403, "auth.team", "you do not work in team {t}", "你不属于团队 {t}", t=slug)
    if steer and not who.steers_team(team.id):
        raise ApiError.make(403, "auth.manager", "only the team's manager or an admin may do this", "只有团队经理或管理员可以执行此操作")
    return team


def _rep_sees(who: Principal) -> Any:
    gives = exists().where(Handover.lead_id == Lead.id, Handover.from_rep_id == who.rep_id, Handover.status == "to_fill")
    return or_(
        and_(Lead.owner_id == who.rep_id, Lead.state == "owned"),
        and_(Lead.state == "pool", Lead.team_id.in_(who.team_ids)),
        gives,
    )


def visible_leads(stmt: Select[Any], who: Principal) -> Select[Any]:
    """``stmt`` (over leads) narrowed to the leads ``who`` may see."""
    if who.is_admin:
        return stmt
    if who.role == "manager":
        return stmt.where(Lead.team_id.in_(who.team_ids)) if who.team_ids else stmt.where(false())
    if not who.rep_id:
        return stmt.where(false())
    return stmt.where(_rep_sees(who))


def _can(who: Principal, lead: Lead, action: str) -> bool:
    if who.steers_team(lead.team_id):
        # A manager acts on the team's leads, except what only the owner does (log a follow-up,
        # claim for themselves, release): those are the rep's own record.
        return action in ("view", "edit", "reassign", "stage")
    if who.role != "rep" or lead.team_id not in who.team_ids:
        return False
    owns = lead.state == "owned" and lead.owner_id == who.rep_id
    if action == "claim":
        return lead.state == "pool"
    if action == "view":
        return owns or lead.state == "pool"
    return owns and action in ("edit", "followup", "stage", "release")


def lead_for(call: Call, lead_id: str, action: str = "view") -> Lead:
    """The lead if the caller may ``action`` it; 404 when unknown or invisible, 403 when visible but not allowed."""
    who = call.principal
    lead = call.db.get(Lead, lead_id)
    # The giver of a handover still to fill sees the lead (as in lists), and does nothing else with it.
    sees = lead is not None and (_can(who, lead, "view") or _gives(call, lead))
    if lead is None or not (sees or _can(who, lead, action)):
        raise ApiError.make(404, "lead.unknown", "no lead {id!r}", "没有线索 {id!r}", id=lead_id)
    if not (_can(who, lead, action) or (action == "view" and sees)):
        raise ApiError.make(403, "auth.lead", "you may not {a} lead {id}", "你不能对线索 {id} 执行 {a}", a=action, id=lead_id)
    return lead


def _gives(call: Call, lead: Lead) -> bool:
    who = call.principal
    if who.role != "rep":
        return False
    return call.db.scalar(select(Handover.id).where(Handover.lead_id == lead.id, Handover.from_rep_id == who.rep_id, Handover.status == "to_fill").limit(1)) is not None


def leads_for(call: Call, lead_ids: Sequence[str], action: str) -> list[Lead]:
    """Every lead named, if the caller may ``action`` each; otherwise 403 for the whole call,
    naming the leads refused (by their place in the request, not whether they exist)."""
    leads = {lead.id: lead for lead in call.db.scalars(select(Lead).where(Lead.id.in_(set(lead_ids))))}
    refused = [i for i, lead_id in enumerate(lead_ids) if lead_id not in leads or not _can(call.principal, leads[lead_id], action)]
    if refused:
        problems = [
            ApiError.make(403, "auth.lead", "you may not {a} this lead (unknown, or not yours to change)", "你不能对此线索执行 {a}(不存在或无权操作)", ("leads", i), a=action).problems[0]
            for i in refused
        ]
        raise ApiError(403, problems)
    return [leads[i] for i in lead_ids]
