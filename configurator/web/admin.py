"""The template builder for admins: the gallery of sample templates, the builder (forms generated
from the template's JSON Schema beside the YAML, validated as you type), simulation, comparison
with the published version, publishing, version history, diff and rollback.

Pages (admins only; anyone else gets 403):

- ``GET /admin/templates`` (``admin.templates``): the gallery and the installation's templates;
- ``POST /admin/gallery/<sample>/import``: store a sample as the draft of its template, then open it;
- ``GET /admin/templates/<name>/edit``: the builder for the draft (or the latest version when
  there is no draft yet);
- ``GET /admin/templates/<name>/versions``: version history, ``?from=&to=`` for a diff in words,
  rollback.

JSON endpoints the builder's script calls (CSRF header required):

- ``POST /admin/templates/sync``: ``{source}`` (YAML typed by the admin) or ``{document}`` (what
  the form holds) with an optional ``action`` (add a row, remove a key, switch a condition between
  text and rows … see :meth:`form_builder.schema_form.SchemaForm.apply`); answers the YAML, the
  document, every problem located (line and JSON path) and, when asked, the form's HTML;
- ``POST /admin/templates/<name>/leads``: the sample leads of the template
  (``examples/<name>/leads.csv``) or an uploaded CSV, typed by the draft's fields, ready for
  ``POST /api/v1/teams/{team}/simulate``;
- ``POST /admin/templates/<name>/simulation``: the figures of a simulation the API returned,
  drawn (grade distribution, load against caps, fairness, sample explanations);
- ``POST /admin/templates/<name>/compare``: what publishing the draft would change for the
  stored leads (:mod:`configurator.services.impact`).

Saving the draft, publishing, simulating and rolling back go to the REST API from the page
(``static/admin.js``), so there is one implementation of each.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import select

from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import Team, TemplateDraft, TemplateVersion
from configurator.services import impact as impact_service
from configurator.services import templates as templates_service
from configurator.services.leads import to_json
from configurator.services.templates import ServiceError
from configurator.web.charts import Bar, bar_chart
from configurator.web.i18n import current_lang, t
from configurator.web.pages import login_required
from form_builder.schema_form import ActionError, SchemaForm
from form_builder.schema_yaml import document_yaml
from rule_engine import CompiledTemplate, loads_template
from rule_engine.errors import DocumentError, FenpeiError, Problem
from rule_engine.loader import parse_document

__all__ = ["bp"]

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "templates"
EXAMPLES = ROOT / "examples"
# The sample leads' timestamps are relative to this moment (examples/README.md).
SAMPLE_NOW = "2026-11-23T09:00:00+08:00"
MAX_CSV_BYTES = 4 * 1024 * 1024
MAX_LEADS = 5000  # what POST /api/v1/teams/{team}/simulate takes at once
OWNERSHIP = ("owner", "previous_owner", "assigned_at", "first_followup_at", "last_followup_at", "followup_count", "reclaim_count", "reclaimed_at")

_admin = login_required("admin")


def _now() -> dt.datetime:
    """The pages' clock: the app's ``FENPEI_CLOCK`` (a callable, for tests) or the time now."""
    clock = current_app.config.get("FENPEI_CLOCK")
    return clock() if callable(clock) else dt.datetime.now(dt.timezone.utc)


@lru_cache(maxsize=1)
def _form() -> SchemaForm:
    return SchemaForm()


def _text(value: Any, lang: str) -> str:
    """A bilingual text of a template ({zh, en} or one string) in ``lang``."""
    if isinstance(value, Mapping):
        return str(value.get("zh" if lang == "zh" else "en") or value.get("en") or "")
    return str(value or "")


# ------------------------------------------------------------------------------------------------
# The gallery
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """A sample template of the gallery (templates/<key>.yaml)."""

    key: str
    name: str
    title: Any
    description: Any
    counts: dict[str, int]
    leads: bool


@lru_cache(maxsize=16)
def _sample(path: str, mtime: float) -> Sample:
    data = parse_document(Path(path).read_text(encoding="utf-8"), path).data
    counts = {
        "fields": len(data.get("fields") or {}),
        "segments": len(data.get("segments") or []),
        "policies": len((data.get("assignment") or {}).get("policies") or []),
        "forms": len(data.get("forms") or {}),
    }
    key = Path(path).stem
    return Sample(key, str(data.get("name") or key), data.get("title"), data.get("description"), counts, (EXAMPLES / str(data.get("name") or key) / "leads.csv").is_file())


def gallery() -> list[Sample]:
    """The sample templates, by file name."""
    out = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        out.append(_sample(str(path), path.stat().st_mtime))
    return out


def _sample_path(key: str) -> Path:
    if key not in {s.key for s in gallery()}:
        abort(404)
    return SAMPLES / f"{key}.yaml"


@bp.get("/")
@_admin
def index() -> ResponseReturnValue:
    return redirect(url_for("admin.templates"))


@bp.get("/templates")
@_admin
def templates() -> ResponseReturnValue:
    with session_scope(workspace_of().sessions) as db:
        names = set(db.scalars(select(TemplateVersion.name).distinct())) | set(db.scalars(select(TemplateDraft.name)))
        rows = []
        for name in sorted(names):
            latest = templates_service.current_version(db, name)
            draft = db.get(TemplateDraft, name)
            teams = list(db.scalars(select(Team.slug).where(Team.template_name == name).order_by(Team.slug)))
            rows.append(
                {
                    "name": name,
                    "version": latest.version if latest else None,
                    "published_at": latest.published_at if latest else None,
                    "draft": draft is not None,
                    "draft_at": draft.updated_at if draft else None,
                    "teams": teams,
                }
            )
    drafts = {row["name"] for row in rows if row["draft"]}
    return render_template("fenpei/admin/templates.html", samples=gallery(), rows=rows, drafts=drafts, text=_text)


@bp.post("/gallery/<key>/import")
@_admin
def import_sample(key: str) -> ResponseReturnValue:
    path = _sample_path(key)
    who = _who()
    with session_scope(workspace_of().sessions, write_lock=True) as db:
        draft, _ = templates_service.import_draft(db, path.read_text(encoding="utf-8"), source_name=path.name, actor=who)
        name = draft.name
    flash(t(f"The sample {key} is now the draft of {name}: adapt it, simulate, then publish.", f"示例 {key} 已成为 {name} 的草稿:可修改、模拟后发布。"))
    return redirect(url_for("admin.edit", name=name))


def _who() -> str | None:
    from configurator.web.pages import current_principal

    who = current_principal()
    return who.actor if who is not None else None


# ------------------------------------------------------------------------------------------------
# The builder
# ------------------------------------------------------------------------------------------------


def _problems(source: str, lang: str) -> tuple[CompiledTemplate | None, list[dict[str, Any]]]:
    """The compiled template, or every problem located (line, column, JSON path)."""
    try:
        return loads_template(source, "<draft>"), []
    except FenpeiError as exc:
        return None, [_problem_json(p, lang) for p in exc.problems]


def _problem_json(p: Problem, lang: str) -> dict[str, Any]:
    return {"path": p.json_path if p.path else None, "line": p.line, "column": p.column, "code": p.code, "message": p.message(lang)}


def _plain(data: Any) -> Any:
    """The loader's data as plain JSON values (dicts and lists)."""
    return json.loads(json.dumps(data, ensure_ascii=False))


@bp.get("/templates/<name>/edit")
@_admin
def edit(name: str) -> ResponseReturnValue:
    with session_scope(workspace_of().sessions) as db:
        draft = db.get(TemplateDraft, name)
        latest = templates_service.current_version(db, name)
        if draft is None and latest is None:
            abort(404)
        source = draft.source if draft is not None else latest.source  # type: ignore[union-attr]
        teams = [{"slug": team.slug, "name": team.name, "template": team.template_name} for team in db.scalars(select(Team).order_by(Team.slug))]
        saved_at = draft.updated_at if draft is not None else None
        version = latest.version if latest else None
    teams.sort(key=lambda team: (team["template"] != name, team["slug"]))
    lang = current_lang()
    try:
        document = _plain(parse_document(source, "<draft>").data)
        form_html = _form().render(document, lang=lang)
    except DocumentError:
        document, form_html = None, ""
    _, problems = _problems(source, lang)
    return render_template(
        "fenpei/admin/edit.html",
        name=name,
        source=source,
        form_html=Markup(form_html),
        problems=problems,
        has_draft=draft is not None,
        saved_at=saved_at,
        version=version,
        teams=teams,
        sample_leads=(EXAMPLES / name / "leads.csv").is_file(),
        sample_now=SAMPLE_NOW,
    )


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return body


@bp.post("/templates/sync")
@_admin
def sync() -> ResponseReturnValue:
    """YAML → document (and form), or document (after an action) → YAML; problems either way."""
    body = _body()
    lang = current_lang()
    out: dict[str, Any] = {}
    render = bool(body.get("render"))
    if "document" in body:
        document = body["document"]
        action = body.get("action")
        if isinstance(action, dict):
            try:
                document = _form().apply(document, action)
            except ActionError as exc:
                return jsonify({"error": {"message": exc.message(lang), "path": exc.path}}), 422
            render = True
        source = document_yaml(document)
    elif isinstance(body.get("source"), str):
        source = body["source"]
        try:
            document = _plain(parse_document(source, "<draft>").data)
        except DocumentError:
            document = None
        render = render and document is not None
    else:
        abort(400)
    template, problems = _problems(source, lang)
    out.update(source=source, document=document, valid=template is not None, name=template.name if template else None, problems=problems)
    if render:
        out["form"] = _form().render(document, lang=lang, open_sections=body.get("open") or ())
    return jsonify(out)


def _draft(body: Mapping[str, Any]) -> CompiledTemplate:
    source = body.get("source")
    if not isinstance(source, str):
        abort(400)
    template, problems = _problems(source, current_lang())
    if template is None:
        refused = jsonify({"error": {"message": t("The draft has problems: fix them first.", "草稿有错误,请先修正。"), "problems": problems}})
        refused.status_code = 422
        abort(refused)
    return template


@bp.post("/templates/<name>/leads")
@_admin
def leads(name: str) -> ResponseReturnValue:
    """Leads for a simulation, typed by the draft's fields: the template's samples or an uploaded CSV."""
    body = _body()
    template = _draft(body)
    lang = current_lang()
    text = body.get("csv")
    now = None
    if isinstance(text, str) and text.strip():
        if len(text.encode("utf-8")) > MAX_CSV_BYTES:
            return jsonify({"error": {"message": t("The file is larger than 4 MB.", "文件超过 4 MB。")}}), 413
    else:
        path = EXAMPLES / name / "leads.csv"
        if not path.is_file():
            return jsonify({"error": {"message": t("This template has no sample leads: upload a CSV.", "该模板没有示例线索:请上传 CSV。")}}), 404
        text, now = path.read_text(encoding="utf-8-sig"), SAMPLE_NOW
    keep = bool(body.get("keep_owners"))
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    out, problems, skipped = [], [], 0
    for line, row in enumerate(reader, start=2):
        if len(out) >= MAX_LEADS:
            problems.append(t(f"Only the first {MAX_LEADS} leads are simulated.", f"只模拟前 {MAX_LEADS} 条线索。"))
            break
        raw = {k: v for k, v in row.items() if isinstance(k, str) and v not in (None, "") and (keep or k not in OWNERSHIP)}
        values, found = template.lead_record(raw, text=True)
        if found:
            skipped += 1
            if len(problems) < 20:
                problems += [f"{t('line', '第')} {line}{'' if lang == 'en' else ' 行'}: {p.json_path.removeprefix('$.')}: {p.message(lang)}" for p in found[:1]]
            continue
        values.setdefault("id", str(row.get("id") or f"row{line - 1}"))
        out.append(to_json(values))
    if not out:
        return jsonify({"error": {"message": t("No lead could be read.", "没有可读取的线索。"), "problems": problems}}), 422
    return jsonify({"leads": out, "skipped": skipped, "problems": problems, "now": now})


def _num(value: Any) -> float | None:
    """A figure sent back by the page, as a number (None when it is not one)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@bp.post("/templates/<name>/simulation")
@_admin
def simulation(name: str) -> ResponseReturnValue:
    """The figures of a simulation answered by POST /api/v1/teams/{team}/simulate, drawn."""
    body = _body()
    summary = body.get("summary")
    results = body.get("leads")
    if not isinstance(summary, dict) or not isinstance(results, list):
        abort(400)
    lang = current_lang()
    grades = []
    for table, counts in (summary.get("grades") or {}).items():
        if isinstance(counts, dict):
            bars = [Bar(str(k), float(v)) for k, v in counts.items() if isinstance(v, (int, float))]
            grades.append((table, bar_chart(f"sim-grade-{table}", t(f"Leads by {table}", f"按 {table} 的线索数"), bars, test=f"sim-grade-{table}")))
    reps = [
        {**r, "load": _num(r.get("load")) or 0.0, "load_before": _num(r.get("load_before")) or 0.0, "cap": _num(r.get("cap")), "assigned": int(_num(r.get("assigned")) or 0)}
        for r in summary.get("reps") or []
        if isinstance(r, dict)
    ]
    load_bars = []
    top = 0.0
    for r in reps:
        load = r["load"]
        cap = r["cap"]
        shown = f"{load:g} / {cap:g}" if isinstance(cap, (int, float)) else f"{load:g}"
        tone = "blue"
        if isinstance(cap, (int, float)) and cap > 0:
            tone = "red" if load >= cap else ("yellow" if load >= 0.7 * cap else "green")  # as the dashboard's lights
            top = max(top, float(cap))
        load_bars.append(Bar(f"{r.get('name') or r.get('id')} (+{r.get('assigned', 0)})", load, shown, tone))
    load_chart = bar_chart("sim-load", t("Load against the cap (new leads in brackets)", "负载与上限(括号内为新分配)"), load_bars, max_value=top or None, test="sim-load-chart") if load_bars else None
    samples, seen = [], set()
    for lead in results:
        if not isinstance(lead, dict):
            continue
        key = (lead.get("outcome"), lead.get("policy"))
        if key in seen:
            continue
        seen.add(key)
        samples.append(lead)
        if len(samples) >= 8:
            break
    html = render_template(
        "fenpei/admin/_simulation.html",
        summary=summary,
        grades=grades,
        load_chart=load_chart,
        reps=reps,
        samples=samples,
        lang=lang,
    )
    return jsonify({"html": html})


@bp.post("/templates/<name>/compare")
@_admin
def compare(name: str) -> ResponseReturnValue:
    """What publishing the draft would change for the stored leads."""
    body = _body()
    draft = _draft(body)
    with session_scope(workspace_of().sessions) as db:
        try:
            impact = impact_service.compare_with_published(db, name, draft, _now())
        except ServiceError as exc:
            return jsonify({"error": {"message": exc.problems[0].message(current_lang())}}), 404
    html = render_template("fenpei/admin/_compare.html", impact=impact.to_json(), draft_name=draft.name, name=name)
    return jsonify({"html": html, "impact": impact.to_json()})


# ------------------------------------------------------------------------------------------------
# Versions
# ------------------------------------------------------------------------------------------------


@bp.get("/templates/<name>/versions")
@_admin
def versions(name: str) -> ResponseReturnValue:
    lang = current_lang()
    a, b = request.args.get("from", type=int), request.args.get("to", type=int)
    changes: list[str] | None = None
    error = None
    with session_scope(workspace_of().sessions) as db:
        rows = list(templates_service.list_versions(db, name))
        draft = db.get(TemplateDraft, name)
        if not rows and draft is None:
            abort(404)
        if a is not None and b is not None:
            try:
                changes = [c.text(lang) for c in templates_service.diff_versions(db, name, a, b)]
            except ServiceError as exc:
                error = exc.problems[0].message(lang)
        draft_changes = None
        if draft is not None and rows:
            try:
                draft_doc = _plain(parse_document(draft.source, "<draft>").data)
            except DocumentError:
                draft_doc = None
            if draft_doc is not None:
                draft_changes = [c.text(lang) for c in templates_service.diff_documents(rows[-1].document, draft_doc)]
        listed = [
            {"version": v.version, "note": v.note, "published_at": v.published_at, "published_by": v.published_by, "rolled_back_from": v.rolled_back_from, "fingerprint": v.fingerprint}
            for v in reversed(rows)
        ]
    return render_template(
        "fenpei/admin/versions.html",
        name=name,
        versions=listed,
        changes=changes,
        diff_from=a,
        diff_to=b,
        error=error,
        has_draft=draft is not None,
        draft_changes=draft_changes,
    )
