"""Decision tables: every hit policy, defaults, table order, and optimised tables against a reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rule_engine import CompiledTemplate, CompileError, EvaluationError, assign
from rule_engine.analysis import optimize
from rule_engine.conditions import Env, compile_condition
from rule_engine.fields import Text
from rule_engine.segments import Row, Table
from rule_engine.types import BOOLEAN, NUMBER, field_value_type

Build = Callable[..., CompiledTemplate]

# ------------------------------------------------------------------------------------------------
# Each hit policy: a small table, leads, the output and the rows that decided it
# ------------------------------------------------------------------------------------------------

TABLES: dict[str, str] = {
    "first": """
        - name: value
          hit_policy: first
          rules:
            - {when: 'deal_size >= 1000000', output: high}
            - {when: 'deal_size >= 200000', output: medium}
          default: low
    """,
    "unique": """
        - name: band
          hit_policy: unique
          rules:
            - {when: 'deal_size >= 1000000', output: big}
            - {when: 'deal_size >= 100000 and deal_size < 1000000', output: mid}
            - {when: 'deal_size < 100000', output: small}
    """,
    "priority": """
        - name: difficulty
          hit_policy: priority
          priorities: [high, medium, low]
          rules:
            - {when: 'employees >= 3', output: medium}
            - {when: 'industry == "medical"', output: high}
            - {when: 'budget_confirmed', output: low}
            - {when: 'region == "east"', output: medium}
          default: low
    """,
    "priority_by_appearance": """
        - name: label
          hit_policy: priority
          rules:
            - {when: 'employees >= 3', output: first_seen}
            - {when: 'industry == "medical"', output: second_seen}
    """,
    "any": """
        - name: hot
          hit_policy: any
          rules:
            - {when: 'deal_size >= 1000000', output: true}
            - {when: 'industry == "medical"', output: true}
            - {when: 'region == "east"', output: false}
          default: false
    """,
    "collect_sum": """
        - name: score
          hit_policy: collect
          aggregate: sum
          rules:
            - {when: 'industry in ["medical", "finance"]', output: 20}
            - {when: 'budget_confirmed == true', output: 25}
            - {when: 'employees >= 1000', output: 20}
            - {when: 'deal_size is set', output_expr: 'round(deal_size / 100000)'}
          default: 0
    """,
    "collect_min": """
        - name: lowest
          hit_policy: collect
          aggregate: min
          rules:
            - {when: 'industry in ["medical", "finance"]', output: 20}
            - {when: 'budget_confirmed == true', output: 25}
            - {when: 'employees >= 1000', output: 5}
    """,
    "collect_max": """
        - name: highest
          hit_policy: collect
          aggregate: max
          rules:
            - {when: 'industry in ["medical", "finance"]', output: 20}
            - {when: 'budget_confirmed == true', output: 25}
            - {when: 'employees >= 1000', output: 5}
          default: -1
    """,
    "collect_count": """
        - name: signals
          hit_policy: collect
          aggregate: count
          rules:
            - {when: 'industry in ["medical", "finance"]', output: 1}
            - {when: 'budget_confirmed == true', output: 1}
            - {when: 'employees >= 1000', output: 1}
    """,
    "collect_list": """
        - name: reasons
          hit_policy: collect
          rules:
            - {when: 'industry in ["medical", "finance"]', output: target_industry}
            - {when: 'budget_confirmed == true', output: budget}
            - {when: 'employees >= 1000', output: large}
    """,
    "rule_order": """
        - name: flags
          hit_policy: rule_order
          rules:
            - {when: 'employees >= 1000', output: large}
            - {when: 'industry in ["medical", "finance"]', output: target_industry}
            - {when: 'budget_confirmed == true', output: budget}
          default: [none]
    """,
}

CASES: list[tuple[str, dict[str, Any], Any, tuple[int, ...]]] = [
    # table, lead, output, matched rows (0-based)
    ("first", {"deal_size": 2_000_000}, "high", (0,)),
    ("first", {"deal_size": 1_000_000}, "high", (0,)),
    ("first", {"deal_size": 500_000}, "medium", (1,)),
    ("first", {"deal_size": 10}, "low", ()),
    ("first", {}, "low", ()),
    ("unique", {"deal_size": 1_000_000}, "big", (0,)),
    ("unique", {"deal_size": 999_999}, "mid", (1,)),
    ("unique", {"deal_size": 100_000}, "mid", (1,)),
    ("unique", {"deal_size": 0}, "small", (2,)),
    ("unique", {}, None, ()),  # no row, no default: unset
    ("priority", {"employees": 5, "industry": "medical"}, "high", (1,)),
    ("priority", {"employees": 5, "budget_confirmed": True}, "medium", (0,)),
    ("priority", {"region": "east", "budget_confirmed": True}, "medium", (3,)),
    ("priority", {"budget_confirmed": True}, "low", (2,)),
    ("priority", {"industry": "finance"}, "low", ()),
    ("priority_by_appearance", {"employees": 5, "industry": "medical"}, "first_seen", (0,)),
    ("priority_by_appearance", {"industry": "medical"}, "second_seen", (1,)),
    ("any", {"deal_size": 2_000_000, "industry": "medical"}, True, (0, 1)),
    ("any", {"region": "east"}, False, (2,)),
    ("any", {"region": "north"}, False, ()),
    ("collect_sum", {"industry": "medical", "budget_confirmed": True, "employees": 2000, "deal_size": 340_000}, 68, (0, 1, 2, 3)),
    ("collect_sum", {"industry": "retail", "employees": 2000}, 20, (2,)),
    ("collect_sum", {"industry": "retail"}, 0, ()),
    ("collect_min", {"industry": "medical", "budget_confirmed": True}, 20, (0, 1)),
    ("collect_min", {"industry": "medical", "employees": 5000}, 5, (0, 2)),
    ("collect_min", {}, None, ()),
    ("collect_max", {"industry": "medical", "budget_confirmed": True, "employees": 5000}, 25, (0, 1, 2)),
    ("collect_max", {}, -1, ()),
    ("collect_count", {"industry": "medical", "budget_confirmed": True}, 2, (0, 1)),
    ("collect_count", {}, 0, ()),
    ("collect_list", {"industry": "finance", "employees": 1000}, ("target_industry", "large"), (0, 2)),
    ("collect_list", {"budget_confirmed": False}, None, ()),
    ("rule_order", {"industry": "finance", "employees": 1000, "budget_confirmed": True}, ("large", "target_industry", "budget"), (0, 1, 2)),
    ("rule_order", {"budget_confirmed": True}, ("budget",), (2,)),
    ("rule_order", {}, ("none",), ()),
]

_BUILT: dict[str, CompiledTemplate] = {}


def table_template(build: Build, key: str) -> CompiledTemplate:
    if key not in _BUILT:
        _BUILT[key] = build("segments:\n" + _indent(TABLES[key]))
    return _BUILT[key]


def _indent(block: str) -> str:
    import textwrap

    return textwrap.indent(textwrap.dedent(block), "  ")


def graded(t: CompiledTemplate, lead: dict[str, Any], now: Any) -> dict[str, Any]:
    L = t.values({"id": "l1", **lead}, now)
    t.grade(L)
    return L


@pytest.mark.parametrize("key, lead, expected, rows", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_hit_policy(build: Build, now: Any, key: str, lead: dict[str, Any], expected: Any, rows: tuple[int, ...]) -> None:
    t = table_template(build, key)
    (table,) = t.segments
    L = t.values({"id": "l1", **lead}, now)
    assert table.value(L) == expected
    assert table.explain(L) == (expected, rows)
    # the compiled table and a freshly built, unoptimised copy agree
    plain = unoptimised(table)
    assert plain.value(L) == expected
    assert plain.explain(L) == (expected, rows)


def test_every_hit_policy_and_aggregate_has_cases(build: Build) -> None:
    policies = {(table_template(build, k).segments[0].hit_policy, table_template(build, k).segments[0].aggregate) for k, *_ in CASES}
    assert {p for p, _ in policies} == {"first", "unique", "priority", "any", "collect", "rule_order"}
    assert {a for p, a in policies if p == "collect"} == {"sum", "min", "max", "count", None}


def unoptimised(table: Table) -> Table:
    return Table.build(
        table.name, table.title, table.hit_policy, table.rows,
        default=table.default, has_default=table.has_default, aggregate=table.aggregate, priorities=table.priorities,
    )


def test_a_list_default_holds_items_of_the_rows_type(build: Build, now: Any) -> None:
    t = build("segments:\n" + _indent(TABLES["rule_order"]) + """
  - name: unflagged
    rules:
      - {when: '"none" in flags', output: true}
    default: false
""")
    assert t.outputs(graded(t, {}, now)) == {"flags": ["none"], "unflagged": True}
    assert t.outputs(graded(t, {"employees": 5000}, now)) == {"flags": ["large"], "unflagged": False}


def test_outputs_are_json_ready(build: Build, now: Any) -> None:
    t = table_template(build, "rule_order")
    L = graded(t, {"industry": "finance"}, now)
    assert t.outputs(L) == {"flags": ["target_industry"]}


# ------------------------------------------------------------------------------------------------
# Run-time conflicts
# ------------------------------------------------------------------------------------------------

UNDECIDABLE_UNIQUE = """
segments:
  - name: size_label
    hit_policy: unique
    rules:
      - {when: 'len(company) > 3', output: long}
      - {when: 'len(company) > 5', output: very_long}
    default: short
assignment:
  policies:
    - {name: everyone, strategy: round_robin}
"""


def test_unique_with_two_matching_rows_fails_at_run_time(build: Build, now: Any) -> None:
    t = build(UNDECIDABLE_UNIQUE)  # the analysis cannot prove the overlap: it compiles
    (table,) = t.segments
    assert table.value(t.values({"company": "ACME"}, now)) == "long"
    assert table.value(t.values({"company": "AB"}, now)) == "short"
    with pytest.raises(EvaluationError) as info:
        table.value(t.values({"company": "ACME Corp"}, now))
    problem = info.value.problems[0]
    assert problem.code == "evaluate.unique"
    assert "rows 1, 2" in problem.en and "size_label" in problem.en
    assert "第 1, 2 行" in problem.zh
    with pytest.raises(EvaluationError):
        table.explain(t.values({"company": "ACME Corp"}, now))


def test_a_conflict_is_reported_for_that_lead_only(build: Build, reps: Any, now: Any) -> None:
    t = build(UNDECIDABLE_UNIQUE)
    result = assign(t, [{"id": "a", "company": "AB"}, {"id": "b", "company": "ACME Corp"}, {"id": "c", "company": "ACME"}], reps(2), None, now)
    outcomes = [(d.lead_id, d.outcome) for d in result.decisions]
    assert outcomes == [("a", "assigned"), ("b", "error"), ("c", "assigned")]
    bad = result.decisions[1]
    assert bad.owner is None and bad.error is not None and bad.error.code == "evaluate.unique"
    assert bad.explain(t, "en").startswith("could not evaluate: table 'size_label'")
    assert bad.explain(t, "zh").startswith("无法评估:")


def test_any_with_different_outputs_fails_at_run_time(build: Build, now: Any) -> None:
    t = table_template(build, "any")
    with pytest.raises(EvaluationError) as info:
        graded(t, {"industry": "medical", "region": "east"}, now)
    assert info.value.problems[0].code == "evaluate.any"
    assert "rows 2, 3" in info.value.problems[0].en


# ------------------------------------------------------------------------------------------------
# Defaults and table order
# ------------------------------------------------------------------------------------------------

CHAIN = """
segments:
  - name: value
    rules:
      - {when: 'deal_size >= 1000000', output: high}
      - {when: 'deal_size >= 200000', output: medium}
    default: low
  - name: score
    hit_policy: collect
    aggregate: sum
    rules:
      - {when: 'value == "high"', output: 50}
      - {when: 'value in ["high", "medium"]', output: 20}
      - {when: 'budget_confirmed', output: 25}
    default: 0
  - name: tier
    rules:
      - {when: 'score >= 60', output: A}
      - {when: 'score >= 35', output: B}
    default: C
  - name: tier_is_a
    rules:
      - {when: 'tier == "A" and value == "high"', output: true}
    default: false
"""


@pytest.mark.parametrize(
    "lead, expected",
    [
        ({"deal_size": 2_000_000}, {"value": "high", "score": 70, "tier": "A", "tier_is_a": True}),
        ({"deal_size": 300_000, "budget_confirmed": True}, {"value": "medium", "score": 45, "tier": "B", "tier_is_a": False}),
        ({"deal_size": 300_000}, {"value": "medium", "score": 20, "tier": "C", "tier_is_a": False}),
        ({}, {"value": "low", "score": 0, "tier": "C", "tier_is_a": False}),
    ],
)
def test_later_tables_read_earlier_outputs(build: Build, now: Any, lead: dict[str, Any], expected: dict[str, Any]) -> None:
    t = build(CHAIN)
    assert t.outputs(graded(t, lead, now)) == expected


def test_a_default_is_used_only_when_no_row_matches(build: Build, now: Any) -> None:
    t = build("""
        segments:
          - name: label
            rules:
              - {when: 'company == "ACME"', output: key}
              - {when: 'company is set', output: other}
          - name: label_or_default
            rules:
              - {when: 'company == "ACME"', output: key}
            default: nobody
    """)
    assert t.outputs(graded(t, {"company": "ACME"}, now)) == {"label": "key", "label_or_default": "key"}
    assert t.outputs(graded(t, {"company": "Bolt"}, now)) == {"label": "other", "label_or_default": "nobody"}
    assert t.outputs(graded(t, {}, now)) == {"label": None, "label_or_default": "nobody"}


def compile_problems(build: Build, body: str) -> list[Any]:
    with pytest.raises(CompileError) as info:
        build(body)
    return info.value.problems


def test_reading_a_later_table_is_an_error(build: Build, yaml_of: Callable[..., str]) -> None:
    body = """
        segments:
          - name: tier
            rules:
              - {when: 'score >= 60', output: A}
            default: C
          - name: score
            rules:
              - {when: 'deal_size > 0', output: 10}
            default: 0
    """
    problems = compile_problems(build, body)
    (p,) = problems
    assert p.code == "condition.order"
    assert "'score' is computed later (by table 'score')" in p.en
    assert p.path == ("segments", 0, "rules", 0, "when")
    lines = yaml_of(body).splitlines()
    assert lines[p.line - 1].strip() == "- {when: 'score >= 60', output: A}"


def test_tables_reading_each_other_are_a_cycle(build: Build) -> None:
    problems = compile_problems(build, """
        segments:
          - name: a
            rules:
              - {when: 'b == "x"', output: x}
            default: y
          - name: b
            rules:
              - {when: 'a == "x"', output: x}
            default: y
    """)
    cycles = [p for p in problems if p.code == "compile.cycle"]
    assert len(cycles) == 1
    assert "tables depend on each other: a → b → a" in cycles[0].en
    assert "循环依赖" in cycles[0].zh
    assert not [p for p in problems if p.code == "condition.order"]  # one message for the cycle, not two


def test_a_table_reading_itself_is_a_cycle(build: Build) -> None:
    problems = compile_problems(build, """
        segments:
          - name: a
            rules:
              - {when: 'a == "x"', output: x}
            default: y
    """)
    assert [p.code for p in problems] == ["compile.cycle"]
    assert "reads its own output" in problems[0].en


@pytest.mark.parametrize(
    "table, fragment",
    [
        ("{rules: [{when: 'deal_size > 1', output: high}, {when: 'deal_size > 2', output: 3}], name: t}", "must share a type (found: number, string)"),
        ("{rules: [{when: 'deal_size > 1', output: high}], default: false, name: t}", "must share a type (found: boolean, string)"),
        ("{rules: [{when: 'deal_size > 1', output_expr: 'deal_size * 2'}], default: none, name: t}", "must share a type (found: number, string)"),
        ("{hit_policy: collect, aggregate: sum, rules: [{when: 'deal_size > 1', output: high}], name: t}", "'sum' needs numeric outputs"),
        ("{hit_policy: rule_order, rules: [{when: 'deal_size > 1', output: high}], default: low, name: t}", "its default must be a list"),
    ],
)
def test_output_type_mismatch(build: Build, table: str, fragment: str) -> None:
    problems = compile_problems(build, f"segments:\n  - {table}\n")
    assert any(fragment in p.en and p.code == "compile.type" for p in problems), [p.en for p in problems]


def test_a_table_output_has_a_type_later_rules_are_checked_against(build: Build) -> None:
    problems = compile_problems(build, CHAIN + """
load:
  weights:
    - {when: 'tier == "D"', weight: 3}
    - {when: 'score == "high"', weight: 2}
""")
    assert [p.code for p in problems] == ["condition.option", "condition.type"]
    assert "options: A, B, C" in problems[0].en
    assert "cannot compare number with string" in problems[1].en


# ------------------------------------------------------------------------------------------------
# Optimised tables give the results of the plain ones
# ------------------------------------------------------------------------------------------------

OPTIMISED = """
segments:
  - name: difficulty
    hit_policy: priority
    priorities: [high, medium, low]
    rules:
      - {when: 'employees >= 3', output: low}
      - {when: 'employees >= 5', output: medium}
      - {when: 'industry == "medical"', output: high}
    default: low
  - name: band
    hit_policy: unique
    rules:
      - {when: 'deal_size >= 1000000', output: big}
      - {when: 'deal_size >= 100000 and deal_size < 1000000', output: mid}
      - {when: 'deal_size < 100000', output: small}
  - name: zone
    rules:
      - {when: 'region == "north" and industry in ["medical", "finance"]', output: n1}
      - {when: 'region == "north"', output: n2}
      - {when: 'region in ["south", "east"] and industry != "retail"', output: s1}
    default: other
  - name: quadrant
    hit_policy: unique
    rules:
      - {when: 'difficulty == "high" and band == "big"', output: hard_big}
      - {when: 'difficulty == "high" and band in ["mid", "small"]', output: hard_small}
      - {when: 'difficulty in ["medium", "low"]', output: easy}
    default: unknown
"""


def test_optimised_tables_match_plain_ones_on_every_combination(build: Build, now: Any) -> None:
    t = build(OPTIMISED)
    plain = [unoptimised(table) for table in t.segments]
    for deal_size in (None, 0, 99_999, 100_000, 999_999.5, 1_000_000, 5e6):
        for employees in (None, 2, 3, 5):
            for industry in (None, "medical", "finance", "retail"):
                for region in (None, "north", "south", "east"):
                    lead = {"deal_size": deal_size, "employees": employees, "industry": industry, "region": region}
                    L = t.values({k: v for k, v in lead.items() if v is not None}, now)
                    for fast, slow in zip(t.segments, plain):
                        assert fast.explain(L) == slow.explain(L), (fast.name, lead)
                        assert fast.value(L) == slow.value(L)
                        L[fast.name] = fast.value(L)


# A random table over three fields, evaluated by the engine and by a reference written here.
TYPES = {
    "score": NUMBER,
    "region": field_value_type("enum", frozenset({"north", "south", "east"})),
    "flag": BOOLEAN,
}
ENV = Env(TYPES)
REGIONS = ["north", "south", "east"]
Pred = Callable[[dict[str, Any]], bool]


def _num(k: float) -> st.SearchStrategy[tuple[str, Pred]]:
    return st.sampled_from(
        [
            (f"score >= {k}", lambda L: L.get("score") is not None and L["score"] >= k),
            (f"score > {k}", lambda L: L.get("score") is not None and L["score"] > k),
            (f"score < {k}", lambda L: L.get("score") is not None and L["score"] < k),
            (f"score <= {k}", lambda L: L.get("score") is not None and L["score"] <= k),
            (f"score == {k}", lambda L: L.get("score") == k),
        ]
    )


def _region_atom(op: str, values: list[str]) -> tuple[str, Pred]:
    lit = "[" + ", ".join(f'"{v}"' for v in values) + "]"
    if op == "==":
        return f'region == "{values[0]}"', lambda L: L.get("region") == values[0]
    if op == "!=":
        return f'region != "{values[0]}"', lambda L: L.get("region") is not None and L["region"] != values[0]
    if op == "in":
        return f"region in {lit}", lambda L: L.get("region") in values
    return f"region not in {lit}", lambda L: L.get("region") is not None and L["region"] not in values


def _score_in(values: list[int]) -> tuple[str, Pred]:
    return f"score in [{', '.join(map(str, values))}]", lambda L: L.get("score") in values


ATOMS = {
    "score": st.one_of(
        st.sampled_from([0, 1, 2, 3, 5, 7]).flatmap(_num),
        st.builds(_score_in, st.lists(st.sampled_from([0, 1, 2, 3, 5]), min_size=1, max_size=3, unique=True)),
    ),
    "region": st.builds(_region_atom, st.sampled_from(["==", "!=", "in", "not in"]), st.lists(st.sampled_from(REGIONS), min_size=1, max_size=2, unique=True)),
    "flag": st.sampled_from(
        [
            ("flag", lambda L: L.get("flag") is True),
            ("flag == false", lambda L: L.get("flag") is False),
            ("not flag", lambda L: L.get("flag") is not True),
        ]
    ),
}
ATOMS["any field"] = st.one_of(*ATOMS.values())


def _and(parts: list[tuple[str, Pred]]) -> tuple[str, Pred] | None:
    if not parts:
        return None  # a row without `when`: always matches
    preds = [p for _, p in parts]
    return " and ".join(s for s, _ in parts), lambda L: all(p(L) for p in preds)


def conditions(field: str) -> st.SearchStrategy[tuple[str, Pred] | None]:
    # Tables over one field are often disjoint or all equalities: the shapes the optimiser rewrites.
    # One row in ten has no `when` (it always matches, so no two-row table with it is disjoint);
    # most rows are one comparison, the shape of the tables the optimiser rewrites.
    return st.tuples(st.integers(0, 9), ATOMS[field], ATOMS[field]).map(lambda t: _and([] if t[0] == 0 else [t[1]] if t[0] <= 6 else [t[1], t[2]]))


@st.composite
def random_tables(draw: st.DrawFn) -> tuple[Table, list[tuple[Pred | None, Any]], Any]:
    policy, aggregate = draw(
        st.sampled_from(
            [("first", None), ("unique", None), ("priority", None), ("any", None)] * 2
            + [("collect", "sum"), ("collect", "min"), ("collect", "max"), ("collect", "count"), ("collect", None), ("rule_order", None)]
        )
    )
    numeric = policy == "collect" and aggregate in ("sum", "min", "max", "count")
    outputs = st.integers(-5, 20) if numeric else st.sampled_from(["a", "b", "c"])
    field = draw(st.sampled_from(sorted(ATOMS)))
    specs = draw(st.lists(st.tuples(conditions(field), outputs), min_size=1, max_size=5))
    default = draw(st.one_of(st.none(), outputs))
    if policy in ("rule_order",) or (policy == "collect" and aggregate is None):
        default = None if default is None else (default,)
    priorities = tuple(draw(st.permutations(["a", "b", "c"]))[: draw(st.integers(0, 3))]) if policy == "priority" else ()
    rows = [Row(compile_condition(cond[0], ENV) if cond else None, out) for cond, out in specs]
    table = Table.build("t", Text("t", "t"), policy, rows, default=default, has_default=default is not None, aggregate=aggregate, priorities=priorities)
    reference = [(cond[1] if cond else None, out) for cond, out in specs]
    return table, reference, default


def reference_explain(table: Table, rows: list[tuple[Pred | None, Any]], default: Any, L: dict[str, Any]) -> tuple[Any, tuple[int, ...]] | str:
    """What the table should give, computed directly from its definition ("error" for a conflict)."""
    hits = [i for i, (pred, _) in enumerate(rows) if pred is None or pred(L)]
    outs = [rows[i][1] for i in hits]
    policy = table.hit_policy
    if policy == "first":
        return (outs[0], (hits[0],)) if hits else (default, ())
    if policy == "unique":
        if len(hits) > 1:
            return "error"
        return (outs[0], (hits[0],)) if hits else (default, ())
    if policy == "priority":
        order = list(table.priorities) + [o for _, o in rows if o not in table.priorities]
        order = list(dict.fromkeys(order))
        if not hits:
            return default, ()
        best = min(range(len(hits)), key=lambda k: (order.index(outs[k]), hits[k]))
        return outs[best], (hits[best],)
    if policy == "any":
        if len(set(outs)) > 1:
            return "error"
        return (outs[0], tuple(hits)) if hits else (default, ())
    if policy == "rule_order" or table.aggregate is None:
        return (tuple(outs), tuple(hits)) if hits else (default, ())
    if not hits:
        return (0 if default is None else default, ()) if table.aggregate == "count" else (default, ())
    aggregates: dict[str, Callable[[list[Any]], Any]] = {"sum": sum, "min": min, "max": max, "count": len}
    return aggregates[table.aggregate](outs), tuple(hits)


leads = st.fixed_dictionaries(
    {},
    optional={
        "score": st.one_of(st.sampled_from([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8]), st.sampled_from([0.5, 2.5, 6.99])),
        "region": st.sampled_from(REGIONS),
        "flag": st.booleans(),
    },
)


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except EvaluationError:
        return "error"


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_tables(), st.lists(leads, min_size=1, max_size=25))
def test_optimised_random_tables_agree_with_a_reference(spec: tuple[Table, list[Any], Any], sample: list[dict[str, Any]]) -> None:
    table, rows, default = spec
    fast = optimize(table, TYPES)
    for L in sample:
        want = reference_explain(table, rows, default, L)
        for t in (table, fast):
            got = _run(lambda: t.explain(L))
            assert got == want, (t is fast, L)
            value = _run(lambda: t.value(L))
            assert value == (want if isinstance(want, str) else want[0])
