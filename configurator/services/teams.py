"""Teams and their rosters."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from configurator.models import Leave, Rep, Team
from configurator.services.templates import ServiceError
from rule_engine import Problem
from rule_engine import Rep as EngineRep
from rule_engine.errors import closest

__all__ = ["create_team", "get_team", "upsert_reps"]


def create_team(session: Session, slug: str, name: str, template_name: str) -> Team:
    """A new team governed by template ``template_name``."""
    if session.scalar(select(Team.id).where(Team.slug == slug)) is not None:
        raise ServiceError(Problem.make("team.exists", "team {s!r} already exists", "团队 {s!r} 已存在", s=slug))
    team = Team(slug=slug, name=name, template_name=template_name)
    session.add(team)
    session.flush()
    return team


def get_team(session: Session, slug: str) -> Team:
    team = session.scalars(select(Team).where(Team.slug == slug)).first()
    if team is None:
        known = list(session.scalars(select(Team.slug)))
        raise ServiceError(Problem.make("team.unknown", "no team {s!r}", "没有团队 {s!r}", suggestion=closest(slug, known), s=slug))
    return team


def upsert_reps(session: Session, team: Team, reps: Sequence[EngineRep]) -> tuple[int, int]:
    """Create or update reps (attributes, status, leave) from roster records; returns (created, updated).

    A rep id belongs to one team: moving a rep between teams is refused.
    """
    created = updated = 0
    for r in reps:
        row = session.get(Rep, r.id)
        if row is None:
            row = Rep(id=r.id, team_id=team.id)
            session.add(row)
            created += 1
        elif row.team_id != team.id:
            raise ServiceError(Problem.make("rep.team", "rep {r!r} belongs to another team", "销售 {r!r} 属于其他团队", r=r.id))
        else:
            updated += 1
        row.name = r.name
        row.manager = r.manager
        row.status = r.status
        row.attrs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in r.attrs.items()}
        row.leaves = [Leave(start=leave.start, end=leave.end) for leave in r.leaves]
    session.flush()
    return created, updated
