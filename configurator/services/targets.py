"""Target trees as data: set a plan (SMART-checked, versioned), read it back, roll results up.

A plan is the target tree of one metric for one period (``2026-Q4``), under the template whose
``targets`` section defines the metric. Plans are versioned like templates: :func:`set_plan`
never edits a stored version, it adds the next one, in force from a given moment; a change in the
middle of a period keeps the earlier versions as the history, and :func:`plan_in_force` reads the
version that held at any moment.

Results come from two places, each read with one ``GROUP BY`` for the whole tree:

- won deals: :func:`record_won` writes what a deal adds to each result metric (once per lead and
  metric) when the template's ``won_when`` starts to hold, for the owner at that moment;
- activities: follow-ups, counted per rep (``followups.activity`` says which activity metric a
  follow-up is, set when it is logged; metrics without ``when`` count every follow-up).

Money is summed in whole cents (``SUM(ROUND(amount * 100))``) so SQLite's floating point storage
never leaks into a total; every figure leaves this module as a :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from configurator.clock import stored as _aware
from configurator.models import FollowUp, Lead, Rep, TargetNode, TargetPlan, TargetResult, Team
from configurator.services.dialect import insert_ignoring
from configurator.services.points import period_bounds
from configurator.services.roster import utc
from configurator.services.templates import ServiceError, compiled, current_version
from rule_engine import CompiledTemplate, DocumentError, Problem
from rule_engine import Rep as EngineRep
from rule_engine.errors import FenpeiError
from rule_engine.loader import parse_document
from rule_engine.points import period_key
from rule_engine.targets import CENT, Metric, Plan, PlanNode, TargetsSpec, completion, period_kind, read_plan, rollup

__all__ = [
    "NodeProgress",
    "PlanError",
    "Progress",
    "activity_of",
    "leaf_results",
    "plan_in_force",
    "plan_versions",
    "progress",
    "record_won",
    "set_plan",
    "tree_of",
    "figures_at",
    "with_figures",
]

RESULTS = cast(Table, TargetResult.__table__)
LEADS = cast(Table, Lead.__table__)


class PlanError(FenpeiError):
    """A target plan that does not pass its checks: every problem located in the plan's file."""


def _refuse(code: str, en: str, zh: str, **params: Any) -> ServiceError:
    return ServiceError(Problem.make(code, en, zh, **params))


def spec_of(template: CompiledTemplate) -> TargetsSpec:
    """The template's ``targets`` section; refused when it has none."""
    if template.targets is None:
        raise _refuse("targets.none", "template {t!r} has no targets section", "模板 {t!r} 没有 targets 部分", t=template.name)
    return template.targets


def _template_of(session: Session, name: str) -> CompiledTemplate:
    version = current_version(session, name)
    if version is None:
        raise _refuse("targets.template", "template {t!r} has no published version", "模板 {t!r} 尚未发布", t=name)
    return compiled(version)


# ------------------------------------------------------------------------------------------------
# Setting plans
# ------------------------------------------------------------------------------------------------


def _tree_keys(node: Any, level: str) -> Iterable[str]:
    if isinstance(node, Mapping):
        if node.get("level") == level and isinstance(node.get("key"), str):
            yield node["key"]
        for child in node.get("children") or () if isinstance(node.get("children"), list) else ():
            yield from _tree_keys(child, level)


def _plan_template(session: Session, data: Any) -> str:
    """The template a plan is under: the one every team in it (or every rep's team) uses."""
    tree = data.get("tree") if isinstance(data, Mapping) else None
    slugs = set(_tree_keys(tree, "team"))
    reps = set(_tree_keys(tree, "rep"))
    names: set[str] = set()
    if slugs:
        names |= set(session.scalars(select(Team.template_name).where(Team.slug.in_(sorted(slugs)))))
    if reps:
        names |= set(session.scalars(select(Team.template_name).join(Rep, Rep.team_id == Team.id).where(Rep.id.in_(sorted(reps)))))
    if len(names) > 1:
        raise PlanError(Problem.make("target.template", "the teams of one plan must share a template (found: {names})", "同一计划中的团队必须使用同一模板(现为:{names})", ("tree",), names=", ".join(sorted(names))))
    if not names:
        raise PlanError(Problem.make("target.template", "the tree names no known team or rep", "目标树中没有已知的团队或销售", ("tree",)))
    return names.pop()


def _previous_period(kind: str, period: str, tz: Any) -> str:
    start, _ = period_bounds(kind, period, tz)
    return period_key(kind, start - dt.timedelta(microseconds=1), tz)


def set_plan(session: Session, source: str, *, source_name: str = "<plan>", actor: str, now: dt.datetime, at: dt.datetime | None = None) -> tuple[TargetPlan, bool]:
    """Check the plan in ``source`` (YAML or JSON) and store it as the next version of its tree,
    in force from ``at`` (default ``now``). Returns (the version in force, whether it is new):
    a plan that changes nothing stores nothing. Raises PlanError with located problems."""
    at = at or now
    try:
        doc = parse_document(source, source_name)
    except DocumentError as exc:
        raise PlanError(exc.problems) from None
    try:
        name = _plan_template(session, doc.data)
    except PlanError as exc:
        raise doc.located_error(exc) from None
    template = _template_of(session, name)
    spec = spec_of(template)
    teams = dict(session.execute(select(Team.slug, Team.template_name).where(Team.template_name == name)).all())
    reps = dict(session.execute(select(Rep.id, Team.slug).join(Team, Team.id == Rep.team_id).where(Team.template_name == name)).all())

    history = None
    data = doc.data
    if isinstance(data, Mapping) and period_kind(str(data.get("period", ""))) is not None and spec.metric(str(data.get("metric"))) is not None:
        kind = cast(str, period_kind(str(data["period"])))
        metric = cast(Metric, spec.metric(str(data["metric"])))
        before = _previous_period(kind, str(data["period"]), template.timezone)
        start, end = period_bounds(kind, before, template.timezone)
        by_rep, by_team = _results(session, metric, start, end, list(teams))

        def history(node: PlanNode) -> Decimal:
            if node.children:
                return sum((history(c) for c in node.children), Decimal(0))
            if node.level == "rep":
                return by_rep.get(node.key, Decimal(0))
            return by_team.get(node.key, Decimal(0)) if node.level == "team" else Decimal(0)

    plan, problems = read_plan(data, spec, teams=teams, reps=reps, history=history)
    if problems or plan is None:
        raise PlanError([doc.located(p) for p in problems])
    latest = session.scalars(
        select(TargetPlan).where(TargetPlan.template_name == name, TargetPlan.period == plan.period, TargetPlan.metric == plan.metric.name).order_by(TargetPlan.version.desc()).limit(1)
    ).first()
    if latest is not None:
        if utc(at) < _aware(latest.effective_from):
            raise _refuse(
                "targets.history",
                "version {v} of this plan is in force from {t}; a change cannot start earlier",
                "该计划第 {v} 版自 {t} 起生效;修改不能早于此时",
                v=latest.version,
                t=_aware(latest.effective_from).isoformat(),
            )
        if _shape(plan_nodes(session, latest)) == _shape(_rows(plan)):
            return latest, False
    stored = TargetPlan(
        template_name=name,
        period=plan.period,
        period_kind=plan.period_kind,
        metric=plan.metric.name,
        version=(latest.version + 1) if latest is not None else 1,
        effective_from=utc(at),
        source=source,
        note=plan.note,
        created_by=actor,
        created_at=utc(now),
    )
    session.add(stored)
    session.flush()
    session.add_all(TargetNode(plan_id=stored.id, **row) for row in _rows(plan))
    session.flush()
    return stored, True


def _rows(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "position": i,
            "path": n.path,
            "parent_path": n.parent,
            "level": n.level,
            "key": n.key,
            "owner": n.owner,
            "title": n.title,
            "split": n.split,
            "weight": n.weight,
            "amount": n.amount,
        }
        for i, n in enumerate(plan.nodes())
    ]


def _shape(rows: Sequence[Mapping[str, Any] | TargetNode]) -> list[tuple[Any, ...]]:
    def get(row: Any, key: str) -> Any:
        return row[key] if isinstance(row, Mapping) else getattr(row, key)

    return [(get(r, "path"), get(r, "owner"), Decimal(get(r, "amount")).quantize(CENT)) for r in rows]


# ------------------------------------------------------------------------------------------------
# Reading plans
# ------------------------------------------------------------------------------------------------


def plan_versions(session: Session, template_name: str, period: str, metric: str) -> Sequence[TargetPlan]:
    """Every version of a plan, oldest first (the history of its changes)."""
    return session.scalars(
        select(TargetPlan).where(TargetPlan.template_name == template_name, TargetPlan.period == period, TargetPlan.metric == metric).order_by(TargetPlan.version)
    ).all()


def plan_in_force(session: Session, template_name: str, period: str, metric: str, at: dt.datetime) -> TargetPlan | None:
    """The version of a plan in force at ``at`` (the latest one that started by then)."""
    return session.scalars(
        select(TargetPlan)
        .where(TargetPlan.template_name == template_name, TargetPlan.period == period, TargetPlan.metric == metric, TargetPlan.effective_from <= utc(at))
        .order_by(TargetPlan.version.desc())
        .limit(1)
    ).first()


def plan_nodes(session: Session, plan: TargetPlan) -> Sequence[TargetNode]:
    return session.scalars(select(TargetNode).where(TargetNode.plan_id == plan.id).order_by(TargetNode.position)).all()


def tree_of(nodes: Sequence[TargetNode]) -> PlanNode:
    """The stored nodes of a plan version as a tree."""
    made: dict[str, PlanNode] = {}
    root: PlanNode | None = None
    for n in nodes:
        node = PlanNode(n.path, n.level, n.key, n.owner, Decimal(n.amount), n.split, n.weight, n.title, n.parent_path)
        made[n.path] = node
        if n.parent_path is None:
            root = node
        else:
            made[n.parent_path].children.append(node)
    assert root is not None  # every stored plan has its root
    return root


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------


def _cents(value: Any) -> Decimal:
    return (Decimal(str(value or 0)) / 100).quantize(CENT)


def _results(session: Session, metric: Metric, start: dt.datetime, end: dt.datetime, team_slugs: Sequence[str]) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """A metric's results in [start, end) per rep id and per team slug (one GROUP BY)."""
    by_rep: dict[str, Decimal] = defaultdict(Decimal)
    by_team: dict[str, Decimal] = defaultdict(Decimal)
    if not team_slugs:
        return by_rep, by_team
    s, e = utc(start), utc(end)
    if metric.is_activity:
        query = (
            select(Team.slug, FollowUp.rep_id, func.count())
            .select_from(FollowUp)
            .join(Rep, Rep.id == FollowUp.rep_id)
            .join(Team, Team.id == Rep.team_id)
            .where(Team.slug.in_(team_slugs), FollowUp.at >= s, FollowUp.at < e)
            .group_by(Team.slug, FollowUp.rep_id)
        )
        if metric.when is not None:
            query = query.where(FollowUp.activity == metric.name)
        rows = [(slug, rep, Decimal(int(n))) for slug, rep, n in session.execute(query)]
    else:
        query = (
            select(Team.slug, TargetResult.rep_id, func.sum(func.round(TargetResult.amount * 100)))
            .join(Team, Team.id == TargetResult.team_id)
            .where(Team.slug.in_(team_slugs), TargetResult.metric == metric.name, TargetResult.at >= s, TargetResult.at < e)
            .group_by(Team.slug, TargetResult.rep_id)
        )
        unit = CENT if metric.kind == "revenue" else Decimal(1)
        rows = [(slug, rep, _cents(total).quantize(unit)) for slug, rep, total in session.execute(query)]
    for slug, rep, value in rows:
        by_rep[rep] += value
        by_team[slug] += value
    return by_rep, by_team


def leaf_results(session: Session, plan: TargetPlan, metric: Metric, tz: Any) -> dict[str, Decimal]:
    """Each leaf's result (by path) in the plan's period: a rep's own, a team's all its reps'."""
    start, end = period_bounds(plan.period_kind, plan.period, tz)
    nodes = plan_nodes(session, plan)
    reps = {n.key for n in nodes if n.level == "rep"}
    slugs = {n.key for n in nodes if n.level == "team"}
    if reps:
        slugs |= set(session.scalars(select(Team.slug).join(Rep, Rep.team_id == Team.id).where(Rep.id.in_(sorted(reps)))))
    by_rep, by_team = _results(session, metric, start, end, sorted(slugs))
    out: dict[str, Decimal] = {}
    for n in nodes:
        if n.level == "rep":
            out[n.path] = by_rep.get(n.key, Decimal(0))
        elif n.level == "team":
            out[n.path] = by_team.get(n.key, Decimal(0))
    return out


@dataclass(frozen=True)
class NodeProgress:
    """One node of a rolled-up tree."""

    path: str
    depth: int
    level: str
    key: str
    owner: str
    split: str
    target: Decimal
    result: Decimal
    completion: Decimal | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "level": self.level,
            "key": self.key,
            "owner": self.owner,
            "split": self.split,
            "target": str(self.target),
            "result": str(self.result),
            "completion": None if self.completion is None else str(self.completion),
        }


@dataclass(frozen=True)
class Progress:
    """A plan version rolled up at a moment."""

    template: str
    period: str
    metric: str
    version: int
    effective_from: dt.datetime
    nodes: list[NodeProgress]

    def to_json(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "period": self.period,
            "metric": self.metric,
            "version": self.version,
            "effective_from": self.effective_from.isoformat(),
            "nodes": [n.to_json() for n in self.nodes],
        }


def _team_template(session: Session, team_slug: str) -> str:
    name = session.scalar(select(Team.template_name).where(Team.slug == team_slug))
    if name is None:
        raise _refuse("team.unknown", "no team {slug!r}", "没有团队 {slug!r}", slug=team_slug)
    return name


def progress(session: Session, team_slug: str, period: str | None, metric: str | None, now: dt.datetime, *, at: dt.datetime | None = None) -> Progress:
    """The tree of ``metric`` (default: the first result metric) for ``period`` (default: the
    current one) under ``team_slug``'s template, as in force at ``at`` (default ``now``), with each
    node's result so far and its completion."""
    name = _team_template(session, team_slug)
    template = _template_of(session, name)
    spec = spec_of(template)
    chosen = spec.metric(metric) if metric is not None else spec.main_result or spec.metrics[0]
    if chosen is None:
        raise _refuse("targets.metric", "unknown metric {m!r} (one of: {all})", "未知的指标 {m!r}(可选:{all})", m=metric, all=", ".join(m.name for m in spec.metrics))
    period = period or period_key(spec.period, now, template.timezone)
    if period_kind(period) is None:
        raise _refuse("targets.period", "{p!r} is not a period: write 2026-11, 2026-Q4 or 2026", "{p!r} 不是有效周期:请写 2026-11、2026-Q4 或 2026", p=period)
    plan = plan_in_force(session, name, period, chosen.name, at or now)
    if plan is None:
        raise _refuse("targets.none_set", "no {m} targets for {p} (fenpei targets set FILE)", "{p} 没有 {m} 目标(fenpei targets set FILE)", m=chosen.name, p=period)
    root = tree_of(plan_nodes(session, plan))
    leaves = leaf_results(session, plan, chosen, template.timezone)
    rolled = rollup(root, lambda n: leaves.get(n.path, Decimal(0)))
    nodes = [
        NodeProgress(n.path, n.path.count("/"), n.level, n.key, n.owner, n.split, n.amount, rolled[n.path], completion(rolled[n.path], n.amount))
        for n in root.walk()
    ]
    return Progress(name, period, chosen.name, plan.version, _aware(plan.effective_from), nodes)


# ------------------------------------------------------------------------------------------------
# Recording results and activities
# ------------------------------------------------------------------------------------------------


def activity_of(template: CompiledTemplate, stored: Mapping[str, Any], lead_fields: Mapping[str, Any] | None) -> str | None:
    """The activity metric a follow-up counts for, if any: its stored form values read over its
    lead's stored fields, both typed by the template."""
    if template.targets is None or not any(m.when is not None for m in template.targets.activities):
        return None
    lead = template.stored_values(lead_fields)
    values: Mapping[str, Any] = stored
    if "followup" in template.forms:
        values, _ = template.form_record("followup", stored, lead)
    return template.targets.activity_of({**lead, **values})


def record_won(session: Session, team: Team, template: CompiledTemplate, lead_id: str, owner: str | None, values: Mapping[str, Any], now: dt.datetime, *, won: bool) -> int:
    """Keep ``leads.won_at`` in step with ``won_when`` and, when a deal is won, write what it adds
    to each result metric for ``owner`` (once per lead and metric). Returns the result rows offered."""
    now_utc = utc(now)
    if not won:
        session.execute(update(LEADS).where(LEADS.c.id == lead_id, LEADS.c.won_at.is_not(None)).values(won_at=None))
        return 0
    session.execute(update(LEADS).where(LEADS.c.id == lead_id, LEADS.c.won_at.is_(None)).values(won_at=now_utc))
    if template.targets is None or owner is None:
        return 0
    rows = [
        {"lead_id": lead_id, "metric": metric, "team_id": team.id, "rep_id": owner, "at": now_utc, "amount": amount}
        for metric, amount in template.targets.results_of(values)
    ]
    if rows:
        session.execute(insert_ignoring(session, RESULTS, ["lead_id", "metric"]), rows)
    return len(rows)


# ------------------------------------------------------------------------------------------------
# Figures for the roster
# ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _reads_figures(fingerprint: str, rules: str) -> bool:
    return "completion" in rules


def reads_figures(template: CompiledTemplate) -> bool:
    """Whether any rule of ``template`` may read a target figure (worth the queries)."""
    if template.targets is None:
        return False
    rules = {k: v for k, v in template.data.items() if k not in ("targets", "fields", "rep_fields", "forms", "title", "description")}
    return _reads_figures(template.fingerprint, json.dumps(rules, sort_keys=True, default=str))


def with_figures(session: Session, team: Team, template: CompiledTemplate, now: dt.datetime, roster: list[EngineRep]) -> list[EngineRep]:
    """``roster`` with each rep's and the team's completion figures for the current target period
    (none without a ``targets`` section, or when no rule reads them)."""
    if not roster or not reads_figures(template):
        return roster
    spec = cast(TargetsSpec, template.targets)
    period = period_key(spec.period, now, template.timezone)
    rep_fig: dict[str, dict[str, Any]] = defaultdict(dict)
    team_fig: dict[str, Any] = {}
    activity_rep: dict[str, list[Decimal]] = defaultdict(list)
    activity_team: list[Decimal] = []
    for metric in spec.metrics:
        plan = plan_in_force(session, template.name, period, metric.name, now)
        if plan is None:
            continue
        root = tree_of(plan_nodes(session, plan))
        leaves = leaf_results(session, plan, metric, template.timezone)
        rolled = rollup(root, lambda n: leaves.get(n.path, Decimal(0)))
        for node in root.walk():
            done = completion(rolled[node.path], node.amount)
            if done is None:
                continue
            if node.level == "rep":
                rep_fig[node.key][f"completion_{metric.name}"] = float(done)
                if metric is spec.main_result:
                    rep_fig[node.key]["target_completion"] = float(done)
                if metric.is_activity:
                    activity_rep[node.key].append(done)
            elif node.level == "team" and node.key == team.slug:
                team_fig[f"team.completion_{metric.name}"] = float(done)
                if metric is spec.main_result:
                    team_fig["team.completion"] = float(done)
                if metric.is_activity:
                    activity_team.append(done)
    if activity_team:
        team_fig["team.activity_completion"] = float(_mean(activity_team))
    for rep_id, values in activity_rep.items():
        rep_fig[rep_id]["activity_completion"] = float(_mean(values))
    if not rep_fig and not team_fig:
        return roster
    return [replace(r, figures={**r.figures, **rep_fig.get(r.id, {}), **team_fig}) for r in roster]


def figures_at(session: Session, team: Team, template: CompiledTemplate, at: dt.datetime, roster: list[EngineRep]) -> list[EngineRep]:
    """``roster`` with the target figures of the period ``at`` falls in, in place of any it had
    (period-end points read the period that ended, not the one the clock is in now)."""
    if not reads_figures(template):
        return roster
    return with_figures(session, team, template, at, [replace(r, figures={}) for r in roster])


def _mean(values: Sequence[Decimal]) -> Decimal:
    return completion(sum(values, Decimal(0)), Decimal(len(values))) or Decimal(0)
