"""The web application: ``create_app()``, the factory every web entry point starts from.

Nothing is created at import time. The app keeps the :class:`~configurator.context.Workspace`
(database) and the Celery app (to send jobs after a request's commit) in ``app.extensions``;
blueprints are registered here, one per area: ``health`` (``GET /healthz``) and the REST API
under ``/api/v1`` (:mod:`configurator.api`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from configurator.context import Workspace
from configurator.settings import Settings

__all__ = ["celery_of", "create_app", "workspace_of"]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The Flask app for the settings in the environment, or ``test_config``.

    ``test_config`` may hold ``FENPEI_SETTINGS`` (a :class:`Settings`) and any Flask setting.
    """
    from configurator import api, health, tasks, web

    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=16 * 1024 * 1024)
    if test_config is not None:
        app.config.from_mapping(test_config)
    settings = app.config.get("FENPEI_SETTINGS") or Settings.from_env()
    app.config["FENPEI_SETTINGS"] = settings
    app.extensions["fenpei"] = Workspace(settings)
    app.extensions["celery"] = tasks.make_celery(settings)
    app.register_blueprint(health.bp)
    api.init_app(app)
    web.init_app(app)
    app.config["FENPEI_AREAS"] = frozenset(app.view_functions)
    return app


def workspace_of(app: Flask | None = None) -> Workspace:
    """The workspace (database) of ``app`` (default: the current app)."""
    ws = (app or current_app).extensions["fenpei"]
    assert isinstance(ws, Workspace)
    return ws


def celery_of(app: Flask | None = None) -> Any:
    """The Celery app of ``app`` (default: the current app), to send jobs after a commit."""
    return (app or current_app).extensions["celery"]
