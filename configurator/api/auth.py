"""Who is calling: an API token (``Authorization: Bearer fp_…``) or the login session cookie.

A session-authenticated change (any method but GET/HEAD/OPTIONS) must carry the session's CSRF
token in ``X-CSRF-Token`` (or a ``csrf_token`` form field): a page on another site can make the
browser send the cookie but cannot read the token. Token-authenticated calls need none (no cookie
is involved). The session cookie is HttpOnly, SameSite=Lax and Secure unless
``FENPEI_COOKIE_SECURE=0`` (plain-HTTP development only).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Any

from flask import Blueprint, session
from flask import request as flask_request
from sqlalchemy.orm import Session

from configurator.api.errors import ApiError
from configurator.api.spec import ADMIN, ANYONE, Call, component, operation
from configurator.clock import iso as _iso
from configurator.models import User
from configurator.services import accounts
from configurator.services.accounts import AuthError, Principal
from rule_engine import Problem

__all__ = ["authenticate", "bp", "user_json"]

bp = Blueprint("api_auth", __name__)

CSRF_HEADER = "X-CSRF-Token"


def authenticate(db: Session, now: dt.datetime, *, unsafe: bool) -> Principal:
    """The caller's principal, else :class:`AuthError` (401); a session change without the CSRF token is 403."""
    header = flask_request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError(Problem.make("auth.scheme", "send the API token as 'Authorization: Bearer <token>'", "请以 'Authorization: Bearer <令牌>' 发送 API 令牌"))
        user = accounts.user_for_token(db, value.strip(), now)
        return accounts.principal_of(db, user)
    from flask import current_app

    uid = session.get("uid") if current_app.secret_key else None
    user = db.get(User, uid) if isinstance(uid, int) else None
    if user is None and not current_app.secret_key:
        raise AuthError(Problem.make("auth.required", "log in or send an API token (Authorization: Bearer …)", "请登录或提供 API 令牌(Authorization: Bearer …)"))
    if user is None or not user.active or session.get("epoch") != user.session_epoch:
        session.clear()
        raise AuthError(Problem.make("auth.required", "log in or send an API token (Authorization: Bearer …)", "请登录或提供 API 令牌(Authorization: Bearer …)"))
    if unsafe:
        sent = flask_request.headers.get(CSRF_HEADER) or (flask_request.form.get("csrf_token") if flask_request.mimetype == "application/x-www-form-urlencoded" else None) or ""
        expected = session.get("csrf") or ""
        if not expected or not hmac.compare_digest(str(sent), str(expected)):
            raise ApiError.make(403, "auth.csrf", "the CSRF token is missing or wrong (send the X-CSRF-Token header)", "CSRF 令牌缺失或错误(请发送 X-CSRF-Token 请求头)")
    return accounts.principal_of(db, user)


def start_session(user: User) -> str:
    """Log ``user`` in on this browser session; returns the session's CSRF token."""
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def user_json(db: Session, user: User) -> dict[str, Any]:
    who = accounts.principal_of(db, user)
    from configurator.models import Team
    from sqlalchemy import select

    slugs = sorted(db.scalars(select(Team.slug).where(Team.id.in_(who.team_ids)))) if who.team_ids else []
    return {"id": user.id, "username": user.username, "name": user.name, "role": user.role, "rep": user.rep_id, "teams": slugs, "active": user.active}


USER = component(
    "User",
    {
        "type": "object",
        "required": ["id", "username", "role"],
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": "string"},
            "name": {"type": "string"},
            "role": {"type": "string", "enum": ["admin", "manager", "rep"]},
            "rep": {"type": ["string", "null"]},
            "teams": {"type": "array", "items": {"type": "string"}},
            "active": {"type": "boolean"},
        },
    },
)
TOKEN = component(
    "Token",
    {
        "type": "object",
        "required": ["id", "name", "prefix"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "prefix": {"type": "string"},
            "created_at": {"type": "string"},
            "last_used_at": {"type": ["string", "null"]},
            "revoked_at": {"type": ["string", "null"]},
            "token": {"type": "string", "description": "The token itself: shown once, when it is created."},
        },
    },
)


def _token_json(token: Any, plain: str | None = None) -> dict[str, Any]:
    out = {"id": token.id, "name": token.name, "prefix": token.prefix, "created_at": _iso(token.created_at), "last_used_at": _iso(token.last_used_at), "revoked_at": _iso(token.revoked_at)}
    if plain is not None:
        out["token"] = plain
    return out


@operation(
    bp, "POST", "/auth/login", summary="Log in: starts a session (cookie) and returns its CSRF token", tag="auth", roles=None,
    body={"type": "object", "additionalProperties": False, "required": ["username", "password"], "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 64}, "password": {"type": "string", "minLength": 1, "maxLength": 200}}},
    response={"type": "object", "required": ["user", "csrf_token"], "properties": {"user": USER, "csrf_token": {"type": "string"}}},
)
def login(call: Call) -> dict[str, Any]:
    try:
        user = accounts.authenticate(call.db, call.body["username"], call.body["password"], call.now)
    except AuthError:
        call.db.commit()  # keep the count of wrong passwords (the lock) though the request fails
        raise
    csrf = start_session(user)
    return {"user": user_json(call.db, user), "csrf_token": csrf}


@operation(bp, "POST", "/auth/logout", summary="Log out: ends the session", tag="auth", response={"type": "object", "properties": {"ok": {"type": "boolean"}}})
def logout(call: Call) -> dict[str, Any]:
    session.clear()
    return {"ok": True}


@operation(bp, "GET", "/me", summary="Who I am: user, role, rep and teams", tag="auth", response=USER)
def me(call: Call) -> dict[str, Any]:
    user = call.db.get(User, call.principal.user_id)
    assert user is not None
    return user_json(call.db, user)


@operation(bp, "GET", "/tokens", summary="My API tokens (never the tokens themselves)", tag="auth", response={"type": "array", "items": TOKEN})
def tokens_list(call: Call) -> list[dict[str, Any]]:
    user = call.db.get(User, call.principal.user_id)
    assert user is not None
    return [_token_json(t) for t in accounts.list_tokens(call.db, user)]


@operation(
    bp, "POST", "/tokens", summary="Create an API token; the token is in this answer only", tag="auth", status=201,
    body={"type": "object", "additionalProperties": False, "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100}}},
    response=TOKEN,
)
def tokens_create(call: Call) -> dict[str, Any]:
    user = call.db.get(User, call.principal.user_id)
    assert user is not None
    token, plain = accounts.create_token(call.db, user, call.body["name"], call.now)
    return _token_json(token, plain)


@operation(bp, "DELETE", "/tokens/{token_id}", summary="Revoke one of my API tokens", tag="auth", path_params={"token_id": {"type": "integer"}}, response=TOKEN)
def tokens_revoke(call: Call, token_id: int) -> dict[str, Any]:
    user = call.db.get(User, call.principal.user_id)
    assert user is not None
    return _token_json(accounts.revoke_token(call.db, user, token_id, call.now))


USER_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["username", "role"],
    "properties": {
        "username": {"type": "string", "minLength": 1, "maxLength": 64},
        "role": {"type": "string", "enum": ["admin", "manager", "rep"]},
        "password": {"type": "string", "minLength": accounts.MIN_PASSWORD, "maxLength": 200},
        "rep": {"type": "string", "minLength": 1, "maxLength": 64},
        "teams": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}, "maxItems": 100},
        "name": {"type": "string", "maxLength": 200},
    },
}


@operation(bp, "GET", "/users", summary="Every user", tag="users", roles=ADMIN, response={"type": "array", "items": USER})
def users_list(call: Call) -> list[dict[str, Any]]:
    from sqlalchemy import select

    return [user_json(call.db, u) for u in call.db.scalars(select(User).order_by(User.id))]


@operation(
    bp, "POST", "/users", summary="Create a user (a generated password is in this answer only)", tag="users", roles=ADMIN, status=201, body=USER_CREATE,
    response={"type": "object", "required": ["user"], "properties": {"user": USER, "password": {"type": ["string", "null"]}}},
)
def users_create(call: Call) -> dict[str, Any]:
    b = call.body
    user, generated = accounts.create_user(call.db, b["username"], b["role"], password=b.get("password"), rep_id=b.get("rep"), teams=b.get("teams") or (), name=b.get("name") or "")
    from configurator.services import audit

    audit.record(
        call.db, at=call.now, team_id=None, actor=call.principal.actor, action="user.create",
        en=f"created user {user.username} ({user.role})", zh=f"创建了用户 {user.username}({user.role})",
    )
    return {"user": user_json(call.db, user), "password": generated}


__all__ += ["ANYONE", "start_session"]
