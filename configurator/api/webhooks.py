"""Webhooks: an admin registers URLs for events; deliveries are signed, retried and recorded.

The logic is in :mod:`configurator.services.webhooks` (which events come from which records, the
signature, the backoff). Deliveries are made by ``webhooks`` jobs: every minute from the beat when
something waits, after an API change (at most one job per minute, see :func:`_after_change`), and
for a delivery an admin queues again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, Response, current_app, request

from configurator import runners
from configurator.api.errors import ApiError
from configurator.api.spec import ADMIN, Call, component, operation
from configurator.clock import iso as _iso
from configurator.models import Team, Webhook, WebhookDelivery
from configurator.services import webhooks as webhooks_service

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = Blueprint("api_webhooks", __name__)

_ID = {"type": "integer"}
# Refusals that say the delivery or webhook is not in a state to be retried (409, not 422).
_CONFLICTS = ("delivery.state", "webhook.inactive")

WEBHOOK = component(
    "Webhook",
    {
        "type": "object",
        "required": ["id", "url", "events", "team", "active"],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string", "enum": list(webhooks_service.EVENTS)}},
            "team": {"type": ["string", "null"], "description": "The team whose events are sent; null: every team."},
            "active": {"type": "boolean"},
            "created_by": {"type": "string"},
            "created_at": {"type": ["string", "null"]},
            "deliveries": {"type": "object", "additionalProperties": {"type": "integer"}, "description": "Deliveries by status."},
            "secret": {"type": "string", "description": "The HMAC key; only in the answer that creates the webhook."},
        },
    },
)
DELIVERY = component(
    "WebhookDelivery",
    {
        "type": "object",
        "required": ["id", "event", "event_key", "status", "attempts"],
        "properties": {
            "id": {"type": "integer"},
            "event": {"type": "string"},
            "event_key": {"type": "string"},
            "status": {"type": "string", "enum": list(webhooks_service.DELIVERY_STATUSES)},
            "attempts": {"type": "integer"},
            "next_attempt_at": {"type": ["string", "null"]},
            "last_status": {"type": ["integer", "null"], "description": "The receiver's HTTP status at the last attempt (null: no answer)."},
            "last_error": {"type": ["string", "null"]},
            "created_at": {"type": ["string", "null"]},
            "delivered_at": {"type": ["string", "null"]},
            "payload": {"type": "object", "description": "The body sent: id, event, created_at, team, data."},
        },
    },
)


def _webhook_json(hook: Webhook, team: str | None, counts: dict[str, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": hook.id,
        "url": hook.url,
        "events": list(hook.events),
        "team": team,
        "active": hook.active,
        "created_by": hook.created_by,
        "created_at": _iso(hook.created_at),
    }
    if counts is not None:
        out["deliveries"] = counts
    return out


def _delivery_json(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "event": d.event,
        "event_key": d.event_key,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": _iso(d.next_attempt_at),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": _iso(d.created_at),
        "delivered_at": _iso(d.delivered_at),
        "payload": d.payload,
    }


@operation(
    bp, "POST", "/webhooks", summary="Register a URL for events; the signing secret is in this answer only", tag="webhooks", roles=ADMIN, status=201,
    body={
        "type": "object",
        "additionalProperties": False,
        "required": ["url", "events"],
        "properties": {
            "url": {"type": "string", "minLength": 1, "maxLength": webhooks_service.MAX_URL, "description": "An http:// or https:// URL that receives a POST per event."},
            "events": {"type": "array", "minItems": 1, "maxItems": len(webhooks_service.EVENTS), "uniqueItems": True, "items": {"type": "string", "enum": list(webhooks_service.EVENTS)}},
            "team": {"type": "string", "minLength": 1, "maxLength": 64, "description": "Only this team's events (template.published is sent whatever the team); default: every team."},
        },
    },
    response=WEBHOOK,
)
def webhooks_create(call: Call) -> dict[str, Any]:
    body = call.body
    hook = webhooks_service.create_webhook(call.db, body["url"], body["events"], call.principal.actor, call.now, team=body.get("team"))
    return {**_webhook_json(hook, body.get("team"), {s: 0 for s in webhooks_service.DELIVERY_STATUSES}), "secret": hook.secret}


@operation(bp, "GET", "/webhooks", summary="Every webhook, with its deliveries counted by status (never the secret)", tag="webhooks", roles=ADMIN, response={"type": "array", "items": WEBHOOK})
def webhooks_list(call: Call) -> list[dict[str, Any]]:
    return [_webhook_json(hook, team, counts) for hook, team, counts in webhooks_service.list_webhooks(call.db)]


@operation(bp, "DELETE", "/webhooks/{webhook_id}", summary="Deactivate a webhook (nothing more is sent; its deliveries stay recorded)", tag="webhooks", roles=ADMIN, path_params={"webhook_id": _ID}, response=WEBHOOK)
def webhooks_delete(call: Call, webhook_id: int) -> dict[str, Any]:
    hook = webhooks_service.deactivate_webhook(call.db, webhook_id)
    team = call.db.get(Team, hook.team_id) if hook.team_id is not None else None
    return _webhook_json(hook, team.slug if team is not None else None)


@operation(
    bp, "GET", "/webhooks/{webhook_id}/deliveries", summary="A webhook's deliveries, newest first: status, attempts, the receiver's last answer", tag="webhooks", roles=ADMIN,
    path_params={"webhook_id": _ID},
    query={
        "status": {"type": "string", "enum": list(webhooks_service.DELIVERY_STATUSES)},
        "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50, "description": "Deliveries to return (at most 500)."},
    },
    response={"type": "array", "items": DELIVERY},
)
def webhooks_deliveries(call: Call, webhook_id: int) -> list[dict[str, Any]]:
    rows = webhooks_service.list_deliveries(call.db, webhook_id, status=call.query.get("status"), limit=call.query["limit"])
    return [_delivery_json(d) for d in rows]


@operation(
    bp, "POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", summary="Queue a failed delivery again (a fresh count of attempts, sent at once by a job)", tag="webhooks",
    roles=ADMIN, status=202, path_params={"webhook_id": _ID, "delivery_id": _ID}, response=DELIVERY,
)
def webhooks_retry(call: Call, webhook_id: int, delivery_id: int) -> dict[str, Any]:
    try:
        delivery = webhooks_service.requeue(call.db, webhook_id, delivery_id, call.now)
    except webhooks_service.WebhookError as exc:
        if exc.problems[0].code in _CONFLICTS:
            raise ApiError(409, exc.problems) from None
        raise
    runners.submit_webhooks(call.db, call.now, call.jobs.append, webhooks=[webhook_id])
    return _delivery_json(delivery)


# ------------------------------------------------------------------------------------------------
# A pass soon after a change
# ------------------------------------------------------------------------------------------------

_SAFE = ("GET", "HEAD", "OPTIONS")
_CHECKED = "fenpei.webhooks_checked"


@bp.after_app_request
def _after_change(response: Response) -> Response:
    """After an API request that changed something, ask for this minute's webhook pass (when a
    webhook is active), so its events go out within seconds rather than at the next minute.

    At most one look per process and minute (the key the periodic pass uses, so a minute has one
    job whoever asks); never fails the request: the minute's periodic pass is the safety net.
    """
    from configurator.api import PREFIX

    if request.method in _SAFE or not (200 <= response.status_code < 300) or not request.path.startswith(PREFIX):
        return response
    now = dt.datetime.now(dt.UTC)
    key = runners.webhooks_key(now)
    if current_app.extensions.get(_CHECKED) == key:
        return response
    current_app.extensions[_CHECKED] = key
    try:
        from configurator.app import celery_of, workspace_of
        from configurator.db import session_scope

        ws = workspace_of()
        with session_scope(ws.sessions) as session:
            if not webhooks_service.active_ids(session):
                return response
        with session_scope(ws.sessions, write_lock=True) as session:
            runners.submit_webhooks(session, now, celery_of().send_job, dedup=key)
    except Exception:  # the periodic pass delivers the events; a request never fails for this
        log.warning("webhooks: could not ask for a pass after %s %s", request.method, request.path, exc_info=True)
    return response
