"""The ``fenpei leads import`` and ``fenpei leads export`` verbs.

They register on the ``leads`` group of :data:`configurator.cli.main` (the one ``fenpei leads add``
uses) when :mod:`configurator.cli` imports this module (its last line).
Bad input (an unreadable file, an unknown column, an unknown team) is a located message and exit 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from configurator.cli import _fail, _fenpei_errors, _group, _mapping, _t, _unit, _workspace
from configurator.inputs import InputProblems
from configurator.services import exports as exports_service
from configurator.services import imports as imports_service
from configurator.services import teams as teams_service

__all__ = ["leads_group"]

# Row problems printed after an import; the whole list is in the report (--report).
SHOWN_PROBLEMS = 20


leads_group = _group("leads", "Add, import and export leads.")


def _report_format(path: str | None) -> str | None:
    if path is not None and not path.lower().endswith((".csv", ".xlsx")):
        raise click.BadParameter(f"{path!r}: the report file name must end in .csv or .xlsx", param_hint="--report")
    return path


@contextmanager
def _progress(lang: str) -> Iterator[Any]:
    """A callback ``(done, total)`` drawing a progress bar on stderr once the total is known."""
    with ExitStack() as stack:
        state: dict[str, Any] = {"bar": None, "done": 0}

        def update(done: int, total: int) -> None:
            if state["bar"] is None:
                bar = click.progressbar(length=total, label=_t(lang, "importing", "导入中"), file=sys.stderr, show_pos=True)
                state["bar"] = stack.enter_context(bar)
            state["bar"].update(done - state["done"])
            state["done"] = done

        yield update


def _grades(result: imports_service.ImportResult, lang: str) -> list[str]:
    if not any(result.grades.values()):
        return []
    lines = [_t(lang, "Grades (rows that passed)", "分级结果(通过检查的行)")]
    width = max(len(name) for name in result.grades)
    for name, counts in result.grades.items():
        lines.append(f"  {name:<{width}}  " + " · ".join(f"{k} {v}" for k, v in counts.items()))
    return lines


@leads_group.command("import")
@click.argument("team")
@click.argument("file", type=click.Path())
@click.option("--map", "maps", multiple=True, metavar="COLUMN=FIELD", help="Map a column to a field (name or title); repeatable.")
@click.option("--ignore", "ignores", multiple=True, metavar="COLUMN", help="Skip a column; repeatable.")
@click.option(
    "--mode",
    type=click.Choice(imports_service.MODES),
    default="all_or_nothing",
    show_default=True,
    help="all_or_nothing: any bad row stores nothing; keep_good: store the good rows (committed every 1,000 rows).",
)
@click.option("--dry-run", is_flag=True, help="Check, grade and report; store no lead (the job and its report are kept).")
@click.option("--sheet", default=None, help="The worksheet of an XLSX file (default: the first).")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False), callback=lambda _c, _p, v: _report_format(v), help="Write the row report to OUT.csv or OUT.xlsx.")
@click.option("--resume", "job_id", type=int, default=None, metavar="JOB", help="Run import JOB again (same file and options): stores only the rows it has not stored.")
@click.pass_context
@_fenpei_errors
def leads_import(
    ctx: click.Context, team: str, file: str, maps: tuple[str, ...], ignores: tuple[str, ...], mode: str, dry_run: bool, sheet: str | None, report_path: str | None, job_id: int | None
) -> None:
    """Import the leads in FILE (CSV or XLSX) into TEAM.

    Columns named like a field or its title map by themselves; --map maps the others and --ignore
    skips columns. Duplicates (by the template's unique fields, or the same row content) are
    skipped and reported. Exit 1 when the file or its header is unusable, or when a row is bad in
    all_or_nothing mode.
    """
    lang = ctx.obj["lang"]
    options = imports_service.ImportOptions(mode=mode, dry_run=dry_run, mapping=_mapping(maps), ignore=tuple(ignores), sheet=sheet)  # type: ignore[arg-type]
    ws = _workspace()
    ws.require_schema()
    try:
        with _progress(lang) as on_progress:
            result = imports_service.run_import(ws.sessions, team, file, options=options, job_id=job_id, on_progress=on_progress)
    except InputProblems as exc:
        _fail(exc.format(lang))
    with _unit(write=False) as session:
        problems = list(imports_service.report_rows(session, result.job_id))
        report = None
        if report_path is not None:
            report = (imports_service.report_xlsx if report_path.lower().endswith(".xlsx") else imports_service.report_csv)(session, result.job_id)
    if report is not None and report_path is not None:
        Path(report_path).write_bytes(report)
    for row, column, _outcome, _code, en, zh in problems[:SHOWN_PROBLEMS]:
        click.echo(f"{file}:{row}: " + (f"{column}: " if column else "") + (zh if lang == "zh" else en))
    if len(problems) > SHOWN_PROBLEMS:
        more = len(problems) - SHOWN_PROBLEMS
        click.echo(_t(lang, f"… and {more} more (see the report: --report OUT.csv)", f"……另有 {more} 条(见报告:--report OUT.csv)"))
    r = result
    click.echo(_t(lang, f"import job {r.job_id} into {team} ({r.mode}{', dry run' if r.dry_run else ''})", f"导入任务 {r.job_id} → {team}({r.mode}{',试运行' if r.dry_run else ''})"))
    click.echo(
        _t(
            lang,
            f"rows read: {r.rows} · stored: {r.stored} · duplicates: {r.duplicates} · bad rows: {r.bad}",
            f"读取行数:{r.rows} · 已保存:{r.stored} · 重复:{r.duplicates} · 有误的行:{r.bad}",
        )
    )
    if r.resumed:
        click.echo(_t(lang, f"of the stored rows, {r.resumed} had been stored by an earlier run of this job", f"已保存的行中有 {r.resumed} 行是本任务之前的运行保存的"))
    if r.dry_run:
        click.echo(_t(lang, f"dry run: nothing stored; {r.good} rows would be stored", f"试运行:未保存任何线索;将保存 {r.good} 行"))
    elif r.failed:
        click.echo(_t(lang, f"all or nothing: {r.bad} bad rows, nothing stored", f"全部或全不:有 {r.bad} 行有误,未保存任何线索"))
    for line in _grades(r, lang):
        click.echo(line)
    if report_path is not None:
        click.echo(_t(lang, f"report: {report_path} ({len(problems)} rows)", f"报告:{report_path}({len(problems)} 行)"))
    if r.failed:
        sys.exit(1)


@leads_group.command("export")
@click.argument("team")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--state", "states", multiple=True, type=click.Choice(exports_service.LEAD_STATES), help="Only leads in this state; repeatable (default: all).")
@click.pass_context
@_fenpei_errors
def leads_export(ctx: click.Context, team: str, out: str, states: tuple[str, ...]) -> None:
    """Write TEAM's leads to OUT.csv or OUT.xlsx (cells that look like formulas are neutralised)."""
    lang = ctx.obj["lang"]
    fmt = exports_service.format_of(out)
    with _unit(write=False) as session:
        team_row = teams_service.get_team(session, team)
        data, count = exports_service.export_leads(session, team_row, fmt, states=states or None)
    Path(out).write_bytes(data)
    click.echo(_t(lang, f"exported {count} leads of {team} to {out}", f"已将 {team} 的 {count} 条线索导出到 {out}"))
