"""A rep's workspace as a service: the rep's leads with what to do next, most urgent first, and a
weekly health report with red, yellow and green items.

Reclaim deadlines are the engine's: each lead gets :func:`rule_engine.reclaim.verdict_for` at
``now``, the function the reclaim sweep (:mod:`configurator.services.pool`) decides with, so a
lead shown as overdue here is one the next sweep takes. A follow-up is due when the last one set
a next date (the follow-up form's ``next_followup_date``, else its first date field) that has come.
Nothing is written.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from configurator.clock import stored as _aware
from configurator.models import FollowUp, Handover, Lead, Team
from configurator.services.leads import record_of
from configurator.services.roster import snapshot, utc, week_bounds
from configurator.services.templates import compiled, get_version
from rule_engine import CompiledTemplate
from rule_engine.reclaim import ReclaimVerdict, verdict_for

__all__ = ["AgendaItem", "HealthItem", "agenda", "due_field", "health_report", "lead_title", "stored_health", "week_key", "weekly_health"]

# Urgency, most urgent first.
OVERDUE, TODAY, DUE_SOON, NEW, LATER, SAFE = range(6)


@dataclass(frozen=True)
class AgendaItem:
    """One of the rep's leads and what to do next."""

    lead_id: str
    title: str
    stage: Any
    grades: dict[str, Any]
    urgency: int
    light: str  # red | yellow | green
    verdict: ReclaimVerdict
    deadline: dt.datetime | None  # the reclaim deadline that matters (in the team's timezone)
    next_followup: dt.date | None
    last_followup_at: dt.datetime | None
    locked: bool
    en: str  # what to do next
    zh: str

    def next_step(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


@dataclass(frozen=True)
class HealthItem:
    """One line of the weekly health report."""

    key: str
    light: str  # red | yellow | green
    value: str
    title_en: str
    title_zh: str
    en: str  # why this light
    zh: str

    def title(self, lang: str) -> str:
        return self.title_zh if lang.startswith("zh") else self.title_en

    def reason(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


def lead_title(template: CompiledTemplate, fields: dict[str, Any] | None, lead_id: str) -> str:
    """What to call a lead: its first text field (the company, the hospital…), else its id."""
    for name, fdef in template.fields.items():
        if fdef.type == "string" and (fields or {}).get(name):
            return str(fields[name])  # type: ignore[index]
    return lead_id


def due_field(template: CompiledTemplate) -> str | None:
    """The follow-up form's field for the next follow-up's date (None: the form asks none)."""
    form = template.forms.get("followup")
    if form is None:
        return None
    if "next_followup_date" in form.fields:
        return "next_followup_date"
    return next((n for n, f in form.fields.items() if f.type == "date"), None)


def _next_dates(session: Session, lead_ids: Sequence[str], rep_id: str, name: str | None) -> dict[str, dt.date]:
    """The next follow-up date set by the last follow-up of each lead (by this rep)."""
    if name is None or not lead_ids:
        return {}
    last = (
        select(FollowUp.lead_id, func.max(FollowUp.id).label("fid"))
        .where(FollowUp.lead_id.in_(lead_ids), FollowUp.rep_id == rep_id)
        .group_by(FollowUp.lead_id)
        .subquery()
    )
    out: dict[str, dt.date] = {}
    for lead_id, data in session.execute(select(FollowUp.lead_id, FollowUp.data).join(last, FollowUp.id == last.c.fid)):
        value = (data or {}).get(name)
        if isinstance(value, str):
            try:
                out[lead_id] = dt.date.fromisoformat(value)
            except ValueError:
                continue
    return out


def agenda(session: Session, team: Team, rep_id: str, now: dt.datetime) -> list[AgendaItem]:
    """The leads ``rep_id`` owns in ``team``, most urgent first: a passed reclaim deadline, a
    follow-up due today or before, a reminder due, a lead never followed up, then by deadline."""
    version = get_version(session, team.template_name)
    template = compiled(version)
    leads = list(session.scalars(select(Lead).where(Lead.team_id == team.id, Lead.state == "owned", Lead.owner_id == rep_id).order_by(Lead.id)))
    owner = next((r for r in snapshot(session, team, template, now) if r.id == rep_id), None) if _reads_rep(template) else None
    today = now.astimezone(template.timezone).date()
    owner_values = owner.values(today) if owner is not None else None
    nexts = _next_dates(session, [lead.id for lead in leads], rep_id, due_field(template))
    clock = template.clock(now)
    items = []
    for lead in leads:
        record = record_of(template, lead)
        try:
            L = template.values(record, now, clock)
            template.grade(L)
            verdict = verdict_for(template.reclaim, L, now, owner_values)
        except Exception:  # noqa: BLE001 - a lead the rules cannot evaluate is shown without a deadline, as the sweep skips it
            verdict = ReclaimVerdict(lead.id, rep_id, "keep")
        items.append(_item(template, lead, verdict, nexts.get(lead.id), today))
    items.sort(key=lambda i: (i.urgency, i.deadline or dt.datetime.max.replace(tzinfo=dt.timezone.utc), i.next_followup or dt.date.max, i.lead_id))
    return items


def _reads_rep(template: CompiledTemplate) -> bool:
    spec = template.reclaim
    return spec is not None and any(r.when is not None and r.when.rep_names for r in spec.rules)


def _item(template: CompiledTemplate, lead: Lead, verdict: ReclaimVerdict, due: dt.date | None, today: dt.date) -> AgendaItem:
    tz = template.timezone
    deadline = verdict.deadline.astimezone(tz) if verdict.deadline else None
    when = deadline.strftime("%Y-%m-%d %H:%M") if deadline else ""  # in the team's timezone
    rule = next((r for r in template.reclaim.rules if r.name == verdict.rule), None) if template.reclaim and verdict.rule else None
    why_en, why_zh = (f" ({rule.title.en})", f"({rule.title.zh})") if rule else ("", "")
    if lead.locked:
        urgency, light = TODAY, "yellow"
        en, zh = "Acknowledge the handover to see the contact details", "确认交接清单后即可查看联系方式"
    elif verdict.action == "reclaim":
        urgency, light = OVERDUE, "red"
        then_en = "back to the pool" if verdict.then == "pool" else "to another rep"
        then_zh = "回到公海" if verdict.then == "pool" else "改派他人"
        en, zh = f"Overdue since {when}{why_en}: follow up now or it goes {then_en} at the next sweep", f"已于 {when} 逾期{why_zh}:请立即跟进,否则下次回收时将{then_zh}"
    elif due is not None and due <= today:
        urgency, light = TODAY, "red" if due < today else "yellow"
        en, zh = (f"Follow-up planned for {due.isoformat()}", f"计划于 {due.isoformat()} 跟进") if due < today else ("Follow-up planned for today", "今天计划跟进")
    elif verdict.action == "remind":
        urgency, light = DUE_SOON, "yellow"
        en, zh = f"Follow up before {when}{why_en}", f"请在 {when} 前跟进{why_zh}"
    elif lead.followup_count == 0:
        urgency, light = NEW, "yellow"
        en, zh = (f"First follow-up, before {when}", f"首次跟进,期限 {when}") if when else ("First follow-up", "首次跟进")
    elif verdict.action == "protected":
        urgency, light = SAFE, "green"
        en, zh = "Protected: never reclaimed", "受保护,不会被回收"
    else:
        urgency, light = LATER, "green"
        if due is not None:
            en, zh = f"Next follow-up {due.isoformat()}", f"下次跟进 {due.isoformat()}"
        elif when:
            en, zh = f"Next reclaim deadline {when}", f"最近的回收期限 {when}"
        else:
            en, zh = "In good standing", "正常跟进中"
    return AgendaItem(
        lead.id, lead_title(template, lead.fields, lead.id), (lead.fields or {}).get("stage"), dict(lead.outputs or {}), urgency, light, verdict,
        deadline, due, _aware(lead.last_followup_at), bool(lead.locked), en, zh,
    )


def weekly_health(session: Session, team: Team, rep_id: str, now: dt.datetime, items: Sequence[AgendaItem] | None = None) -> list[HealthItem]:
    """This week's health of ``rep_id``'s work, each item red, yellow or green with the reason:
    leads past a deadline, leads near reclaim, follow-ups this week, first-response time, and
    handovers waiting for the rep. (``items``: the rep's :func:`agenda`, if already read.)"""
    template = compiled(get_version(session, team.template_name))
    items = list(items) if items is not None else agenda(session, team, rep_id, now)
    start, end = week_bounds(template, now)
    out: list[HealthItem] = []

    overdue = [i for i in items if i.urgency == OVERDUE or (i.next_followup is not None and i.light == "red")]
    out.append(HealthItem(
        "overdue", "red" if overdue else "green", str(len(overdue)), "Overdue leads", "逾期线索",
        f"{len(overdue)} of your leads are past a reclaim deadline or a planned follow-up: " + ", ".join(i.lead_id for i in overdue[:5]) if overdue else "nothing is overdue",
        f"有 {len(overdue)} 条线索已过回收期限或计划跟进日期:" + "、".join(i.lead_id for i in overdue[:5]) if overdue else "没有逾期线索",
    ))

    near = [i for i in items if i.verdict.action == "remind"]
    light = "green" if not near else "yellow" if len(near) < 3 else "red"
    out.append(HealthItem(
        "near_reclaim", light, str(len(near)), "Leads near reclaim", "即将被回收",
        f"{len(near)} leads reach their reclaim deadline soon" if near else "no lead is close to a reclaim deadline",
        f"{len(near)} 条线索即将到达回收期限" if near else "没有临近回收期限的线索",
    ))

    week = session.execute(
        select(func.count(), func.count(distinct(FollowUp.lead_id))).where(FollowUp.rep_id == rep_id, FollowUp.at >= start, FollowUp.at < end)
    ).one()
    total, touched = int(week[0]), int(week[1])
    mine = {i.lead_id for i in items}
    touched_mine = session.scalar(
        select(func.count(distinct(FollowUp.lead_id))).where(FollowUp.rep_id == rep_id, FollowUp.at >= start, FollowUp.at < end, FollowUp.lead_id.in_(mine))
    ) if mine else 0
    share = (touched_mine or 0) / len(mine) if mine else 1.0
    light = "green" if share >= 0.8 else "yellow" if share >= 0.5 else "red"
    out.append(HealthItem(
        "followups_week", light, str(total), "Follow-ups this week", "本周跟进",
        f"{total} follow-ups on {touched} leads this week; {touched_mine} of your {len(mine)} leads followed up ({share:.0%})",
        f"本周跟进 {total} 次,涉及 {touched} 条线索;你的 {len(mine)} 条线索中已跟进 {touched_mine} 条({share:.0%})",
    ))

    since = utc(now) - dt.timedelta(days=7)
    rows = session.execute(
        select(Lead.assigned_at, Lead.first_followup_at).where(Lead.team_id == team.id, Lead.owner_id == rep_id, Lead.state == "owned", Lead.assigned_at >= since)
    ).all()
    now_utc = utc(now)
    hours = [((_aware(first) or now_utc) - (_aware(assigned) or now_utc)).total_seconds() / 3600 for assigned, first in rows]
    waiting = sum(1 for _, first in rows if first is None)
    if not hours:
        out.append(HealthItem("first_response", "green", "—", "First response", "首次响应", "no leads assigned to you in the last 7 days", "最近 7 天没有分配给你的新线索"))
    else:
        median = statistics.median(hours)
        light = "green" if median <= 24 else "yellow" if median <= 72 else "red"
        out.append(HealthItem(
            "first_response", light, f"{median:.0f} h", "First response", "首次响应",
            f"median {median:.0f} hours from assignment to first follow-up over {len(hours)} new leads ({waiting} still waiting); aim for 24 hours",
            f"{len(hours)} 条新线索从分配到首次跟进的中位时间为 {median:.0f} 小时({waiting} 条尚未跟进);目标 24 小时内",
        ))

    open_handovers = session.scalar(
        select(func.count()).select_from(Handover).join(Lead, Lead.id == Handover.lead_id).where(
            Lead.team_id == team.id,
            or_((Handover.status == "to_fill") & (Handover.from_rep_id == rep_id), (Handover.status == "to_ack") & (Handover.to_rep_id == rep_id)),
        )
    ) or 0
    out.append(HealthItem(
        "handovers", "yellow" if open_handovers else "green", str(open_handovers), "Handovers waiting for you", "待处理的交接",
        f"{open_handovers} handover checklists wait for you to fill or acknowledge" if open_handovers else "no handover waits for you",
        f"有 {open_handovers} 份交接清单等你填写或确认" if open_handovers else "没有等你处理的交接",
    ))
    return out


def week_key(template: CompiledTemplate, now: dt.datetime) -> str:
    """The ISO week of ``now`` in the template's timezone, as reports are keyed: ``2026-W48``."""
    year, week, _ = now.astimezone(template.timezone).isocalendar()
    return f"{year}-W{week:02d}"


def stored_health(session: Session, rep_id: str, week: str) -> tuple[list[HealthItem], dt.datetime] | None:
    """The weekly health report stored for ``rep_id`` and ``week`` (the periodic job's), if any, and when it was made."""
    from configurator.models import HealthReport

    report = session.scalar(select(HealthReport).where(HealthReport.rep_id == rep_id, HealthReport.week == week))
    if report is None:
        return None
    items = []
    for raw in report.items or []:
        key = str(raw.get("item") or raw.get("key") or "")
        title = raw.get("title") if isinstance(raw.get("title"), dict) else {}
        light = str(raw.get("status") or "grey")
        items.append(HealthItem(
            key, light if light in ("red", "yellow", "green") else "grey", str(raw.get("value", "")),
            str(title.get("en") or key.replace("_", " ")), str(title.get("zh") or title.get("en") or key.replace("_", " ")),
            str(raw.get("en") or ""), str(raw.get("zh") or raw.get("en") or ""),
        ))
    generated = _aware(report.generated_at)
    assert generated is not None
    return items, generated


def health_report(session: Session, team: Team, rep_id: str, now: dt.datetime, items: Sequence[AgendaItem] | None = None) -> tuple[list[HealthItem], dt.datetime | None]:
    """This week's report for ``rep_id``: the stored one when the weekly job has made it, else
    worked out now (:func:`weekly_health`); and when the stored one was made (None: live)."""
    template = compiled(get_version(session, team.template_name))
    stored = stored_health(session, rep_id, week_key(template, now))
    if stored is not None and stored[0]:
        return stored
    return weekly_health(session, team, rep_id, now, items), None
