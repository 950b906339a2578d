"""Login, logout, the language switch and the home page (which sends each role to its area).

Every page needs a login (the session of :mod:`configurator.api.auth`); a form post from a page
carries the session's CSRF token (``csrf_token`` field or ``X-CSRF-Token`` header), checked by
:func:`require_csrf`.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from configurator.api.auth import start_session
from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import User
from configurator.services import accounts
from configurator.services.accounts import AuthError, Principal
from configurator.web.i18n import LANG_COOKIE, current_lang, t

__all__ = ["bp", "csrf_token", "current_principal", "login_required", "require_csrf"]

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static", static_url_path="/static/fenpei")


def current_principal() -> Principal | None:
    """The logged-in user of this request, or None."""
    if "fenpei_who" in g:
        return g.fenpei_who  # type: ignore[no-any-return]
    who = None
    uid = session.get("uid")
    if isinstance(uid, int):
        with session_scope(workspace_of().sessions) as db:
            user = db.get(User, uid)
            if user is not None and user.active and session.get("epoch") == user.session_epoch:
                who = accounts.principal_of(db, user)
    g.fenpei_who = who
    return who


def csrf_token() -> str:
    """The session's CSRF token, for forms and the pages' scripts."""
    return str(session.get("csrf") or "")


def require_csrf() -> None:
    """Refuse (403) a post without the session's CSRF token."""
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        abort(403)


def login_required(*roles: str) -> Callable[[Callable[..., ResponseReturnValue]], Callable[..., ResponseReturnValue]]:
    """A page for logged-in users (of ``roles``, when given); others go to the login page."""

    def decorate(fn: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @functools.wraps(fn)
        def page(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            who = current_principal()
            if who is None:
                return redirect(url_for("pages.login", next=request.full_path if request.query_string else request.path))
            if roles and who.role not in roles:
                abort(403)
            if request.method == "POST":
                require_csrf()
            return fn(*args, **kwargs)

        return page

    return decorate


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host): never an open redirect."""
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(who: Principal) -> str:
    """Where each role starts."""
    if who.role == "admin":
        return url_for("admin.templates") if "admin.templates" in _endpoints() else url_for("pages.index")
    if who.role == "manager":
        return url_for("manager.dashboard") if "manager.dashboard" in _endpoints() else url_for("pages.index")
    return url_for("rep.workspace") if "rep.workspace" in _endpoints() else url_for("pages.index")


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@bp.get("/")
def index() -> ResponseReturnValue:
    who = current_principal()
    if who is None:
        return redirect(url_for("pages.login"))
    target = home_for(who)
    if target != url_for("pages.index"):
        return redirect(target)
    return render_template("fenpei/home.html")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        with session_scope(workspace_of().sessions) as db:
            try:
                user = accounts.authenticate(db, username, password)
            except AuthError as exc:
                error = exc.problems[0].message(current_lang())
            else:
                start_session(user)
                who = accounts.principal_of(db, user)
        if error is None:
            g.pop("fenpei_who", None)
            return redirect(_safe_next(request.args.get("next")) or home_for(who))
    return render_template("fenpei/login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    require_csrf()
    session.clear()
    return redirect(url_for("pages.login"))


@bp.get("/lang/<code>")
def switch_language(code: str) -> ResponseReturnValue:
    if code not in ("zh", "en"):
        abort(404)
    response = redirect(_safe_next(request.args.get("next")) or url_for("pages.index"))
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


@bp.app_errorhandler(403)
def forbidden(_exc: Exception) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        from configurator.api.errors import http_error
        from werkzeug.exceptions import Forbidden

        return http_error(Forbidden())
    return render_template("fenpei/error.html", code=403, message=t("You may not open this page.", "你无权打开此页面。")), 403
