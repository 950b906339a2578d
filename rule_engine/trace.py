"""Decisions, their traces, and explanations in Chinese and English.

A trace keeps only what cannot be recomputed cheaply: which rows matched, which reps were
skipped and why. The values a condition compared are read back from the lead's values when
the explanation is rendered, so keeping traces on costs little.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rule_engine.conditions import _fmt_value
from rule_engine.errors import Problem

if TYPE_CHECKING:
    from rule_engine.template import CompiledTemplate

__all__ = ["CandidateNote", "Decision", "PolicyNote", "TableHit", "Trace", "grading_sentence", "render"]


@dataclass
class TableHit:
    table: str
    value: Any
    rows: tuple[int, ...]


@dataclass
class CandidateNote:
    rep: str
    name: str
    verdict: str  # "skipped" | "candidate" | "chosen"
    reason: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class PolicyNote:
    policy: str
    strategy: str
    candidates: list[CandidateNote]
    result: str  # "chosen" | "next" | "pool" | "escalate"


@dataclass
class Trace:
    tables: list[TableHit]
    policies: list[PolicyNote]
    otherwise: str | None
    weight_row: int | None = None
    weight: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tables": [{"table": t.table, "value": _json(t.value), "rows": [r + 1 for r in t.rows]} for t in self.tables],
            "weight": self.weight,
            "weight_row": None if self.weight_row is None else self.weight_row + 1,
            "policies": [
                {
                    "policy": p.policy,
                    "strategy": p.strategy,
                    "result": p.result,
                    "candidates": [
                        {"rep": c.rep, "verdict": c.verdict, "reason": c.reason, **{k: _json(v) for k, v in c.data.items()}}
                        for c in p.candidates
                    ],
                }
                for p in self.policies
            ],
            "otherwise": self.otherwise,
        }


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass
class Decision:
    """What the engine decided for one lead."""

    lead_id: str
    outcome: str  # "assigned" | "pool" | "escalated" | "error"
    owner: str | None
    policy: str | None
    weight: float
    outputs: dict[str, Any]
    trace: Trace | None = None
    error: Problem | None = None
    values: Mapping[str, Any] | None = field(default=None, repr=False)

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
    return _fmt_value(value)


def _candidate(c: CandidateNote, lang: str) -> str:
    zh = lang.startswith("zh")
    d = c.data
    r = c.reason
    if r == "over_cap":
        body = f"负载 {_n(d['load'])} + {_n(d['weight'])} > 上限 {_n(d['cap'])}" if zh else f"load {_n(d['load'])} + {_n(d['weight'])} > cap {_n(d['cap'])}"
    elif r == "daily_quota":
        body = f"今日已分 {_n(d['count'])},达到日配额 {_n(d['quota'])}" if zh else f"{_n(d['count'])} today, daily quota {_n(d['quota'])}"
    elif r == "weekly_quota":
        body = f"本周已分 {_n(d['count'])},达到周配额 {_n(d['quota'])}" if zh else f"{_n(d['count'])} this week, weekly quota {_n(d['quota'])}"
    elif r == "not_eligible":
        body = f"不符合条件:{d['detail']}" if zh else f"not eligible: {d['detail']}"
    elif r == "below_min_score":
        body = f"匹配分 {_n(d['score'])} < {_n(d['min'])}" if zh else f"score {_n(d['score'])} < {_n(d['min'])}"
    elif r == "zero_weight":
        body = f"权重 {_n(d['weight'])}" if zh else f"weight {_n(d['weight'])}"
    elif r == "not_in_territory":
        body = f"不负责 {d['field']} = {_n(d['value'])}" if zh else f"not an owner for {d['field']} = {_n(d['value'])}"
    elif r == "not_owner_field":
        body = f"不是 {d['field']} 指定的负责人" if zh else f"not the rep named in {d['field']}"
    elif c.verdict in ("candidate", "chosen"):
        label = (_STRATEGY_ZH if zh else _STRATEGY_EN).get(r, r)
        extra = []
        if "score" in d:
            extra.append(("匹配分 " if zh else "score ") + _n(d["score"]))
        if "points" in d:
            extra.append(("积分 " if zh else "points ") + _n(d["points"]))
        if "weight" in d:
            extra.append(("权重 " if zh else "weight ") + _n(d["weight"]))
        if "load" in d:
            extra.append(("负载 " if zh else "load ") + _n(d["load"]))
        body = label + ((", " if not zh else ",") + ", ".join(extra) if extra else "")
    else:
        body = (_REASONS_ZH if zh else _REASONS_EN).get(r, r)
    if zh:
        return {"skipped": f"{c.name}({body},跳过)", "chosen": f"{c.name}({body}):选中"}.get(c.verdict, f"{c.name}({body})")
    return {"skipped": f"{c.name} ({body}: skipped)", "chosen": f"{c.name} ({body}): chosen"}.get(c.verdict, f"{c.name} ({body})")


_GROUPED = ("on_leave", "paused", "inactive", "excluded")


def _candidates(notes: list[CandidateNote], lang: str) -> str:
    """Candidates in order; reps skipped for the same rep-only reason are named together."""
    zh = lang.startswith("zh")
    groups: dict[tuple[str, str], list[CandidateNote]] = {}
    parts: list[tuple[str, str] | CandidateNote] = []
    for c in notes:
        if c.verdict == "skipped" and (c.reason in _GROUPED or (c.reason == "not_eligible" and c.data.get("static"))):
            key = (c.reason, str(c.data.get("condition", "")))
            if key not in groups:
                groups[key] = []
                parts.append(key)
            groups[key].append(c)
        else:
            parts.append(c)
    out = []
    for part in parts:
        if isinstance(part, CandidateNote):
            out.append(_candidate(part, lang))
            continue
        members = groups[part]
        names = ("、" if zh else ", ").join(m.name for m in members)
        reason, condition = part
        if reason == "not_eligible":
            body = f"不符合 {condition}" if zh else f"not eligible: {condition}"
        else:
            body = (_REASONS_ZH if zh else _REASONS_EN).get(reason, reason)
        out.append(f"{names}({body},跳过)" if zh else f"{names} ({body}: skipped)")
    return ", ".join(out)


def _table_part(template: CompiledTemplate, hit: TableHit, L: Mapping[str, Any], lang: str) -> str:
    zh = lang.startswith("zh")
    table = next((t for t in template.segments if t.name == hit.table), None)
    value = _n(hit.value)
    if table is None:
        return f"{hit.table} = {value}"
    if not hit.rows:
        return f"{hit.table} = {value}(无规则命中,取默认值)" if zh else f"{hit.table} {value} (no row matched: default)"
    details = []
    for i in hit.rows:
        cond = table.rows[i].when
        details.append(cond.describe(L, None, lang) if cond is not None else ("无条件" if zh else "always"))
    rows = ", ".join(str(i + 1) for i in hit.rows)
    if zh:
        return f"{hit.table} = {value}:`{hit.table}` 表第 {rows} 行命中({';'.join(details)})"
    plural = "rows" if len(hit.rows) > 1 else "row"
    return f"{hit.table} {value} by {plural} {rows} of `{hit.table}` ({'; '.join(details)})"


def grading_sentence(template: CompiledTemplate, hits: list[TableHit], L: Mapping[str, Any], lang: str = "en") -> str:
    """The grading part of an explanation: each table's output and the rows that decided it."""
    return (";" if lang.startswith("zh") else "; ").join(_table_part(template, h, L, lang) for h in hits)


def render(template: CompiledTemplate, decision: Decision, lang: str = "en") -> str:
    """Render a decision as a sentence in ``lang`` ("zh" or "en")."""
    zh = lang.startswith("zh")
    if decision.error is not None:
        return ("无法评估:" if zh else "could not evaluate: ") + decision.error.message(lang)
    trace = decision.trace
    if trace is None:
        return _outcome(decision, lang)
    L = decision.values or {}
    parts = [grading_sentence(template, trace.tables, L, lang)] if trace.tables else []
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
        cands = _candidates(p.candidates, lang) or ("无" if zh else "none")
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
        name = next((c.name for c in p.candidates if c.verdict == "chosen"), name)
    if decision.outcome == "assigned":
        return f"→ 分配给 {name}" if zh else f"→ assigned to {name}"
    if decision.outcome == "escalated":
        return "→ 上报主管处理" if zh else "→ escalated to a manager"
    if decision.outcome == "pool":
        return "→ 进入公海" if zh else "→ left in the pool"
    return decision.outcome
