"""The condition language: parsing both forms, type checks, evaluation, functions and rejected input."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rule_engine import conditions as c
from rule_engine.conditions import (
    FUNCTIONS,
    NOW_KEY,
    And,
    Arith,
    Call,
    Compare,
    Const,
    Env,
    ListLit,
    Name,
    Neg,
    Not,
    Or,
    compile_condition,
    compile_expression,
    parse,
    parse_tree,
    to_tree,
    unparse,
)
from rule_engine.errors import ConditionError
from rule_engine.types import field_value_type

NOW = dt.datetime.fromisoformat("2026-11-23T09:00:00+08:00")
CJK = re.compile(r"[\u4e00-\u9fff]")

LEAD = {
    "company": field_value_type("string"),
    "city": field_value_type("string"),
    "phone": field_value_type("phone"),
    "email": field_value_type("email"),
    "deal_size": field_value_type("number"),
    "budget": field_value_type("number"),
    "employees": field_value_type("integer"),
    "industry": field_value_type("enum", frozenset({"medical", "finance", "retail"})),
    "region": field_value_type("enum", frozenset({"north", "south", "east"})),
    "product_lines": field_value_type("tags", frozenset({"crm", "erp", "bi"})),
    "budget_confirmed": field_value_type("boolean"),
    "signed_on": field_value_type("date"),
    "assigned_at": field_value_type("datetime"),
    "created_at": field_value_type("datetime"),
    "now": field_value_type("datetime"),
}
REP = {
    "exec_rapport": field_value_type("boolean"),
    "level": field_value_type("enum", frozenset({"junior", "senior", "expert"})),
    "regions": field_value_type("tags", frozenset({"north", "south", "east"})),
    "skills": field_value_type("tags", frozenset({"crm", "erp", "bi"})),
}
LEAD_ENV = Env(LEAD, None, "Asia/Shanghai", {}, "in a segment table", "分级表中")
REP_ENV = Env(LEAD, REP, "Asia/Shanghai")


def lead(**values: Any) -> dict[str, Any]:
    """Lead values as conditions read them: the record plus the clock."""
    return {NOW_KEY: NOW, "now": NOW, **values}


def error_of(source: Any, env: Env = REP_ENV) -> ConditionError:
    with pytest.raises(ConditionError) as info:
        compile_condition(source, env)
    return info.value


# ------------------------------------------------------------------------------------------------
# The examples from the brief: string and tree forms, checked and evaluated
# ------------------------------------------------------------------------------------------------

EXAMPLE_TREE = {
    "all": [
        {"field": "deal_size", "op": ">=", "value": 1000000},
        {"field": "industry", "op": "in", "value": ["medical", "finance"]},
    ]
}

EXAMPLES: list[tuple[str, Any, dict[str, Any], dict[str, Any] | None, bool]] = [
    # id, condition, lead values, rep values, expected
    ("big-medical", 'deal_size >= 1000000 and industry in ["medical", "finance"]', {"deal_size": 1_000_000, "industry": "medical"}, None, True),
    ("big-retail", 'deal_size >= 1000000 and industry in ["medical", "finance"]', {"deal_size": 5_000_000, "industry": "retail"}, None, False),
    ("small-finance", 'deal_size >= 1000000 and industry in ["medical", "finance"]', {"deal_size": 999_999.99, "industry": "finance"}, None, False),
    ("no-size", 'deal_size >= 1000000 and industry in ["medical", "finance"]', {"industry": "finance"}, None, False),
    ("tree-big-finance", EXAMPLE_TREE, {"deal_size": 2_000_000, "industry": "finance"}, None, True),
    ("tree-small", EXAMPLE_TREE, {"deal_size": 10, "industry": "finance"}, None, False),
    ("senior-in-region", 'rep.level == "senior" and lead.region in rep.regions', {"region": "north"}, {"level": "senior", "regions": ("north", "east")}, True),
    ("senior-other-region", 'rep.level == "senior" and lead.region in rep.regions', {"region": "south"}, {"level": "senior", "regions": ("north",)}, False),
    ("junior-in-region", 'rep.level == "senior" and lead.region in rep.regions', {"region": "north"}, {"level": "junior", "regions": ("north",)}, False),
    ("rep-no-regions", 'rep.level == "senior" and lead.region in rep.regions', {"region": "north"}, {"level": "senior"}, False),
    ("three-and-a-half-days", "days_since(assigned_at) > 3", {"assigned_at": NOW - dt.timedelta(days=3, hours=12)}, None, True),
    ("exactly-three-days", "days_since(assigned_at) > 3", {"assigned_at": NOW - dt.timedelta(days=3)}, None, False),
    ("never-assigned", "days_since(assigned_at) > 3", {}, None, False),
]


@pytest.mark.parametrize("source, values, rep_values, expected", [e[1:] for e in EXAMPLES], ids=[e[0] for e in EXAMPLES])
def test_examples_parse_check_and_evaluate(source: Any, values: dict[str, Any], rep_values: dict[str, Any] | None, expected: bool) -> None:
    cond = compile_condition(source, REP_ENV)
    assert cond.type.kind == "boolean"
    assert cond(lead(**values), rep_values or {}) is expected


def test_example_string_and_tree_are_one_tree() -> None:
    assert parse('deal_size >= 1000000 and industry in ["medical", "finance"]') == parse_tree(EXAMPLE_TREE)


def test_example_names_what_it_reads() -> None:
    cond = compile_condition('rep.level == "senior" and lead.region in rep.regions', REP_ENV)
    assert cond.lead_names == {"region"}
    assert cond.rep_names == {"level", "regions"}
    assert compile_condition("days_since(assigned_at) > 3", LEAD_ENV).uses_now
    assert not cond.uses_now


# ------------------------------------------------------------------------------------------------
# String syntax and JSON tree: the same tree
# ------------------------------------------------------------------------------------------------

PAIRS: list[tuple[str, Any]] = [
    ("deal_size >= 1000000", {"field": "deal_size", "op": ">=", "value": 1000000}),
    ('industry != "retail"', {"field": "industry", "op": "!=", "value": "retail"}),
    ('region not in ["north", "south"]', {"field": "region", "op": "not in", "value": ["north", "south"]}),
    ("lead.region in rep.regions", {"field": "lead.region", "op": "in", "ref": "rep.regions"}),
    ("phone is set", {"field": "phone", "op": "is set"}),
    ("phone is not set", {"field": "phone", "op": "is not set"}),
    ("product_lines is empty", {"field": "product_lines", "op": "is empty"}),
    ("product_lines is not empty", {"field": "product_lines", "op": "is not empty"}),
    ("budget_confirmed == true", {"field": "budget_confirmed", "op": "==", "value": True}),
    ("not deal_size < 10", {"not": {"field": "deal_size", "op": "<", "value": 10}}),
    (
        'deal_size < 10 or industry == "medical"',
        {"any": [{"field": "deal_size", "op": "<", "value": 10}, {"field": "industry", "op": "==", "value": "medical"}]},
    ),
    (
        'deal_size > 1 and (industry == "medical" or region == "north")',
        {"all": [{"field": "deal_size", "op": ">", "value": 1}, {"any": [{"field": "industry", "op": "==", "value": "medical"}, {"field": "region", "op": "==", "value": "north"}]}]},
    ),
    ("days_since(assigned_at) > 3", {"expr": "days_since(assigned_at) > 3"}),
    ("deal_size > 5 and days_since(created_at) <= 7", {"all": [{"field": "deal_size", "op": ">", "value": 5}, {"expr": "days_since(created_at) <= 7"}]}),
    ("deal_size > 5", {"all": [{"field": "deal_size", "op": ">", "value": 5}]}),  # a group of one is its item
    ("rep.level == 'senior'", {"field": "rep.level", "op": "==", "value": "senior"}),
    ("deal_size >= 1_000_000", {"field": "deal_size", "op": ">=", "value": 1000000}),
    ("deal_size > -2.5", {"field": "deal_size", "op": ">", "value": -2.5}),
    ('company == "say \\"hi\\"\\n"', {"field": "company", "op": "==", "value": 'say "hi"\n'}),
    ("deal_size > 1", "deal_size > 1"),  # a tree may be a plain string
]


@pytest.mark.parametrize("source, tree", PAIRS, ids=[p[0] for p in PAIRS])
def test_string_and_tree_give_the_same_tree(source: str, tree: Any) -> None:
    node = parse(source)
    assert node == parse_tree(tree)
    # and both compile to conditions that agree
    left, right = compile_condition(source, REP_ENV), compile_condition(tree, REP_ENV)
    assert left.node == right.node


def test_to_tree_is_what_the_builder_writes() -> None:
    node = parse('deal_size >= 1000000 and industry in ["medical", "finance"]')
    assert to_tree(node) == EXAMPLE_TREE
    assert to_tree(parse("lead.region in rep.regions")) == {"field": "lead.region", "op": "in", "ref": "rep.regions"}
    assert to_tree(parse("days_since(assigned_at) > 3")) == {"expr": "days_since(assigned_at) > 3"}


# ------------------------------------------------------------------------------------------------
# unparse round-trips
# ------------------------------------------------------------------------------------------------

CORPUS = [
    'deal_size >= 1000000 and industry in ["medical", "finance"]',
    'rep.level == "senior" and lead.region in rep.regions',
    "days_since(assigned_at) > 3",
    "not (deal_size > 1 and budget < 2) or phone is set",
    "(deal_size + budget) * 2 - -3 >= 10 % 3",
    "deal_size - (budget - 1) > 0",
    "deal_size / (2 * budget) < 1",
    "-(deal_size + 1) < 0",
    "not not budget_confirmed",
    "(deal_size > 1) == true",
    'coalesce(city, company, "x") == "上海"',
    r'matches(phone, "^1[3-9]\\d{9}$")',
    "round(deal_size / 10000, 2) >= 1.5",
    'signed_on >= date("2026-01-01")',
    "overlap_count(product_lines, rep.skills) * 10 > 5 or overlaps(product_lines, rep.skills)",
    "(deal_size > 1 or budget > 1) and (deal_size < 5 or budget < 5)",
    'company == "tab\\there" and company != "back\\\\slash"',
    "product_lines is not empty and len(product_lines) >= 2",
    'region not in ["north"] and ([1, 2, 3] != []) == false',
]


@pytest.mark.parametrize("source", CORPUS)
def test_unparse_round_trips_the_corpus(source: str) -> None:
    node = parse(source)
    text = unparse(node)
    assert parse(text) == node
    assert unparse(parse(text)) == text  # canonical: a second pass changes nothing
    assert parse_tree(to_tree(node)) == node


_KEYWORDS = {"and", "or", "not", "in", "is", "set", "empty", "true", "false", "lead", "rep"}
names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: s not in _KEYWORDS and not s.endswith("_"))
numbers = st.one_of(
    st.integers(min_value=-10**15, max_value=10**15),
    st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False),
)
strings = st.text(st.characters(blacklist_categories=["Cs"]), max_size=8)
scalars = st.one_of(numbers, strings, st.booleans())
leaves = st.one_of(
    scalars.map(Const),
    st.builds(lambda scope, n: Name(scope, n, explicit=scope == "rep"), st.sampled_from(["lead", "rep"]), names),
    st.lists(st.one_of(numbers, strings), max_size=3).map(lambda xs: ListLit(tuple(Const(x) for x in xs))),
)


def _neg(n: Any) -> Any:
    # The parser folds `-5` into a constant, so a Neg of a plain number never comes out of it.
    if isinstance(n, Const) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool):
        return Const(-n.value)
    return Neg(n)


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    two = st.tuples(children, children)
    return st.one_of(
        st.builds(lambda op, ab: Compare(op, *ab), st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]), two),
        st.builds(lambda op, a: c.Test(op, a), st.sampled_from(["is set", "is not set", "is empty", "is not empty"]), children),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        children.map(Not),
        st.builds(lambda op, ab: Arith(op, *ab), st.sampled_from(["+", "-", "*", "/", "%"]), two),
        children.map(_neg),
        st.builds(lambda fn, args: Call(fn, tuple(args)), st.sampled_from(sorted(FUNCTIONS)), st.lists(children, max_size=3)),
    )


trees = st.recursive(leaves, _extend, max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_unparse_round_trips_generated_trees(node: Any) -> None:
    text = unparse(node)
    assert parse(text) == node, text
    assert unparse(parse(text)) == text


# ------------------------------------------------------------------------------------------------
# Missing values
# ------------------------------------------------------------------------------------------------

MISSING: list[tuple[str, dict[str, Any], bool]] = [
    ("deal_size > 10", {}, False),
    ("deal_size < 10", {}, False),
    ("deal_size == 10", {}, False),
    ("deal_size != 10", {}, False),  # != is a comparison too
    ("deal_size != 10", {"deal_size": None}, False),
    ("deal_size != 10", {"deal_size": 11}, True),
    ("not deal_size != 10", {}, True),
    ("not deal_size > 10", {}, True),
    ('industry != "medical"', {}, False),
    ('industry not in ["medical"]', {}, False),
    ('industry in ["medical"]', {}, False),
    ("not region in rep.regions", {}, True),
    ("lead.region in rep.regions", {"region": "north"}, False),  # the rep has no regions
    ("deal_size + 1 > 0", {}, False),
    ("deal_size / 0 > 0", {"deal_size": 5}, False),  # division by zero is missing
    ("deal_size / 0 <= 0", {"deal_size": 5}, False),
    ("deal_size % 0 == 0", {"deal_size": 5}, False),
    ("-deal_size < 0", {}, False),
    ("abs(deal_size) >= 0", {}, False),
    ('lower(company) == ""', {}, False),
    ("days_since(assigned_at) >= 0", {}, False),
    ("deal_size is set", {}, False),
    ("deal_size is set", {"deal_size": 0}, True),
    ("deal_size is not set", {}, True),
    ("deal_size is not set", {"deal_size": None}, True),
    ("company is empty", {}, True),
    ("company is empty", {"company": ""}, True),
    ("company is empty", {"company": " "}, False),
    ("company is not empty", {"company": "ACME"}, True),
    ("product_lines is empty", {"product_lines": ()}, True),
    ("product_lines is empty", {"product_lines": []}, True),
    ("product_lines is not empty", {"product_lines": ("crm",)}, True),
    ("len(product_lines) == 0", {}, True),  # len of missing is 0
    ('coalesce(city, company) == "ACME"', {"company": "ACME"}, True),
    ('coalesce(city, company) == "ACME"', {"city": "", "company": "ACME"}, True),
    ('coalesce(city, company) is set', {}, False),
]


@pytest.mark.parametrize("source, values, expected", MISSING)
def test_missing_values(source: str, values: dict[str, Any], expected: bool) -> None:
    assert compile_condition(source, REP_ENV)(lead(**values), {}) is expected


# ------------------------------------------------------------------------------------------------
# Dates and durations
# ------------------------------------------------------------------------------------------------

DATES: list[tuple[str, dict[str, Any], bool]] = [
    ("days_since(assigned_at) > 3", {"assigned_at": NOW - dt.timedelta(days=3, seconds=1)}, True),
    ("days_since(assigned_at) > 3", {"assigned_at": NOW - dt.timedelta(days=2, hours=23)}, False),
    # an assignment made in another timezone is the same instant
    ("days_since(assigned_at) > 3", {"assigned_at": dt.datetime(2026, 11, 20, 0, 59, tzinfo=dt.timezone.utc)}, True),
    ("days_since(assigned_at) > 3", {"assigned_at": dt.datetime(2026, 11, 20, 1, 1, tzinfo=dt.timezone.utc)}, False),
    ("hours_since(assigned_at) <= 24", {"assigned_at": NOW - dt.timedelta(hours=24)}, True),
    ("hours_since(assigned_at) <= 24", {"assigned_at": NOW - dt.timedelta(hours=25)}, False),
    ('signed_on >= date("2026-01-01")', {"signed_on": dt.date(2026, 1, 1)}, True),
    ('signed_on >= date("2026-01-01")', {"signed_on": dt.date(2025, 12, 31)}, False),
    ('signed_on == date("2026-11-23")', {"signed_on": dt.date(2026, 11, 23)}, True),
    ("days_since(signed_on) == 7", {"signed_on": dt.date(2026, 11, 16)}, True),  # whole days for dates
    ("days_until(signed_on) == 8", {"signed_on": dt.date(2026, 12, 1)}, True),
    ("days_until(signed_on) < 0", {"signed_on": dt.date(2026, 11, 1)}, True),
    ("assigned_at < now", {"assigned_at": NOW - dt.timedelta(minutes=1)}, True),
]


@pytest.mark.parametrize("source, values, expected", DATES)
def test_dates_and_durations(source: str, values: dict[str, Any], expected: bool) -> None:
    assert compile_condition(source, LEAD_ENV)(lead(**values), None) is expected


def test_the_clock_is_a_parameter() -> None:
    cond = compile_condition("days_since(assigned_at) > 3", LEAD_ENV)
    assigned = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    assert cond({NOW_KEY: assigned + dt.timedelta(days=3, hours=1), "assigned_at": assigned}, None) is True
    assert cond({NOW_KEY: assigned + dt.timedelta(days=2), "assigned_at": assigned}, None) is False


# ------------------------------------------------------------------------------------------------
# Every function
# ------------------------------------------------------------------------------------------------

FUNCTION_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any] | None, Any]] = [
    # function, expression, lead values, rep values, expected value
    ("days_since", "days_since(assigned_at)", {"assigned_at": NOW - dt.timedelta(days=3, hours=12)}, None, 3.5),
    ("days_since", "days_since(signed_on)", {"signed_on": dt.date(2026, 11, 20)}, None, 3.0),
    ("hours_since", "hours_since(assigned_at)", {"assigned_at": NOW - dt.timedelta(hours=30)}, None, 30.0),
    ("days_until", "days_until(signed_on)", {"signed_on": dt.date(2026, 11, 30)}, None, 7.0),
    ("days_until", "days_until(assigned_at)", {"assigned_at": NOW + dt.timedelta(hours=36)}, None, 1.5),
    ("date", 'date("2026-01-31")', {}, None, dt.date(2026, 1, 31)),
    ("len", "len(product_lines)", {"product_lines": ("crm", "bi")}, None, 2),
    ("len", "len(company)", {"company": "医院集团"}, None, 4),
    ("len", "len(product_lines)", {}, None, 0),
    ("lower", "lower(company)", {"company": "WeChat"}, None, "wechat"),
    ("upper", "upper(company)", {"company": "gd"}, None, "GD"),
    ("contains", 'contains(company, "医院")', {"company": "北京协和医院"}, None, True),
    ("contains", 'contains(company, "医院")', {"company": "北京银行"}, None, False),
    ("starts_with", 'starts_with(phone, "+86")', {"phone": "+8613800000000"}, None, True),
    ("starts_with", 'starts_with(phone, "+86")', {"phone": "13800000000"}, None, False),
    ("ends_with", 'ends_with(email, ".edu.cn")', {"email": "li@pku.edu.cn"}, None, True),
    ("ends_with", 'ends_with(email, ".edu.cn")', {"email": "li@example.com"}, None, False),
    ("matches", r'matches(phone, "^1[3-9]\\d{9}$")', {"phone": "13812345678"}, None, True),
    ("matches", r'matches(phone, "^1[3-9][0-9]{9}$")', {"phone": "12812345678"}, None, False),
    ("matches", 'matches(phone, "5678")', {"phone": "13812345678"}, None, True),  # searches anywhere
    ("abs", "abs(deal_size - budget)", {"deal_size": 100, "budget": 250}, None, 150),
    ("min", "min(deal_size, budget)", {"deal_size": 100, "budget": 250}, None, 100),
    ("min", "min(deal_size, budget, 7)", {"deal_size": 100, "budget": 250}, None, 7),
    ("min", "min(deal_size, budget)", {"deal_size": 100}, None, None),
    ("max", "max(deal_size, budget)", {"deal_size": 100, "budget": 250}, None, 250),
    ("round", "round(deal_size / 10000)", {"deal_size": 123456}, None, 12),
    ("round", "round(deal_size)", {"deal_size": 2.5}, None, 2),  # half to even
    ("round", "round(deal_size, 2)", {"deal_size": 3.14159}, None, 3.14),
    ("coalesce", "coalesce(city, company)", {"company": "ACME"}, None, "ACME"),
    ("coalesce", "coalesce(city, company)", {"city": "上海", "company": "ACME"}, None, "上海"),
    ("coalesce", "coalesce(deal_size, budget, 0)", {}, None, 0),
    ("if", "if(deal_size >= 100, 3, 1)", {"deal_size": 150}, None, 3),
    ("if", "if(deal_size >= 100, 3, 1)", {"deal_size": 50}, None, 1),
    ("if", 'if(budget_confirmed, "yes", "no")', {}, None, "no"),  # a missing condition takes b
    ("if", "overlap_count(product_lines, rep.skills) * 10 + if(rep.exec_rapport, 5, 0)", {"product_lines": ("crm",)}, {"skills": ("crm",), "exec_rapport": True}, 15),
    ("overlaps", "overlaps(product_lines, rep.skills)", {"product_lines": ("crm", "erp")}, {"skills": ("erp",)}, True),
    ("overlaps", "overlaps(product_lines, rep.skills)", {"product_lines": ("crm",)}, {"skills": ("erp", "bi")}, False),
    ("overlap_count", "overlap_count(product_lines, rep.skills)", {"product_lines": ("crm", "erp", "bi")}, {"skills": ("erp", "bi")}, 2),
    ("overlap_count", "overlap_count(product_lines, rep.skills)", {"product_lines": ("crm", "crm")}, {"skills": ("crm",)}, 1),
    ("weekday", "weekday(signed_on)", {"signed_on": dt.date(2026, 11, 23)}, None, 1),
    ("weekday", "weekday(signed_on)", {"signed_on": dt.date(2026, 11, 29)}, None, 7),
    # Sunday 20:00 UTC is Monday 04:00 in the template's timezone (Asia/Shanghai)
    ("weekday", "weekday(created_at)", {"created_at": dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.timezone.utc)}, None, 1),
]


@pytest.mark.parametrize("fn, source, values, rep_values, expected", FUNCTION_CASES, ids=[f"{c[0]}:{c[1]}" for c in FUNCTION_CASES])
def test_function(fn: str, source: str, values: dict[str, Any], rep_values: dict[str, Any] | None, expected: Any) -> None:
    expr = compile_expression(source, REP_ENV, expect=("number", "string", "boolean", "date", "list"))
    got = expr(lead(**values), rep_values or {})
    if isinstance(expected, float):
        assert got == pytest.approx(expected)
    else:
        assert got == expected and type(got) is type(expected)


def test_every_function_has_an_evaluation_case() -> None:
    assert {c[0] for c in FUNCTION_CASES} == set(FUNCTIONS)
    for name, spec in FUNCTIONS.items():
        assert any(name + "(" in c[1] for c in FUNCTION_CASES if c[0] == name), name
        assert spec.doc_en and CJK.search(spec.doc_zh), name


def test_documented_function_examples_compile() -> None:
    env = Env({**LEAD, "source": LEAD["company"], "province_code": LEAD["company"], "price_gap": LEAD["deal_size"], "contract_end": LEAD["signed_on"], "province": LEAD["company"]}, REP)
    for spec in FUNCTIONS.values():
        compile_expression(spec.example, env, expect=("number", "string", "boolean", "date"))


def test_functions_of_missing_values_are_missing() -> None:
    for source in ["lower(company)", "abs(deal_size)", "days_since(assigned_at)", "weekday(signed_on)", "round(deal_size)", "min(deal_size, 3)", 'coalesce(city, company)']:
        assert compile_expression(source, REP_ENV, expect=("number", "string"))(lead(), {}) is None, source
    # a yes/no function of a missing value does not hold, and `not` of it does
    for source in ['contains(company, "x")', 'starts_with(company, "x")', 'ends_with(company, "x")', 'matches(phone, "1")', "overlaps(product_lines, rep.skills)"]:
        assert compile_condition(source, REP_ENV)(lead(), {}) is False, source
        assert compile_condition(f"not {source}", REP_ENV)(lead(), {}) is True, source


# ------------------------------------------------------------------------------------------------
# Operators and type checks that pass
# ------------------------------------------------------------------------------------------------

EVAL: list[tuple[str, dict[str, Any], dict[str, Any] | None, bool]] = [
    ('company + "-cn" == "acme-cn"', {"company": "acme"}, None, True),
    ("deal_size * 2 - 1 == 19", {"deal_size": 10}, None, True),
    ("deal_size % 3 == 1", {"deal_size": 10}, None, True),
    ("-deal_size < 0", {"deal_size": 10}, None, True),
    ("1 + 2 * 3 == 7", {}, None, True),
    ("(1 + 2) * 3 == 9", {}, None, True),
    ('"crm" in product_lines', {"product_lines": ("crm",)}, None, True),
    ('"erp" not in product_lines', {"product_lines": ("crm",)}, None, True),
    ("employees >= 2.5", {"employees": 3}, None, True),  # integer and number are both numbers
    ("budget_confirmed", {"budget_confirmed": True}, None, True),
    ("not budget_confirmed", {"budget_confirmed": False}, None, True),
    ("budget_confirmed != false", {"budget_confirmed": True}, None, True),
    ('deal_size > 1 or industry == "medical"', {"industry": "medical"}, None, True),
    ("deal_size > 1 and deal_size < 3 and deal_size != 2 and deal_size >= 1.5", {"deal_size": 1.75}, None, True),
    ("rep.regions is empty", {}, {"regions": ()}, True),
    ("rep.level <= rep.level", {}, {"level": "senior"}, True),
    ('lead.industry == "retail"', {"industry": "retail"}, None, True),
]


@pytest.mark.parametrize("source, values, rep_values, expected", EVAL)
def test_operators(source: str, values: dict[str, Any], rep_values: dict[str, Any] | None, expected: bool) -> None:
    cond = compile_condition(source, REP_ENV)
    assert cond(lead(**values), rep_values or {}) is expected
    assert cond(lead(**values), rep_values or {}) is expected  # compiled once, evaluated many times


# ------------------------------------------------------------------------------------------------
# Rejected input
# ------------------------------------------------------------------------------------------------

def nested_not(depth: int) -> Any:
    tree: Any = "budget_confirmed"
    for _ in range(depth):
        tree = {"not": tree}
    return tree


REJECTED: list[tuple[str, Any, Env, str, str, str | None]] = [
    # id, condition, env, problem code, fragment of the English message, suggestion
    ("attribute of lead", "lead.__class__ == 1", REP_ENV, "condition.name", "cannot start with '_'", None),
    ("attribute chain", "x.y.z == 1", REP_ENV, "condition.name", "only lead.X, rep.X and team.X may use a dot", None),
    ("attribute of a field", "company.upper == 1", REP_ENV, "condition.name", "only lead.X, rep.X and team.X may use a dot", None),
    ("two levels under lead", "lead.company.lower == 1", REP_ENV, "condition.name", "only one level of names", None),
    ("method call on lead", "lead.company() == 1", REP_ENV, "condition.name", "only one level of names", None),
    ("dunder name", "__import__('os')", REP_ENV, "condition.name", "double underscores", None),
    ("dunder builtins", "__builtins__ == 1", REP_ENV, "condition.name", "double underscores", None),
    ("unknown function", "lenn(company) > 1", REP_ENV, "condition.function", "unknown function 'lenn'", "len"),
    ("eval", 'eval("1") == 1', REP_ENV, "condition.function", "unknown function 'eval'", None),
    ("import", "import os", REP_ENV, "condition.syntax", "unexpected 'os'", None),
    ("lambda", "lambda: 1", REP_ENV, "condition.syntax", "unexpected character ':'", None),
    ("exponent", "deal_size ** 2 > 1", REP_ENV, "condition.syntax", "no exponent operator", None),
    ("huge number", "deal_size > 1e16", REP_ENV, "condition.limit", "too large", None),
    ("huge integer", "deal_size > 10000000000000000", REP_ENV, "condition.limit", "too large", None),
    ("overflowing integer", "deal_size > " + "9" * 1000, REP_ENV, "condition.limit", "too large", None),
    ("infinite float", "deal_size > 1e999", REP_ENV, "condition.limit", "too large", None),
    ("huge number in a tree", {"field": "deal_size", "op": ">", "value": 10**400}, REP_ENV, "condition.limit", "too large", None),
    ("nan in a tree", {"field": "deal_size", "op": ">", "value": float("nan")}, REP_ENV, "condition.limit", "too large", None),
    ("too long", "deal_size > 1 or " * 130 + "deal_size > 1", REP_ENV, "condition.limit", "characters long", None),
    ("too deep", "(" * 40 + "deal_size > 1" + ")" * 40, REP_ENV, "condition.limit", "nested more than 32", None),
    ("too deep with not", "not " * 40 + "budget_confirmed", REP_ENV, "condition.limit", "nested more than 32", None),
    ("too deep with minus", "-" * 40 + "deal_size > 1", REP_ENV, "condition.limit", "nested more than 32", None),
    ("too deep with calls", "abs(" * 40 + "deal_size" + ")" * 40 + " > 1", REP_ENV, "condition.limit", "nested more than 32", None),
    ("too deep with lists", "[" * 600, REP_ENV, "condition.limit", "nested more than 32", None),
    ("too deep tree", nested_not(40), REP_ENV, "condition.limit", "nested more than 32", None),
    ("too many nodes", " or ".join(["deal_size > 1"] * 70), REP_ENV, "condition.limit", "parts (at most 200)", None),
    ("too many list items", "deal_size in [" + ", ".join(["1"] * 257) + "]", REP_ENV, "condition.limit", "at most 256 items", None),
    ("assignment", "deal_size = 1", REP_ENV, "condition.syntax", "write '=='", None),
    ("arrow", "deal_size => 1", REP_ENV, "condition.syntax", "write '>='", None),
    ("c-style and", "deal_size > 1 && deal_size < 2", REP_ENV, "condition.syntax", "write 'and'", None),
    ("tree '='", {"field": "deal_size", "op": "=", "value": 1}, REP_ENV, "condition.operator", "unknown operator '='", "=="),
    ("number vs string", 'deal_size >= "big"', REP_ENV, "condition.type", "cannot compare number with string", None),
    ("string vs number tree", {"field": "company", "op": ">", "value": 3}, REP_ENV, "condition.type", "cannot compare string with number", None),
    ("date vs datetime", "signed_on < assigned_at", REP_ENV, "condition.type", "cannot compare date with datetime", None),
    ("enum option", 'industry == "medcal"', REP_ENV, "condition.option", "'medcal' is not an option", "medical"),
    ("enum option in list", 'industry in ["medical", "finanse"]', REP_ENV, "condition.option", "'finanse' is not an option", "finance"),
    ("tags option", '"crn" in product_lines', REP_ENV, "condition.option", "'crn' is not an option", "crm"),
    ("rep option", 'rep.level == "senoir"', REP_ENV, "condition.option", "'senoir' is not an option", "senior"),
    ("rep without a rep", 'rep.level == "senior"', LEAD_ENV, "condition.scope", "no rep is being considered", None),
    ("list in list", 'product_lines in ["crm", "erp"]', REP_ENV, "condition.type", "to compare two lists use overlaps", None),
    ("list == list", "product_lines == rep.skills", REP_ENV, "condition.type", "cannot compare lists", None),
    ("in a scalar", "region in industry", REP_ENV, "condition.type", "must be a list or a tags field", None),
    ("unknown field", "deal_sise > 1", REP_ENV, "condition.name", "unknown field 'deal_sise'", "deal_size"),
    ("rep field without rep.", 'level == "senior"', REP_ENV, "condition.name", "write rep.level", None),
    ("unknown rep attribute", 'rep.levle == "senior"', REP_ENV, "condition.name", "unknown rep attribute 'rep.levle'", "level"),
    ("not a condition", "deal_size + 1", REP_ENV, "condition.type", "not a condition", None),
    ("and of a number", "deal_size and budget_confirmed", REP_ENV, "condition.type", "'and' needs a condition", None),
    ("function arity", "len(company, city) > 1", REP_ENV, "condition.function", "takes 1 argument(s), not 2", None),
    ("function argument type", "upper(deal_size) == 'A'", REP_ENV, "condition.type", "argument 1 must be string", None),
    ("bad date literal", 'signed_on > date("2026-13-01")', REP_ENV, "condition.function", "is not a date", None),
    ("date of a field", "signed_on > date(company)", REP_ENV, "condition.function", "date() takes a literal", None),
    ("regex not literal", "matches(phone, company)", REP_ENV, "condition.function", "pattern as a literal", None),
    ("catastrophic regex", 'matches(phone, "(a+)+$")', REP_ENV, "regex_backtracking", "exponential time", None),
    ("boolean ordering", "budget_confirmed > false", REP_ENV, "condition.type", "booleans can only be compared", None),
    ("unterminated string", 'company == "acme', REP_ENV, "condition.syntax", "unterminated string", None),
    ("unknown escape", 'company == "a\\q"', REP_ENV, "condition.syntax", "unknown escape", None),
    ("empty", "   ", REP_ENV, "condition.syntax", "the condition is empty", None),
    ("ends early", "deal_size > 1 and", REP_ENV, "condition.syntax", "ends too early", None),
    ("list of names", "region in [north, south]", REP_ENV, "condition.syntax", "list items must be plain values", None),
    ("not a string or tree", 42, REP_ENV, "condition.type", "must be a string or an object", None),
    ("tree with stray key", {"field": "deal_size", "op": ">", "value": 1, "eval": "x"}, REP_ENV, "condition.key", "unexpected key 'eval'", None),
    ("tree with value and ref", {"field": "region", "op": "in", "value": ["north"], "ref": "rep.regions"}, REP_ENV, "condition.type", "exactly one of 'value' or 'ref'", None),
    ("tree with dunder field", {"field": "lead.__class__", "op": "is set"}, REP_ENV, "condition.name", "is not a field name", None),
    ("tree with empty all", {"all": []}, REP_ENV, "condition.type", "non-empty list", None),
    ("tree with nested list", {"field": "region", "op": "in", "value": [["north"]]}, REP_ENV, "condition.type", "cannot be nested", None),
    ("tree with an object value", {"field": "region", "op": "==", "value": {"$ref": "x"}}, REP_ENV, "condition.type", "a value must be", None),
    ("tree expr with a bad string", {"all": [{"expr": "deal_size = 1"}]}, REP_ENV, "condition.syntax", "write '=='", None),
]


@pytest.mark.parametrize("source, env, code, fragment, suggestion", [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_rejected(source: Any, env: Env, code: str, fragment: str, suggestion: str | None) -> None:
    exc = error_of(source, env)
    first = exc.problems[0]
    assert first.code == code, first
    assert fragment in first.en
    if suggestion is not None:
        assert first.suggestion == suggestion
        assert repr(suggestion) in first.message("en") and repr(suggestion) in first.message("zh")
    for p in exc.problems:
        assert p.en.strip() and p.zh.strip()
        assert CJK.search(p.zh), p.zh
        assert p.en != p.zh


def test_tree_errors_carry_the_path_to_the_bad_part() -> None:
    exc = error_of({"all": [{"field": "deal_size", "op": ">", "value": 1}, {"any": [{"expr": "deal_size = 1"}]}]})
    assert exc.problems[0].path == ("all", 1, "any", 0, "expr")
    exc = error_of({"all": [{"field": "deal_size", "op": "=", "value": 1}]})
    assert exc.problems[0].path == ("all", 0, "op")


def test_every_type_problem_is_reported_not_only_the_first() -> None:
    exc = error_of('deal_size >= "big" and industry == "medcal" and rep.levle == "x"')
    assert [p.code for p in exc.problems] == ["condition.type", "condition.option", "condition.name"]
    assert ["column 11", "column 36", "column 49"] == [re.search(r"column \d+", p.en).group() for p in exc.problems]  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------
# Arbitrary input never escapes as anything but ConditionError
# ------------------------------------------------------------------------------------------------

_TOKENS = [
    "deal_size", "company", "signed_on", "assigned_at", "product_lines", "industry", "budget_confirmed",
    "rep.level", "rep.skills", "lead.region", "lead.", "rep.", "lead", "rep", "__class__", "_x",
    "(", ")", "[", "]", ",", ".", "and", "or", "not", "in", "is", "set", "empty", "==", "!=", "<", ">=",
    "=", "=>", "!", "**", "&&", "+", "-", "*", "/", "%", "0", "1", "2.5", "1_000", "1e20", "9" * 400,
    '"medical"', "'x'", '"\\q"', '"', "true", "false", *sorted(FUNCTIONS), '"2026-01-01"', '"2026-99-01"',
    '"(a+)+"', '"^a$"', '"["', "医院", "\n", "\t", "{", "}", ":", "#", "@", "$",
]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), st.lists(st.sampled_from(_TOKENS), max_size=30).map(" ".join), st.lists(st.sampled_from(_TOKENS), max_size=30).map("".join)))
def test_arbitrary_text_compiles_or_raises_condition_error(text: str) -> None:
    try:
        cond = compile_condition(text, REP_ENV)
    except ConditionError as exc:
        assert exc.problems and all(p.en and p.zh for p in exc.problems)
        return
    assert cond.type.kind == "boolean"


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), st.sampled_from(["deal_size", "rep.level", "==", "in", "is set", "lead.region"]))
json_trees = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["all", "any", "not", "field", "op", "value", "ref", "expr", "x"]), children, max_size=3),
    ),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None)
@given(json_trees)
def test_arbitrary_trees_compile_or_raise_condition_error(tree: Any) -> None:
    try:
        compile_condition(tree, REP_ENV)
    except ConditionError as exc:
        assert exc.problems and all(p.en and p.zh for p in exc.problems)
