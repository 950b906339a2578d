"""Decisions, their traces, and explanations in Chinese and English.

A trace keeps only what cannot be recomputed cheaply: which rows matched, which reps were
skipped and why. The values a condition compared are read back from the lead's values when
the explanation is rendered, so keeping traces on costs little.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from rule_engine.conditions import format_value
from rule_engine.errors import Problem

if TYPE_CHECKING:
    from rule_engine.segments import Table
    from rule_engine.template import CompiledTemplate

__all__ = ["CandidateNote", "Decision", "PolicyNote", "Recorder", "Trace", "grading_sentence", "render"]


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


# ------------------------------------------------------------------------------------------------
# Decisions as stored records
# ------------------------------------------------------------------------------------------------


_PLAIN = frozenset({str, bool, int, float, type(None)})


def _enc(value: Any) -> Any:
    """A typed value as JSON: dates and date-times tagged, tuples as lists."""
    if value.__class__ in _PLAIN or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, (tuple, list)):
        return [_enc(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [_enc(v) for v in sorted(value, key=str)]
    if isinstance(value, Mapping):
        return {str(k): _enc(v) for k, v in value.items()}
    return str(value)


def _dec(value: Any) -> Any:
    """The inverse of :func:`_enc` (lists come back as tuples, the engine's form of a list value)."""
    if isinstance(value, list):
        return tuple(_dec(v) for v in value)
    if isinstance(value, dict):
        if len(value) == 1:
            if "$dt" in value:
                return dt.datetime.fromisoformat(value["$dt"])
            if "$d" in value:
                return dt.date.fromisoformat(value["$d"])
        return {k: _dec(v) for k, v in value.items()}
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _Part(NamedTuple):
    """One encoded part of a record: the value, its JSON, the rep names it mentions, the lead values it reads."""

    value: Any
    text: str
    names: Mapping[str, str]
    reads: frozenset[str]
    shared: bool = False  # kept by the recorder for other leads (its id stays its own)


class _Reps(NamedTuple):
    """What a record's policies together mention: rep names (and as JSON), and the lead values they read."""

    parts: tuple[_Part, ...]  # kept so that the ids in the key stay theirs
    names: dict[str, str]
    text: str
    reads: frozenset[str]


class _Shape(NamedTuple):
    """What records with the same parts have in common: their JSON but for the values, and the values' names."""

    parts: tuple[_Part, ...]  # kept so that the ids in the key stay theirs
    text: str
    reads: list[str]


class Recorder:
    """Decisions of one compiled template as compact JSON records, and records back as decisions.

    A record holds what the explanation of a decision needs and nothing the template version
    already knows: the rows that decided each table, the reps left out or considered and why, and
    only the lead's (and reps') values that the conditions named in the explanation read. So a
    stored decision is explained later from its record and its template version alone:
    ``render(template, recorder.decision(record), lang)`` gives the sentence :meth:`Decision.explain`
    gave when the decision was made, and ``.trace.to_dict()`` the same trace.

    One recorder serves a whole batch: what every lead of the batch shares (the names a condition
    reads, the reps a policy left out before any lead was seen) is worked out once.
    """

    def __init__(self, template: CompiledTemplate) -> None:
        self.template = template
        self._reads: dict[int, tuple[Any, tuple[str, ...]]] = {}  # id(condition) -> (condition, names)
        self._static: dict[int, tuple[tuple[CandidateNote, ...], dict[str, Any], dict[str, str]]] = {}
        # Parts that often repeat from one lead to the next (the same rows deciding the tables, a
        # policy's notes when every rep is at its cap) are encoded once, kept by their value.
        self._parts: dict[tuple[Any, ...], _Part] = {}
        self._reps: dict[tuple[int, ...], _Reps] = {}
        self._heads: dict[tuple[Any, ...], str] = {}
        self._shapes: dict[tuple[Any, ...], _Shape] = {}
        self._tables: dict[str, Table] | None = None
        self._conditions: dict[tuple[str, str], Any] | None = None

    # -- writing ---------------------------------------------------------------------------------

    def _names(self, cond: Any) -> tuple[str, ...]:
        """The lead values ``cond.describe`` reads."""
        hit = self._reads.get(id(cond))
        if hit is None:
            from rule_engine.conditions import NOW_KEY

            names = tuple(sorted(cond.lead_names)) + ((NOW_KEY,) if cond.uses_now else ())
            hit = self._reads[id(cond)] = (cond, names)  # the condition is kept so its id stays its own
        return hit[1]

    def _skipped(self, static: tuple[CandidateNote, ...]) -> tuple[dict[str, Any], dict[str, str]]:
        """Reps a policy left out before any lead was seen: each rep with the index of its reason."""
        hit = self._static.get(id(static))
        if hit is None:
            why: list[list[str]] = []
            reps: list[list[Any]] = []
            for c in static:
                reason = [c.reason, c.a.source] if c.reason == "not_eligible" else [c.reason]
                if reason not in why:
                    why.append(reason)
                reps.append([c.rep, why.index(reason)])
            hit = self._static[id(static)] = (static, {"why": why, "reps": reps}, {c.rep: c.name for c in static})
        return hit[1], hit[2]

    def _shared(self, key: tuple[Any, ...], build: Callable[[], _Part]) -> _Part:
        """The part for ``key``, built once; a key that cannot be hashed (it holds a mapping) is built every time."""
        try:
            hit = self._parts.get(key)
        except TypeError:
            return build()
        if hit is None:
            if len(self._parts) >= 4096:
                self._parts.clear()
                self._reps.clear()
                self._shapes.clear()
            hit = self._parts[key] = build()._replace(shared=True)
        return hit

    def _tables_part(self, hits: list[tuple[Table, Any, tuple[int, ...]]]) -> _Part:
        def build() -> _Part:
            encoded = [[t.name, _enc(v), list(rows)] for t, v, rows in hits]
            read = [n for t, _, rows in hits for i in rows if t.rows[i].when is not None for n in self._names(t.rows[i].when)]
            return _Part(encoded, _dumps(encoded), {}, frozenset(read))

        # Tables belong to the template, which the recorder keeps: their ids stay theirs. The
        # value's type is in the key because 1, 1.0 and True are equal keys but not equal JSON.
        return self._shared(tuple([(id(t), v, v.__class__, rows) for t, v, rows in hits]), build)

    def _policy(self, p: PolicyNote) -> _Part:
        """One policy's notes encoded, the names of its reps, and the lead values its sentence reads."""

        def build() -> _Part:
            skipped, names = self._skipped(p.static)
            names = dict(names)
            read: list[str] = []
            candidates: list[list[Any]] = []
            for rep, name, reason, a, b in p.candidates:
                names[rep] = name
                if reason == "not_eligible":
                    read.extend(self._names(a))
                    candidates.append([rep, reason, a.source, {k: _enc(b.get(k)) for k in sorted(a.rep_names)}])
                elif isinstance(a, (int, float)) and (b is None or isinstance(b, (int, float))):
                    candidates.append([rep, reason, a, b])
                else:
                    candidates.append([rep, reason, _enc(a), _enc(b)])
            if p.lead_failed is not None:
                read.extend(self._names(p.lead_failed))
            encoded = {
                "policy": p.policy,
                "strategy": p.strategy,
                "result": p.result,
                "chosen": p.chosen,
                "lead_failed": p.lead_failed.source if p.lead_failed is not None else None,
                "skipped": skipped,
                "candidates": candidates,
            }
            return _Part(encoded, _dumps(encoded), names, frozenset(read))

        if p.strategy in _SCORE_NAME:
            return build()  # a score may be an int for one lead and a float for the next: equal keys, not equal JSON
        # The static notes and the failed condition are in the key by id: self._static and
        # self._reads keep both alive, so the ids stay theirs. The other numbers in notes have one
        # type each (loads, caps and quotas are floats, counts ints).
        return self._shared((p.policy, p.result, p.chosen, id(p.static), id(p.lead_failed), tuple(p.candidates)), build)

    def _people(self, policies: list[_Part]) -> _Reps:
        """The rep names and lead values of a record's policies together (worked out once per combination of shared parts)."""
        key = tuple(map(id, policies))
        hit = self._reps.get(key)
        if hit is None:
            names: dict[str, str] = {}
            reads: set[str] = set()
            for part in policies:
                names.update(part.names)
                reads.update(part.reads)
            hit = _Reps(tuple(policies), names, _dumps(names), frozenset(reads))
            if all(part.shared for part in policies):
                self._reps[key] = hit
        return hit

    def _values_read(self, trace: Trace, tables: _Part, reps: _Reps) -> list[str]:
        """The lead values a record keeps: those its sentences read."""
        read = tables.reads | reps.reads
        if trace.weight_row is not None:
            read = read.union(self._names(self.template.load.weights[trace.weight_row][0]))
        return sorted(read)

    def record(self, decision: Decision) -> dict[str, Any]:
        """The decision as a JSON-able record (records of one recorder share parts: do not modify them)."""
        if decision.error is not None:
            e = decision.error
            return {"outcome": "error", "error": {"code": e.code, "en": e.en, "zh": e.zh, "suggestion": e.suggestion}}
        trace = decision.trace
        if trace is None:
            return {"outcome": decision.outcome, "owner": decision.owner, "policy": decision.policy}
        tables = self._tables_part(trace.tables)
        policies = [self._policy(p) for p in trace.policies]
        reps = self._people(policies)
        L = decision.values
        return {
            "outcome": decision.outcome,
            "owner": decision.owner,
            "policy": decision.policy,
            "weight": trace.weight,
            "weight_row": trace.weight_row,
            "otherwise": trace.otherwise,
            "reps": reps.names,
            "values": {n: _enc(L[n]) for n in self._values_read(trace, tables, reps) if n in L},
            "tables": tables.value,
            "policies": [p.value for p in policies],
        }

    def record_json(self, decision: Decision) -> str:
        """:meth:`record` as JSON text; the parts shared by many leads are serialised once."""
        trace = decision.trace
        if decision.error is not None or trace is None:
            return _dumps(self.record(decision))
        tables = self._tables_part(trace.tables)
        policies = [self._policy(p) for p in trace.policies]
        shape = self._shape(trace, tables, policies)
        L = decision.values
        values = _dumps({n: _enc(L[n]) for n in shape.reads if n in L})
        fields = (decision.outcome, decision.owner, decision.policy, trace.weight, trace.weight.__class__, trace.weight_row, trace.otherwise)
        head = self._heads.get(fields)
        if head is None:
            if len(self._heads) >= 4096:
                self._heads.clear()
            text = _dumps({"outcome": fields[0], "owner": fields[1], "policy": fields[2], "weight": fields[3], "weight_row": fields[5], "otherwise": fields[6]})
            head = self._heads[fields] = text[:-1]
        return f"{head}{shape.text}{values}}}"

    def _shape(self, trace: Trace, tables: _Part, policies: list[_Part]) -> _Shape:
        """The JSON of a record's rep names, tables and policies, and the names of the lead values it keeps."""
        key = (id(tables), trace.weight_row, *map(id, policies))
        hit = self._shapes.get(key)
        if hit is None:
            reps = self._people(policies)
            text = f',"reps":{reps.text},"tables":{tables.text},"policies":[{",".join(p.text for p in policies)}],"values":'
            hit = _Shape((tables, *policies), text, self._values_read(trace, tables, reps))
            if tables.shared and all(p.shared for p in policies):
                if len(self._shapes) >= 4096:
                    self._shapes.clear()
                self._shapes[key] = hit
        return hit

    # -- reading ---------------------------------------------------------------------------------

    def _table(self, name: str) -> Table:
        if self._tables is None:
            self._tables = {t.name: t for t in self.template.segments}
        return self._tables[name]

    def _condition(self, policy: str, source: str) -> Any:
        if self._conditions is None:
            found: dict[tuple[str, str], Any] = {}
            for pol in self.template.assignment.policies:
                for cond in (*pol.rep_only, *pol.lead_only, *pol.mixed, *((pol.eligible,) if pol.eligible is not None else ())):
                    found.setdefault((pol.name, cond.source), cond)
            self._conditions = found
        return self._conditions[(policy, source)]

    def decision(self, record: Mapping[str, Any], lead_id: str = "") -> Decision:
        """The decision a record stands for, ready to explain (:func:`render`) or to trace (``to_dict``).

        Raises KeyError or ValueError when the record does not fit this template (another version's).
        """
        output_names = self.template.output_names
        outcome = record["outcome"]
        if outcome == "error":
            e = record["error"]
            problem = Problem(e["code"], e["en"], e["zh"], suggestion=e.get("suggestion"))
            return Decision(lead_id, "error", None, None, 0.0, {}, output_names, None, problem)
        owner, policy = record.get("owner"), record.get("policy")
        if "policies" not in record:
            return Decision(lead_id, outcome, owner, policy, 0.0, {}, output_names)
        names: Mapping[str, str] = record.get("reps") or {}
        notes = []
        for p in record["policies"]:
            name = p["policy"]
            note = PolicyNote(name, p["strategy"], result=p["result"], chosen=p["chosen"])
            why = p["skipped"]["why"]
            note.static = tuple(
                CandidateNote(rep, names.get(rep, rep), why[k][0], self._condition(name, why[k][1]) if why[k][0] == "not_eligible" else None)
                for rep, k in p["skipped"]["reps"]
            )
            for rep, reason, a, b in p["candidates"]:
                if reason == "not_eligible":
                    note.candidates.append((rep, names.get(rep, rep), reason, self._condition(name, a), _dec(b)))
                else:
                    note.candidates.append((rep, names.get(rep, rep), reason, _dec(a), _dec(b)))
            if p.get("lead_failed") is not None:
                note.lead_failed = self._condition(name, p["lead_failed"])
            notes.append(note)
        tables = [(self._table(t), _dec(value), tuple(rows)) for t, value, rows in record["tables"]]
        weight = float(record["weight"])
        trace = Trace(tables, notes, record.get("otherwise"), record.get("weight_row"), weight)
        values = {k: _dec(v) for k, v in (record.get("values") or {}).items()}
        return Decision(lead_id, outcome, owner, policy, weight, values, output_names, trace)
