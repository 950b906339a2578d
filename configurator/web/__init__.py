"""The web product: pages for admins (template builder, gallery, simulation, versions), managers
(dashboard) and reps (workspace), in zh-CN and en.

Pages are rendered on the server (Jinja) from the same services the API uses; actions post to
the REST API (``/api/v1``) with the session's CSRF token, or to page routes that check it the
same way. One blueprint per area: ``pages`` (login, language, home), ``admin``, ``manager``,
``rep``, and ``forms`` (form state and validation for the generated forms).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from configurator.web import pages
from configurator.web.i18n import current_lang, t

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    """Register the web UI's blueprints and template helpers on ``app``."""
    app.register_blueprint(pages.bp)
    for name in ("forms", "admin", "manager", "rep"):
        module = _optional(name)
        if module is not None:
            app.register_blueprint(module.bp)

    @app.context_processor
    def _helpers() -> dict[str, Any]:
        return {"t": t, "lang": current_lang(), "who": pages.current_principal(), "csrf_token": pages.csrf_token}


def _optional(name: str) -> Any:
    """The area module ``configurator.web.<name>`` if it exists (areas are added one by one)."""
    import importlib

    try:
        return importlib.import_module(f"configurator.web.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"configurator.web.{name}":
            return None
        raise
