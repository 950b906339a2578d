"""``fenpei demo``: the whole product on embedded defaults, ready to click through.

The first run sets up a sample installation — the sample template published, its team and reps,
its sample leads imported and assigned, an admin, a manager and a rep login (passwords printed
once) — then starts the web app with its worker and scheduler (``fenpei serve``). Later runs find
the installation and only serve it.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import click
from sqlalchemy import select

from configurator.cli import _fenpei_errors, _t, _workspace, main
from configurator.db import session_scope
from configurator.migrate import upgrade
from configurator.models import Rep, Team, User
from configurator.services import accounts
from configurator.services import assignment as assignment_service
from configurator.services import imports as imports_service
from configurator.services import teams as teams_service
from configurator.services import templates as templates_service
from configurator.inputs import read_reps_csv
from rule_engine.template import LEAD_BUILTIN_FIELDS

__all__: list[str] = []

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = "b2b_software"
TEAM = "east"


def _logins(lang: str, logins: list[tuple[str, str, str]]) -> None:
    click.echo(_t(lang, "Logins (passwords are shown this once; change them with `fenpei users passwd NAME`):", "登录账号(密码仅显示这一次,可用 `fenpei users passwd 用户名` 修改):"))
    for role, name, password in logins:
        click.echo(f"  {role:<8} {name:<10} {password}")


def setup_demo(lang: str, sample: str = SAMPLE) -> list[tuple[str, str, str]] | None:
    """Set up the sample installation unless one exists; returns the logins created (None: it existed)."""
    ws = _workspace()
    if ws.settings.embedded:
        ws.settings.instance.mkdir(parents=True, exist_ok=True)
    upgrade(ws.settings.database_url)
    template_file = ROOT / "templates" / f"{sample}.yaml"
    leads_file = ROOT / "examples" / sample / "leads.csv"
    reps_file = ROOT / "examples" / sample / "reps.csv"
    now = dt.datetime.now(dt.timezone.utc)
    with session_scope(ws.sessions, write_lock=True) as session:
        if session.scalar(select(Team.id).where(Team.slug == TEAM)) is not None:
            return None
        _, compiled = templates_service.import_draft(session, template_file.read_text(encoding="utf-8"), source_name=str(template_file), actor="demo")
        if templates_service.current_version(session, compiled.name) is None:
            templates_service.publish(session, compiled.name, actor="demo", note="sample template", now=now)
        team = teams_service.create_team(session, TEAM, "华东组 East", compiled.name)
        template = templates_service.compiled(templates_service.get_version(session, compiled.name))
        teams_service.upsert_reps(session, team, read_reps_csv(reps_file, template))
        logins: list[tuple[str, str, str]] = []
        admin, created, generated = accounts.ensure_admin(session)
        if created:
            logins.append(("admin", admin.username, generated or _t(lang, "(FENPEI_ADMIN_PASSWORD)", "(FENPEI_ADMIN_PASSWORD)")))
        if session.scalar(select(User.id).where(User.username == "manager")) is None:
            _, password = accounts.create_user(session, "manager", "manager", teams=[TEAM], name="经理 Manager")
            logins.append(("manager", "manager", password or ""))
        first_rep = session.scalar(select(Rep.id).where(Rep.team_id == team.id, Rep.status == "active").order_by(Rep.id).offset(1).limit(1))
        if first_rep is not None and session.scalar(select(User.id).where(User.username == "rep")) is None:
            _, password = accounts.create_user(session, "rep", "rep", rep_id=first_rep, name=f"销售 Rep ({first_rep})")
            logins.append(("rep", "rep", password or ""))
    # The sample leads come with the owners and dates of a worked example: start them afresh.
    with open(leads_file, encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh))
    ignore = tuple(c for c in header if c in LEAD_BUILTIN_FIELDS and c not in ("id", "created_at"))
    imports_service.run_import(ws.sessions, TEAM, leads_file, options=imports_service.ImportOptions(mode="keep_good", ignore=ignore), now=now)
    with session_scope(ws.sessions, write_lock=True) as session:
        team = teams_service.get_team(session, TEAM)
        assignment_service.assign_pending(session, team, now, actor="demo")
    return logins


@main.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True, help="Port (0: any free port).")
@click.option("--setup-only", is_flag=True, help="Set up the sample installation and stop (do not serve).")
@click.pass_context
@_fenpei_errors
def demo_cmd(ctx: click.Context, host: str, port: int, setup_only: bool) -> None:
    """Set up the sample installation (first run only) and start Fenpei: web UI, worker and scheduler."""
    from configurator.cli_jobs import serve

    lang = ctx.obj["lang"]
    logins = setup_demo(lang)
    if logins is None:
        click.echo(_t(lang, "the sample installation is already set up (its logins were printed the first time)", "示例环境已存在(登录账号已在首次运行时显示)"))
    else:
        click.echo(_t(lang, f"sample installation ready: template {SAMPLE}, team {TEAM}, its reps and leads", f"示例环境已就绪:模板 {SAMPLE}、团队 {TEAM} 及其销售和线索"))
    if setup_only:
        if logins:
            _logins(lang, logins)
        return

    def ready(url: str) -> None:
        click.echo("")
        click.echo(_t(lang, f"Fenpei is running: open {url}/login   (Ctrl-C stops it)", f"分配系统已启动:请打开 {url}/login   (Ctrl-C 停止)"))
        if logins:
            _logins(lang, logins)

    log = _workspace().settings.instance / "worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    serve(lang, host=host, port=port, worker_log=log, on_ready=ready)
