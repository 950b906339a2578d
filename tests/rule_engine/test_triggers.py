"""Triggers: a grade or stage change re-checks the owner; a rep going away or over cap."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from rule_engine import CompiledTemplate, Rep, RotationState, on_lead_change, on_rep_over_cap, on_rep_unavailable

Build = Callable[..., CompiledTemplate]
RepFactory = Callable[..., Rep]

NOW = dt.datetime.fromisoformat("2026-11-23T09:00:00+08:00")

BASE = """
segments:
  - name: tier
    rules:
      - {when: 'deal_size >= 1000000', output: A}
      - {when: 'deal_size >= 200000', output: B}
    default: C
load:
  cap: 10
assignment:
  policies:
    - name: key_accounts
      when: 'tier == "A"'
      eligible: 'rep.level in ["senior", "expert"] and rep.team == "sales"'
      strategy: least_loaded
    - name: closing
      when: 'stage == "negotiation"'
      eligible: 'rep.team == "closing"'
      strategy: round_robin
      on_no_candidate: pool
    - name: others
      eligible: 'rep.team == "sales"'
      strategy: round_robin
"""

TRIGGERS = BASE + """
triggers:
  - name: upgrade_recheck
    on: grade_changed
    table: tier
    action: {grade_action}
    message: {{zh: 这个客户可能更适合由资深销售跟进, en: This account may suit a senior rep better}}
  - name: to_closing
    on: stage_changed
    when: 'stage == "negotiation"'
    action: reassign
    policy: closing
  - name: leave
    on: rep_unavailable
    action: {leave_action}
  - name: overload
    on: rep_over_cap
    action: pause_intake
"""


def template(build: Build, grade_action: str = "reassign_if_ineligible", leave_action: str = "redistribute") -> CompiledTemplate:
    return build(TRIGGERS.replace("{grade_action}", grade_action).replace("{leave_action}", leave_action).replace("{{", "{").replace("}}", "}"))


def roster(rep: RepFactory) -> list[Rep]:
    return [
        rep("r01", "Li", level="junior", team="sales", load=1.0),
        rep("r02", "Wang", level="senior", team="sales", load=4.0),
        rep("r03", "Zhao", level="expert", team="sales", load=2.0),
        rep("r04", "Sun", level="expert", team="sales", load=0.0, on_leave=True),
        rep("r05", "Zhou", level="senior", team="closing", load=0.0),
        rep("r06", "Wu", level="senior", team="closing", load=3.0),
    ]


def by_id(reps: list[Rep], rep_id: str) -> Rep:
    return next(r for r in reps if r.id == rep_id)


def lead(**values: Any) -> dict[str, Any]:
    return {"id": "l1", "owner": "r01", "stage": "contacted", **values}


# ------------------------------------------------------------------------------------------------
# Grade changes
# ------------------------------------------------------------------------------------------------


def test_upgrade_keeps_an_owner_who_still_qualifies(build: Build, rep: RepFactory) -> None:
    t = template(build)
    reps = roster(rep)
    state = RotationState({"others": "r02"})
    outcomes, new_state = on_lead_change(t, lead(owner="r02", deal_size=10), lead(owner="r02", deal_size=2_000_000), by_id(reps, "r02"), reps, state, NOW)
    (o,) = outcomes
    assert (o.trigger, o.action, o.old_owner, o.new_owner, o.handover, o.decision) == ("upgrade_recheck", "keep", "r02", "r02", False, None)
    assert o.explain("en") == "tier changed from C to A; Wang still qualifies for policy key_accounts"
    assert o.explain("zh").startswith("tier 由 C 变为 A;Wang 仍符合策略 key_accounts,保留")
    assert new_state is state


def test_upgrade_reassigns_with_a_handover_when_the_owner_no_longer_qualifies(build: Build, rep: RepFactory) -> None:
    t = template(build)
    reps = roster(rep)
    outcomes, new_state = on_lead_change(t, lead(deal_size=10), lead(deal_size=2_000_000), by_id(reps, "r01"), reps, None, NOW)
    (o,) = outcomes
    assert (o.action, o.old_owner, o.new_owner, o.handover) == ("reassign", "r01", "r03", True)  # least loaded senior/expert available
    assert o.decision is not None and o.decision.policy == "key_accounts"
    assert o.explain("en") == (
        'tier changed from C to A; Li no longer qualifies for policy key_accounts (rep.level in ["senior", "expert"] and rep.team == "sales"): '
        "This account may suit a senior rep better"
    )
    assert "不再符合策略 key_accounts" in o.explain("zh")
    assert new_state.cursors == {"key_accounts": "r03"}


def test_a_reassignment_never_goes_back_to_the_old_owner(build: Build, rep: RepFactory) -> None:
    t = template(build, grade_action="reassign")
    reps = [rep("r02", level="senior", team="sales", load=0.0), rep("r03", level="expert", team="sales", load=9.0)]
    outcomes, _ = on_lead_change(t, lead(owner="r02", deal_size=10), lead(owner="r02", deal_size=2_000_000), reps[0], reps, None, NOW)
    (o,) = outcomes
    assert (o.action, o.new_owner) == ("reassign", "r03")  # r02 is the least loaded, but it is the owner
    assert o.decision is not None and o.decision.trace is not None
    skipped = {c.rep: c.reason for c in o.decision.trace.policies[0].notes()}
    assert skipped["r02"] == "excluded"


def test_no_other_candidate_sends_the_lead_on_as_the_policies_say(build: Build, rep: RepFactory) -> None:
    t = template(build, grade_action="reassign")
    reps = [rep("r02", level="senior", team="sales")]
    (o,), _ = on_lead_change(t, lead(owner="r02", deal_size=10), lead(owner="r02", deal_size=2_000_000), reps[0], reps, None, NOW)
    assert (o.action, o.new_owner, o.handover) == ("pool", None, False)


@pytest.mark.parametrize(
    "before, after",
    [({"deal_size": 2_000_000}, {"deal_size": 3_000_000}), ({"deal_size": 10}, {"deal_size": 20}), ({}, {"deal_size": 5})],
    ids=["A to A", "C to C", "unset to C"],
)
def test_no_grade_change_no_outcome(build: Build, rep: RepFactory, before: dict[str, Any], after: dict[str, Any]) -> None:
    t = template(build)
    reps = roster(rep)
    outcomes, state = on_lead_change(t, lead(**before), lead(**after), by_id(reps, "r01"), reps, None, NOW)
    assert outcomes == []
    assert state == RotationState()


def test_a_downgrade_also_rechecks_the_owner(build: Build, rep: RepFactory) -> None:
    t = template(build)
    reps = roster(rep)
    (o,), _ = on_lead_change(t, lead(owner="r05", deal_size=2_000_000), lead(owner="r05", deal_size=300_000), by_id(reps, "r05"), reps, None, NOW)
    # tier B falls to `others`, for the sales team only
    assert (o.action, o.old_owner, o.new_owner) == ("reassign", "r05", "r01")


def test_suggest_changes_nothing(build: Build, rep: RepFactory) -> None:
    t = template(build, grade_action="suggest")
    reps = roster(rep)
    state = RotationState({"key_accounts": "r02"})
    before_reps = list(reps)
    outcomes, new_state = on_lead_change(t, lead(deal_size=10), lead(deal_size=2_000_000), by_id(reps, "r01"), reps, state, NOW)
    (o,) = outcomes
    assert (o.action, o.old_owner, o.new_owner) == ("suggest", "r01", "r03")
    assert new_state is state and state.cursors == {"key_accounts": "r02"}
    assert reps == before_reps
    assert o.explain("en") == "tier changed from C to A; suggest handing over to Zhao: This account may suit a senior rep better"
    assert o.explain("zh") == "tier 由 C 变为 A;建议转交给 Zhao:这个客户可能更适合由资深销售跟进"


# ------------------------------------------------------------------------------------------------
# Stage changes
# ------------------------------------------------------------------------------------------------


def test_stage_change_hands_the_lead_to_the_closing_team(build: Build, rep: RepFactory) -> None:
    t = template(build)
    reps = roster(rep)
    (o,), state = on_lead_change(t, lead(stage="contacted"), lead(stage="negotiation"), by_id(reps, "r01"), reps, RotationState({"closing": "r05"}), NOW)
    assert (o.trigger, o.action, o.old_owner, o.new_owner, o.handover) == ("to_closing", "reassign", "r01", "r06", True)
    assert o.decision is not None and o.decision.policy == "closing"
    assert state.cursors["closing"] == "r06"
    assert o.explain("en") == "stage changed from contacted to negotiation"


def test_stage_change_within_the_closing_team_goes_to_the_other_closer(build: Build, rep: RepFactory) -> None:
    t = template(build)
    reps = roster(rep)
    (o,), _ = on_lead_change(t, lead(owner="r06", stage="contacted"), lead(owner="r06", stage="negotiation"), by_id(reps, "r06"), reps, RotationState({"closing": "r05"}), NOW)
    assert o.new_owner == "r05"


@pytest.mark.parametrize("before, after", [("contacted", "contacted"), ("new", "contacted"), ("negotiation", "won")])
def test_other_stage_changes_do_nothing(build: Build, rep: RepFactory, before: str, after: str) -> None:
    t = template(build)
    reps = roster(rep)
    assert on_lead_change(t, lead(stage=before), lead(stage=after), by_id(reps, "r01"), reps, None, NOW)[0] == []


def test_several_triggers_on_one_change(build: Build, rep: RepFactory) -> None:
    t = template(build)
    reps = roster(rep)
    outcomes, state = on_lead_change(t, lead(deal_size=10, stage="new"), lead(deal_size=2_000_000, stage="negotiation"), by_id(reps, "r01"), reps, None, NOW)
    assert [(o.trigger, o.action, o.new_owner) for o in outcomes] == [("upgrade_recheck", "reassign", "r03"), ("to_closing", "reassign", "r05")]
    assert state.cursors == {"key_accounts": "r03", "closing": "r05"}


# ------------------------------------------------------------------------------------------------
# Reps going away or over cap
# ------------------------------------------------------------------------------------------------


def test_rep_unavailable_redistributes_the_open_leads(build: Build, rep: RepFactory) -> None:
    t = template(build)
    reps = roster(rep)
    leaving = by_id(reps, "r02")
    leads = [lead(id="a", owner="r02", deal_size=2_000_000), lead(id="b", owner="r02", deal_size=10), lead(id="c", owner="r02", deal_size=20), lead(id="d", owner="r02", stage="negotiation")]
    outcomes, state = on_rep_unavailable(t, leaving, leads, reps, None, NOW)
    assert [(o.lead_id, o.action, o.old_owner, o.new_owner, o.handover) for o in outcomes] == [
        ("a", "reassign", "r02", "r03", True),
        ("b", "reassign", "r02", "r01", True),
        ("c", "reassign", "r02", "r03", True),
        ("d", "reassign", "r02", "r05", True),
    ]
    assert all(o.new_owner not in ("r02", "r04") for o in outcomes)
    assert state.cursors == {"key_accounts": "r03", "others": "r03", "closing": "r05"}
    assert outcomes[0].explain("en") == "Wang is unavailable; reassigned to Zhao"
    assert outcomes[0].explain("zh") == "Wang 暂不可用,改派给 Zhao"


def test_rep_unavailable_to_the_pool(build: Build, rep: RepFactory) -> None:
    t = template(build, leave_action="pool")
    reps = roster(rep)
    state = RotationState({"others": "r01"})
    outcomes, new_state = on_rep_unavailable(t, by_id(reps, "r02"), [lead(id="a", owner="r02"), lead(id="b", owner="r02")], reps, state, NOW)
    assert [(o.lead_id, o.action, o.new_owner) for o in outcomes] == [("a", "pool", None), ("b", "pool", None)]
    assert new_state is state
    assert outcomes[0].explain("en") == "Wang is unavailable; lead returned to the pool"


def test_without_a_trigger_nothing_happens(build: Build, rep: RepFactory) -> None:
    t = build(BASE)
    reps = roster(rep)
    assert on_rep_unavailable(t, reps[1], [lead(owner="r02")], reps, None, NOW) == ([], RotationState())
    assert on_rep_over_cap(t, rep("r01", load=50.0), NOW) == []
    assert on_lead_change(t, lead(deal_size=1), lead(deal_size=2_000_000), reps[0], reps, None, NOW)[0] == []


@pytest.mark.parametrize("load, paused", [(10.5, True), (10.0, False), (3.0, False)])
def test_rep_over_cap_pauses_intake(build: Build, rep: RepFactory, load: float, paused: bool) -> None:
    t = template(build)
    outcomes = on_rep_over_cap(t, rep("r02", "Wang", load=load), NOW)
    assert [o.action for o in outcomes] == (["pause_intake"] if paused else [])
    if paused:
        assert outcomes[0].explain("en") == "Wang's load 10.5 is over the cap 10: intake paused"
        assert outcomes[0].explain("zh") == "Wang 的负载 10.5 超过上限 10:暂停接单"
