"""Incentive points (积分): which ledger entries an event earns.

Pure: the caller passes the event and the totals already in the ledger for the period; the engine
returns entries, each with a stable idempotency key, so an event delivered twice earns once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rule_engine._compile import Context, text
from rule_engine.conditions import Condition, Expression, format_value
from rule_engine.fields import Text
from rule_engine.roster import Rep

if TYPE_CHECKING:
    from rule_engine.template import CompiledTemplate

__all__ = ["EVENTS", "PERIODS", "Event", "PointEntry", "PointRule", "PointsSpec", "compile_points", "period_key", "score_event"]

EVENTS = (
    "lead.assigned",
    "followup.logged",
    "stage.changed",
    "lead.converted",
    "lead.reclaimed",
    "handover.completed",
    "period.ended",
)
PERIODS = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class PointRule:
    name: str
    title: Text
    on: str
    when: Condition | None
    amount: float | Expression
    cap: float | None
    once: str | None
    to: str


@dataclass(frozen=True)
class PointsSpec:
    period: str
    rules: tuple[PointRule, ...]


def compile_points(data: Mapping[str, Any] | None, ctx: Context) -> PointsSpec | None:
    """Compile the ``points`` section."""
    if not data:
        return None
    rules = []
    seen: set[str] = set()
    for i, spec in enumerate(data.get("rules", [])):
        path = ("points", "rules", i)
        if spec["name"] in seen:
            ctx.report((*path, "name"), "compile.duplicate", "point rule {n!r} is defined twice", "积分规则 {n!r} 重复定义", n=spec["name"])
            continue
        seen.add(spec["name"])
        when = ctx.condition(spec.get("when"), (*path, "when"), ctx.rep_env)
        raw = spec["amount"]
        amount: float | Expression | None
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            amount = float(raw)
        else:
            amount = ctx.expression(raw, (*path, "amount"), ctx.rep_env)
        if amount is None or (spec.get("when") is not None and when is None):
            continue
        rules.append(
            PointRule(
                spec["name"],
                text(spec.get("title"), spec["name"]),
                spec["on"],
                when,
                amount,
                None if spec.get("cap") is None else float(spec["cap"]),
                spec.get("once"),
                spec.get("to", "owner"),
            )
        )
    return PointsSpec(data.get("period", "month"), tuple(rules))


@dataclass(frozen=True)
class Event:
    """Something that happened: ``rep`` is the acting or owning rep."""

    type: str
    event_id: str
    at: dt.datetime
    rep: str | None = None
    lead: Mapping[str, Any] | None = None  # the lead's record after the event
    previous_owner: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PointEntry:
    key: str
    rep: str
    rule: str
    amount: float
    period: str
    event_id: str
    lead_id: str | None
    capped: bool = False
    reason_en: str = ""
    reason_zh: str = ""

    def reason(self, lang: str = "en") -> str:
        return self.reason_zh if lang.startswith("zh") else self.reason_en


def period_key(period: str, at: dt.datetime, tz: Any) -> str:
    """The period ``at`` falls in: ``2026-11-23``, ``2026-W48``, ``2026-11``, ``2026-Q4`` or ``2026``."""
    d = at.astimezone(tz).date()
    if period == "day":
        return d.isoformat()
    if period == "week":
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{d.year}-{d.month:02d}"
    if period == "quarter":
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
    return str(d.year)


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def score_event(
    template: CompiledTemplate,
    event: Event,
    *,
    totals: Mapping[tuple[str, str, str], float] | None = None,
    reps: Mapping[str, Rep] | None = None,
) -> list[PointEntry]:
    """The entries ``event`` earns. ``totals[(rep, rule, period)]`` is what the ledger already holds."""
    spec = template.points
    if spec is None:
        return []
    totals = totals or {}
    reps = reps or {}
    now = event.at
    period = period_key(spec.period, event.at, template.timezone)
    L: dict[str, Any] = template.values(event.lead or {}, now)
    if event.lead is not None:
        template.grade(L)
    L.update({k: v for k, v in event.data.items() if k not in L})
    lead_id = str(event.lead.get("id")) if event.lead and event.lead.get("id") is not None else None
    day = now.astimezone(template.timezone).date()
    out: list[PointEntry] = []
    for rule in spec.rules:
        if rule.on != event.type:
            continue
        target = event.previous_owner if rule.to == "previous_owner" else event.rep
        if not target:
            continue
        rep = reps.get(target)
        R = rep.values(day) if rep is not None else {"id": target}
        if rule.when is not None and not rule.when.fn(L, R):
            continue
        amount = rule.amount if isinstance(rule.amount, float) else rule.amount.fn(L, R)
        if amount is None:
            continue
        amount = float(amount)
        capped = False
        if rule.cap is not None:
            used = abs(totals.get((target, rule.name, period), 0.0))
            room = max(rule.cap - used, 0.0)
            if abs(amount) > room:
                amount = room if amount > 0 else -room
                capped = True
        if amount == 0:
            continue
        if rule.once == "per_lead" and lead_id is not None:
            key = _key(template.name, rule.name, "lead", lead_id, target)
        elif rule.once == "per_rep_period":
            key = _key(template.name, rule.name, "period", target, period)
        else:
            key = _key(template.name, rule.name, "event", event.event_id, target)
        title_en, title_zh = rule.title.en, rule.title.zh
        sign = "+" if amount > 0 else ""
        cap_en = f" (capped at {format_value(rule.cap)} per {spec.period})" if capped else ""
        cap_zh = f"(已达每{_PERIOD_ZH[spec.period]}上限 {format_value(rule.cap)})" if capped else ""
        out.append(
            PointEntry(
                key,
                target,
                rule.name,
                amount,
                period,
                event.event_id,
                lead_id,
                capped,
                f"{sign}{format_value(amount)} points: {title_en} (rule {rule.name}, {event.type}){cap_en}",
                f"{sign}{format_value(amount)} 分:{title_zh}(规则 {rule.name},{event.type}){cap_zh}",
            )
        )
    return out


_PERIOD_ZH = {"day": "日", "week": "周", "month": "月", "quarter": "季度", "year": "年"}
