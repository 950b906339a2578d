"""Fixtures for the engine tests: a fixed clock, an inline YAML template builder and rep factories.

Every fixture here is a pure factory with no state, so it is session-scoped: Hypothesis tests may
use it without a fresh copy per example.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from rule_engine import CompiledTemplate, Leave, Rep, loads_template

NOW = dt.datetime.fromisoformat("2026-11-23T09:00:00+08:00")  # a Monday morning in Shanghai

HEADER = """\
fenpei: 1
name: test
title: {zh: 测试模板, en: Test template}
"""

# The lead and rep fields most tests read; a test passes its own `fields:` block to replace them.
FIELDS = """\
fields:
  company: {type: string, title: {zh: 公司, en: Company}}
  deal_size: {type: number, title: {zh: 预计金额, en: Deal size}}
  employees: {type: integer}
  industry: {type: enum, options: [medical, finance, retail]}
  region: {type: enum, options: [north, south, east]}
  stage: {type: enum, options: [new, contacted, negotiation, won]}
  product_lines: {type: tags, options: [crm, erp, bi]}
  budget_confirmed: {type: boolean}
  signed_on: {type: date}
  account_owner: {type: string}
  complexity: {type: integer}
rep_fields:
  level: {type: enum, options: [junior, mid, senior, expert]}
  regions: {type: tags, options: [north, south, east]}
  skills: {type: tags, options: [crm, erp, bi]}
  capacity: {type: number}
"""


def template_yaml(body: str = "", fields: str | None = None) -> str:
    """A whole template document: the header, the fields, then ``body`` (YAML sections, any indent)."""
    parts = [HEADER, textwrap.dedent(fields) if fields is not None else FIELDS, textwrap.dedent(body)]
    return "\n".join(p.rstrip("\n") for p in parts if p.strip()) + "\n"


def build_template(body: str = "", fields: str | None = None) -> CompiledTemplate:
    """Load and compile an inline template (raises the engine's TemplateError on a bad one)."""
    return loads_template(template_yaml(body, fields))


def make_rep(
    rep_id: str,
    name: str | None = None,
    *,
    level: str = "senior",
    regions: Sequence[str] = ("north", "south", "east"),
    skills: Sequence[str] = (),
    capacity: float | None = None,
    on_leave: bool = False,
    attrs: dict[str, Any] | None = None,
    **kw: Any,
) -> Rep:
    """A rep with the test template's rep fields; ``on_leave`` adds a leave covering NOW's day."""
    values: dict[str, Any] = {"level": level, "regions": tuple(regions), "skills": tuple(skills)}
    if capacity is not None:
        values["capacity"] = capacity
    values.update(attrs or {})
    if on_leave:
        day = NOW.date()
        kw["leaves"] = (Leave(day - dt.timedelta(days=1), day + dt.timedelta(days=2)),)
    return Rep(rep_id, name if name is not None else rep_id.upper(), attrs=values, **kw)


def make_reps(n: int, **kw: Any) -> list[Rep]:
    """``n`` equal reps r01, r02, ..."""
    return [make_rep(f"r{i:02d}", **kw) for i in range(1, n + 1)]


def make_leads(n: int, start: int = 1, **values: Any) -> list[dict[str, Any]]:
    """``n`` lead records l0001, l0002, ... with the same ``values``."""
    return [{"id": f"l{i:04d}", **values} for i in range(start, start + n)]


@pytest.fixture(scope="session")
def now() -> dt.datetime:
    return NOW


@pytest.fixture(scope="session")
def build() -> Callable[..., CompiledTemplate]:
    return build_template


@pytest.fixture(scope="session")
def yaml_of() -> Callable[..., str]:
    return template_yaml


@pytest.fixture(scope="session")
def rep() -> Callable[..., Rep]:
    return make_rep


@pytest.fixture(scope="session")
def reps() -> Callable[..., list[Rep]]:
    return make_reps


@pytest.fixture(scope="session")
def leads() -> Callable[..., list[dict[str, Any]]]:
    return make_leads
