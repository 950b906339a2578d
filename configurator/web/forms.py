"""The generated forms' one evaluator, for the pages' script: ``POST /forms/<team>/<form>/state``.

The browser never evaluates a condition. When a field that some condition reads changes, the
page posts the form's current values (JSON ``{"values": {...}, "lead": id?, "submit": bool}``,
with the ``X-CSRF-Token`` header) and gets back which fields show and which are required, and
with ``submit`` the error of each field in the page's language: the answer
:func:`form_builder.form_state` gives the server when the form is submitted, so the two never
disagree. ``<form>`` is a form of the team's published template, ``new_lead`` being the form a
lead is entered in; ``lead`` gives the lead whose fields the conditions also read (a lead the
caller may see, as in the API).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from configurator.api.access import visible_leads
from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import Lead, Team
from configurator.services.handovers import checklist_form
from configurator.services.leads import grade_record, record_of
from configurator.services.templates import ServiceError, compiled, get_version
from configurator.web.i18n import current_lang
from configurator.web.pages import current_principal, login_required
from form_builder import Form, build_form, form_state, read_raw
from rule_engine import CompiledTemplate, EvaluationError

__all__ = ["bp", "lead_context", "state_url", "team_template"]

bp = Blueprint("forms", __name__, url_prefix="/forms")

_MAX_VALUES = 1000


def state_url(team: str, form: str) -> str:
    """Where a page's script asks for a form's state."""
    from flask import url_for

    return url_for("forms.state", team=team, form=form)


def team_template(db: Session, slug: str) -> tuple[Team, CompiledTemplate]:
    """The team ``slug`` the caller works in, and its published template (404 otherwise)."""
    who = current_principal()
    team = db.scalar(select(Team).where(Team.slug == slug))
    if team is None or who is None or not who.sees_team(team.id):
        abort(404)
    try:
        return team, compiled(get_version(db, team.template_name))
    except ServiceError:
        abort(404)


def lead_context(template: CompiledTemplate, form: str, lead: Lead, now: dt.datetime) -> dict[str, Any]:
    """The lead's values a form's conditions read, as the service that takes the form reads them:
    the graded lead for the handover checklist, the lead's fields for any other form."""
    checklist = checklist_form(template)
    if checklist is not None and checklist.name == form:
        record = record_of(template, lead)
        try:
            return grade_record(template, record, now).values
        except EvaluationError:
            return template.values(record, now)
    values, _ = template.lead_record(lead.fields or {})
    return values


@bp.post("/<team>/<form>/state")
@login_required()
def state(team: str, form: str) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, Mapping):
        abort(400)
    values = body.get("values") or {}
    if not isinstance(values, Mapping) or len(values) > _MAX_VALUES:
        abort(400)
    with session_scope(workspace_of().sessions) as db:
        row, template = team_template(db, team)
        try:
            model: Form = build_form(template, form)
        except KeyError:
            abort(404)
        context: dict[str, Any] = {}
        lead_id = body.get("lead")
        if lead_id:
            who = current_principal()
            assert who is not None
            lead = db.scalar(visible_leads(select(Lead).where(Lead.id == str(lead_id), Lead.team_id == row.id), who))
            if lead is None:
                abort(404)
            context = lead_context(template, form, lead, dt.datetime.now(dt.UTC))
    result = form_state(model, read_raw(model, values), context, validate=bool(body.get("submit")))
    return jsonify(result.to_json(model, current_lang()))
