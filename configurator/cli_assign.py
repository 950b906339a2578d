"""The ``fenpei`` verbs for teams, reps, single leads and assignment.

``fenpei team create``, ``fenpei reps import``, ``fenpei leads add``, ``fenpei assign``,
``fenpei reassign`` and ``fenpei explain``. They register themselves on :data:`configurator.cli.main`
when :mod:`configurator.cli` imports this module (its last line). Like every verb, each reports a
refused request or bad input as a message and exits 1, never with a traceback.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import click

from configurator.cli import _actor, _fail, _fenpei_errors, _group, _pairs, _parse_now, _t, _unit, main
from configurator.inputs import InputProblems, read_reps_csv
from configurator.models import Lead, Team
from configurator.services import assignment as assignment_service
from configurator.services import leads as leads_service
from configurator.services import teams as teams_service
from configurator.services import templates as templates_service
from configurator.services.assignment import ASSIGN_BATCH
from rule_engine import InputError
from rule_engine.errors import closest

__all__ = ["ASSIGN_BATCH"]  # re-exported from the assignment service


_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


team_group = _group("team", "Create and inspect teams.")
reps_group = _group("reps", "Manage a team's reps.")
leads_group = _group("leads", "Add and manage leads.")


@team_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The team's display name.")
@click.option("--template", "template_name", required=True, help="The template (by name) that governs the team; it must be published.")
@click.pass_context
@_fenpei_errors
def team_create(ctx: click.Context, slug: str, name: str, template_name: str) -> None:
    """Create team SLUG governed by a published template."""
    lang = ctx.obj["lang"]
    if not _SLUG.match(slug):
        _fail(_t(lang, f"{slug!r} is not a valid team slug (letters, digits, '-' and '_', at most 64)", f"{slug!r} 不是有效的团队标识(字母、数字、'-' 和 '_',最多 64 个)"))
    with _unit() as session:
        version = templates_service.get_version(session, template_name)
        teams_service.create_team(session, slug, name, template_name)
    click.echo(_t(lang, f"team {slug} created (template {template_name}, version {version.version} now)", f"已创建团队 {slug}(模板 {template_name},当前第 {version.version} 版)"))


@reps_group.command("import")
@click.argument("team")
@click.argument("file", type=click.Path())
@click.pass_context
@_fenpei_errors
def reps_import(ctx: click.Context, team: str, file: str) -> None:
    """Create or update TEAM's reps from a CSV FILE (id, name, rep fields, status, leave)."""
    lang = ctx.obj["lang"]
    with _unit() as session:
        team_row = teams_service.get_team(session, team)
        template = templates_service.compiled(templates_service.get_version(session, team_row.template_name))
        try:
            reps = read_reps_csv(file, template)
        except InputProblems as exc:
            _fail(exc.format(lang))
        created, updated = teams_service.upsert_reps(session, team_row, reps)
    click.echo(_t(lang, f"{team}: {created} reps created, {updated} updated", f"{team}:新增 {created} 位销售,更新 {updated} 位"))


@leads_group.command("add")
@click.argument("team")
@click.option("--field", "field_values", multiple=True, metavar="NAME=VALUE", help="A field value; repeat for each field.")
@click.option("--now", "now_text", default=None, help="The clock, ISO 8601 with offset (default: the current time).")
@click.pass_context
@_fenpei_errors
def leads_add(ctx: click.Context, team: str, field_values: tuple[str, ...], now_text: str | None) -> None:
    """Add one lead to TEAM: validated against the template's fields, graded, waiting for assignment."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    raw = _pairs(field_values, lang, "--field")
    with _unit() as session:
        team_row = teams_service.get_team(session, team)
        version = templates_service.get_version(session, team_row.template_name)
        known = [*templates_service.compiled(version).fields, "id", "created_at"]
        problems = [
            _t(lang, f"{name}: unknown field", f"{name}:未知字段") + (_t(lang, f" (did you mean {hint!r}?)", f"(是否想输入 {hint!r}?)") if hint else "")
            for name in raw
            if name not in known
            for hint in [closest(name, known)]
        ]
        try:
            lead = leads_service.add_lead(session, team_row, version, {k: v for k, v in raw.items() if k in known}, now, text=True)
        except InputError as exc:
            problems += [f"{p.path[0]}: {p.message(lang)}" if p.path else p.message(lang) for p in exc.problems]
        if problems:
            _fail("\n".join(problems))  # leaves the unit of work: nothing is stored
        grades = "; " + ", ".join(f"{k}={v}" for k, v in lead.outputs.items()) if lead.outputs else ""
        lead_id, weight = lead.id, lead.weight
    click.echo(_t(lang, f"lead {lead_id} added (weight {weight:g}{grades})", f"已添加线索 {lead_id}(负载权重 {weight:g}{grades})"))


_OUTCOMES = {"assigned": ("assigned", "已分配"), "pool": ("pool", "进入公海"), "escalated": ("escalated", "上报主管"), "error": ("errors", "无法评估")}


@main.command("assign")
@click.argument("team")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Assign at most N pending leads (default: all).")
@click.option("--now", "now_text", default=None, help="The clock, ISO 8601 with offset (default: the current time).")
@click.option("--actor", default=None, help="Who runs it, for the audit trail (default: FENPEI_ACTOR or the user name).")
@click.pass_context
@_fenpei_errors
def assign_cmd(ctx: click.Context, team: str, limit: int | None, now_text: str | None, actor: str | None) -> None:
    """Assign TEAM's pending leads by its template, in batches; print counts per outcome and per rep."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    who = _actor(actor)
    total = assignment_service.AssignResult(team)
    remaining = limit
    while remaining is None or remaining > 0:
        size = ASSIGN_BATCH if remaining is None else min(ASSIGN_BATCH, remaining)
        with _unit() as session:
            batch = assignment_service.assign_pending(session, teams_service.get_team(session, team), now, limit=size, actor=who)
        total.merge(batch)
        if remaining is not None:
            remaining -= batch.total
        if batch.total < size:
            break
    if total.total == 0:
        click.echo(_t(lang, f"{team}: no pending leads", f"{team}:没有待分配的线索"))
        return
    counts = " · ".join(f"{_t(lang, *_OUTCOMES[k])} {n}" for k, n in total.counts.items() if n or k == "assigned")
    click.echo(_t(lang, f"{team}: {counts} (template version {total.template_version})", f"{team}:{counts}(模板第 {total.template_version} 版)"))
    for rep_id, n in total.per_rep.items():
        click.echo(f"  {rep_id:<12} +{n}")
    if total.points:
        click.echo(_t(lang, f"{total.points} points entries written", f"写入 {total.points} 条积分记录"))


@main.command("reassign")
@click.argument("lead")
@click.argument("rep")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--now", "now_text", default=None, help="The clock, ISO 8601 with offset (default: the current time).")
@click.option("--actor", default=None, help="Who decides, for the audit trail (default: FENPEI_ACTOR or the user name).")
@click.pass_context
@_fenpei_errors
def reassign_cmd(ctx: click.Context, lead: str, rep: str, reason: str, now_text: str | None, actor: str | None) -> None:
    """Give LEAD to REP (a manager's decision), with a reason."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit() as session:
        before = session.get(Lead, lead)
        previous = before.owner_id if before is not None else None
        assignment_service.reassign(session, lead, rep, reason, _actor(actor), now)
    if previous:
        click.echo(_t(lang, f"lead {lead} reassigned from {previous} to {rep}", f"线索 {lead} 已从 {previous} 改派给 {rep}"))
    else:
        click.echo(_t(lang, f"lead {lead} assigned to {rep}", f"线索 {lead} 已分配给 {rep}"))


@main.command("explain")
@click.argument("lead")
@click.option("--lang", "lang_option", type=click.Choice(["en", "zh"]), default=None, help="Language of the explanations (default: the global --lang).")
@click.pass_context
@_fenpei_errors
def explain_cmd(ctx: click.Context, lead: str, lang_option: str | None) -> None:
    """Print LEAD's audit trail: every decision and change, with its explanation."""
    lang = lang_option or ctx.obj["lang"]
    tz: Any = None
    with _unit(write=False) as session:
        entries = assignment_service.explain_lead(session, lead, lang)
        row = session.get(Lead, lead)
        state, owner = (row.state, row.owner_id) if row is not None else (None, None)
        team = session.get(Team, row.team_id) if row is not None else None
        version = templates_service.current_version(session, team.template_name) if team is not None else None
        if version is not None:
            tz = templates_service.compiled(version).timezone  # times in the team's timezone
    states_zh = {"new": "待分配", "owned": "已分配", "pool": "在公海", "escalated": "待主管处理"}
    if state is not None:
        if owner:
            click.echo(_t(lang, f"lead {lead}: {state}, owner {owner}", f"线索 {lead}:{states_zh.get(state, state)},负责人 {owner}"))
        else:
            click.echo(_t(lang, f"lead {lead}: {state}", f"线索 {lead}:{states_zh.get(state, state)}"))
    if not entries:
        click.echo(_t(lang, "no decisions recorded yet", "尚无决策记录"))
    for entry in entries:
        click.echo((replace(entry, at=entry.at.astimezone(tz)) if tz is not None else entry).line(lang))
