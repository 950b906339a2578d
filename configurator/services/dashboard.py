"""The manager's dashboard figures for one team, each one set-based read (a ``GROUP BY`` or a
few), never a query per lead or per rep.

- :func:`rep_loads`: every rep's load index against the cap, as a traffic light (green below 70 %
  of the cap, yellow from 70 % up to the cap, red at or over it), with paused, on-leave and
  inactive reps marked;
- :func:`open_by_grade`: open leads (not won or lost) per output of a grading table;
- :func:`pool_summary`: the pool's size and its oldest lead;
- :func:`due_soon`: the leads the reclaim sweep would remind or reclaim in the next days: dry-run
  sweeps (:func:`configurator.services.pool.reclaim_sweep`) at now, now + 1 day, …, each lead
  in the first day it shows up;
- :func:`fairness_over_time`: leads given to each rep per day or week (audit actions
  ``assign``, ``redistribute`` and ``reassign``; claims from the pool are the rep's own choice),
  with the spread and Gini of each period (:func:`rule_engine.simulate.fairness`);
- :func:`response_rates`: per rep, of the open leads they own, the share with a first follow-up
  (first-response rate) and the share followed up in the last 7 days (follow-up rate);
- :func:`conversion_by_grade`: leads per grade and how many are won by the template's
  ``won_when`` (the condition ``lead.converted`` points use), evaluated once per distinct
  combination of the values it reads.

Services take a session and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, case, func, select
from sqlalchemy.orm import Session

from configurator.clock import stored as _aware
from configurator.models import AuditEvent, Lead, Rep, Team
from configurator.services import pool as pool_service
from configurator.services.roster import snapshot, utc
from rule_engine import CompiledTemplate
from rule_engine.assignment import LoadSpec
from rule_engine.conditions import NOW_KEY
from rule_engine.simulate import fairness

__all__ = [
    "FAIRNESS_ACTIONS",
    "YELLOW_AT",
    "Conversion",
    "DueLead",
    "FairnessPeriod",
    "GradeCount",
    "PoolSummary",
    "RepLoad",
    "RepRates",
    "conversion_by_grade",
    "due_soon",
    "fairness_over_time",
    "grade_table",
    "grade_tables",
    "light_for",
    "open_by_grade",
    "pool_summary",
    "rep_loads",
    "response_rates",
]

# A rep's light turns yellow at this share of the cap, red at the cap.
YELLOW_AT = 0.7
# Audit actions that give a rep a lead by the rules or a manager (what fairness looks at).
FAIRNESS_ACTIONS = ("assign", "redistribute", "reassign")
# A follow-up this recent counts for the follow-up rate.
FOLLOWUP_WINDOW = dt.timedelta(days=7)


# ------------------------------------------------------------------------------------------------
# Loads
# ------------------------------------------------------------------------------------------------


def light_for(load: float, cap: float | None) -> str:
    """``green`` below 70 % of the cap, ``yellow`` up to the cap, ``red`` at or over it (``none``: no cap)."""
    if cap is None:
        return "none"
    if load >= cap - 1e-9:
        return "red"
    if load >= YELLOW_AT * cap - 1e-9:
        return "yellow"
    return "green"


@dataclass(frozen=True)
class RepLoad:
    """One rep's load index against the cap."""

    rep_id: str
    name: str
    status: str  # active | paused | inactive
    unavailable: str | None  # None, or paused | inactive | on_leave today
    load: float
    cap: float | None
    open_count: int
    light: str  # green | yellow | red | none

    @property
    def share(self) -> float | None:
        """The load as a share of the cap (None without a cap)."""
        return None if not self.cap else self.load / self.cap


def rep_loads(session: Session, team: Team, template: CompiledTemplate, now: dt.datetime) -> list[RepLoad]:
    """Every rep of the team (inactive reps only while they still own leads), in rep id order."""
    day = now.astimezone(template.timezone).date()
    out = []
    for rep in snapshot(session, team, template, now):
        if rep.status == "inactive" and rep.open_count == 0:
            continue
        cap = LoadSpec.per_rep(template.load.cap, rep.values(day), {NOW_KEY: now})
        out.append(RepLoad(rep.id, rep.display, rep.status, rep.unavailable_reason(day), round(rep.load, 4), cap, rep.open_count, light_for(rep.load, cap)))
    return out


# ------------------------------------------------------------------------------------------------
# Grades
# ------------------------------------------------------------------------------------------------


def grade_tables(template: CompiledTemplate) -> list[str]:
    """The grading tables whose outputs are labels (not numbers), in template order."""
    out = []
    for table in template.segments:
        outputs = [row.output for row in table.rows if row.output_expr is None] + ([table.default] if table.has_default else [])
        if table.aggregate is None and outputs and all(isinstance(o, str) for o in outputs):
            out.append(table.name)
    return out


def grade_table(template: CompiledTemplate, wanted: str | None = None) -> str | None:
    """``wanted`` when it is a grading table; else the one named like a grade (tier, grade), else the last."""
    names = grade_tables(template)
    if wanted in names:
        return wanted
    for name in names:
        if name in ("tier", "grade") or name.endswith(("_tier", "_grade")):
            return name
    return names[-1] if names else None


def _order(template: CompiledTemplate, table_name: str) -> list[Any]:
    """A table's outputs in the order the template lists them."""
    table = next(t for t in template.segments if t.name == table_name)
    seen: list[Any] = []
    for value in [row.output for row in table.rows if row.output_expr is None] + ([table.default] if table.has_default else []):
        if value not in seen:
            seen.append(value)
    if table.priorities:
        seen = [p for p in table.priorities if p in seen] + [v for v in seen if v not in table.priorities]
    elif all(isinstance(v, str) and len(v) <= 2 for v in seen):
        seen.sort()  # grade letters (A, B, C) read best in their own order, not in the rows'
    return seen


def _sorted_grades(template: CompiledTemplate, table_name: str, values: Sequence[Any]) -> list[Any]:
    order = _order(template, table_name)
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), str(v)))


@dataclass(frozen=True)
class GradeCount:
    """Open leads of one grade, by where they are."""

    grade: Any  # None: not graded
    owned: int
    pool: int
    other: int  # waiting for assignment or for a manager

    @property
    def total(self) -> int:
        return self.owned + self.pool + self.other


def open_by_grade(session: Session, team: Team, template: CompiledTemplate, table_name: str) -> list[GradeCount]:
    """Open leads (not won or lost) per output of ``table_name``, every output listed (zeros too)."""
    grade = Lead.outputs[table_name]
    rows = session.execute(
        select(
            grade,
            func.sum(case((Lead.state == "owned", 1), else_=0)).cast(Integer),
            func.sum(case((Lead.state == "pool", 1), else_=0)).cast(Integer),
            func.sum(case((Lead.state.not_in(("owned", "pool")), 1), else_=0)).cast(Integer),
        )
        .where(Lead.team_id == team.id, Lead.is_open.is_(True))
        .group_by(grade)
    ).all()
    counts = {value: (int(o or 0), int(p or 0), int(x or 0)) for value, o, p, x in rows}
    values = list(dict.fromkeys([*_order(template, table_name), *(v for v in counts if v is not None)]))
    out = [GradeCount(v, *counts.get(v, (0, 0, 0))) for v in _sorted_grades(template, table_name, values)]
    if None in counts:
        out.append(GradeCount(None, *counts[None]))
    return out


# ------------------------------------------------------------------------------------------------
# The pool and what is about to be reclaimed
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolSummary:
    count: int
    oldest_lead: str | None
    oldest_since: dt.datetime | None  # when the oldest pool lead went there (or was created)


def pool_summary(session: Session, team: Team) -> PoolSummary:
    """How many leads wait in the pool, and which has waited longest."""
    since = func.coalesce(Lead.reclaimed_at, Lead.created_at)
    count = session.scalar(select(func.count()).where(Lead.team_id == team.id, Lead.state == "pool")) or 0
    oldest = session.execute(select(Lead.id, since).where(Lead.team_id == team.id, Lead.state == "pool").order_by(since, Lead.id).limit(1)).first()
    if oldest is None:
        return PoolSummary(int(count), None, None)
    moment = oldest[1]
    if isinstance(moment, str):  # SQLite gives COALESCE of two date-times back as text
        moment = dt.datetime.fromisoformat(moment)
    return PoolSummary(int(count), oldest[0], _aware(moment))


@dataclass(frozen=True)
class DueLead:
    """A lead the sweep would remind or reclaim within the next days."""

    lead_id: str
    owner: str | None
    kind: str  # remind | reclaim
    rule: str | None
    deadline: dt.datetime | None
    day: int  # 0: due now (the next sweep); n: within the n-th day from now
    then: str | None  # for reclaim: pool | reassign
    en: str
    zh: str

    def sentence(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


def due_soon(session: Session, team: Team, now: dt.datetime, days: int = 7) -> list[DueLead]:
    """Leads the reclaim sweep would remind or reclaim from now to ``days`` days on (dry runs, nothing written).

    Each lead appears once per kind, on the first day a dry-run sweep at ``now + day`` reports it;
    a lead reclaimed within the horizon is not listed again for its reminder. Sorted by day, then deadline.
    """
    seen: dict[tuple[str, str], DueLead] = {}
    for day in range(days + 1):
        result = pool_service.reclaim_sweep(session, team, now + dt.timedelta(days=day), dry_run=True, actor="dashboard")
        for kind, items in (("reclaim", result.reclaimed), ("remind", result.reminded)):
            for item in items:
                key = (item["lead"], kind)
                if key in seen:
                    continue
                deadline = dt.datetime.fromisoformat(item["deadline"]) if item.get("deadline") else None
                seen[key] = DueLead(item["lead"], item.get("owner"), kind, item.get("rule"), deadline, day, item.get("then"), item["en"], item["zh"])
    reclaimed = {lead for lead, kind in seen if kind == "reclaim"}
    out = [d for d in seen.values() if d.kind == "reclaim" or d.lead_id not in reclaimed]
    far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    return sorted(out, key=lambda d: (d.day, d.deadline or far, d.lead_id))


# ------------------------------------------------------------------------------------------------
# Fairness over time
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FairnessPeriod:
    """Leads given to each rep in one period, with the period's spread and Gini."""

    label: str  # 2026-11-23 or 2026-W48 (template timezone)
    start: dt.datetime
    end: dt.datetime
    counts: dict[str, int]
    spread: int
    gini: float

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _periods(template: CompiledTemplate, now: dt.datetime, unit: str, count: int) -> list[tuple[str, dt.datetime, dt.datetime]]:
    tz = template.timezone
    today = now.astimezone(tz).date()
    out = []
    if unit == "week":
        monday = today - dt.timedelta(days=today.weekday())
        for i in range(count - 1, -1, -1):
            start = monday - dt.timedelta(weeks=i)
            year, week, _ = start.isocalendar()
            out.append((f"{year}-W{week:02d}", start, start + dt.timedelta(days=7)))
    else:
        for i in range(count - 1, -1, -1):
            start = today - dt.timedelta(days=i)
            out.append((start.isoformat(), start, start + dt.timedelta(days=1)))
    return [(label, utc(dt.datetime.combine(a, dt.time(0), tz)), utc(dt.datetime.combine(b, dt.time(0), tz))) for label, a, b in out]


def fairness_over_time(session: Session, team: Team, template: CompiledTemplate, now: dt.datetime, unit: str = "week", count: int = 8) -> list[FairnessPeriod]:
    """Leads given to each rep per period (``day`` or ``week`` in the template's timezone), the last
    ``count`` periods up to the current one. Reps counted: those not deactivated, and any rep who
    received a lead in the window. One query: a ``SUM(CASE …)`` per period, grouped by rep."""
    periods = _periods(template, now, unit, count)
    columns = [func.sum(case(((AuditEvent.at >= start) & (AuditEvent.at < end), 1), else_=0)).cast(Integer) for _, start, end in periods]
    rows = session.execute(
        select(AuditEvent.to_rep_id, *columns)
        .where(
            AuditEvent.team_id == team.id,
            AuditEvent.action.in_(FAIRNESS_ACTIONS),
            AuditEvent.to_rep_id.is_not(None),
            AuditEvent.at >= periods[0][1],
            AuditEvent.at < periods[-1][2],
        )
        .group_by(AuditEvent.to_rep_id)
    ).all()
    per_rep = {str(row[0]): [int(n or 0) for n in row[1:]] for row in rows}
    reps = [rep_id for rep_id, status in session.execute(select(Rep.id, Rep.status).where(Rep.team_id == team.id).order_by(Rep.id)) if status != "inactive"]
    everyone = sorted(set(reps) | set(per_rep))
    out = []
    for i, (label, start, end) in enumerate(periods):
        counts = {rep_id: per_rep.get(rep_id, [0] * len(periods))[i] for rep_id in everyone}
        summary = fairness(counts)
        out.append(FairnessPeriod(label, start, end, counts, int(summary["spread"]), float(summary["gini"])))
    return out


# ------------------------------------------------------------------------------------------------
# Response rates
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepRates:
    """Of the open leads a rep owns: how many had a first follow-up, and how many one in the last 7 days."""

    rep_id: str
    owned: int
    responded: int
    followed_up: int

    @property
    def first_response_rate(self) -> float | None:
        return None if not self.owned else self.responded / self.owned

    @property
    def followup_rate(self) -> float | None:
        return None if not self.owned else self.followed_up / self.owned


def response_rates(session: Session, team: Team, now: dt.datetime) -> tuple[list[RepRates], RepRates]:
    """Per rep (every rep who owns an open lead, and every active rep) and for the whole team (``rep_id`` ``*``)."""
    recent = utc(now) - FOLLOWUP_WINDOW
    rows = session.execute(
        select(
            Lead.owner_id,
            func.count(),
            func.sum(case((Lead.first_followup_at.is_not(None), 1), else_=0)).cast(Integer),
            func.sum(case((Lead.last_followup_at >= recent, 1), else_=0)).cast(Integer),
        )
        .where(Lead.team_id == team.id, Lead.state == "owned", Lead.owner_id.is_not(None), Lead.is_open.is_(True))
        .group_by(Lead.owner_id)
    ).all()
    found = {str(owner): RepRates(str(owner), int(n), int(r or 0), int(f or 0)) for owner, n, r, f in rows}
    active = [rep_id for rep_id, status in session.execute(select(Rep.id, Rep.status).where(Rep.team_id == team.id)) if status == "active"]
    per_rep = [found.get(rep_id) or RepRates(rep_id, 0, 0, 0) for rep_id in sorted(set(active) | set(found))]
    team_total = RepRates("*", sum(r.owned for r in per_rep), sum(r.responded for r in per_rep), sum(r.followed_up for r in per_rep))
    return per_rep, team_total


# ------------------------------------------------------------------------------------------------
# Conversion by grade
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversion:
    grade: Any
    leads: int
    won: int

    @property
    def rate(self) -> float | None:
        return None if not self.leads else self.won / self.leads


# Stored columns a ``won_when`` may read besides the fields and the grading outputs.
_COLUMNS: Mapping[str, Any] = {"followup_count": Lead.followup_count, "reclaim_count": Lead.reclaim_count}


def conversion_by_grade(session: Session, team: Team, template: CompiledTemplate, table_name: str, now: dt.datetime) -> list[Conversion] | None:
    """Leads of the team per grade (every state) and how many are won by ``won_when``; None when the
    template has no ``won_when``.

    One ``GROUP BY`` over the grade and the values ``won_when`` reads (fields, outputs, counters);
    the condition is evaluated once per distinct combination, with the field values typed as the
    engine types stored values.
    """
    won_when = template.won_when
    if won_when is None:
        return None
    names = sorted(won_when.lead_names)
    outputs = set(template.output_names[0])
    keys: list[tuple[str, Any]] = []
    for name in names:
        if name in _COLUMNS:
            keys.append((name, _COLUMNS[name]))
        elif name in outputs:
            keys.append((name, Lead.outputs[name]))
        elif name in template.fields:
            keys.append((name, Lead.fields[name]))
    grade = Lead.outputs[table_name]
    group = [grade, *(column for _, column in keys)]
    rows = session.execute(select(*group, func.count()).where(Lead.team_id == team.id).group_by(*group)).all()
    totals: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    clock = template.clock(now)
    for row in rows:
        value, combo, n = row[0], row[1:-1], int(row[-1])
        raw = {name: v for (name, _), v in zip(keys, combo, strict=True) if v is not None}
        L: dict[str, Any] = dict(clock)
        L.update(template.stored_values({k: v for k, v in raw.items() if k in template.fields}))
        L.update({k: v for k, v in raw.items() if k not in template.fields})
        try:
            won = bool(won_when.fn(L, None))
        except Exception:  # noqa: BLE001 - a value the condition cannot read counts as not won, as a missing one does
            won = False
        totals[value][0] += n
        totals[value][1] += n if won else 0
    values = list(dict.fromkeys([*_order(template, table_name), *(v for v in totals if v is not None)]))
    out = [Conversion(v, *totals.get(v, [0, 0])) for v in _sorted_grades(template, table_name, values)]
    if None in totals:
        out.append(Conversion(None, *totals[None]))
    return out

