"""The REST API under ``/api/v1``: accounts, templates, teams and reps, leads, the pool,
assignment, reclaim, handovers, points, the audit trail, jobs and webhooks; and its OpenAPI
document at ``/api/v1/openapi.json``, built from the same declarations that check each request
(:mod:`configurator.api.spec`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from configurator.api import auth, leads, operations, targets, webhooks
from configurator.api.errors import http_error
from configurator.api.spec import openapi_document

__all__ = ["PREFIX", "init_app"]

PREFIX = "/api/v1"

api = Blueprint("api", __name__, url_prefix=PREFIX)
for child in (auth.bp, leads.bp, operations.bp, targets.bp, webhooks.bp):
    api.register_blueprint(child)


@api.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(openapi_document(PREFIX))


def _secret_key(app: Flask) -> None:
    """Sign sessions with FENPEI_SECRET_KEY, else with the key generated once and kept in the database."""
    if app.secret_key:
        return
    from configurator.app import workspace_of
    from configurator.db import session_scope
    from configurator.services.accounts import secret_value

    ws = workspace_of(app)
    try:
        with session_scope(ws.sessions) as session:
            app.secret_key = secret_value(session, "session_key")
    except Exception:  # not initialised yet: requests that need a session say so themselves
        return


class _SessionInterface(SecureCookieSessionInterface):
    """Signed cookie sessions whose key is read from the database on first use (the app can be
    created before ``fenpei init`` has made the database)."""

    def get_signing_serializer(self, app: Flask) -> Any:
        _secret_key(app)
        return super().get_signing_serializer(app)


def init_app(app: Flask) -> None:
    """Register the API on ``app``: routes, session cookie settings and JSON errors."""
    settings = app.config["FENPEI_SETTINGS"]
    app.config.update(
        SESSION_COOKIE_NAME="fenpei_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        MAX_CONTENT_LENGTH=settings.max_body,
    )
    if settings.secret_key:
        app.secret_key = settings.secret_key
    app.session_interface = _SessionInterface()
    app.register_blueprint(api)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if request.path.startswith(PREFIX):
            return http_error(exc)
        return exc

    @app.after_request
    def _headers(response: Response) -> Response:
        if request.path.startswith(PREFIX):
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
