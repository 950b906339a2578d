"""Field definitions and turning raw values (CSV text, JSON, form input) into typed values.

The same coercion serves simulation input, imports, the API and generated forms, so a value is
accepted or refused with the same message everywhere.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from rule_engine.conditions import Condition
from rule_engine.errors import Problem, closest
from rule_engine.types import ValueType, field_value_type

__all__ = ["FieldDef", "Option", "Text", "coerce"]


@dataclass(frozen=True)
class Text:
    """A bilingual text."""

    zh: str
    en: str

    @classmethod
    def of(cls, value: Any, fallback: str = "") -> Text:
        """From a template value: a plain string (both languages) or ``{zh, en}``."""
        if isinstance(value, Mapping):
            return cls(str(value.get("zh", fallback)), str(value.get("en", fallback)))
        if value is None:
            return cls(fallback, fallback)
        return cls(str(value), str(value))

    def get(self, lang: str = "en") -> str:
        return self.zh if lang.startswith("zh") else self.en

    def to_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


@dataclass(frozen=True)
class Option:
    value: str
    title: Text


@dataclass(frozen=True)
class FieldDef:
    """One field of the template (lead field, rep field or form field)."""

    name: str
    type: str
    title: Text
    description: Text | None = None
    required: bool = False
    required_when: Condition | None = None
    visible_when: Condition | None = None
    default: Any = None
    unique: bool = False
    group: Text | None = None
    order: int = 0
    widget: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    options: tuple[Option, ...] = ()
    max_items: int | None = None

    @cached_property
    def _titles(self) -> dict[str, str]:
        titles: dict[str, str] = {}
        for o in self.options:
            titles.setdefault(o.title.zh, o.value)
            titles.setdefault(o.title.en, o.value)
            titles.setdefault(o.value.lower(), o.value)
        return titles

    def resolve_option(self, value: str) -> str | None:
        """The option value for ``value``: the value itself, or an option title people typed (医疗)."""
        if value in self.option_values:
            return value
        titles = self._titles
        return titles.get(value, titles.get(value.lower()))

    @property
    def value_type(self) -> ValueType:
        return field_value_type(self.type, self.option_values or None)

    @cached_property
    def option_values(self) -> frozenset[str]:
        return frozenset(o.value for o in self.options)


_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f"}
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 \-()]{4,24}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]{1,2000}$", re.IGNORECASE)

_MAX_NUMBER = 1e15


def _bad(code: str, en: str, zh: str, **params: Any) -> Problem:
    return Problem.make(code, en, zh, **params)


def parse_datetime(value: str, tz: ZoneInfo) -> dt.datetime:
    """ISO 8601 date-time; a value without an offset is read in ``tz``."""
    text = value.strip().replace(" ", "T", 1) if "T" not in value else value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def coerce(fdef: FieldDef, raw: Any, tz: ZoneInfo, *, text: bool = False) -> tuple[Any, Problem | None]:
    """Turn ``raw`` into the field's typed value. ``text`` marks CSV/form input (lists split on ``;``).

    Returns ``(value, None)`` or ``(None, problem)``; an empty value gives ``(None, None)``.
    """
    if raw is None or (isinstance(raw, str) and raw.strip() == "") or (isinstance(raw, (list, tuple)) and not raw and fdef.type != "tags"):
        return None, None
    t = fdef.type
    try:
        if t in ("integer", "number"):
            value = _number(raw, integer=t == "integer")
            if fdef.minimum is not None and value < fdef.minimum:
                return None, _bad("field.minimum", "must be at least {m:g}", "不能小于 {m:g}", m=fdef.minimum)
            if fdef.maximum is not None and value > fdef.maximum:
                return None, _bad("field.maximum", "must be at most {m:g}", "不能大于 {m:g}", m=fdef.maximum)
            return value, None
        if t == "boolean":
            if isinstance(raw, bool):
                return raw, None
            if isinstance(raw, str) and raw.strip().lower() in _TRUE:
                return True, None
            if isinstance(raw, str) and raw.strip().lower() in _FALSE:
                return False, None
            return None, _bad("field.boolean", "{raw!r} is not true or false", "{raw!r} 不是 是/否(true/false)", raw=raw)
        if t == "date":
            if isinstance(raw, dt.datetime):
                return raw.astimezone(tz).date(), None
            if isinstance(raw, dt.date):
                return raw, None
            if not isinstance(raw, str):
                raise ValueError
            try:
                return dt.date.fromisoformat(raw.strip()), None
            except ValueError:
                return None, _bad("field.date", "{raw!r} is not a date (YYYY-MM-DD)", "{raw!r} 不是日期(YYYY-MM-DD)", raw=raw)
        if t == "datetime":
            if isinstance(raw, dt.datetime):
                return (raw if raw.tzinfo else raw.replace(tzinfo=tz)), None
            if not isinstance(raw, str):
                raise ValueError
            try:
                return parse_datetime(raw, tz), None
            except ValueError:
                return None, _bad(
                    "field.datetime",
                    "{raw!r} is not a date and time (ISO 8601, e.g. 2026-11-23T09:00:00+08:00)",
                    "{raw!r} 不是日期时间(ISO 8601,如 2026-11-23T09:00:00+08:00)",
                    raw=raw,
                )
        if t == "tags":
            if isinstance(raw, str):
                items = [p.strip() for p in raw.split(";") if p.strip()]
            elif isinstance(raw, (list, tuple)):
                items = raw  # type: ignore[assignment]
            else:
                raise ValueError
            out: list[str] = []
            for item in items:
                if not isinstance(item, str):
                    return None, _bad("field.type", "tags must be strings", "标签必须是文本")
                resolved = fdef.resolve_option(item)
                if resolved is None:
                    return None, _option_problem(fdef, item)
                item = resolved
                if item not in out:
                    out.append(item)
            if fdef.max_items is not None and len(out) > fdef.max_items:
                return None, _bad("field.max_items", "at most {n} items", "最多 {n} 项", n=fdef.max_items)
            return tuple(out), None
        # string-like
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ValueError
        if not isinstance(raw, str):
            if t != "enum":
                raise ValueError
            raw = str(raw)
        value_s = raw.strip()
        if t == "enum":
            resolved = fdef.resolve_option(value_s)
            return (None, _option_problem(fdef, value_s)) if resolved is None else (resolved, None)
        if fdef.min_length is not None and len(value_s) < fdef.min_length:
            return None, _bad("field.min_length", "must be at least {n} characters", "至少 {n} 个字符", n=fdef.min_length)
        if fdef.max_length is not None and len(value_s) > fdef.max_length:
            return None, _bad("field.max_length", "must be at most {n} characters", "最多 {n} 个字符", n=fdef.max_length)
        if len(value_s) > 100_000:
            return None, _bad("field.max_length", "must be at most {n} characters", "最多 {n} 个字符", n=100_000)
        if t == "email" and not _EMAIL.match(value_s):
            return None, _bad("field.email", "{raw!r} is not an email address", "{raw!r} 不是有效的邮箱地址", raw=value_s)
        if t == "phone" and not _PHONE.match(value_s):
            return None, _bad("field.phone", "{raw!r} is not a phone number", "{raw!r} 不是有效的电话号码", raw=value_s)
        if t == "url" and not _URL.match(value_s):
            return None, _bad("field.url", "{raw!r} is not a web address (http:// or https://)", "{raw!r} 不是有效的网址(http:// 或 https://)", raw=value_s)
        if fdef.pattern is not None and not fdef.pattern.search(value_s):
            return None, _bad("field.pattern", "{raw!r} does not have the expected format", "{raw!r} 的格式不正确", raw=value_s)
        return value_s, None
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        return None, _bad(
            "field.type", "{raw!r} is not a valid {t}", "{raw!r} 不是有效的{t_zh}", raw=raw, t=t, t_zh=_TYPE_ZH.get(t, t)
        )


_TYPE_ZH = {
    "integer": "整数",
    "number": "数字",
    "boolean": "是/否",
    "date": "日期",
    "datetime": "日期时间",
    "tags": "标签列表",
    "string": "文本",
    "text": "文本",
    "enum": "选项",
    "email": "邮箱",
    "phone": "电话",
    "url": "网址",
}


def _number(raw: Any, *, integer: bool) -> int | float:
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, int):
        value: int | float = raw
    elif isinstance(raw, float):
        value = raw
    elif isinstance(raw, str):
        s = raw.strip().replace(",", "").replace("_", "")
        d = Decimal(s)
        if not d.is_finite():
            raise ValueError
        value = int(d) if d == d.to_integral_value() else float(d)
    else:
        raise ValueError
    if isinstance(value, float) and (not math.isfinite(value)):
        raise ValueError
    if abs(value) > _MAX_NUMBER:
        raise ValueError
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            value = int(value)
    return value


def _option_problem(fdef: FieldDef, value: str) -> Problem:
    allowed = fdef.option_values
    return Problem.make(
        "field.option",
        "{v!r} is not one of: {opts}",
        "{v!r} 不在可选项中:{opts}",
        suggestion=closest(value, allowed),
        v=value,
        opts=", ".join(o.value for o in fdef.options),
    )
