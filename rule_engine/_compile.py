"""Shared helpers for compiling template sections: collect every problem, keep going."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rule_engine.conditions import Condition, Env, Expression, compile_condition, compile_expression
from rule_engine.errors import ConditionError, PathPart, Problem, closest
from rule_engine.fields import Text

__all__ = ["Context"]


@dataclass
class Context:
    """Where a section compiler reports problems and finds the environments it checks against."""

    lead_env: Env
    rep_env: Env  # lead + rep (for eligibility, scores, points)
    rep_only_env: Env  # rep only (caps, weights)
    problems: list[Problem] = field(default_factory=list)
    policy_names: tuple[str, ...] = ()
    table_names: tuple[str, ...] = ()
    form_names: tuple[str, ...] = ()
    lead_reads: set[str] = field(default_factory=set)  # every lead name a compiled condition reads

    def report(self, path: Sequence[PathPart], code: str, en: str, zh: str, *, suggestion: str | None = None, **params: Any) -> None:
        self.problems.append(Problem.make(code, en, zh, path, suggestion=suggestion, **params))

    def condition(self, source: Any, path: Sequence[PathPart], env: Env | None = None) -> Condition | None:
        """Compile a condition, or report its problems under ``path`` and return None."""
        if source is None:
            return None
        try:
            cond = compile_condition(source, env or self.lead_env)
        except ConditionError as exc:
            self.problems.extend(p.under(*path) for p in exc.problems)
            return None
        self.lead_reads |= cond.lead_names
        return cond

    def expression(self, source: Any, path: Sequence[PathPart], env: Env | None = None, expect: tuple[str, ...] = ("number",)) -> Expression | None:
        """Compile an expression, or report its problems under ``path`` and return None."""
        if source is None:
            return None
        try:
            expr = compile_expression(source, env or self.lead_env, expect=expect)
        except ConditionError as exc:
            self.problems.extend(p.under(*path) for p in exc.problems)
            return None
        self.lead_reads |= expr.lead_names
        return expr

    def reference(self, name: Any, known: Sequence[str], path: Sequence[PathPart], what_en: str, what_zh: str) -> bool:
        """Report ``name`` if it is not one of ``known``."""
        if isinstance(name, str) and name in known:
            return True
        self.report(
            path,
            "compile.reference",
            "unknown {what} {name!r}",
            "未知的{what_zh} {name!r}",
            suggestion=closest(str(name), known),
            what=what_en,
            what_zh=what_zh,
            name=name,
        )
        return False


def text(value: Any, fallback: str = "") -> Text:
    return Text.of(value, fallback)


def get(mapping: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = mapping.get(key, default) if isinstance(mapping, Mapping) else default
    return default if value is None else value
