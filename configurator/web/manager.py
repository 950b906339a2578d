"""The manager's dashboard: loads against the cap, open leads by grade, the pool, leads due for a
reminder or a reclaim, the leaderboard, fairness over time, response rates and conversion by
grade, as server-drawn SVG charts; a team's leads and pool; a lead's page with its audit trail
explained; handovers waiting for someone. Reassignment posts to the REST API from the page
(``POST /api/v1/assignments/reassign``, see ``static/manager.js``).

The figures are read at the app's ``FENPEI_CLOCK()`` when set (tests), else at the time now.
For managers (the teams they steer) and admins (every team). A team the caller does not steer
answers 403; a lead outside those teams answers 404, as in the API.

Pages:

- ``/manager/`` and ``/manager/teams/<team>``: the dashboard (``?by=<table>`` picks the grading
  table, ``?fair=day|week`` the fairness periods);
- ``/manager/teams/<team>/leads``: the team's leads (``?state=``, ``?owner=``, ``?after=``);
- ``/manager/teams/<team>/pool``: the team's pool, longest waiting first;
- ``/manager/leads/<lead_id>``: one lead, its follow-ups and its audit trail with explanations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import FollowUp, Lead, Rep, Team
from configurator.services import assignment as assignment_service
from configurator.services import dashboard
from configurator.services import handovers as handovers_service
from configurator.services import points as points_service
from configurator.services.accounts import Principal
from configurator.services.templates import ServiceError, compiled, get_version
from configurator.web.charts import Bar, Series, bar_chart, line_chart, traffic_light
from configurator.web.i18n import current_lang, t
from configurator.web.pages import current_principal, login_required
from rule_engine import CompiledTemplate

__all__ = ["bp"]

bp = Blueprint("manager", __name__, url_prefix="/manager")

STAFF = ("admin", "manager")
PAGE = 50
STATES = ("owned", "pool", "new", "escalated")


def _now() -> dt.datetime:
    """The pages' clock: the app's ``FENPEI_CLOCK`` (a callable, for tests) or the time now."""
    clock = current_app.config.get("FENPEI_CLOCK")
    return clock() if callable(clock) else dt.datetime.now(dt.timezone.utc)


def _who() -> Principal:
    who = current_principal()
    assert who is not None  # login_required
    return who


def _teams(db: Session, who: Principal) -> list[Team]:
    """The teams the caller steers (every team for an admin), by name."""
    query = select(Team).order_by(Team.slug)
    if not who.is_admin:
        query = query.where(Team.id.in_(who.team_ids or [-1]))
    return list(db.scalars(query))


def _team(db: Session, who: Principal, slug: str) -> Team:
    team = db.scalar(select(Team).where(Team.slug == slug))
    if team is None:
        abort(404)
    if not who.steers_team(team.id):
        abort(403)
    return team


def _when(moment: dt.datetime | None, tz: ZoneInfo) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)  # SQLite keeps UTC without an offset
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def _grade_label(value: Any) -> str:
    return t("not graded", "未分级") if value is None else str(value)


def _shown(template: CompiledTemplate, name: str, value: Any) -> str:
    """A stored field value as a reader sees it: option titles in the page language, lists joined."""
    fdef = template.fields.get(name)
    lang = current_lang()
    titles = {o.value: o.title.get(lang) for o in fdef.options} if fdef is not None else {}
    if isinstance(value, list):
        return ", ".join(titles.get(v, str(v)) for v in value)
    if isinstance(value, bool):
        return t("yes", "是") if value else t("no", "否")
    return titles.get(value, "" if value is None else str(value))


def _rep_names(db: Session, team: Team) -> dict[str, str]:
    return {rep_id: name or rep_id for rep_id, name in db.execute(select(Rep.id, Rep.name).where(Rep.team_id == team.id))}


def _reassign_targets(db: Session, team: Team, template: CompiledTemplate, now: dt.datetime) -> list[dashboard.RepLoad]:
    """Reps a lead may be given to (not deactivated), with their loads for the dialog."""
    return [r for r in dashboard.rep_loads(db, team, template, now) if r.status != "inactive"]


_LIGHT_TEXT = {
    "green": ("below 70% of the cap", "低于上限的 70%"),
    "yellow": ("70% of the cap or more", "达到上限的 70% 以上"),
    "red": ("at or over the cap", "已达到或超过上限"),
    "none": ("no cap", "无上限"),
}
_UNAVAILABLE = {"paused": ("paused", "已暂停接单"), "on_leave": ("on leave", "休假中"), "inactive": ("deactivated", "已停用")}
_STATE_TEXT = {"owned": ("owned", "已分配"), "pool": ("in the pool", "公海"), "new": ("waiting for assignment", "待分配"), "escalated": ("waiting for a manager", "待经理处理")}
_HANDOVER_TEXT = {"to_fill": ("previous owner to fill", "待原负责人填写"), "to_ack": ("new owner to acknowledge", "待新负责人确认")}


def _text(pair: tuple[str, str] | None, fallback: str = "") -> str:
    return t(*pair) if pair else fallback


# ------------------------------------------------------------------------------------------------
# The dashboard
# ------------------------------------------------------------------------------------------------


@bp.get("/", defaults={"team": None}, endpoint="dashboard")
@bp.get("/teams/<team>", endpoint="dashboard")
@login_required(*STAFF)
def dashboard_page(team: str | None) -> ResponseReturnValue:
    who = _who()
    now = _now()
    lang = current_lang()
    with session_scope(workspace_of().sessions) as db:
        teams = _teams(db, who)
        slug = team or request.args.get("team") or (teams[0].slug if teams else None)
        if slug is None:
            return render_template("fenpei/manager/no_team.html")
        row = _team(db, who, slug)
        template = compiled(get_version(db, row.template_name))
        names = _rep_names(db, row)
        unit = "day" if request.args.get("fair") == "day" else "week"
        table = dashboard.grade_table(template, request.args.get("by"))

        loads = dashboard.rep_loads(db, row, template, now)
        grades = dashboard.open_by_grade(db, row, template, table) if table else []
        pool = dashboard.pool_summary(db, row)
        due = dashboard.due_soon(db, row, now, days=7)
        fairness = dashboard.fairness_over_time(db, row, template, now, unit, 14 if unit == "day" else 8)
        rates, team_rates = dashboard.response_rates(db, row, now)
        conversion = dashboard.conversion_by_grade(db, row, template, table, now) if table else None
        try:
            period, standings = points_service.leaderboard(db, row, now=now)
        except ServiceError:
            period, standings = None, []
        handovers = handovers_service.pending_handovers(db, row)
        owners = {lead_id: owner for lead_id, owner in db.execute(select(Lead.id, Lead.owner_id).where(Lead.id.in_([d.lead_id for d in due] or ["-"])))}
        targets = _reassign_targets(db, row, template, now)
        tz = template.timezone
        charts = _charts(template, table, loads, grades, due, fairness, rates, team_rates, conversion, standings, names)
        return render_template(
            "fenpei/manager/dashboard.html",
            teams=teams,
            team=row,
            template=template,
            lang=lang,
            names=names,
            loads=loads,
            light=_load_light,
            grade_tables=dashboard.grade_tables(template),
            table=table,
            table_title=_table_title(template, table),
            grades=grades,
            pool=pool,
            pool_since=_when(pool.oldest_since, tz),
            due=due,
            due_when=lambda d: _when(d.deadline, tz),
            rule_titles={r.name: r.title.get(lang) for r in (template.reclaim.rules if template.reclaim else ())},
            owners=owners,
            unit=unit,
            fairness=fairness,
            rates=rates,
            team_rates=team_rates,
            percent=_percent,
            conversion=conversion,
            period=period,
            standings=standings,
            handovers=handovers,
            handover_text=lambda status: _text(_HANDOVER_TEXT.get(status), status),
            handover_when=lambda h: _when(h.created_at, tz),
            grade_label=_grade_label,
            targets=targets,
            charts=charts,
            unavailable=lambda code: _text(_UNAVAILABLE.get(code or ""), code or ""),
        )


def _table_title(template: CompiledTemplate, table: str | None) -> str:
    found = next((s for s in template.segments if s.name == table), None)
    return found.title.get(current_lang()) if found is not None else (table or "")


def _load_light(r: dashboard.RepLoad) -> Markup:
    words = _text(_LIGHT_TEXT.get(r.light))
    if r.unavailable:
        words += " · " + _text(_UNAVAILABLE.get(r.unavailable), r.unavailable)
    return traffic_light(r.light, words)


def _charts(
    template: CompiledTemplate,
    table: str | None,
    loads: Sequence[dashboard.RepLoad],
    grades: Sequence[dashboard.GradeCount],
    due: Sequence[dashboard.DueLead],
    fairness: Sequence[dashboard.FairnessPeriod],
    rates: Sequence[dashboard.RepRates],
    team_rates: dashboard.RepRates,
    conversion: Sequence[dashboard.Conversion] | None,
    standings: Sequence[points_service.Standing],
    names: dict[str, str],
) -> dict[str, Markup]:
    """Every chart of the dashboard, with its title and text alternative in the page language."""
    out: dict[str, Markup] = {}
    cap_note = t("cap", "上限")
    out["loads"] = bar_chart(
        "chart-loads",
        t("Load index against the cap", "负荷指数与上限"),
        [
            Bar(f"{names.get(r.rep_id, r.rep_id)}", r.load, f"{r.load:g} / {r.cap:g}" if r.cap is not None else f"{r.load:g}", "grey" if r.unavailable else r.light)
            for r in loads
        ],
        desc="; ".join(
            f"{names.get(r.rep_id, r.rep_id)}: {r.load:g}" + (f" {cap_note} {r.cap:g}" if r.cap is not None else "") + f", {_text(_LIGHT_TEXT.get(r.light))}"
            + (f", {_text(_UNAVAILABLE.get(r.unavailable or ''), r.unavailable or '')}" if r.unavailable else "")
            for r in loads
        ) or t("No reps.", "没有销售。"),
        max_value=max([r.cap or 0 for r in loads] + [0]) or None,
        test="loads-chart",
    )
    if table:
        out["grades"] = bar_chart(
            "chart-grades",
            t("Open leads by grade", "按等级的未结线索") + f" ({_table_title(template, table)})",
            [Bar(_grade_label(g.grade), g.total) for g in grades],
            test="grades-chart",
        )
    days = [sum(1 for d in due if d.day == day and d.kind == "reclaim") for day in range(8)]
    reminders = [sum(1 for d in due if d.day == day and d.kind == "remind") for day in range(8)]
    labels = [t("now", "现在")] + [f"+{day}{t('d', '天')}" for day in range(1, 8)]
    out["due"] = line_chart(
        "chart-due",
        t("Reclaims and reminders in the next 7 days", "未来 7 天的回收与提醒"),
        labels,
        [Series(t("reclaims", "回收"), days, "red"), Series(t("reminders", "提醒"), reminders, "yellow")],
        test="due-chart",
        fmt="{:g}",
    )
    out["fairness"] = line_chart(
        "chart-fairness",
        t("Fairness over time: spread and Gini of leads given per rep", "分配公平性趋势:每人分得线索数的极差与基尼系数"),
        [p.label[5:] for p in fairness],
        [Series(t("spread (max − min)", "极差(最多 − 最少)"), [p.spread for p in fairness], "blue")],
        test="fairness-spread-chart",
    )
    out["gini"] = line_chart(
        "chart-gini",
        t("Gini coefficient per period (0 = even)", "各周期基尼系数(0 为完全平均)"),
        [p.label[5:] for p in fairness],
        [Series(t("Gini", "基尼系数"), [p.gini for p in fairness], "brand")],
        max_value=1.0,
        test="fairness-gini-chart",
        fmt="{:.2f}",
    )
    rate_bars = []
    for r in [*rates, team_rates]:
        label = t("whole team", "全队") if r.rep_id == "*" else names.get(r.rep_id, r.rep_id)
        rate_bars.append((label, r))
    out["first_response"] = bar_chart(
        "chart-first-response",
        t("First-response rate (open leads with a first follow-up)", "首次响应率(已首次跟进的未结线索占比)"),
        [Bar(label, round((r.first_response_rate or 0) * 100, 1), f"{_percent(r.first_response_rate)} ({r.responded}/{r.owned})", "blue") for label, r in rate_bars],
        max_value=100,
        test="first-response-chart",
    )
    out["followup"] = bar_chart(
        "chart-followup",
        t("Follow-up rate (open leads followed up in the last 7 days)", "跟进率(近 7 天有跟进的未结线索占比)"),
        [Bar(label, round((r.followup_rate or 0) * 100, 1), f"{_percent(r.followup_rate)} ({r.followed_up}/{r.owned})", "green") for label, r in rate_bars],
        max_value=100,
        test="followup-chart",
    )
    if conversion is not None:
        out["conversion"] = bar_chart(
            "chart-conversion",
            t("Conversion by grade (won / leads)", "按等级的转化率(赢单 / 线索)"),
            [Bar(_grade_label(c.grade), round((c.rate or 0) * 100, 1), f"{_percent(c.rate)} ({c.won}/{c.leads})", "brand") for c in conversion],
            max_value=100,
            test="conversion-chart",
        )
    if standings:
        out["leaderboard"] = bar_chart(
            "chart-leaderboard",
            t("Points this period", "本期积分"),
            [Bar(f"{s.rank}. {s.name}", float(s.points), f"{float(s.points):g}", "brand") for s in standings[:10]],
            test="leaderboard-chart",
        )
    return out


# ------------------------------------------------------------------------------------------------
# Lists
# ------------------------------------------------------------------------------------------------


@bp.get("/teams/<team>/leads")
@login_required(*STAFF)
def leads(team: str) -> ResponseReturnValue:
    who = _who()
    now = _now()
    state = request.args.get("state") or ""
    owner = request.args.get("owner") or ""
    after = request.args.get("after") or ""
    with session_scope(workspace_of().sessions) as db:
        row = _team(db, who, team)
        template = compiled(get_version(db, row.template_name))
        query = select(Lead).where(Lead.team_id == row.id)
        if state in STATES:
            query = query.where(Lead.state == state)
        if owner:
            query = query.where(Lead.owner_id == owner)
        if after:
            query = query.where(Lead.id > after)
        found = list(db.scalars(query.order_by(Lead.id).limit(PAGE + 1)))
        more = len(found) > PAGE
        found = found[:PAGE]
        table = dashboard.grade_table(template)
        return render_template(
            "fenpei/manager/leads.html",
            team=row,
            template=template,
            leads=found,
            state=state,
            owner=owner,
            states=STATES,
            state_text=lambda s: _text(_STATE_TEXT.get(s), s),
            names=_rep_names(db, row),
            table=table,
            company=_title_field(template),
            shown=lambda name, value: _shown(template, name, value),
            next_after=found[-1].id if more and found else None,
            targets=_reassign_targets(db, row, template, now),
            when=lambda m: _when(m, template.timezone),
        )


def _title_field(template: CompiledTemplate) -> str | None:
    """The field that names a lead best: the first required string field (company, name, …)."""
    for name, fdef in template.fields.items():
        if fdef.type == "string" and fdef.required:
            return name
    return None


@bp.get("/teams/<team>/pool")
@login_required(*STAFF)
def pool(team: str) -> ResponseReturnValue:
    who = _who()
    now = _now()
    with session_scope(workspace_of().sessions) as db:
        row = _team(db, who, team)
        template = compiled(get_version(db, row.template_name))
        since = func.coalesce(Lead.reclaimed_at, Lead.created_at)
        found = list(db.scalars(select(Lead).where(Lead.team_id == row.id, Lead.state == "pool").order_by(since, Lead.id).limit(200)))
        summary = dashboard.pool_summary(db, row)
        return render_template(
            "fenpei/manager/pool.html",
            team=row,
            template=template,
            leads=found,
            summary=summary,
            names=_rep_names(db, row),
            table=dashboard.grade_table(template),
            company=_title_field(template),
            shown=lambda name, value: _shown(template, name, value),
            targets=_reassign_targets(db, row, template, now),
            when=lambda m: _when(m, template.timezone),
        )


# ------------------------------------------------------------------------------------------------
# One lead
# ------------------------------------------------------------------------------------------------


@bp.get("/leads/<lead_id>")
@login_required(*STAFF)
def lead(lead_id: str) -> ResponseReturnValue:
    who = _who()
    now = _now()
    lang = current_lang()
    with session_scope(workspace_of().sessions) as db:
        found = db.get(Lead, lead_id)
        if found is None or not who.steers_team(found.team_id):
            abort(404)  # as in the API: a lead the caller may not see does not exist for them
        row = db.get(Team, found.team_id)
        assert row is not None  # a foreign key
        template = compiled(get_version(db, row.template_name))
        view = handovers_service.lead_view(db, lead_id)
        trail = assignment_service.explain_lead(db, lead_id, lang)
        followups = list(db.scalars(select(FollowUp).where(FollowUp.lead_id == lead_id).order_by(FollowUp.at.desc(), FollowUp.id.desc()).limit(50)))
        fields = [(fdef.title.get(lang), _shown(template, name, view.fields[name])) for name, fdef in template.fields.items() if name in view.fields]
        outputs = [(s.title.get(lang), view.outputs.get(s.name)) for s in template.segments if s.name in view.outputs]
        followup_form = template.forms.get("followup")
        followup_titles = {name: fdef.title.get(lang) for name, fdef in (followup_form.fields.items() if followup_form is not None else ())}
        return render_template(
            "fenpei/manager/lead.html",
            team=row,
            lead=found,
            view=view,
            fields=fields,
            outputs=outputs,
            trail=trail,
            followups=followups,
            followup_titles=followup_titles,
            names=_rep_names(db, row),
            state_text=lambda s: _text(_STATE_TEXT.get(s), s),
            handover_text=lambda status: _text(_HANDOVER_TEXT.get(status), status),
            when=lambda m: _when(m, template.timezone),
            targets=_reassign_targets(db, row, template, now),
            title_field=_title_field(template),
            back=url_for("manager.dashboard", team=row.slug),
        )
