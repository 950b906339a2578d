"""The ``fenpei users`` verbs: accounts, roles and API tokens.

``fenpei users add NAME --role admin|manager|rep [--rep ID] [--team SLUG…] [--password-stdin]``,
``fenpei users list``, ``fenpei users token NAME [--name LABEL]``, ``fenpei users tokens NAME``,
``fenpei users revoke NAME TOKEN_ID`` and ``fenpei users passwd NAME [--password-stdin]``. A
password is never taken from the command line (other users of the machine can read it there):
it is generated and printed once, or read from standard input.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import click
from sqlalchemy import select

from configurator.cli import _fail, _fenpei_errors, _group, _t, _unit
from configurator.models import Team, User
from configurator.services import accounts

__all__: list[str] = []

users_group = _group("users", "Manage users, roles and API tokens.")


def _read_password(lang: str) -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        _fail(_t(lang, "no password on standard input", "标准输入中没有密码"))
    return line


def _user(session: object, name: str, lang: str) -> User:
    user = session.scalar(select(User).where(User.username == name))  # type: ignore[attr-defined]
    if user is None:
        _fail(_t(lang, f"no user {name!r}", f"没有用户 {name!r}"))
    assert isinstance(user, User)
    return user


@users_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "manager", "rep"]), required=True, help="admin: everything; manager: the teams given with --team; rep: own leads and the pool.")
@click.option("--rep", "rep_id", default=None, help="For a rep user: the rep (roster id) it is.")
@click.option("--team", "teams", multiple=True, metavar="SLUG", help="For a manager: a team they steer; repeat for each.")
@click.option("--name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else a random one is printed once).")
@click.pass_context
@_fenpei_errors
def users_add(ctx: click.Context, username: str, role: str, rep_id: str | None, teams: tuple[str, ...], name: str, password_stdin: bool) -> None:
    """Create user USERNAME with a role."""
    lang = ctx.obj["lang"]
    password = _read_password(lang) if password_stdin else None
    with _unit() as session:
        user, generated = accounts.create_user(session, username, role, password=password, rep_id=rep_id, teams=teams, name=name)
    click.echo(_t(lang, f"user {user.username} created ({role})", f"已创建用户 {user.username}({role})"))
    if generated is not None:
        click.echo(_t(lang, f"password (shown once): {generated}", f"密码(仅显示这一次):{generated}"))


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per user.")
@click.pass_context
@_fenpei_errors
def users_list(ctx: click.Context, as_json: bool) -> None:
    """Every user with role, rep and teams."""
    lang = ctx.obj["lang"]
    with _unit(write=False) as session:
        slugs = {team_id: slug for team_id, slug in session.execute(select(Team.id, Team.slug))}
        users = list(session.scalars(select(User).order_by(User.id)))
        rows = [(u, [slugs[m.team_id] for m in u.teams]) for u in users]
    for user, teams in rows:
        if as_json:
            click.echo(json.dumps({"username": user.username, "role": user.role, "rep": user.rep_id, "teams": teams, "active": user.active}, ensure_ascii=False))
            continue
        extra = user.rep_id or ",".join(teams)
        state = "" if user.active else _t(lang, " (inactive)", "(已停用)")
        click.echo(f"{user.username:<20} {user.role:<8} {extra}{state}")
    if not rows and not as_json:
        click.echo(_t(lang, "no users yet: `fenpei init` creates the first admin", "还没有用户:`fenpei init` 会创建第一个管理员"))


@users_group.command("token")
@click.argument("username")
@click.option("--name", "label", default="cli", show_default=True, help="What the token is for (shown in lists).")
@click.pass_context
@_fenpei_errors
def users_token(ctx: click.Context, username: str, label: str) -> None:
    """Create an API token for USERNAME and print it once (send it as 'Authorization: Bearer …')."""
    lang = ctx.obj["lang"]
    with _unit() as session:
        user = _user(session, username, lang)
        token, plain = accounts.create_token(session, user, label, dt.datetime.now(dt.timezone.utc))
    click.echo(plain)
    click.echo(_t(lang, f"token {token.id} ({label}) for {username}: shown once, keep it safe", f"已为 {username} 创建令牌 {token.id}({label}):仅显示这一次,请妥善保存"), err=True)


@users_group.command("tokens")
@click.argument("username")
@click.pass_context
@_fenpei_errors
def users_tokens(ctx: click.Context, username: str) -> None:
    """USERNAME's API tokens (their first characters, never the tokens)."""
    lang = ctx.obj["lang"]
    with _unit(write=False) as session:
        tokens = list(accounts.list_tokens(session, _user(session, username, lang)))
    for t in tokens:
        state = _t(lang, "revoked", "已撤销") if t.revoked_at else _t(lang, "active", "有效")
        click.echo(f"{t.id:<6} {t.prefix}…  {t.name:<20} {state}")


@users_group.command("revoke")
@click.argument("username")
@click.argument("token_id", type=int)
@click.pass_context
@_fenpei_errors
def users_revoke(ctx: click.Context, username: str, token_id: int) -> None:
    """Revoke API token TOKEN_ID of USERNAME."""
    lang = ctx.obj["lang"]
    with _unit() as session:
        user = _user(session, username, lang)
        token = session.get(accounts.ApiToken, token_id)
        if token is None or token.user_id != user.id:
            _fail(_t(lang, f"{username} has no token {token_id}", f"{username} 没有令牌 {token_id}"))
        accounts.revoke_token(session, user, token_id, dt.datetime.now(dt.timezone.utc))
    click.echo(_t(lang, f"token {token_id} revoked", f"令牌 {token_id} 已撤销"))


@users_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input (else a random one is printed once).")
@click.pass_context
@_fenpei_errors
def users_passwd(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME; their open sessions end."""
    lang = ctx.obj["lang"]
    password = _read_password(lang) if password_stdin else accounts.new_password()
    with _unit() as session:
        accounts.set_password(session, _user(session, username, lang), password)
    click.echo(_t(lang, f"password of {username} changed", f"已修改 {username} 的密码"))
    if not password_stdin:
        click.echo(_t(lang, f"new password (shown once): {password}", f"新密码(仅显示这一次):{password}"))
