"""The ``fenpei`` verbs for sales targets and KPIs (目标与关键指标).

``fenpei targets set|show|rollup``, ``fenpei kpis [--team T] [--period P] [--format table|csv|json]``
and ``fenpei health TEAM [--week W] [--rep R] [--make]``. They register themselves on
:data:`configurator.cli.main` when :mod:`configurator.cli` imports this module. A plan that does not
pass its checks is one ``FILE:LINE: $.path: message`` line per problem and exit status 1.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click
from sqlalchemy import select

from configurator.cli import _actor, _fail, _fenpei_errors, _group, _parse_now, _t, _unit, main
from configurator.models import Team
from configurator.services import kpis as kpis_service
from configurator.services import targets as targets_service
from configurator.services import teams as teams_service
from rule_engine.targets import CENT, format_amount

__all__: list[str] = []

targets_group = _group("targets", "Sales targets (目标): set a plan, show it, roll results up the tree.")

_NOW = click.option("--now", "now_text", default=None, help="The clock, ISO 8601 with offset (default: the current time).")


def _percent(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"


@targets_group.command("set")
@click.argument("file", type=click.Path())
@click.option("--at", "at_text", default=None, help="From when the plan is in force, ISO 8601 with offset (default: now); a change keeps the earlier versions.")
@click.option("--actor", default=None, help="Who sets it, for the history (default: FENPEI_ACTOR or the user name).")
@_NOW
@click.pass_context
@_fenpei_errors
def targets_set(ctx: click.Context, file: str, at_text: str | None, actor: str | None, now_text: str | None) -> None:
    """Check the target plan in FILE (YAML or JSON) and store it as the next version of its tree."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    at = _parse_now(at_text, lang) if at_text else None
    try:
        with open(file, encoding="utf-8") as fh:
            source = fh.read()
    except OSError as exc:
        _fail(_t(lang, f"{file}: cannot read: {exc.strerror}", f"{file}:无法读取:{exc.strerror}"))
    with _unit() as session:
        try:
            plan, created = targets_service.set_plan(session, source, source_name=file, actor=_actor(actor), now=now, at=at)
        except targets_service.PlanError as exc:
            _fail("\n".join(p.format(lang) for p in exc.problems))
        head = f"{plan.template_name} {plan.metric} {plan.period}"
        version, since = plan.version, plan.effective_from.isoformat(timespec="minutes")
    if created:
        click.echo(_t(lang, f"{head}: version {version}, in force from {since}", f"{head}:第 {version} 版,自 {since} 起生效"))
    else:
        click.echo(_t(lang, f"{head}: unchanged (version {version})", f"{head}:没有变化(第 {version} 版)"))


def _print_tree(lang: str, progress: targets_service.Progress, with_results: bool) -> None:
    unit = CENT if progress.metric == "revenue" or any("." in str(n.target) for n in progress.nodes) else None
    click.echo(
        _t(
            lang,
            f"{progress.template} {progress.metric} {progress.period}: version {progress.version}, in force from {progress.effective_from.isoformat(timespec='minutes')}",
            f"{progress.template} {progress.metric} {progress.period}:第 {progress.version} 版,自 {progress.effective_from.isoformat(timespec='minutes')} 起生效",
        )
    )
    for n in progress.nodes:
        label = f"{'  ' * n.depth}{n.key} ({n.level}, {n.owner})"
        target = format_amount(n.target, unit) if unit else f"{n.target:,}"
        if with_results:
            result = format_amount(n.result, unit) if unit else f"{n.result:,}"
            click.echo(f"{label:<44} {target:>18} {result:>18} {_percent(n.completion):>8}")
        else:
            click.echo(f"{label:<44} {target:>18}  {n.split}")


def _tree_command(name: str, doc: str, with_results: bool) -> None:
    @targets_group.command(name, help=doc)
    @click.argument("team")
    @click.option("--period", default=None, help="2026-11, 2026-Q4 or 2026 (default: the template's target period now).")
    @click.option("--metric", default=None, help="The metric (default: the first result metric).")
    @click.option("--at", "at_text", default=None, help="The version in force at this moment (default: now).")
    @click.option("--history", is_flag=True, help="Also list every version of the plan.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @_NOW
    @click.pass_context
    @_fenpei_errors
    def command(ctx: click.Context, team: str, period: str | None, metric: str | None, at_text: str | None, history: bool, as_json: bool, now_text: str | None) -> None:
        lang = ctx.obj["lang"]
        now = _parse_now(now_text, lang)
        at = _parse_now(at_text, lang) if at_text else None
        with _unit(write=False) as session:
            progress = targets_service.progress(session, team, period, metric, now, at=at)
            versions = [
                {"version": v.version, "effective_from": v.effective_from.isoformat(), "by": v.created_by, "note": v.note}
                for v in targets_service.plan_versions(session, progress.template, progress.period, progress.metric)
            ] if history else []
        if as_json:
            out = progress.to_json()
            if not with_results:
                for node in out["nodes"]:
                    node.pop("result"), node.pop("completion")
            if history:
                out["versions"] = versions
            click.echo(json.dumps(out, ensure_ascii=False, indent=2))
            return
        _print_tree(lang, progress, with_results)
        for v in versions:
            click.echo(_t(lang, f"  version {v['version']} from {v['effective_from']} by {v['by']}", f"  第 {v['version']} 版,自 {v['effective_from']} 起,{v['by']} 设定") + (f": {v['note']}" if v["note"] else ""))


_tree_command("show", "The target tree of TEAM's template for a period and metric: each node's target, owner and split.", False)
_tree_command("rollup", "Roll results up TEAM's target tree: each node's target, result so far and completion.", True)


_KPI_COLUMNS = ("team", "rep", "name", "completion", "activity_completion", "owned", "coverage", "first_response_hours", "not_responded", "compliance", "overdue", "reclaimed", "reclaim_rate", "assigned", "load", "conversion")


def _kpi_rows(team: kpis_service.TeamKpis) -> list[dict[str, Any]]:
    rows = []
    for r in [*team.reps, team.total]:
        row = r.to_json()
        row["team"] = team.team
        row["rep"] = "*" if r is team.total else row["rep"]
        row["conversion"] = ";".join(f"{g}={v}" for g, v in row["conversion"].items())
        rows.append(row)
    return rows


@main.command("kpis")
@click.option("--team", "team_slug", default=None, help="One team (default: every team).")
@click.option("--period", default=None, help="2026-W48, 2026-11, 2026-Q4 or 2026 (default: the template's target period now).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@_NOW
@click.pass_context
@_fenpei_errors
def kpis_cmd(ctx: click.Context, team_slug: str | None, period: str | None, fmt: str, now_text: str | None) -> None:
    """KPIs per rep and team: completion, coverage, first response, compliance, conversion by grade, reclaim rate, load, fairness."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit(write=False) as session:
        slugs = [team_slug] if team_slug else list(session.scalars(select(Team.slug).order_by(Team.slug)))
        results = [kpis_service.kpis(session, slug, period, now) for slug in slugs]
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(_KPI_COLUMNS), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in results:
            writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in _kpi_rows(r))
        click.echo(buf.getvalue(), nl=False)
        return
    for r in results:
        click.echo(_t(lang, f"{r.team} {r.period} (measured {r.measured_at.isoformat(timespec='minutes')})", f"{r.team} {r.period}(统计于 {r.measured_at.isoformat(timespec='minutes')})"))
        click.echo(f"{'rep':<12} {'done':>7} {'activ':>7} {'owned':>6} {'cover':>7} {'1st h':>7} {'compl':>7} {'reclm':>7} {'assgn':>6} {'load':>7}  conversion")
        for row in _kpi_rows(r):
            click.echo(
                f"{row['rep']:<12} {_percent(row['completion']):>7} {_percent(row['activity_completion']):>7} {row['owned']:>6} {_percent(row['coverage']):>7} "
                f"{row['first_response_hours'] or '-':>7} {_percent(row['compliance']):>7} {_percent(row['reclaim_rate']):>7} {row['assigned']:>6} {row['load']:>7}  {row['conversion'] or '-'}"
            )
        f = r.fairness
        click.echo(_t(lang, f"fairness among {f['eligible_reps']} active reps: spread {f['spread']}, Gini {f['gini']}", f"{f['eligible_reps']} 名在岗销售的公平性:极差 {f['spread']},基尼系数 {f['gini']}"))


@main.command("health")
@click.argument("team")
@click.option("--week", default=None, help="2026-W48 (default: the latest weeks kept).")
@click.option("--rep", "rep_id", default=None, help="One rep.")
@click.option("--make", is_flag=True, help="Make the week's reports now if they are not kept yet (the weekly job does this on its own).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_NOW
@click.pass_context
@_fenpei_errors
def health_cmd(ctx: click.Context, team: str, week: str | None, rep_id: str | None, make: bool, as_json: bool, now_text: str | None) -> None:
    """The weekly health reports of TEAM: red, yellow or green per item, with the reason."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit(write=make) as session:
        if make:
            t = teams_service.get_team(session, team)
            from configurator.services.templates import compiled, get_version

            week = week or kpis_service.previous_week(now, compiled(get_version(session, t.template_name)).timezone)
            kpis_service.write_health(session, t, week, now)
        reports = [
            {"rep": r.rep_id, "week": r.week, "status": r.status, "generated_at": r.generated_at.isoformat(), "items": r.items}
            for r in kpis_service.health_reports(session, team, week, rep_id)
        ]
    if as_json:
        click.echo(json.dumps(reports, ensure_ascii=False, indent=2))
        return
    if not reports:
        click.echo(_t(lang, f"{team}: no health reports kept", f"{team}:没有健康报告"))
    key = "zh" if lang == "zh" else "en"
    for r in reports:
        click.echo(f"{r['week']} {r['rep']:<12} {r['status']}")
        for item in r["items"]:
            click.echo(f"  {item['status']:<6} {item[key]}")
