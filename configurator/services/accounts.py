"""Users, roles and API tokens: creating them, checking a password or a token, and the first admin.

Passwords are stored as Werkzeug's salted scrypt hashes; API tokens as their SHA-256 (a token is
random and long, so a fast hash is enough and lets a request find it by one indexed lookup). A
plain token or a generated password is returned once, to be shown once, and never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from configurator.clock import stored as _aware
from configurator.models import ROLES, ApiToken, AppSecret, ManagedTeam, Rep, Team, User
from configurator.services.dialect import insert_ignoring
from rule_engine import Problem
from rule_engine.errors import FenpeiError

__all__ = [
    "TOKEN_PREFIX",
    "AccountError",
    "ApiToken",
    "AuthError",
    "Principal",
    "authenticate",
    "create_token",
    "create_user",
    "ensure_admin",
    "list_tokens",
    "principal_of",
    "revoke_token",
    "secret_value",
    "set_password",
    "user_for_token",
]

TOKEN_PREFIX = "fp_"
MIN_PASSWORD = 10
LOGIN_ATTEMPTS = 5  # wrong passwords in a row before the account is locked
LOCK_MINUTES = 15
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class AccountError(FenpeiError):
    """A refused change to users or tokens (unknown user, bad role, weak password…)."""


class AuthError(FenpeiError):
    """Who is asking is not known: wrong password, unknown, revoked or missing credentials."""


def _refuse(code: str, en: str, zh: str, **params: Any) -> AccountError:
    return AccountError(Problem.make(code, en, zh, **params))


@dataclass(frozen=True)
class Principal:
    """Who makes a request, and what they may see: every team (admin), the teams they manage
    (manager), or their own leads and their team's pool (rep)."""

    user_id: int
    username: str
    role: str
    rep_id: str | None
    team_ids: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def sees_team(self, team_id: int | None) -> bool:
        """Whether the principal may see anything of the team (a rep: their own team)."""
        return self.is_admin or (team_id is not None and team_id in self.team_ids)

    def steers_team(self, team_id: int | None) -> bool:
        """Whether the principal manages the team: reassign, run its jobs, see all of its leads."""
        return self.is_admin or (self.role == "manager" and team_id is not None and team_id in self.team_ids)

    @property
    def actor(self) -> str:
        """The name the audit trail records for this principal."""
        return self.rep_id if self.role == "rep" and self.rep_id else self.username


def principal_of(session: Session, user: User) -> Principal:
    """The principal of an active user."""
    if user.role == "rep":
        teams = frozenset(session.scalars(select(Rep.team_id).where(Rep.id == user.rep_id)))
    elif user.role == "manager":
        teams = frozenset(session.scalars(select(ManagedTeam.team_id).where(ManagedTeam.user_id == user.id)))
    else:
        teams = frozenset()
    return Principal(user.id, user.username, user.role, user.rep_id, teams)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise _refuse("user.password", "the password must have at least {n} characters", "密码至少需要 {n} 个字符", n=MIN_PASSWORD)


def new_password() -> str:
    """A random password for a new account (printed once)."""
    return secrets.token_urlsafe(12)


def create_user(
    session: Session,
    username: str,
    role: str,
    *,
    password: str | None = None,
    rep_id: str | None = None,
    teams: Sequence[str] = (),
    name: str = "",
) -> tuple[User, str | None]:
    """A new user; returns it and the generated password when none was given (to show once)."""
    if not _USERNAME.match(username):
        raise _refuse("user.username", "{u!r} is not a valid user name (letters, digits, _ . @ -; at most 64)", "{u!r} 不是有效的用户名(字母、数字、_ . @ -,最多 64 个字符)", u=username)
    if role not in ROLES:
        raise _refuse("user.role", "unknown role {r!r} (admin, manager or rep)", "未知角色 {r!r}(admin、manager 或 rep)", r=role)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise _refuse("user.exists", "a user {u!r} already exists", "用户 {u!r} 已存在", u=username)
    if role == "rep":
        if not rep_id:
            raise _refuse("user.rep", "a rep user needs the rep it is (--rep)", "销售账号需要指定对应的销售(--rep)")
        if session.get(Rep, rep_id) is None:
            raise _refuse("rep.unknown", "no rep {id!r}", "没有销售 {id!r}", id=rep_id)
        if session.scalar(select(User.id).where(User.rep_id == rep_id)) is not None:
            raise _refuse("user.rep_taken", "rep {id!r} already has a user", "销售 {id!r} 已有账号", id=rep_id)
    elif rep_id:
        raise _refuse("user.rep", "only a rep user is linked to a rep", "只有销售账号可以关联销售")
    if teams and role != "manager":
        raise _refuse("user.teams", "only a manager steers teams", "只有经理可以管理团队")
    generated = None
    if password is None:
        password = generated = new_password()
    _check_password(password)
    user = User(
        username=username, role=role, rep_id=rep_id, name=name or username, password_hash=generate_password_hash(password), active=True, session_epoch=0, failed_logins=0
    )
    for slug in teams:
        team_id = session.scalar(select(Team.id).where(Team.slug == slug))
        if team_id is None:
            raise _refuse("team.unknown", "no team {t!r}", "没有团队 {t!r}", t=slug)
        user.teams.append(ManagedTeam(team_id=team_id))
    session.add(user)
    session.flush()
    return user, generated


def set_password(session: Session, user: User, password: str) -> None:
    """A new password; the user's other sessions end."""
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    user.session_epoch += 1
    user.failed_logins = 0
    user.locked_until = None


def authenticate(session: Session, username: str, password: str, now: dt.datetime | None = None) -> User:
    """The active user with this name and password, else :class:`AuthError` (one message for
    both a wrong name and a wrong password, so names cannot be probed).

    After LOGIN_ATTEMPTS wrong passwords in a row the account is locked for LOCK_MINUTES (the
    counter is changed in the caller's session: commit it even when this raises).
    """
    now = now or dt.datetime.now(dt.UTC)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        # Spend the same time as a real check so that timing does not tell names apart.
        check_password_hash(_DUMMY_HASH, password)
        raise AuthError(Problem.make("auth.login", "wrong user name or password", "用户名或密码错误"))
    if user.locked_until is not None and _aware(user.locked_until) > now:
        raise AuthError(
            Problem.make(
                "auth.locked",
                "too many wrong passwords: this account is locked until {t} UTC",
                "密码错误次数过多:该账号已锁定至 {t}(UTC)",
                t=_aware(user.locked_until).strftime("%Y-%m-%d %H:%M"),
            )
        )
    if user.active and check_password_hash(user.password_hash, password):
        user.failed_logins = 0
        user.locked_until = None
        return user
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= LOGIN_ATTEMPTS:
        user.failed_logins = 0
        user.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
    raise AuthError(Problem.make("auth.login", "wrong user name or password", "用户名或密码错误"))


_DUMMY_HASH = generate_password_hash("fenpei-not-a-password")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str, now: dt.datetime) -> tuple[ApiToken, str]:
    """A new API token for ``user``; returns it and the plain token (to show once)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise _refuse("token.name", "a token needs a name of 1 to 100 characters", "令牌需要 1 到 100 个字符的名称")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, digest=_digest(plain), prefix=plain[:10], created_at=now)
    session.add(token)
    session.flush()
    return token, plain


def list_tokens(session: Session, user: User) -> Sequence[ApiToken]:
    return session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)).all()


def revoke_token(session: Session, user: User, token_id: int, now: dt.datetime) -> ApiToken:
    """Revoke one of ``user``'s tokens (an admin may revoke anyone's)."""
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != user.id and user.role != "admin"):
        raise _refuse("token.unknown", "no token {id}", "没有令牌 {id}", id=token_id)
    if token.revoked_at is None:
        token.revoked_at = now
    return token


def user_for_token(session: Session, plain: str, now: dt.datetime) -> User:
    """The active user a bearer token belongs to, else :class:`AuthError`."""
    token = session.scalar(select(ApiToken).where(ApiToken.digest == _digest(plain))) if plain.startswith(TOKEN_PREFIX) else None
    user = session.get(User, token.user_id) if token is not None and token.revoked_at is None else None
    if token is None or user is None or not user.active:
        raise AuthError(Problem.make("auth.token", "the API token is unknown or revoked", "API 令牌无效或已撤销"))
    # Note the use at most once a minute: a busy integration should not write on every call.
    if token.last_used_at is None or now - _aware(token.last_used_at) > dt.timedelta(minutes=1):
        token.last_used_at = now
    return user


def ensure_admin(session: Session, username: str = "admin", password: str | None = None) -> tuple[User, bool, str | None]:
    """The first admin: created if no admin exists yet, with ``password``, else
    ``FENPEI_ADMIN_PASSWORD``, else a random one. Returns the admin, whether it was created now,
    and the generated password (to print once; None when it was given or the admin existed)."""
    existing = session.scalar(select(User).where(User.role == "admin").order_by(User.id).limit(1))
    if existing is not None:
        return existing, False, None
    password = password or os.environ.get("FENPEI_ADMIN_PASSWORD") or None
    user, generated = create_user(session, username, "admin", password=password, name="Administrator")
    return user, True, generated


def secret_value(session: Session, name: str) -> str:
    """A secret shared by every process of the installation, generated once (insert-if-absent,
    so two processes starting together agree on one value)."""
    session.execute(insert_ignoring(session, AppSecret.__table__, ["name"]).values(name=name, value=secrets.token_hex(32)))
    value = session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    assert value is not None
    return value
