"""What can be proven about a decision table from its rows alone.

Rows whose conditions are ``and``-combinations of simple comparisons between one field and
literals (``deal_size >= 200000 and industry in ["medical"]``) are read as boxes: a range per
numeric field, a set of values per enum/string/boolean field. From boxes we can prove:

- overlap under ``unique``: two rows whose boxes intersect (with a sample lead that hits both);
- gaps with no default: a value of the fields (a number, or a combination of enum options) that
  no row covers.

Rows that are not boxes (functions, ``or``, arithmetic, two fields compared) make the table
undecidable here; nothing is reported for it rather than a guess.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from rule_engine.conditions import And, Compare, Const, ListLit, Name, Node, Not, format_value
from rule_engine.errors import Problem
from rule_engine.segments import Table, first_hit, lookup, priority_order
from rule_engine.types import ValueType

__all__ = ["optimize", "table_problems"]

_MAX_COMBINATIONS = 5000


@dataclass(frozen=True)
class Range:
    lo: float = -math.inf
    lo_incl: bool = False
    hi: float = math.inf
    hi_incl: bool = False

    def meet(self, other: Range) -> Range:
        if (self.lo, not self.lo_incl) >= (other.lo, not other.lo_incl):
            lo, lo_incl = self.lo, self.lo_incl
        else:
            lo, lo_incl = other.lo, other.lo_incl
        if (self.hi, self.hi_incl) <= (other.hi, other.hi_incl):
            hi, hi_incl = self.hi, self.hi_incl
        else:
            hi, hi_incl = other.hi, other.hi_incl
        return Range(lo, lo_incl, hi, hi_incl)

    def holds(self, v: float) -> bool:
        return (self.lo < v or (v == self.lo and self.lo_incl)) and (v < self.hi or (v == self.hi and self.hi_incl))

    @property
    def empty(self) -> bool:
        return self.lo > self.hi or (self.lo == self.hi and not (self.lo_incl and self.hi_incl))

    def sample(self) -> float:
        if self.lo_incl:
            return self.lo
        if self.hi_incl and self.lo == -math.inf:
            return self.hi
        if self.lo == -math.inf and self.hi == math.inf:
            return 0
        if self.lo == -math.inf:
            return self.hi - 1
        if self.hi == math.inf:
            return self.lo + 1
        return (self.lo + self.hi) / 2


Constraint = Range | frozenset[Any]
Box = dict[str, Constraint]


def _box(node: Node | None, types: Mapping[str, ValueType]) -> Box | None:
    """The box a condition describes, or None when it is not a conjunction of simple comparisons."""
    if node is None:
        return {}
    items = node.items if isinstance(node, And) else (node,)
    box: Box = {}
    for item in items:
        got = _atom(item, types)
        if got is None:
            return None
        name, constraint = got
        if name in box:
            prev = box[name]
            if isinstance(prev, Range) and isinstance(constraint, Range):
                box[name] = prev.meet(constraint)
            elif isinstance(prev, frozenset) and isinstance(constraint, frozenset):
                box[name] = prev & constraint
            else:
                return None
        else:
            box[name] = constraint
    return box


def _domain(t: ValueType) -> frozenset[Any] | None:
    if t.kind == "boolean":
        return frozenset({True, False})
    if t.kind == "string" and t.options is not None:
        return t.options
    return None


def _atom(node: Node, types: Mapping[str, ValueType]) -> tuple[str, Constraint] | None:
    if isinstance(node, Name) and node.scope == "lead" and types.get(node.name, ValueType("any")).kind == "boolean":
        return node.name, frozenset({True})
    if isinstance(node, Not) and isinstance(node.operand, Name) and node.operand.scope == "lead":
        return None  # `not flag` also holds when the flag is missing: not a box
    if not isinstance(node, Compare) or not isinstance(node.left, Name) or node.left.scope != "lead":
        return None
    name = node.left.name
    t = types.get(name)
    if t is None or t.is_list:
        return None
    right = node.right
    if t.kind == "number" and isinstance(right, Const) and isinstance(right.value, (int, float)) and not isinstance(right.value, bool):
        v = float(right.value)
        ranges = {
            "==": Range(v, True, v, True),
            ">": Range(lo=v),
            ">=": Range(lo=v, lo_incl=True),
            "<": Range(hi=v),
            "<=": Range(hi=v, hi_incl=True),
        }
        r = ranges.get(node.op)
        return None if r is None else (name, r)
    domain = _domain(t)
    if isinstance(right, Const) and node.op in ("==", "!="):
        if node.op == "==":
            return name, frozenset({right.value})
        return (name, domain - {right.value}) if domain is not None else None
    if isinstance(right, ListLit) and node.op in ("in", "not in"):
        values = frozenset(i.value for i in right.items)
        if node.op == "in":
            return name, values
        return (name, domain - values) if domain is not None else None
    return None


def _whole_number_in(r: Range) -> int | None:
    """The smallest whole number in a range, if there is one."""
    if r.lo == -math.inf:
        start = math.floor(r.hi) if math.isfinite(r.hi) else 0
        start = start if r.holds(start) else start - 1
    else:
        start = math.ceil(r.lo)
        if start == r.lo and not r.lo_incl:
            start += 1
    return int(start) if r.holds(start) else None


def _intersects(a: Box, b: Box, integers: frozenset[str] = frozenset()) -> Box | None:
    """The intersection of two boxes, or None when they are disjoint.

    On fields in ``integers`` only whole numbers occur, so a range between two of them is empty.
    """
    out: Box = dict(a)
    for name, cb in b.items():
        ca = out.get(name)
        if ca is None:
            out[name] = cb
            continue
        if isinstance(ca, Range) and isinstance(cb, Range):
            met = ca.meet(cb)
            if met.empty or (name in integers and _whole_number_in(met) is None):
                return None
            out[name] = met
        else:
            # Two sets, or (on a number field) a range and the set of an `in` list: keep the common values.
            if isinstance(ca, Range) or isinstance(cb, Range):
                rng, values = (ca, cb) if isinstance(ca, Range) else (cb, ca)
                both = frozenset(v for v in values if rng.holds(v))  # type: ignore[union-attr]
            else:
                both = ca & cb
            if not both:
                return None
            out[name] = both
    if any((isinstance(c, frozenset) and not c) or (isinstance(c, Range) and c.empty) for c in out.values()):
        return None
    return out


def _witness(box: Box, integers: frozenset[str] = frozenset()) -> str:
    parts = []
    for name in sorted(box):
        c = box[name]
        if isinstance(c, Range):
            whole = _whole_number_in(c) if name in integers else None
            v = whole if whole is not None else c.sample()
            parts.append(f"{name} = {format_value(int(v) if float(v).is_integer() else v)}")
        else:
            parts.append(f"{name} = {format_value(sorted(c, key=str)[0])}")
    return ", ".join(parts) if parts else "any lead"


def _contains(box: Box, point: Mapping[str, Any]) -> bool:
    for name, c in box.items():
        v = point.get(name)
        if isinstance(c, Range):
            if v is None or not isinstance(v, (int, float)):
                return False
            if v < c.lo or v > c.hi or (v == c.lo and not c.lo_incl) or (v == c.hi and not c.hi_incl):
                return False
        elif v not in c:
            return False
    return True


def _gap(boxes: list[Box], types: Mapping[str, ValueType]) -> str | None:
    """A sample point no box covers, if one can be proven to exist."""
    if any(not b for b in boxes):
        return None  # a row that always matches
    names = sorted({n for b in boxes for n in b})
    numeric = [n for n in names if types[n].kind == "number"]
    if numeric:
        if len(names) != 1:
            return None
        name = names[0]
        # Candidate points: just around every bound, and far out on both sides.
        # An `in` list on a number field is a set of points; its values are bounds too.
        edges = [c if isinstance(c, frozenset) else (c.lo, c.hi) for c in (b[name] for b in boxes)]
        bounds = sorted({float(x) for e in edges for x in e if math.isfinite(x)})
        points: list[float] = [bounds[0] - 1 if bounds else 0.0, bounds[-1] + 1 if bounds else 0.0]
        for i, x in enumerate(bounds):
            points.append(x)
            if i + 1 < len(bounds):
                points.append((x + bounds[i + 1]) / 2)
        if types[name].integer:
            # An integer field holds no value strictly between two whole numbers: test the whole
            # numbers next to each candidate instead (floor(x) + 1 is the first one above x).
            points = [float(q) for p in points for q in (math.floor(p), math.floor(p) + 1) if q == p or q > p]
        for p in points:
            if not any(_contains(b, {name: p}) for b in boxes):
                return f"{name} = {format_value(int(p) if float(p).is_integer() else p)}"
        return None
    domains = []
    for n in names:
        d = _domain(types[n])
        if d is None:
            return None
        domains.append(sorted(d, key=str))
    if math.prod(len(d) for d in domains) > _MAX_COMBINATIONS:
        return None
    for combo in itertools.product(*domains):
        point = dict(zip(names, combo))
        if not any(_contains(b, point) for b in boxes):
            return ", ".join(f"{n} = {format_value(v)}" for n, v in point.items())
    return None


def table_problems(table: Table, types: Mapping[str, ValueType]) -> list[Problem]:
    """Overlaps under ``unique`` and gaps without a default that the rows prove; paths relative to the table."""
    boxes: list[Box | None] = [_box(r.when.node if r.when else None, types) for r in table.rows]
    integers = _integer_fields(types)
    problems: list[Problem] = []
    if table.hit_policy == "unique":
        for i, j in itertools.combinations(range(len(boxes)), 2):
            bi, bj = boxes[i], boxes[j]
            if bi is None or bj is None:
                continue
            both = _intersects(bi, bj, integers)
            if both is not None:
                problems.append(
                    Problem.make(
                        "analysis.overlap",
                        "rows {a} and {b} can both match (for example {w}), but hit policy 'unique' allows one",
                        "第 {a} 行和第 {b} 行可能同时命中(例如 {w}),但命中策略 'unique' 只允许一行",
                        ("rules", j, "when"),
                        a=i + 1,
                        b=j + 1,
                        w=_witness(both, integers),
                    )
                )
    if not table.has_default and table.hit_policy in ("first", "unique", "priority", "any") and all(b is not None for b in boxes):
        gap = _gap([b for b in boxes if b is not None], types)
        if gap is not None:
            problems.append(
                Problem.make(
                    "analysis.gap",
                    "no row matches {w} and there is no default; add a row or a default",
                    "{w} 时没有任何行命中,且没有默认值;请补充规则或设置 default",
                    ("rules",),
                    w=gap,
                )
            )
    return problems


_MAX_INDEX_KEYS = 10_000


def _integer_fields(types: Mapping[str, ValueType]) -> frozenset[str]:
    return frozenset(name for name, t in types.items() if t.integer)


def _disjoint(boxes: list[Box | None], integers: frozenset[str]) -> bool:
    if any(b is None for b in boxes):
        return False
    return all(_intersects(a, b, integers) is None for a, b in itertools.combinations(boxes, 2))  # type: ignore[arg-type]


def _index(table: Table, boxes: list[Box | None], order: list[int]) -> tuple[tuple[str, ...], dict[tuple[Any, ...], tuple[int, Any]]] | None:
    """When every row is equalities (or `in` sets) over the same fields: key tuple -> (row, output)."""
    if not boxes or any(b is None or not b for b in boxes) or any(r.output_expr is not None for r in table.rows):
        return None
    fields = tuple(sorted(boxes[0]))  # type: ignore[arg-type]
    if any(tuple(sorted(b)) != fields for b in boxes):  # type: ignore[arg-type]
        return None
    if any(not isinstance(c, frozenset) for b in boxes for c in b.values()):  # type: ignore[union-attr]
        return None
    index: dict[tuple[Any, ...], tuple[int, Any]] = {}
    for i in order:
        box = boxes[i]
        assert box is not None
        sets = [sorted(box[f], key=repr) for f in fields]  # type: ignore[arg-type]
        if math.prod(len(x) for x in sets) + len(index) > _MAX_INDEX_KEYS:
            return None
        for key in itertools.product(*sets):
            index.setdefault(key, (i, table.rows[i].output))
    return fields, index


def optimize(table: Table, types: Mapping[str, ValueType]) -> Table:
    """The same table with faster closures where the rows allow it; results are unchanged.

    - ``priority`` with fixed outputs is already a first hit over rows sorted by priority;
    - ``unique`` and ``any`` whose rows are proven disjoint are a first hit (at most one row matches);
    - a first hit over rows that are all equalities on the same fields is a dictionary lookup.
    """
    boxes = [_box(r.when.node if r.when else None, types) for r in table.rows]
    policy = table.hit_policy
    if policy == "first":
        order = list(range(len(table.rows)))
    elif policy == "priority" and all(r.output_expr is None for r in table.rows):
        rank = {v: i for i, v in enumerate(priority_order(table.rows, table.priorities))}
        order = sorted(range(len(table.rows)), key=lambda i: (rank[table.rows[i].output], i))
    elif policy in ("unique", "any") and _disjoint(boxes, _integer_fields(types)):
        order = list(range(len(table.rows)))
    else:
        return table
    default = table.default if table.has_default else None
    indexed = _index(table, boxes, order)
    if indexed is not None:
        value, explain = lookup(indexed[0], indexed[1], default)
    elif policy == "first":
        return table
    else:
        value, explain = first_hit(table.rows, default, order)
    return replace(table, value=value, explain=explain)
