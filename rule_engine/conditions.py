"""The condition language: parse, check, compile, explain.

A condition is a string (``deal_size >= 1000000 and industry in ["medical", "finance"]``) or the
JSON tree a condition-builder form writes (``{"all": [{"field": ..., "op": ..., "value": ...}]}``).
Both become the same tree of :mod:`rule_engine.conditions` nodes, which is type-checked against
an :class:`Env` (the template's fields) and compiled once into plain Python closures.

Nothing here calls ``eval``: the parser accepts only the documented operators, literals, names
and the functions in :data:`FUNCTIONS`, and the compiler builds closures over them.

Evaluation takes two mappings: ``L`` (the lead's values, the outputs of earlier tables, and the
clock under the key ``"$now"``) and ``R`` (the rep's values, or ``None`` where no rep is in
scope). A missing value (absent or ``None``) makes every comparison false.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Union
from zoneinfo import ZoneInfo

from rule_engine._regex_safety import regex_problems
from rule_engine.errors import ConditionError, PathPart, Problem, closest
from rule_engine.types import (
    ANY,
    BOOLEAN,
    DATE,
    DATETIME,
    LIST_ANY,
    NUMBER,
    STRING,
    ValueType,
)

__all__ = [
    "COMPARISON_OPERATORS",
    "FUNCTIONS",
    "LIMITS",
    "OPERATORS",
    "Condition",
    "Env",
    "Expression",
    "Node",
    "compile_condition",
    "compile_expression",
    "conjuncts",
    "parse",
    "parse_tree",
    "to_tree",
    "unparse",
]

NOW_KEY = "$now"

COMPARISON_OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
TEST_OPERATORS = ("is set", "is not set", "is empty", "is not empty")
BOOLEAN_OPERATORS = ("and", "or", "not")
ARITHMETIC_OPERATORS = ("+", "-", "*", "/", "%")
OPERATORS: tuple[str, ...] = COMPARISON_OPERATORS + TEST_OPERATORS + BOOLEAN_OPERATORS + ARITHMETIC_OPERATORS


@dataclass(frozen=True)
class Limits:
    """Bounds on one condition, checked when it is compiled."""

    max_length: int = 2000
    max_nodes: int = 200
    max_depth: int = 32
    max_number: float = 1e15
    max_list_items: int = 256


LIMITS = Limits()

# --------------------------------------------------------------------------------------------
# Tree
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    value: Any
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ListLit:
    items: tuple[Const, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    scope: str  # "lead", "rep" or "team" (the considered rep's team: read from the rep's values as "team.NAME")
    name: str
    explicit: bool = field(default=False, compare=False)  # written as lead.x
    pos: int = field(default=0, compare=False)

    @property
    def display(self) -> str:
        if self.scope in ("rep", "team"):
            return f"{self.scope}.{self.name}"
        return f"lead.{self.name}" if self.explicit else self.name

    @property
    def rep_key(self) -> str:
        """The key of this name in a rep's values (``R``): team figures travel with the rep."""
        return f"team.{self.name}" if self.scope == "team" else self.name


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Test:
    op: str  # one of TEST_OPERATORS
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Arith:
    op: str
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Neg:
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


Node = Union[Const, ListLit, Name, Compare, Test, And, Or, Not, Arith, Neg, Call]


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, (Compare, Arith)):
        return (node.left, node.right)
    if isinstance(node, (And, Or)):
        return node.items
    if isinstance(node, (Not, Neg, Test)):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListLit):
        return node.items
    return ()


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents first."""
    out: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(_children(n)))
    return out


def _problem(code: str, en: str, zh: str, path: Sequence[PathPart] = (), **params: Any) -> Problem:
    return Problem.make(code, en, zh, path, **params)


# --------------------------------------------------------------------------------------------
# Lexer and parser for the string syntax
# --------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|=>|=<|<>|\*\*|&&|\|\||[<>=!+\-*/%(),.\[\]])
    """,
    re.VERBOSE,
)

_KEYWORDS = {"and", "or", "not", "in", "is", "set", "empty", "true", "false"}
_MISTAKES = {
    "=": "==",
    "=>": ">=",
    "=<": "<=",
    "<>": "!=",
    "&&": "and",
    "||": "or",
    "!": "not",
}


@dataclass(frozen=True)
class _Tok:
    kind: str  # number, string, name, op, end
    text: str
    pos: int


def _col(pos: int) -> int:
    return pos + 1


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    n = len(src)
    while i < n:
        m = _TOKEN_RE.match(src, i)
        if m is None:
            ch = src[i]
            if ch in "\"'":
                raise ConditionError(
                    _problem(
                        "condition.syntax",
                        "unterminated string starting at column {col}",
                        "第 {col} 列开始的字符串没有结束引号",
                        col=_col(i),
                    )
                )
            raise ConditionError(
                _problem(
                    "condition.syntax",
                    "unexpected character {ch!r} at column {col}",
                    "第 {col} 列出现了不允许的字符 {ch!r}",
                    ch=ch,
                    col=_col(i),
                )
            )
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), i))
        i = m.end()
    toks.append(_Tok("end", "", n))
    return toks


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def _unquote(text: str, pos: int) -> str:
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _ESCAPES:
                raise ConditionError(
                    _problem(
                        "condition.syntax",
                        "unknown escape '\\{esc}' in a string at column {col}",
                        "第 {col} 列的字符串里有未知的转义 '\\{esc}'",
                        esc=nxt,
                        col=_col(pos),
                    )
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class _Parser:
    def __init__(self, src: str, limits: Limits) -> None:
        self.src = src
        self.limits = limits
        self.toks = _tokenize(src)
        self.i = 0
        self.depth = 0

    # helpers -------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        tok = self.peek()
        return tok.kind == kind and (text is None or tok.text == text)

    def at_word(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok.kind == "name" and tok.text == word

    def error(self, tok: _Tok, expected: str, expected_zh: str) -> ConditionError:
        if tok.kind == "end":
            return ConditionError(
                _problem(
                    "condition.syntax",
                    "the condition ends too early: expected {exp}",
                    "条件不完整:此处应为{exp_zh}",
                    exp=expected,
                    exp_zh=expected_zh,
                )
            )
        if tok.text in _MISTAKES:
            fix = _MISTAKES[tok.text]
            return ConditionError(
                _problem(
                    "condition.syntax",
                    "{tok!r} at column {col} is not an operator here: write {fix!r}",
                    "第 {col} 列的 {tok!r} 不是这里可用的运算符,请写成 {fix!r}",
                    tok=tok.text,
                    col=_col(tok.pos),
                    fix=fix,
                )
            )
        if tok.text == "**":
            return ConditionError(
                _problem(
                    "condition.syntax",
                    "there is no exponent operator (column {col})",
                    "不支持乘方运算符(第 {col} 列)",
                    col=_col(tok.pos),
                )
            )
        return ConditionError(
            _problem(
                "condition.syntax",
                "unexpected {tok!r} at column {col}: expected {exp}",
                "第 {col} 列出现了意外的 {tok!r}:此处应为{exp_zh}",
                tok=tok.text,
                col=_col(tok.pos),
                exp=expected,
                exp_zh=expected_zh,
            )
        )

    def expect_op(self, text: str) -> _Tok:
        if not self.at("op", text):
            raise self.error(self.peek(), repr(text), repr(text))
        return self.next()

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise ConditionError(
                _problem(
                    "condition.limit",
                    "the condition is nested more than {limit} levels deep (column {col})",
                    "条件嵌套超过 {limit} 层(第 {col} 列)",
                    limit=self.limits.max_depth,
                    col=_col(pos),
                )
            )

    def leave(self) -> None:
        self.depth -= 1

    # grammar ---------------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.or_expr()
        if not self.at("end"):
            raise self.error(self.peek(), "'and', 'or' or the end of the condition", "'and'、'or' 或条件结尾")
        return node

    def or_expr(self) -> Node:
        pos = self.peek().pos
        items = [self.and_expr()]
        while self.at_word("or"):
            self.next()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items), pos)

    def and_expr(self) -> Node:
        pos = self.peek().pos
        items = [self.not_expr()]
        while self.at_word("and"):
            self.next()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items), pos)

    def not_expr(self) -> Node:
        if self.at_word("not") and not self.at_word("in", 1):
            tok = self.next()
            self.enter(tok.pos)
            operand = self.not_expr()
            self.leave()
            return Not(operand, tok.pos)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("==", "!=", "<", "<=", ">", ">="):
            self.next()
            return Compare(tok.text, left, self.additive(), tok.pos)
        if self.at_word("in"):
            self.next()
            return Compare("in", left, self.additive(), tok.pos)
        if self.at_word("not") and self.at_word("in", 1):
            self.next()
            self.next()
            return Compare("not in", left, self.additive(), tok.pos)
        if self.at_word("is"):
            self.next()
            negate = False
            if self.at_word("not"):
                self.next()
                negate = True
            word = self.peek()
            if word.kind == "name" and word.text in ("set", "empty"):
                self.next()
                op = f"is {'not ' if negate else ''}{word.text}"
                return Test(op, left, tok.pos)
            raise self.error(word, "'set' or 'empty' after 'is'", "'is' 后面的 'set' 或 'empty'")
        if tok.kind == "op" and tok.text in _MISTAKES:
            raise self.error(tok, "", "")
        return left

    def additive(self) -> Node:
        left = self.term()
        while self.at("op", "+") or self.at("op", "-"):
            tok = self.next()
            left = Arith(tok.text, left, self.term(), tok.pos)
        return left

    def term(self) -> Node:
        left = self.unary()
        while self.at("op", "*") or self.at("op", "/") or self.at("op", "%"):
            tok = self.next()
            left = Arith(tok.text, left, self.unary(), tok.pos)
        if self.at("op", "**"):
            raise self.error(self.peek(), "", "")
        return left

    def unary(self) -> Node:
        if self.at("op", "-"):
            tok = self.next()
            self.enter(tok.pos)
            operand = self.unary()
            self.leave()
            if isinstance(operand, Const) and isinstance(operand.value, (int, float)) and not isinstance(operand.value, bool):
                return Const(-operand.value, tok.pos)
            return Neg(operand, tok.pos)
        return self.primary()

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "number":
            self.next()
            return Const(self.number(tok), tok.pos)
        if tok.kind == "string":
            self.next()
            return Const(_unquote(tok.text, tok.pos), tok.pos)
        if tok.kind == "op" and tok.text == "(":
            self.next()
            self.enter(tok.pos)
            node = self.or_expr()
            self.leave()
            self.expect_op(")")
            return node
        if tok.kind == "op" and tok.text == "[":
            return self.list_literal()
        if tok.kind == "name":
            return self.name_or_call()
        raise self.error(tok, "a value, a name or '('", "值、名称或 '('")

    def number(self, tok: _Tok) -> int | float:
        text = tok.text.replace("_", "")
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        # math.isfinite() would overflow on a long integer literal; int/float comparison is exact.
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > self.limits.max_number:
            raise ConditionError(
                _problem(
                    "condition.limit",
                    "the number {text} at column {col} is too large (at most {limit:g})",
                    "第 {col} 列的数字 {text} 太大(最大 {limit:g})",
                    text=tok.text,
                    col=_col(tok.pos),
                    limit=self.limits.max_number,
                )
            )
        return value

    def list_literal(self) -> ListLit:
        start = self.next()
        self.enter(start.pos)  # `[[[[...` recurses through unary(): bound it like parentheses
        items: list[Const] = []
        if not self.at("op", "]"):
            while True:
                item = self.unary()
                if not isinstance(item, Const):
                    raise ConditionError(
                        _problem(
                            "condition.syntax",
                            "list items must be plain values (column {col})",
                            "列表里只能写具体的值(第 {col} 列)",
                            col=_col(item.pos),
                        )
                    )
                items.append(item)
                if len(items) > self.limits.max_list_items:
                    raise ConditionError(
                        _problem(
                            "condition.limit",
                            "a list may hold at most {limit} items",
                            "列表最多 {limit} 项",
                            limit=self.limits.max_list_items,
                        )
                    )
                if self.at("op", ","):
                    self.next()
                    if self.at("op", "]"):
                        break
                    continue
                break
        if not self.at("op", "]"):
            raise self.error(self.peek(), "',' or ']'", "',' 或 ']'")
        self.next()
        self.leave()
        return ListLit(tuple(items), start.pos)

    def name_or_call(self) -> Node:
        tok = self.next()
        word = tok.text
        if word in ("true", "false"):
            return Const(word == "true", tok.pos)
        if word in _KEYWORDS:
            raise self.error(tok, "a value or a name", "值或名称")
        if word.startswith("__") or word.endswith("__"):
            raise ConditionError(
                _problem(
                    "condition.name",
                    "names with double underscores are not allowed ({name!r}, column {col})",
                    "不允许使用双下划线名称({name!r},第 {col} 列)",
                    name=word,
                    col=_col(tok.pos),
                )
            )
        if self.at("op", "("):
            return self.call(tok)
        if self.at("op", "."):
            if word not in ("lead", "rep", "team"):
                raise ConditionError(
                    _problem(
                        "condition.name",
                        "'{name}.' at column {col}: only lead.X, rep.X and team.X may use a dot",
                        "第 {col} 列的 '{name}.':只有 lead.X、rep.X 和 team.X 可以用点号",
                        name=word,
                        col=_col(tok.pos),
                    )
                )
            self.next()
            attr = self.peek()
            if attr.kind != "name" or attr.text in _KEYWORDS:
                raise self.error(attr, f"a {word} field name after '{word}.'", f"'{word}.' 后面的字段名")
            self.next()
            if attr.text.startswith("_"):
                raise ConditionError(
                    _problem(
                        "condition.name",
                        "field names cannot start with '_' ({name!r}, column {col})",
                        "字段名不能以 '_' 开头({name!r},第 {col} 列)",
                        name=attr.text,
                        col=_col(attr.pos),
                    )
                )
            if self.at("op", ".") or self.at("op", "("):
                raise ConditionError(
                    _problem(
                        "condition.name",
                        "only one level of names is allowed: {scope}.{name} (column {col})",
                        "名称只能有一层:{scope}.{name}(第 {col} 列)",
                        scope=word,
                        name=attr.text,
                        col=_col(self.peek().pos),
                    )
                )
            return Name(word, attr.text, explicit=True, pos=tok.pos)
        if word in ("lead", "rep", "team"):
            raise self.error(self.peek(), f"'.' and a field name after {word!r}", f"{word!r} 后面的 '.' 和字段名")
        return Name("lead", word, pos=tok.pos)

    def call(self, tok: _Tok) -> Call:
        if tok.text not in FUNCTIONS:
            raise ConditionError(
                Problem.make(
                    "condition.function",
                    "unknown function {name!r} at column {col}",
                    "第 {col} 列的函数 {name!r} 不存在",
                    suggestion=closest(tok.text, FUNCTIONS),
                    name=tok.text,
                    col=_col(tok.pos),
                )
            )
        self.expect_op("(")
        self.enter(tok.pos)
        args: list[Node] = []
        if not self.at("op", ")"):
            while True:
                args.append(self.or_expr())
                if self.at("op", ","):
                    self.next()
                    continue
                break
        self.leave()
        if not self.at("op", ")"):
            raise self.error(self.peek(), "',' or ')'", "',' 或 ')'")
        self.next()
        return Call(tok.text, tuple(args), tok.pos)


def parse(src: str, *, limits: Limits = LIMITS) -> Node:
    """Parse the string syntax into a tree (no type check); raises ConditionError."""
    if not isinstance(src, str):
        raise ConditionError(
            _problem("condition.type", "a condition must be a string or a tree", "条件必须是字符串或条件树")
        )
    if len(src) > limits.max_length:
        raise ConditionError(
            _problem(
                "condition.limit",
                "the condition is {n} characters long (at most {limit})",
                "条件长度为 {n} 个字符(最多 {limit})",
                n=len(src),
                limit=limits.max_length,
            )
        )
    if not src.strip():
        raise ConditionError(_problem("condition.syntax", "the condition is empty", "条件为空"))
    node = _Parser(src, limits).parse()
    _check_size(node, limits)
    return node


def _check_size(node: Node, limits: Limits) -> None:
    count = len(walk(node))
    if count > limits.max_nodes:
        raise ConditionError(
            _problem(
                "condition.limit",
                "the condition has {n} parts (at most {limit})",
                "条件包含 {n} 个部分(最多 {limit})",
                n=count,
                limit=limits.max_nodes,
            )
        )


# --------------------------------------------------------------------------------------------
# JSON tree form
# --------------------------------------------------------------------------------------------

_TREE_OPS = COMPARISON_OPERATORS + TEST_OPERATORS


def _name_from_tree(text: Any, path: tuple[PathPart, ...]) -> Name:
    if not isinstance(text, str) or not re.fullmatch(r"(?:(lead|rep|team)\.)?[a-z][a-z0-9_]{0,62}", text):
        raise ConditionError(
            _problem(
                "condition.name",
                "{text!r} is not a field name (write name, lead.name, rep.name or team.name)",
                "{text!r} 不是字段名(应写 name、lead.name、rep.name 或 team.name)",
                path,
                text=text,
            )
        )
    if "." in text:
        scope, name = text.split(".", 1)
        return Name(scope, name, explicit=True)
    return Name("lead", text)


def _const_from_tree(value: Any, path: tuple[PathPart, ...], limits: Limits) -> Const | ListLit:
    if isinstance(value, list):
        if len(value) > limits.max_list_items:
            raise ConditionError(
                _problem("condition.limit", "a list may hold at most {limit} items", "列表最多 {limit} 项", path, limit=limits.max_list_items)
            )
        items = []
        for i, item in enumerate(value):
            c = _const_from_tree(item, (*path, i), limits)
            if isinstance(c, ListLit):
                raise ConditionError(_problem("condition.type", "lists cannot be nested", "列表不能嵌套", (*path, i)))
            items.append(c)
        return ListLit(tuple(items))
    if isinstance(value, bool) or isinstance(value, str):
        return Const(value)
    if isinstance(value, (int, float)):
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > limits.max_number:
            raise ConditionError(
                _problem("condition.limit", "the number {v} is too large", "数字 {v} 太大", path, v=value)
            )
        return Const(value)
    raise ConditionError(
        _problem(
            "condition.type",
            "a value must be a string, number, boolean or list of them",
            "值必须是字符串、数字、布尔值或它们的列表",
            path,
        )
    )


def parse_tree(tree: Any, *, limits: Limits = LIMITS) -> Node:
    """Turn a condition given as a string or JSON tree into a tree; raises ConditionError."""
    if isinstance(tree, str):
        return parse(tree, limits=limits)
    node = _from_tree(tree, (), 0, limits)
    _check_size(node, limits)
    return node


def _from_tree(tree: Any, path: tuple[PathPart, ...], depth: int, limits: Limits) -> Node:
    if depth > limits.max_depth:
        raise ConditionError(
            _problem("condition.limit", "the condition is nested more than {limit} levels deep", "条件嵌套超过 {limit} 层", path, limit=limits.max_depth)
        )
    if isinstance(tree, str):
        try:
            return parse(tree, limits=limits)
        except ConditionError as exc:
            raise exc.under(*path) from None
    if not isinstance(tree, Mapping):
        raise ConditionError(
            _problem(
                "condition.type",
                "a condition must be a string or an object with all/any/not/field/expr",
                "条件必须是字符串,或包含 all/any/not/field/expr 的对象",
                path,
            )
        )
    keys = set(tree)
    for group, cls in (("all", And), ("any", Or)):
        if group in tree:
            if keys != {group}:
                raise _extra_keys(keys - {group}, path)
            items = tree[group]
            if not isinstance(items, list) or not items:
                raise ConditionError(
                    _problem("condition.type", "'{g}' needs a non-empty list of conditions", "'{g}' 需要一个非空的条件列表", (*path, group), g=group)
                )
            nodes = tuple(_from_tree(item, (*path, group, i), depth + 1, limits) for i, item in enumerate(items))
            return nodes[0] if len(nodes) == 1 else cls(nodes)
    if "not" in tree:
        if keys != {"not"}:
            raise _extra_keys(keys - {"not"}, path)
        return Not(_from_tree(tree["not"], (*path, "not"), depth + 1, limits))
    if "expr" in tree:
        if keys != {"expr"}:
            raise _extra_keys(keys - {"expr"}, path)
        if not isinstance(tree["expr"], str):
            raise ConditionError(_problem("condition.type", "'expr' must be a string", "'expr' 必须是字符串", (*path, "expr")))
        try:
            return parse(tree["expr"], limits=limits)
        except ConditionError as exc:
            raise exc.under(*path, "expr") from None
    if "field" in tree:
        allowed = {"field", "op", "value", "ref"}
        if keys - allowed:
            raise _extra_keys(keys - allowed, path)
        left = _name_from_tree(tree["field"], (*path, "field"))
        op = tree.get("op")
        if op not in _TREE_OPS:
            raise ConditionError(
                Problem.make(
                    "condition.operator",
                    "unknown operator {op!r}",
                    "未知的运算符 {op!r}",
                    (*path, "op"),
                    suggestion=_tree_op_suggestion(op),
                    op=op,
                )
            )
        if op in TEST_OPERATORS:
            if "value" in tree or "ref" in tree:
                raise _extra_keys(keys & {"value", "ref"}, path)
            return Test(op, left)
        if ("value" in tree) == ("ref" in tree):
            raise ConditionError(
                _problem("condition.type", "give exactly one of 'value' or 'ref'", "'value' 和 'ref' 必须且只能给一个", path)
            )
        right: Node
        if "ref" in tree:
            right = _name_from_tree(tree["ref"], (*path, "ref"))
        else:
            right = _const_from_tree(tree["value"], (*path, "value"), limits)
        return Compare(op, left, right)
    raise ConditionError(
        _problem(
            "condition.type",
            "a condition object needs one of: all, any, not, field, expr",
            "条件对象需要以下之一:all、any、not、field、expr",
            path,
        )
    )


def _tree_op_suggestion(op: Any) -> str | None:
    """The operator a wrong ``op`` most likely meant: ``=`` is ``==`` (not the equally close ``>=``)."""
    if not isinstance(op, str):
        return None
    fix = _MISTAKES.get(op.strip())
    return fix if fix in _TREE_OPS else closest(op, _TREE_OPS)


def _extra_keys(keys: set[str], path: tuple[PathPart, ...]) -> ConditionError:
    key = sorted(keys)[0]
    return ConditionError(
        Problem.make(
            "condition.key",
            "unexpected key {key!r} in a condition",
            "条件中出现了多余的键 {key!r}",
            (*path, key),
            suggestion=closest(key, ["all", "any", "not", "field", "op", "value", "ref", "expr"]),
            key=key,
        )
    )


def _fmt_const(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return repr(value)


_PRECEDENCE = {Or: 1, And: 2, Not: 3, Compare: 4, Test: 4}


def _prec(node: Node) -> int:
    if isinstance(node, Arith):
        return 5 if node.op in "+-" else 6
    if isinstance(node, Neg):
        return 7
    return _PRECEDENCE.get(type(node), 9)


def unparse(node: Node) -> str:
    """The canonical string form of a tree."""

    def wrap(child: Node, min_prec: int) -> str:
        text = unparse(child)
        return f"({text})" if _prec(child) < min_prec else text

    if isinstance(node, Const):
        return _fmt_const(node.value)
    if isinstance(node, ListLit):
        return "[" + ", ".join(_fmt_const(i.value) for i in node.items) + "]"
    if isinstance(node, Name):
        return node.display
    if isinstance(node, Compare):
        return f"{wrap(node.left, 5)} {node.op} {wrap(node.right, 5)}"
    if isinstance(node, Test):
        return f"{wrap(node.operand, 5)} {node.op}"
    if isinstance(node, And):
        return " and ".join(wrap(i, 3) for i in node.items)
    if isinstance(node, Or):
        return " or ".join(wrap(i, 2) for i in node.items)
    if isinstance(node, Not):
        return f"not {wrap(node.operand, 3)}"
    if isinstance(node, Arith):
        p = _prec(node)
        return f"{wrap(node.left, p)} {node.op} {wrap(node.right, p + 1)}"
    if isinstance(node, Neg):
        return f"-{wrap(node.operand, 7)}"
    if isinstance(node, Call):
        return f"{node.fn}(" + ", ".join(unparse(a) for a in node.args) + ")"
    raise TypeError(node)  # pragma: no cover - every node type is handled above


def to_tree(node: Node) -> Any:
    """The JSON tree form of a tree (``{"expr": ...}`` for parts a builder row cannot show)."""
    if isinstance(node, And):
        return {"all": [to_tree(i) for i in node.items]}
    if isinstance(node, Or):
        return {"any": [to_tree(i) for i in node.items]}
    if isinstance(node, Not):
        return {"not": to_tree(node.operand)}
    if isinstance(node, Test) and isinstance(node.operand, Name):
        return {"field": node.operand.display, "op": node.op}
    if isinstance(node, Compare) and isinstance(node.left, Name):
        if isinstance(node.right, Const):
            return {"field": node.left.display, "op": node.op, "value": node.right.value}
        if isinstance(node.right, ListLit):
            return {"field": node.left.display, "op": node.op, "value": [i.value for i in node.right.items]}
        if isinstance(node.right, Name):
            return {"field": node.left.display, "op": node.op, "ref": node.right.display}
    return {"expr": unparse(node)}


# --------------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """One function callable from conditions."""

    name: str
    signature: str
    doc_en: str
    doc_zh: str
    example: str
    min_args: int
    max_args: int
    returns: Callable[[list[ValueType]], ValueType | str]  # a type, or an error message
    impl: Callable[..., Any] | None  # None: implemented by the compiler (needs the clock or the timezone)
    missing_ok: bool = False  # True: receives None arguments instead of short-circuiting to None
    uses_now: bool = False


def _ret(t: ValueType, *accepted: tuple[str, ...]) -> Callable[[list[ValueType]], ValueType | str]:
    def check(args: list[ValueType]) -> ValueType | str:
        for i, arg in enumerate(args):
            kinds = accepted[min(i, len(accepted) - 1)] if accepted else ()
            if kinds and arg.kind != "any" and arg.kind not in kinds:
                return f"argument {i + 1} must be {' or '.join(kinds)}, not {arg}"
        return t

    return check


def _minmax_type(args: list[ValueType]) -> ValueType | str:
    kinds = {a.kind for a in args} - {"any"}
    if len(kinds) > 1 or (kinds and next(iter(kinds)) not in ("number", "date", "datetime", "string")):
        return "all arguments must be numbers (or all dates)"
    return ValueType(kinds.pop()) if kinds else ANY


def _coalesce_type(args: list[ValueType]) -> ValueType | str:
    kinds = {a.plain() for a in args if a.kind != "any"}
    if len(kinds) > 1:
        return "all arguments must have the same type"
    return kinds.pop() if kinds else ANY


def _if_type(args: list[ValueType]) -> ValueType | str:
    if args[0].kind not in ("boolean", "any"):
        return "the first argument must be a condition"
    kinds = {a.plain() for a in args[1:] if a.kind != "any"}
    if len(kinds) > 1:
        return "the second and third arguments must have the same type"
    return kinds.pop() if kinds else ANY


def _if(c: Any, a: Any, b: Any) -> Any:
    return a if c is True else b


def _len(x: Any) -> int:
    return 0 if x is None else len(x)


def _contains(s: str, sub: str) -> bool:
    return sub in s


def _overlaps(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return not set(a).isdisjoint(b)


def _overlap_count(a: Sequence[Any], b: Sequence[Any]) -> int:
    return len(set(a).intersection(b))


def _round(x: float, digits: int = 0) -> float | int:
    r = round(x, int(digits))
    return int(r) if digits == 0 else r


def _coalesce(*args: Any) -> Any:
    for a in args:
        if a is not None and a != "" and a != ():
            return a
    return None


def _weekday(d: dt.date) -> int:
    return d.isoweekday()


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in [
        FunctionSpec(
            "days_since", "days_since(d) -> number", "days from d (date or datetime) until now; fractional for datetimes",
            "从 d(日期或时间)到现在的天数;时间按小数天计", "days_since(assigned_at) > 3", 1, 1,
            _ret(NUMBER, ("date", "datetime")), None, uses_now=True,
        ),
        FunctionSpec(
            "hours_since", "hours_since(d) -> number", "hours from d until now", "从 d 到现在的小时数",
            "hours_since(assigned_at) <= 24", 1, 1, _ret(NUMBER, ("date", "datetime")), None, uses_now=True,
        ),
        FunctionSpec(
            "days_until", "days_until(d) -> number", "days from now until d (negative when d is past)",
            "从现在到 d 的天数(已过则为负数)", "days_until(contract_end) < 30", 1, 1,
            _ret(NUMBER, ("date", "datetime")), None, uses_now=True,
        ),
        FunctionSpec(
            "date", 'date("YYYY-MM-DD") -> date', "a date literal", "日期字面量", 'signed_on >= date("2026-01-01")',
            1, 1, _ret(DATE, ("string",)), None,
        ),
        FunctionSpec(
            "len", "len(x) -> number", "length of a string or number of items of a list; 0 when missing",
            "字符串长度或列表项数;未填时为 0", "len(product_lines) >= 2", 1, 1, _ret(NUMBER, ("string", "list")), _len,
            missing_ok=True,
        ),
        FunctionSpec(
            "lower", "lower(s) -> string", "s in lower case", "转为小写", 'lower(source) == "wechat"', 1, 1,
            _ret(STRING, ("string",)), str.lower,
        ),
        FunctionSpec(
            "upper", "upper(s) -> string", "s in upper case", "转为大写", 'upper(province_code) == "GD"', 1, 1,
            _ret(STRING, ("string",)), str.upper,
        ),
        FunctionSpec(
            "contains", "contains(s, sub) -> boolean", "whether the string s contains sub", "字符串 s 是否包含 sub",
            'contains(company, "医院")', 2, 2, _ret(BOOLEAN, ("string",)), _contains,
        ),
        FunctionSpec(
            "starts_with", "starts_with(s, prefix) -> boolean", "whether s starts with prefix", "s 是否以 prefix 开头",
            'starts_with(phone, "+86")', 2, 2, _ret(BOOLEAN, ("string",)), str.startswith,
        ),
        FunctionSpec(
            "ends_with", "ends_with(s, suffix) -> boolean", "whether s ends with suffix", "s 是否以 suffix 结尾",
            'ends_with(email, ".edu.cn")', 2, 2, _ret(BOOLEAN, ("string",)), str.endswith,
        ),
        FunctionSpec(
            "matches", 'matches(s, "regex") -> boolean', "whether the regular expression (a literal, checked for "
            "catastrophic backtracking) matches somewhere in s", "正则表达式(必须是字面量,已检查回溯风险)是否在 s 中匹配",
            'matches(phone, "^1[3-9][0-9]{9}$")', 2, 2, _ret(BOOLEAN, ("string",)), None,
        ),
        FunctionSpec(
            "abs", "abs(n) -> number", "absolute value", "绝对值", "abs(price_gap) < 1000", 1, 1,
            _ret(NUMBER, ("number",)), abs,
        ),
        FunctionSpec(
            "min", "min(a, b, ...) -> number", "smallest argument (missing if any is missing)", "最小值(任一未填则为未填)",
            "min(deal_size, budget) >= 100000", 2, 16, _minmax_type, min,
        ),
        FunctionSpec(
            "max", "max(a, b, ...) -> number", "largest argument (missing if any is missing)", "最大值(任一未填则为未填)",
            "max(deal_size, budget) >= 100000", 2, 16, _minmax_type, max,
        ),
        FunctionSpec(
            "round", "round(n[, digits]) -> number", "n rounded half to even, to digits decimals (default 0)",
            "四舍六入五成双,保留 digits 位小数(默认 0)", "round(deal_size / 10000)", 1, 2, _ret(NUMBER, ("number",)),
            _round,
        ),
        FunctionSpec(
            "coalesce", "coalesce(a, b, ...) -> value", "the first argument that is set and not empty",
            "第一个已填且非空的参数", 'coalesce(city, province) == "上海"', 2, 16, _coalesce_type, _coalesce,
            missing_ok=True,
        ),
        FunctionSpec(
            "if", "if(c, a, b) -> value", "a when the condition c holds, else b (also b when c is missing)",
            "条件 c 成立时取 a,否则取 b(c 未填时也取 b)", "overlap_count(product_lines, rep.skills) * 10 + if(rep.exec_rapport, 5, 0)",
            3, 3, _if_type, _if, missing_ok=True,
        ),
        FunctionSpec(
            "overlaps", "overlaps(a, b) -> boolean", "whether the lists a and b share an item", "列表 a 和 b 是否有相同的项",
            "overlaps(product_lines, rep.skills)", 2, 2, _ret(BOOLEAN, ("list",)), _overlaps,
        ),
        FunctionSpec(
            "overlap_count", "overlap_count(a, b) -> number", "how many distinct items the lists a and b share",
            "列表 a 和 b 共有的不同项个数", "overlap_count(product_lines, rep.skills) * 10", 2, 2,
            _ret(NUMBER, ("list",)), _overlap_count,
        ),
        FunctionSpec(
            "weekday", "weekday(d) -> number", "day of the week of d, 1 = Monday ... 7 = Sunday (template timezone)",
            "d 是星期几,1=周一……7=周日(按模板时区)", "weekday(created_at) >= 6", 1, 1,
            _ret(NUMBER, ("date", "datetime")), None,
        ),
    ]
}


# --------------------------------------------------------------------------------------------
# Type checking
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    """What names a condition may read, and their types."""

    lead: Mapping[str, ValueType]
    rep: Mapping[str, ValueType] | None = None  # None: no rep in scope here
    timezone: str = "Asia/Shanghai"
    # names defined later (e.g. tables after this one): a clearer message than "unknown"
    later: Mapping[str, str] = field(default_factory=dict)
    where_en: str = "here"
    where_zh: str = "此处"

    def with_rep(self, rep: Mapping[str, ValueType]) -> Env:
        return Env(self.lead, rep, self.timezone, self.later, self.where_en, self.where_zh)


class _Checker:
    def __init__(self, env: Env, src: str | None) -> None:
        self.env = env
        self.src = src
        self.problems: list[Problem] = []

    def where(self, node: Node) -> str:
        return f" (column {_col(node.pos)})" if self.src is not None else ""

    def where_zh(self, node: Node) -> str:
        return f"(第 {_col(node.pos)} 列)" if self.src is not None else ""

    def fail(self, node: Node, code: str, en: str, zh: str, suggestion: str | None = None, **params: Any) -> ValueType:
        self.problems.append(
            Problem.make(code, en + self.where(node), zh + self.where_zh(node), (), suggestion=suggestion, **params)
        )
        return ANY

    def check(self, node: Node) -> ValueType:
        method = getattr(self, "check_" + type(node).__name__)
        result: ValueType = method(node)
        return result

    def check_Const(self, node: Const) -> ValueType:
        v = node.value
        if isinstance(v, bool):
            return BOOLEAN
        if isinstance(v, str):
            return STRING
        return NUMBER

    def check_ListLit(self, node: ListLit) -> ValueType:
        kinds = {self.check(i).kind for i in node.items}
        if len(kinds) > 1:
            return self.fail(node, "condition.type", "a list must hold items of one type", "列表中的项必须是同一类型")
        return ValueType("list", kinds.pop() if kinds else "any")

    def check_Name(self, node: Name) -> ValueType:
        if node.scope in ("rep", "team"):
            if self.env.rep is None:
                return self.fail(
                    node,
                    "condition.scope",
                    "{scope}.{name} cannot be read {where}: no rep is being considered",
                    "{where_zh}不能读取 {scope}.{name}:此处没有具体的销售",
                    scope=node.scope,
                    name=node.name,
                    where=self.env.where_en,
                    where_zh=self.env.where_zh,
                )
            scope = self.env.rep
        else:
            scope = self.env.lead
        if node.scope == "team":
            t = scope.get(node.rep_key)
            if t is None:
                known = sorted(k.removeprefix("team.") for k in scope if k.startswith("team."))
                return self.fail(
                    node,
                    "condition.name",
                    "unknown team figure {name!r} (known: {known})",
                    "未知的团队指标 {name!r}(可用:{known})",
                    suggestion=closest(node.name, known),
                    name=node.display,
                    known=", ".join(known) or "-",
                )
            return t
        t = scope.get(node.name)
        if t is None:
            if node.scope == "lead" and node.name in self.env.later:
                return self.fail(
                    node,
                    "condition.order",
                    "{name!r} is computed later (by {later}); a rule can only read fields and earlier tables",
                    "{name!r} 要到后面({later})才计算;规则只能读取字段和前面的分级表",
                    name=node.name,
                    later=self.env.later[node.name],
                )
            candidates = [k for k in scope if not k.startswith("team.")]
            if node.scope == "lead" and not node.explicit and self.env.rep is not None and node.name in self.env.rep:
                return self.fail(
                    node,
                    "condition.name",
                    "unknown lead field {name!r}; for the rep's attribute write rep.{name}",
                    "线索中没有字段 {name!r};销售的属性请写 rep.{name}",
                    name=node.name,
                )
            kind_en = "rep attribute" if node.scope == "rep" else "field"
            kind_zh = "销售属性" if node.scope == "rep" else "字段"
            return self.fail(
                node,
                "condition.name",
                "unknown {kind} {name!r}",
                "未知的{kind_zh} {name!r}",
                suggestion=closest(node.name, candidates),
                kind=kind_en,
                kind_zh=kind_zh,
                name=node.display,
            )
        return t

    def _check_option(self, node: Node, t: ValueType, value: Any) -> None:
        if t.options is not None and isinstance(value, str) and value not in t.options:
            self.fail(
                node,
                "condition.option",
                "{value!r} is not an option of this field (options: {opts})",
                "{value!r} 不是该字段的选项(可选:{opts})",
                suggestion=closest(value, t.options),
                value=value,
                opts=", ".join(sorted(t.options)),
            )

    def check_Compare(self, node: Compare) -> ValueType:
        lt = self.check(node.left)
        rt = self.check(node.right)
        if ANY in (lt, rt) or "any" in (lt.kind, rt.kind):
            return BOOLEAN
        op = node.op
        if op in ("in", "not in"):
            if not rt.is_list:
                return self.fail(
                    node,
                    "condition.type",
                    "the right side of '{op}' must be a list or a tags field, not {rt}",
                    "'{op}' 右边必须是列表或多选标签字段,而不是 {rt}",
                    op=op,
                    rt=str(rt),
                )
            if lt.is_list:
                return self.fail(
                    node,
                    "condition.type",
                    "'{op}' tests one value; to compare two lists use overlaps(a, b)",
                    "'{op}' 只能判断单个值;比较两个列表请用 overlaps(a, b)",
                    op=op,
                )
            item = rt.item or "any"
            if item != "any" and lt.kind != item:
                return self.fail(
                    node,
                    "condition.type",
                    "cannot look for a {lt} in a list of {item}",
                    "不能在 {item} 列表中查找 {lt}",
                    lt=str(lt.plain()),
                    item=item,
                )
            if isinstance(node.right, ListLit):
                for c in node.right.items:
                    self._check_option(c, lt, c.value)
            if isinstance(node.left, Const):
                self._check_option(node.left, rt.item_type(), node.left.value)
            return BOOLEAN
        if lt.is_list or rt.is_list:
            return self.fail(
                node,
                "condition.type",
                "'{op}' cannot compare lists; use 'in', overlaps() or len()",
                "'{op}' 不能比较列表;请用 'in'、overlaps() 或 len()",
                op=op,
            )
        if lt.kind != rt.kind:
            return self.fail(
                node,
                "condition.type",
                "cannot compare {lt} with {rt} using '{op}'",
                "不能用 '{op}' 比较 {lt} 和 {rt}",
                lt=str(lt.plain()),
                rt=str(rt.plain()),
                op=op,
            )
        if op not in ("==", "!=") and lt.kind == "boolean":
            return self.fail(node, "condition.type", "booleans can only be compared with == or !=", "布尔值只能用 == 或 != 比较")
        if isinstance(node.right, Const):
            self._check_option(node.right, lt, node.right.value)
        if isinstance(node.left, Const):
            self._check_option(node.left, rt, node.left.value)
        return BOOLEAN

    def check_Test(self, node: Test) -> ValueType:
        self.check(node.operand)
        return BOOLEAN

    def _bool_operand(self, node: Node, word: str) -> None:
        t = self.check(node)
        if t.kind not in ("boolean", "any"):
            self.fail(
                node,
                "condition.type",
                "'{word}' needs a condition, but this is a {t}",
                "'{word}' 需要一个条件,但这里是 {t}",
                word=word,
                t=str(t.plain()),
            )

    def check_And(self, node: And) -> ValueType:
        for item in node.items:
            self._bool_operand(item, "and")
        return BOOLEAN

    def check_Or(self, node: Or) -> ValueType:
        for item in node.items:
            self._bool_operand(item, "or")
        return BOOLEAN

    def check_Not(self, node: Not) -> ValueType:
        self._bool_operand(node.operand, "not")
        return BOOLEAN

    def check_Arith(self, node: Arith) -> ValueType:
        lt = self.check(node.left)
        rt = self.check(node.right)
        if "any" in (lt.kind, rt.kind):
            return NUMBER if "number" in (lt.kind, rt.kind) else ANY
        if node.op == "+" and lt.kind == rt.kind == "string":
            return STRING
        if lt.kind != "number" or rt.kind != "number":
            return self.fail(
                node,
                "condition.type",
                "'{op}' needs numbers, not {lt} and {rt}",
                "'{op}' 需要数字,而不是 {lt} 和 {rt}",
                op=node.op,
                lt=str(lt.plain()),
                rt=str(rt.plain()),
            )
        return NUMBER

    def check_Neg(self, node: Neg) -> ValueType:
        t = self.check(node.operand)
        if t.kind not in ("number", "any"):
            return self.fail(node, "condition.type", "'-' needs a number, not {t}", "'-' 需要数字,而不是 {t}", t=str(t))
        return NUMBER

    def check_Call(self, node: Call) -> ValueType:
        spec = FUNCTIONS[node.fn]
        n = len(node.args)
        if not spec.min_args <= n <= spec.max_args:
            want = str(spec.min_args) if spec.min_args == spec.max_args else f"{spec.min_args} to {spec.max_args}"
            return self.fail(
                node,
                "condition.function",
                "{fn}() takes {want} argument(s), not {n}",
                "{fn}() 需要 {want} 个参数,而不是 {n} 个",
                fn=node.fn,
                want=want,
                n=n,
            )
        types = [self.check(a) for a in node.args]
        result = spec.returns(types)
        if isinstance(result, str):
            return self.fail(node, "condition.type", "{fn}(): {msg}", "{fn}():参数类型不对({msg})", fn=node.fn, msg=result)
        if node.fn == "date":
            arg = node.args[0]
            if not isinstance(arg, Const) or not isinstance(arg.value, str):
                return self.fail(node, "condition.function", 'date() takes a literal like "2026-01-31"', 'date() 只接受字面量,如 "2026-01-31"')
            try:
                dt.date.fromisoformat(arg.value)
            except ValueError:
                return self.fail(
                    node, "condition.function", "{v!r} is not a date (YYYY-MM-DD)", "{v!r} 不是日期(YYYY-MM-DD)", v=arg.value
                )
        if node.fn == "matches":
            arg = node.args[1]
            if not isinstance(arg, Const) or not isinstance(arg.value, str):
                return self.fail(node, "condition.function", "matches() takes the pattern as a literal string", "matches() 的正则必须是字符串字面量")
            for p in regex_problems(arg.value):
                self.problems.append(
                    Problem(p.code, p.en + self.where(arg), p.zh + self.where_zh(arg), (), suggestion=p.suggestion)
                )
        return result


# --------------------------------------------------------------------------------------------
# Compilation to closures
# --------------------------------------------------------------------------------------------

Fn = Callable[[Mapping[str, Any], Any], Any]

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}


def _name_const(rep: bool, key: str, op: str, c: Any) -> Fn:
    """A comparison of one name with a literal: the hottest shape, so one closure per operator."""
    if rep:
        if op == "==":
            return lambda L, R: R.get(key) == c
        if op == "!=":
            return lambda L, R: (v := R.get(key)) is not None and v != c
        if op == ">=":
            return lambda L, R: (v := R.get(key)) is not None and v >= c
        if op == ">":
            return lambda L, R: (v := R.get(key)) is not None and v > c
        if op == "<=":
            return lambda L, R: (v := R.get(key)) is not None and v <= c
        return lambda L, R: (v := R.get(key)) is not None and v < c
    if op == "==":
        return lambda L, R: L.get(key) == c
    if op == "!=":
        return lambda L, R: (v := L.get(key)) is not None and v != c
    if op == ">=":
        return lambda L, R: (v := L.get(key)) is not None and v >= c
    if op == ">":
        return lambda L, R: (v := L.get(key)) is not None and v > c
    if op == "<=":
        return lambda L, R: (v := L.get(key)) is not None and v <= c
    return lambda L, R: (v := L.get(key)) is not None and v < c


_LOWER = {">": False, ">=": True}
_UPPER = {"<": False, "<=": True}


def _range_check(node: And) -> Fn | None:
    """``x >= a and x < b`` on one lead number as a single closure (a common row shape)."""
    if len(node.items) != 2:
        return None
    lo = hi = None
    key = None
    for item in node.items:
        if not (isinstance(item, Compare) and isinstance(item.left, Name) and item.left.scope == "lead" and isinstance(item.right, Const)):
            return None
        value = item.right.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if key is not None and item.left.name != key:
            return None
        key = item.left.name
        if item.op in _LOWER and lo is None:
            lo = (value, _LOWER[item.op])
        elif item.op in _UPPER and hi is None:
            hi = (value, _UPPER[item.op])
        else:
            return None
    if lo is None or hi is None or key is None:
        return None
    (a, a_incl), (b, b_incl), k = lo, hi, key
    if a_incl and not b_incl:
        return lambda L, R: (v := L.get(k)) is not None and a <= v < b
    if a_incl and b_incl:
        return lambda L, R: (v := L.get(k)) is not None and a <= v <= b
    if b_incl:
        return lambda L, R: (v := L.get(k)) is not None and a < v <= b
    return lambda L, R: (v := L.get(k)) is not None and a < v < b


class _Compiler:
    def __init__(self, env: Env) -> None:
        self.tz = ZoneInfo(env.timezone)
        self.env = env

    def value(self, node: Node) -> Fn:
        method = getattr(self, "v_" + type(node).__name__)
        fn: Fn = method(node)
        return fn

    def predicate(self, node: Node) -> Fn:
        """A closure returning exactly True or False."""
        if isinstance(node, Compare):
            return self.p_compare(node)
        if isinstance(node, And):
            return self.p_and(node)
        if isinstance(node, Or):
            return self.p_or(node)
        if isinstance(node, Not):
            inner = self.predicate(node.operand)
            return lambda L, R: not inner(L, R)
        if isinstance(node, Test):
            return self.p_test(node)
        if isinstance(node, Const):
            result = node.value is True
            return lambda L, R: result
        f = self.value(node)
        return lambda L, R: f(L, R) is True

    # values ------------------------------------------------------------------------------------
    def v_Const(self, node: Const) -> Fn:
        value = node.value
        return lambda L, R: value

    def v_ListLit(self, node: ListLit) -> Fn:
        value = tuple(i.value for i in node.items)
        return lambda L, R: value

    def v_Name(self, node: Name) -> Fn:
        key = node.rep_key
        if node.scope != "lead":
            return lambda L, R: R.get(key)
        return lambda L, R: L.get(key)

    def v_Arith(self, node: Arith) -> Fn:
        op = _ARITH[node.op]
        a, b = self.value(node.left), self.value(node.right)
        divides = node.op in ("/", "%")

        def f(L: Mapping[str, Any], R: Any) -> Any:
            x = a(L, R)
            if x is None:
                return None
            y = b(L, R)
            if y is None or (divides and y == 0):
                return None
            return op(x, y)

        return f

    def v_Neg(self, node: Neg) -> Fn:
        a = self.value(node.operand)

        def f(L: Mapping[str, Any], R: Any) -> Any:
            x = a(L, R)
            return None if x is None else -x

        return f

    def v_Call(self, node: Call) -> Fn:
        spec = FUNCTIONS[node.fn]
        args = [self.value(a) for a in node.args]
        tz = self.tz
        if node.fn == "date":
            value = dt.date.fromisoformat(node.args[0].value)  # type: ignore[union-attr]
            return lambda L, R: value
        if node.fn == "matches":
            from rule_engine._regex_safety import compile_safe

            pattern = compile_safe(node.args[1].value)  # type: ignore[union-attr]
            s = args[0]

            def f_match(L: Mapping[str, Any], R: Any) -> Any:
                x = s(L, R)
                return None if x is None else pattern.search(x) is not None

            return f_match
        if node.fn in ("days_since", "hours_since", "days_until", "weekday"):
            a = args[0]
            kind = node.fn

            def f_time(L: Mapping[str, Any], R: Any) -> Any:
                x = a(L, R)
                if x is None:
                    return None
                if kind == "weekday":
                    if isinstance(x, dt.datetime):
                        x = x.astimezone(tz)
                    return x.isoweekday()
                now: dt.datetime = L[NOW_KEY]
                if isinstance(x, dt.datetime):
                    seconds = (now - x).total_seconds()
                else:
                    seconds = (now.astimezone(tz).date() - x).days * 86400.0
                if kind == "days_since":
                    return seconds / 86400.0
                if kind == "hours_since":
                    return seconds / 3600.0
                return -seconds / 86400.0

            return f_time
        impl = spec.impl
        assert impl is not None
        if spec.missing_ok:
            return lambda L, R: impl(*[g(L, R) for g in args])
        if len(args) == 1:
            (g,) = args

            def f1(L: Mapping[str, Any], R: Any) -> Any:
                x = g(L, R)
                return None if x is None else impl(x)

            return f1

        def fn(L: Mapping[str, Any], R: Any) -> Any:
            values = [g(L, R) for g in args]
            if any(v is None for v in values):
                return None
            return impl(*values)

        return fn

    def v_Compare(self, node: Compare) -> Fn:
        return self.predicate(node)

    v_And = v_Or = v_Not = v_Test = v_Compare

    # predicates -------------------------------------------------------------------------------
    def p_compare(self, node: Compare) -> Fn:
        op = node.op
        left, right = node.left, node.right
        if op in ("in", "not in"):
            negate = op == "not in"
            if isinstance(right, ListLit):
                members = frozenset(i.value for i in right.items)
                if isinstance(left, Name):
                    key = left.name
                    if left.scope == "lead":
                        if negate:
                            return lambda L, R: (v := L.get(key)) is not None and v not in members
                        return lambda L, R: L.get(key) in members
                lf = self.value(left)
                if negate:
                    return lambda L, R: (v := lf(L, R)) is not None and v not in members
                return lambda L, R: (v := lf(L, R)) is not None and v in members
            lf, rf = self.value(left), self.value(right)
            if negate:
                return lambda L, R: (v := lf(L, R)) is not None and (s := rf(L, R)) is not None and v not in s
            return lambda L, R: (v := lf(L, R)) is not None and (s := rf(L, R)) is not None and v in s
        cmp = _CMP[op]
        if isinstance(left, Name) and isinstance(right, Const):
            return _name_const(left.scope != "lead", left.rep_key, op, right.value)
        lf, rf = self.value(left), self.value(right)
        return lambda L, R: (a := lf(L, R)) is not None and (b := rf(L, R)) is not None and cmp(a, b)

    def p_and(self, node: And) -> Fn:
        merged = _range_check(node)
        if merged is not None:
            return merged
        items = [self.predicate(i) for i in node.items]
        if len(items) == 2:
            a, b = items
            return lambda L, R: a(L, R) and b(L, R)
        if len(items) == 3:
            a, b, c = items
            return lambda L, R: a(L, R) and b(L, R) and c(L, R)

        def f(L: Mapping[str, Any], R: Any) -> bool:
            for p in items:
                if not p(L, R):
                    return False
            return True

        return f

    def p_or(self, node: Or) -> Fn:
        items = [self.predicate(i) for i in node.items]
        if len(items) == 2:
            a, b = items
            return lambda L, R: a(L, R) or b(L, R)

        def f(L: Mapping[str, Any], R: Any) -> bool:
            for p in items:
                if p(L, R):
                    return True
            return False

        return f

    def p_test(self, node: Test) -> Fn:
        g = self.value(node.operand)
        if node.op == "is set":
            return lambda L, R: g(L, R) is not None
        if node.op == "is not set":
            return lambda L, R: g(L, R) is None
        empty = node.op == "is empty"

        def f(L: Mapping[str, Any], R: Any) -> bool:
            v = g(L, R)
            is_empty = v is None or v == "" or (isinstance(v, (tuple, list, frozenset, set)) and len(v) == 0)
            return is_empty if empty else not is_empty

        return f


# --------------------------------------------------------------------------------------------
# Compiled conditions and expressions
# --------------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if not value.is_integer() else str(int(value))
    if isinstance(value, (tuple, list, frozenset)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


_OP_SYMBOL = {"==": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥", "in": "in", "not in": "not in"}
_OP_SYMBOL_ZH = {"in": "属于", "not in": "不属于"}
_TEST_ZH = {"is set": "已填写", "is not set": "未填写", "is empty": "为空", "is not empty": "不为空"}


@dataclass(frozen=True)
class Expression:
    """A compiled expression: call it with (L, R) for its value."""

    node: Node
    type: ValueType
    fn: Fn
    lead_names: frozenset[str]
    rep_names: frozenset[str]
    uses_now: bool

    @cached_property
    def source(self) -> str:
        # Explanations name a condition by its source on every lead: unparse the tree once.
        return unparse(self.node)

    def __call__(self, L: Mapping[str, Any], R: Mapping[str, Any] | None = None) -> Any:
        return self.fn(L, R)

    def describe(self, L: Mapping[str, Any], R: Mapping[str, Any] | None = None, lang: str = "en") -> str:
        """The expression with the values it compared, e.g. ``score 72 ≥ 60``."""
        return _describe(self.node, L, R, lang)


@dataclass(frozen=True)
class Condition(Expression):
    """A compiled condition: call it with (L, R) for True or False."""

    def to_tree(self) -> Any:
        return to_tree(self.node)


def _describe(node: Node, L: Mapping[str, Any], R: Mapping[str, Any] | None, lang: str) -> str:
    zh = lang.startswith("zh")

    def val(n: Node) -> str:
        if isinstance(n, Name):
            value = (R or {}).get(n.rep_key) if n.scope != "lead" else L.get(n.name)
            return f"{n.display} {format_value(value)}"
        if isinstance(n, (Const, ListLit)):
            return unparse(n)
        try:
            v = _Compiler(Env({})).value(n)(L, R)
        except Exception:  # describing must never fail; the value is only decoration
            v = None
        return f"{unparse(n)} = {format_value(v)}"

    if isinstance(node, Compare):
        if node.op == "==" and isinstance(node.left, Name) and isinstance(node.right, Const):
            return f"{node.left.display} = {unparse(node.right)}"
        sym = _OP_SYMBOL_ZH.get(node.op, _OP_SYMBOL[node.op]) if zh else _OP_SYMBOL[node.op]
        return f"{val(node.left)} {sym} {val(node.right)}"
    if isinstance(node, Test):
        word = _TEST_ZH[node.op] if zh else node.op
        return f"{val(node.operand)} {word}"
    if isinstance(node, And):
        return ("、" if zh else ", ").join(_describe(i, L, R, lang) for i in node.items)
    if isinstance(node, Or):
        comp = _Compiler(Env({}))
        held = [i for i in node.items if _safe_truth(comp, i, L, R)]
        shown = held or list(node.items)
        return (" 或 " if zh else " or ").join(_describe(i, L, R, lang) for i in shown)
    if isinstance(node, Not):
        return ("并非 " if zh else "not ") + "(" + _describe(node.operand, L, R, lang) + ")"
    return val(node)


def _safe_truth(comp: _Compiler, node: Node, L: Mapping[str, Any], R: Any) -> bool:
    try:
        return bool(comp.predicate(node)(L, R))
    except Exception:  # describing must never fail
        return False


def _names(node: Node) -> tuple[frozenset[str], frozenset[str], bool]:
    lead: set[str] = set()
    rep: set[str] = set()
    uses_now = False
    for n in walk(node):
        if isinstance(n, Name):
            (rep if n.scope != "lead" else lead).add(n.rep_key)
        elif isinstance(n, Call) and FUNCTIONS[n.fn].uses_now:
            uses_now = True
    return frozenset(lead), frozenset(rep), uses_now


def _check(node: Node, env: Env, src: str | None) -> ValueType:
    checker = _Checker(env, src)
    t = checker.check(node)
    if checker.problems:
        raise ConditionError(checker.problems)
    return t


def compile_condition(source: Any, env: Env, *, limits: Limits = LIMITS) -> Condition:
    """Parse, type-check and compile a condition (string or tree); raises ConditionError."""
    node = parse_tree(source, limits=limits)
    t = _check(node, env, source if isinstance(source, str) else None)
    if t.kind not in ("boolean", "any"):
        raise ConditionError(
            _problem(
                "condition.type",
                "this is a {t}, not a condition (did you forget a comparison such as '>= 10'?)",
                "这是一个{t}而不是条件(是否漏写了比较,例如 '>= 10'?)",
                t=str(t.plain()),
            )
        )
    fn = _Compiler(env).predicate(node)
    lead, rep, uses_now = _names(node)
    return Condition(node, BOOLEAN, fn, lead, rep, uses_now)


def compile_expression(
    source: Any, env: Env, *, expect: tuple[str, ...] = ("number",), limits: Limits = LIMITS
) -> Expression:
    """Parse, type-check and compile a value expression (e.g. a score or an amount)."""
    if isinstance(source, bool) or isinstance(source, (int, float)):
        node: Node = Const(source)
    else:
        if not isinstance(source, str):
            raise ConditionError(
                _problem("condition.type", "an expression must be a string or a number", "表达式必须是字符串或数字")
            )
        node = parse(source, limits=limits)
    t = _check(node, env, source if isinstance(source, str) else None)
    if t.kind not in expect and t.kind != "any":
        raise ConditionError(
            _problem(
                "condition.type",
                "this expression gives a {t}; expected {want}",
                "该表达式的结果是 {t},应为 {want}",
                t=str(t.plain()),
                want=" or ".join(expect),
            )
        )
    comp = _Compiler(env)
    fn = comp.predicate(node) if t.kind == "boolean" else comp.value(node)
    lead, rep, uses_now = _names(node)
    return Expression(node, t, fn, lead, rep, uses_now)


def conjuncts(condition: Condition, env: Env) -> list[Condition]:
    """The parts of a top-level ``and``, each compiled on its own (one part if there is no ``and``)."""
    items = condition.node.items if isinstance(condition.node, And) else (condition.node,)
    compiler = _Compiler(env)
    out = []
    for item in items:
        lead, rep, uses_now = _names(item)
        out.append(Condition(item, BOOLEAN, compiler.predicate(item), lead, rep, uses_now))
    return out
