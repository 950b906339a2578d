"""Decision tables (segments, 分级规则) and their hit policies.

A table is compiled into two closures: ``value(L)`` for the output alone, and ``explain(L)`` for
the output and the indexes of the rows that decided it. Hit policies live in a registry
(:data:`HIT_POLICIES`); each builds both closures from the table's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rule_engine.conditions import Condition, Expression
from rule_engine.errors import EvaluationError, Problem
from rule_engine.fields import Text

__all__ = ["AGGREGATES", "HIT_POLICIES", "Row", "Table", "first_hit", "lookup", "priority_order"]

Values = dict[str, Any]
ValueFn = Callable[[Values], Any]
ExplainFn = Callable[[Values], tuple[Any, tuple[int, ...]]]


@dataclass(frozen=True)
class Row:
    """One row: a condition (None: always) and an output (a literal or an expression)."""

    when: Condition | None
    output: Any = None
    output_expr: Expression | None = None
    title: Text | None = None


@dataclass(frozen=True)
class Table:
    """A compiled decision table."""

    name: str
    title: Text
    hit_policy: str
    rows: tuple[Row, ...]
    default: Any = None
    has_default: bool = False
    aggregate: str | None = None
    priorities: tuple[Any, ...] = ()
    value: ValueFn = field(default=lambda L: None, compare=False, repr=False)
    explain: ExplainFn = field(default=lambda L: (None, ()), compare=False, repr=False)

    @classmethod
    def build(
        cls,
        name: str,
        title: Text,
        hit_policy: str,
        rows: Sequence[Row],
        *,
        default: Any = None,
        has_default: bool = False,
        aggregate: str | None = None,
        priorities: Sequence[Any] = (),
    ) -> Table:
        """Compile a table's closures for its hit policy."""
        rows = tuple(rows)
        builder = HIT_POLICIES[hit_policy]
        value_fn, explain_fn = builder(name, rows, default if has_default else None, aggregate, tuple(priorities))
        return cls(
            name, title, hit_policy, rows, default, has_default, aggregate, tuple(priorities), value_fn, explain_fn
        )


# ------------------------------------------------------------------------------------------------
# Row matching helpers
# ------------------------------------------------------------------------------------------------

_ALWAYS: Callable[[Values, Any], bool] = lambda L, R: True  # noqa: E731


def _preds(rows: tuple[Row, ...]) -> list[Callable[[Values, Any], bool]]:
    return [r.when.fn if r.when is not None else _ALWAYS for r in rows]


def _outputs(rows: tuple[Row, ...]) -> tuple[list[Any], bool]:
    """Row outputs; for expression rows a closure, and whether any row is an expression."""
    outs: list[Any] = []
    dynamic = False
    for r in rows:
        if r.output_expr is not None:
            outs.append(r.output_expr.fn)
            dynamic = True
        else:
            outs.append(r.output)
    return outs, dynamic


def _out(row_out: Any, dynamic: bool, L: Values) -> Any:
    return row_out(L, None) if dynamic and callable(row_out) else row_out


def _conflict(table: str, rows: list[int], outputs: list[Any], policy: str) -> EvaluationError:
    shown = ", ".join(str(i + 1) for i in rows)
    if policy == "unique":
        return EvaluationError(
            Problem.make(
                "evaluate.unique",
                "table {t!r} has hit policy 'unique' but rows {rows} all match",
                "分级表 {t!r} 的命中策略是 'unique',但第 {rows} 行同时命中",
                ("segments", table),
                t=table,
                rows=shown,
            )
        )
    return EvaluationError(
        Problem.make(
            "evaluate.any",
            "table {t!r} has hit policy 'any' but rows {rows} match with different outputs ({outs})",
            "分级表 {t!r} 的命中策略是 'any',但第 {rows} 行命中且输出不同({outs})",
            ("segments", table),
            t=table,
            rows=shown,
            outs=", ".join(map(str, outputs)),
        )
    )


Builder = Callable[[str, tuple[Row, ...], Any, str | None, tuple[Any, ...]], tuple[ValueFn, ExplainFn]]


def first_hit(rows: tuple[Row, ...], default: Any, order: Sequence[int] | None = None) -> tuple[ValueFn, ExplainFn]:
    """The first matching row wins, trying rows in ``order`` (default: as written)."""
    preds = _preds(rows)
    outs, dynamic = _outputs(rows)
    order = list(range(len(rows))) if order is None else list(order)
    pairs = [(preds[i], outs[i]) for i in order]
    indexed = [((i,), preds[i], outs[i]) for i in order]  # the matched-rows tuple is built once per row
    if not dynamic:

        def value(L: Values) -> Any:
            for pred, out in pairs:
                if pred(L, None):
                    return out
            return default

        def explain(L: Values) -> tuple[Any, tuple[int, ...]]:
            for rows, pred, out in indexed:
                if pred(L, None):
                    return out, rows
            return default, ()

        return value, explain

    def value_d(L: Values) -> Any:
        for pred, out in pairs:
            if pred(L, None):
                return _out(out, True, L)
        return default

    def explain_d(L: Values) -> tuple[Any, tuple[int, ...]]:
        for rows, pred, out in indexed:
            if pred(L, None):
                return _out(out, True, L), rows
        return default, ()

    return value_d, explain_d


def lookup(fields: tuple[str, ...], index: Mapping[tuple[Any, ...], tuple[int, Any]], default: Any) -> tuple[ValueFn, ExplainFn]:
    """A table whose rows are equalities on the same fields, as one dictionary lookup."""
    values = {k: v[1] for k, v in index.items()}
    # key -> (output, matched rows): exactly what explain returns, built once.
    answers = {k: (v[1], (v[0],)) for k, v in index.items()}
    missed = (default, ())
    if len(fields) == 1:
        (f,) = fields
        single_values = {k[0]: v for k, v in values.items()}
        single_answers = {k[0]: v for k, v in answers.items()}
        return (lambda L: single_values.get(L.get(f), default)), (lambda L: single_answers.get(L.get(f), missed))
    if len(fields) == 2:
        f1, f2 = fields
        return (lambda L: values.get((L.get(f1), L.get(f2)), default)), (lambda L: answers.get((L.get(f1), L.get(f2)), missed))
    return (lambda L: values.get(tuple(L.get(f) for f in fields), default)), (lambda L: answers.get(tuple(L.get(f) for f in fields), missed))


def _first(name: str, rows: tuple[Row, ...], default: Any, aggregate: str | None, priorities: tuple[Any, ...]) -> tuple[ValueFn, ExplainFn]:
    return first_hit(rows, default)


def _matching(rows: tuple[Row, ...]) -> Callable[[Values], tuple[list[int], list[Any]]]:
    preds = _preds(rows)
    outs, dynamic = _outputs(rows)
    indexed = list(zip(range(len(rows)), preds, outs))

    def match(L: Values) -> tuple[list[int], list[Any]]:
        hit: list[int] = []
        values: list[Any] = []
        for i, pred, out in indexed:
            if pred(L, None):
                hit.append(i)
                values.append(_out(out, dynamic, L))
        return hit, values

    return match


def _unique(name: str, rows: tuple[Row, ...], default: Any, aggregate: str | None, priorities: tuple[Any, ...]) -> tuple[ValueFn, ExplainFn]:
    match = _matching(rows)

    def explain(L: Values) -> tuple[Any, tuple[int, ...]]:
        hit, values = match(L)
        if not hit:
            return default, ()
        if len(hit) > 1:
            raise _conflict(name, hit, values, "unique")
        return values[0], (hit[0],)

    return (lambda L: explain(L)[0]), explain


def _any(name: str, rows: tuple[Row, ...], default: Any, aggregate: str | None, priorities: tuple[Any, ...]) -> tuple[ValueFn, ExplainFn]:
    match = _matching(rows)

    def explain(L: Values) -> tuple[Any, tuple[int, ...]]:
        hit, values = match(L)
        if not hit:
            return default, ()
        if any(v != values[0] for v in values[1:]):
            raise _conflict(name, hit, values, "any")
        return values[0], tuple(hit)

    return (lambda L: explain(L)[0]), explain


def priority_order(rows: tuple[Row, ...], priorities: tuple[Any, ...]) -> list[Any]:
    """Outputs from highest to lowest priority: ``priorities``, then the others in order of appearance."""
    order = list(priorities)
    for r in rows:
        if r.output_expr is None and r.output not in order:
            order.append(r.output)
    return order


def _priority(name: str, rows: tuple[Row, ...], default: Any, aggregate: str | None, priorities: tuple[Any, ...]) -> tuple[ValueFn, ExplainFn]:
    rank = {v: i for i, v in enumerate(priority_order(rows, priorities))}
    if all(r.output_expr is None for r in rows):
        # With fixed outputs, the highest-priority match is the first match over rows sorted by priority.
        order = sorted(range(len(rows)), key=lambda i: (rank[rows[i].output], i))
        return first_hit(rows, default, order)
    match = _matching(rows)
    worst = len(rank)

    def explain(L: Values) -> tuple[Any, tuple[int, ...]]:
        hit, values = match(L)
        if not hit:
            return default, ()
        best = min(range(len(hit)), key=lambda k: (rank.get(values[k], worst), hit[k]))
        return values[best], (hit[best],)

    return (lambda L: explain(L)[0]), explain


def _agg_sum(values: list[Any]) -> Any:
    return sum(values)


AGGREGATES: dict[str, Callable[[list[Any]], Any]] = {
    "sum": _agg_sum,
    "min": min,
    "max": max,
    "count": len,
    "list": tuple,
}


def _collect(name: str, rows: tuple[Row, ...], default: Any, aggregate: str | None, priorities: tuple[Any, ...]) -> tuple[ValueFn, ExplainFn]:
    agg = AGGREGATES[aggregate or "list"]
    count = aggregate == "count"
    preds = _preds(rows)
    outs, dynamic = _outputs(rows)
    indexed = list(zip(range(len(rows)), preds, outs))
    if aggregate == "sum" and not dynamic:
        pairs = list(zip(preds, outs))

        def value_sum(L: Values) -> Any:
            total = 0
            hit = False
            for pred, out in pairs:
                if pred(L, None):
                    total += out
                    hit = True
            return total if hit else default

        def explain_sum(L: Values) -> tuple[Any, tuple[int, ...]]:
            total = 0
            hit: list[int] = []
            for i, pred, out in indexed:
                if pred(L, None):
                    total += out
                    hit.append(i)
            return (total, tuple(hit)) if hit else (default, ())

        return value_sum, explain_sum

    def explain(L: Values) -> tuple[Any, tuple[int, ...]]:
        hit: list[int] = []
        values: list[Any] = []
        for i, pred, out in indexed:
            if pred(L, None):
                v = _out(out, dynamic, L)
                hit.append(i)
                if v is not None:
                    values.append(v)
        if not hit:
            return (default if default is not None or not count else 0), ()
        if not values and not count:
            return default, tuple(hit)
        return agg(values), tuple(hit)

    return (lambda L: explain(L)[0]), explain


def _rule_order(name: str, rows: tuple[Row, ...], default: Any, aggregate: str | None, priorities: tuple[Any, ...]) -> tuple[ValueFn, ExplainFn]:
    match = _matching(rows)

    def explain(L: Values) -> tuple[Any, tuple[int, ...]]:
        hit, values = match(L)
        if not hit:
            return default, ()
        return tuple(values), tuple(hit)

    return (lambda L: explain(L)[0]), explain


HIT_POLICIES: Mapping[str, Builder] = {
    "first": _first,
    "unique": _unique,
    "priority": _priority,
    "any": _any,
    "collect": _collect,
    "rule_order": _rule_order,
}
