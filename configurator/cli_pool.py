"""The ``fenpei`` verbs for the public pool (公海) and the points ledger (积分).

``fenpei followup``, ``fenpei reclaim [--dry-run]``, ``fenpei pool list|claim|release`` and
``fenpei points leaderboard|ledger|reverse|close``. They register themselves on
:data:`configurator.cli.main` when :mod:`configurator.cli` imports this module. Like every verb,
a refused request or bad input is a message and exit status 1, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import click

from configurator.cli import _actor, _fail, _fenpei_errors, _group, _pairs, _parse_now, _t, _unit, _workspace, main
from configurator.clock import stored as _aware
from configurator.models import Team
from configurator.services import points as points_service
from configurator.services import pool as pool_service
from configurator.services import teams as teams_service
from configurator.services import templates as templates_service
from rule_engine import InputError

__all__: list[str] = []

pool_group = _group("pool", "The public pool (公海): list, claim, give back.")
points_group = _group("points", "The points ledger (积分): leaderboard, entries, reversals, period close.")

_NOW = click.option("--now", "now_text", default=None, help="The clock, ISO 8601 with offset (default: the current time).")


@main.command("followup")
@click.argument("lead")
@click.option("--rep", required=True, help="The rep logging it (the lead's owner).")
@click.option("--field", "field_values", multiple=True, metavar="NAME=VALUE", help="A value of the template's follow-up form; repeat for each field.")
@click.option("--at", "at_text", default=None, help="When the follow-up happened, ISO 8601 with offset (default: now).")
@_NOW
@click.pass_context
@_fenpei_errors
def followup_cmd(ctx: click.Context, lead: str, rep: str, field_values: tuple[str, ...], at_text: str | None, now_text: str | None) -> None:
    """Log a follow-up on LEAD by its owner; refused if the lead was reclaimed meanwhile."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    at = _parse_now(at_text, lang) if at_text else None
    raw = _pairs(field_values, lang, "--field")
    with _unit() as session:
        try:
            done = pool_service.log_followup(session, lead, rep, raw, now, at=at, text=True)
        except InputError as exc:
            _fail("\n".join(f"{p.path[0]}: {p.message(lang)}" if p.path else p.message(lang) for p in exc.problems))
        when = done.at.isoformat(timespec="minutes")
    click.echo(_t(lang, f"follow-up on {lead} by {rep} recorded ({when} UTC)", f"已记录 {rep} 对线索 {lead} 的跟进({when} UTC)"))


@main.command("reclaim")
@click.argument("team")
@click.option("--dry-run", is_flag=True, help="Show what the sweep would remind and reclaim; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--actor", default=None, help="Who runs it, for the audit trail (default: FENPEI_ACTOR or the user name).")
@_NOW
@click.pass_context
@_fenpei_errors
def reclaim_cmd(ctx: click.Context, team: str, dry_run: bool, as_json: bool, actor: str | None, now_text: str | None) -> None:
    """Run TEAM's reclaim sweep: remind before deadlines, reclaim what is due, re-offer it."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    ws = _workspace()
    ws.require_schema()
    shown = {"n": 0}

    def progress(part: pool_service.SweepResult) -> None:
        if not as_json and sys.stderr.isatty():
            shown["n"] = part.scanned
            click.echo(_t(lang, f"\r{part.scanned} leads checked", f"\r已检查 {part.scanned} 条线索"), nl=False, err=True)

    result = pool_service.run_sweep(ws.sessions, team, now, dry_run=dry_run, actor=_actor(actor), progress=progress)
    if shown["n"]:
        click.echo("", err=True)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2, default=str))
        return
    key = "zh" if lang == "zh" else "en"
    head = _t(lang, "would be " if dry_run else "", "将" if dry_run else "")
    click.echo(
        _t(
            lang,
            f"{team}: {len(result.reclaimed)} {head}reclaimed ({len(result.pooled)} to the pool, {len(result.reassigned)} reassigned), {len(result.reminded)} {head}reminded",
            f"{team}:{head}回收 {len(result.reclaimed)} 条(回公海 {len(result.pooled)} 条,改派 {len(result.reassigned)} 条),{head}提醒 {len(result.reminded)} 条",
        )
    )
    for item in result.reclaimed:
        to = result.reassigned.get(item["lead"])
        tail = _t(lang, f" → {to}", f" → {to}") if to else ""
        click.echo(f"  {item['lead']:<14} {item['owner'] or '':<10} {item[key]}{tail}")
    for item in result.reminded:
        click.echo(f"  {item['lead']:<14} {item['owner'] or '':<10} {item[key]}")
    for item in result.errors:
        click.echo(f"  {item['lead']:<14} {item['owner'] or '':<10} {item[key]}")
    if not dry_run and (result.notifications or result.points):
        click.echo(_t(lang, f"{result.notifications} notifications, {result.points} points entries", f"通知 {result.notifications} 条,积分记录 {result.points} 条"))


@pool_group.command("list")
@click.argument("team")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.pass_context
@_fenpei_errors
def pool_list(ctx: click.Context, team: str, limit: int) -> None:
    """List TEAM's pool, most recently reclaimed first."""
    lang = ctx.obj["lang"]
    with _unit(write=False) as session:
        rows = [(lead.id, lead.previous_owner_id, lead.reclaimed_at, lead.outputs) for lead in pool_service.pool_leads(session, teams_service.get_team(session, team), limit=limit)]
    if not rows:
        click.echo(_t(lang, f"{team}: the pool is empty", f"{team}:公海为空"))
    for lead_id, previous, reclaimed_at, outputs in rows:
        grades = ", ".join(f"{k}={v}" for k, v in (outputs or {}).items() if not isinstance(v, list))
        when = reclaimed_at.isoformat(timespec="minutes") if reclaimed_at else "-"
        click.echo(f"{lead_id:<14} {previous or '-':<10} {when:<17} {grades}")


@pool_group.command("claim")
@click.argument("lead")
@click.option("--rep", required=True, help="The rep claiming it.")
@_NOW
@click.pass_context
@_fenpei_errors
def pool_claim(ctx: click.Context, lead: str, rep: str, now_text: str | None) -> None:
    """REP claims LEAD from the pool (daily limit, maximum held, cooldown, cap and eligibility apply)."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit() as session:
        pool_service.claim(session, lead, rep, now)
    click.echo(_t(lang, f"{rep} claimed {lead} from the pool", f"{rep} 已从公海领取线索 {lead}"))


@pool_group.command("release")
@click.argument("lead")
@click.option("--rep", required=True, help="The lead's owner.")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@_NOW
@click.pass_context
@_fenpei_errors
def pool_release(ctx: click.Context, lead: str, rep: str, reason: str, now_text: str | None) -> None:
    """The owner gives LEAD back to the pool, with a reason."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit() as session:
        pool_service.release(session, lead, rep, reason, now)
    click.echo(_t(lang, f"{lead} is back in the pool", f"线索 {lead} 已退回公海"))


@points_group.command("leaderboard")
@click.argument("team")
@click.option("--period", default=None, help="e.g. 2026-11, 2026-W48, 2026-Q4 (default: the current period of the template).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_NOW
@click.pass_context
@_fenpei_errors
def points_leaderboard(ctx: click.Context, team: str, period: str | None, as_json: bool, now_text: str | None) -> None:
    """TEAM's reps ranked by points in a period."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit(write=False) as session:
        shown, board = points_service.leaderboard(session, teams_service.get_team(session, team), period, now)
    if as_json:
        click.echo(json.dumps({"team": team, "period": shown, "standings": [s.to_json() for s in board]}, ensure_ascii=False, indent=2))
        return
    click.echo(_t(lang, f"{team} · {shown}", f"{team} · {shown}"))
    for s in board:
        click.echo(f"{s.rank:>3}. {s.rep_id:<10} {s.name:<12} {s.points:>10}")


@points_group.command("ledger")
@click.argument("team")
@click.option("--rep", default=None)
@click.option("--period", default=None)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.pass_context
@_fenpei_errors
def points_ledger(ctx: click.Context, team: str, rep: str | None, period: str | None, limit: int) -> None:
    """TEAM's ledger entries, newest first."""
    with _unit(write=False) as session:
        rows: list[Any] = [
            (e.id, e.period, e.rep_id, e.amount, e.rule, e.lead_id, e.reason)
            for e in points_service.ledger_rows(session, teams_service.get_team(session, team), rep_id=rep, period=period, limit=limit)
        ]
    for entry_id, shown, rep_id, amount, rule, lead_id, reason in rows:
        click.echo(f"{entry_id:>6} {shown:<9} {rep_id:<10} {amount:>8} {rule:<16} {lead_id or '-':<12} {reason}")


@points_group.command("reverse")
@click.argument("entry", type=int)
@click.option("--reason", required=True, help="Why (kept in the ledger and the audit trail).")
@click.option("--actor", default=None, help="Who decides (default: FENPEI_ACTOR or the user name).")
@_NOW
@click.pass_context
@_fenpei_errors
def points_reverse(ctx: click.Context, entry: int, reason: str, actor: str | None, now_text: str | None) -> None:
    """Append the reversal of ledger ENTRY (entries are never edited)."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit() as session:
        reversal = points_service.reverse(session, entry, reason, _actor(actor), now)
        new_id, amount = reversal.id, reversal.amount
    click.echo(_t(lang, f"entry {entry} reversed by entry {new_id} ({amount:+})", f"记录 {entry} 已由记录 {new_id} 冲销({amount:+})"))


@points_group.command("close")
@click.argument("team")
@click.option("--period", required=True, help="The period that ended, e.g. 2026-11.")
@_NOW
@click.pass_context
@_fenpei_errors
def points_close(ctx: click.Context, team: str, period: str, now_text: str | None) -> None:
    """Score the period-end rules for TEAM's PERIOD (safe to run again: nothing is awarded twice)."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit() as session:
        n = points_service.close_period(session, teams_service.get_team(session, team), period, now)
    click.echo(_t(lang, f"{team} {period}: {n} period-end entries written", f"{team} {period}:写入 {n} 条周期结算积分"))


@main.command("notifications")
@click.argument("recipient")
@click.option("--unread", is_flag=True, help="Only those not read yet.")
@click.option("--mark-read", is_flag=True, help="Mark the ones shown as read.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@_NOW
@click.pass_context
@_fenpei_errors
def notifications_cmd(ctx: click.Context, recipient: str, unread: bool, mark_read: bool, limit: int, now_text: str | None) -> None:
    """RECIPIENT's reminders and reclaim notices (a rep id, or a manager as named on the reps), newest first."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    with _unit(write=mark_read) as session:
        rows = pool_service.inbox(session, recipient, unread_only=unread, limit=limit, mark_read=now if mark_read else None)
        zones: dict[int, Any] = {}
        for team_id in {n.team_id for n in rows}:  # times in each team's timezone
            team = session.get(Team, team_id)
            version = templates_service.current_version(session, team.template_name) if team is not None else None
            zones[team_id] = templates_service.compiled(version).timezone if version is not None else dt.timezone.utc
        notes = [
            (_aware(n.at).astimezone(zones[n.team_id]), n.kind, n.read_at is None, n.message_zh if lang == "zh" else n.message_en)
            for n in rows
        ]
    if not notes:
        click.echo(_t(lang, f"no notifications for {recipient}", f"{recipient} 没有通知"))
    kinds = {"remind": ("reminder", "提醒"), "reclaim": ("reclaimed", "已回收")}
    for at, kind, new, message in notes:
        label = _t(lang, *kinds.get(kind, (kind, kind)))
        click.echo(f"{'*' if new else ' '} {at.isoformat(timespec='minutes')} {label}: {message}")
