"""Errors raised by the rule engine.

Every problem is data (a :class:`Problem`): a code, a bilingual message, the path into the
template, and where known the line and column. Exceptions carry one or more problems::

    FenpeiError                      base of everything the engine raises on purpose
    ├── TemplateError                a template could not be used; .problems lists them all
    │   ├── DocumentError            the bytes are not an acceptable document (syntax, size, tags, aliases)
    │   ├── SchemaError              the document does not follow the template schema
    │   └── CompileError             names, types, conditions, tables or policies are wrong
    ├── ConditionError               a condition string or tree is wrong (carries .problems, paths relative to it)
    ├── InputError                   lead or rep records do not fit the template's fields (per-field problems)
    └── EvaluationError              a rule failed on one lead at run time (e.g. two rows of a `unique` table)

A leaf raises with its local message and a path relative to what it checks; each caller prepends
its own key as the error passes up (:meth:`Problem.under`), so messages stay local and paths full.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "CompileError",
    "ConditionError",
    "DocumentError",
    "EvaluationError",
    "FenpeiError",
    "InputError",
    "Problem",
    "SchemaError",
    "TemplateError",
    "closest",
    "format_path",
]

PathPart = str | int
Lang = str  # "en" or "zh"


def format_path(path: Sequence[PathPart]) -> str:
    """Render a path as JSONPath: ``$.segments[0].rules[1].when``."""
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``, if one is close enough to suggest."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True)
class Problem:
    """One located problem, with its message in English and Chinese."""

    code: str
    en: str
    zh: str
    path: tuple[PathPart, ...] = ()
    line: int | None = None
    column: int | None = None
    source: str | None = None
    suggestion: str | None = None
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def make(
        cls,
        code: str,
        en: str,
        zh: str,
        path: Sequence[PathPart] = (),
        *,
        suggestion: str | None = None,
        line: int | None = None,
        column: int | None = None,
        **params: Any,
    ) -> Problem:
        """Build a problem; ``en`` and ``zh`` are ``str.format`` templates over ``params``."""
        return cls(
            code=code,
            en=en.format(**params),
            zh=zh.format(**params),
            path=tuple(path),
            line=line,
            column=column,
            suggestion=suggestion,
            params=dict(params),
        )

    def message(self, lang: Lang = "en") -> str:
        """The message in ``lang`` ("en" or "zh"), with the suggestion if there is one."""
        if lang.startswith("zh"):
            text = self.zh
            if self.suggestion is not None:
                text += f"(是否想写 {self.suggestion!r}?)"
        else:
            text = self.en
            if self.suggestion is not None:
                text += f" (did you mean {self.suggestion!r}?)"
        return text

    def under(self, *prefix: PathPart) -> Problem:
        """The same problem with ``prefix`` prepended to its path."""
        return replace(self, path=tuple(prefix) + self.path)

    def at(self, source: str | None = None, line: int | None = None, column: int | None = None) -> Problem:
        """The same problem located in a file."""
        return replace(
            self,
            source=source if source is not None else self.source,
            line=line if line is not None else self.line,
            column=column if column is not None else self.column,
        )

    @property
    def json_path(self) -> str:
        return format_path(self.path)

    def format(self, lang: Lang = "en") -> str:
        """``FILE:LINE: $.path: message`` (the parts that are known)."""
        head = []
        if self.source is not None:
            head.append(self.source)
        if self.line is not None:
            head.append(str(self.line))
        prefix = ":".join(head)
        if not prefix and not self.path:
            return self.message(lang)  # a problem with no place (a refused request): just say it
        body = f"{self.json_path}: {self.message(lang)}"
        return f"{prefix}: {body}" if prefix else body

    def to_dict(self, lang: Lang = "en") -> dict[str, Any]:
        return {
            "code": self.code,
            "path": self.json_path,
            "line": self.line,
            "column": self.column,
            "message": self.message(lang),
        }


class FenpeiError(Exception):
    """Base of every error the engine raises on purpose."""

    def __init__(self, problems: Problem | Sequence[Problem]) -> None:
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        if not self.problems:
            raise ValueError("an error needs at least one problem")
        super().__init__(self.problems[0].format())

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems)

    def format(self, lang: Lang = "en") -> str:
        return "\n".join(p.format(lang) for p in self.problems)

    def under(self, *prefix: PathPart) -> FenpeiError:
        """A copy of this error with ``prefix`` prepended to every problem's path."""
        return type(self)([p.under(*prefix) for p in self.problems])


class TemplateError(FenpeiError):
    """A template could not be used."""


class DocumentError(TemplateError):
    """The bytes are not an acceptable YAML/JSON document."""


class SchemaError(TemplateError):
    """The document does not follow the template schema."""


class CompileError(TemplateError):
    """Names, types, conditions, tables or policies are wrong."""


class ConditionError(FenpeiError):
    """A condition is wrong; paths are relative to the condition."""


class InputError(FenpeiError):
    """Records do not fit the template's fields."""


class EvaluationError(FenpeiError):
    """A rule failed on one record at run time."""
