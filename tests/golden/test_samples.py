"""Golden tests of the four sample templates over their sample leads and reps.

For each sample, ``fenpei simulate --json --now 2026-11-23T09:00:00+08:00`` must print exactly
``tests/golden/<sample>.jsonl``. After an intended change, regenerate the files and review the diff:

    FENPEI_UPDATE_GOLDEN=1 python -m pytest tests/golden -p no:cacheprovider

Besides the snapshot, the tests check what must hold whatever the snapshot says (outcomes, caps,
unavailable reps, explanations, reclaim deadlines, grade counts) and a few outcomes worked out by
hand from the CSV files and the templates.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
NOW_TEXT = "2026-11-23T09:00:00+08:00"
NOW = dt.datetime.fromisoformat(NOW_TEXT)
TODAY = dt.date(2026, 11, 23)
SAMPLES = ("b2b_software", "medical_devices", "consumer_goods_regional", "finance_points")
UPDATE = os.environ.get("FENPEI_UPDATE_GOLDEN") == "1"
OUTCOMES = {"assigned", "pool", "escalated", "owned"}


def fenpei_command() -> list[str]:
    for name in ("fenpei", "fenpei.exe"):
        candidate = Path(sys.executable).with_name(name)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    found = shutil.which("fenpei")
    if found:
        return [found]
    return [sys.executable, "-c", "from configurator.cli import main; main()"]


def simulate_json(sample: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANG")}
    env.update({"FENPEI_LANG": "en", "PYTHONIOENCODING": "utf-8"})
    proc = subprocess.run(
        [
            *fenpei_command(),
            "simulate",
            f"templates/{sample}.yaml",
            "--leads",
            f"examples/{sample}/leads.csv",
            "--reps",
            f"examples/{sample}/reps.csv",
            "--now",
            NOW_TEXT,
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,  # a safety net against a hang, not a speed assertion
        check=False,
    )
    stdout, stderr = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    assert proc.returncode == 0 and stderr == "", f"simulate {sample} -> exit {proc.returncode}\n{stderr}\n{stdout[-2000:]}"
    assert "Traceback" not in stdout
    return stdout


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    """The `simulate --json` output of every sample, run as a user runs it."""
    with ThreadPoolExecutor(max_workers=len(SAMPLES)) as pool:
        return dict(zip(SAMPLES, pool.map(simulate_json, SAMPLES)))


class Run:
    """One sample's JSON output and inputs, indexed for the checks below."""

    def __init__(self, sample: str, stdout: str) -> None:
        objects = [json.loads(line) for line in stdout.splitlines()]
        *self.leads, last = objects
        self.summary: dict[str, Any] = last["summary"]
        self.by_id = {lead["id"]: lead for lead in self.leads}
        self.reps_csv = {row["id"]: row for row in read_csv(ROOT / "examples" / sample / "reps.csv")}
        self.leads_csv = {row["id"]: row for row in read_csv(ROOT / "examples" / sample / "leads.csv")}
        self.reps = {rep["id"]: rep for rep in self.summary["reps"]}
        self.assigned = Counter(lead["owner"] for lead in self.leads if lead["outcome"] == "assigned")

    def unavailable_today(self) -> set[str]:
        """Reps paused, inactive or on leave on 2026-11-23, read from reps.csv (leave days included)."""
        out = set()
        for rid, row in self.reps_csv.items():
            on_leave = bool(row["leave_from"]) and dt.date.fromisoformat(row["leave_from"]) <= TODAY <= dt.date.fromisoformat(row["leave_to"])
            if row["status"] in ("paused", "inactive") or on_leave:
                out.add(rid)
        return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def runs(outputs: dict[str, str]) -> dict[str, Run]:
    return {sample: Run(sample, text) for sample, text in outputs.items()}


# --- the snapshot -----------------------------------------------------------------------------------


def readable_difference(expected: str, actual: str, limit: int = 3) -> str:
    """The first ``limit`` differing leads (and the summary), each as a diff of pretty JSON."""
    exp, act = expected.splitlines(), actual.splitlines()
    parts = []
    if len(exp) != len(act):
        parts.append(f"{len(exp)} lines expected, {len(act)} printed")

    def label(line: str) -> str:
        obj = json.loads(line)
        return "summary" if "summary" in obj else f"lead {obj.get('id')}"

    def pretty(line: str) -> list[str]:
        return json.dumps(json.loads(line), ensure_ascii=False, indent=2, sort_keys=True).splitlines()

    shown = 0
    for i, (e, a) in enumerate(zip(exp, act), start=1):
        if e == a:
            continue
        if shown == limit and "summary" not in a:
            continue
        diff = difflib.unified_diff(pretty(e), pretty(a), f"golden line {i} ({label(e)})", f"printed line {i} ({label(a)})", n=1, lineterm="")
        parts.append("\n".join(diff))
        shown += "summary" not in a
    differing = sum(e != a for e, a in zip(exp, act))
    parts.insert(0, f"{differing} of {min(len(exp), len(act))} lines differ; the first ones:")
    return "\n\n".join(parts)


@pytest.mark.parametrize("sample", SAMPLES)
def test_output_matches_golden_file(sample: str, outputs: dict[str, str]) -> None:
    golden = GOLDEN / f"{sample}.jsonl"
    actual = outputs[sample]
    if UPDATE:
        golden.write_text(actual, encoding="utf-8", newline="\n")
    assert golden.exists(), f"{golden} is missing: run with FENPEI_UPDATE_GOLDEN=1 to create it, then review it"
    expected = golden.read_text(encoding="utf-8")
    if actual != expected:
        pytest.fail(
            f"simulate {sample} differs from {golden.relative_to(ROOT)}.\n"
            "If the change is intended, rerun with FENPEI_UPDATE_GOLDEN=1 and review the diff.\n\n" + readable_difference(expected, actual),
            pytrace=False,
        )


# --- invariants: hold whatever the snapshot says -------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_lead_has_a_known_outcome(sample: str, runs: dict[str, Run]) -> None:
    run = runs[sample]
    assert [lead["id"] for lead in run.leads] == list(run.leads_csv), "one object per lead, in input order"
    for lead in run.leads:
        assert lead["outcome"] in OUTCOMES, lead
        assert lead["outcome"] == "owned" if run.leads_csv[lead["id"]]["owner"] else lead["outcome"] != "owned", lead
        assert (lead["owner"] is not None) == (lead["outcome"] in ("assigned", "owned")), lead
    assert run.summary["outcomes"] == dict(Counter(lead["outcome"] for lead in run.leads))
    assert run.summary["pool"] == sum(lead["outcome"] == "pool" for lead in run.leads)
    assert run.summary["escalated"] == sum(lead["outcome"] == "escalated" for lead in run.leads)
    assert run.summary["errors"] == 0


@pytest.mark.parametrize("sample", SAMPLES)
def test_caps_are_respected(sample: str, runs: dict[str, Run]) -> None:
    """No rep ends above its cap unless it started above it; a rep starting at or above gets nothing."""
    run = runs[sample]
    assert set(run.reps) == set(run.reps_csv)
    for rid, rep in run.reps.items():
        assert rep["assigned"] == run.assigned.get(rid, 0), rep
        assert rep["load"] >= rep["load_before"], rep
        if rep["cap"] is None:
            continue
        if rep["load_before"] >= rep["cap"]:
            assert rep["assigned"] == 0 and rep["load"] == rep["load_before"], rep
        else:
            assert rep["load"] <= rep["cap"] + 1e-9, rep
        if rep["assigned"] == 0:
            assert rep["load"] == rep["load_before"], rep


@pytest.mark.parametrize("sample", SAMPLES)
def test_unavailable_reps_receive_no_lead(sample: str, runs: dict[str, Run]) -> None:
    run = runs[sample]
    away = run.unavailable_today()
    assert away, "each sample has reps who are paused, inactive or on leave"
    got = {rid: n for rid, n in run.assigned.items() if rid in away}
    assert got == {}, f"unavailable reps received leads: {got}"


@pytest.mark.parametrize("sample", SAMPLES)
def test_assigned_leads_name_a_known_owner(sample: str, runs: dict[str, Run]) -> None:
    run = runs[sample]
    assigned = [lead for lead in run.leads if lead["outcome"] == "assigned"]
    assert assigned
    for lead in assigned:
        assert lead["owner"] in run.reps_csv, lead
        assert lead["policy"], lead
        # The explanation ends with its conclusion, which names the owner (by name or id).
        conclusion = lead["explanation"].rsplit(";", 1)[-1]
        name = run.reps_csv[lead["owner"]]["name"]
        assert name in conclusion or lead["owner"] in conclusion, (lead["id"], conclusion)
    for lead in run.leads:
        if lead["outcome"] in ("pool", "escalated"):
            assert lead["owner"] is None, lead


@pytest.mark.parametrize("sample", SAMPLES)
def test_reclaim_deadlines_agree_with_the_action(sample: str, runs: dict[str, Run]) -> None:
    run = runs[sample]
    due = []
    for lead in run.leads:
        if lead["outcome"] != "owned":
            assert "reclaim" not in lead, lead
            continue
        verdict = lead["reclaim"]
        assert verdict["action"] in {"reclaim", "remind", "protected", "keep"}, lead
        if verdict["action"] in ("reclaim", "remind"):
            deadline = dt.datetime.fromisoformat(verdict["deadline"])
            assert verdict["rule"], lead
            assert (deadline < NOW) if verdict["action"] == "reclaim" else (deadline > NOW), lead
            due.append((lead["id"], lead["owner"], verdict["action"], verdict["rule"], verdict["deadline"]))
        if verdict["action"] == "protected":
            assert verdict["rule"] is None and verdict["deadline"] is None, lead
    assert due, "each sample has leads due for a reminder or a reclaim"
    assert [(d["id"], d["owner"], d["action"], d["rule"], d["deadline"]) for d in run.summary["due"]] == due
    counts = Counter(lead["reclaim"]["action"] for lead in run.leads if lead["outcome"] == "owned")
    assert run.summary["reclaim"] == {k: counts.get(k, 0) for k in ("reclaim", "remind", "protected", "keep")}


def _label(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


@pytest.mark.parametrize("sample", SAMPLES)
def test_grade_distribution_matches_the_leads(sample: str, runs: dict[str, Run]) -> None:
    run = runs[sample]
    tables = list(run.summary["grades"])
    assert tables
    for lead in run.leads:
        assert list(lead["outputs"]) == tables, lead
    for table in tables:
        counted = Counter(_label(lead["outputs"][table]) for lead in run.leads)
        assert run.summary["grades"][table] == dict(counted), table
        assert sum(run.summary["grades"][table].values()) == len(run.leads)


# --- facts worked out by hand from examples/<sample>/*.csv and templates/<sample>.yaml ----------------


def test_b2b_software_by_hand(runs: dict[str, Run]) -> None:
    run = runs["b2b_software"]

    # L00012 (new): healthcare +20, budget confirmed +25, 291 employees +10, partner +10, no close
    # date -> score 65. Deal 154k < 200k -> value low; no decision chain, no competitor, standard
    # product -> difficulty low (default). Quadrant low/low is not the bulk-nurture cell, so the score
    # decides: 65 >= 60 -> tier A -> key_accounts_in_region: senior/expert reps covering east are
    # r01 (load 3), r02 and r07 (over the cap of 10), r23 (load 3); r09 and r13 are senior/mid but
    # away. r01 and r23 tie at 3; the first tier A lead breaks the tie in rep-id order -> r01.
    lead = run.by_id["L00012"]
    assert lead["outputs"] == {"value": "low", "difficulty": "low", "quadrant": "low_value_low_difficulty", "score": 65, "tier": "A"}
    assert (lead["outcome"], lead["policy"]) == ("assigned", "key_accounts_in_region")
    assert run.reps["r01"]["load_before"] == run.reps["r23"]["load_before"] == 3
    assert lead["owner"] == "r01"

    # L00126 (new): deal 68k -> low; heavy customisation -> difficulty high -> quadrant
    # low_value_high_difficulty -> tier C by the first row whatever the score; no tier A/B policy
    # applies and nurture_in_bulk (strategy pool) takes it: left in the pool.
    lead = run.by_id["L00126"]
    assert (lead["outputs"]["value"], lead["outputs"]["difficulty"], lead["outputs"]["tier"]) == ("low", "high", "C")
    assert lead["outputs"]["quadrant"] == "low_value_high_difficulty"
    assert (lead["outcome"], lead["policy"], lead["owner"]) == ("pool", "nurture_in_bulk", None)

    # L00006 (owned by r18, stage proposal): deal 211k -> medium; several competitors -> high;
    # retail 20 + budget 25 + 212 employees 10 + CEO 15 + partner 10 + closes 2027-01-11 (49 days)
    # 10 = 90 -> tier A. It has follow-ups, so the 3-day rule does not apply; tier A and not in
    # negotiation/won -> key_account_stale: last follow-up 11-11 13:14 + 7 days = 11-18 13:14 < now.
    lead = run.by_id["L00006"]
    assert (lead["outputs"]["value"], lead["outputs"]["difficulty"], lead["outputs"]["score"], lead["outputs"]["tier"]) == ("medium", "high", 90, "A")
    assert lead["reclaim"] == {"action": "reclaim", "rule": "key_account_stale", "deadline": "2026-11-18T13:14:00+08:00"}

    # L00093 (owned by r04, stage new, no follow-up): deal 27k -> low; 3 decision makers and light
    # customisation -> medium; retail 20 only (85 employees, website, close date 237 days away) ->
    # score 20 -> tier C. Assigned 11-14 20:20 + 3 days = 11-17 20:20 < now -> no_first_followup.
    lead = run.by_id["L00093"]
    assert lead["outputs"] == {"value": "low", "difficulty": "medium", "quadrant": "low_value_medium_difficulty", "score": 20, "tier": "C"}
    assert lead["reclaim"] == {"action": "reclaim", "rule": "no_first_followup", "deadline": "2026-11-17T20:20:00+08:00"}

    # examples/README.md: r02 and r07 start at or over the cap of 10 and get nothing; r04 is paused,
    # r09 on leave 11-18..11-27, r13 from today, r20 has left; r17's leave is in December.
    for rid in ("r02", "r07"):
        assert run.reps[rid]["load_before"] >= 10 and run.reps[rid]["assigned"] == 0
    assert run.unavailable_today() == {"r04", "r09", "r13", "r20"}
    assert run.assigned["r17"] > 0
    # README: 9 past the 3-day deadline and 7 reminders; 18 stale (3 tier A, reassigned) and 9
    # reminders; 19 protected.
    assert reclaim_counts(run) == {
        ("no_first_followup", "reclaim"): 9,
        ("no_first_followup", "remind"): 7,
        ("key_account_stale", "reclaim"): 3,
        ("stale", "reclaim"): 15,
        ("stale", "remind"): 9,
        (None, "protected"): 19,
    }


def test_medical_devices_by_hand(runs: dict[str, Run]) -> None:
    run = runs["medical_devices"]

    # L00024 (new): private hospital with a 2.26M budget -> tier key (row 3); public tender ->
    # long_cycle; listed, contact is a department head, budget < 5M, no tender date -> no flags.
    # tender_closers wants a long-cycle rep with executive rapport covering zhejiang: only r09
    # (r10 is short-cycle and on leave, r16 inactive and without rapport). Overlap {imaging} >= 1.
    lead = run.by_id["L00024"]
    assert lead["outputs"] == {"tier": "key", "deal_cycle": "long_cycle", "attention": None}
    assert (lead["outcome"], lead["policy"], lead["owner"]) == ("assigned", "tender_closers", "r09")

    # L00088 (owned by r03, stage new, no visit): grade 3A -> strategic; tender and a 4.72M budget
    # -> long_cycle; tender closes 12-01 (8 days) -> tender_due_soon; not listed -> needs_listing.
    # Protection needs tender_due_soon AND a follow-up: none yet, so not protected.
    # strategic_no_first_visit: assigned 11-18 14:09 + 3 days = 11-21 14:09 < now -> reclaim.
    lead = run.by_id["L00088"]
    assert lead["outputs"] == {"tier": "strategic", "deal_cycle": "long_cycle", "attention": ["tender_due_soon", "needs_listing"]}
    assert lead["reclaim"] == {"action": "reclaim", "rule": "strategic_no_first_visit", "deadline": "2026-11-21T14:09:00+08:00"}

    # Personal caps (rep field capacity). Only open leads weigh (load.open_when: not won/lost):
    # r08 (cap 8) holds 11 of open load and receives nothing; r06 (cap 18) starts at 17, so it can
    # take new weight only up to its cap exactly (two leads of 0.5), and no further.
    r08, r06 = run.reps["r08"], run.reps["r06"]
    assert (r08["cap"], r08["load_before"], r08["assigned"], r08["load"]) == (8, 11, 0, 11)
    assert (r06["cap"], r06["load_before"], r06["assigned"], r06["load"]) == (18, 17, 2, 18)
    assert run.unavailable_today() == {"r10", "r12", "r16"}
    # README: 4 grade-3A projects not visited in 3 days, 5 past the 5-day deadline, 9 stale,
    # 13 reminders, 36 protected.
    counts = reclaim_counts(run)
    assert counts[("strategic_no_first_visit", "reclaim")] == 4
    assert counts[("no_first_visit", "reclaim")] == 5
    assert counts[("stale", "reclaim")] == 9
    assert sum(n for (_, action), n in counts.items() if action == "remind") == 13
    assert counts[(None, "protected")] == 36


def test_medical_devices_matches_need_a_common_product_line(runs: dict[str, Run]) -> None:
    run = runs["medical_devices"]
    leads = {r["id"]: r for r in read_csv(ROOT / "examples" / "medical_devices" / "leads.csv")}
    misses = []
    for lead in run.leads:
        if lead["outcome"] == "assigned":
            wanted = set(leads[lead["id"]]["product_lines"].split(";"))
            known = set(run.reps_csv[lead["owner"]]["product_lines"].split(";"))
            if not wanted & known:
                misses.append((lead["id"], lead["policy"], lead["owner"], sorted(wanted), sorted(known)))
    assert misses == []


def test_consumer_goods_regional_by_hand(runs: dict[str, Run]) -> None:
    run = runs["consumer_goods_regional"]

    # L00022 (new): an online community group-buying store, no monthly purchases given -> only
    # the convenience/wholesale/online row (1) -> potential 1 -> grade C. Not referred, C and
    # online -> small_outlets_to_pool.
    lead = run.by_id["L00022"]
    assert lead["outputs"] == {"outlet_potential": 1, "store_grade": "C"}
    assert (lead["outcome"], lead["policy"], lead["owner"]) == ("pool", "small_outlets_to_pool", None)

    # L00032 (new): supermarket buying 44.5k a month -> 3 (>= 30k), 2, 2 -> max 3 -> grade A.
    # A store introduced by r11, who covers fujian and is available -> referred_by_colleague.
    lead = run.by_id["L00032"]
    assert lead["outputs"] == {"outlet_potential": 3, "store_grade": "A"}
    assert (lead["outcome"], lead["policy"], lead["owner"]) == ("assigned", "referred_by_colleague", "r11")

    # L00144 (new): a distributor in guangdong -> potential 3, grade A; not a store, so not the
    # referral policy; distributors: channel managers covering guangdong are r14 and r15 (r16
    # covers fujian/guangxi); it is the first distributor of the batch, so loads are the starting
    # ones and r15 is the less loaded.
    lead = run.by_id["L00144"]
    assert lead["outputs"] == {"outlet_potential": 3, "store_grade": "A"}
    assert run.reps["r15"]["load_before"] < run.reps["r14"]["load_before"]
    assert (lead["outcome"], lead["policy"], lead["owner"]) == ("assigned", "distributors", "r15")

    # Daily quota of 10 new outlets per rep, counting those already taken today.
    for rid, rep in run.reps.items():
        assert int(run.reps_csv[rid]["assigned_today"] or 0) + rep["assigned"] <= 10, rep
    assert run.unavailable_today() == {"r06", "r09", "r12", "r13"}
    assert reclaim_counts(run) == {
        ("no_followup_7_days", "reclaim"): 27,
        ("no_followup_7_days", "remind"): 14,
        ("stuck_45_days", "reclaim"): 13,
        ("stuck_45_days", "remind"): 4,
        (None, "protected"): 8,
    }


def test_finance_points_by_hand(runs: dict[str, Run]) -> None:
    run = runs["finance_points"]

    # L00009 (new, stage qualified): an individual with 4.04M -> value medium (< 6M); only
    # other_bank_main applies -> complexity 1 -> difficulty medium. Qualified -> qualified_to_rm by
    # points: r09 and r10 tie at 402, but r10 has taken his 4 leads today (daily quota 4) -> r09.
    lead = run.by_id["L00009"]
    assert lead["outputs"] == {"value": "medium", "complexity": 1, "difficulty": "medium"}
    assert (lead["outcome"], lead["policy"], lead["owner"]) == ("assigned", "qualified_to_rm", "r09")

    # L00016 (new): an institution with 102.1M -> value high (row 2); no complication ->
    # complexity 0, difficulty low. high_value_by_points: senior/expert corporate RMs are r12
    # (weekly quota 5 * 4 = 20 already used), r13 and r14 (paused) -> r13.
    lead = run.by_id["L00016"]
    assert lead["outputs"] == {"value": "high", "complexity": 0, "difficulty": "low"}
    assert (lead["outcome"], lead["policy"], lead["owner"]) == ("assigned", "high_value_by_points", "r13")

    # L00008 (new, stage contacted): 980k -> value low; other_bank_main, three products, and a
    # c2 client asking for funds/trusts -> complexity 3 -> difficulty high. Not high value, not
    # qualified -> qualification_desk, so the owner is a qualifier.
    lead = run.by_id["L00008"]
    assert lead["outputs"] == {"value": "low", "complexity": 3, "difficulty": "high"}
    assert (lead["outcome"], lead["policy"]) == ("assigned", "qualification_desk")
    assert run.reps_csv[lead["owner"]]["role"] == "qualifier"

    # L00102 (owned by r18, stage new, no call yet): 590k -> low; cross-border -> complexity 1 ->
    # medium. desk_no_first_call: assigned 11-22 09:50 + 1 day = 11-23 09:50, 50 minutes after now
    # and within the 6-hour reminder window -> remind.
    lead = run.by_id["L00102"]
    assert lead["outputs"] == {"value": "low", "complexity": 1, "difficulty": "medium"}
    assert lead["reclaim"] == {"action": "remind", "rule": "desk_no_first_call", "deadline": "2026-11-23T09:50:00+08:00"}

    # Personal quotas (rep field daily_capacity): per day, and four days' worth per week.
    for rid, rep in run.reps.items():
        row = run.reps_csv[rid]
        daily = int(row["daily_capacity"])
        assert int(row["assigned_today"]) + rep["assigned"] <= daily, rep
        assert int(row["assigned_week"]) + rep["assigned"] <= 4 * daily, rep
    for rid in ("r10", "r12"):  # README: r10's daily and r12's weekly quota are used up
        assert run.reps[rid]["assigned"] == 0
    assert run.unavailable_today() == {"r04", "r08", "r14", "r17", "r18"}
    assert reclaim_counts(run) == {
        ("desk_no_first_call", "reclaim"): 7,
        ("desk_no_first_call", "remind"): 4,
        ("rm_no_first_contact", "reclaim"): 2,
        ("rm_no_first_contact", "remind"): 3,
        ("stale", "reclaim"): 11,
        ("stale", "remind"): 8,
        (None, "protected"): 12,
    }


def reclaim_counts(run: Run) -> dict[tuple[str | None, str], int]:
    """(rule, action) -> number of owned leads, leaving out those that are kept."""
    return dict(
        Counter(
            (lead["reclaim"]["rule"], lead["reclaim"]["action"])
            for lead in run.leads
            if lead["outcome"] == "owned" and lead["reclaim"]["action"] != "keep"
        )
    )
