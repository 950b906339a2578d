"""Templates as versions: one editable draft per name, immutable published versions.

Publishing validates the draft and stores it as version N+1; rollback publishes an old version's
source again as a new version. Every decision records the version it used, and a job started on
one version finishes on it (it loads that version by id, not "the latest").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from configurator.models import AuditEvent, TemplateDraft, TemplateVersion
from rule_engine import CompiledTemplate, Problem, loads_template
from rule_engine.errors import FenpeiError

__all__ = [
    "ServiceError",
    "compiled",
    "current_version",
    "diff_documents",
    "diff_versions",
    "get_version",
    "import_draft",
    "list_versions",
    "publish",
    "rollback",
]


class ServiceError(FenpeiError):
    """A request the service refuses (unknown template, nothing to publish…), with a bilingual message."""


def _refuse(code: str, en: str, zh: str, **params: Any) -> ServiceError:
    return ServiceError(Problem.make(code, en, zh, **params))


@lru_cache(maxsize=64)
def _compile_cached(source: str, source_name: str) -> CompiledTemplate:
    return loads_template(source, source_name)


def compiled(version: TemplateVersion) -> CompiledTemplate:
    """The compiled template of a stored version (compiled once per process)."""
    return _compile_cached(version.source, f"{version.name}@v{version.version}")


def import_draft(session: Session, source: str, *, source_name: str = "<template>", actor: str | None = None) -> tuple[TemplateDraft, CompiledTemplate]:
    """Validate ``source`` and store it as the draft of its template name. Raises TemplateError."""
    template = loads_template(source, source_name)
    draft = session.get(TemplateDraft, template.name)
    if draft is None:
        draft = TemplateDraft(name=template.name, source=source, updated_by=actor)
        session.add(draft)
    else:
        draft.source = source
        draft.updated_by = actor
    session.flush()
    return draft, template


def current_version(session: Session, name: str) -> TemplateVersion | None:
    """The latest published version of ``name``."""
    return session.scalars(select(TemplateVersion).where(TemplateVersion.name == name).order_by(TemplateVersion.version.desc()).limit(1)).first()


def get_version(session: Session, name: str, version: int | None = None) -> TemplateVersion:
    """A published version (the latest when ``version`` is None); ServiceError when there is none."""
    if version is None:
        found = current_version(session, name)
    else:
        found = session.scalars(select(TemplateVersion).where(TemplateVersion.name == name, TemplateVersion.version == version)).first()
    if found is None:
        if version is None:
            raise _refuse("template.unpublished", "template {n!r} has no published version", "模板 {n!r} 还没有发布的版本", n=name)
        raise _refuse("template.version", "template {n!r} has no version {v}", "模板 {n!r} 没有第 {v} 版", n=name, v=version)
    return found


def list_versions(session: Session, name: str) -> Sequence[TemplateVersion]:
    return session.scalars(select(TemplateVersion).where(TemplateVersion.name == name).order_by(TemplateVersion.version)).all()


def _store(session: Session, name: str, source: str, *, actor: str | None, note: str | None, rolled_back_from: int | None, now: dt.datetime) -> TemplateVersion:
    template = loads_template(source, name)  # never publish what does not load
    if template.name != name:
        raise _refuse("template.name", "the document names template {got!r}, not {want!r}", "文档中的模板名是 {got!r},而不是 {want!r}", got=template.name, want=name)
    latest = session.scalar(select(func.max(TemplateVersion.version)).where(TemplateVersion.name == name)) or 0
    version = TemplateVersion(
        name=name,
        version=latest + 1,
        source=source,
        document=dict(template.data),
        fingerprint=template.fingerprint,
        note=note,
        rolled_back_from=rolled_back_from,
        published_at=now,
        published_by=actor,
    )
    session.add(version)
    session.flush()
    session.add(
        AuditEvent(
            at=now,
            actor=actor or "system",
            action="publish",
            rule=None,
            template_version_id=version.id,
            reason=note or (f"rollback to version {rolled_back_from}" if rolled_back_from else None),
        )
    )
    return version


def publish(session: Session, name: str, *, actor: str | None = None, note: str | None = None, now: dt.datetime | None = None) -> TemplateVersion:
    """Publish the draft of ``name`` as a new version."""
    draft = session.get(TemplateDraft, name)
    if draft is None:
        raise _refuse("template.no_draft", "template {n!r} has no draft to publish", "模板 {n!r} 没有可发布的草稿", n=name)
    latest = current_version(session, name)
    if latest is not None and latest.source == draft.source:
        raise _refuse("template.unchanged", "the draft of {n!r} is the same as version {v}: nothing to publish", "模板 {n!r} 的草稿与第 {v} 版相同,无需发布", n=name, v=latest.version)
    return _store(session, name, draft.source, actor=actor, note=note, rolled_back_from=None, now=now or dt.datetime.now(dt.timezone.utc))


def rollback(session: Session, name: str, version: int, *, actor: str | None = None, note: str | None = None, now: dt.datetime | None = None) -> TemplateVersion:
    """Publish version ``version`` of ``name`` again, as a new version."""
    old = get_version(session, name, version)
    return _store(session, name, old.source, actor=actor, note=note, rolled_back_from=old.version, now=now or dt.datetime.now(dt.timezone.utc))


# ------------------------------------------------------------------------------------------------
# Diff in words
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    en: str
    zh: str

    def text(self, lang: str = "en") -> str:
        return self.zh if lang.startswith("zh") else self.en


_SECTIONS = {
    "fields": ("field", "字段"),
    "rep_fields": ("rep field", "销售属性"),
    "forms": ("form", "表单"),
}
_LISTS = {
    "segments": ("table", "分级表", lambda item: item["name"]),
    "triggers": ("trigger", "触发器", lambda item: item["name"]),
}
_NESTED_LISTS = {
    ("assignment", "policies"): ("policy", "分配策略"),
    ("reclaim", "rules"): ("reclaim rule", "回收规则"),
    ("points", "rules"): ("point rule", "积分规则"),
}


def _keyed(items: Any, key: Any) -> dict[str, Any]:
    return {key(item): item for item in items or []}


def _describe(kind_en: str, kind_zh: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    out = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            out.append(Change(f"{kind_en} {name!r} added", f"新增{kind_zh} {name!r}"))
        elif name not in new:
            out.append(Change(f"{kind_en} {name!r} removed", f"删除{kind_zh} {name!r}"))
        elif old[name] != new[name]:
            keys = sorted({k for k in set(old[name]) | set(new[name]) if old[name].get(k) != new[name].get(k)}) if isinstance(old[name], Mapping) and isinstance(new[name], Mapping) else []
            what = ", ".join(keys)
            out.append(Change(f"{kind_en} {name!r} changed" + (f" ({what})" if what else ""), f"修改{kind_zh} {name!r}" + (f"({what})" if what else "")))
    return out


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """What changed from ``old`` to ``new``, in words: which fields, tables, policies and rules."""
    changes: list[Change] = []
    for section, (en, zh) in _SECTIONS.items():
        changes += _describe(en, zh, old.get(section) or {}, new.get(section) or {})
    for section, (en, zh, key) in _LISTS.items():
        before, after = _keyed(old.get(section), key), _keyed(new.get(section), key)
        changes += _describe(en, zh, before, after)
        common = [n for n in before if n in after]
        if [n for n in (old.get(section) or []) if key(n) in common] and [key(n) for n in (old.get(section) or []) if key(n) in common] != [key(n) for n in (new.get(section) or []) if key(n) in common]:
            changes.append(Change(f"order of {section} changed", f"{zh}的顺序已调整"))
    for (section, sub), (en, zh) in _NESTED_LISTS.items():
        before = _keyed((old.get(section) or {}).get(sub), lambda item: item["name"])
        after = _keyed((new.get(section) or {}).get(sub), lambda item: item["name"])
        changes += _describe(en, zh, before, after)
        rest_old = {k: v for k, v in (old.get(section) or {}).items() if k != sub}
        rest_new = {k: v for k, v in (new.get(section) or {}).items() if k != sub}
        for k in sorted(set(rest_old) | set(rest_new)):
            if rest_old.get(k) != rest_new.get(k):
                changes.append(Change(f"{section}.{k} changed", f"{section}.{k} 已修改"))
    for section in ("load", "handover"):
        for k in sorted(set(old.get(section) or {}) | set(new.get(section) or {})):
            if (old.get(section) or {}).get(k) != (new.get(section) or {}).get(k):
                changes.append(Change(f"{section}.{k} changed", f"{section}.{k} 已修改"))
    for k in ("title", "description", "timezone"):
        if old.get(k) != new.get(k):
            changes.append(Change(f"{k} changed", f"{k} 已修改"))
    return changes


def diff_versions(session: Session, name: str, a: int, b: int) -> list[Change]:
    """The changes from version ``a`` to version ``b`` of ``name``."""
    return diff_documents(get_version(session, name, a).document, get_version(session, name, b).document)

