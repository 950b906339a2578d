"""The ``fenpei`` command line.

Every verb reports bad input as located messages and exits 1; usage mistakes exit 2; nothing
ever prints a traceback (an unexpected failure prints one line and exits 70).
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from configurator.context import Workspace
from configurator.db import session_scope
from configurator.inputs import InputProblems, read_leads_csv, read_reps_csv
from configurator.migrate import upgrade
from configurator.services import templates as templates_service
from configurator.settings import Settings
from rule_engine import CompiledTemplate, FenpeiError, compile_document, load_template, simulate
from rule_engine.loader import load_document

__all__ = ["main"]

EXIT_INVALID = 1
EXIT_INTERNAL = 70


def default_lang() -> str:
    """zh when FENPEI_LANG or the locale says Chinese, else en."""
    for var in ("FENPEI_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def _t(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def _fail(lines: str) -> NoReturn:
    click.echo(lines)
    sys.exit(EXIT_INVALID)


def _load(path: str, lang: str) -> CompiledTemplate:
    try:
        return load_template(path)
    except FenpeiError as exc:
        _fail(exc.format(lang))


class _Group(click.Group):
    """Turns any unexpected exception into one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # The reader went away (`fenpei … | head`): stop quietly, as other commands do; point
            # stdout at /dev/null so the interpreter's final flush does not fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(141)
        except Exception as exc:  # the last line of defence: a message, not a traceback
            click.echo(f"fenpei: internal error: {type(exc).__name__}: {exc}", err=True)
            click.echo("fenpei: this is a bug; please report it with the command you ran", err=True)
            sys.exit(EXIT_INTERNAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None, help="Language of messages (default: from FENPEI_LANG or LANG).")
@click.pass_context
def main(ctx: click.Context, lang: str | None) -> None:
    """Fenpei: grade, assign, reclaim and score sales leads from one template."""
    ctx.obj = {"lang": lang or default_lang()}


@main.group()
def template() -> None:
    """Work with template files."""


@template.command("validate")
@click.argument("file", type=click.Path())
@click.pass_context
def template_validate(ctx: click.Context, file: str) -> None:
    """Check FILE; exit 0 when valid, else print FILE:LINE: $.path: message lines and exit 1."""
    lang = ctx.obj["lang"]
    t = _load(file, lang)
    click.echo(
        _t(
            lang,
            f"{file}: valid — template {t.name} ({len(t.fields)} fields, {len(t.segments)} tables, {len(t.assignment.policies)} policies)",
            f"{file}:有效 — 模板 {t.name}({len(t.fields)} 个字段,{len(t.segments)} 个分级表,{len(t.assignment.policies)} 个分配策略)",
        )
    )


def _workspace() -> Workspace:
    return Workspace(Settings.from_env())


@contextmanager
def _unit(write: bool = True) -> Iterator[Session]:
    """A session on the configured database that commits on success; refuses an uninitialised one."""
    ws = _workspace()
    ws.require_schema()
    with session_scope(ws.sessions, write_lock=write) as session:
        yield session


def _fenpei_errors(fn: Callable[..., None]) -> Callable[..., None]:
    """Print the engine's and services' errors as located messages and exit 1; a database that is
    unreachable or stays locked is a message and exit 1 too, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except FenpeiError as exc:
            _fail(exc.format(click.get_current_context().obj["lang"]))
        except DBAPIError as exc:
            lang = click.get_current_context().obj["lang"]
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
            _fail(_t(lang, f"database error: {detail} (nothing was changed; try again)", f"数据库错误:{detail}(未做任何更改,请重试)"))

    return wrapper


def _group(name: str, help_text: str) -> click.Group:
    """The top-level group ``name``, reused if another module registered it first."""
    existing = main.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    group = click.Group(name, help=help_text)
    main.add_command(group)
    return group


def _actor(value: str | None) -> str:
    """Who runs a verb, for the audit trail: ``--actor``, else ``FENPEI_ACTOR``, else the user name."""
    if value:
        return value
    env = os.environ.get("FENPEI_ACTOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


def _pairs(values: Sequence[str], lang: str, option: str | None = None) -> dict[str, str]:
    """``NAME=VALUE`` arguments (an empty VALUE clears a field); exit 1 listing every malformed or repeated one."""
    raw: dict[str, str] = {}
    problems = []
    where = f"{option}: " if option else ""
    for item in values:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(_t(lang, f"{where}{item!r} is not NAME=VALUE", f"{where}{item!r} 不是 NAME=VALUE 的形式"))
        elif name in raw:
            problems.append(_t(lang, f"{name}: given twice", f"{name}:重复给出"))
        else:
            raw[name] = value
    if problems:
        _fail("\n".join(problems))
    return raw


def _mapping(values: Sequence[str]) -> dict[str, str]:
    """``COLUMN=FIELD`` pairs; the last ``=`` separates them, so a column name may contain one."""
    out: dict[str, str] = {}
    for value in values:
        column, sep, target = value.rpartition("=")
        if not sep or not column.strip() or not target.strip():
            raise click.BadParameter(f"{value!r} is not COLUMN=FIELD", param_hint="--map")
        out[column.strip()] = target.strip()
    return out


@main.command("init")
@click.option("--admin", "admin_name", default="admin", show_default=True, help="The first admin's user name (created only when no admin exists).")
@click.pass_context
@_fenpei_errors
def init_cmd(ctx: click.Context, admin_name: str) -> None:
    """Create or upgrade the database (embedded SQLite by default, FENPEI_DATABASE_URL otherwise)
    and create the first admin when there is none: its password is FENPEI_ADMIN_PASSWORD, or a
    random one printed once."""
    from configurator.services import accounts

    lang = ctx.obj["lang"]
    ws = _workspace()
    if ws.settings.embedded:
        ws.settings.instance.mkdir(parents=True, exist_ok=True)
    upgrade(ws.settings.database_url)
    url = ws.engine.url.render_as_string(hide_password=True)
    click.echo(_t(lang, f"database ready: {url}", f"数据库已就绪:{url}"))
    with _unit() as session:
        admin, created, generated = accounts.ensure_admin(session, admin_name)
    if generated is not None:
        click.echo(_t(lang, f"admin user {admin.username} created; password (shown once): {generated}", f"已创建管理员 {admin.username};密码(仅显示这一次):{generated}"))
    elif created:
        click.echo(_t(lang, f"admin user {admin.username} created with the password in FENPEI_ADMIN_PASSWORD", f"已创建管理员 {admin.username},密码为 FENPEI_ADMIN_PASSWORD 中的值"))


@template.command("import")
@click.argument("file", type=click.Path())
@click.option("--publish", "and_publish", is_flag=True, help="Publish it as a new version right away.")
@click.option("--note", default=None, help="Why (kept with the version).")
@click.pass_context
@_fenpei_errors
def template_import(ctx: click.Context, file: str, and_publish: bool, note: str | None) -> None:
    """Store FILE as the draft of its template (validated first); --publish makes it a version."""
    lang = ctx.obj["lang"]
    doc = load_document(file)
    source = Path(file).read_text(encoding="utf-8-sig")
    compile_document(doc)  # located errors before anything is stored
    with _unit() as session:
        _, tmpl = templates_service.import_draft(session, source, source_name=file)
        click.echo(_t(lang, f"draft of {tmpl.name} saved", f"已保存模板 {tmpl.name} 的草稿"))
        if and_publish:
            v = templates_service.publish(session, tmpl.name, note=note)
            click.echo(_t(lang, f"published {tmpl.name} version {v.version}", f"已发布 {tmpl.name} 第 {v.version} 版"))


@template.command("publish")
@click.argument("name")
@click.option("--note", default=None, help="Why (kept with the version).")
@click.pass_context
@_fenpei_errors
def template_publish(ctx: click.Context, name: str, note: str | None) -> None:
    """Publish the draft of template NAME as a new version."""
    with _unit() as session:
        v = templates_service.publish(session, name, note=note)
        click.echo(_t(ctx.obj["lang"], f"published {name} version {v.version}", f"已发布 {name} 第 {v.version} 版"))


@template.command("list")
@click.argument("name")
@click.pass_context
@_fenpei_errors
def template_list(ctx: click.Context, name: str) -> None:
    """List the published versions of template NAME."""
    lang = ctx.obj["lang"]
    with _unit(write=False) as session:
        versions = templates_service.list_versions(session, name)
        if not versions:
            click.echo(_t(lang, f"{name}: no published version", f"{name}:没有已发布的版本"))
        for v in versions:
            extra = _t(lang, f" (rollback to v{v.rolled_back_from})", f"(回滚到第 {v.rolled_back_from} 版)") if v.rolled_back_from else ""
            click.echo(f"v{v.version}  {v.published_at.isoformat(timespec='seconds')}  {v.fingerprint[:12]}{extra}  {v.note or ''}".rstrip())


@template.command("diff")
@click.argument("name")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.pass_context
@_fenpei_errors
def template_diff(ctx: click.Context, name: str, a: int, b: int) -> None:
    """What changed in template NAME from version A to version B, in words."""
    lang = ctx.obj["lang"]
    with _unit(write=False) as session:
        changes = templates_service.diff_versions(session, name, a, b)
    if not changes:
        click.echo(_t(lang, "no changes", "没有变化"))
    for c in changes:
        click.echo(f"- {c.text(lang)}")


@template.command("rollback")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--note", default=None, help="Why (kept with the version).")
@click.pass_context
@_fenpei_errors
def template_rollback(ctx: click.Context, name: str, version: int, note: str | None) -> None:
    """Publish VERSION of template NAME again, as a new version."""
    with _unit() as session:
        v = templates_service.rollback(session, name, version, note=note)
        click.echo(_t(ctx.obj["lang"], f"published {name} version {v.version} (the same as version {version})", f"已发布 {name} 第 {v.version} 版(内容同第 {version} 版)"))


@template.command("export")
@click.argument("name")
@click.option("--version", "version", type=int, default=None, help="A published version (default: the latest).")
@_fenpei_errors
def template_export(name: str, version: int | None) -> None:
    """Print the source of a published version of template NAME."""
    with _unit(write=False) as session:
        click.echo(templates_service.get_version(session, name, version).source, nl=False)


def _parse_now(value: str | None, lang: str) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.timezone.utc)
    try:
        now = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(_t(lang, f"--now: {value!r} is not an ISO 8601 date-time (e.g. 2026-11-23T09:00:00+08:00)", f"--now:{value!r} 不是 ISO 8601 日期时间(如 2026-11-23T09:00:00+08:00)"))
    if now.tzinfo is None:
        _fail(_t(lang, f"--now: {value!r} needs a UTC offset (e.g. +08:00)", f"--now:{value!r} 需要带时区偏移(如 +08:00)"))
    return now


@main.command("simulate")
@click.argument("template_file", metavar="TEMPLATE", type=click.Path())
@click.option("--leads", "leads_file", required=True, type=click.Path(), help="Leads CSV: id plus field columns.")
@click.option("--reps", "reps_file", required=True, type=click.Path(), help="Reps CSV: id, name, rep fields, status, leave.")
@click.option("--now", "now_text", default=None, help="The clock, ISO 8601 with offset (default: the current time).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per lead, then a summary object.")
@click.pass_context
def simulate_cmd(ctx: click.Context, template_file: str, leads_file: str, reps_file: str, now_text: str | None, as_json: bool) -> None:
    """Run TEMPLATE over the leads and reps in memory, writing nothing."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    t = _load(template_file, lang)
    problems: list[str] = []
    leads: list[dict[str, Any]] = []
    reps = []
    try:
        reps = read_reps_csv(reps_file, t)
    except InputProblems as exc:
        problems.append(exc.format(lang))
    try:
        leads = read_leads_csv(leads_file, t, {r.id for r in reps} if not problems else None)
    except InputProblems as exc:
        problems.insert(0, exc.format(lang))
    if problems:
        _fail("\n".join(problems))
    result = simulate(t, leads, reps, now, lang=lang)
    if as_json:
        out = sys.stdout
        for lead in result.leads:
            out.write(json.dumps(lead.to_json(), ensure_ascii=False, sort_keys=False) + "\n")
        out.write(json.dumps({"summary": result.summary}, ensure_ascii=False) + "\n")
        return
    click.echo(render_summary(t, result.summary, now, lang))


def _width(text: str) -> int:
    """Columns a string takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def _bar(load: float, cap: float | None, width: int = 20) -> str:
    if not cap:
        return ""
    filled = min(width, round(width * load / cap))
    return "█" * filled + "░" * (width - filled)


def render_summary(t: CompiledTemplate, s: dict[str, Any], now: dt.datetime, lang: str) -> str:
    """The human-readable simulation summary."""
    lines: list[str] = []
    add = lines.append
    add(_t(lang, f"Template {t.name} — {t.title.en}", f"模板 {t.name} — {t.title.zh}"))
    add(_t(lang, f"{s['leads']} leads, {len(s['reps'])} reps, now {now.isoformat()}", f"{s['leads']} 条线索,{len(s['reps'])} 位销售,时间 {now.isoformat()}"))
    add("")
    add(_t(lang, "Grades", "分级结果"))
    width = max((len(k) for k in s["grades"]), default=0)
    for table, counts in s["grades"].items():
        add(f"  {table:<{width}}  " + " · ".join(f"{k} {v}" for k, v in counts.items()))
    add("")
    names = {"assigned": ("assigned", "已分配"), "pool": ("pool", "进入公海"), "escalated": ("escalated", "上报主管"), "error": ("errors", "错误"), "owned": ("already owned", "已有负责人")}
    add(_t(lang, "Outcomes: ", "结果:") + " · ".join(f"{_t(lang, *names.get(k, (k, k)))} {v}" for k, v in s["outcomes"].items()))
    add("")
    add(_t(lang, "Load after assignment (new leads, load / cap)", "分配后负载(新分配数,负载 / 上限)"))
    status_zh = {"active": "在岗", "paused": "暂停", "inactive": "停用"}
    for r in s["reps"]:
        cap = r["cap"]
        cap_text = f"{r['load']:g} / {cap:g}" if cap is not None else f"{r['load']:g}"
        status = r["status"] if lang == "en" else status_zh.get(r["status"], r["status"])
        add(f"  {_pad(r['id'], 6)} {_pad(r['name'], 10)} {_pad(status, 8)} +{r['assigned']:<3} {cap_text:<12} {_bar(r['load'], cap)}")
    add("")
    add(_t(lang, f"Pool: {s['pool']} leads left in the pool; {s['escalated']} escalated", f"公海:{s['pool']} 条线索留在公海;{s['escalated']} 条上报主管"))
    f = s["fairness"]
    add(
        _t(
            lang,
            f"Fairness among {f['eligible_reps']} eligible reps: spread {f['spread']} (min {f['min']}, max {f['max']}), Gini {f['gini']:.3f}",
            f"公平性({f['eligible_reps']} 位符合条件的销售):极差 {f['spread']}(最少 {f['min']},最多 {f['max']}),基尼系数 {f['gini']:.3f}",
        )
    )
    rc = s["reclaim"]
    add(
        _t(
            lang,
            f"Reclaim: {rc['reclaim']} due for reclaim, {rc['remind']} due for a reminder, {rc['protected']} protected",
            f"回收:{rc['reclaim']} 条到期应回收,{rc['remind']} 条需要提醒,{rc['protected']} 条受保护",
        )
    )
    action_zh = {"reclaim": "回收", "remind": "提醒"}
    for d in s["due"]:
        action = d["action"] if lang == "en" else action_zh[d["action"]]
        add(f"  {d['id']:<8} {d['owner'] or '':<6} {action:<8} {d['rule']:<24} {d['deadline']}")
    if s["errors"]:
        add(_t(lang, f"Errors: {s['errors']} leads could not be evaluated (see --json)", f"错误:{s['errors']} 条线索无法评估(见 --json)"))
    return "\n".join(lines)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code (for tests)."""
    try:
        main.main(args=list(argv) if argv is not None else None, prog_name="fenpei", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
from configurator import cli_assign  # noqa: E402,F401 - registers its verbs
from configurator import cli_leads  # noqa: E402,F401 - registers its verbs
from configurator import cli_handover  # noqa: E402,F401 - registers its verbs
from configurator import cli_jobs  # noqa: E402,F401 - registers its verbs
from configurator import cli_pool  # noqa: E402,F401 - registers its verbs
from configurator import cli_targets  # noqa: E402,F401 - registers its verbs
from configurator import cli_users  # noqa: E402,F401 - registers its verbs
from configurator import cli_demo  # noqa: E402,F401 - registers its verbs
