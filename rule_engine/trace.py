"""Decisions, their traces, and explanations in Chinese and English.

A trace keeps only what cannot be recomputed cheaply: which rows matched, which reps were
skipped and why. The values a condition compared are read back from the lead's values when
the explanation is rendered, so keeping traces on costs little.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from rule_engine.conditions import format_value
from rule_engine.errors import Problem

if TYPE_CHECKING:
    from rule_engine.segments import Table
    from rule_engine.template import CompiledTemplate

__all__ = ["CandidateNote", "Decision", "PolicyNote", "Trace", "grading_sentence", "render"]


class CandidateNote(NamedTuple):
    """Why one rep was skipped, or how it stood as a candidate (reason "candidate").

    ``a`` and ``b`` are compact facts decoded by :func:`note_data` for the reason: the load and the
    cap (over_cap), the count and the quota (quotas), the failing condition and the rep's values
    (not_eligible), the load and the strategy's score (candidate), or a mapping (other skips).
    """

    rep: str
    name: str
    reason: str
    a: Any = None
    b: Any = None


@dataclass(slots=True)
class PolicyNote:
    policy: str
    strategy: str
    static: tuple[CandidateNote, ...] = ()  # reps left out before any lead was seen (shared by the batch)
    candidates: list[tuple[str, str, str, Any, Any]] = field(default_factory=list)  # CandidateNote fields, as plain tuples
    result: str = ""  # "chosen" | "next" | "pool" | "escalate"
    chosen: str | None = None
    lead_failed: Any = None  # the lead-only condition that ruled out every rep

    def notes(self) -> list[CandidateNote]:
        return [*self.static, *(CandidateNote(*c) for c in self.candidates)]


@dataclass(slots=True)
class Trace:
    tables: list[tuple[Table, Any, tuple[int, ...]]]  # each table, its output, the rows that decided it
    policies: list[PolicyNote]
    otherwise: str | None
    weight_row: int | None = None
    weight: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        weight = self.weight
        return {
            "tables": [{"table": t.name, "value": _json(v), "rows": [r + 1 for r in rows]} for t, v, rows in self.tables],
            "weight": self.weight,
            "weight_row": None if self.weight_row is None else self.weight_row + 1,
            "policies": [
                {
                    "policy": p.policy,
                    "strategy": p.strategy,
                    "result": p.result,
                    "chosen": p.chosen,
                    "not_eligible_lead": p.lead_failed.source if p.lead_failed is not None else None,
                    "candidates": [_note_dict(c, p, weight) for c in p.notes()],
                }
                for p in self.policies
            ],
            "otherwise": self.otherwise,
        }


def _note_dict(c: CandidateNote, p: PolicyNote, weight: float) -> dict[str, Any]:
    verdict = "chosen" if c.rep == p.chosen else ("candidate" if c.reason == "candidate" else "skipped")
    out: dict[str, Any] = {"rep": c.rep, "verdict": verdict, "reason": c.reason}
    for k, v in note_data(c, p.strategy, weight).items():
        if k == "condition":
            out["condition"] = v.source
        elif k != "R":
            out[k] = _json(v)
    return out


_SCORE_NAME = {"skill_match": "score", "points_priority": "points", "weighted": "weight"}


def note_data(c: CandidateNote, strategy: str, weight: float) -> Mapping[str, Any]:
    """The facts of a note as a mapping."""
    r = c.reason
    if r == "candidate":
        out = {"load": c.a}
        if strategy in _SCORE_NAME and c.b is not None:
            out[_SCORE_NAME[strategy]] = c.b
        return out
    if r == "over_cap":
        return {"load": c.a, "weight": weight, "cap": c.b}
    if r in ("daily_quota", "weekly_quota"):
        return {"count": c.a, "quota": c.b}
    if r == "not_eligible":
        return {"condition": c.a, "R": c.b}
    return c.a or {}


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dt.date):  # a lead's date or datetime (e.g. the value a by_field policy looked up)
        return value.isoformat()
    return value


def outputs_of(values: Mapping[str, Any], output_names: tuple[tuple[str, ...], tuple[str, ...]]) -> dict[str, Any]:
    """Table outputs read from a lead's values; list outputs as lists, not tuples."""
    names, lists = output_names
    out = {name: values.get(name) for name in names}
    for name in lists:
        value = out[name]
        if value is not None:
            out[name] = list(value)
    return out


@dataclass(slots=True)
class Decision:
    """What the engine decided for one lead. ``values`` are what its conditions read."""

    lead_id: str
    outcome: str  # "assigned" | "pool" | "escalated" | "error"
    owner: str | None
    policy: str | None
    weight: float
    values: Mapping[str, Any] = field(repr=False)
    output_names: tuple[tuple[str, ...], tuple[str, ...]] = field(default=((), ()), repr=False)
    trace: Trace | None = None
    error: Problem | None = None

    @property
    def outputs(self) -> dict[str, Any]:
        """Each table's output, as plain JSON-able values (lists, not tuples)."""
        return outputs_of(self.values, self.output_names)


    def explain(self, template: CompiledTemplate, lang: str = "en") -> str:
        """The decision in one readable sentence."""
        return render(template, self, lang)


_REASONS_EN = {
    "on_leave": "on leave",
    "paused": "paused",
    "inactive": "inactive",
    "excluded": "excluded",
}
_REASONS_ZH = {
    "on_leave": "休假中",
    "paused": "已暂停接单",
    "inactive": "已停用",
    "excluded": "已排除",
}
_STRATEGY_EN = {
    "round_robin": "next in rotation",
    "least_loaded": "least loaded",
    "weighted": "weighted rotation",
    "skill_match": "best skill match",
    "points_priority": "most points",
    "by_field": "territory owner",
}
_STRATEGY_ZH = {
    "round_robin": "轮到",
    "least_loaded": "负载最低",
    "weighted": "按权重轮转",
    "skill_match": "能力最匹配",
    "points_priority": "积分最高",
    "by_field": "辖区负责人",
}


def _n(value: Any) -> str:
    return format_value(value)


def _candidate(c: CandidateNote, p: PolicyNote, L: Mapping[str, Any], weight: float, lang: str) -> str:
    zh = lang.startswith("zh")
    chosen = p.chosen
    d = note_data(c, p.strategy, weight)
    r = c.reason
    if r == "over_cap":
        body = f"负载 {_n(d['load'])} + {_n(d['weight'])} > 上限 {_n(d['cap'])}" if zh else f"load {_n(d['load'])} + {_n(d['weight'])} > cap {_n(d['cap'])}"
    elif r == "daily_quota":
        body = f"今日已分 {_n(d['count'])},达到日配额 {_n(d['quota'])}" if zh else f"{_n(d['count'])} today, daily quota {_n(d['quota'])}"
    elif r == "weekly_quota":
        body = f"本周已分 {_n(d['count'])},达到周配额 {_n(d['quota'])}" if zh else f"{_n(d['count'])} this week, weekly quota {_n(d['quota'])}"
    elif r == "not_eligible":
        detail = d["condition"].describe(L, d["R"], lang)
        body = f"不符合条件:{detail}" if zh else f"not eligible: {detail}"
    elif r == "below_min_score":
        body = f"匹配分 {_n(d['score'])} < {_n(d['min'])}" if zh else f"score {_n(d['score'])} < {_n(d['min'])}"
    elif r == "zero_weight":
        body = f"权重 {_n(d['weight'])}" if zh else f"weight {_n(d['weight'])}"
    elif r == "not_in_territory":
        body = f"不负责 {d['field']} = {_n(d['value'])}" if zh else f"not an owner for {d['field']} = {_n(d['value'])}"
    elif r == "not_owner_field":
        body = f"不是 {d['field']} 指定的负责人" if zh else f"not the rep named in {d['field']}"
    elif r == "candidate":
        extra = []
        for key, en, cn in (("score", "score", "匹配分"), ("points", "points", "积分"), ("weight", "weight", "权重"), ("load", "load", "负载")):
            if key in d:
                extra.append(f"{cn if zh else en} {_n(d[key])}")
        body = ", ".join(extra)
    else:
        body = (_REASONS_ZH if zh else _REASONS_EN).get(r, r)
    if c.rep == chosen:
        return f"{c.name}({body}):选中" if zh else f"{c.name} ({body}): chosen"
    if r == "candidate":
        return f"{c.name}({body})" if zh else f"{c.name} ({body})"
    return f"{c.name}({body},跳过)" if zh else f"{c.name} ({body}: skipped)"


_GROUPED = ("on_leave", "paused", "inactive", "excluded")


def _candidates(p: PolicyNote, L: Mapping[str, Any], weight: float, lang: str) -> str:
    """Candidates in order; reps left out for the same rep-only reason are named together."""
    zh = lang.startswith("zh")
    groups: dict[tuple[str, str], list[CandidateNote]] = {}
    parts: list[Any] = []
    for c in p.static:
        cond = c.a if c.reason == "not_eligible" else None
        key = (c.reason, cond.source if cond is not None else "")
        if key not in groups:
            groups[key] = []
            parts.append(key)
        groups[key].append(c)
    out = []
    for reason, condition in parts:
        names = ("、" if zh else ", ").join(m.name for m in groups[(reason, condition)])
        if reason == "not_eligible":
            body = f"不符合 {condition}" if zh else f"not eligible: {condition}"
        else:
            body = (_REASONS_ZH if zh else _REASONS_EN).get(reason, reason)
        out.append(f"{names}({body},跳过)" if zh else f"{names} ({body}: skipped)")
    if p.lead_failed is not None:
        detail = p.lead_failed.describe(L, None, lang)
        out.append(f"此线索不符合条件({detail})" if zh else f"this lead does not qualify ({detail})")
    out.extend(_candidate(CandidateNote(*c), p, L, weight, lang) for c in p.candidates)
    return ("," if zh else ", ").join(out)


def _table_part(table: Table, value: Any, rows: tuple[int, ...], L: Mapping[str, Any], lang: str) -> str:
    zh = lang.startswith("zh")
    shown = _n(value)
    name = table.name
    if not rows:
        return f"{name} = {shown}(无规则命中,取默认值)" if zh else f"{name} {shown} (no row matched: default)"
    details = []
    for i in rows:
        cond = table.rows[i].when
        details.append(cond.describe(L, None, lang) if cond is not None else ("无条件" if zh else "always"))
    numbers = ", ".join(str(i + 1) for i in rows)
    if zh:
        return f"{name} = {shown}:`{name}` 表第 {numbers} 行命中({';'.join(details)})"
    plural = "rows" if len(rows) > 1 else "row"
    return f"{name} {shown} by {plural} {numbers} of `{name}` ({'; '.join(details)})"


def grading_sentence(hits: list[tuple[Table, Any, tuple[int, ...]]], L: Mapping[str, Any], lang: str = "en") -> str:
    """The grading part of an explanation: each table's output and the rows that decided it."""
    return (";" if lang.startswith("zh") else "; ").join(_table_part(t, v, rows, L, lang) for t, v, rows in hits)


def render(template: CompiledTemplate, decision: Decision, lang: str = "en") -> str:
    """Render a decision as a sentence in ``lang`` ("zh" or "en")."""
    zh = lang.startswith("zh")
    if decision.error is not None:
        return ("无法评估:" if zh else "could not evaluate: ") + decision.error.message(lang)
    trace = decision.trace
    if trace is None:
        return _outcome(decision, lang)
    L = decision.values or {}
    parts = [grading_sentence(trace.tables, L, lang)] if trace.tables else []
    if trace.weight_row is not None:
        cond = template.load.weights[trace.weight_row][0]
        parts.append(
            f"负载权重 {_n(trace.weight)}({cond.describe(L, None, lang)})" if zh else f"load weight {_n(trace.weight)} ({cond.describe(L, None, lang)})"
        )
    elif template.load.weights:
        parts.append(f"负载权重 {_n(trace.weight)}(默认)" if zh else f"load weight {_n(trace.weight)} (default)")
    for p in trace.policies:
        if p.strategy == "pool":
            parts.append(f"策略 {p.policy}:留在公海待领取" if zh else f"policy {p.policy}: leave in the pool for claiming")
            continue
        cands = _candidates(p, L, trace.weight, lang) or ("无" if zh else "none")
        if zh:
            tail = {"chosen": "", "next": ";无人可分,转下一策略", "pool": ";无人可分,进入公海", "escalate": ";无人可分,上报主管"}[p.result]
            parts.append(f"策略 {p.policy}({_STRATEGY_ZH.get(p.strategy, p.strategy)});候选人:{cands}{tail}")
        else:
            tail = {"chosen": "", "next": "; nobody available, next policy", "pool": "; nobody available, to the pool", "escalate": "; nobody available, escalated"}[p.result]
            parts.append(f"policy {p.policy} ({p.strategy}); candidates: {cands}{tail}")
    if not trace.policies:
        parts.append("没有匹配的分配策略" if zh else "no assignment policy matched")
    parts.append(_outcome(decision, lang))
    return (";" if zh else "; ").join(parts)


def _outcome(decision: Decision, lang: str) -> str:
    zh = lang.startswith("zh")
    name = decision.owner
    for p in decision.trace.policies if decision.trace is not None else ():
        name = next((c[1] for c in p.candidates if c[0] == p.chosen), name)
    if decision.outcome == "assigned":
        return f"→ 分配给 {name}" if zh else f"→ assigned to {name}"
    if decision.outcome == "escalated":
        return "→ 上报主管处理" if zh else "→ escalated to a manager"
    if decision.outcome == "pool":
        return "→ 进入公海" if zh else "→ left in the pool"
    return decision.outcome
