"""The roster snapshot: a team's reps as the engine sees them at one moment.

Everything the engine reads about a rep besides its own attributes is derived from stored rows,
never kept as a counter that could drift:

- ``load`` / ``open_count``: the weights / number of the rep's leads that are owned and open;
- ``held_from_pool``: owned leads the rep claimed from the pool;
- ``assigned_today`` / ``assigned_week``: ownership changes to the rep (audit actions ``assign``,
  ``reassign``, ``claim``) within the template-timezone day / ISO week of ``now``;
- ``claims_today``: the rep's pool claims within that day;
- ``points``: the rep's ledger total in the current points period (0 without points).

Each figure comes from one ``GROUP BY`` query for the whole team, not a query per rep.
Timestamps are stored in UTC (SQLite keeps no offset), so day and week bounds are computed in
the template's timezone and compared in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, case, func, select
from sqlalchemy.orm import Session

from configurator.clock import utc
from configurator.models import AuditEvent, Lead, Leave, PointEntry, PoolClaim, Rep, Team
from rule_engine import CompiledTemplate
from rule_engine import Leave as EngineLeave
from rule_engine import Rep as EngineRep
from rule_engine.fields import coerce
from rule_engine.points import period_key

__all__ = ["COUNTED_ACTIONS", "Figures", "day_bounds", "figures", "snapshot", "utc", "week_bounds"]

# Audit actions that give a rep a lead (also when a rep's leads are redistributed): they count toward
# the daily and weekly quotas.
COUNTED_ACTIONS = ("assign", "reassign", "claim", "redistribute")


def day_bounds(template: CompiledTemplate, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The template-timezone day of ``now`` as a UTC half-open interval."""
    day = now.astimezone(template.timezone).date()
    start = dt.datetime.combine(day, dt.time(0), template.timezone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), template.timezone)
    return utc(start), utc(end)


def week_bounds(template: CompiledTemplate, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The template-timezone ISO week (Monday to Sunday) of ``now`` as a UTC half-open interval."""
    day = now.astimezone(template.timezone).date()
    monday = day - dt.timedelta(days=day.weekday())
    start = dt.datetime.combine(monday, dt.time(0), template.timezone)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(0), template.timezone)
    return utc(start), utc(end)


def _attrs(template: CompiledTemplate, stored: dict[str, Any] | None) -> dict[str, Any]:
    """Stored JSON attributes typed back the way the engine reads them (tags as tuples, dates)."""
    out: dict[str, Any] = {}
    for name, raw in (stored or {}).items():
        fdef = template.rep_fields.get(name)
        if fdef is None:
            continue  # an attribute a later template version dropped
        value, problem = coerce(fdef, raw, template.timezone)
        if problem is None and value is not None:
            out[name] = value
    return out


@dataclass
class Figures:
    """What :func:`snapshot` derives from stored rows, per rep id (a rep without rows is absent)."""

    loads: dict[str, tuple[float, int, int]]  # load, open_count, held_from_pool
    counts: dict[str, tuple[int, int]]  # assigned_today, assigned_week
    claims: dict[str, int]  # claims_today
    points: dict[str, float]


def figures(session: Session, team: Team, template: CompiledTemplate, now: dt.datetime) -> Figures:
    """The team's derived figures at ``now``: one GROUP BY query each (four queries)."""
    day_start, day_end = day_bounds(template, now)
    week_start, week_end = week_bounds(template, now)

    counted = Lead.is_open.is_(True)
    loads: dict[str, tuple[float, int, int]] = {}
    for owner, load, open_count, from_pool in session.execute(
        select(
            Lead.owner_id,
            func.coalesce(func.sum(case((counted, Lead.weight), else_=0.0)), 0.0),
            func.coalesce(func.sum(case((counted, 1), else_=0)), 0).cast(Integer),
            func.coalesce(func.sum(case((Lead.from_pool.is_(True), 1), else_=0)), 0).cast(Integer),
        )
        .where(Lead.team_id == team.id, Lead.state == "owned", Lead.owner_id.is_not(None))
        .group_by(Lead.owner_id)
    ):
        loads[owner] = (float(load), int(open_count), int(from_pool))

    counts: dict[str, tuple[int, int]] = {}
    in_day = (AuditEvent.at >= day_start) & (AuditEvent.at < day_end)
    for to_rep, today, week in session.execute(
        select(
            AuditEvent.to_rep_id,
            func.coalesce(func.sum(case((in_day, 1), else_=0)), 0).cast(Integer),
            func.count(),
        )
        .where(
            AuditEvent.team_id == team.id,
            AuditEvent.action.in_(COUNTED_ACTIONS),
            AuditEvent.to_rep_id.is_not(None),
            AuditEvent.at >= week_start,
            AuditEvent.at < week_end,
        )
        .group_by(AuditEvent.to_rep_id)
    ):
        counts[str(to_rep)] = (int(today), int(week))

    claims: dict[str, int] = {
        rep_id: int(n)
        for rep_id, n in session.execute(
            select(PoolClaim.rep_id, func.count())
            .join(Rep, Rep.id == PoolClaim.rep_id)
            .where(Rep.team_id == team.id, PoolClaim.at >= day_start, PoolClaim.at < day_end)
            .group_by(PoolClaim.rep_id)
        )
    }

    points: dict[str, float] = {}
    if template.points is not None:
        period = period_key(template.points.period, now, template.timezone)
        for rep_id, total in session.execute(
            select(PointEntry.rep_id, func.sum(PointEntry.amount)).where(PointEntry.team_id == team.id, PointEntry.period == period).group_by(PointEntry.rep_id)
        ):
            points[rep_id] = float(total or 0)
    return Figures(loads, counts, claims, points)


def snapshot(session: Session, team: Team, template: CompiledTemplate, now: dt.datetime, derived: Figures | None = None) -> list[EngineRep]:
    """The team's reps with their attributes, status, leaves and derived figures at ``now``.

    Ordered by rep id (the engine's roster order). Six queries whatever the team size; two when
    the caller has the ``derived`` figures already (see :func:`figures`).
    """
    reps = session.execute(select(Rep.id, Rep.name, Rep.manager, Rep.status, Rep.attrs).where(Rep.team_id == team.id).order_by(Rep.id)).all()
    if not reps:
        return []

    leaves: dict[str, list[EngineLeave]] = defaultdict(list)
    for rep_id, start, end in session.execute(
        select(Leave.rep_id, Leave.start, Leave.end).join(Rep, Rep.id == Leave.rep_id).where(Rep.team_id == team.id).order_by(Leave.rep_id, Leave.start)
    ):
        leaves[rep_id].append(EngineLeave(start, end))

    f = derived if derived is not None else figures(session, team, template, now)
    out: list[EngineRep] = []
    for rep_id, name, manager, status, attrs in reps:
        load, open_count, held = f.loads.get(rep_id, (0.0, 0, 0))
        today, week = f.counts.get(rep_id, (0, 0))
        out.append(
            EngineRep(
                id=rep_id,
                name=name or "",
                attrs=_attrs(template, attrs),
                team=team.slug,
                manager=manager,
                status=status,
                leaves=tuple(leaves.get(rep_id, ())),
                load=load,
                open_count=open_count,
                assigned_today=today,
                assigned_week=week,
                points=f.points.get(rep_id, 0),
                held_from_pool=held,
                claims_today=f.claims.get(rep_id, 0),
            )
        )
    if template.targets is not None:
        from configurator.services.targets import with_figures  # the targets service reads this module's helpers

        out = with_figures(session, team, template, now, out)
    return out
