"""Tests for rule_engine._regex_safety: safe patterns pass, risky or invalid ones are refused."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rule_engine._regex_safety import MAX_COUNT, compile_safe, regex_problems
from rule_engine.errors import ConditionError

CJK = re.compile(r"[\u4e00-\u9fff]")

SAFE = [
    r"^[A-Z]{2}\d{4}$",
    r"^1[3-9]\d{9}$",  # Chinese mobile number
    r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$",
    r"^(北京|上海|广州)$",
    r"^\d{6}$",
    r"^[a-z0-9_]+$",
    r"^(\+86)?1\d{10}$",
    r"^(\d{1,3}\.){3}\d{1,3}$",  # bounded nesting: 3**3 ways to split
    r"^(\d{3}-)+\d{4}$",  # an exact count inside offers no choice
    r"(ab|cd)*",  # alternatives start with different characters
    r"(a|b)*",  # a character set after parsing
    r"(\w|\d)+",  # also a single character set
    r"^([\u4e00-\u9fa5]|\d)+$",
    r"^[\u4e00-\u9fa5]{2,20}$",
    r"(?i)^[a-z]+$",
    r"^(foo|bar|baz)+$",  # bar and baz differ at their third character
    r"(?i)^(ab|Ac)+$",
    r"^([\u4e00-\u9fa5]x|[\u4e00-\u4e10]y)+$",
    r"^(\d\d-|\d[a-z])+$",
    r"^(\d+|[a-z]+)$",  # not repeated
    r"^(a+|b+)$",
    r"^[A-Z]{2}-\d{2,4}$",
    r"^https?://",
    r"^(https?|ftp)://[^\s/$.?#][^\s]*$",
    r"^$",
    r"",
    r"^(\s|[a-z])+$",
    r"^(?:[a-z]\d)+$",
    r"a{1000}",
    r"^(?P<area>\d{3})-(?P<num>\d{8})$",
    r"(?>a+)b",
    r"a++b",
]

UNSAFE: list[tuple[str, object, str]] = [
    # id, pattern, code
    ("nested plus", r"(a+)+", "regex_backtracking"),
    ("nested star", r"(a*)*", "regex_backtracking"),
    ("word and space", r"(\w+\s?)*", "regex_backtracking"),
    ("dot star counted", r"(.*a){20}", "regex_backtracking"),
    ("nested in non-capturing group", r"^(?:[a-z]+)*$", "regex_backtracking"),
    ("nested counted", r"(a{2,3})+", "regex_backtracking"),
    ("optional repeated many times", r"(a?){30}a{30}", "regex_backtracking"),
    ("three levels bounded", r"((a{1,5}){1,5}){1,5}", "regex_backtracking"),
    ("email classic", r"^([a-zA-Z0-9])(([\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$", "regex_backtracking"),
    ("same alternatives", r"(a|a)*", "regex_backtracking"),
    ("prefix alternatives", r"(a|ab)+", "regex_backtracking"),
    ("digit alternatives", r"(\d|\d\d)*", "regex_backtracking"),
    ("word and digit alternatives", r"(\w\w|\d)+", "regex_backtracking"),
    ("dot alternative", r"(a|.)*", "regex_backtracking"),
    ("negated set alternative", r"(?:[^a]|b)*", "regex_backtracking"),
    ("case-blind alternatives", r"(?i)(ab|Abc)*", "regex_backtracking"),
    ("case-blind single letters", r"(?i)(a|Ab)*", "regex_backtracking"),
    ("one alternative a prefix of another", r"(abc|abcd|x)*", "regex_backtracking"),
    ("alternatives alike after a repeat", r"(ab*c|ab*d)*", "regex_backtracking"),
    ("counted alternatives", r"(x|xy){2,10}", "regex_backtracking"),
    ("chinese ranges overlap", r"([\u4e00-\u9fa5]|[\u4e00-\u4e10]y)+", "regex_backtracking"),
    ("count above the cap", "a{%d}" % (MAX_COUNT + 1), "regex_backtracking"),
    ("range above the cap", r"a{1,100000}", "regex_backtracking"),
    ("open range above the cap", r"a{5000,}", "regex_backtracking"),
    ("backreference", r"(a)\1", "regex_feature"),
    ("named backreference", r"(?P<x>a)(?P=x)", "regex_feature"),
    ("conditional group", r"(a)?(?(1)b|c)", "regex_feature"),
    ("lookahead", r"(?=a)a", "regex_feature"),
    ("negative lookahead", r"^(?!admin)\w+$", "regex_feature"),
    ("lookbehind", r"(?<=a)b", "regex_feature"),
    ("negative lookbehind", r"(?<!a)b", "regex_feature"),
    ("unclosed group", r"(", "regex_syntax"),
    ("nothing to repeat", r"*a", "regex_syntax"),
    ("bad escape", r"\q", "regex_syntax"),
    ("bad range", r"[z-a]", "regex_syntax"),
    ("ambiguous nested set", r"[[a]", "regex_syntax"),
    ("variable lookbehind", r"(?<=a+)b", "regex_syntax"),
    ("too long", "a" * 201, "regex_length"),
    ("not a string", 42, "regex_length"),
    ("none", None, "regex_length"),
]  # fmt: skip


@pytest.mark.parametrize("pattern", SAFE)
def test_safe_patterns(pattern: str) -> None:
    assert regex_problems(pattern) == []
    assert compile_safe(pattern).pattern == pattern


@pytest.mark.parametrize(("pattern", "code"), [c[1:] for c in UNSAFE], ids=[c[0] for c in UNSAFE])
def test_unsafe_patterns(pattern: str, code: str) -> None:
    problems = regex_problems(pattern)
    assert problems, pattern
    assert problems[0].code == code
    for problem in problems:
        assert problem.path == ()
        assert problem.en and CJK.search(problem.zh)
    with pytest.raises(ConditionError) as info:
        compile_safe(pattern)
    assert info.value.problems == problems


def test_syntax_message_carries_the_re_error() -> None:
    [problem] = regex_problems(r"(ab")
    assert problem.code == "regex_syntax"
    assert "missing ), unterminated subpattern" in problem.en
    assert "missing ), unterminated subpattern" in problem.zh


def test_feature_messages_name_the_feature() -> None:
    assert "backreferences" in regex_problems(r"(a)\1")[0].en
    assert "lookahead" in regex_problems(r"(?=a)")[0].en
    assert "lookbehind" in regex_problems(r"(?<=a)b")[0].en


def test_every_kind_of_problem_is_reported_once() -> None:
    problems = regex_problems(r"(a+)+(b+)+(?=c)(d)\3")
    assert [p.code for p in problems] == ["regex_backtracking", "regex_feature", "regex_feature"]


def test_max_length_is_a_parameter() -> None:
    assert regex_problems("abcdef", max_length=5)[0].en == "the pattern is longer than 5 characters"
    assert regex_problems("a" * 300, max_length=300) == []
    assert regex_problems("a" * 200) == []


def test_deeply_nested_groups_with_a_high_length_limit() -> None:
    pattern = "(" * 2000 + "a" + ")" * 2000
    problems = regex_problems(pattern, max_length=10_000)
    assert [p.code for p in problems] in ([], ["regex_syntax"])



REGEXISH = st.text(alphabet=st.sampled_from(list("ab.*+?|()[]{}^$\\dws-,0123:=!<>P?i")), max_size=40)


@settings(max_examples=500, deadline=None)
@given(st.one_of(REGEXISH, st.text(max_size=40)))
def test_any_text_gives_a_list_of_problems(pattern: str) -> None:
    problems = regex_problems(pattern)
    assert all(p.code.startswith("regex_") for p in problems)
    if not problems:
        assert compile_safe(pattern).pattern == pattern
