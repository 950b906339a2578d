"""Refuse regular expressions that could run for a very long time (ReDoS) before they are used.

Patterns in templates (a field's ``pattern``, ``matches(s, "regex")`` in conditions) run on every
lead, so a pattern that backtracks exponentially would stall imports and assignment. Python's
``re`` has no timeout; instead each pattern is parsed with ``re``'s own parser and its tree is
checked before it is compiled. The check is conservative: it may refuse a pattern that is in fact
fast, never the other way round for the shapes it knows.

Refused (each with its own code):

* ``regex_length``: not a string, or longer than ``max_length`` characters;
* ``regex_syntax``: ``re`` cannot compile it (or warns that it is ambiguous, like ``[[a]``);
* ``regex_feature``: backreferences (``\\1``, ``(?P=name)``), conditional groups, lookahead
  and lookbehind;
* ``regex_backtracking``:

  - a repeat that can run more than once (``*``, ``+``, ``{n,m}`` with ``m > 1``) around a body
    that itself has a choice of lengths (another repeat, ``?``): ``(a+)+``, ``(a*)*``,
    ``(\\w+\\s?)*``, ``(.*a){20}``. When both repeats are bounded, the pattern is accepted while
    the number of ways to split a match stays small (``(\\d{1,3}\\.){3}``: 3**3 ways);
    an exact count inside (``(\\d{3}-)+``) offers no choice and is accepted;
  - a repeat around alternatives that can start with the same character: ``(a|a)*``,
    ``(a|ab)+``, ``(\\d|\\d\\d)*``. First characters are compared conservatively (``\\d``
    overlaps ``\\w``, ``.`` and negated sets overlap everything, an alternative that can match
    nothing overlaps every other one);
  - a counted repeat above 1000 (``a{5000}``, ``a{1,100000}``).

Not detected: polynomial backtracking between neighbouring repeats (``\\d*\\d*\\d*x``), which
stays bounded by the input size.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from rule_engine.errors import ConditionError, Problem

try:  # Python 3.11+
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse as _sre_parse

__all__ = ["compile_safe", "regex_problems"]

MAX_COUNT: Final = 1000  # largest allowed {n} / {n,m}
MAX_SPLITS: Final = 10_000  # ways a bounded nested repeat may split a match

_MAXREPEAT: Final = _sre_parse.MAXREPEAT
_LITERAL: Final = _sre_parse.LITERAL
_NOT_LITERAL: Final = _sre_parse.NOT_LITERAL
_ANY: Final = _sre_parse.ANY
_IN: Final = _sre_parse.IN
_RANGE: Final = _sre_parse.RANGE
_NEGATE: Final = _sre_parse.NEGATE
_CATEGORY: Final = _sre_parse.CATEGORY
_AT: Final = _sre_parse.AT
_BRANCH: Final = _sre_parse.BRANCH
_SUBPATTERN: Final = _sre_parse.SUBPATTERN
_GROUPREF: Final = _sre_parse.GROUPREF
_GROUPREF_EXISTS: Final = _sre_parse.GROUPREF_EXISTS
_ASSERT: Final = _sre_parse.ASSERT
_ASSERT_NOT: Final = _sre_parse.ASSERT_NOT
_REPEATS: Final = frozenset(
    op
    for op in (
        _sre_parse.MAX_REPEAT,
        _sre_parse.MIN_REPEAT,
        getattr(_sre_parse, "POSSESSIVE_REPEAT", None),
    )
    if op is not None
)
_ATOMIC_GROUP: Final = getattr(_sre_parse, "ATOMIC_GROUP", None)

INF: Final = float("inf")
_INLINE_I: Final = re.compile(r"\(\?[aiLmsux-]*i")

# --------------------------------------------------------------------------------------------
# Messages


def _length(limit: int) -> Problem:
    return Problem.make(
        "regex_length",
        "the pattern is longer than {limit} characters",
        "正则表达式超过 {limit} 个字符",
        limit=limit,
    )


_NOT_STRING: Final = Problem.make("regex_length", "the pattern must be a string", "正则表达式必须是字符串")
_BACKREF: Final = Problem.make(
    "regex_feature",
    "backreferences (\\1, (?P=name)) are not allowed in patterns",
    "正则表达式中不允许使用反向引用(\\1、(?P=name))",
)
_CONDITIONAL: Final = Problem.make(
    "regex_feature",
    "conditional groups ((?(1)...)) are not allowed in patterns",
    "正则表达式中不允许使用条件分组((?(1)...))",
)
_LOOKAHEAD: Final = Problem.make(
    "regex_feature",
    "lookahead ((?=...), (?!...)) is not allowed in patterns",
    "正则表达式中不允许使用先行断言((?=...)、(?!...))",
)
_LOOKBEHIND: Final = Problem.make(
    "regex_feature",
    "lookbehind ((?<=...), (?<!...)) is not allowed in patterns",
    "正则表达式中不允许使用后行断言((?<=...)、(?<!...))",
)
_NESTED: Final = Problem.make(
    "regex_backtracking",
    "the pattern can take exponential time: a repeated part contains another repeat, like (a+)+",
    "该正则可能耗费指数级时间:重复的部分里又包含重复,如 (a+)+",
)
_ALTERNATION: Final = Problem.make(
    "regex_backtracking",
    "the pattern can take exponential time: a repeated group has alternatives that can start "
    "with the same character, like (a|ab)*",
    "该正则可能耗费指数级时间:重复的分组中有可以以相同字符开头的分支,如 (a|ab)*",
)
_TOO_DEEP: Final = Problem.make(
    "regex_syntax",
    "the pattern is nested too deeply",
    "正则表达式嵌套太深",
)


def _count(count: int) -> Problem:
    return Problem.make(
        "regex_backtracking",
        "a repeat count is larger than {limit} (found {count})",
        "重复次数超过 {limit}(发现 {count})",
        limit=MAX_COUNT,
        count=count,
    )


def _syntax(error: str) -> Problem:
    return Problem.make("regex_syntax", "invalid regular expression: {error}", "正则表达式无效:{error}", error=error)


# --------------------------------------------------------------------------------------------
# Public API


def regex_problems(pattern: str, *, max_length: int = 200) -> list[Problem]:
    """Why ``pattern`` is refused; ``[]`` when it is safe to compile and run."""
    if not isinstance(pattern, str):
        return [_NOT_STRING]
    if len(pattern) > max_length:
        return [_length(max_length)]
    try:
        with warnings.catch_warnings():
            # re warns about ambiguous syntax (e.g. a possible nested set "[[a]"); refuse it.
            warnings.simplefilter("error")
            parsed = _sre_parse.parse(pattern)
            re.compile(pattern)
    except re.error as exc:
        return [_syntax(str(exc))]
    except Warning as exc:
        return [_syntax(str(exc))]
    except (RecursionError, OverflowError):
        return [_TOO_DEEP]
    # Any (?i) or (?i:...) anywhere makes every comparison of letters case-blind (conservative).
    ignore_case = bool(parsed.state.flags & re.IGNORECASE) or _INLINE_I.search(pattern) is not None
    checker = _Checker(ignore_case)
    try:
        checker.walk(parsed)
    except RecursionError:
        return [_TOO_DEEP]
    return checker.problems


def compile_safe(pattern: str) -> re.Pattern[str]:
    """Compile ``pattern``; raise :class:`ConditionError` if it is invalid or unsafe."""
    problems = regex_problems(pattern)
    if problems:
        raise ConditionError(problems)
    return re.compile(pattern)


# --------------------------------------------------------------------------------------------
# First characters


@dataclass
class _First:
    """The characters a pattern can start with (over-approximated)."""

    anything: bool = False
    chars: set[str] = field(default_factory=set)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)

    def update(self, other: _First) -> None:
        self.anything |= other.anything
        self.chars |= other.chars
        self.ranges.extend(other.ranges)
        self.categories |= other.categories


_CATEGORY_RE: Final = {
    "CATEGORY_DIGIT": re.compile(r"\d"),
    "CATEGORY_NOT_DIGIT": re.compile(r"\D"),
    "CATEGORY_SPACE": re.compile(r"\s"),
    "CATEGORY_NOT_SPACE": re.compile(r"\S"),
    "CATEGORY_WORD": re.compile(r"\w"),
    "CATEGORY_NOT_WORD": re.compile(r"\W"),
}
_DISJOINT_CATEGORIES: Final = frozenset(
    frozenset(pair)
    for pair in (
        ("CATEGORY_DIGIT", "CATEGORY_NOT_DIGIT"),
        ("CATEGORY_SPACE", "CATEGORY_NOT_SPACE"),
        ("CATEGORY_WORD", "CATEGORY_NOT_WORD"),
        ("CATEGORY_DIGIT", "CATEGORY_SPACE"),
        ("CATEGORY_WORD", "CATEGORY_SPACE"),
        ("CATEGORY_DIGIT", "CATEGORY_NOT_WORD"),
    )
)
_SMALL_RANGE: Final = 4096  # ranges up to this size are compared character by character


def _in_category(category: str, chars: Iterable[str]) -> bool:
    rx = _CATEGORY_RE.get(category)
    if rx is None:
        return True  # unknown category: assume it overlaps
    return any(rx.match(c) for c in chars)


def _range_chars(lo: int, hi: int) -> str:
    return "".join(map(chr, range(lo, hi + 1)))


def _overlap(a: _First, b: _First) -> bool:
    """Whether two first-character sets may share a character (True when unsure)."""
    if a.anything or b.anything:
        return True
    if a.chars & b.chars:
        return True
    for x, y in ((a, b), (b, a)):
        for lo, hi in x.ranges:
            if any(lo <= ord(c) <= hi for c in y.chars):
                return True
            for lo2, hi2 in y.ranges:
                if lo <= hi2 and lo2 <= hi:
                    return True
            for category in y.categories:
                if hi - lo > 0x20000 or _in_category(category, _range_chars(lo, hi)):
                    return True
        for category in x.categories:
            if _in_category(category, y.chars):
                return True
    for ca in a.categories:
        for cb in b.categories:
            if frozenset((ca, cb)) not in _DISJOINT_CATEGORIES:
                return True
    return False


# --------------------------------------------------------------------------------------------
# The walk


@dataclass
class _Summary:
    """What a checked sub-pattern tells its parent."""

    splits: float = 1  # ways it can split a fixed text among its repeats (INF: unbounded)
    ambiguous_branch: bool = False  # has alternatives that can start alike


class _Checker:
    def __init__(self, ignore_case: bool) -> None:
        self.problems: list[Problem] = []
        self.ignore_case = ignore_case

    def report(self, problem: Problem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def walk(self, items: Any) -> _Summary:
        """Check a sequence of (opcode, argument) items."""
        summary = _Summary()
        for op, av in items:
            part = self.item(op, av)
            summary.splits = _times(summary.splits, part.splits)
            summary.ambiguous_branch |= part.ambiguous_branch
        return summary

    def item(self, op: Any, av: Any) -> _Summary:
        if op == _GROUPREF:
            self.report(_BACKREF)
        elif op == _GROUPREF_EXISTS:
            self.report(_CONDITIONAL)
            _group, yes, no = av
            parts = [self.walk(yes)] + ([self.walk(no)] if no is not None else [])
            return _Summary(max(p.splits for p in parts), any(p.ambiguous_branch for p in parts))
        elif op in (_ASSERT, _ASSERT_NOT):
            direction, body = av
            self.report(_LOOKBEHIND if direction < 0 else _LOOKAHEAD)
            return self.walk(body)
        elif op == _SUBPATTERN:
            return self.walk(av[3])
        elif _ATOMIC_GROUP is not None and op == _ATOMIC_GROUP:
            return self.walk(av)
        elif op == _BRANCH:
            branches = av[1]
            parts = [self.walk(b) for b in branches]
            ambiguous = any(p.ambiguous_branch for p in parts) or self.branches_overlap(branches)
            return _Summary(max(p.splits for p in parts), ambiguous)
        elif op in _REPEATS:
            return self.repeat(*av)
        return _Summary()

    def repeat(self, low: int, high: int, body: Any) -> _Summary:
        unbounded = high == _MAXREPEAT
        if low > MAX_COUNT or (not unbounded and high > MAX_COUNT):
            self.report(_count(low if unbounded else high))
        inner = self.walk(body)
        if unbounded or high > 1:
            bounded = not unbounded and inner.splits != INF
            if inner.splits > 1 and not (bounded and not _power_exceeds(inner.splits, high, MAX_SPLITS)):
                self.report(_NESTED)
            if inner.ambiguous_branch:
                self.report(_ALTERNATION)
        choices = INF if unbounded else high - low + 1
        return _Summary(_times(choices, inner.splits), inner.ambiguous_branch)

    def branches_overlap(self, branches: list[Any]) -> bool:
        """Whether two alternatives can match at the same place (True when unsure)."""
        for i, left in enumerate(branches):
            for right in branches[i + 1 :]:
                if self.pair_overlaps(left, right):
                    return True
        return False

    def pair_overlaps(self, left: Any, right: Any) -> bool:
        # Walk both alternatives one character at a time: where they need different characters
        # at the same offset, no text matches both (bar|baz). Past the fixed-width start,
        # compare what each remainder can start with.
        for index, ((op_l, av_l), (op_r, av_r)) in enumerate(zip(left, right)):
            char_l, char_r = self.one_char(op_l, av_l), self.one_char(op_r, av_r)
            if char_l is None or char_r is None:
                first_l, nullable_l = self.first(left[index:])
                first_r, nullable_r = self.first(right[index:])
                return nullable_l or nullable_r or _overlap(first_l, first_r)
            if not _overlap(char_l, char_r):
                return False
        return True  # one is a prefix of the other

    def one_char(self, op: Any, av: Any) -> _First | None:
        """The characters of an item that matches exactly one character, else None."""
        if op == _LITERAL:
            return _First(chars=self.cased(chr(av)))
        if op == _IN:
            return self.first_of_set(av)
        if op in (_ANY, _NOT_LITERAL):
            return _First(anything=True)
        return None

    def first(self, items: Any) -> tuple[_First, bool]:
        """The first characters of a sequence of items, and whether it can match nothing."""
        result = _First()
        for op, av in items:
            part, nullable = self.first_of(op, av)
            result.update(part)
            if not nullable:
                return result, False
        return result, True

    def first_of(self, op: Any, av: Any) -> tuple[_First, bool]:
        if op == _LITERAL:
            return _First(chars=self.cased(chr(av))), False
        if op == _IN:
            return self.first_of_set(av), False
        if op == _SUBPATTERN:
            return self.first(av[3])
        if _ATOMIC_GROUP is not None and op == _ATOMIC_GROUP:
            return self.first(av)
        if op == _BRANCH:
            result, any_nullable = _First(), False
            for branch in av[1]:
                part, nullable = self.first(branch)
                result.update(part)
                any_nullable |= nullable
            return result, any_nullable
        if op in _REPEATS:
            low, _high, body = av
            part, nullable = self.first(body)
            return part, nullable or low == 0
        if op == _AT:
            return _First(), True  # zero-width
        return _First(anything=True), True  # ANY, NOT_LITERAL, assertions, anything unknown

    def first_of_set(self, items: Any) -> _First:
        result = _First()
        for op, av in items:
            if op == _NEGATE:
                return _First(anything=True)
            if op == _LITERAL:
                result.chars |= self.cased(chr(av))
            elif op == _RANGE:
                lo, hi = av
                if hi - lo < _SMALL_RANGE:
                    for code in range(lo, hi + 1):
                        result.chars |= self.cased(chr(code))
                elif self.ignore_case:
                    return _First(anything=True)
                else:
                    result.ranges.append((lo, hi))
            elif op == _CATEGORY:
                result.categories.add(str(av))
            else:
                return _First(anything=True)
        return result

    def cased(self, char: str) -> set[str]:
        if not self.ignore_case:
            return {char}
        return {char, char.lower(), char.upper(), char.casefold()[:1] or char}


def _times(a: float, b: float) -> float:
    if a == INF or b == INF:
        return INF
    return a * b


def _power_exceeds(base: float, exponent: int, limit: int) -> bool:
    """Whether ``base ** exponent > limit``, without computing a huge power."""
    value = 1.0
    for _ in range(exponent):
        value *= base
        if value > limit:
            return True
    return False
