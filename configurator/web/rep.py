"""The rep's workspace (``/rep``): my leads with what to do next, a lead's page (its fields, its
follow-ups, logging a follow-up and changing the stage in the template's generated forms), a new
lead, the pool with claim buttons, handovers to fill and to acknowledge, my points and a weekly
health report. Built for a phone first: every key action is at most three taps from ``/rep``.

A rep sees their own leads, their team's pool and a lead whose handover checklist they still have
to fill, nothing else (the API's rules, ``configurator/api/access.py``). Forms post to these
routes, which check them with :mod:`form_builder` (the same evaluator the page's script asks,
``/forms/<team>/<form>/state``) and then call the same services as the API; the page's script
claims and acknowledges through the API itself, with these routes as the fallback without script.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from configurator.api.errors import fenpei_status
from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import FollowUp, Handover, Lead, Rep, Team, TemplateVersion
from configurator.services import changes as changes_service
from configurator.services import handovers as handovers_service
from configurator.services import leads as leads_service
from configurator.services import points as points_service
from configurator.services import pool as pool_service
from configurator.services import workspace as workspace_service
from configurator.services.roster import week_bounds
from configurator.services.templates import ServiceError, compiled, get_version
from configurator.web.forms import lead_context, state_url
from configurator.web.i18n import current_lang, t
from configurator.web.pages import csrf_token, current_principal, login_required
from form_builder import Form, FormState, build_form, form_state, read_raw, render_form
from rule_engine import CompiledTemplate, FenpeiError, Problem
from rule_engine.fields import FieldDef

__all__ = ["bp"]

bp = Blueprint("rep", __name__, url_prefix="/rep")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Me:
    """The logged-in rep, their team and its published template."""

    rep_id: str
    actor: str
    team: Team
    version: TemplateVersion
    template: CompiledTemplate


def _me(db: Session) -> Me:
    who = current_principal()
    if who is None or who.role != "rep" or not who.rep_id:
        abort(403)
    rep = db.get(Rep, who.rep_id)
    if rep is None or rep.team_id not in who.team_ids:
        abort(403)
    team = db.get(Team, rep.team_id)
    assert team is not None
    version = get_version(db, team.template_name)
    return Me(who.rep_id, who.actor, team, version, compiled(version))


def _problems(exc: FenpeiError) -> tuple[dict[str, Problem], list[Problem]]:
    """A service's problems: those of one field by name, and the others."""
    by_field: dict[str, Problem] = {}
    other: list[Problem] = []
    for p in exc.problems:
        if p.path and isinstance(p.path[0], str) and p.path[0] not in by_field:
            by_field[p.path[0]] = p
        else:
            other.append(p)
    return by_field, other


def _hidden() -> dict[str, str]:
    return {"csrf_token": csrf_token()}


# ------------------------------------------------------------------------------------------------
# Showing values
# ------------------------------------------------------------------------------------------------


def show_value(fdef: FieldDef | None, value: Any, lang: str) -> str:
    """A stored value as people read it: option titles, yes/no, lists joined."""
    if value is None or value == "" or value == []:
        return "—"
    if fdef is None:
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    titles = {o.value: o.title.get(lang) for o in fdef.options}
    if fdef.type == "boolean":
        return t("Yes", "是") if value is True or value == "true" else t("No", "否")
    if isinstance(value, list):
        return ("、" if lang == "zh" else ", ").join(titles.get(str(v), str(v)) for v in value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and fdef.type == "number":
        return f"{value:,}"
    return titles.get(str(value), str(value))


def _when(moment: dt.datetime | None, template: CompiledTemplate) -> str:
    if moment is None:
        return "—"
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(template.timezone).strftime("%Y-%m-%d %H:%M")


def _groups(template: CompiledTemplate, fields: Mapping[str, Any], hidden: tuple[str, ...], lang: str) -> list[tuple[str, list[tuple[str, str, str, bool]]]]:
    """The lead's fields by group for reading: (group, [(name, label, value, hidden)])."""
    defs = sorted(enumerate(template.fields.values()), key=lambda item: (item[1].order, item[0]))
    out: list[tuple[str, list[tuple[str, str, str, bool]]]] = []
    index: dict[str, int] = {}
    for _, fdef in defs:
        group = fdef.group.get(lang) if fdef.group else ""
        if group not in index:
            index[group] = len(out)
            out.append((group, []))
        locked = fdef.name in hidden
        value = t("hidden until you acknowledge the handover", "确认交接后可见") if locked else show_value(fdef, fields.get(fdef.name), lang)
        if locked or fields.get(fdef.name) not in (None, "", []):
            out[index[group]][1].append((fdef.name, fdef.title.get(lang), value, locked))
    return [(g, rows) for g, rows in out if rows]


# ------------------------------------------------------------------------------------------------
# My leads
# ------------------------------------------------------------------------------------------------


@bp.get("/")
@login_required("rep")
def workspace() -> ResponseReturnValue:
    now = _now()
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        items = workspace_service.agenda(db, me.team, me.rep_id, now)
        health, _ = workspace_service.health_report(db, me.team, me.rep_id, now, items)
        handovers = _my_handovers(db, me)
        pool_count = len(pool_service.pool_leads(db, me.team, limit=500))
        return render_template(
            "fenpei/rep/workspace.html", me=me, items=items, health=health, handovers=handovers, pool_count=pool_count,
            show=lambda name, value: show_value(me.template.fields.get(name), value, current_lang()),
            grade_key=(me.template.output_names[0] or (None,))[-1],
        )


def _my_handovers(db: Session, me: Me) -> dict[str, list[handovers_service.HandoverView]]:
    mine = handovers_service.pending_handovers(db, me.team, me.rep_id)
    return {
        "fill": [h for h in mine if h.status == "to_fill" and h.from_rep == me.rep_id],
        "ack": [h for h in mine if h.status == "to_ack" and h.to_rep == me.rep_id],
        "waiting": [h for h in mine if h.waiting_for != me.rep_id],
    }


def _lead_or_404(db: Session, me: Me, lead_id: str) -> handovers_service.LeadView:
    lead = db.get(Lead, lead_id)
    if lead is None or lead.team_id != me.team.id:
        abort(404)
    try:
        return handovers_service.lead_view(db, lead_id, me.rep_id)
    except ServiceError:
        abort(404)


@dataclass
class Posted:
    """A form sent back to the page with what was wrong."""

    values: Mapping[str, Any]
    state: FormState | None = None
    errors: Mapping[str, Problem] | None = None
    general: tuple[Problem, ...] = ()


def _lead_page(lead_id: str, *, followup: Posted | None = None, stage: Posted | None = None, status: int = 200) -> ResponseReturnValue:
    lang = current_lang()
    now = _now()
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        view = _lead_or_404(db, me, lead_id)
        lead = db.get(Lead, lead_id)
        assert lead is not None
        template = me.template
        owns = view.state == "owned" and view.owner == me.rep_id
        item = next((i for i in workspace_service.agenda(db, me.team, me.rep_id, now) if i.lead_id == lead_id), None) if owns else None
        followups = list(db.scalars(select(FollowUp).where(FollowUp.lead_id == lead_id).order_by(FollowUp.at.desc(), FollowUp.id.desc()).limit(50))) if owns else []
        ffields = template.forms["followup"].fields if "followup" in template.forms else {}
        names = {rep_id: name for rep_id, name in db.execute(select(Rep.id, Rep.name).where(Rep.id.in_({f.rep_id for f in followups})))} if followups else {}
        history = [
            {"at": _when(f.at, template), "rep": names.get(f.rep_id) or f.rep_id, "items": [(ffields[k].title.get(lang) if k in ffields else k, show_value(ffields.get(k), v, lang)) for k, v in (f.data or {}).items()]}
            for f in followups
        ]
        forms: dict[str, Markup] = {}
        if owns and "followup" in template.forms:
            model = build_form(template, "followup")
            context = lead_context(template, "followup", lead, now)
            posted = followup or Posted(values={})
            forms["followup"] = render_form(
                model, posted.values if followup else None, action=url_for("rep.followup", lead_id=lead_id), state_url=state_url(me.team.slug, "followup"),
                hidden=_hidden(), state=posted.state, errors=posted.errors, general=posted.general, context=context,
                submit=t("Log follow-up", "记录跟进"), attrs={"data-lead": lead_id}, lang=lang,
            )
        if owns and "stage_change" in template.forms:
            model = build_form(template, "stage_change")
            context = lead_context(template, "stage_change", lead, now)
            values = stage.values if stage else {f.name: (lead.fields or {}).get(f.name) for f in model.fields if f.lead_field}
            forms["stage"] = render_form(
                model, values, action=url_for("rep.stage", lead_id=lead_id), state_url=state_url(me.team.slug, "stage_change"),
                hidden={**_hidden(), "revision": str(lead.revision)}, state=stage.state if stage else None, errors=stage.errors if stage else None,
                general=stage.general if stage else (), context=context, submit=t("Save stage", "保存阶段"), attrs={"data-lead": lead_id}, lang=lang,
            )
        handover = view.handover
        return render_template(
            "fenpei/rep/lead.html", me=me, view=view, item=item, owns=owns, groups=_groups(template, view.fields, view.hidden, lang),
            grades=view.outputs, history=history, forms=forms, handover=handover, title=workspace_service.lead_title(template, view.fields, lead_id),
        ), status


@bp.get("/leads/<lead_id>")
@login_required("rep")
def lead(lead_id: str) -> ResponseReturnValue:
    return _lead_page(lead_id)


def _owned(db: Session, me: Me, lead_id: str) -> Lead:
    lead = db.get(Lead, lead_id)
    if lead is None or lead.team_id != me.team.id:
        abort(404)
    if not (lead.state == "owned" and lead.owner_id == me.rep_id):
        abort(404 if lead.state != "pool" else 403)
    return lead


def _posted_form(lead_id: str, form: str, now: dt.datetime) -> tuple[Me, Form, dict[str, Any], FormState]:
    """The rep, the form model, the posted values and their check, for ``form`` on one of the rep's own leads (404 otherwise)."""
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        if form not in me.template.forms:
            abort(404)
        lead = _owned(db, me, lead_id)
        model = build_form(me.template, form)
        raw = read_raw(model, request.form)
        checked = form_state(model, raw, lead_context(me.template, form, lead, now), validate=True)
    return me, model, raw, checked


@bp.post("/leads/<lead_id>/followup")
@login_required("rep")
def followup(lead_id: str) -> ResponseReturnValue:
    now = _now()
    me, model, raw, checked = _posted_form(lead_id, "followup", now)
    if not checked.ok:
        return _lead_page(lead_id, followup=Posted(raw, checked), status=422)
    try:
        with session_scope(workspace_of().sessions, write_lock=True) as db:
            pool_service.log_followup(db, lead_id, me.rep_id, checked.raw, now, text=True)
    except FenpeiError as exc:
        by_field, other = _problems(exc)
        return _lead_page(lead_id, followup=Posted(raw, checked, by_field, tuple(other)), status=422 if by_field else fenpei_status(exc))
    flash(t("Follow-up logged.", "已记录跟进。"), "ok")
    return redirect(url_for("rep.lead", lead_id=lead_id))


@bp.post("/leads/<lead_id>/stage")
@login_required("rep")
def stage(lead_id: str) -> ResponseReturnValue:
    now = _now()
    me, model, raw, checked = _posted_form(lead_id, "stage_change", now)
    if not checked.ok:
        return _lead_page(lead_id, stage=Posted(raw, checked), status=422)
    changes = {k: v for k, v in checked.raw.items() if model.by_name[k].lead_field}
    # The form's own fields (a note on the change) are kept with the change in the audit trail.
    note = "; ".join(str(v).strip() for k, v in checked.raw.items() if not model.by_name[k].lead_field and v not in (None, "", [])) or None
    revision = request.form.get("revision", "")
    try:
        with session_scope(workspace_of().sessions, write_lock=True) as db:
            changes_service.update_lead(
                db, lead_id, changes, me.actor, now, expected_revision=int(revision) if revision.isdigit() else None, text=True, reason=note
            )
    except FenpeiError as exc:
        by_field, other = _problems(exc)
        return _lead_page(lead_id, stage=Posted(raw, checked, by_field, tuple(other)), status=422 if by_field else fenpei_status(exc))
    flash(t("Stage saved.", "已保存阶段。"), "ok")
    return redirect(url_for("rep.lead", lead_id=lead_id))


# ------------------------------------------------------------------------------------------------
# A new lead
# ------------------------------------------------------------------------------------------------


def _new_lead_page(posted: Posted | None = None, status: int = 200) -> ResponseReturnValue:
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        model = build_form(me.template)
        html = render_form(
            model, posted.values if posted else None, action=url_for("rep.new_lead"), state_url=state_url(me.team.slug, model.name), hidden=_hidden(),
            state=posted.state if posted else None, errors=posted.errors if posted else None, general=posted.general if posted else (),
            submit=t("Create lead", "创建线索"), lang=current_lang(),
        )
        return render_template("fenpei/rep/new_lead.html", me=me, form=html, model=model), status


@bp.route("/leads/new", methods=["GET", "POST"])
@login_required("rep")
def new_lead() -> ResponseReturnValue:
    if request.method == "GET":
        return _new_lead_page()
    now = _now()
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        model: Form = build_form(me.template)
        raw = read_raw(model, request.form)
        checked = form_state(model, raw, None, validate=True)
    if not checked.ok:
        return _new_lead_page(Posted(raw, checked), 422)
    values = {k: v for k, v in checked.raw.items() if model.by_name[k].lead_field}
    try:
        with session_scope(workspace_of().sessions, write_lock=True) as db:
            team = db.get(Team, me.team.id)
            assert team is not None
            created = leads_service.add_lead(db, team, me.version, values, now, text=True)
            new_id = created.id
    except FenpeiError as exc:
        by_field, other = _problems(exc)
        return _new_lead_page(Posted(raw, checked, by_field, tuple(other)), 422 if by_field else fenpei_status(exc))
    flash(t(f"Lead {new_id} created; the team's rules will assign it.", f"已创建线索 {new_id},将按团队规则分配。"), "ok")
    return redirect(url_for("rep.workspace"))


# ------------------------------------------------------------------------------------------------
# The pool
# ------------------------------------------------------------------------------------------------


def _pool_page(refusals: Mapping[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    lang = current_lang()
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        leads = pool_service.pool_leads(db, me.team, limit=200)
        grade_names = me.template.output_names[0]
        rows = [
            {
                "id": lead.id,
                "title": workspace_service.lead_title(me.template, lead.fields, lead.id),
                "grades": [(n, (lead.outputs or {}).get(n)) for n in grade_names if (lead.outputs or {}).get(n) is not None][-2:],
                "reclaimed_at": _when(lead.reclaimed_at, me.template) if lead.reclaimed_at else None,
                "summary": [(me.template.fields[n].title.get(lang), show_value(me.template.fields[n], (lead.fields or {}).get(n), lang)) for n in ("industry", "region", "deal_size", "stage") if n in me.template.fields and (lead.fields or {}).get(n) not in (None, "")],
            }
            for lead in leads
        ]
        claim = me.template.reclaim.claim if me.template.reclaim else None
        return render_template("fenpei/rep/pool.html", me=me, rows=rows, refusals=refusals or {}, claim=claim), status


@bp.get("/pool")
@login_required("rep")
def pool() -> ResponseReturnValue:
    return _pool_page()


@bp.post("/pool/<lead_id>/claim")
@login_required("rep")
def claim(lead_id: str) -> ResponseReturnValue:
    now = _now()
    try:
        with session_scope(workspace_of().sessions, write_lock=True) as db:
            me = _me(db)
            lead = db.get(Lead, lead_id)
            if lead is None or lead.team_id != me.team.id or lead.state != "pool":
                abort(404)
            pool_service.claim(db, lead_id, me.rep_id, now)
    except FenpeiError as exc:
        return _pool_page({lead_id: exc.problems[0].message(current_lang())}, fenpei_status(exc))
    flash(t(f"Lead {lead_id} is yours now.", f"线索 {lead_id} 已归你跟进。"), "ok")
    return redirect(url_for("rep.lead", lead_id=lead_id))


# ------------------------------------------------------------------------------------------------
# Handovers
# ------------------------------------------------------------------------------------------------


@bp.get("/handovers")
@login_required("rep")
def handovers() -> ResponseReturnValue:
    lang = current_lang()
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        mine = _my_handovers(db, me)
        titles = {h.lead_id: workspace_service.lead_title(me.template, (db.get(Lead, h.lead_id) or Lead(fields={})).fields, h.lead_id) for hs in mine.values() for h in hs}
        return render_template("fenpei/rep/handovers.html", me=me, mine=mine, titles=titles, answers=lambda h: _answers(h, lang))


def _answers(h: handovers_service.HandoverView, lang: str) -> list[tuple[str, str]]:
    """A filled checklist for reading: (item title, answer)."""
    out = []
    for item in h.items:
        name = item.get("name")
        if name in h.answers:
            title = item.get("title") or {}
            value = h.answers[name]
            out.append((str(title.get(lang) or title.get("en") or name), ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return out


def _checklist(db: Session, me: Me, handover_id: int) -> tuple[handovers_service.HandoverView, Form | None, CompiledTemplate, Lead]:
    """The handover if it concerns me, the checklist form of the version that opened it, and its lead."""
    try:
        h = handovers_service.get_handover(db, handover_id)
    except ServiceError:
        abort(404)
    if me.rep_id not in (h.from_rep, h.to_rep):
        abort(404)
    lead = db.get(Lead, h.lead_id)
    if lead is None or lead.team_id != me.team.id:
        abort(404)
    row = db.get(Handover, handover_id)
    version = db.get(TemplateVersion, row.template_version_id) if row is not None and row.template_version_id is not None else None
    template = compiled(version) if version is not None else me.template
    name = str(((row.checklist if row is not None else None) or {}).get("form") or "")
    form_def = template.forms.get(name) or handovers_service.checklist_form(template)
    return h, (build_form(template, form_def.name) if form_def is not None else None), template, lead


def _handover_page(handover_id: int, posted: Posted | None = None, status: int = 200) -> ResponseReturnValue:
    lang = current_lang()
    now = _now()
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        h, model, template, lead = _checklist(db, me, handover_id)
        form_html = None
        if model is not None and h.status == "to_fill" and h.from_rep == me.rep_id:
            form_html = render_form(
                model, posted.values if posted else None, action=url_for("rep.handover", handover_id=handover_id), state_url=state_url(me.team.slug, model.name),
                hidden=_hidden(), state=posted.state if posted else None, errors=posted.errors if posted else None, general=posted.general if posted else (),
                context=lead_context(template, model.name, lead, now), submit=t("Hand over", "提交交接清单"), attrs={"data-lead": lead.id}, lang=lang,
            )
        return render_template(
            "fenpei/rep/handover.html", me=me, h=h, form=form_html, answers=_answers(h, lang), title=workspace_service.lead_title(template, lead.fields, lead.id),
        ), status


@bp.route("/handovers/<int:handover_id>", methods=["GET", "POST"])
@login_required("rep")
def handover(handover_id: int) -> ResponseReturnValue:
    if request.method == "GET":
        return _handover_page(handover_id)
    now = _now()
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        h, model, template, lead = _checklist(db, me, handover_id)
        if model is None or h.from_rep != me.rep_id:
            abort(404)
        raw = read_raw(model, request.form)
        checked = form_state(model, raw, lead_context(template, model.name, lead, now), validate=True)
    if not checked.ok:
        return _handover_page(handover_id, Posted(raw, checked), 422)
    try:
        with session_scope(workspace_of().sessions, write_lock=True) as db:
            handovers_service.fill_handover(db, handover_id, me.rep_id, checked.raw, now, text=True)
    except FenpeiError as exc:
        by_field, other = _problems(exc)
        return _handover_page(handover_id, Posted(raw, checked, by_field, tuple(other)), 422 if by_field else fenpei_status(exc))
    flash(t("Checklist handed over.", "交接清单已提交。"), "ok")
    return redirect(url_for("rep.handovers"))


@bp.post("/handovers/<int:handover_id>/ack")
@login_required("rep")
def handover_ack(handover_id: int) -> ResponseReturnValue:
    now = _now()
    try:
        with session_scope(workspace_of().sessions, write_lock=True) as db:
            me = _me(db)
            h, _, _, _ = _checklist(db, me, handover_id)
            handovers_service.acknowledge_handover(db, handover_id, me.rep_id, now)
    except FenpeiError as exc:
        flash(exc.problems[0].message(current_lang()), "error")
        return redirect(url_for("rep.handover", handover_id=handover_id))
    flash(t("Handover acknowledged: the contact details are yours.", "已确认交接,联系方式已解锁。"), "ok")
    return redirect(url_for("rep.lead", lead_id=h.lead_id))


# ------------------------------------------------------------------------------------------------
# Points and health
# ------------------------------------------------------------------------------------------------


@bp.get("/points")
@login_required("rep")
def points() -> ResponseReturnValue:
    now = _now()
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        rules = {r.name: r.title for r in me.template.points.rules} if me.template.points else {}
        try:
            period, board = points_service.leaderboard(db, me.team, now=now)
        except ServiceError:
            period, board = None, []
        mine = next((s for s in board if s.rep_id == me.rep_id), None)
        ledger = points_service.ledger_rows(db, me.team, rep_id=me.rep_id, limit=100)
        entries = [
            {"at": _when(e.created_at, me.template), "rule": rules[e.rule].get(current_lang()) if e.rule in rules else e.rule, "amount": e.amount, "lead": e.lead_id, "period": e.period, "reason": e.reason}
            for e in ledger
        ]
        total = sum((e.amount for e in ledger if e.period == period), Decimal(0)) if period else Decimal(0)
        return render_template("fenpei/rep/points.html", me=me, period=period, board=board, mine=mine, entries=entries, total=total, has_points=me.template.points is not None)


@bp.get("/health")
@login_required("rep")
def health() -> ResponseReturnValue:
    now = _now()
    with session_scope(workspace_of().sessions) as db:
        me = _me(db)
        items, generated = workspace_service.health_report(db, me.team, me.rep_id, now)
        start, end = week_bounds(me.template, now)
        tz = me.template.timezone
        week = (start.astimezone(tz).date(), (end.astimezone(tz) - dt.timedelta(seconds=1)).date())
        return render_template("fenpei/rep/health.html", me=me, items=items, week=week, generated=_when(generated, me.template) if generated else None)
