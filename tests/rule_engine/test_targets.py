"""Targets in the engine: the ``targets`` section, plans (SMART checks), exact splits and roll-ups,
and rules that read completion (``rep.target_completion``, ``rep.completion_X``, ``team.completion``)."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal

import pytest

from rule_engine import Event, Rep, TemplateError, assign, loads_template, score_event
from rule_engine.targets import completion, elapsed_share, rate, read_plan, rollup, split

NOW = dt.datetime.fromisoformat("2026-11-23T09:00:00+08:00")

TEMPLATE = textwrap.dedent(
    """\
    fenpei: 1
    name: targets_test
    title: Targets test
    fields:
      company: {type: string}
      deal_size: {type: number}
      customer: {type: enum, options: [new, existing]}
      stage: {type: enum, options: [new, won]}
    won_when: 'stage == "won"'
    assignment:
      policies:
        - name: fresh_to_behind
          eligible: 'rep.completion_new_customers < 0.8'
          strategy: least_loaded
    points:
      period: quarter
      rules:
        - name: team_hit_target
          on: period.ended
          when: 'team.completion >= 1'
          amount: 50
          once: per_rep_period
    targets:
      period: quarter
      levels: [company, product_line, region, team, rep]
      metrics:
        - {name: revenue, kind: revenue, field: deal_size}
        - {name: new_customers, kind: new_customers, when: 'customer == "new"'}
        - {name: visits, kind: visits, when: 'method == "visit"'}
        - {name: followups, kind: followups_logged}
    forms:
      followup:
        fields:
          method: {type: enum, options: [call, visit]}
    """
)


@pytest.fixture(scope="module")
def template():  # type: ignore[no-untyped-def]
    return loads_template(TEMPLATE)


TEAMS = {"east": "targets_test", "west": "targets_test"}
REPS = {"r1": "east", "r2": "east", "r3": "west", "r4": "west"}


def four_levels(amount: object = "1000000.00", **overrides: object) -> dict[str, object]:
    east = {"level": "team", "key": "east", "owner": "mgr_e", "split": "manual", "children": [{"level": "rep", "key": "r1", "amount": "100000.01"}, {"level": "rep", "key": "r2", "amount": "66666.66"}]}
    west = {"level": "team", "key": "west", "owner": "mgr_w", "children": [{"level": "rep", "key": "r3", "weight": 1}, {"level": "rep", "key": "r4", "weight": 2}]}
    tree = {
        "level": "company",
        "key": "acme",
        "owner": "ceo",
        "amount": amount,
        "children": [
            {
                "level": "region",
                "key": "north",
                "owner": "vp_n",
                "weight": 1,
                "split": "weights",
                "children": [east, west],
            },
            {"level": "region", "key": "south", "owner": "vp_s", "weight": 2, "children": [{"level": "team", "key": "south_team", "owner": "mgr_s"}]},
        ],
    }
    plan = {"period": "2026-Q4", "metric": "revenue", "tree": tree}
    plan.update(overrides)
    return plan


def test_split_is_exact_and_deterministic() -> None:
    assert split(Decimal("100.00"), [Decimal(1)] * 3) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert split(Decimal("10"), [Decimal(1), Decimal(1), Decimal(1)], Decimal(1)) == [Decimal(4), Decimal(3), Decimal(3)]
    assert split(Decimal("0.05"), [Decimal(0), Decimal(0)]) == [Decimal("0.03"), Decimal("0.02")]  # no history: equal
    many = split(Decimal("1000000.00"), [Decimal(str(w)) for w in (0.1, 0.2, 0.3, 7, 11, 13)])
    assert sum(many) == Decimal("1000000.00") and all(m == m.quantize(Decimal("0.01")) for m in many)


def test_four_level_tree_splits_and_rolls_up_exactly(template) -> None:  # type: ignore[no-untyped-def]
    # south_team is not a known team: added here so the plan reads.
    plan, problems = read_plan(four_levels(), template.targets, teams={**TEAMS, "south_team": "targets_test"}, reps=REPS)
    assert problems == []
    assert plan is not None
    amounts = {n.path: n.amount for n in plan.nodes()}
    # Worked out by hand. 1,000,000.00 by 1:2 is 333,333.333… and 666,666.666…: rounded down,
    # 333,333.33 + 666,666.66 leaves one cent, which goes to the larger remainder (south).
    assert (amounts["acme/north"], amounts["acme/south"]) == (Decimal("333333.33"), Decimal("666666.67"))
    assert amounts["acme/south/south_team"] == Decimal("666666.67")
    # north 1:1 gives 166,666.665 each: the cent left goes to the earlier child on a tie (east).
    assert (amounts["acme/north/east"], amounts["acme/north/west"]) == (Decimal("166666.67"), Decimal("166666.66"))
    # east's reps are set by hand (they add up); west's 166,666.66 by 1:2: 55,555.553… and 111,111.106….
    assert (amounts["acme/north/east/r1"], amounts["acme/north/east/r2"]) == (Decimal("100000.01"), Decimal("66666.66"))
    assert (amounts["acme/north/west/r3"], amounts["acme/north/west/r4"]) == (Decimal("55555.55"), Decimal("111111.11"))
    for node in plan.nodes():
        if node.children:
            assert sum(c.amount for c in node.children) == node.amount, node.path
    results = {"r1": Decimal("0.10"), "r2": Decimal("0.20"), "r3": Decimal("100000.10"), "r4": Decimal("0.70"), "south_team": Decimal("1.01")}
    rolled = rollup(plan.root, lambda n: results.get(n.key, Decimal(0)))
    assert rolled["acme/north/west"] == Decimal("100000.80")
    assert rolled["acme"] == Decimal("100002.11")  # 0.1 + 0.2 + 100000.1 + 0.7 + 1.01, no float drift
    assert completion(rolled["acme"], amounts["acme"]) == Decimal("0.1000")
    assert completion(Decimal("1"), Decimal("3")) == Decimal("0.3333")
    assert completion(Decimal("1"), Decimal("0")) is None


def test_manual_children_that_do_not_add_up_are_a_located_error(template) -> None:  # type: ignore[no-untyped-def]
    # east's reps are set by hand: make them miss the team's share by one cent.
    plan = four_levels()
    east = plan["tree"]["children"][0]["children"][0]  # type: ignore[index]
    east["children"][1]["amount"] = "66666.65"
    _, problems = read_plan(plan, template.targets, teams={**TEAMS, "south_team": "x"}, reps=REPS)
    assert [(p.code, p.json_path) for p in problems] == [("target.sum", "$.tree.children[0].children[0].children")]
    assert problems[0].en == "the children of acme/north/east add up to 166,666.66, not 166,666.67 (0.01 short)"


@pytest.mark.parametrize(
    "edit, code, path",
    [
        (lambda p: p.update(period="2026-13"), "target.period", "$.period"),
        (lambda p: p.update(metric="revenu"), "target.metric", "$.metric"),
        (lambda p: p["tree"].pop("owner"), "target.owner", "$.tree"),
        (lambda p: p["tree"].update(amount="12.345"), "target.amount", "$.tree.amount"),
        (lambda p: p["tree"].update(amount="lots"), "target.amount", "$.tree.amount"),
        (lambda p: p["tree"].pop("amount"), "target.amount", "$.tree"),
        (lambda p: p["tree"]["children"][1]["children"][0].update(key="nowhere"), "target.team", "$.tree.children[1].children[0].key"),
        (lambda p: p["tree"]["children"][0]["children"][0].update(level="region"), "target.level", "$.tree.children[0].children[0].level"),
        (lambda p: p["tree"]["children"][0]["children"][1]["children"][0].update(key="r1"), "target.rep", "$.tree.children[0].children[1].children[0].key"),
        (lambda p: p["tree"]["children"][0].update(amount=5), "target.amount", "$.tree.children[0].amount"),
        (lambda p: p["tree"].update(colour="red"), "target.key", "$.tree.colour"),
    ],
    ids=["period", "metric", "owner", "cents", "not-a-number", "no-amount", "team", "level-order", "rep-in-other-team", "amount-under-weights", "unknown-key"],
)
def test_smart_checks(template, edit, code, path) -> None:  # type: ignore[no-untyped-def]
    plan = four_levels()
    edit(plan)
    _, problems = read_plan(plan, template.targets, teams={**TEAMS, "south_team": "x"}, reps=REPS)
    assert (problems[0].code, problems[0].json_path) == (code, path), problems


def test_history_split_uses_last_periods_results(template) -> None:  # type: ignore[no-untyped-def]
    plan = {"period": "2026-Q4", "metric": "new_customers", "tree": {"level": "team", "key": "east", "owner": "m", "amount": 10, "split": "history", "children": [{"level": "rep", "key": "r1"}, {"level": "rep", "key": "r2"}]}}
    last = {"r1": Decimal(3), "r2": Decimal(1)}
    read, problems = read_plan(plan, template.targets, teams=TEAMS, reps=REPS, history=lambda node: last[node.key])
    assert problems == [] and read is not None
    assert [c.amount for c in read.root.children] == [Decimal(8), Decimal(2)]  # 7.5 and 2.5: the tie goes to the earlier


def test_health_bands_and_pace() -> None:
    bands = {"coverage": (Decimal("0.9"), Decimal("0.7")), "first_response_hours": (Decimal(24), Decimal(72))}
    assert [rate("coverage", Decimal(v), bands) for v in ("0.95", "0.9", "0.8", "0.69")] == ["green", "green", "yellow", "red"]
    assert [rate("first_response_hours", Decimal(v), bands) for v in ("3", "24", "50", "73")] == ["green", "green", "yellow", "red"]
    assert rate("coverage", None, bands) == "grey"
    start = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
    assert elapsed_share(start, start + dt.timedelta(days=4), start + dt.timedelta(days=1)) == Decimal("0.25")


def test_bad_targets_sections_are_located() -> None:
    bad = TEMPLATE.replace("{name: revenue, kind: revenue, field: deal_size}", "{name: revenue, kind: revenue, field: company}").replace(
        "{name: visits, kind: visits, when: 'method == \"visit\"'}", "{name: visits, kind: visits}"
    )
    with pytest.raises(TemplateError) as info:
        loads_template(bad)
    assert sorted(p.json_path for p in info.value.problems) == ["$.targets.metrics[0].field", "$.targets.metrics[2]"]
    with pytest.raises(TemplateError) as info:
        loads_template(TEMPLATE.replace("'team.completion >= 1'", "'team.completed >= 1'"))
    assert info.value.problems[0].suggestion == "completion"


def _rep(rid: str, **figures: float) -> Rep:
    return Rep(rid, rid, team="east", figures=figures)


def test_eligibility_reads_completion(template) -> None:  # type: ignore[no-untyped-def]
    lead, problems = template.lead_record({"id": "L1", "company": "A", "deal_size": 10, "customer": "new", "stage": "new"})
    assert problems == []
    reps = [
        _rep("r1", completion_new_customers=0.9),  # ahead: not eligible
        _rep("r2", completion_new_customers=0.5),  # behind: eligible
        _rep("r3"),  # no target: the figure is missing, so the comparison is false
    ]
    decision = assign(template, [lead], reps, None, NOW, explain=True).decisions[0]
    assert decision.owner == "r2"
    reps[1] = _rep("r2", completion_new_customers=0.8)  # exactly at 0.8 is not "< 0.8"
    assert assign(template, [lead], reps, None, NOW).decisions[0].owner is None


def test_point_rule_reads_team_completion(template) -> None:  # type: ignore[no-untyped-def]
    at = dt.datetime.fromisoformat("2026-12-31T23:59:59+08:00")
    reached = {"r1": _rep("r1", **{"team.completion": 1.0}), "r2": _rep("r2", **{"team.completion": 0.9999})}
    earned = {rid: score_event(template, Event("period.ended", f"period:east:2026-Q4:{rid}", at, rep=rid), reps=reached) for rid in reached}
    assert [(e.rep, e.amount, e.period) for e in earned["r1"]] == [("r1", 50.0, "2026-Q4")]
    assert earned["r2"] == []


def test_activity_and_results_of_a_won_deal(template) -> None:  # type: ignore[no-untyped-def]
    spec = template.targets
    assert spec.activity_of({"method": "visit"}) == "visits"
    assert spec.activity_of({"method": "call"}) is None  # counted only by followups (no when)
    assert spec.results_of({"deal_size": 0.1 + 0.2, "customer": "new"}) == [("revenue", Decimal("0.30")), ("new_customers", Decimal(1))]
    assert spec.results_of({"deal_size": 1500, "customer": "existing"}) == [("revenue", Decimal("1500.00"))]
