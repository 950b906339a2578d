"""Engine throughput against hand-written Python of the same rules, measured in the same run.

The sample template ``templates/b2b_software.yaml`` (value x difficulty grading, a score table, a
tier table, load weights 3 / 1.5 / 0.5 with cap 10, six policies with fallbacks and a pool policy) grades and
assigns N synthetic leads in memory. Leads arrive in batches of ``--batch`` (a day's intake); each
batch starts from the same roster snapshot (yesterday's leads were worked off) and carries the
rotation state on. The floor is plain Python written by hand for exactly these rules; it must
reach the same owners and tiers, and the benchmark checks that it does (by a running digest).
The inputs are built before timing and frozen out of the garbage collector's way (``gc.freeze``),
for both runs: a service holds one batch, not a million leads.

Last line: JSON ``{"n", "floor_per_s", "engine_per_s", "engine_explain_per_s", "x_floor", "x_floor_explain"}``
where ``x_floor`` = engine time / floor time.

    python benchmarks/engine.py --n 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rule_engine import Rep, RotationState, assign, load_template  # noqa: E402

TZ = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
REGIONS = ["north", "east", "south", "central", "west"]
LEVELS = ["junior", "mid", "senior", "expert"]
INDUSTRIES = ["manufacturing", "finance", "healthcare", "retail", "logistics", "internet", "education", "government"]


def make_leads(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    leads = []
    today = NOW.date()
    for i in range(n):
        lead: dict[str, Any] = {
            "id": f"L{i:07d}",
            "industry": rng.choice(INDUSTRIES),
            "region": rng.choice(REGIONS),
            "deal_size": rng.choice((30_000, 80_000, 150_000, 250_000, 600_000, 1_200_000, 3_000_000)),
            "budget_confirmed": rng.random() < 0.4,
            "employees": rng.choice((20, 150, 400, 2_000)),
            "decision_makers": rng.randint(1, 6),
            "competitor": rng.choice(("none", "one", "several")),
            "customization": rng.choice(("standard", "light", "heavy")),
            "contact_role": rng.choice(("ceo", "cio", "it_manager", "business_head", "procurement", "staff")),
            "source": rng.choice(("website", "referral", "partner", "event", "outbound")),
            "stage": "new",
        }
        if rng.random() < 0.5:
            lead["expected_close_date"] = today + dt.timedelta(days=rng.randint(-10, 200))
        leads.append(lead)
    return leads


def make_reps(count: int = 20, seed: int = 11) -> list[Rep]:
    rng = random.Random(seed)
    reps = []
    for i in range(1, count + 1):
        status = "paused" if i % 9 == 0 else "active"
        reps.append(
            Rep(
                id=f"r{i:02d}",
                name=f"Rep {i}",
                attrs={"level": LEVELS[i % 4], "regions": tuple(sorted(rng.sample(REGIONS, 2)))},
                status=status,
                load=rng.choice((0.0, 1.5, 3.0, 4.5)),
            )
        )
    return reps


# --------------------------------------------------------------------------------------------
# The floor: the template's rules written by hand.
# --------------------------------------------------------------------------------------------

TIER_OF_SCORE = ((60, "A"), (35, "B"))
BIG_INDUSTRIES = frozenset(("manufacturing", "finance", "healthcare", "retail"))
SENIOR = frozenset(("senior", "expert"))
MID_SENIOR = frozenset(("mid", "senior"))


class Digest:
    """A running fingerprint of (owner, tier) per lead, so both runs can be compared without
    keeping a million results alive (a growing list would slow the garbage collector for both)."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.count = 0

    def add(self, owner: str | None, tier: str) -> None:
        self.sha.update(f"{owner}|{tier}\n".encode())
        self.count += 1

    def result(self) -> tuple[int, str]:
        return self.count, self.sha.hexdigest()


def floor_run(leads: list[dict[str, Any]], reps: list[Rep], batch: int) -> tuple[int, str]:
    today = NOW.date()
    ordered = sorted(reps, key=lambda r: r.id)
    n = len(ordered)
    active = [r.status == "active" for r in ordered]
    level = [r.attrs["level"] for r in ordered]
    regions = [r.attrs["regions"] for r in ordered]
    cursors: dict[str, int] = {}
    out = Digest()
    for start in range(0, len(leads), batch):
        results = []
        load = [r.load for r in ordered]
        count = [0] * n
        for lead in leads[start : start + batch]:
            ds = lead.get("deal_size")
            value = "high" if ds is not None and ds >= 1_000_000 else ("medium" if ds is not None and ds >= 200_000 else "low")
            dm = lead.get("decision_makers")
            comp = lead.get("competitor")
            cust = lead.get("customization")
            if (dm is not None and dm >= 5) or comp == "several" or cust == "heavy":
                difficulty = "high"
            elif (dm is not None and dm >= 3) or comp == "one" or cust == "light":
                difficulty = "medium"
            else:
                difficulty = "low"
            quadrant = f"{value}_value_{difficulty}_difficulty"
            score = 0
            if lead.get("industry") in BIG_INDUSTRIES:
                score += 20
            if lead.get("budget_confirmed") is True:
                score += 25
            emp = lead.get("employees")
            if emp is not None and emp >= 1000:
                score += 20
            if emp is not None and 200 <= emp < 1000:
                score += 10
            if lead.get("contact_role") in ("ceo", "cio"):
                score += 15
            if lead.get("source") in ("referral", "partner"):
                score += 10
            close = lead.get("expected_close_date")
            if close is not None and (close - today).days <= 90:
                score += 10
            if quadrant == "low_value_high_difficulty":
                tier = "C"
            elif score >= 60:
                tier = "A"
            elif score >= 35:
                tier = "B"
            else:
                tier = "C"
            weight = 3.0 if quadrant == "high_value_high_difficulty" else (1.5 if value in ("high", "medium") else 0.5)
            region = lead.get("region")
            owner = None
            policy = None
            if tier == "A":
                plan = (("key_accounts_in_region", SENIOR, True, "least", "next"), ("key_accounts_any_region", SENIOR, False, "least", "escalate"))
            elif tier == "B":
                plan = (("growth_accounts", MID_SENIOR, True, "rr", "next"), ("growth_accounts_overflow", MID_SENIOR, False, "rr", "pool"))
            elif quadrant == "low_value_high_difficulty":
                plan = ()  # policy nurture_in_bulk: left in the pool for claiming
                policy = "nurture_in_bulk"
            else:
                plan = (("starter_accounts", frozenset(("junior",)), False, "rr", "next"),)
            for name, levels, in_region, how, fallback in plan:
                c = cursors.get(name, -1)
                best = -1
                best_key: tuple[Any, ...] = ()
                for i in range(n):
                    if not active[i] or level[i] not in levels or load[i] + weight > 10 + 1e-9:
                        continue
                    if in_region and region not in regions[i]:
                        continue
                    pos = (i - c - 1) % n
                    key = (load[i], count[i], pos) if how == "least" else (pos,)
                    if best < 0 or key < best_key:
                        best, best_key = i, key
                if best >= 0:
                    load[best] += weight
                    count[best] += 1
                    cursors[name] = best
                    owner, policy = ordered[best].id, name
                    break
                if fallback != "next":
                    policy = name
                    break
            results.append((owner, policy, {"value": value, "difficulty": difficulty, "quadrant": quadrant, "score": score, "tier": tier}))
        # A batch's results are consumed (stored, sent) and dropped; keep what the cross-check needs.
        for owner, _, outputs in results:
            out.add(owner, outputs["tier"])
    return out.result()


def engine_run(template: Any, leads: list[dict[str, Any]], reps: list[Rep], batch: int, explain: bool) -> tuple[int, str]:
    state = RotationState()
    out = Digest()
    for start in range(0, len(leads), batch):
        result = assign(template, leads[start : start + batch], reps, state, NOW, explain=explain)
        state = result.state
        # As in the floor: the batch's decisions are consumed and dropped.
        for d in result.decisions:
            out.add(d.owner, d.values["tier"])
    return out.result()


def render_rate(template: Any, leads: list[dict[str, Any]], reps: list[Rep], count: int) -> float:
    """Explanation sentences rendered per second (rendering is on demand, after the decision)."""
    decisions = assign(template, leads[:count], reps, RotationState(), NOW, explain=True).decisions
    t0 = time.perf_counter()
    for d in decisions:
        d.explain(template, "zh")
        d.explain(template, "en")
    return 2 * len(decisions) / (time.perf_counter() - t0)


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of leads (default 100000)")
    parser.add_argument("--batch", type=int, default=1_000, help="leads per assignment batch (default 1000)")
    parser.add_argument("--reps", type=int, default=20, help="reps in the roster (default 20)")
    args = parser.parse_args()
    template = load_template(ROOT / "templates" / "b2b_software.yaml")
    leads = make_leads(args.n)
    reps = make_reps(args.reps)
    # The million input leads stay alive for the whole run, which a service never does (it holds
    # one batch). Freezing them keeps the garbage collector from rescanning them for floor and
    # engine alike; what each run allocates is collected as usual.
    gc.collect()
    gc.freeze()

    floor_s, floor_out = timed(floor_run, leads, reps, args.batch)
    engine_s, engine_out = timed(engine_run, template, leads, reps, args.batch, False)
    explain_s, explain_out = timed(engine_run, template, leads, reps, args.batch, True)
    # Same rules, same owners: a benchmark of two different computations would mean nothing.
    for name, out in (("engine", engine_out), ("engine with explanations", explain_out)):
        if out != floor_out:
            raise SystemExit(f"floor and {name} disagree on the owners or tiers of {args.n} leads")
    del floor_out, engine_out, explain_out
    sample = assign(template, leads[:200], reps, RotationState(), NOW, explain=True).decisions[-1]
    print(f"sample explanation: {sample.explain(template, 'en')[:400]}...")
    rate = render_rate(template, leads, reps, min(args.n, 5_000))

    print(f"leads: {args.n:,}   reps: {args.reps}   batch: {args.batch}")
    print(f"floor (hand-written):  {floor_s:8.3f} s  {args.n / floor_s:12,.0f} leads/s")
    print(f"engine:                {engine_s:8.3f} s  {args.n / engine_s:12,.0f} leads/s   x{engine_s / floor_s:.2f} floor")
    print(f"engine + explanations: {explain_s:8.3f} s  {args.n / explain_s:12,.0f} leads/s   x{explain_s / floor_s:.2f} floor")
    print(f"rendering explanation sentences on demand: {rate:,.0f} sentences/s")
    print(
        json.dumps(
            {
                "n": args.n,
                "floor_per_s": round(args.n / floor_s),
                "engine_per_s": round(args.n / engine_s),
                "engine_explain_per_s": round(args.n / explain_s),
                "x_floor": round(engine_s / floor_s, 3),
                "x_floor_explain": round(explain_s / floor_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
