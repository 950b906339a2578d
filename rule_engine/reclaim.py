"""The public pool (公海): which leads to remind or reclaim, and who may claim a pool lead.

Pure functions of the template, the leads, the rep and the clock. A reclaim rule has a deadline
(``since`` + ``days``); at ``now`` a lead is reclaimed by the first rule whose deadline has passed
and whose condition holds, reminded when a deadline is ``remind_before_days`` away, and left
alone when it is protected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rule_engine._compile import Context, get, text
from rule_engine.conditions import NOW_KEY, Condition, format_value
from rule_engine.fields import Text
from rule_engine.roster import Rep

if TYPE_CHECKING:
    from rule_engine.template import CompiledTemplate

__all__ = [
    "ClaimSpec",
    "ClaimVerdict",
    "ReclaimRule",
    "ReclaimSpec",
    "ReclaimVerdict",
    "check_claim",
    "compile_reclaim",
    "evaluate_reclaim",
    "verdict_for",
]

SINCE = {"assigned": "assigned_at", "last_followup": "last_followup_at", "created": "created_at"}


@dataclass(frozen=True)
class ReclaimRule:
    name: str
    title: Text
    since: str
    days: float
    when: Condition | None
    remind_before_days: float | None
    action: str
    notify: tuple[str, ...]

    def start(self, L: Mapping[str, Any]) -> dt.datetime | None:
        """The moment the rule's clock starts for this lead."""
        if self.since == "last_followup":
            return L.get("last_followup_at") or L.get("assigned_at")
        value: dt.datetime | None = L.get(SINCE[self.since])
        return value

    def deadline(self, L: Mapping[str, Any]) -> dt.datetime | None:
        start = self.start(L)
        return None if start is None else start + self.period

    @cached_property
    def period(self) -> dt.timedelta:
        """From the clock's start to the deadline."""
        return dt.timedelta(days=self.days)

    @cached_property
    def notice(self) -> dt.timedelta | None:
        """From the reminder to the deadline (None: no reminder)."""
        return None if self.remind_before_days is None else dt.timedelta(days=self.remind_before_days)


@dataclass(frozen=True)
class ClaimSpec:
    daily_limit: int | None = None
    max_held: int | None = None
    eligible: Condition | None = None


@dataclass(frozen=True)
class ReclaimSpec:
    rules: tuple[ReclaimRule, ...]
    protected: Condition | None
    cooldown_days: float
    claim: ClaimSpec


def compile_reclaim(data: Mapping[str, Any] | None, ctx: Context) -> ReclaimSpec | None:
    """Compile the ``reclaim`` section."""
    if not data:
        return None
    rules = []
    seen: set[str] = set()
    for i, spec in enumerate(data.get("rules", [])):
        path = ("reclaim", "rules", i)
        if spec["name"] in seen:
            ctx.report((*path, "name"), "compile.duplicate", "reclaim rule {n!r} is defined twice", "回收规则 {n!r} 重复定义", n=spec["name"])
            continue
        seen.add(spec["name"])
        when = ctx.condition(spec.get("when"), (*path, "when"), ctx.rep_env)  # rep.X reads the owner
        remind = spec.get("remind_before_days")
        if remind is not None and remind >= spec["days"]:
            ctx.report(
                (*path, "remind_before_days"),
                "compile.reclaim",
                "the reminder ({r:g} days before) must come after the clock starts ({d:g} days)",
                "提醒提前量({r:g} 天)必须小于回收期限({d:g} 天)",
                r=remind,
                d=spec["days"],
            )
        rules.append(
            ReclaimRule(
                spec["name"],
                text(spec.get("title"), spec["name"]),
                spec["since"],
                float(spec["days"]),
                when,
                None if remind is None else float(remind),
                spec.get("action", "pool"),
                tuple(spec.get("notify", ["owner"])),
            )
        )
    claim = data.get("claim") or {}
    return ReclaimSpec(
        tuple(rules),
        ctx.condition(data.get("protected"), ("reclaim", "protected")),
        float(get(data, "cooldown_days", 0)),
        ClaimSpec(claim.get("daily_limit"), claim.get("max_held"), ctx.condition(claim.get("eligible"), ("reclaim", "claim", "eligible"), ctx.rep_env)),
    )


@dataclass(frozen=True)
class ReclaimVerdict:
    """What the sweep does with one owned lead at ``now``."""

    lead_id: str
    owner: str | None
    action: str  # "reclaim" | "remind" | "protected" | "keep"
    rule: str | None = None
    deadline: dt.datetime | None = None
    then: str | None = None  # for reclaim: "pool" or "reassign"
    notify: tuple[str, ...] = ()
    since: dt.datetime | None = None

    def explain(self, template: CompiledTemplate, lang: str = "en") -> str:
        """The verdict in one sentence."""
        zh = lang.startswith("zh")
        rule = next((r for r in template.reclaim.rules if r.name == self.rule), None) if template.reclaim else None
        title = rule.title.get(lang) if rule else ""
        when = format_value(self.deadline.astimezone(template.timezone)) if self.deadline else ""  # in the team's timezone
        if self.action == "reclaim":
            then = ("回到公海" if self.then == "pool" else "重新分配") if zh else ("back to the pool" if self.then == "pool" else "reassigned")
            return f"按规则 {self.rule}({title})回收:期限 {when} 已过,{then}" if zh else f"reclaimed by rule {self.rule} ({title}): deadline {when} passed; {then}"
        if self.action == "remind":
            return f"提醒:规则 {self.rule}({title})的回收期限为 {when}" if zh else f"reminder: rule {self.rule} ({title}) reclaims at {when}"
        if self.action == "protected":
            return "受保护,不回收" if zh else "protected: never reclaimed"
        if self.deadline is not None:
            return f"正常跟进中,最近的回收期限 {when}({self.rule})" if zh else f"in good standing; next reclaim deadline {when} ({self.rule})"
        return "正常跟进中" if zh else "in good standing"


def evaluate_reclaim(
    template: CompiledTemplate, leads: Sequence[Mapping[str, Any]], now: dt.datetime, roster: Sequence[Rep] = ()
) -> list[ReclaimVerdict]:
    """A verdict for every lead that has an owner (pool leads are skipped).

    A rule's ``when`` may read the owner as ``rep.X``; owners missing from ``roster`` read as unset.
    """
    spec = template.reclaim
    day = now.astimezone(template.timezone).date()
    owners = {r.id: r.values(day) for r in roster}
    clock = template.clock(now)
    out: list[ReclaimVerdict] = []
    for record in leads:
        if not record.get("owner"):
            continue
        L = template.values(record, now, clock)
        template.grade(L)
        out.append(verdict_for(spec, L, now, owners.get(record["owner"])))
    return out


def verdict_for(
    spec: ReclaimSpec | None,
    L: Mapping[str, Any],
    now: dt.datetime,
    owner: Mapping[str, Any] | None = None,
    *,
    grade: Callable[[Any], None] | None = None,
    graded: frozenset[str] = frozenset(),
) -> ReclaimVerdict:
    """The verdict for one owned lead at ``now``: the first rule whose deadline has passed reclaims
    it; else the nearest deadline whose reminder is due reminds; else the nearest deadline is kept.

    ``grade`` (with ``graded``, the names it writes into ``L``): ``L`` is not graded yet, and
    ``grade(L)`` grades it the first time a condition reads one of ``graded``. A lead whose
    verdict needs no grade (a rule without one reclaims it first) is then never graded.
    """
    R = owner if owner is not None else {}
    lead_id, owner = str(L.get("id", "")), L.get("owner")
    if spec is None or not spec.rules:
        return ReclaimVerdict(lead_id, owner, "keep")
    if grade is not None and spec.protected is not None and spec.protected.lead_names & graded:
        grade(L)
        grade = None
    if spec.protected is not None and spec.protected.fn(L, None):
        return ReclaimVerdict(lead_id, owner, "protected")
    # The sweep calls this for every candidate: the start is read once per rule, and a verdict
    # object is built only for the outcome.
    remind: tuple[dt.datetime, ReclaimRule, dt.datetime] | None = None
    upcoming: tuple[dt.datetime, ReclaimRule, dt.datetime] | None = None
    for rule in spec.rules:
        start = rule.start(L)
        if start is None:
            continue
        deadline = start + rule.period
        if rule.when is not None:
            if grade is not None and rule.when.lead_names & graded:
                grade(L)
                grade = None
            if not rule.when.fn(L, R):
                continue
        if deadline <= now:
            return ReclaimVerdict(lead_id, owner, "reclaim", rule.name, deadline, rule.action, rule.notify, start)
        notice = rule.notice
        if notice is not None and deadline - notice <= now:
            if remind is None or deadline < remind[0]:
                remind = (deadline, rule, start)
        elif upcoming is None or deadline < upcoming[0]:
            upcoming = (deadline, rule, start)
    if remind is not None:
        deadline, rule, start = remind
        return ReclaimVerdict(lead_id, owner, "remind", rule.name, deadline, rule.action, rule.notify, start)
    if upcoming is not None:
        deadline, rule, start = upcoming
        return ReclaimVerdict(lead_id, owner, "keep", rule.name, deadline, None, (), start)
    return ReclaimVerdict(lead_id, owner, "keep")


@dataclass(frozen=True)
class ClaimVerdict:
    """Whether a rep may claim a pool lead, and why not."""

    allowed: bool
    reason: str | None = None  # code
    en: str = ""
    zh: str = ""

    def message(self, lang: str = "en") -> str:
        return self.zh if lang.startswith("zh") else self.en


def _refuse(reason: str, en: str, zh: str) -> ClaimVerdict:
    return ClaimVerdict(False, reason, en, zh)


def check_claim(template: CompiledTemplate, record: Mapping[str, Any], rep: Rep, now: dt.datetime) -> ClaimVerdict:
    """May ``rep`` claim this pool lead at ``now``? (daily limit, maximum held, cooldown, cap, eligibility)."""
    if record.get("owner"):
        return _refuse("not_in_pool", "this lead is not in the pool", "该线索不在公海中")
    day = now.astimezone(template.timezone).date()
    why = rep.unavailable_reason(day)
    if why is not None:
        labels = {"paused": ("paused", "已暂停接单"), "inactive": ("inactive", "已停用"), "on_leave": ("on leave", "休假中")}
        en, zh = labels[why]
        return _refuse("unavailable", f"you cannot claim leads while {en}", f"{zh},不能领取线索")
    spec = template.reclaim
    claim = spec.claim if spec else ClaimSpec()
    if claim.daily_limit is not None and rep.claims_today >= claim.daily_limit:
        return _refuse(
            "daily_limit",
            f"daily claim limit reached ({rep.claims_today} of {claim.daily_limit} today)",
            f"已达到每日领取上限(今日已领 {rep.claims_today} 条,上限 {claim.daily_limit} 条)",
        )
    if claim.max_held is not None and rep.held_from_pool >= claim.max_held:
        return _refuse(
            "max_held",
            f"you already hold {rep.held_from_pool} leads from the pool (at most {claim.max_held})",
            f"你已持有 {rep.held_from_pool} 条公海线索(最多 {claim.max_held} 条)",
        )
    L = template.values(record, now)
    template.grade(L)
    if spec is not None and spec.cooldown_days > 0 and record.get("previous_owner") == rep.id:
        reclaimed = record.get("reclaimed_at")
        if reclaimed is not None:
            until = reclaimed + dt.timedelta(days=spec.cooldown_days)
            if now < until:
                shown = format_value(until.astimezone(template.timezone))
                return _refuse(
                    "cooldown",
                    f"this lead was reclaimed from you; you may claim it again after {shown}",
                    f"该线索刚从你名下回收,{shown} 之后才能再次领取",
                )
    R = rep.values(day)
    cap = template.load.per_rep(template.load.cap, R, {NOW_KEY: now})
    weight = template.load.weight(L)
    if cap is not None and rep.load + weight > cap + 1e-9:
        return _refuse(
            "over_cap",
            f"your load {format_value(rep.load)} + {format_value(weight)} would pass your cap {format_value(cap)}",
            f"你的负载 {format_value(rep.load)} + {format_value(weight)} 将超过上限 {format_value(cap)}",
        )
    if claim.eligible is not None and not claim.eligible.fn(L, R):
        detail = claim.eligible.describe(L, R, "en")
        return _refuse("not_eligible", f"you are not eligible for this lead ({detail})", f"你不符合领取条件({claim.eligible.describe(L, R, 'zh')})")
    return ClaimVerdict(True)
