"""Picking owners: the load index, assignment policies and strategies, as a pure function.

:func:`assign` takes a compiled template, leads, a roster snapshot, the rotation state and the
clock, and returns decisions and the new state. It writes nothing. Leads of a batch are assigned
in order and every rep's load and counts are updated as it goes, so a batch never passes a cap or
a quota. Ties always break the same way: by the rotation order after the policy's cursor, which
follows the roster order (rep id).

Strategies live in :data:`STRATEGIES`; each says which options it takes, how it scores a
candidate, and how it chooses among the candidates left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rule_engine._compile import Context, get, text
from rule_engine.conditions import NOW_KEY, Condition, Expression, conjuncts
from rule_engine.errors import EvaluationError, PathPart, Problem
from rule_engine.fields import Text
from rule_engine.roster import Rep, RotationState, sort_roster
from rule_engine.trace import CandidateNote, Decision, PolicyNote, Trace

if TYPE_CHECKING:
    from rule_engine.template import CompiledTemplate

__all__ = [
    "STRATEGIES",
    "AssignmentResult",
    "AssignmentSpec",
    "LoadSpec",
    "Policy",
    "assign",
    "compile_assignment",
    "compile_load",
    "owner_eligible",
]

FALLBACKS = ("next", "pool", "escalate")
OTHERWISE = ("pool", "escalate")

# ------------------------------------------------------------------------------------------------
# Load
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    """The weighted load index: a weight per lead, a cap and quotas per rep."""

    weights: tuple[tuple[Condition, float], ...] = ()
    default_weight: float = 1.0
    cap: Expression | float | None = None
    daily_quota: Expression | float | None = None
    weekly_quota: Expression | float | None = None
    open_when: Condition | None = None  # which owned leads count toward the load index (None: all)

    def counts(self, L: Mapping[str, Any]) -> bool:
        """Whether this owned lead is open, i.e. counts toward its owner's load index."""
        return self.open_when is None or bool(self.open_when.fn(L, None))

    def weight(self, L: Mapping[str, Any]) -> float:
        """The weight this lead adds to its owner's load index."""
        for cond, w in self.weights:
            if cond.fn(L, None):
                return w
        return self.default_weight

    def weight_and_row(self, L: Mapping[str, Any]) -> tuple[float, int | None]:
        """The lead's weight and the index of the row that gave it (None: the default)."""
        for i, (cond, w) in enumerate(self.weights):
            if cond.fn(L, None):
                return w, i
        return self.default_weight, None

    @staticmethod
    def per_rep(value: Expression | float | None, R: Mapping[str, Any], L0: Mapping[str, Any] | None = None) -> float | None:
        """A number, or a rep expression evaluated for this rep (``L0`` carries the clock)."""
        if value is None or isinstance(value, (int, float)):
            return value
        result = value.fn(L0 or {}, R)
        return None if result is None else float(result)


def _number_or_rep_expr(value: Any, ctx: Context, path: tuple[PathPart, ...]) -> Expression | float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return ctx.expression(value, path, ctx.rep_only_env)


def compile_load(data: Mapping[str, Any] | None, ctx: Context) -> LoadSpec:
    """Compile the ``load`` section."""
    if not data:
        return LoadSpec()
    weights = []
    for i, row in enumerate(data.get("weights", [])):
        cond = ctx.condition(row.get("when"), ("load", "weights", i, "when"))
        if cond is not None:
            weights.append((cond, float(row["weight"])))
    return LoadSpec(
        weights=tuple(weights),
        default_weight=float(get(data, "default_weight", 1.0)),
        cap=_number_or_rep_expr(data.get("cap"), ctx, ("load", "cap")),
        daily_quota=_number_or_rep_expr(data.get("daily_quota"), ctx, ("load", "daily_quota")),
        weekly_quota=_number_or_rep_expr(data.get("weekly_quota"), ctx, ("load", "weekly_quota")),
        open_when=ctx.condition(data.get("open_when"), ("load", "open_when")),
    )


# ------------------------------------------------------------------------------------------------
# Working state of one batch
# ------------------------------------------------------------------------------------------------


class Slot:
    """A rep's working state during one batch."""

    __slots__ = ("rep", "name", "R", "order", "load", "cap", "today", "week", "daily", "weekly", "unavailable", "assigned")

    def __init__(self, rep: Rep, order: int, day: dt.date, load: LoadSpec, L0: Mapping[str, Any]) -> None:
        self.rep = rep
        self.name = rep.display
        self.order = order
        R = rep.values(day)
        self.cap = LoadSpec.per_rep(load.cap, R, L0)
        R["cap"] = self.cap
        self.R = R
        self.load = float(rep.load)
        self.today = rep.assigned_today
        self.week = rep.assigned_week
        self.daily = LoadSpec.per_rep(load.daily_quota, R, L0)
        self.weekly = LoadSpec.per_rep(load.weekly_quota, R, L0)
        self.unavailable = rep.unavailable_reason(day)
        self.assigned = 0

    def take(self, weight: float) -> None:
        self.load += weight
        self.today += 1
        self.week += 1
        self.assigned += 1
        R = self.R
        R["load"] = self.load
        R["assigned_today"] = self.today
        R["assigned_week"] = self.week
        R["open_count"] = R["open_count"] + 1

    def result(self) -> Rep:
        from dataclasses import replace

        return replace(
            self.rep,
            load=self.load,
            assigned_today=self.today,
            assigned_week=self.week,
            open_count=self.rep.open_count + self.assigned,
        )


# ------------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """How one strategy admits, scores and chooses candidates."""

    name: str
    options: tuple[str, ...]
    # Returns the strategy's options, or None when they are wrong (problems already reported).
    compile: Callable[[Mapping[str, Any], Context, tuple[PathPart, ...]], Mapping[str, Any] | None]
    # (slot, L, options) -> None to admit with no score, a number score, or a skip reason string
    admit: Callable[[Slot, Mapping[str, Any], Mapping[str, Any]], Any] | None
    # sort key among admitted candidates: (slot, score, rotation position) -> comparable
    key: Callable[[Slot, Any, int], Any]
    rotation_key: Callable[[str, Mapping[str, Any], Mapping[str, Any]], str] | None = None  # None: one rotation per policy


def _no_options(spec: Mapping[str, Any], ctx: Context, path: tuple[PathPart, ...]) -> Mapping[str, Any]:
    return {}


def _skill_options(spec: Mapping[str, Any], ctx: Context, path: tuple[PathPart, ...]) -> Mapping[str, Any] | None:
    score_src = spec.get("score")
    lead_tags, rep_tags = spec.get("lead_tags"), spec.get("rep_tags")
    if score_src is None:
        if lead_tags is None or rep_tags is None:
            ctx.report(path, "compile.strategy", "skill_match needs either 'score' or both 'lead_tags' and 'rep_tags'", "skill_match 需要 'score',或同时给出 'lead_tags' 和 'rep_tags'")
            return None
        score_src = f"overlap_count(lead.{lead_tags}, rep.{rep_tags})"
        for key, name, scope, types in (
            ("lead_tags", lead_tags, "lead", ctx.lead_env.lead),
            ("rep_tags", rep_tags, "rep", ctx.rep_env.rep or {}),
        ):
            t = types.get(name)
            if t is None or not t.is_list:
                ctx.report((*path, key), "compile.strategy", "{n!r} must be a tags field of the {scope}", "{n!r} 必须是{scope_zh}的多选标签字段", n=name, scope=scope, scope_zh="线索" if scope == "lead" else "销售")
                return None
    elif lead_tags is not None or rep_tags is not None:
        ctx.report(path, "compile.strategy", "give 'score', or 'lead_tags' and 'rep_tags', not both", "'score' 与 'lead_tags'/'rep_tags' 只能二选一")
        return None
    score = ctx.expression(score_src, (*path, "score"), ctx.rep_env)
    return {"score": score, "min_score": float(get(spec, "min_score", 1))} if score is not None else None


def _skill_admit(slot: Slot, L: Mapping[str, Any], opts: Mapping[str, Any]) -> Any:
    value = opts["score"].fn(L, slot.R)
    if value is None or value < opts["min_score"]:
        return ("below_min_score", {"score": value, "min": opts["min_score"]})
    return value


def _points_admit(slot: Slot, L: Mapping[str, Any], opts: Mapping[str, Any]) -> Any:
    return slot.R.get("points") or 0


def _weighted_options(spec: Mapping[str, Any], ctx: Context, path: tuple[PathPart, ...]) -> Mapping[str, Any] | None:
    weight = _number_or_rep_expr(spec.get("weight", 1), ctx, (*path, "weight"))
    return None if weight is None else {"weight": weight}


def _weighted_admit(slot: Slot, L: Mapping[str, Any], opts: Mapping[str, Any]) -> Any:
    w = LoadSpec.per_rep(opts["weight"], slot.R, L)
    if w is None or w <= 0:
        return ("zero_weight", {"weight": w})
    return w


def _by_field_options(spec: Mapping[str, Any], ctx: Context, path: tuple[PathPart, ...]) -> Mapping[str, Any] | None:
    fld, owners, owner_field = spec.get("field"), spec.get("owners"), spec.get("owner_field")
    if owner_field is not None:
        if fld is not None or owners is not None:
            ctx.report(path, "compile.strategy", "by_field takes 'owner_field', or 'field' with 'owners', not both", "by_field 只能用 'owner_field',或 'field' 加 'owners',不能同时使用")
            return None
        ctx.reference(owner_field, [k for k in ctx.lead_env.lead], (*path, "owner_field"), "lead field", "线索字段")
        return {"owner_field": owner_field}
    if fld is None or owners is None:
        ctx.report(path, "compile.strategy", "by_field needs 'field' and 'owners' (or 'owner_field')", "by_field 需要 'field' 和 'owners'(或 'owner_field')")
        return None
    if not ctx.reference(fld, [k for k in ctx.lead_env.lead], (*path, "field"), "lead field", "线索字段"):
        return None
    table = {str(k): (tuple(v) if isinstance(v, list) else (v,)) for k, v in owners.items()}
    t = ctx.lead_env.lead[fld]
    if t.options is not None:
        for value in table:
            if value not in t.options:
                from rule_engine.errors import closest

                ctx.report((*path, "owners", value), "compile.option", "{v!r} is not an option of {f!r}", "{v!r} 不是 {f!r} 的选项", suggestion=closest(value, t.options), v=value, f=fld)
    return {"field": fld, "owners": table}


def _by_field_admit(slot: Slot, L: Mapping[str, Any], opts: Mapping[str, Any]) -> Any:
    if "owner_field" in opts:
        if L.get(opts["owner_field"]) != slot.rep.id:
            return ("not_owner_field", {"field": opts["owner_field"], "value": L.get(opts["owner_field"])})
        return None
    value = L.get(opts["field"])
    owners = opts["owners"].get(str(value)) if value is not None else None
    if not owners or slot.rep.id not in owners:
        return ("not_in_territory", {"field": opts["field"], "value": value})
    return None


def _by_field_rotation(policy: str, L: Mapping[str, Any], opts: Mapping[str, Any]) -> str:
    if "field" in opts:
        return f"{policy}:{L.get(opts['field'])}"
    return policy


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in [
        Strategy("round_robin", (), _no_options, None, lambda s, score, pos: pos),
        Strategy("least_loaded", (), _no_options, None, lambda s, score, pos: (s.load, s.today, pos)),
        Strategy("weighted", ("weight",), _weighted_options, _weighted_admit, lambda s, score, pos: pos),
        Strategy(
            "skill_match",
            ("score", "lead_tags", "rep_tags", "min_score"),
            _skill_options,
            _skill_admit,
            lambda s, score, pos: (-score, s.load, pos),
        ),
        Strategy("points_priority", (), _no_options, _points_admit, lambda s, score, pos: (-score, s.load, pos)),
        Strategy(
            "by_field",
            ("field", "owners", "owner_field"),
            _by_field_options,
            _by_field_admit,
            lambda s, score, pos: pos,
            _by_field_rotation,
        ),
        Strategy("pool", (), _no_options, None, lambda s, score, pos: pos),
    ]
}
_ALL_OPTIONS = {o for s in STRATEGIES.values() for o in s.options}

# ------------------------------------------------------------------------------------------------
# Policies
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """One compiled assignment policy."""

    name: str
    title: Text
    when: Condition | None
    eligible: Condition | None
    strategy: Strategy
    options: Mapping[str, Any]
    on_no_candidate: str
    rep_only: tuple[Condition, ...] = ()
    lead_only: tuple[Condition, ...] = ()
    mixed: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class AssignmentSpec:
    policies: tuple[Policy, ...] = ()
    otherwise: str = "pool"

    def policy(self, name: str) -> Policy:
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(name)


def compile_assignment(data: Mapping[str, Any] | None, ctx: Context, load: LoadSpec) -> AssignmentSpec:
    """Compile the ``assignment`` section."""
    if not data:
        return AssignmentSpec()
    policies = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(data.get("policies", [])):
        path: tuple[PathPart, ...] = ("assignment", "policies", i)
        name = spec["name"]
        if name in seen:
            ctx.report((*path, "name"), "compile.duplicate", "policy {n!r} is defined twice", "分配策略 {n!r} 重复定义", n=name)
            continue
        seen[name] = i
        strategy = STRATEGIES[spec["strategy"]]
        stray = sorted((set(spec) & _ALL_OPTIONS) - set(strategy.options))
        for key in stray:
            ctx.report((*path, key), "compile.strategy", "{k!r} is not an option of strategy {s!r}", "{k!r} 不是策略 {s!r} 的选项", k=key, s=strategy.name)
        opts = strategy.compile(spec, ctx, path)
        if opts is None:
            continue
        when = ctx.condition(spec.get("when"), (*path, "when"))
        eligible = ctx.condition(spec.get("eligible"), (*path, "eligible"), ctx.rep_env)
        if (spec.get("when") is not None and when is None) or (spec.get("eligible") is not None and eligible is None):
            continue
        rep_only: list[Condition] = []
        lead_only: list[Condition] = []
        mixed: list[Condition] = []
        if eligible is not None:
            for part in conjuncts(eligible, ctx.rep_env):
                if not part.lead_names and not part.rep_names & DYNAMIC_REP_ATTRS:
                    rep_only.append(part)
                elif not part.rep_names:
                    lead_only.append(part)
                else:
                    mixed.append(part)
        policies.append(
            Policy(
                name,
                text(spec.get("title"), name),
                when,
                eligible,
                strategy,
                opts,
                spec.get("on_no_candidate", "next"),
                tuple(rep_only),
                tuple(lead_only),
                tuple(mixed),
            )
        )
    return AssignmentSpec(tuple(policies), data.get("otherwise", "pool"))


# ------------------------------------------------------------------------------------------------
# The batch assigner
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignmentResult:
    decisions: list[Decision]
    state: RotationState
    roster: tuple[Rep, ...]


# Rep attributes that change while a batch runs; conditions reading them are checked per lead.
DYNAMIC_REP_ATTRS = frozenset({"load", "open_count", "assigned_today", "assigned_week"})


@dataclass
class _Run:
    slots: list[Slot]
    cursors: dict[str, str]
    weights: dict[str, dict[str, float]]
    L0: Mapping[str, Any]
    index: dict[str, int] = field(default_factory=dict)
    static: dict[str, tuple[list[Slot], tuple[CandidateNote, ...]]] = field(default_factory=dict)


def _static(policy: Policy, run: _Run, exclude: frozenset[str]) -> tuple[list[Slot], tuple[CandidateNote, ...]]:
    """Candidates of a policy before any lead is seen, and notes on the reps left out (shared by every lead)."""
    cached = run.static.get(policy.name)
    if cached is not None:
        return cached
    keep: list[Slot] = []
    notes: list[CandidateNote] = []
    for s in run.slots:
        if s.rep.id in exclude:
            notes.append(CandidateNote(s.rep.id, s.rep.display, "excluded"))
        elif s.unavailable is not None:
            notes.append(CandidateNote(s.rep.id, s.rep.display, s.unavailable))
        else:
            failed = next((c for c in policy.rep_only if not c.fn(run.L0, s.R)), None)
            if failed is None:
                keep.append(s)
            else:
                notes.append(CandidateNote(s.rep.id, s.name, "not_eligible", failed, s.R))
    cached = (keep, tuple(notes))
    run.static[policy.name] = cached
    return cached


Runner = Callable[[dict[str, Any], float, "PolicyNote | None"], "Slot | None"]


def _runner(policy: Policy, run: _Run, exclude: frozenset[str]) -> Runner:
    """A closure that picks an owner under ``policy`` for one lead, with everything bound once per batch."""
    strategy = policy.strategy
    static, static_notes = _static(policy, run, exclude)
    lead_only = policy.lead_only
    mixed = policy.mixed
    admit = strategy.admit
    key = strategy.key
    opts = policy.options
    weighted = strategy.name == "weighted"
    rotation_key = strategy.rotation_key
    cursors = run.cursors
    index = run.index
    n = len(run.slots)
    name = policy.name

    def pick(L: dict[str, Any], weight: float, note: PolicyNote | None) -> Slot | None:
        if note is not None:
            note.static = static_notes
        for cond in lead_only:
            if not cond.fn(L, None):
                if note is not None:
                    note.lead_failed = cond
                return None
        rot_key = name if rotation_key is None else rotation_key(name, L, opts)
        cursor = cursors.get(rot_key)
        c = index.get(cursor, -1) if cursor is not None else -1
        notes = note.candidates if note is not None else None
        best: Slot | None = None
        best_key: Any = None
        candidates: list[tuple[Slot, Any]] = []
        for s in static:
            cap = s.cap
            if cap is not None and s.load + weight > cap + 1e-9:
                if notes is not None:
                    notes.append((s.rep.id, s.name, "over_cap", s.load, cap))
                continue
            if s.daily is not None and s.today >= s.daily:
                if notes is not None:
                    notes.append((s.rep.id, s.name, "daily_quota", s.today, s.daily))
                continue
            if s.weekly is not None and s.week >= s.weekly:
                if notes is not None:
                    notes.append((s.rep.id, s.name, "weekly_quota", s.week, s.weekly))
                continue
            if mixed:
                failed = None
                for m in mixed:
                    if not m.fn(L, s.R):
                        failed = m
                        break
                if failed is not None:
                    if notes is not None:
                        # Rep values that change during the batch are copied; the others are shared.
                        snapshot = {k: s.R.get(k) for k in failed.rep_names} if failed.rep_names & DYNAMIC_REP_ATTRS else s.R
                        notes.append((s.rep.id, s.name, "not_eligible", failed, snapshot))
                    continue
            score = None
            if admit is not None:
                score = admit(s, L, opts)
                if isinstance(score, tuple):
                    if notes is not None:
                        notes.append((s.rep.id, s.name, score[0], score[1], None))
                    continue
            if weighted:
                candidates.append((s, score))
                continue
            k = key(s, score, (s.order - c - 1) % n)
            if best is None or k < best_key:
                best, best_key = s, k
            if notes is not None:
                notes.append((s.rep.id, s.name, "candidate", s.load, score))
        if weighted and candidates:
            # Smooth weighted round-robin: deterministic, spreads picks in proportion to weights.
            current = run.weights.setdefault(name, {})
            total = 0.0
            for s, w in candidates:
                current[s.rep.id] = current.get(s.rep.id, 0.0) + w
                total += w
            best = max((s for s, _ in candidates), key=lambda s: (current[s.rep.id], -((s.order - c - 1) % n)))
            current[best.rep.id] -= total
            if notes is not None:
                notes.extend((s.rep.id, s.name, "candidate", s.load, w) for s, w in candidates)
        if best is not None:
            cursors[rot_key] = best.rep.id
            if note is not None:
                note.chosen = best.rep.id
        return best

    return pick


def assign(
    template: CompiledTemplate,
    leads: Sequence[Mapping[str, Any]],
    roster: Sequence[Rep],
    state: RotationState | None,
    now: dt.datetime,
    *,
    explain: bool = False,
    exclude: frozenset[str] = frozenset(),
    policy: str | None = None,
) -> AssignmentResult:
    """Grade each lead and pick its owner; returns decisions, the new rotation state and roster.

    ``leads`` are records (typed values, each with an ``id``). ``exclude`` keeps reps out (e.g. the
    owner a lead is taken from); ``policy`` restricts to one named policy (triggers use it).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    state = state or RotationState()
    day = now.astimezone(template.timezone).date()
    ordered = sort_roster(roster)
    L0 = {NOW_KEY: now}
    slots = [Slot(rep, i, day, template.load, L0) for i, rep in enumerate(ordered)]
    run = _Run(slots, dict(state.cursors), {k: dict(v) for k, v in state.weights.items()}, L0)
    run.index = {s.rep.id: s.order for s in slots}
    by_id = {s.rep.id: s for s in slots}
    policies = template.assignment.policies
    if policy is not None:
        policies = tuple(p for p in policies if p.name == policy)
    otherwise = template.assignment.otherwise
    load = template.load
    decisions: list[Decision] = []
    append = decisions.append
    clock = template.clock(now)
    output_names = template.output_names
    values, grade, weight_of = template.values, template.grade, load.weight
    fallback_outcome = "escalated" if otherwise == "escalate" else "pool"
    # One entry per policy, bound once: (name, `when` closure or None, runner or None for pool, strategy, on_no_candidate)
    plan = [
        (p.name, p.when.fn if p.when is not None else None, None if p.strategy.name == "pool" else _runner(p, run, exclude), p.strategy.name, p.on_no_candidate)
        for p in policies
    ]
    for record in leads:
        L = values(record, now, clock)
        lead_id = str(record.get("id", ""))
        hits = None
        try:
            if explain:
                hits = template.grade_explained(L)
            else:
                grade(L)
        except EvaluationError as exc:
            append(Decision(lead_id, "error", None, None, 0.0, L, output_names, None, exc.problems[0]))
            continue
        trace = None
        if hits is None:
            weight = weight_of(L)
        else:
            weight, row = load.weight_and_row(L)
            trace = Trace(hits, [], None, row, weight)
        outcome, owner, chosen_policy = fallback_outcome, None, None
        for name, when, pick, strategy, on_none in plan:
            if when is not None and not when(L, None):
                continue
            note = None
            if trace is not None:
                note = PolicyNote(name, strategy)
                trace.policies.append(note)
            if pick is None:  # the pool strategy: leave the lead for claiming
                if note is not None:
                    note.result = "pool"
                outcome, chosen_policy = "pool", name
                break
            slot = pick(L, weight, note)
            if slot is not None:
                slot.take(weight)
                outcome, owner, chosen_policy = "assigned", slot.rep.id, name
                if note is not None:
                    note.result = "chosen"
                break
            if note is not None:
                note.result = on_none
            if on_none != "next":
                outcome, chosen_policy = ("pool" if on_none == "pool" else "escalated"), name
                break
        else:
            if trace is not None:
                trace.otherwise = otherwise
        append(Decision(lead_id, outcome, owner, chosen_policy, weight, L, output_names, trace))
    new_state = RotationState(run.cursors, run.weights)
    return AssignmentResult(decisions, new_state, tuple(by_id[r.id].result() for r in ordered))


def owner_eligible(template: CompiledTemplate, policy: Policy, L: Mapping[str, Any], rep: Rep, now: dt.datetime) -> tuple[bool, str | None]:
    """Whether ``rep`` still qualifies for ``policy`` for this lead (ignoring cap and quotas,
    which concern new leads). Returns the failing condition's source when not."""
    day = now.astimezone(template.timezone).date()
    R = rep.values(day)
    if policy.eligible is not None and not policy.eligible.fn(L, R):
        return False, policy.eligible.source
    return True, None


def problems_of(decisions: Sequence[Decision]) -> list[Problem]:
    """The evaluation problems of a batch, each under the lead's id."""
    return [d.error.under(d.lead_id) for d in decisions if d.error is not None]
