"""Triggers: what a change means for the current owner.

Pure: given the lead before and after a change (or a rep becoming unavailable), the roster and
the rotation state, return outcomes (keep, reassign with a handover, suggest, pool) and the new
state. Reassignment reuses :func:`rule_engine.assignment.assign` with the old owner excluded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rule_engine._compile import Context, text
from rule_engine.assignment import assign, owner_eligible
from rule_engine.conditions import NOW_KEY, Condition, format_value
from rule_engine.fields import Text
from rule_engine.roster import Rep, RotationState
from rule_engine.trace import Decision

if TYPE_CHECKING:
    from rule_engine.template import CompiledTemplate

__all__ = ["Trigger", "TriggerOutcome", "compile_triggers", "on_lead_change", "on_rep_over_cap", "on_rep_unavailable"]

LEAD_EVENTS = ("grade_changed", "stage_changed")
LEAD_ACTIONS = ("reassign_if_ineligible", "reassign", "suggest")
REP_ACTIONS = {"rep_unavailable": ("redistribute", "pool"), "rep_over_cap": ("pause_intake",)}


@dataclass(frozen=True)
class Trigger:
    name: str
    on: str
    table: str | None
    when: Condition | None
    action: str
    policy: str | None
    handover: bool
    message: Text | None


def compile_triggers(data: Sequence[Mapping[str, Any]] | None, ctx: Context) -> tuple[Trigger, ...]:
    """Compile the ``triggers`` section."""
    out = []
    seen: set[str] = set()
    for i, spec in enumerate(data or []):
        path = ("triggers", i)
        name, on, action = spec["name"], spec["on"], spec["action"]
        if name in seen:
            ctx.report((*path, "name"), "compile.duplicate", "trigger {n!r} is defined twice", "触发器 {n!r} 重复定义", n=name)
            continue
        seen.add(name)
        allowed = LEAD_ACTIONS if on in LEAD_EVENTS else REP_ACTIONS[on]
        if action not in allowed:
            ctx.report((*path, "action"), "compile.trigger", "action {a!r} does not fit event {on!r} (use: {ok})", "动作 {a!r} 不适用于事件 {on!r}(可用:{ok})", a=action, on=on, ok=", ".join(allowed))
            continue
        table = spec.get("table")
        if on == "grade_changed":
            if table is None:
                ctx.report(path, "compile.trigger", "grade_changed needs 'table': which table's output to watch", "grade_changed 需要 'table':要监视哪个分级表的输出")
                continue
            if not ctx.reference(table, ctx.table_names, (*path, "table"), "table", "分级表"):
                continue
        elif table is not None:
            ctx.report((*path, "table"), "compile.trigger", "'table' only goes with grade_changed", "'table' 只用于 grade_changed")
        if on == "stage_changed" and "stage" not in ctx.lead_env.lead:
            ctx.report(path, "compile.trigger", "stage_changed needs a lead field named 'stage'", "stage_changed 需要一个名为 'stage' 的线索字段")
            continue
        policy = spec.get("policy")
        if policy is not None and not ctx.reference(policy, ctx.policy_names, (*path, "policy"), "policy", "分配策略"):
            continue
        when = ctx.condition(spec.get("when"), (*path, "when"))
        if spec.get("when") is not None and when is None:
            continue
        message = text(spec["message"]) if spec.get("message") is not None else None
        out.append(Trigger(name, on, table, when, action, policy, bool(spec.get("handover", True)), message))
    return tuple(out)


@dataclass(frozen=True)
class TriggerOutcome:
    """What one trigger decided for one lead."""

    trigger: str
    lead_id: str
    action: str  # "keep" | "reassign" | "suggest" | "pool" | "escalated" | "pause_intake"
    old_owner: str | None
    new_owner: str | None = None
    handover: bool = False
    decision: Decision | None = None
    reason_en: str = ""
    reason_zh: str = ""
    message: Text | None = None

    def explain(self, lang: str = "en") -> str:
        text_ = self.reason_zh if lang.startswith("zh") else self.reason_en
        if self.message is not None:
            text_ += (":" if lang.startswith("zh") else ": ") + self.message.get(lang)
        return text_


def _graded(template: CompiledTemplate, record: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    L = template.values(record, now)
    template.grade(L)
    return L


def _reassign(
    template: CompiledTemplate,
    trigger: Trigger,
    record: Mapping[str, Any],
    roster: Sequence[Rep],
    state: RotationState,
    now: dt.datetime,
    exclude: frozenset[str],
) -> tuple[Decision, RotationState, tuple[Rep, ...]]:
    result = assign(template, [record], roster, state, now, explain=True, exclude=exclude, policy=trigger.policy)
    return result.decisions[0], result.state, result.roster


def on_lead_change(
    template: CompiledTemplate,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    owner: Rep | None,
    roster: Sequence[Rep],
    state: RotationState | None,
    now: dt.datetime,
) -> tuple[list[TriggerOutcome], RotationState]:
    """Outcomes of the lead triggers for a change from ``before`` to ``after`` (records)."""
    state = state or RotationState()
    old, new = _graded(template, before, now), _graded(template, after, now)
    lead_id = str(after.get("id", ""))
    owner_id = owner.id if owner else after.get("owner")
    outcomes: list[TriggerOutcome] = []
    for trig in template.triggers:
        if trig.on not in LEAD_EVENTS:
            continue
        key = trig.table if trig.on == "grade_changed" else "stage"
        assert key is not None
        if old.get(key) == new.get(key):
            continue
        if trig.when is not None and not trig.when.fn(new, None):
            continue
        change_en = f"{key} changed from {format_value(old.get(key))} to {format_value(new.get(key))}"
        change_zh = f"{key} 由 {format_value(old.get(key))} 变为 {format_value(new.get(key))}"
        if trig.action == "reassign_if_ineligible" and owner is not None:
            policy = _policy_for(template, trig, new)
            if policy is None:
                outcomes.append(TriggerOutcome(trig.name, lead_id, "keep", owner_id, owner_id, reason_en=f"{change_en}; no policy handles the lead now, owner kept", reason_zh=f"{change_zh};没有分配策略适用,保留现负责人"))
                continue
            ok, failed = owner_eligible(template, policy, new, owner, now)
            if ok:
                outcomes.append(TriggerOutcome(trig.name, lead_id, "keep", owner_id, owner_id, reason_en=f"{change_en}; {owner.display} still qualifies for policy {policy.name}", reason_zh=f"{change_zh};{owner.display} 仍符合策略 {policy.name},保留"))
                continue
            reason_en = f"{change_en}; {owner.display} no longer qualifies for policy {policy.name} ({failed})"
            reason_zh = f"{change_zh};{owner.display} 不再符合策略 {policy.name}({failed})"
        else:
            reason_en, reason_zh = change_en, change_zh
        exclude = frozenset({owner_id}) if owner_id else frozenset()
        decision, new_state, _ = _reassign(template, trig, after, roster, state, now, exclude)
        if trig.action == "suggest":
            if decision.owner is not None:
                outcomes.append(TriggerOutcome(trig.name, lead_id, "suggest", owner_id, decision.owner, trig.handover, decision, f"{reason_en}; suggest handing over to {_name(roster, decision.owner)}", f"{reason_zh};建议转交给 {_name(roster, decision.owner)}", trig.message))
            continue
        state = new_state
        action = {"assigned": "reassign", "pool": "pool", "escalated": "escalated"}.get(decision.outcome, decision.outcome)
        outcomes.append(TriggerOutcome(trig.name, lead_id, action, owner_id, decision.owner, trig.handover and decision.owner is not None and owner_id is not None, decision, reason_en, reason_zh, trig.message))
    return outcomes, state


def _policy_for(template: CompiledTemplate, trig: Trigger, L: Mapping[str, Any]) -> Any:
    if trig.policy is not None:
        return template.assignment.policy(trig.policy)
    for p in template.assignment.policies:
        if p.when is None or p.when.fn(L, None):
            return p
    return None


def _name(roster: Sequence[Rep], rep_id: str) -> str:
    return next((r.display for r in roster if r.id == rep_id), rep_id)


def on_rep_unavailable(
    template: CompiledTemplate,
    rep: Rep,
    leads: Sequence[Mapping[str, Any]],
    roster: Sequence[Rep],
    state: RotationState | None,
    now: dt.datetime,
) -> tuple[list[TriggerOutcome], RotationState]:
    """Redistribute (or pool) the open leads of a rep who went on leave, was paused or deactivated."""
    state = state or RotationState()
    trig = next((t for t in template.triggers if t.on == "rep_unavailable"), None)
    if trig is None:
        return [], state
    if trig.action == "pool":
        return [
            TriggerOutcome(trig.name, str(r.get("id")), "pool", rep.id, None, False, None, f"{rep.display} is unavailable; lead returned to the pool", f"{rep.display} 暂不可用,线索回到公海", trig.message)
            for r in leads
        ], state
    others = [r for r in roster if r.id != rep.id]
    result = assign(template, leads, others, state, now, explain=True, exclude=frozenset({rep.id}), policy=trig.policy)
    outcomes = []
    for d in result.decisions:
        action = {"assigned": "reassign", "pool": "pool", "escalated": "escalated"}.get(d.outcome, d.outcome)
        to_en = f"reassigned to {_name(roster, d.owner)}" if d.owner else ("returned to the pool" if d.outcome == "pool" else d.outcome)
        to_zh = f"改派给 {_name(roster, d.owner)}" if d.owner else ("回到公海" if d.outcome == "pool" else d.outcome)
        outcomes.append(TriggerOutcome(trig.name, d.lead_id, action, rep.id, d.owner, trig.handover and d.owner is not None, d, f"{rep.display} is unavailable; {to_en}", f"{rep.display} 暂不可用,{to_zh}", trig.message))
    return outcomes, result.state


def on_rep_over_cap(template: CompiledTemplate, rep: Rep, now: dt.datetime) -> list[TriggerOutcome]:
    """Pause intake for a rep whose load passed the cap (informational: assignment already skips them)."""
    trig = next((t for t in template.triggers if t.on == "rep_over_cap"), None)
    if trig is None:
        return []
    R = rep.values(now.astimezone(template.timezone).date())
    cap = template.load.per_rep(template.load.cap, R, {NOW_KEY: now})
    if cap is None or rep.load <= cap:
        return []
    return [
        TriggerOutcome(trig.name, "", "pause_intake", rep.id, None, False, None, f"{rep.display}'s load {format_value(rep.load)} is over the cap {format_value(cap)}: intake paused", f"{rep.display} 的负载 {format_value(rep.load)} 超过上限 {format_value(cap)}:暂停接单", trig.message)
    ]
