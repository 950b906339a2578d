"""The roster snapshot and rotation state the engine is given (it stores neither)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from rule_engine.errors import Problem, closest
from rule_engine.fields import FieldDef, Text, coerce

__all__ = ["Leave", "Rep", "RotationState", "rep_from_raw"]

STATUSES = ("active", "paused", "inactive")


@dataclass(frozen=True)
class Leave:
    """A leave from ``start`` to ``end``, both days included."""

    start: dt.date
    end: dt.date

    def covers(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Rep:
    """One rep as the engine sees them at one moment."""

    id: str
    name: str = ""
    attrs: Mapping[str, Any] = field(default_factory=dict)
    team: str | None = None
    manager: str | None = None
    status: str = "active"
    leaves: tuple[Leave, ...] = ()
    load: float = 0.0
    open_count: int = 0
    assigned_today: int = 0
    assigned_week: int = 0
    points: float = 0
    held_from_pool: int = 0
    claims_today: int = 0
    # Target figures at this moment (``target_completion``, ``completion_<metric>``, and the rep's
    # team's as ``team.completion`` …): computed by the caller, read by rules as rep.X and team.X.
    figures: Mapping[str, Any] = field(default_factory=dict)

    def on_leave(self, day: dt.date) -> bool:
        return any(leave.covers(day) for leave in self.leaves)

    def unavailable_reason(self, day: dt.date) -> str | None:
        """None when the rep may receive leads on ``day``; else "paused", "inactive" or "on_leave"."""
        if self.status != "active":
            return self.status
        if self.on_leave(day):
            return "on_leave"
        return None

    def values(self, day: dt.date, cap: float | None = None) -> dict[str, Any]:
        """The mapping ``rep.X`` reads in conditions."""
        R = dict(self.attrs)
        if self.figures:
            R.update(self.figures)
        R.update(
            id=self.id,
            name=self.name or self.id,
            team=self.team,
            manager=self.manager,
            status=self.status,
            on_leave=self.on_leave(day),
            load=self.load,
            open_count=self.open_count,
            assigned_today=self.assigned_today,
            assigned_week=self.assigned_week,
            points=self.points,
            cap=cap,
            held_from_pool=self.held_from_pool,
            claims_today=self.claims_today,
        )
        return R

    @property
    def display(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class RotationState:
    """Where each rotation stands: the last rep chosen per key, and smooth-weighted counters."""

    cursors: Mapping[str, str] = field(default_factory=dict)
    weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"cursors": dict(sorted(self.cursors.items())), "weights": {k: dict(sorted(v.items())) for k, v in sorted(self.weights.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RotationState:
        data = data or {}
        return cls(dict(data.get("cursors", {})), {k: dict(v) for k, v in data.get("weights", {}).items()})


_NUMERIC = {
    "load": "number",
    "points": "number",
    "open_count": "integer",
    "assigned_today": "integer",
    "assigned_week": "integer",
    "held_from_pool": "integer",
    "claims_today": "integer",
}


def rep_from_raw(
    raw: Mapping[str, Any], rep_fields: Mapping[str, FieldDef], tz: ZoneInfo, *, text: bool = False, figures: Sequence[str] = ()
) -> tuple[Rep | None, list[Problem]]:
    """A :class:`Rep` from raw input (a CSV row when ``text``); problems per column.

    ``figures`` names the target figures the input may give (``target_completion``,
    ``team.completion`` …: see :func:`rule_engine.targets.figure_names`), read as numbers."""
    problems: list[Problem] = []
    rid = str(raw.get("id") or "").strip()
    if not rid:
        problems.append(Problem.make("rep.id", "every rep needs an id", "每位销售都需要 id", ("id",)))
    attrs: dict[str, Any] = {}
    for name, fdef in rep_fields.items():
        value, problem = coerce(fdef, raw.get(name), tz, text=text)
        if problem is not None:
            problems.append(problem.under(name))
        elif value is not None:
            attrs[name] = value
        elif fdef.default is not None:
            attrs[name] = fdef.default
    numbers: dict[str, Any] = {}
    for key, kind in _NUMERIC.items():
        value, problem = coerce(FieldDef(key, kind, Text(key, key), minimum=0), raw.get(key), tz, text=text)
        if problem is not None:
            problems.append(problem.under(key))
        elif value is not None:
            numbers[key] = value
    given: dict[str, Any] = {}
    for key in figures:
        value, problem = coerce(FieldDef(key.replace(".", "_"), "number", Text(key, key)), raw.get(key), tz, text=text)
        if problem is not None:
            problems.append(problem.under(key))
        elif value is not None:
            given[key] = value
    status = str(raw.get("status") or "active").strip() or "active"
    if status not in STATUSES:
        problems.append(
            Problem.make(
                "rep.status",
                "{v!r} is not one of: active, paused, inactive",
                "{v!r} 不是 active、paused、inactive 之一",
                ("status",),
                suggestion=closest(status, STATUSES),
                v=status,
            )
        )
        status = "active"
    leaves: list[Leave] = []
    start_raw, end_raw = raw.get("leave_from"), raw.get("leave_to")
    if start_raw not in (None, "") or end_raw not in (None, ""):
        dfield = FieldDef("leave", "date", Text("leave", "leave"))
        start, p1 = coerce(dfield, start_raw, tz, text=text)
        end, p2 = coerce(dfield, end_raw, tz, text=text)
        if p1 or p2 or start is None or end is None:
            problems.append(
                Problem.make("rep.leave", "leave_from and leave_to must both be dates (YYYY-MM-DD)", "leave_from 和 leave_to 必须都是日期(YYYY-MM-DD)", ("leave_from",))
            )
        elif end < start:
            problems.append(Problem.make("rep.leave", "leave_to is before leave_from", "leave_to 早于 leave_from", ("leave_to",)))
        else:
            leaves.append(Leave(start, end))
    if problems:
        return None, problems

    def opt(key: str) -> str | None:
        value = raw.get(key)
        return str(value).strip() or None if value is not None else None

    return (
        Rep(
            id=rid,
            name=str(raw.get("name") or "").strip(),
            attrs=attrs,
            team=opt("team"),
            manager=opt("manager"),
            status=status,
            leaves=tuple(leaves),
            load=float(numbers.get("load", 0.0)),
            open_count=int(numbers.get("open_count", 0)),
            assigned_today=int(numbers.get("assigned_today", 0)),
            assigned_week=int(numbers.get("assigned_week", 0)),
            points=numbers.get("points", 0),
            held_from_pool=int(numbers.get("held_from_pool", 0)),
            claims_today=int(numbers.get("claims_today", 0)),
            figures=given,
        ),
        [],
    )


def sort_roster(reps: Sequence[Rep]) -> list[Rep]:
    """Roster order: by rep id. Rotation and ties follow it."""
    return sorted(reps, key=lambda r: r.id)
