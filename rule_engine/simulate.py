"""Run a whole template over leads and reps in memory, writing nothing: what ``fenpei simulate`` shows.

Leads without an owner are graded and assigned in input order; leads with an owner are graded
and checked against the reclaim rules. Starting loads are each rep's own ``load`` plus the
weights of the open leads (``load.open_when``) the input already gives them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rule_engine.assignment import assign
from rule_engine.conditions import NOW_KEY
from rule_engine.reclaim import ReclaimVerdict, verdict_for
from rule_engine.roster import Rep, RotationState, sort_roster
from rule_engine.template import CompiledTemplate
from rule_engine.trace import Decision, grading_sentence

__all__ = ["LeadResult", "Simulation", "fairness", "simulate"]


@dataclass
class LeadResult:
    id: str
    outputs: dict[str, Any]
    owner: str | None
    policy: str | None
    outcome: str  # assigned | pool | escalated | error | owned
    explanation: str
    reclaim: ReclaimVerdict | None = None
    decision: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "outputs": self.outputs,
            "owner": self.owner,
            "policy": self.policy,
            "explanation": self.explanation,
            "outcome": self.outcome,
        }
        if self.reclaim is not None:
            out["reclaim"] = {
                "action": self.reclaim.action,
                "rule": self.reclaim.rule,
                "deadline": self.reclaim.deadline.isoformat() if self.reclaim.deadline else None,
            }
        return out


@dataclass
class Simulation:
    leads: list[LeadResult]
    summary: dict[str, Any]
    state: RotationState
    roster: tuple[Rep, ...] = field(default=())


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative values (0 = perfectly even)."""
    n = len(values)
    total = sum(values)
    if n == 0 or total == 0:
        return 0.0
    ordered = sorted(values)
    weighted = sum((i + 1) * v for i, v in enumerate(ordered))
    return (2 * weighted) / (n * total) - (n + 1) / n


def fairness(counts: Mapping[str, int]) -> dict[str, Any]:
    """Spread (max - min) and Gini of assignment counts among eligible reps."""
    values = list(counts.values())
    return {
        "eligible_reps": len(values),
        "spread": (max(values) - min(values)) if values else 0,
        "gini": round(gini(values), 4),
        "min": min(values) if values else 0,
        "max": max(values) if values else 0,
    }


def simulate(
    template: CompiledTemplate,
    leads: Sequence[Mapping[str, Any]],
    reps: Sequence[Rep],
    now: dt.datetime,
    *,
    state: RotationState | None = None,
    lang: str = "en",
) -> Simulation:
    """Grade, assign and check reclaim for every lead; returns per-lead results and a summary."""
    roster = sort_roster(reps)
    by_id = {r.id: r for r in roster}
    owned = [r for r in leads if r.get("owner")]
    new = [r for r in leads if not r.get("owner")]
    extra: dict[str, float] = {}
    owned_count: Counter[str] = Counter()
    for record in owned:
        L = template.values(record, now)
        try:
            template.grade(L)
        except Exception:  # an evaluation error is reported for the lead below
            continue
        if not template.load.counts(L):
            continue
        extra[record["owner"]] = extra.get(record["owner"], 0.0) + template.load.weight(L)
        owned_count[record["owner"]] += 1
    start = [replace(r, load=r.load + extra.get(r.id, 0.0), open_count=r.open_count + owned_count.get(r.id, 0)) for r in roster]
    result = assign(template, new, start, state, now, explain=True)
    decisions = {d.lead_id: d for d in result.decisions}

    day = now.astimezone(template.timezone).date()
    owner_values = {r.id: r.values(day) for r in roster}
    out: list[LeadResult] = []
    reclaim_counts: Counter[str] = Counter()
    due: list[dict[str, Any]] = []
    for record in leads:
        lead_id = str(record.get("id", ""))
        if record.get("owner"):
            L = template.values(record, now)
            try:
                hits = template.grade_explained(L)
            except Exception as exc:  # EvaluationError: reported per lead, never a traceback
                problem = getattr(exc, "problems", [None])[0]
                out.append(LeadResult(lead_id, template.outputs(L), record["owner"], None, "error", problem.message(lang) if problem else str(exc)))
                continue
            verdict = verdict_for(template.reclaim, L, now, owner_values.get(record["owner"]))
            reclaim_counts[verdict.action] += 1
            if verdict.action in ("reclaim", "remind"):
                due.append({"id": lead_id, "owner": verdict.owner, "action": verdict.action, "rule": verdict.rule, "deadline": verdict.deadline.isoformat() if verdict.deadline else None})
            grading = grading_sentence(hits, L, lang)
            sentence = (grading + (";" if lang.startswith("zh") else "; ") if grading else "") + verdict.explain(template, lang)
            out.append(LeadResult(lead_id, template.outputs(L), record["owner"], None, "owned", sentence, verdict))
            continue
        d = decisions[lead_id]
        out.append(LeadResult(lead_id, d.outputs, d.owner, d.policy, d.outcome, d.explain(template, lang), None, d))

    summary = _summary(template, out, result.roster, start, reclaim_counts, due, now)
    return Simulation(out, summary, result.state, result.roster)


def _summary(
    template: CompiledTemplate,
    results: list[LeadResult],
    after: Sequence[Rep],
    before: Sequence[Rep],
    reclaim_counts: Mapping[str, int],
    due: list[dict[str, Any]],
    now: dt.datetime,
) -> dict[str, Any]:
    grades: dict[str, dict[str, int]] = {}
    for t in template.segments:
        c: Counter[str] = Counter()
        for r in results:
            v = r.outputs.get(t.name)
            c["∅" if v is None else (", ".join(map(str, v)) if isinstance(v, list) else str(v))] += 1
        grades[t.name] = dict(sorted(c.items()))
    outcomes = Counter(r.outcome for r in results)
    assigned: Counter[str] = Counter(r.owner for r in results if r.outcome == "assigned" and r.owner)
    eligible: set[str] = set()
    for r in results:
        if r.decision is not None and r.decision.trace is not None:
            for p in r.decision.trace.policies:
                eligible.update(c[0] for c in p.candidates if c[2] == "candidate")
    before_by_id = {r.id: r for r in before}
    day_reps = []
    for rep in after:
        R = rep.values(now.astimezone(template.timezone).date())
        cap = template.load.per_rep(template.load.cap, R, {NOW_KEY: now})
        day_reps.append(
            {
                "id": rep.id,
                "name": rep.display,
                "status": rep.status,
                "assigned": assigned.get(rep.id, 0),
                "load_before": round(before_by_id[rep.id].load, 4),
                "load": round(rep.load, 4),
                "cap": cap,
            }
        )
    return {
        "template": template.name,
        "leads": len(results),
        "outcomes": dict(sorted(outcomes.items())),
        "grades": grades,
        "reps": day_reps,
        "pool": outcomes.get("pool", 0),
        "escalated": outcomes.get("escalated", 0),
        "errors": outcomes.get("error", 0),
        "fairness": fairness({rid: assigned.get(rid, 0) for rid in sorted(eligible)}),
        "reclaim": {k: reclaim_counts.get(k, 0) for k in ("reclaim", "remind", "protected", "keep")},
        "due": due,
    }
