"""KPIs (关键指标) per rep and team for a period, computed in the database, and the weekly health report.

Every figure is a ``GROUP BY`` aggregate over the team's rows — never a Python loop over leads —
so a team of 200 reps with a million leads costs a handful of queries (see ``benchmarks/kpis.py``).
The definitions (docs/kpis.md has them with their reasons):

- **completion**: result ÷ target per metric, from the target tree in force (see
  :mod:`configurator.services.targets`); ``activity`` is the mean over the activity metrics.
- **coverage**: of the leads the rep owns now, the share with at least one follow-up since they
  were assigned (``followup_count > 0``).
- **first response**: for leads assigned to their current owner within the period, the mean hours
  from ``assigned_at`` to ``first_followup_at`` (leads not followed up yet are counted apart).
- **compliance**: of the leads the rep owns now, the share not overdue by the reclaim rules at the
  moment of measure (a rule's clock and the counters its ``when`` requires, as the sweep's filter
  reads them; other parts of ``when`` and ``protected`` are not read in SQL).
- **conversion by grade**: of the leads assigned to their current owner within the period, per
  grade (the template's ``targets.grade`` table), the share won (``won_at`` set).
- **reclaim rate**: leads reclaimed from the rep within the period ÷ (leads the rep owns now +
  those reclaimed).
- **load** and **fairness**: the load index now; ownership changes to each rep within the period
  (assign, reassign, claim, redistribute) and their spread and Gini among the active reps.

Shares and completion are Decimals to four places, hours to two, half to even.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, Float, Integer, String, Table, and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from configurator.models import AuditEvent, HealthReport, Lead, Rep, Team
from configurator.services import targets as targets_service
from configurator.services.dialect import dialect_name, insert_ignoring
from configurator.services.points import period_bounds
from configurator.services.roster import COUNTED_ACTIONS, utc
from configurator.services.templates import ServiceError, compiled, get_version
from rule_engine import CompiledTemplate, Problem
from rule_engine.conditions import And, Compare, Const, Name, Node
from rule_engine.points import period_key
from rule_engine.targets import HEALTH_DEFAULTS, RATIO, completion, elapsed_share, period_kind, rate, rollup

__all__ = ["HEALTH_COLOURS", "RepKpis", "TeamKpis", "health_reports", "kpis", "overdue_filter", "write_health"]

HOURS = Decimal("0.01")
HEALTH_COLOURS = ("red", "yellow", "green", "grey")  # worst first
_WEEK = re.compile(r"^[0-9]{4}-W(0[1-9]|[1-4][0-9]|5[0-3])$")
REPORTS = cast(Table, HealthReport.__table__)


def _refuse(code: str, en: str, zh: str, **params: Any) -> ServiceError:
    return ServiceError(Problem.make(code, en, zh, **params))


def _share(part: int, whole: int) -> Decimal | None:
    return None if whole == 0 else (Decimal(part) / Decimal(whole)).quantize(RATIO, ROUND_HALF_EVEN)


def _kind(period: str) -> str:
    kind = "week" if _WEEK.match(period) else period_kind(period)
    if kind is None:
        raise _refuse("kpis.period", "{p!r} is not a period: write 2026-W48, 2026-11, 2026-Q4 or 2026", "{p!r} 不是有效周期:请写 2026-W48、2026-11、2026-Q4 或 2026", p=period)
    return kind


# ------------------------------------------------------------------------------------------------
# Overdue by the reclaim rules, in SQL
# ------------------------------------------------------------------------------------------------

_COUNTERS = {"followup_count": Lead.followup_count, "reclaim_count": Lead.reclaim_count}
_OPS = {"==": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}
_MIRROR = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _counter_terms(node: Node | None) -> list[ColumnElement[bool]]:
    """The parts of a rule's ``when`` that compare a stored counter with a number and must hold."""
    if node is None:
        return []
    items = node.items if isinstance(node, And) else (node,)
    terms: list[ColumnElement[bool]] = []
    for item in items:
        if isinstance(item, And):
            terms.extend(_counter_terms(item))
            continue
        if not isinstance(item, Compare) or item.op not in _OPS:
            continue
        left, right, op = item.left, item.right, item.op
        if isinstance(left, Const):
            left, right, op = right, left, _MIRROR[op]
        if isinstance(left, Name) and left.scope == "lead" and left.name in _COUNTERS and isinstance(right, Const) and type(right.value) in (int, float):
            terms.append(getattr(_COUNTERS[left.name], _OPS[op])(right.value))
    return terms


def overdue_filter(template: CompiledTemplate, at: dt.datetime) -> ColumnElement[bool]:
    """Owned leads past some reclaim rule's deadline at ``at`` (its clock and required counters)."""
    spec = template.reclaim
    if spec is None or not spec.rules:
        return false()
    moment = utc(at)
    clauses = []
    for rule in spec.rules:
        if rule.since == "assigned":
            start: ColumnElement[Any] = Lead.assigned_at
        elif rule.since == "created":
            start = Lead.created_at
        else:
            start = func.coalesce(Lead.last_followup_at, Lead.assigned_at)
        clauses.append(and_(start <= moment - dt.timedelta(days=rule.days), *_counter_terms(rule.when.node if rule.when is not None else None)))
    return or_(*clauses)


def _hours(session: Session) -> ColumnElement[Any]:
    """Hours from assignment to first follow-up, in the database's own date arithmetic."""
    if dialect_name(session) == "sqlite":
        return (func.julianday(Lead.first_followup_at) - func.julianday(Lead.assigned_at)) * 24.0
    return func.extract("epoch", Lead.first_followup_at - Lead.assigned_at) / 3600.0


# ------------------------------------------------------------------------------------------------
# The figures
# ------------------------------------------------------------------------------------------------


@dataclass
class RepKpis:
    """One rep's (or the team's) KPIs for a period."""

    rep: str
    name: str
    status: str = "active"
    completion: dict[str, Decimal | None] = field(default_factory=dict)  # per metric
    main_completion: Decimal | None = None
    activity_completion: Decimal | None = None
    owned: int = 0
    covered: int = 0
    overdue: int = 0
    assigned_in_period: int = 0  # leads whose current ownership began in the period
    responded: int = 0
    response_hours_total: Decimal = Decimal(0)
    won: dict[str, tuple[int, int]] = field(default_factory=dict)  # grade -> (leads, won)
    changes: int = 0  # ownership changes to the rep in the period (fairness)
    reclaimed: int = 0
    load: Decimal = Decimal(0)

    @property
    def coverage(self) -> Decimal | None:
        return _share(self.covered, self.owned)

    @property
    def compliance(self) -> Decimal | None:
        return _share(self.owned - self.overdue, self.owned)

    @property
    def first_response_hours(self) -> Decimal | None:
        return None if self.responded == 0 else (self.response_hours_total / self.responded).quantize(HOURS, ROUND_HALF_EVEN)

    @property
    def reclaim_rate(self) -> Decimal | None:
        return _share(self.reclaimed, self.owned + self.reclaimed)

    @property
    def conversion(self) -> dict[str, Decimal | None]:
        return {grade: _share(won, leads) for grade, (leads, won) in sorted(self.won.items())}

    def to_json(self) -> dict[str, Any]:
        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "rep": self.rep,
            "name": self.name,
            "status": self.status,
            "completion": s(self.main_completion),
            "activity_completion": s(self.activity_completion),
            "completion_by_metric": {k: s(v) for k, v in self.completion.items()},
            "owned": self.owned,
            "coverage": s(self.coverage),
            "first_response_hours": s(self.first_response_hours),
            "not_responded": self.assigned_in_period - self.responded,
            "compliance": s(self.compliance),
            "overdue": self.overdue,
            "conversion": {k: s(v) for k, v in self.conversion.items()},
            "reclaimed": self.reclaimed,
            "reclaim_rate": s(self.reclaim_rate),
            "assigned": self.changes,
            "load": str(self.load),
        }


@dataclass
class TeamKpis:
    team: str
    period: str
    start: dt.datetime
    end: dt.datetime
    measured_at: dt.datetime
    reps: list[RepKpis]
    total: RepKpis
    fairness: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "period": self.period,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "measured_at": self.measured_at.isoformat(),
            "reps": [r.to_json() for r in self.reps],
            "team_total": self.total.to_json(),
            "fairness": self.fairness,
        }


def gini(values: Sequence[int]) -> Decimal:
    """Gini coefficient of non-negative counts, exact then rounded to four places (0 = even)."""
    n, total = len(values), sum(values)
    if n == 0 or total == 0:
        return Decimal(0)
    weighted = sum((i + 1) * v for i, v in enumerate(sorted(values)))
    return (Decimal(2 * weighted) / Decimal(n * total) - Decimal(n + 1) / Decimal(n)).quantize(RATIO, ROUND_HALF_EVEN)


def kpis(session: Session, team_slug: str, period: str | None, now: dt.datetime) -> TeamKpis:
    """The team's KPIs for ``period`` (``2026-W48``, ``2026-11``, ``2026-Q4``, ``2026``; default:
    the template's target period, or the month, of ``now``), per rep and for the team."""
    team = session.scalars(select(Team).where(Team.slug == team_slug)).first()
    if team is None:
        raise _refuse("team.unknown", "no team {slug!r}", "没有团队 {slug!r}", slug=team_slug)
    template = compiled(get_version(session, team.template_name))
    if period is None:
        period = period_key(template.targets.period if template.targets is not None else "month", now, template.timezone)
    kind = _kind(period)
    start, end = period_bounds(kind, period, template.timezone)
    at = min(now, end)
    return _measure(session, team, template, period, start, end, at)


def _measure(session: Session, team: Team, template: CompiledTemplate, period: str, start: dt.datetime, end: dt.datetime, at: dt.datetime) -> TeamKpis:
    s, e = utc(start), utc(end)
    rows: dict[str, RepKpis] = {
        rid: RepKpis(rid, name or rid, status) for rid, name, status in session.execute(select(Rep.id, Rep.name, Rep.status).where(Rep.team_id == team.id).order_by(Rep.id))
    }

    def row(rep_id: str) -> RepKpis:
        if rep_id not in rows:  # an owner who has since left the team
            rows[rep_id] = RepKpis(rep_id, rep_id, "inactive")
        return rows[rep_id]

    # 1. What each rep owns now: coverage, compliance, load.
    overdue = overdue_filter(template, at)
    for owner, owned, covered, late, load in session.execute(
        select(
            Lead.owner_id,
            func.count(),
            func.coalesce(func.sum(case((Lead.followup_count > 0, 1), else_=0)), 0).cast(Integer),
            func.coalesce(func.sum(case((overdue, 1), else_=0)), 0).cast(Integer),
            func.coalesce(func.sum(case((Lead.is_open.is_(True), Lead.weight), else_=0.0)), 0.0).cast(Float),
        )
        .where(Lead.team_id == team.id, Lead.state == "owned", Lead.owner_id.is_not(None))
        .group_by(Lead.owner_id)
    ):
        r = row(owner)
        r.owned, r.covered, r.overdue, r.load = int(owned), int(covered), int(late), Decimal(repr(float(load or 0))).quantize(HOURS, ROUND_HALF_EVEN)

    # 2. Leads whose current ownership began in the period: first response and conversion by grade.
    grade = template.targets.grade if template.targets is not None else (template.segments[-1].name if template.segments else None)
    grade_col: ColumnElement[Any] = Lead.outputs[grade].as_string() if grade else func.cast(None, String)
    hours = _hours(session)
    for owner, g, leads, won, responded, total_hours in session.execute(
        select(
            Lead.owner_id,
            grade_col,
            func.count(),
            func.count(Lead.won_at),
            func.count(Lead.first_followup_at),
            func.coalesce(func.sum(case((Lead.first_followup_at.is_not(None), hours), else_=None)), 0.0),
        )
        .where(Lead.team_id == team.id, Lead.owner_id.is_not(None), Lead.assigned_at >= s, Lead.assigned_at < e)
        .group_by(Lead.owner_id, grade_col)
    ):
        r = row(owner)
        key = "-" if g is None else str(g)
        r.won[key] = (int(leads), int(won))
        r.assigned_in_period += int(leads)
        r.responded += int(responded)
        r.response_hours_total += Decimal(repr(float(total_hours or 0)))

    # 3. Ownership changes to each rep, and reclaims from each rep, in the period (the audit trail).
    for action, to_rep, from_rep, n in session.execute(
        select(AuditEvent.action, AuditEvent.to_rep_id, AuditEvent.from_rep_id, func.count())
        .where(AuditEvent.team_id == team.id, AuditEvent.at >= s, AuditEvent.at < e, AuditEvent.action.in_((*COUNTED_ACTIONS, "reclaim")))
        .group_by(AuditEvent.action, AuditEvent.to_rep_id, AuditEvent.from_rep_id)
    ):
        if action == "reclaim":
            if from_rep is not None:
                row(from_rep).reclaimed += int(n)
        elif to_rep is not None:
            row(to_rep).changes += int(n)

    # 4. Target completion from the trees in force at the moment of measure.
    team_completion: dict[str, Decimal | None] = {}
    if template.targets is not None:
        spec = template.targets
        target_period = period_key(spec.period, min(at, end - dt.timedelta(microseconds=1)), template.timezone)
        for metric in spec.metrics:
            plan = targets_service.plan_in_force(session, template.name, target_period, metric.name, at)
            if plan is None:
                continue
            root = targets_service.tree_of(targets_service.plan_nodes(session, plan))
            leaves = targets_service.leaf_results(session, plan, metric, template.timezone)
            rolled = rollup(root, lambda n: leaves.get(n.path, Decimal(0)))
            for node in root.walk():
                if node.level == "rep" and node.key in rows:
                    rows[node.key].completion[metric.name] = completion(rolled[node.path], node.amount)
                elif node.level == "team" and node.key == team.slug:
                    team_completion[metric.name] = completion(rolled[node.path], node.amount)
        main = spec.main_result
        acts = [m.name for m in spec.activities]
        for r in rows.values():
            r.main_completion = r.completion.get(main.name) if main is not None else None
            r.activity_completion = _mean([r.completion[m] for m in acts if r.completion.get(m) is not None])

    reps = [rows[k] for k in sorted(rows)]
    total = RepKpis(team.slug, team.name)
    for r in reps:
        total.owned += r.owned
        total.covered += r.covered
        total.overdue += r.overdue
        total.assigned_in_period += r.assigned_in_period
        total.responded += r.responded
        total.response_hours_total += r.response_hours_total
        total.changes += r.changes
        total.reclaimed += r.reclaimed
        total.load += r.load
        for g, (leads, won) in r.won.items():
            before = total.won.get(g, (0, 0))
            total.won[g] = (before[0] + leads, before[1] + won)
    total.completion = team_completion
    if template.targets is not None:
        main = template.targets.main_result
        total.main_completion = team_completion.get(main.name) if main is not None else None
        total.activity_completion = _mean([v for k, v in team_completion.items() if v is not None and k in {m.name for m in template.targets.activities}])
    eligible = [r.changes for r in reps if r.status == "active"]
    fairness = {
        "eligible_reps": len(eligible),
        "spread": (max(eligible) - min(eligible)) if eligible else 0,
        "gini": str(gini(eligible)),
        "min": min(eligible) if eligible else 0,
        "max": max(eligible) if eligible else 0,
    }
    return TeamKpis(team.slug, period, start, end, at, reps, total, fairness)


def _mean(values: Sequence[Decimal | None]) -> Decimal | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return (sum(present, Decimal(0)) / len(present)).quantize(RATIO, ROUND_HALF_EVEN)


# ------------------------------------------------------------------------------------------------
# The weekly health report
# ------------------------------------------------------------------------------------------------

_ITEM_TEXT = {
    "completion": ("target completion against time elapsed", "目标完成进度(相对时间进度)"),
    "activity": ("activity completion against time elapsed", "活动完成进度(相对时间进度)"),
    "coverage": ("leads followed up", "线索跟进覆盖率"),
    "first_response_hours": ("hours to first follow-up", "首次跟进用时(小时)"),
    "compliance": ("leads within the reclaim rules", "未超期线索占比"),
    "reclaim_rate": ("leads reclaimed", "线索被回收率"),
}


def _reason(item: str, value: Decimal | None, colour: str, bands: Mapping[str, tuple[Decimal, Decimal]], detail: tuple[str, str]) -> tuple[str, str]:
    en_name, zh_name = _ITEM_TEXT[item]
    if value is None:
        return f"{en_name}: nothing to measure ({detail[0]})", f"{zh_name}:无可统计({detail[1]})"
    green, yellow = bands.get(item, HEALTH_DEFAULTS[item])
    higher = item not in ("first_response_hours", "reclaim_rate")
    cmp_en = "≥" if higher else "≤"
    if colour == "green":
        en, zh = f"{cmp_en} {green} (green)", f"达到绿色线 {green}"
    elif colour == "yellow":
        en, zh = f"short of green {green}, {cmp_en} yellow {yellow}", f"未达绿色线 {green},达到黄色线 {yellow}"
    else:
        en, zh = f"beyond yellow {yellow}", f"未达黄色线 {yellow}"
    return f"{en_name} {value}: {en} ({detail[0]})", f"{zh_name} {value}:{zh}({detail[1]})"


def _items(template: CompiledTemplate, r: RepKpis, share: Decimal) -> list[dict[str, Any]]:
    bands = template.targets.health if template.targets is not None else HEALTH_DEFAULTS
    out = []

    def pace(done: Decimal | None) -> Decimal | None:
        return None if done is None or share == 0 else (done / share).quantize(RATIO, ROUND_HALF_EVEN)

    figures: list[tuple[str, Decimal | None, tuple[str, str]]] = []
    if template.targets is not None:
        figures.append(("completion", pace(r.main_completion), (f"completion {r.main_completion}, {share} of the period elapsed", f"完成率 {r.main_completion},时间进度 {share}")))
        if template.targets.activities:
            figures.append(("activity", pace(r.activity_completion), (f"completion {r.activity_completion}, {share} of the period elapsed", f"完成率 {r.activity_completion},时间进度 {share}")))
    figures += [
        ("coverage", r.coverage, (f"{r.covered} of {r.owned} owned leads", f"{r.owned} 条在手线索中 {r.covered} 条")),
        ("first_response_hours", r.first_response_hours, (f"{r.responded} of {r.assigned_in_period} new leads answered", f"{r.assigned_in_period} 条新线索中已跟进 {r.responded} 条")),
        ("compliance", r.compliance, (f"{r.overdue} of {r.owned} overdue", f"{r.owned} 条中超期 {r.overdue} 条")),
        ("reclaim_rate", r.reclaim_rate, (f"{r.reclaimed} reclaimed", f"被回收 {r.reclaimed} 条")),
    ]
    for item, value, detail in figures:
        colour = rate(item, value, bands)
        en, zh = _reason(item, value, colour, bands, detail)
        out.append({"item": item, "value": None if value is None else str(value), "status": colour, "en": en, "zh": zh})
    return out


def _worst(items: Sequence[Mapping[str, Any]]) -> str:
    colours = {i["status"] for i in items}
    return next((c for c in HEALTH_COLOURS if c in colours and c != "grey"), "grey")


def write_health(session: Session, team: Team, week: str, now: dt.datetime, *, job_id: int | None = None) -> int:
    """Write the health report of ``week`` (``2026-W48``) for each active or paused rep of the team.

    The week is measured at its end (or ``now`` if earlier); each rep's report is unique by rep
    and week (``ON CONFLICT DO NOTHING``), so two schedulers, or a job run twice, keep one report.
    Returns the reports offered."""
    if not _WEEK.match(week):
        raise _refuse("kpis.week", "{w!r} is not a week (e.g. 2026-W48)", "{w!r} 不是有效的周(例如 2026-W48)", w=week)
    template = compiled(get_version(session, team.template_name))
    start, end = period_bounds("week", week, template.timezone)
    at = min(now, end)
    measured = _measure(session, team, template, week, start, end, at)
    share = Decimal(1)
    if template.targets is not None:
        target_period = period_key(template.targets.period, at - dt.timedelta(microseconds=1), template.timezone)
        p_start, p_end = period_bounds(template.targets.period, target_period, template.timezone)
        share = elapsed_share(p_start, p_end, at)
    rows = []
    for r in measured.reps:
        if r.status == "inactive":
            continue
        items = _items(template, r, share)
        rows.append({"team_id": team.id, "rep_id": r.rep, "week": week, "status": _worst(items), "items": items, "generated_at": utc(now), "job_id": job_id})
    if rows:
        session.execute(insert_ignoring(session, REPORTS, ["rep_id", "week"]), rows)
    return len(rows)


def health_reports(session: Session, team_slug: str, week: str | None = None, rep_id: str | None = None, *, limit: int = 500) -> Sequence[HealthReport]:
    """Stored health reports of a team, newest week first (one week, one rep, or both)."""
    query = select(HealthReport).join(Team, Team.id == HealthReport.team_id).where(Team.slug == team_slug)
    if week is not None:
        query = query.where(HealthReport.week == week)
    if rep_id is not None:
        query = query.where(HealthReport.rep_id == rep_id)
    return session.scalars(query.order_by(HealthReport.week.desc(), HealthReport.rep_id).limit(limit)).all()


def previous_week(now: dt.datetime, tz: Any) -> str:
    """The ISO week before the one ``now`` falls in (``2026-W47``)."""
    day = now.astimezone(tz).date()
    monday = day - dt.timedelta(days=day.weekday())
    return period_key("week", dt.datetime.combine(monday - dt.timedelta(days=3), dt.time(12), tz), tz)
