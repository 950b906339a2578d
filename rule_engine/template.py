"""Load and compile a template document into an immutable :class:`CompiledTemplate`.

Loading runs in three phases, each reporting every problem it finds before stopping:

1. the document (:mod:`rule_engine.loader`): bytes, YAML/JSON syntax, hostile constructs;
2. the structure (:mod:`rule_engine.schema`): the shipped JSON Schema;
3. the meaning (this module and the section compilers): names, types, conditions, table order,
   strategy options, references between sections.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rule_engine import analysis
from rule_engine._compile import Context, get, text
from rule_engine._regex_safety import regex_problems
from rule_engine.assignment import AssignmentSpec, LoadSpec, compile_assignment, compile_load
from rule_engine.conditions import NOW_KEY, Condition, Env, parse_tree, walk
from rule_engine.conditions import Name as NameNode
from rule_engine.errors import (
    CompileError,
    ConditionError,
    EvaluationError,
    PathPart,
    Problem,
    SchemaError,
)
from rule_engine.fields import _EMAIL, _FALSE, _MAX_NUMBER, _PHONE, _TRUE, _URL, FieldDef, Option, Text, coerce
from rule_engine.loader import Document, load_document, parse_document
from rule_engine.points import PointsSpec, compile_points
from rule_engine.reclaim import ReclaimSpec, compile_reclaim
from rule_engine.schema import schema_problems
from rule_engine.segments import Row, Table
from rule_engine.targets import TargetsSpec, compile_targets, figure_names
from rule_engine.trace import outputs_of
from rule_engine.triggers import Trigger, compile_triggers
from rule_engine.types import (
    BOOLEAN,
    DATE,
    DATETIME,
    NUMBER,
    STRING,
    ValueType,
)

__all__ = [
    "LEAD_BUILTINS",
    "REP_BUILTINS",
    "CompiledTemplate",
    "FormDef",
    "HandoverSpec",
    "compile_document",
    "load_template",
    "loads_template",
]

LEAD_BUILTINS: Mapping[str, ValueType] = {
    "id": STRING,
    "owner": STRING,
    "previous_owner": STRING,
    "created_at": DATETIME,
    "assigned_at": DATETIME,
    "first_followup_at": DATETIME,
    "last_followup_at": DATETIME,
    "followup_count": NUMBER,
    "reclaim_count": NUMBER,
    "reclaimed_at": DATETIME,
    "days_since_created": NUMBER,
    "days_since_assigned": NUMBER,
    "days_since_last_followup": NUMBER,
    "now": DATETIME,
    "today": DATE,
}
_LEAD_TIMESTAMPS = ("created_at", "assigned_at", "first_followup_at", "last_followup_at", "reclaimed_at")
_LEAD_COUNTS = ("followup_count", "reclaim_count")
_RESERVED_LEAD = frozenset(LEAD_BUILTINS) | {"lead", "rep", "team"}

REP_BUILTINS: Mapping[str, ValueType] = {
    "id": STRING,
    "name": STRING,
    "team": STRING,
    "manager": STRING,
    "status": ValueType("string", options=frozenset({"active", "paused", "inactive"})),
    "on_leave": BOOLEAN,
    "load": NUMBER,
    "open_count": NUMBER,
    "assigned_today": NUMBER,
    "assigned_week": NUMBER,
    "points": NUMBER,
    "cap": NUMBER,
    "held_from_pool": NUMBER,
    "claims_today": NUMBER,
}


@dataclass(frozen=True)
class FormDef:
    """A named form: lead fields it shows and fields of its own."""

    name: str
    title: Text
    include: tuple[str, ...]
    fields: Mapping[str, FieldDef]


@dataclass(frozen=True)
class HandoverSpec:
    form: str
    require_ack: bool = True
    contact_fields: tuple[str, ...] | None = None  # hidden until acknowledged; None: the phone and email fields


@dataclass(frozen=True)
class CompiledTemplate:
    """A template ready to run. Immutable; compile once, evaluate many times."""

    name: str
    title: Text
    description: Text | None
    timezone: ZoneInfo
    fields: Mapping[str, FieldDef]
    rep_fields: Mapping[str, FieldDef]
    segments: tuple[Table, ...]
    load: LoadSpec
    assignment: AssignmentSpec
    reclaim: ReclaimSpec | None
    triggers: tuple[Trigger, ...]
    handover: HandoverSpec | None
    won_when: Condition | None
    points: PointsSpec | None
    forms: Mapping[str, FormDef]
    data: Mapping[str, Any] = field(repr=False, compare=False)
    fingerprint: str = ""
    derived: tuple[str, ...] = ()  # the derived day counts some condition reads
    lead_env: Env | None = field(default=None, repr=False, compare=False)
    rep_env: Env | None = field(default=None, repr=False, compare=False)
    targets: TargetsSpec | None = None

    # -- records ---------------------------------------------------------------------------------

    def lead_record(self, raw: Mapping[str, Any], *, text: bool = False) -> tuple[dict[str, Any], list[Problem]]:
        """Typed values of one lead from raw input (CSV text when ``text``); problems per field."""
        return _record(raw, self.fields, LEAD_BUILTIN_FIELDS, self.timezone, text=text, check_required=True, plan=self._lead_plans[text])

    def stored_values(self, stored: Mapping[str, Any] | None, only: Collection[str] | None = None) -> dict[str, Any]:
        """Typed values of a lead's fields as stored (JSON: dates as ISO text, tags as lists).

        Each value is read with this template's rules, as ``coerce`` reads it: a field the template
        no longer has, an empty value, and a value its rules now refuse are left out. ``only``:
        read just these fields (see :attr:`reclaim_reads`).
        """
        out: dict[str, Any] = {}
        if not stored:
            return out
        coercers = self._lead_plans[False].field_coercers
        if only is not None:
            for name in only:
                raw = stored.get(name)
                if raw is not None:
                    value, problem = coercers[name](raw)
                    if problem is None and value is not None:
                        out[name] = value
            return out
        for name, raw in stored.items():
            convert = coercers.get(name)
            if convert is not None:
                value, problem = convert(raw)
                if problem is None and value is not None:
                    out[name] = value
        return out

    @cached_property
    def _lead_plans(self) -> tuple[_Plan, _Plan]:
        """How :meth:`lead_record` reads raw values (``[text]``), compiled once per template."""
        return _Plan.of(self.fields, LEAD_BUILTIN_FIELDS, self.timezone, False), _Plan.of(self.fields, LEAD_BUILTIN_FIELDS, self.timezone, True)

    def form_record(self, form: str, raw: Mapping[str, Any], lead: Mapping[str, Any] | None = None, *, text: bool = False) -> tuple[dict[str, Any], list[Problem]]:
        """Typed values of a named form's own fields (e.g. a follow-up), problems per field.

        ``visible_when``/``required_when`` read the form's values over the lead's (``lead``), the
        way the form is shown: a hidden field is never required, and its value is dropped (whoever
        filled the form never saw the question). Keys the form does not define are ignored.
        Raises KeyError for a form the template does not define.
        """
        fdefs = self.forms[form].fields
        values, problems = _record(raw, fdefs, {}, self.timezone, text=text, check_required=True, context=lead)
        seen = values if lead is None else {**lead, **values}
        hidden = {name for name, fdef in fdefs.items() if fdef.visible_when is not None and not _safe(fdef.visible_when, seen)}
        if not hidden:
            return values, problems
        return {k: v for k, v in values.items() if k not in hidden}, [p for p in problems if not (p.path and p.path[0] in hidden)]

    def clock(self, now: dt.datetime) -> dict[str, Any]:
        """The clock values conditions read; compute once per batch and pass to :meth:`values`."""
        return {NOW_KEY: now, "now": now, "today": now.astimezone(self.timezone).date()}

    def values(self, record: Mapping[str, Any], now: dt.datetime, clock: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The mapping conditions read for one lead at ``now`` (record + derived values + clock)."""
        L = dict(record)
        L.update(clock if clock is not None else self.clock(now))
        if self.derived:
            assigned = L.get("assigned_at")
            starts = {"days_since_created": L.get("created_at"), "days_since_assigned": assigned, "days_since_last_followup": L.get("last_followup_at") or assigned}
            for name in self.derived:
                start = starts[name]
                L[name] = (now - start).total_seconds() / 86400.0 if start else None
        for name in _LEAD_COUNTS:
            if L.get(name) is None:
                L[name] = 0
        return L

    @cached_property
    def reclaim_reads(self) -> tuple[frozenset[str], frozenset[str], tuple[tuple[str, Any], ...]]:
        """What a reclaim verdict (:func:`rule_engine.reclaim.verdict_for`) reads of a lead, so that
        a sweep over many leads reads and grades only that: the fields, the other lead names
        (built-in values, derived day counts, table outputs), and the grading tables whose outputs
        it needs, directly or through other tables, in grading order.

        The verdict on a lead read this way is the one on the whole lead: it reads nothing else.
        """
        spec = self.reclaim
        # the derived day counts (values() computes each one the template reads) and their clocks
        names: set[str] = set(self.derived) | {"created_at" if d == "days_since_created" else "assigned_at" for d in self.derived}
        if "days_since_last_followup" in self.derived:
            names.add("last_followup_at")
        if spec is not None:
            for rule in spec.rules:  # each rule's clock (rule.start)
                names |= {"last_followup_at", "assigned_at"} if rule.since == "last_followup" else {f"{rule.since}_at"}
            for cond in (spec.protected, *(rule.when for rule in spec.rules)):
                if cond is not None:
                    names |= cond.lead_names
        needed = []
        for table in reversed(self.segments):  # a table reads only tables before it
            if table.name in names:
                needed.append(table)
                for row in table.rows:
                    for part in (row.when, row.output_expr):
                        if part is not None:
                            names |= part.lead_names
        fields = frozenset(names & self.fields.keys())
        return fields, frozenset(names - fields), tuple((t.name, t.value) for t in reversed(needed))

    # -- grading ---------------------------------------------------------------------------------

    @cached_property
    def _graders(self) -> tuple[tuple[str, Any], ...]:
        return tuple((t.name, t.value) for t in self.segments)

    def grade(self, L: dict[str, Any]) -> None:
        """Evaluate every table in order, writing each output into ``L``. May raise EvaluationError."""
        for name, value in self._graders:
            L[name] = value(L)

    def grade_explained(self, L: dict[str, Any]) -> list[tuple[Table, Any, tuple[int, ...]]]:
        """Like :meth:`grade`, also returning each table's output and the rows that decided it."""
        hits = []
        for table in self.segments:
            value, rows = table.explain(L)
            L[table.name] = value
            hits.append((table, value, rows))
        return hits

    @cached_property
    def output_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Names of all table outputs, and of those that are lists."""
        lists = tuple(t.name for t in self.segments if t.hit_policy == "rule_order" or (t.hit_policy == "collect" and t.aggregate in (None, "list")))
        return tuple(t.name for t in self.segments), lists

    def outputs(self, L: Mapping[str, Any]) -> dict[str, Any]:
        """The segment outputs in ``L``, as plain JSON-able values (lists, not tuples)."""
        return outputs_of(L, self.output_names)


def _builtin_field(name: str, t: str) -> FieldDef:
    return FieldDef(name=name, type=t, title=Text(name, name))


LEAD_BUILTIN_FIELDS: Mapping[str, FieldDef] = {
    **{"id": _builtin_field("id", "string"), "owner": _builtin_field("owner", "string"),
       "previous_owner": _builtin_field("previous_owner", "string")},
    **{k: _builtin_field(k, "datetime") for k in _LEAD_TIMESTAMPS},
    **{k: FieldDef(name=k, type="integer", title=Text(k, k), minimum=0) for k in _LEAD_COUNTS},
}


Coercer = Callable[[Any], "tuple[Any, Problem | None]"]
_MAX_TEXT = 100_000  # coerce's bound on a text
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,15}")  # at most 15 digits: within coerce's bound on a number


def _coercer(fdef: FieldDef, tz: ZoneInfo, text: bool) -> Coercer:
    """:func:`~rule_engine.fields.coerce` for one field, compiled once.

    The values most input holds (an option as written, a plain integer, a clean string, an ISO
    date) are checked inline; anything else goes to ``coerce``. The result is always exactly what
    ``coerce`` gives: each inline check accepts only values ``coerce`` would return unchanged.
    """

    def slow(raw: Any) -> tuple[Any, Problem | None]:
        return coerce(fdef, raw, tz, text=text)

    t = fdef.type
    if t == "boolean":
        words = {k: False for k in _FALSE if k == k.strip().lower()}
        words.update({k: True for k in _TRUE if k == k.strip().lower()})  # coerce tries "true" words first

        def boolean(raw: Any) -> tuple[Any, Problem | None]:
            if raw is True or raw is False:
                return raw, None
            if raw.__class__ is str:
                hit = words.get(raw)
                if hit is not None:
                    return hit, None
            return slow(raw)

        return boolean
    if t == "enum":
        ready = frozenset(v for v in fdef.option_values if v and v == v.strip())

        def enum(raw: Any) -> tuple[Any, Problem | None]:
            return (raw, None) if raw.__class__ is str and raw in ready else slow(raw)

        return enum
    if t in ("integer", "number"):
        low: float = -_MAX_NUMBER if fdef.minimum is None else max(-_MAX_NUMBER, fdef.minimum)
        high: float = _MAX_NUMBER if fdef.maximum is None else min(_MAX_NUMBER, fdef.maximum)
        kinds: tuple[type, ...] = (int,) if t == "integer" else (int, float)

        def number(raw: Any) -> tuple[Any, Problem | None]:
            kind = raw.__class__
            if kind in kinds:
                if low <= raw <= high:  # NaN fails both
                    return raw, None
            elif text and kind is str and _INTEGER_TEXT.fullmatch(raw):
                value = int(raw)
                if low <= value <= high:
                    return value, None
            return slow(raw)

        return number
    if t in ("string", "text", "email", "phone", "url"):
        shortest = max(1, fdef.min_length or 0)
        longest = min(_MAX_TEXT, _MAX_TEXT if fdef.max_length is None else fdef.max_length)
        shape = {"email": _EMAIL, "phone": _PHONE, "url": _URL}.get(t)
        pattern = fdef.pattern
        check: Callable[[str], Any] | None = None
        if shape is not None and pattern is not None:
            check = lambda v: shape.match(v) and pattern.search(v)  # noqa: E731
        elif shape is not None:
            check = shape.match
        elif pattern is not None:
            check = pattern.search

        def string(raw: Any) -> tuple[Any, Problem | None]:
            if raw.__class__ is str:
                value = raw.strip()
                if shortest <= len(value) <= longest and (check is None or check(value)):
                    return value, None
            return slow(raw)

        return string
    if t == "date":

        def date(raw: Any) -> tuple[Any, Problem | None]:
            if raw.__class__ is str:
                try:
                    return dt.date.fromisoformat(raw), None
                except ValueError:
                    pass
            return slow(raw)

        return date
    if t == "tags":
        options = fdef.option_values
        ready = frozenset(v for v in options if v and v == v.strip() and ";" not in v)
        most = fdef.max_items

        def tags(raw: Any) -> tuple[Any, Problem | None]:
            kind = raw.__class__
            if kind is list:
                if (most is None or len(raw) <= most) and all(i.__class__ is str and i in options for i in raw) and len(set(raw)) == len(raw):
                    return tuple(raw), None
            elif kind is str:
                parts = raw.split(";")
                if (most is None or len(parts) <= most) and all(p in ready for p in parts) and len(set(parts)) == len(parts):
                    return tuple(parts), None
            return slow(raw)

        return tags
    return slow


@dataclass(frozen=True)
class _Plan:
    """How :func:`_record` reads one kind of record, worked out once: a coercer per key, the
    fields with a default, and the fields that may be required."""

    coercers: Mapping[str, Coercer]
    field_coercers: Mapping[str, Coercer]  # the template's own fields only (no built-ins)
    defaults: tuple[tuple[str, Any], ...]
    may_require: tuple[tuple[str, FieldDef], ...]

    @classmethod
    def of(cls, fields: Mapping[str, FieldDef], builtins: Mapping[str, FieldDef], tz: ZoneInfo, text: bool) -> _Plan:
        own = {name: _coercer(fdef, tz, text) for name, fdef in fields.items()}
        every = {name: _coercer(fdef, tz, text) for name, fdef in builtins.items() if name not in fields}
        every.update(own)
        return cls(
            every,
            own,
            tuple((name, f.default) for name, f in fields.items() if f.default is not None),
            tuple((name, f) for name, f in fields.items() if f.required or f.required_when is not None),
        )


def _record(
    raw: Mapping[str, Any],
    fields: Mapping[str, FieldDef],
    builtins: Mapping[str, FieldDef],
    tz: ZoneInfo,
    *,
    text: bool,
    check_required: bool,
    context: Mapping[str, Any] | None = None,
    plan: _Plan | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    if plan is None:
        plan = _Plan.of(fields, builtins, tz, text)
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    coercers = plan.coercers
    for key, raw_value in raw.items():
        convert = coercers.get(key)
        if convert is None:
            continue
        value, problem = convert(raw_value)
        if problem is not None:
            problems.append(problem.under(key))
        elif value is not None:
            values[key] = value
    for name, default in plan.defaults:
        if name not in values and (name not in raw or raw.get(name) in (None, "")):
            values[name] = default
    if check_required:
        bad = {p.path[0] for p in problems}
        seen = values if context is None else {**context, **values}
        # A field neither required nor required_when is never required, whether shown or not.
        for name, fdef in plan.may_require:
            if name in values or name in bad:
                continue
            visible = fdef.visible_when is None or _safe(fdef.visible_when, seen)
            required = fdef.required or (fdef.required_when is not None and _safe(fdef.required_when, seen))
            if visible and required:
                problems.append(Problem.make("field.required", "this field is required", "此项为必填", (name,)))
    return values, problems


def _safe(cond: Any, values: Mapping[str, Any]) -> bool:
    try:
        return bool(cond(values, None))
    except Exception:  # a condition over incomplete input: treat as not holding
        return False


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------


def load_template(path: str | os.PathLike[str]) -> CompiledTemplate:
    """Load, validate and compile a template file; raises TemplateError with located problems."""
    return compile_document(load_document(path))


def loads_template(text: str | bytes, source: str = "<template>") -> CompiledTemplate:
    """Like :func:`load_template`, from a string."""
    return compile_document(parse_document(text, source))


def compile_document(doc: Document) -> CompiledTemplate:
    """Validate a parsed document against the schema, then compile it."""
    problems = schema_problems(doc.data)
    if problems:
        raise SchemaError(_in_file_order(doc, problems))
    compiled, problems = _compile(doc.data)
    if problems or compiled is None:
        raise CompileError(_in_file_order(doc, problems))
    return compiled


def _in_file_order(doc: Document, problems: Sequence[Problem]) -> list[Problem]:
    """Each problem once, located in the document, in the order a reader meets them."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in problems:
        key = (p.path, p.code, p.en)
        if key not in seen:
            seen.add(key)
            out.append(doc.located(p))
    out.sort(key=lambda p: (p.line or 0, p.column or 0))
    return out


def _field_defs(
    data: Mapping[str, Any], path: tuple[PathPart, ...], ctx: Context, problems: list[Problem]
) -> dict[str, FieldDef]:
    out: dict[str, FieldDef] = {}
    for order, (name, spec) in enumerate(data.items()):
        here = (*path, name)
        options = tuple(
            Option(o, Text(o, o)) if isinstance(o, str) else Option(str(o["value"]), text(o.get("title"), str(o["value"])))
            for o in get(spec, "options", [])
        )
        seen: set[str] = set()
        for i, o in enumerate(options):
            if o.value in seen:
                ctx.report((*here, "options", i), "compile.duplicate", "option {v!r} is listed twice", "选项 {v!r} 重复", v=o.value)
            seen.add(o.value)
        pattern = None
        if spec.get("pattern") is not None:
            bad = regex_problems(spec["pattern"])
            if bad:
                problems.extend(p.under(*here, "pattern") for p in bad)
            else:
                import re

                pattern = re.compile(spec["pattern"])
        fdef = FieldDef(
            name=name,
            type=spec["type"],
            title=text(spec.get("title"), name),
            description=text(spec["description"]) if spec.get("description") is not None else None,
            required=bool(spec.get("required", False)),
            unique=bool(spec.get("unique", False)),
            group=text(spec["group"]) if spec.get("group") is not None else None,
            order=int(spec.get("order", order)),
            widget=spec.get("widget"),
            minimum=spec.get("minimum"),
            maximum=spec.get("maximum"),
            min_length=spec.get("min_length"),
            max_length=spec.get("max_length"),
            pattern=pattern,
            options=options,
            max_items=spec.get("max_items"),
        )
        if spec.get("default") is not None:
            value, problem = coerce(fdef, spec["default"], ZoneInfo("UTC"))
            if problem is not None:
                problems.append(problem.under(*here, "default"))
            else:
                fdef = replace(fdef, default=value)
        out[name] = fdef
    return out


def _attach_field_conditions(
    defs: dict[str, FieldDef], data: Mapping[str, Any], path: tuple[PathPart, ...], ctx: Context, env: Env
) -> None:
    for name in list(defs):
        spec = data.get(name) or {}
        fdef = defs[name]
        visible = ctx.condition(spec.get("visible_when"), (*path, name, "visible_when"), env)
        required = ctx.condition(spec.get("required_when"), (*path, name, "required_when"), env)
        defs[name] = replace(fdef, visible_when=visible, required_when=required)


def _table_reads(rules: Sequence[Mapping[str, Any]]) -> set[str]:
    names: set[str] = set()
    for rule in rules:
        for key in ("when", "output_expr"):
            src = rule.get(key)
            if src is None:
                continue
            try:
                node = parse_tree(src)
            except ConditionError:
                continue
            names.update(n.name for n in walk(node) if isinstance(n, NameNode) and n.scope == "lead")
    return names


def _table_cycles(tables: Sequence[Mapping[str, Any]], ctx: Context) -> set[int]:
    """Report tables that depend on each other; returns the indexes involved in a cycle."""
    index = {t["name"]: i for i, t in enumerate(tables)}
    deps = {i: {index[n] for n in _table_reads(t.get("rules", [])) if n in index and index[n] != i} for i, t in enumerate(tables)}
    reads_itself: set[int] = set()  # a cycle of one: its rows are not checked again ("unknown field")
    for i, t in enumerate(tables):
        if t["name"] in _table_reads(t.get("rules", [])):
            ctx.report(
                ("segments", i, "name"), "compile.cycle", "table {t!r} reads its own output", "分级表 {t!r} 读取了自己的输出", t=t["name"]
            )
            reads_itself.add(i)
    in_cycle: set[int] = set()
    color: dict[int, int] = {}
    stack: list[int] = []

    def visit(i: int) -> None:
        color[i] = 1
        stack.append(i)
        for j in sorted(deps[i]):
            if color.get(j) == 1:
                cycle = stack[stack.index(j):] + [j]
                members = set(cycle)
                if not members & in_cycle:
                    ctx.report(
                        ("segments", j, "name"),
                        "compile.cycle",
                        "tables depend on each other: {chain}",
                        "分级表之间循环依赖:{chain}",
                        chain=" → ".join(tables[k]["name"] for k in cycle),
                    )
                in_cycle.update(members)
            elif j not in color:
                visit(j)
        stack.pop()
        color[i] = 2

    for i in range(len(tables)):
        if i not in color:
            visit(i)
    return in_cycle | reads_itself


def _literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list"


def _compile_segments(data: Sequence[Mapping[str, Any]], ctx: Context, lead_types: dict[str, ValueType]) -> tuple[Table, ...]:
    tables: list[Table] = []
    names = [t["name"] for t in data]
    in_cycle = _table_cycles(data, ctx)
    seen: dict[str, int] = {}
    for i, spec in enumerate(data):
        name = spec["name"]
        here: tuple[PathPart, ...] = ("segments", i)
        if name in seen:
            ctx.report((*here, "name"), "compile.duplicate", "table {t!r} is defined twice (first at segments[{j}])", "分级表 {t!r} 重复定义(第一次在 segments[{j}])", t=name, j=seen[name])
            continue
        seen[name] = i
        if name in lead_types:
            ctx.report((*here, "name"), "compile.name", "{t!r} is already a field name; a table needs its own name", "{t!r} 已经是字段名,分级表需要另起名称", t=name)
            continue
        later = {n: f"table {n!r}" for n in names[i + 1:]}
        env = Env(lead_types, None, ctx.lead_env.timezone, later, "in a segment table", "分级表中")
        policy = spec.get("hit_policy", "first")
        rows: list[Row] = []
        out_types: set[str] = set()
        str_outputs: set[str] = set()
        ok = i not in in_cycle
        for r, row in enumerate(spec["rules"]):
            rpath = (*here, "rules", r)
            when = ctx.condition(row.get("when"), (*rpath, "when"), env) if i not in in_cycle else None
            if row.get("when") is not None and when is None:
                ok = False
            expr = None
            if row.get("output_expr") is not None:
                expr = ctx.expression(row["output_expr"], (*rpath, "output_expr"), env, expect=("number", "string", "boolean"))
                if expr is None:
                    ok = False
                else:
                    out_types.add(expr.type.kind)
            else:
                out_types.add(_literal_type(row["output"]))
                if isinstance(row["output"], str):
                    str_outputs.add(row["output"])
            rows.append(Row(when, row.get("output"), expr, text(row["title"]) if row.get("title") is not None else None))
        has_default = "default" in spec and spec["default"] is not None
        if has_default:
            out_types.add(_literal_type(spec["default"]))
            if isinstance(spec["default"], str):
                str_outputs.add(spec["default"])
        out_types.discard("any")
        aggregate = spec.get("aggregate")
        if policy == "collect" and aggregate in ("sum", "min", "max") and out_types - {"number"}:
            ctx.report((*here, "aggregate"), "compile.type", "'{a}' needs numeric outputs", "'{a}' 需要数字输出", a=aggregate)
            ok = False
        elif policy in ("rule_order",) or (policy == "collect" and aggregate in (None, "list")):
            if has_default and not isinstance(spec["default"], list):
                out_types.discard(_literal_type(spec["default"]))
                ctx.report((*here, "default"), "compile.type", "this table gives a list, so its default must be a list", "该分级表输出列表,默认值也必须是列表")
                ok = False
            elif has_default:
                # A list default is not a fourth output type: its items share the rows' type.
                out_types.discard("list")
                out_types.update(_literal_type(v) for v in spec["default"])
                str_outputs.update(v for v in spec["default"] if isinstance(v, str))
        if len(out_types) > 1:
            ctx.report((*here, "rules"), "compile.type", "outputs of one table must share a type (found: {kinds})", "同一分级表的输出必须是同一类型(现为:{kinds})", kinds=", ".join(sorted(out_types)))
            ok = False
        kind = out_types.pop() if len(out_types) == 1 else "any"
        options = frozenset(str_outputs) if kind == "string" and all(r.output_expr is None for r in rows) else None
        if policy == "priority":
            for p, value in enumerate(spec.get("priorities", [])):
                if value not in {row.get("output") for row in spec["rules"]} | ({spec.get("default")} if has_default else set()):
                    ctx.report((*here, "priorities", p), "compile.reference", "{v!r} is not an output of this table", "{v!r} 不是该分级表的输出", v=value, suggestion=None)
        if policy == "collect" and aggregate == "count":
            out_type = NUMBER
        elif policy == "collect" and aggregate in (None, "list") or policy == "rule_order":
            out_type = ValueType("list", kind, options)
        else:
            out_type = ValueType(kind, options=options)
        lead_types[name] = out_type
        if not ok:
            continue
        table = Table.build(
            name,
            text(spec.get("title"), name),
            policy,
            rows,
            default=tuple(spec["default"]) if isinstance(spec.get("default"), list) else spec.get("default"),
            has_default=has_default,
            aggregate=aggregate,
            priorities=spec.get("priorities", ()),
        )
        found = analysis.table_problems(table, lead_types)
        ctx.problems.extend(p.under(*here) for p in found)
        tables.append(table if found else analysis.optimize(table, lead_types))
    return tuple(tables)


def _compile_forms(data: Mapping[str, Any], ctx: Context, lead_defs: Mapping[str, FieldDef], lead_types: Mapping[str, ValueType], problems: list[Problem]) -> dict[str, FormDef]:
    forms: dict[str, FormDef] = {}
    for name, spec in data.items():
        here: tuple[PathPart, ...] = ("forms", name)
        include = tuple(spec.get("include", ()))
        for i, f in enumerate(include):
            ctx.reference(f, list(lead_defs), (*here, "include", i), "lead field", "线索字段")
        own = spec.get("fields") or {}
        defs = _field_defs(own, (*here, "fields"), ctx, problems)
        for fname in defs:
            if fname in lead_defs:
                ctx.report((*here, "fields", fname), "compile.name", "{f!r} is already a lead field; list it under include", "{f!r} 已是线索字段,请放在 include 中", f=fname)
        types = dict(lead_types)
        types.update({k: d.value_type for k, d in defs.items()})
        env = Env(types, None, ctx.lead_env.timezone, {}, "in a form", "表单中")
        _attach_field_conditions(defs, own, (*here, "fields"), ctx, env)
        forms[name] = FormDef(name, text(spec.get("title"), name), include, defs)
    return forms


def _compile(data: Mapping[str, Any]) -> tuple[CompiledTemplate | None, list[Problem]]:
    problems: list[Problem] = []
    tz_name = data.get("timezone", "Asia/Shanghai")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem.make("compile.timezone", "unknown timezone {tz!r} (use an IANA name such as Asia/Shanghai)", "未知的时区 {tz!r}(请使用 IANA 名称,如 Asia/Shanghai)", ("timezone",), tz=tz_name))
        tz, tz_name = ZoneInfo("Asia/Shanghai"), "Asia/Shanghai"

    base = Env({}, None, tz_name)
    ctx = Context(base, base, base, problems)

    lead_defs = _field_defs(data["fields"], ("fields",), ctx, problems)
    for name in lead_defs:
        if name in _RESERVED_LEAD:
            ctx.report(("fields", name), "compile.reserved", "{n!r} is a built-in name; choose another field name", "{n!r} 是内置名称,请换一个字段名", n=name)
    rep_defs = _field_defs(data.get("rep_fields") or {}, ("rep_fields",), ctx, problems)
    for name in rep_defs:
        if name in REP_BUILTINS:
            ctx.report(("rep_fields", name), "compile.reserved", "{n!r} is a built-in rep attribute; choose another name", "{n!r} 是销售的内置属性,请换一个名称", n=name)

    field_types: dict[str, ValueType] = {k: v for k, v in LEAD_BUILTINS.items()}
    field_types.update({k: d.value_type for k, d in lead_defs.items()})
    rep_types: dict[str, ValueType] = dict(REP_BUILTINS)
    rep_types.update({k: d.value_type for k, d in rep_defs.items()})
    if data.get("targets") is not None:
        # Completion figures come with the roster snapshot: rep.X, and team.X for the rep's team.
        rep_figures, team_figures = figure_names(data["targets"])
        for name in rep_defs:
            if name in rep_figures:
                ctx.report(("rep_fields", name), "compile.reserved", "{n!r} is a target figure rules read; choose another name", "{n!r} 是目标完成率指标,请换一个名称", n=name)
        rep_types.update(rep_figures)
        rep_types.update({f"team.{k}": t for k, t in team_figures.items()})

    field_env = Env(dict(field_types), None, tz_name, {}, "in a field", "字段中")
    _attach_field_conditions(lead_defs, data["fields"], ("fields",), ctx, field_env)
    _attach_field_conditions(rep_defs, data.get("rep_fields") or {}, ("rep_fields",), ctx, Env(rep_types, None, tz_name))

    lead_types = dict(field_types)
    segments = _compile_segments(data.get("segments") or [], ctx, lead_types)

    ctx.lead_env = Env(lead_types, None, tz_name, {}, "here (no rep is being considered)", "此处(没有具体的销售)")
    ctx.rep_env = Env(lead_types, rep_types, tz_name)
    ctx.rep_only_env = Env({}, rep_types, tz_name, {}, "in a rep-only expression", "仅针对销售的表达式中")
    ctx.table_names = tuple(t["name"] for t in data.get("segments") or [])
    ctx.policy_names = tuple(p["name"] for p in (data.get("assignment") or {}).get("policies", []))
    ctx.form_names = tuple((data.get("forms") or {}).keys())

    load = compile_load(data.get("load"), ctx)
    assignment = compile_assignment(data.get("assignment"), ctx, load)
    reclaim = compile_reclaim(data.get("reclaim"), ctx)
    triggers = compile_triggers(data.get("triggers"), ctx)
    points = compile_points(data.get("points"), ctx)
    forms = _compile_forms(data.get("forms") or {}, ctx, lead_defs, lead_types, problems)
    targets = compile_targets(data.get("targets"), ctx, lead_types, forms)

    handover = None
    if data.get("handover") is not None:
        h = data["handover"]
        ctx.reference(h["form"], list(forms), ("handover", "form"), "form", "表单")
        contact = h.get("contact_fields")
        for i, name in enumerate(contact or ()):
            ctx.reference(name, list(lead_defs), ("handover", "contact_fields", i), "lead field", "线索字段")
        handover = HandoverSpec(h["form"], bool(h.get("require_ack", True)), None if contact is None else tuple(contact))

    won_when = ctx.condition(data.get("won_when"), ("won_when",))
    if points is not None and data.get("won_when") is None:
        for i, rule in enumerate((data.get("points") or {}).get("rules", [])):
            if rule.get("on") == "lead.converted":
                ctx.report(
                    ("points", "rules", i, "on"),
                    "compile.won_when",
                    "lead.converted needs the template's 'won_when': which leads count as won (e.g. 'stage == \"won\"')",
                    "lead.converted 需要模板的 'won_when':哪些线索算赢单(例如 'stage == \"won\"')",
                )

    if problems:
        return None, problems
    fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    return (
        CompiledTemplate(
            name=data["name"],
            title=text(data["title"]),
            description=text(data["description"]) if data.get("description") is not None else None,
            timezone=tz,
            fields=lead_defs,
            rep_fields=rep_defs,
            segments=segments,
            load=load,
            assignment=assignment,
            reclaim=reclaim,
            triggers=triggers,
            handover=handover,
            won_when=won_when,
            points=points,
            forms=forms,
            data=data,
            fingerprint=fingerprint,
            derived=tuple(sorted(ctx.lead_reads & {"days_since_created", "days_since_assigned", "days_since_last_followup"})),
            lead_env=ctx.lead_env,
            rep_env=ctx.rep_env,
            targets=targets,
        ),
        [],
    )
