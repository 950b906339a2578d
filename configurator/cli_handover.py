"""The ``fenpei`` verbs for lead changes, handovers and rep availability.

``fenpei leads update`` / ``fenpei leads show``, ``fenpei handover list|fill|ack``, and
``fenpei reps pause|resume|deactivate|leave|redistribute``. They register on
:data:`configurator.cli.main` when :mod:`configurator.cli` imports this module (its last lines).
Like every verb, a refused request or bad input is a message and exit 1, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json

import click

from configurator.cli import _actor, _fail, _fenpei_errors, _group, _pairs, _parse_now, _t, _unit
from configurator.services import changes as changes_service
from configurator.services import handovers as handovers_service
from configurator.services import teams as teams_service
from rule_engine import InputError

__all__ = ["handover_group"]

leads_group = _group("leads", "Add and manage leads.")
reps_group = _group("reps", "Manage a team's reps.")
handover_group = _group("handover", "Handover checklists: list, fill, acknowledge.")

_NOW_HELP = "The clock, ISO 8601 with offset (default: the current time)."
_ACTOR_HELP = "Who does it, for the audit trail (default: FENPEI_ACTOR or the user name)."


def _input_problems(exc: InputError, lang: str) -> str:
    return "\n".join(f"{p.path[0]}: {p.message(lang)}" if p.path else p.message(lang) for p in exc.problems)


def _date(value: str, option: str, lang: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(_t(lang, f"{option}: {value!r} is not a date (YYYY-MM-DD)", f"{option}:{value!r} 不是日期(YYYY-MM-DD)"))


# ------------------------------------------------------------------------------------------------
# Leads
# ------------------------------------------------------------------------------------------------


@leads_group.command("update")
@click.argument("lead")
@click.argument("values", nargs=-1, required=True, metavar="NAME=VALUE...")
@click.option("--expect-revision", "expected", type=int, default=None, help="Refuse if the lead is no longer at this revision (what you saw).")
@click.option("--now", "now_text", default=None, help=_NOW_HELP)
@click.option("--actor", default=None, help=_ACTOR_HELP)
@click.pass_context
@_fenpei_errors
def leads_update(ctx: click.Context, lead: str, values: tuple[str, ...], expected: int | None, now_text: str | None, actor: str | None) -> None:
    """Change fields of LEAD (NAME=VALUE; an empty VALUE clears it): graded again, triggers applied."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    raw = _pairs(values, lang)
    with _unit() as session:
        try:
            done = changes_service.update_lead(session, lead, raw, _actor(actor), now, expected_revision=expected, text=True)
        except InputError as exc:
            _fail(_input_problems(exc, lang))
    if not done.changed:
        click.echo(_t(lang, f"lead {lead}: nothing changed (revision {done.revision})", f"线索 {lead}:没有变化(版本号 {done.revision})"))
        return
    changed = ", ".join(f"{k} {a if a is not None else '-'} → {b if b is not None else '-'}" for k, (a, b) in done.changes.items())
    click.echo(_t(lang, f"lead {lead} updated (revision {done.revision}): {changed}", f"线索 {lead} 已更新(版本号 {done.revision}):{changed}"))
    if done.grades:
        grades = ", ".join(f"{k} {a} → {b}" for k, (a, b) in done.grades.items())
        click.echo(_t(lang, f"  grades: {grades}", f"  分级:{grades}"))
    for o in done.outcomes:
        if o.action == "keep":
            click.echo(_t(lang, f"  {o.trigger}: owner kept — {o.explain('en')}", f"  {o.trigger}:保留负责人 — {o.explain('zh')}"))
        elif o.action == "suggest":
            click.echo(_t(lang, f"  suggestion ({o.trigger}): {o.explain('en')}", f"  建议({o.trigger}):{o.explain('zh')}"))
    applied = done.applied
    if applied is not None:
        if applied.action == "reassign":
            click.echo(_t(lang, f"  reassigned from {applied.old_owner} to {applied.new_owner} by trigger {applied.trigger}", f"  触发器 {applied.trigger}:已从 {applied.old_owner} 改派给 {applied.new_owner}"))
        elif applied.action == "pool":
            click.echo(_t(lang, f"  returned to the pool by trigger {applied.trigger}", f"  触发器 {applied.trigger}:已退回公海"))
        else:
            click.echo(_t(lang, f"  escalated to a manager by trigger {applied.trigger}", f"  触发器 {applied.trigger}:已上报主管"))
    if done.handover_id is not None:
        click.echo(_t(lang, f"  handover {done.handover_id} opened: the previous owner fills the checklist, the new owner acknowledges it", f"  已创建交接单 {done.handover_id}:原负责人填写清单,新负责人确认"))
    if done.points:
        click.echo(_t(lang, f"  {done.points} points entries written", f"  写入 {done.points} 条积分记录"))


@leads_group.command("show")
@click.argument("lead")
@click.option("--rep", "rep_id", default=None, help="Show it as this rep sees it (contact details hidden while a handover is not acknowledged).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
@_fenpei_errors
def leads_show(ctx: click.Context, lead: str, rep_id: str | None, as_json: bool) -> None:
    """Print LEAD's fields, as a manager or as REP sees them."""
    lang = ctx.obj["lang"]
    with _unit(write=False) as session:
        view = handovers_service.lead_view(session, lead, rep_id)
    if as_json:
        click.echo(json.dumps(view.to_json(), ensure_ascii=False, sort_keys=True))
        return
    owner = view.owner or "-"
    click.echo(_t(lang, f"lead {view.id}: {view.state}, owner {owner}, revision {view.revision}", f"线索 {view.id}:{view.state},负责人 {owner},版本号 {view.revision}"))
    for name, value in view.fields.items():
        click.echo(f"  {name}: {value}")
    if view.hidden:
        click.echo(_t(lang, f"  hidden until the handover is acknowledged: {', '.join(view.hidden)}", f"  确认交接前隐藏:{', '.join(view.hidden)}"))
    if view.outputs:
        click.echo("  " + ", ".join(f"{k}={v}" for k, v in view.outputs.items()))
    if view.handover is not None:
        h = view.handover
        click.echo(_t(lang, f"  handover {h.id}: {h.status}, waiting for {h.waiting_for}", f"  交接单 {h.id}:{h.status},等待 {h.waiting_for}"))


# ------------------------------------------------------------------------------------------------
# Handovers
# ------------------------------------------------------------------------------------------------

_STATUS_ZH = {"to_fill": "待填写", "to_ack": "待确认", "done": "已完成", "cancelled": "已取消"}


@handover_group.command("list")
@click.argument("team")
@click.option("--rep", "rep_id", default=None, help="Only those this rep gives or receives.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per handover.")
@click.pass_context
@_fenpei_errors
def handover_list(ctx: click.Context, team: str, rep_id: str | None, as_json: bool) -> None:
    """List TEAM's handovers that are not done yet, oldest first."""
    lang = ctx.obj["lang"]
    with _unit(write=False) as session:
        rows = handovers_service.pending_handovers(session, teams_service.get_team(session, team), rep_id)
    if as_json:
        for h in rows:
            click.echo(json.dumps(h.to_json(), ensure_ascii=False, sort_keys=True))
        return
    if not rows:
        click.echo(_t(lang, f"{team}: no pending handovers", f"{team}:没有待处理的交接单"))
        return
    for h in rows:
        status = _t(lang, h.status, _STATUS_ZH.get(h.status, h.status))
        why = f" ({h.rule})" if h.rule else ""
        click.echo(_t(lang, f"{h.id}  lead {h.lead_id}  {h.from_rep} → {h.to_rep}  {status}, waiting for {h.waiting_for}{why}", f"{h.id}  线索 {h.lead_id}  {h.from_rep} → {h.to_rep}  {status},等待 {h.waiting_for}{why}"))
        if h.status == "to_fill":
            items = ", ".join(f"{i['name']}{'*' if i.get('required') else ''}" for i in h.items)
            click.echo(_t(lang, f"    items (* required): {items}", f"    清单项(* 为必填):{items}"))


@handover_group.command("fill")
@click.argument("handover", type=int)
@click.argument("values", nargs=-1, metavar="ITEM=VALUE...")
@click.option("--rep", "rep_id", required=True, help="The previous owner, who fills the checklist.")
@click.option("--now", "now_text", default=None, help=_NOW_HELP)
@click.pass_context
@_fenpei_errors
def handover_fill(ctx: click.Context, handover: int, values: tuple[str, ...], rep_id: str, now_text: str | None) -> None:
    """Fill the checklist of HANDOVER as REP (the previous owner)."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    raw = _pairs(values, lang)
    with _unit() as session:
        try:
            view = handovers_service.fill_handover(session, handover, rep_id, raw, now, text=True)
        except InputError as exc:
            _fail(_input_problems(exc, lang))
    if view.status == "done":
        click.echo(_t(lang, f"handover {handover} filled and complete", f"交接单 {handover} 已填写并完成"))
    else:
        click.echo(_t(lang, f"handover {handover} filled; waiting for {view.to_rep} to acknowledge it", f"交接单 {handover} 已填写,等待 {view.to_rep} 确认"))


@handover_group.command("ack")
@click.argument("handover", type=int)
@click.option("--rep", "rep_id", required=True, help="The new owner, who acknowledges the checklist.")
@click.option("--now", "now_text", default=None, help=_NOW_HELP)
@click.pass_context
@_fenpei_errors
def handover_ack(ctx: click.Context, handover: int, rep_id: str, now_text: str | None) -> None:
    """Acknowledge HANDOVER as REP (the new owner): the lead's contact details unlock."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit() as session:
        view = handovers_service.acknowledge_handover(session, handover, rep_id, now)
    click.echo(_t(lang, f"handover {handover} acknowledged; lead {view.lead_id} unlocked for {rep_id}", f"交接单 {handover} 已确认;线索 {view.lead_id} 已为 {rep_id} 解锁"))


# ------------------------------------------------------------------------------------------------
# Rep availability
# ------------------------------------------------------------------------------------------------


def _report_change(change: changes_service.RepChange, lang: str) -> None:
    moved = change.redistribution
    if moved is not None and moved.trigger is None and change.status != "active":
        click.echo(_t(lang, "  the template has no rep_unavailable trigger: the rep's leads stay with them", "  模板没有 rep_unavailable 触发器:该销售的线索保持不变"))
    if moved is not None and moved.total:
        click.echo(_t(lang, f"  {len(moved.moved)} leads redistributed, {len(moved.pooled)} to the pool, {len(moved.escalated)} escalated (trigger {moved.trigger})", f"  重新分配 {len(moved.moved)} 条线索,{len(moved.pooled)} 条退回公海,{len(moved.escalated)} 条上报主管(触发器 {moved.trigger})"))
        for lead_id, rep_id in moved.moved.items():
            handover = moved.handovers.get(lead_id)
            suffix = _t(lang, f" (handover {handover})", f"(交接单 {handover})") if handover else ""
            click.echo(f"    {lead_id} → {rep_id}{suffix}")
    if change.skipped_checklists:
        click.echo(_t(lang, f"  {change.skipped_checklists} checklists this rep had to fill now go straight to acknowledgement", f"  该销售待填写的 {change.skipped_checklists} 份交接清单改为直接由新负责人确认"))


def _status_command(name: str, status: str, help_text: str, done_en: str, done_zh: str) -> None:
    @reps_group.command(name, help=help_text)
    @click.argument("rep")
    @click.option("--reason", default=None, help="Why (kept in the audit trail).")
    @click.option("--now", "now_text", default=None, help=_NOW_HELP)
    @click.option("--actor", default=None, help=_ACTOR_HELP)
    @click.pass_context
    @_fenpei_errors
    def command(ctx: click.Context, rep: str, reason: str | None, now_text: str | None, actor: str | None) -> None:
        lang = ctx.obj["lang"]
        now = _parse_now(now_text, lang)
        with _unit() as session:
            change = changes_service.set_rep_status(session, rep, status, _actor(actor), now, reason)
        if change.changed:
            click.echo(_t(lang, f"{rep} {done_en}", f"{rep} {done_zh}"))
        else:
            click.echo(_t(lang, f"{rep} was already {status}", f"{rep} 已经是该状态({status})"))
        _report_change(change, lang)


_status_command("pause", "paused", "Pause REP's intake; REP's open leads are redistributed by the template's rules.", "paused", "已暂停接单")
_status_command("resume", "active", "Let REP receive leads again.", "active again", "已恢复接单")
_status_command("deactivate", "inactive", "Deactivate REP (left the team); REP's open leads are redistributed.", "deactivated", "已停用")


@reps_group.command("leave")
@click.argument("rep")
@click.option("--from", "start_text", required=True, help="First day of the leave (YYYY-MM-DD).")
@click.option("--to", "end_text", required=True, help="Last day of the leave (YYYY-MM-DD).")
@click.option("--reason", default=None, help="Why (kept in the audit trail).")
@click.option("--now", "now_text", default=None, help=_NOW_HELP)
@click.option("--actor", default=None, help=_ACTOR_HELP)
@click.pass_context
@_fenpei_errors
def reps_leave(ctx: click.Context, rep: str, start_text: str, end_text: str, reason: str | None, now_text: str | None, actor: str | None) -> None:
    """Record a leave for REP; if it covers today, REP's open leads are redistributed now."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    start, end = _date(start_text, "--from", lang), _date(end_text, "--to", lang)
    with _unit() as session:
        change = changes_service.add_leave(session, rep, start, end, _actor(actor), now, reason)
    click.echo(_t(lang, f"{rep}: leave recorded from {start} to {end}", f"{rep}:已登记 {start} 至 {end} 的休假"))
    if change.redistribution is None:
        click.echo(_t(lang, "  it has not started: the leads move the day it starts (periodic redistribution)", "  休假尚未开始:开始当天由定时任务重新分配线索"))
    _report_change(change, lang)


@reps_group.command("redistribute")
@click.argument("team")
@click.option("--now", "now_text", default=None, help=_NOW_HELP)
@click.option("--actor", default=None, help=_ACTOR_HELP)
@click.pass_context
@_fenpei_errors
def reps_redistribute(ctx: click.Context, team: str, now_text: str | None, actor: str | None) -> None:
    """Move the open leads of TEAM's unavailable reps (paused, deactivated, on leave today); safe to run again."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit() as session:
        result = changes_service.redistribute_unavailable(session, teams_service.get_team(session, team), now, actor=_actor(actor))
    if result.trigger is None:
        click.echo(_t(lang, f"{team}: the template has no rep_unavailable trigger; nothing to do", f"{team}:模板没有 rep_unavailable 触发器,无需处理"))
        return
    if not result.total:
        click.echo(_t(lang, f"{team}: no unavailable rep holds open leads", f"{team}:没有不在岗的销售持有未结束的线索"))
        return
    change = changes_service.RepChange("", "", "", False, redistribution=result)
    click.echo(_t(lang, f"{team}: reps away: {', '.join(f'{r} ({w})' for r, w in result.reps.items())}", f"{team}:不在岗的销售:{', '.join(f'{r}({w})' for r, w in result.reps.items())}"))
    _report_change(change, lang)
