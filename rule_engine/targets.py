"""Sales targets (目标): the ``targets`` section, the target tree, splits, roll-ups and health bands.

Pure: the caller reads the stored plan, the results and the roster; this module checks a plan
(SMART: a number, a period, an owner, children that add up to the parent), splits a parent's
target to its children, rolls results up the tree and rates a figure green, yellow or red. Money
is :class:`~decimal.Decimal` throughout, never float: amounts of a ``revenue`` metric have two
decimal places, counts have none, and every rounding is half to even.

A split gives each child ``parent × weight ÷ Σ weights`` rounded *down* to the metric's unit, then
hands the units left over, one each, to the children with the largest remainders (ties: the
earlier child). The children therefore always add up to the parent exactly.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from rule_engine._compile import Context, text
from rule_engine.conditions import Condition, Env
from rule_engine.errors import PathPart, Problem, closest
from rule_engine.fields import Text
from rule_engine.types import NUMBER, ValueType

if TYPE_CHECKING:
    from rule_engine.template import FormDef

__all__ = [
    "ACTIVITY_KINDS",
    "HEALTH_DEFAULTS",
    "HEALTH_ITEMS",
    "LEVELS",
    "PERIODS",
    "RESULT_KINDS",
    "SPLITS",
    "Metric",
    "Plan",
    "PlanNode",
    "TargetsSpec",
    "completion",
    "compile_targets",
    "rate",
    "read_plan",
    "rollup",
    "split",
]

RESULT_KINDS = ("revenue", "new_customers", "deals_won")
ACTIVITY_KINDS = ("visits", "calls", "proposals_sent", "followups_logged")
PERIODS = ("month", "quarter", "year")
SPLITS = ("weights", "history", "manual")
LEVELS = ("company", "product_line", "region", "team", "rep")
# Activity kinds that need a ``when``: which follow-ups are visits, calls or proposals is the team's own call.
_NEEDS_WHEN = ("visits", "calls", "proposals_sent")

# Health items, and whether a higher value is better.
HEALTH_ITEMS: Mapping[str, bool] = {
    "completion": True,
    "activity": True,
    "coverage": True,
    "first_response_hours": False,
    "compliance": True,
    "reclaim_rate": False,
}
HEALTH_DEFAULTS: Mapping[str, tuple[Decimal, Decimal]] = {
    "completion": (Decimal("1"), Decimal("0.8")),
    "activity": (Decimal("1"), Decimal("0.8")),
    "coverage": (Decimal("0.9"), Decimal("0.7")),
    "first_response_hours": (Decimal("24"), Decimal("72")),
    "compliance": (Decimal("0.95"), Decimal("0.8")),
    "reclaim_rate": (Decimal("0.05"), Decimal("0.15")),
}

CENT = Decimal("0.01")
RATIO = Decimal("0.0001")  # completion and shares: four decimals, half to even


@dataclass(frozen=True)
class Metric:
    """One thing targets are set for."""

    name: str
    title: Text
    kind: str
    field: str | None = None  # revenue: the lead field summed
    when: Condition | None = None

    @property
    def is_activity(self) -> bool:
        return self.kind in ACTIVITY_KINDS

    @property
    def unit(self) -> Decimal:
        """The smallest amount of a target: a cent for revenue, one for counts."""
        return CENT if self.kind == "revenue" else Decimal(1)


@dataclass(frozen=True)
class TargetsSpec:
    """The compiled ``targets`` section."""

    period: str
    levels: tuple[str, ...]
    split: str
    grade: str | None
    metrics: tuple[Metric, ...]
    health: Mapping[str, tuple[Decimal, Decimal]]

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def results(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if not m.is_activity)

    @property
    def activities(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if m.is_activity)

    @property
    def main_result(self) -> Metric | None:
        """The metric ``rep.target_completion`` and ``team.completion`` read: the first result metric."""
        return next(iter(self.results), None)

    def activity_of(self, L: Mapping[str, Any]) -> str | None:
        """The activity a follow-up is (its values over the lead's, ``L``): the first activity metric
        with a ``when`` that holds, or None. Metrics without ``when`` count every follow-up."""
        for m in self.activities:
            if m.when is not None and m.when.fn(L, None):
                return m.name
        return None

    def results_of(self, L: Mapping[str, Any]) -> list[tuple[str, Decimal]]:
        """What a deal won (the lead's values ``L``) adds to each result metric: (metric, amount)."""
        out: list[tuple[str, Decimal]] = []
        for m in self.results:
            if m.when is not None and not m.when.fn(L, None):
                continue
            if m.kind == "revenue":
                value = L.get(m.field or "")
                if value is None or isinstance(value, bool):
                    continue
                amount = to_decimal(value).quantize(CENT, ROUND_HALF_EVEN)
                if amount:
                    out.append((m.name, amount))
            else:
                out.append((m.name, Decimal(1)))
        return out


def to_decimal(value: Any) -> Decimal:
    """A number as a Decimal, floats through their shortest text (``0.1`` is ``Decimal("0.1")``)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


# ------------------------------------------------------------------------------------------------
# Compiling the section
# ------------------------------------------------------------------------------------------------


def figure_names(data: Mapping[str, Any] | None) -> tuple[dict[str, ValueType], dict[str, ValueType]]:
    """The rep and team figures a template's rules may read (``rep.X`` and ``team.X``)."""
    rep = {"target_completion": NUMBER, "activity_completion": NUMBER}
    team = {"completion": NUMBER, "activity_completion": NUMBER}
    for m in (data or {}).get("metrics", []) if isinstance(data, Mapping) else []:
        if isinstance(m, Mapping) and isinstance(m.get("name"), str):
            rep[f"completion_{m['name']}"] = NUMBER
            team[f"completion_{m['name']}"] = NUMBER
    return rep, team


def compile_targets(
    data: Mapping[str, Any] | None,
    ctx: Context,
    lead_types: Mapping[str, ValueType],
    forms: Mapping[str, FormDef],
) -> TargetsSpec | None:
    """Compile the ``targets`` section."""
    if not data:
        return None
    here: tuple[PathPart, ...] = ("targets",)
    levels = tuple(data.get("levels", LEVELS))
    if levels[-2:] != ("team", "rep"):
        ctx.report((*here, "levels"), "compile.targets", "the last two levels must be team and rep (found: {found})", "最后两级必须是 team 和 rep(现为:{found})", found=", ".join(levels[-2:]))
    grade = data.get("grade")
    if grade is not None:
        ctx.reference(grade, ctx.table_names, (*here, "grade"), "segment table", "分级表")
    elif ctx.table_names:
        grade = ctx.table_names[-1]
    followup = forms.get("followup")
    activity_types = dict(lead_types)
    if followup is not None:
        activity_types.update({k: d.value_type for k, d in followup.fields.items()})
    activity_env = Env(activity_types, None, ctx.lead_env.timezone, {}, "in an activity target (the follow-up and its lead)", "活动目标中(跟进记录及其线索)")
    metrics: list[Metric] = []
    seen: set[str] = set()
    for i, spec in enumerate(data.get("metrics", [])):
        path = (*here, "metrics", i)
        name, kind = spec["name"], spec["kind"]
        if name in seen:
            ctx.report((*path, "name"), "compile.duplicate", "target metric {n!r} is defined twice", "目标指标 {n!r} 重复定义", n=name)
            continue
        seen.add(name)
        value_field = spec.get("field")
        if kind == "revenue":
            if value_field is None:
                ctx.report(path, "compile.targets", "a revenue metric needs 'field': the number field summed over won deals", "金额类指标需要 'field':赢单时累加的数字字段")
            else:
                t = lead_types.get(value_field)
                if t is None:
                    ctx.reference(value_field, [k for k, v in lead_types.items() if v.kind == "number"], (*path, "field"), "number field", "数字字段")
                elif t.kind != "number":
                    ctx.report((*path, "field"), "compile.type", "{f!r} is a {t}; a revenue metric sums a number field", "{f!r} 是{t}类型;金额类指标只能累加数字字段", f=value_field, t=str(t.plain()))
        elif value_field is not None:
            ctx.report((*path, "field"), "compile.targets", "'field' is only allowed when 'kind' is revenue", "只有 kind 为 revenue 时才能使用 'field'")
        if kind in _NEEDS_WHEN and spec.get("when") is None:
            ctx.report(path, "compile.targets", "a {k} metric needs 'when': which follow-ups count (e.g. 'method == \"visit\"')", "{k} 指标需要 'when':哪些跟进记录计入(例如 'method == \"visit\"')", k=kind)
        env = activity_env if kind in ACTIVITY_KINDS else ctx.lead_env
        when = ctx.condition(spec.get("when"), (*path, "when"), env)
        metrics.append(Metric(name, text(spec.get("title"), name), kind, value_field, when))
    health: dict[str, tuple[Decimal, Decimal]] = dict(HEALTH_DEFAULTS)
    for item, band in (data.get("health") or {}).items():
        green, yellow = to_decimal(band["green"]), to_decimal(band["yellow"])
        higher = HEALTH_ITEMS[item]
        if (higher and green < yellow) or (not higher and green > yellow):
            ctx.report(
                ("targets", "health", item),
                "compile.targets",
                "green must be {w} yellow for {item} ({dir} is better)",
                "{item} 的 green 必须{w_zh} yellow({dir_zh}为好)",
                item=item,
                w="at least" if higher else "at most",
                w_zh="不小于" if higher else "不大于",
                dir="higher" if higher else "lower",
                dir_zh="越高" if higher else "越低",
            )
        health[item] = (green, yellow)
    return TargetsSpec(data.get("period", "quarter"), levels, data.get("split", "weights"), grade, tuple(metrics), health)


# ------------------------------------------------------------------------------------------------
# Plans: the target tree of one metric and period
# ------------------------------------------------------------------------------------------------

_PERIOD_SHAPES = {"month": re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$"), "quarter": re.compile(r"^[0-9]{4}-Q[1-4]$"), "year": re.compile(r"^[0-9]{4}$")}
_PLAN_KEYS = ("period", "metric", "tree", "note")
_NODE_KEYS = ("level", "key", "owner", "title", "amount", "weight", "split", "children")


def period_kind(period: str) -> str | None:
    """``month``, ``quarter`` or ``year`` for a period key such as ``2026-11``, ``2026-Q4``, ``2026``."""
    return next((k for k, shape in _PERIOD_SHAPES.items() if shape.match(period)), None)


@dataclass
class PlanNode:
    """One node of a target tree: who owns which target, and how it splits to the children."""

    path: str  # keys from the root, joined by "/"
    level: str
    key: str
    owner: str
    amount: Decimal
    split: str
    weight: Decimal | None = None
    title: str | None = None
    parent: str | None = None
    where: tuple[PathPart, ...] = ()  # the node's place in the plan document
    given: bool = False  # the amount was written in the plan (the root, children of a manual split)
    children: list[PlanNode] = field(default_factory=list)

    def walk(self) -> list[PlanNode]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass
class Plan:
    """A checked target tree: every node's amount is set and the children add up to the parent."""

    period: str
    period_kind: str
    metric: Metric
    root: PlanNode
    note: str | None = None

    def nodes(self) -> list[PlanNode]:
        return self.root.walk()


def _amount(raw: Any, metric: Metric, where: tuple[PathPart, ...], problems: list[Problem], what: str = "amount") -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        problems.append(Problem.make("target.amount", "{what} must be a number", "{what} 必须是数字", where, what=what))
        return None
    try:
        value = to_decimal(raw.strip() if isinstance(raw, str) else raw)
    except (InvalidOperation, ValueError):
        problems.append(Problem.make("target.amount", "{v!r} is not a number", "{v!r} 不是数字", where, v=raw))
        return None
    if not value.is_finite() or value < 0 or value > Decimal("1e15"):
        problems.append(Problem.make("target.amount", "{what} must be a number from 0 to 1e15", "{what} 必须是 0 到 1e15 之间的数字", where, what=what))
        return None
    if what == "amount" and value != value.quantize(metric.unit, ROUND_DOWN):
        unit_en = "whole cents" if metric.unit == CENT else "a whole number"
        unit_zh = "精确到分" if metric.unit == CENT else "整数"
        problems.append(Problem.make("target.amount", "{v} is not {u} ({m} is counted in {u})", "{v} 不是{u_zh}({m} 以{u_zh}计)", where, v=format_amount(value), u=unit_en, u_zh=unit_zh, m=metric.name))
        return None
    return value


def format_amount(value: Decimal | None, unit: Decimal = CENT) -> str:
    """An amount for people: ``1,200,000.00`` (money) or ``120`` (counts)."""
    if value is None:
        return "-"
    if unit == CENT:
        return f"{value.quantize(CENT, ROUND_HALF_EVEN):,}"
    return f"{value:,}"


def read_plan(
    data: Any,
    spec: TargetsSpec,
    *,
    teams: Mapping[str, str],
    reps: Mapping[str, str],
    history: Callable[[PlanNode], Decimal] | None = None,
) -> tuple[Plan | None, list[Problem]]:
    """Check a plan document and work out every node's target (SMART), or say where it is wrong.

    ``teams`` maps each known team slug to its template's name; ``reps`` each rep id to its team's
    slug. ``history(node)`` gives a node's result in the period before (for ``split: history``).
    Problems carry paths into the document (``$.tree.children[1].amount``).
    """
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        return None, [Problem.make("target.plan", "a target plan is a mapping with period, metric and tree", "目标计划应为包含 period、metric、tree 的映射", ())]
    for key in data:
        if key not in _PLAN_KEYS:
            problems.append(Problem.make("target.key", "unknown key {k!r}", "未知的键 {k!r}", (key,), suggestion=closest(str(key), _PLAN_KEYS), k=key))
    for key in ("period", "metric", "tree"):
        if data.get(key) is None:
            problems.append(Problem.make("target.required", "{k!r} is required", "缺少 {k!r}", (), k=key))
    if problems:
        return None, problems
    period = str(data["period"])
    kind = period_kind(period)
    if kind is None:
        problems.append(Problem.make("target.period", "{p!r} is not a period: write a month (2026-11), a quarter (2026-Q4) or a year (2026)", "{p!r} 不是有效周期:请写月(2026-11)、季度(2026-Q4)或年(2026)", ("period",), p=period))
    metric = spec.metric(str(data["metric"]))
    if metric is None:
        problems.append(Problem.make("target.metric", "unknown metric {m!r}", "未知的指标 {m!r}", ("metric",), suggestion=closest(str(data["metric"]), [m.name for m in spec.metrics]), m=data["metric"]))
    if problems or metric is None or kind is None:
        return None, problems
    note = data.get("note")
    seen: dict[str, tuple[PathPart, ...]] = {}

    def node(raw: Any, where: tuple[PathPart, ...], parent: PlanNode | None, parent_level: int) -> PlanNode | None:
        if not isinstance(raw, Mapping):
            problems.append(Problem.make("target.node", "a node is a mapping with level, key and owner", "节点应为包含 level、key、owner 的映射", where))
            return None
        bad = False
        for key in raw:
            if key not in _NODE_KEYS:
                problems.append(Problem.make("target.key", "unknown key {k!r}", "未知的键 {k!r}", (*where, key), suggestion=closest(str(key), _NODE_KEYS), k=key))
                bad = True
        level, key = raw.get("level"), raw.get("key")
        if level not in spec.levels:
            problems.append(Problem.make("target.level", "{v!r} is not a level (one of: {all})", "{v!r} 不是层级(可选:{all})", (*where, "level"), suggestion=closest(str(level), spec.levels), v=level, all=", ".join(spec.levels)))
            return None
        depth = spec.levels.index(level)
        if depth <= parent_level:
            problems.append(Problem.make("target.level", "a {lv} cannot sit under a {up}: levels go {order}", "{lv} 不能位于 {up} 之下:层级顺序为 {order}", (*where, "level"), lv=level, up=spec.levels[parent_level], order=" → ".join(spec.levels)))
            return None
        if not isinstance(key, (str, int)) or isinstance(key, bool) or not str(key).strip() or "/" in str(key):
            problems.append(Problem.make("target.key", "every node needs a key (a team's slug, a rep's id, or a name without '/')", "每个节点都需要 key(团队标识、销售 id 或不含 '/' 的名称)", (*where, "key")))
            return None
        key = str(key).strip()
        if level == "team" and key not in teams:
            problems.append(Problem.make("target.team", "no team {k!r} (among the teams of this template)", "没有团队 {k!r}(在使用该模板的团队中)", (*where, "key"), suggestion=closest(key, list(teams)), k=key))
            bad = True
        if level == "rep":
            team_of = reps.get(key)
            if team_of is None:
                problems.append(Problem.make("target.rep", "no rep {k!r}", "没有销售 {k!r}", (*where, "key"), suggestion=closest(key, list(reps)), k=key))
                bad = True
            elif parent is not None and parent.level == "team" and parent.key != team_of:
                problems.append(Problem.make("target.rep", "rep {k} belongs to team {t}, not {p}", "销售 {k} 属于团队 {t},不属于 {p}", (*where, "key"), k=key, t=team_of, p=parent.key))
                bad = True
        owner = raw.get("owner")
        if owner is None and level == "rep":
            owner = key
        if owner is None or not str(owner).strip():
            problems.append(Problem.make("target.owner", "who owns this target? give 'owner' (a person's user name or rep id)", "这个目标由谁负责?请填写 'owner'(用户名或销售 id)", where))
            bad = True
        path = f"{parent.path}/{key}" if parent is not None else key
        if path in seen:
            problems.append(Problem.make("target.duplicate", "{k!r} appears twice under the same parent", "{k!r} 在同一上级下出现两次", (*where, "key"), k=key))
            bad = True
        seen[path] = where
        split_kind = raw.get("split", spec.split)
        if split_kind not in SPLITS:
            problems.append(Problem.make("target.split", "{v!r} is not one of: {all}", "{v!r} 不是以下之一:{all}", (*where, "split"), suggestion=closest(str(split_kind), SPLITS), v=split_kind, all=", ".join(SPLITS)))
            bad = True
        amount = None
        if raw.get("amount") is not None:
            amount = _amount(raw["amount"], metric, (*where, "amount"), problems)
            bad = bad or amount is None
        weight = None
        if raw.get("weight") is not None:
            weight = _amount(raw["weight"], metric, (*where, "weight"), problems, what="weight")
            bad = bad or weight is None
        this = PlanNode(path, level, key, str(owner or "").strip(), amount if amount is not None else Decimal(0), str(split_kind), weight, str(raw["title"]) if raw.get("title") is not None else None, parent.path if parent else None, where)
        this_amount_given = amount is not None
        children_raw = raw.get("children") or []
        if not isinstance(children_raw, list):
            problems.append(Problem.make("target.children", "children is a list of nodes", "children 应为节点列表", (*where, "children")))
            return None
        for i, child_raw in enumerate(children_raw):
            child = node(child_raw, (*where, "children", i), this, depth)
            if child is not None:
                this.children.append(child)
            else:
                bad = True
        if not children_raw and level not in ("team", "rep"):
            problems.append(Problem.make("target.leaf", "a {lv} target needs children: results are counted for teams and reps", "{lv} 目标需要下级:业绩按团队和销售统计", where, lv=level))
            bad = True
        this.given = this_amount_given
        return None if bad else this

    root = node(data["tree"], ("tree",), None, -1)
    if root is None or problems:
        return None, problems
    if not root.given:
        problems.append(Problem.make("target.amount", "the top of the tree needs an 'amount': the number the whole target is", "树顶节点需要 'amount':整个目标的数值", root.where))
        return None, problems
    _settle(root, metric, history, problems)
    if problems:
        return None, problems
    return Plan(period, kind, metric, root, str(note) if note is not None else None), []


def _settle(node: PlanNode, metric: Metric, history: Callable[[PlanNode], Decimal] | None, problems: list[Problem]) -> None:
    """Work out the children's amounts from ``node``'s, by its split, then go down."""
    kids = node.children
    if not kids:
        return
    if node.split == "manual":
        missing = [c for c in kids if not c.given]
        for c in missing:
            problems.append(Problem.make("target.amount", "{p} splits by hand: give this node an 'amount'", "{p} 为手工分解:请为该节点填写 'amount'", c.where, p=node.path))
        if missing:
            return
        total = sum((c.amount for c in kids), Decimal(0))
        if total != node.amount:
            gap = total - node.amount
            problems.append(
                Problem.make(
                    "target.sum",
                    "the children of {p} add up to {sum}, not {amount} ({gap} {dir})",
                    "{p} 的下级合计为 {sum},而不是 {amount}({dir_zh} {gap})",
                    (*node.where, "children"),
                    p=node.path,
                    sum=format_amount(total, metric.unit),
                    amount=format_amount(node.amount, metric.unit),
                    gap=format_amount(abs(gap), metric.unit),
                    dir="too much" if gap > 0 else "short",
                    dir_zh="多出" if gap > 0 else "少了",
                )
            )
            return
    else:
        for c in kids:
            if c.given:
                problems.append(Problem.make("target.amount", "{p} splits by {s}: the amount comes from the split (use split: manual to set it by hand)", "{p} 按 {s} 分解:金额由分解得出(手工设定请用 split: manual)", (*c.where, "amount"), p=node.path, s=node.split))
        if any(c.given for c in kids):
            return
        if node.split == "weights":
            weights = [c.weight if c.weight is not None else Decimal(1) for c in kids]
        else:
            weights = [history(c) if history is not None else Decimal(0) for c in kids]
        for c, amount in zip(kids, split(node.amount, weights, metric.unit), strict=True):
            c.amount = amount
    for c in kids:
        _settle(c, metric, history, problems)


def split(amount: Decimal, weights: Sequence[Decimal], unit: Decimal = CENT) -> list[Decimal]:
    """``amount`` shared by ``weights`` in multiples of ``unit``, adding up to ``amount`` exactly.

    Each share is rounded down to the unit, then the units left over go one each to the largest
    remainders (ties: the earlier child). All weights zero (e.g. no results last period): equal shares.
    """
    if not weights:
        return []
    total = sum(weights, Decimal(0))
    if total <= 0:
        weights, total = [Decimal(1)] * len(weights), Decimal(len(weights))
    exact = [amount * w / total for w in weights]
    shares = [e.quantize(unit, ROUND_DOWN) for e in exact]
    left = int(((amount - sum(shares, Decimal(0))) / unit).to_integral_value(ROUND_HALF_EVEN))
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[:left]:
        shares[i] += unit
    return shares


def rollup(root: PlanNode, leaf_results: Callable[[PlanNode], Decimal]) -> dict[str, Decimal]:
    """Each node's result: a leaf's from ``leaf_results``, any other node's the sum of its children's."""
    out: dict[str, Decimal] = {}

    def visit(node: PlanNode) -> Decimal:
        value = sum((visit(c) for c in node.children), Decimal(0)) if node.children else leaf_results(node)
        out[node.path] = value
        return value

    visit(root)
    return out


def completion(result: Decimal | None, target: Decimal | None) -> Decimal | None:
    """``result ÷ target`` to four decimals (half to even); None when there is no target or it is 0."""
    if result is None or target is None or target == 0:
        return None
    return (result / target).quantize(RATIO, ROUND_HALF_EVEN)


def rate(item: str, value: Decimal | None, bands: Mapping[str, tuple[Decimal, Decimal]]) -> str:
    """``green``, ``yellow`` or ``red`` for a health item's value (``grey`` when there is no value)."""
    if value is None:
        return "grey"
    green, yellow = bands.get(item, HEALTH_DEFAULTS[item])
    if HEALTH_ITEMS[item]:
        return "green" if value >= green else "yellow" if value >= yellow else "red"
    return "green" if value <= green else "yellow" if value <= yellow else "red"


def elapsed_share(start: dt.datetime, end: dt.datetime, at: dt.datetime) -> Decimal:
    """The share of [start, end) that has passed at ``at`` (0 to 1, four decimals)."""
    if at <= start:
        return Decimal(0)
    if at >= end:
        return Decimal(1)
    return (Decimal((at - start).total_seconds()) / Decimal((end - start).total_seconds())).quantize(RATIO, ROUND_HALF_EVEN)
