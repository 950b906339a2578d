"""What the analysis proves about a table: overlaps under `unique`, gaps without a default."""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from rule_engine import CompiledTemplate, CompileError, EvaluationError, loads_template
from rule_engine.analysis import optimize, table_problems
from rule_engine.conditions import Env, compile_condition
from rule_engine.fields import Text
from rule_engine.segments import Row, Table
from rule_engine.types import NUMBER, field_value_type

Build = Callable[..., CompiledTemplate]


def segments(*tables: str) -> str:
    return "segments:\n" + "".join(textwrap.indent(textwrap.dedent(t), "  ") for t in tables)


def problems_of(build: Build, body: str) -> list[Any]:
    with pytest.raises(CompileError) as info:
        build(body)
    return [p for p in info.value.problems if p.code.startswith("analysis.")]


# ------------------------------------------------------------------------------------------------
# Overlaps under `unique`
# ------------------------------------------------------------------------------------------------

OVERLAPS: list[tuple[str, str, tuple[int, int], str]] = [
    # id, rules, rows that overlap (1-based), the example lead
    (
        "thresholds",
        """
        - {when: 'deal_size >= 1000000', output: high}
        - {when: 'deal_size >= 200000', output: medium}
        """,
        (1, 2),
        "deal_size = 1000000",
    ),
    (
        "ranges",
        """
        - {when: 'deal_size >= 0 and deal_size <= 100', output: low}
        - {when: 'deal_size >= 100 and deal_size < 500', output: medium}
        """,
        (1, 2),
        "deal_size = 100",
    ),
    (
        "enum sets",
        """
        - {when: 'industry in ["medical", "finance"]', output: a}
        - {when: 'industry == "finance"', output: b}
        """,
        (1, 2),
        "industry = finance",
    ),
    (
        "enum complement",
        """
        - {when: 'region != "north"', output: a}
        - {when: 'region == "north"', output: b}
        - {when: 'region in ["south"] and deal_size > 10', output: c}
        """,
        (1, 3),
        "deal_size = 11, region = south",
    ),
    (
        "two fields",
        """
        - {when: 'industry == "medical" and deal_size >= 500', output: a}
        - {when: 'deal_size < 1000 and region == "east"', output: b}
        """,
        (1, 2),
        "deal_size = 500, industry = medical, region = east",
    ),
    (
        "an in-list and a threshold on one number",
        """
        - {when: 'employees in [1, 2]', output: a}
        - {when: 'employees >= 2', output: b}
        """,
        (1, 2),
        "employees = 2",
    ),
    (
        "a row without a condition",
        """
        - {when: 'deal_size > 5', output: a}
        - {output: b}
        """,
        (1, 2),
        "deal_size = 6",
    ),
]


@pytest.mark.parametrize("rules, rows, example", [o[1:] for o in OVERLAPS], ids=[o[0] for o in OVERLAPS])
def test_overlap_under_unique_is_reported(build: Build, rules: str, rows: tuple[int, int], example: str) -> None:
    body = segments("- name: t\n  hit_policy: unique\n  default: z\n  rules:\n" + textwrap.indent(textwrap.dedent(rules), "    "))
    (p,) = problems_of(build, body)
    assert p.code == "analysis.overlap"
    a, b = rows
    assert p.en == f"rows {a} and {b} can both match (for example {example}), but hit policy 'unique' allows one"
    assert p.path == ("segments", 0, "rules", b - 1, "when")
    assert f"第 {a} 行和第 {b} 行可能同时命中" in p.zh


@pytest.mark.parametrize(
    "rules",
    [
        # disjoint ranges
        """
        - {when: 'deal_size >= 1000000', output: high}
        - {when: 'deal_size >= 200000 and deal_size < 1000000', output: medium}
        - {when: 'deal_size < 200000', output: low}
        """,
        # touching but exclusive bounds
        """
        - {when: 'deal_size > 100', output: high}
        - {when: 'deal_size <= 100', output: low}
        """,
        # an in-list that misses the threshold
        """
        - {when: 'employees in [1, 2]', output: a}
        - {when: 'employees > 2', output: b}
        """,
        # a different value of the same enum in the second field
        """
        - {when: 'industry == "medical" and region == "north"', output: a}
        - {when: 'industry == "medical" and region in ["south", "east"]', output: b}
        """,
        # booleans
        """
        - {when: 'budget_confirmed', output: a}
        - {when: 'budget_confirmed == false', output: b}
        """,
    ],
)
def test_disjoint_unique_tables_compile(build: Build, rules: str) -> None:
    body = segments("- name: t\n  hit_policy: unique\n  default: z\n  rules:\n" + textwrap.indent(textwrap.dedent(rules), "    "))
    build(body)


def test_overlap_is_only_a_problem_under_unique(build: Build) -> None:
    rules = "  rules:\n    - {when: 'deal_size >= 1000000', output: high}\n    - {when: 'deal_size >= 200000', output: medium}\n"
    for policy, default in (("first", "low"), ("priority", "low"), ("collect", "[low]"), ("rule_order", "[low]")):
        build(segments(f"- name: t\n  hit_policy: {policy}\n  default: {default}\n" + rules))
    with pytest.raises(CompileError):
        build(segments("- name: t\n  hit_policy: unique\n  default: low\n" + rules))


# ------------------------------------------------------------------------------------------------
# Gaps without a default
# ------------------------------------------------------------------------------------------------

GAPS: list[tuple[str, str, str, str]] = [
    # id, policy, rules, the uncovered example
    (
        "hole between thresholds",
        "first",
        """
        - {when: 'deal_size >= 1000000', output: high}
        - {when: 'deal_size < 200000', output: low}
        """,
        "deal_size = 200000",
    ),
    (
        "a missing point",
        "unique",
        """
        - {when: 'deal_size > 100', output: high}
        - {when: 'deal_size < 100', output: low}
        """,
        "deal_size = 100",
    ),
    (
        "below every row",
        "priority",
        """
        - {when: 'deal_size >= 0', output: high}
        """,
        "deal_size = -1",
    ),
    (
        "a hole on an integer field",
        "first",
        """
        - {when: 'employees <= 4', output: small}
        - {when: 'employees >= 6', output: big}
        """,
        "employees = 5",
    ),
    (
        "an in-list that leaves holes",
        "first",
        """
        - {when: 'employees in [1, 2]', output: small}
        - {when: 'employees >= 3', output: big}
        - {when: 'employees < 0', output: big}
        """,
        "employees = 0",
    ),
    (
        "a non-integer hole on a number field",
        "any",
        """
        - {when: 'deal_size <= 4', output: small}
        - {when: 'deal_size >= 5', output: big}
        """,
        "deal_size = 4.5",
    ),
    (
        "an enum value",
        "first",
        """
        - {when: 'region in ["north", "south"]', output: a}
        """,
        "region = east",
    ),
    (
        "a boolean value",
        "first",
        """
        - {when: 'budget_confirmed == true', output: a}
        """,
        "budget_confirmed = false",
    ),
]


@pytest.mark.parametrize("policy, rules, example", [g[1:] for g in GAPS], ids=[g[0] for g in GAPS])
def test_gap_without_default_is_reported(build: Build, policy: str, rules: str, example: str) -> None:
    body = segments(f"- name: t\n  hit_policy: {policy}\n  rules:\n" + textwrap.indent(textwrap.dedent(rules), "    "))
    (p,) = problems_of(build, body)
    assert p.code == "analysis.gap"
    assert p.en == f"no row matches {example} and there is no default; add a row or a default"
    assert p.path == ("segments", 0, "rules")
    assert "没有任何行命中" in p.zh
    # a default closes every gap
    build(body.replace("    rules:\n", "    default: other\n    rules:\n"))


GRADES = """
- name: value
  rules:
    - {when: 'deal_size >= 1000000', output: high}
    - {when: 'deal_size >= 200000', output: medium}
  default: low
- name: difficulty
  hit_policy: priority
  priorities: [high, medium, low]
  rules:
    - {when: 'complexity >= 5', output: high}
    - {when: 'complexity >= 3', output: medium}
  default: low
"""
COMBOS = list(itertools.product(["high", "medium", "low"], ["high", "medium", "low"]))


def quadrant(rows: list[tuple[str, str]], policy: str = "unique") -> str:
    lines = [f"- name: quadrant\n  hit_policy: {policy}\n  rules:\n"]
    lines += [f"    - {{when: 'value == \"{v}\" and difficulty == \"{d}\"', output: {v}_{d}}}\n" for v, d in rows]
    return segments(GRADES, "".join(lines))


@pytest.mark.parametrize("missing", COMBOS, ids=[f"{v}-{d}" for v, d in COMBOS])
def test_a_missing_value_x_difficulty_combination_is_reported(build: Build, missing: tuple[str, str]) -> None:
    (p,) = problems_of(build, quadrant([c for c in COMBOS if c != missing]))
    assert p.code == "analysis.gap"
    assert p.path == ("segments", 2, "rules")
    v, d = missing
    assert f"no row matches difficulty = {d}, value = {v} and" in p.en


def test_a_complete_value_x_difficulty_table_compiles(build: Build, now: Any) -> None:
    t = build(quadrant(list(reversed(COMBOS))))
    L = t.values({"deal_size": 300_000, "complexity": 9}, now)
    t.grade(L)
    assert L["quadrant"] == "medium_high"


def test_grouped_rows_that_cover_every_combination_compile(build: Build) -> None:
    build(segments(GRADES, """
        - name: who
          rules:
            - {when: 'value == "high" and difficulty == "high"', output: senior}
            - {when: 'value in ["high", "medium"] and difficulty != "high"', output: growth}
            - {when: 'value == "low"', output: junior}
            - {when: 'difficulty == "high"', output: senior}
    """))


@pytest.mark.parametrize(
    "rules",
    [
        """
        - {when: 'deal_size < 200000', output: a}
        - {when: 'deal_size >= 200000 and deal_size < 1000000', output: b}
        - {when: 'deal_size >= 1000000', output: c}
        """,
        """
        - {when: 'employees <= 4', output: a}
        - {when: 'employees >= 5', output: b}
        """,
        """
        - {when: 'employees in [1, 2]', output: a}
        - {when: 'employees >= 2', output: b}
        - {when: 'employees < 1', output: c}
        """,
        """
        - {when: 'region == "north"', output: a}
        - {when: 'region != "north"', output: b}
        """,
        """
        - {when: 'budget_confirmed', output: a}
        - {when: 'budget_confirmed == false', output: b}
        """,
        """
        - {when: 'deal_size > 5', output: a}
        - {output: b}
        """,
    ],
    ids=["thresholds", "integer", "in-list", "enum complement", "boolean", "catch-all row"],
)
def test_no_false_gap_for_a_complete_table(build: Build, rules: str) -> None:
    build(segments("- name: t\n  rules:\n" + textwrap.indent(textwrap.dedent(rules), "    ")))


@pytest.mark.parametrize(
    "policy, rules",
    [
        ("unique", "- {when: 'deal_size >= 100 or employees > 5', output: a}\n- {when: 'deal_size >= 50', output: b}"),  # `or`
        ("unique", "- {when: 'len(company) > 3', output: a}\n- {when: 'len(company) > 5', output: b}"),  # a function
        ("unique", "- {when: 'deal_size * 2 >= 100', output: a}\n- {when: 'deal_size >= 50', output: b}"),  # arithmetic
        ("unique", "- {when: 'deal_size > complexity', output: a}\n- {when: 'deal_size >= 0', output: b}"),  # two fields
        ("unique", "- {when: 'not budget_confirmed', output: a}\n- {when: 'budget_confirmed == false', output: b}"),  # `not`
        ("first", "- {when: 'deal_size >= 100 or employees > 5', output: a}"),  # gap, but not a box
        ("first", "- {when: 'days_since(signed_on) > 3', output: a}"),
        ("first", "- {when: 'company == \"ACME\"', output: a}"),  # a free string: no domain to cover
        ("first", "- {when: 'deal_size > 5 and region == \"north\"', output: a}"),  # numbers with another field
        ("collect", "- {when: 'deal_size > 5', output: a}"),  # collect has no gap to speak of
    ],
)
def test_nothing_is_reported_when_rows_are_not_boxes(build: Build, policy: str, rules: str) -> None:
    build(segments(f"- name: t\n  hit_policy: {policy}\n  rules:\n" + textwrap.indent(rules, "    ") + "\n"))


# ------------------------------------------------------------------------------------------------
# The analysis as a function, and the optimiser's use of it
# ------------------------------------------------------------------------------------------------

TYPES = {"employees": field_value_type("integer"), "deal_size": NUMBER, "region": field_value_type("enum", frozenset({"north", "south"}))}
ENV = Env(TYPES)


def table(policy: str, rows: list[tuple[str | None, Any]], **kw: Any) -> Table:
    return Table.build("t", Text("t", "t"), policy, [Row(compile_condition(w, ENV) if w else None, o) for w, o in rows], **kw)


def test_table_problems_paths_are_relative_to_the_table() -> None:
    problems = table_problems(table("unique", [("deal_size > 1", "a"), ("deal_size > 2", "b"), ("deal_size > 3", "c")]), TYPES)
    assert [(p.code, p.path) for p in problems] == [
        ("analysis.overlap", ("rules", 1, "when")),
        ("analysis.overlap", ("rules", 2, "when")),
        ("analysis.overlap", ("rules", 2, "when")),
        ("analysis.gap", ("rules",)),
    ]


def test_overlapping_in_list_and_threshold_is_not_treated_as_disjoint() -> None:
    # `employees in [1, 2]` and `employees >= 2` share 2: the optimiser must keep the run-time check.
    t = table("unique", [("employees in [1, 2]", "a"), ("employees >= 2", "b")])
    fast = optimize(t, TYPES)
    assert fast.value({"employees": 1}) == "a"
    assert fast.value({"employees": 3}) == "b"
    for candidate in (t, fast):
        with pytest.raises(EvaluationError):
            candidate.value({"employees": 2})


def test_disjoint_unique_is_evaluated_as_a_first_hit_with_the_same_results() -> None:
    t = table("unique", [("employees in [1, 2]", "a"), ("employees > 2", "b"), ("region == \"north\" and employees < 1", "c")], default="z", has_default=True)
    assert table_problems(t, TYPES) == []
    fast = optimize(t, TYPES)
    for employees in (None, -1, 0, 1, 2, 2.5, 3):
        for region in (None, "north", "south"):
            L = {"employees": employees, "region": region}
            assert fast.explain(L) == t.explain(L)


@pytest.mark.parametrize(
    ("field_type", "overlap"),
    [
        ("integer", False),  # no whole number lies strictly between 4 and 5
        ("number", True),  # 4.5 matches both rows
    ],
)
def test_unique_overlap_respects_whole_numbers(field_type: str, overlap: bool) -> None:
    doc = f"""
fenpei: 1
name: t
title: T
fields:
  n: {{type: {field_type}}}
segments:
  - name: s
    hit_policy: unique
    rules:
      - {{when: 'n > 4', output: a}}
      - {{when: 'n < 5', output: b}}
    default: c
"""
    if overlap:
        with pytest.raises(CompileError) as info:
            loads_template(doc)
        assert [p.code for p in info.value.problems] == ["analysis.overlap"]
        assert "n = 4.5" in info.value.problems[0].en
    else:
        table = loads_template(doc).segments[0]
        assert [table.value({"n": v}) for v in (3, 4, 5, 6)] == ["b", "b", "a", "a"]
