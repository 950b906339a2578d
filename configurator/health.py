"""``GET /healthz``: is the product able to work? For load balancers, monitors and people.

The answer is JSON: the database (reachable, its kind, the schema revision), the broker (its kind
only, never its address or credentials), and how many jobs are pending and running. HTTP 200 when
the database answers and its schema is initialised, else 503.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from configurator import jobs
from configurator.app import workspace_of
from configurator.tasks import broker_kind

__all__ = ["bp", "status"]

bp = Blueprint("health", __name__)


def status() -> tuple[dict[str, Any], bool]:
    """The health document of the current app, and whether it is healthy."""
    ws = workspace_of()
    database: dict[str, Any] = {"ok": False, "kind": ws.engine.dialect.name, "schema": None}
    out: dict[str, Any] = {"database": database, "broker": {"kind": broker_kind(ws.settings.broker_url), "embedded": ws.settings.embedded_broker}, "jobs": None}
    try:
        with ws.sessions() as session:
            session.execute(text("SELECT 1"))
            database["ok"] = True
            if "alembic_version" in inspect(session.connection()).get_table_names():
                database["schema"] = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
            if database["schema"] is not None:
                counted = jobs.counts(session)
                out["jobs"] = {"pending": counted["pending"], "running": counted["running"]}
    except SQLAlchemyError as exc:
        database["error"] = type(exc).__name__
    healthy = bool(database["ok"] and database["schema"])
    out["status"] = "ok" if healthy else "unavailable"
    return out, healthy


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The health document; 503 when the database cannot be used."""
    body, healthy = status()
    return jsonify(body), 200 if healthy else 503
