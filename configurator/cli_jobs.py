"""The ``fenpei`` verbs for background work: ``worker``, ``serve`` and ``jobs …``.

``fenpei worker [--beat]`` runs a Celery worker for the configured broker; ``fenpei serve`` runs
the web app under waitress and, with the embedded broker, a worker and scheduler as a child
process (started again if it dies). ``fenpei jobs list|show|wait|assign|reclaim|import|recover`` queue jobs and show their
status, progress, result and error. They register on :data:`configurator.cli.main` when
:mod:`configurator.cli` imports this module (its last line). Like every verb, a refusal is a
message and exit 1, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import click

from configurator import jobs as jobs_service
from configurator import runners
from configurator.cli import _actor, _fail, _fenpei_errors, _group, _mapping, _parse_now, _t, _unit, _workspace, main
from configurator.inputs import InputProblems
from configurator.services import imports as imports_service
from configurator.tasks import FenpeiCelery, broker_kind, make_celery, recover

__all__ = ["jobs_group"]

jobs_group = _group("jobs", "Queue background jobs and follow them.")

_STATUS_ZH = {"pending": "排队中", "running": "运行中", "done": "已完成", "failed": "失败"}
_KIND_ZH = {"import": "导入", "assign": "分配", "reclaim": "回收扫描", "points_period": "周期积分", "redistribute": "离岗转移", "webhooks": "Webhook 投递"}

# How long `fenpei serve` waits for its worker to finish the job in hand when stopping.
STOP_GRACE = 30.0


def _broker_problem(app: FenpeiCelery, lang: str) -> str | None:
    """None when the broker answers, else a message saying so."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5, timeout=5)
    except Exception as exc:  # any failure to connect: a message, not a traceback
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = broker_kind(app.settings.broker_url)
        return _t(lang, f"the {kind} broker is not reachable: {detail}", f"无法连接 {kind} 消息代理:{detail}")
    return None


class _Sender:
    """Sends job messages after commit and remembers whether the broker took them."""

    def __init__(self, app: FenpeiCelery) -> None:
        self.app = app
        self.failed: list[tuple[int, str]] = []

    def __call__(self, job_id: int) -> None:
        try:
            self.app.send_job(job_id)
        except Exception as exc:  # the job stays pending; a worker's recovery sends it later
            self.failed.append((job_id, f"{type(exc).__name__}: {exc}".splitlines()[0]))


def _queued(lang: str, sender: _Sender, job_id: int, what_en: str, what_zh: str) -> None:
    click.echo(_t(lang, f"job {job_id} queued: {what_en}", f"任务 {job_id} 已排队:{what_zh}"))
    for failed_id, why in sender.failed:
        click.echo(
            _t(
                lang,
                f"job {failed_id}: the broker did not take its message now ({why}); it stays pending and a worker sends it again when it starts",
                f"任务 {failed_id}:消息代理暂未接收消息({why});任务保持排队,工作进程启动时会重新发送",
            ),
            err=True,
        )


def _progress_text(job: Any) -> str:
    return f"{job.progress}/{job.total}" if job.total is not None else str(job.progress)


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _job_json(job: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "dedup": job.dedup,
        "params": job.params,
        "progress": job.progress,
        "total": job.total,
        "attempts": job.attempts,
        "result": job.result,
        "error": job.error,
        "template_version_id": job.template_version_id,
        "lease_owner": job.lease_owner,
        "lease_until": _when(job.lease_until) if job.lease_until else None,
        "created_at": _when(job.created_at),
        "enqueued_at": _when(job.enqueued_at) if job.enqueued_at else None,
        "started_at": _when(job.started_at) if job.started_at else None,
        "finished_at": _when(job.finished_at) if job.finished_at else None,
    }


def _error_text(job: Any, lang: str) -> str | None:
    problems = (job.result or {}).get("problems") if isinstance(job.result, dict) else None
    if problems:
        return "\n".join(str(p.get(lang) or p.get("en")) for p in problems)
    return str(job.error) if job.error else None


# ------------------------------------------------------------------------------------------------
# Reading jobs
# ------------------------------------------------------------------------------------------------


@jobs_group.command("list")
@click.option("--status", type=click.Choice(jobs_service.STATUSES), default=None, help="Only jobs in this status.")
@click.option("--kind", type=click.Choice(jobs_service.KINDS), default=None, help="Only jobs of this kind.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most N jobs, the most recent first.")
@click.pass_context
@_fenpei_errors
def jobs_list(ctx: click.Context, status: str | None, kind: str | None, limit: int) -> None:
    """List recent jobs: id, kind, status, progress, attempts, team and when."""
    lang = ctx.obj["lang"]
    with _unit(write=False) as session:
        rows = jobs_service.list_jobs(session, status=status, kind=kind, limit=limit)
        if not rows:
            click.echo(_t(lang, "no jobs", "没有任务"))
            return
        for job in rows:
            team = (job.params or {}).get("team", "")
            state = job.status if lang == "en" else _STATUS_ZH.get(job.status, job.status)
            kind_text = job.kind if lang == "en" else _KIND_ZH.get(job.kind, job.kind)
            click.echo(f"{job.id:>6}  {kind_text:<13} {state:<8} {_progress_text(job):>13}  ×{job.attempts}  {team:<16} {_when(job.created_at)}")


@jobs_group.command("show")
@click.argument("job_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="The whole job as one JSON object.")
@click.pass_context
@_fenpei_errors
def jobs_show(ctx: click.Context, job_id: int, as_json: bool) -> None:
    """Show job ID: status, progress, result and error."""
    lang = ctx.obj["lang"]
    with _unit(write=False) as session:
        job = jobs_service.get_job(session, job_id)
        if as_json:
            click.echo(json.dumps(_job_json(job), ensure_ascii=False, indent=2))
            return
        data = _job_json(job)
        label = {"kind": "类型", "status": "状态", "progress": "进度", "attempts": "尝试次数", "created_at": "创建时间", "started_at": "开始时间", "finished_at": "结束时间", "params": "参数", "result": "结果", "error": "错误", "dedup": "去重键", "lease_owner": "租约持有者"}
        click.echo(_t(lang, f"job {job.id}", f"任务 {job.id}"))
        status_text = job.status if lang == "en" else _STATUS_ZH.get(job.status, job.status)
        rows: list[tuple[str, Any]] = [
            ("kind", job.kind if lang == "en" else _KIND_ZH.get(job.kind, job.kind)),
            ("status", status_text),
            ("progress", _progress_text(job)),
            ("attempts", job.attempts),
            ("dedup", job.dedup),
            ("created_at", data["created_at"]),
            ("started_at", data["started_at"]),
            ("finished_at", data["finished_at"]),
            ("lease_owner", job.lease_owner if job.status == "running" else None),
            ("params", json.dumps(job.params, ensure_ascii=False)),
            ("result", json.dumps(job.result, ensure_ascii=False) if job.result is not None else None),
            ("error", _error_text(job, lang)),
        ]
        for key, value in rows:
            if value is not None:
                click.echo(f"  {key if lang == 'en' else label[key]}: {value}")


@jobs_group.command("wait")
@click.argument("job_id", metavar="ID", type=int)
@click.option("--timeout", type=click.FloatRange(min=0), default=None, help="Give up after this many seconds (default: wait as long as it takes).")
@click.pass_context
@_fenpei_errors
def jobs_wait(ctx: click.Context, job_id: int, timeout: float | None) -> None:
    """Wait until job ID is done (exit 0) or failed (exit 1); progress goes to stderr."""
    lang = ctx.obj["lang"]
    if not _wait(job_id, lang, timeout):
        sys.exit(1)


def _wait(job_id: int, lang: str, timeout: float | None) -> bool:
    """Poll job ``job_id`` until it ends; True when done. Exit 1 with a message on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    shown = None
    while True:
        with _unit(write=False) as session:
            job = jobs_service.get_job(session, job_id)
            status, progress, error = job.status, _progress_text(job), _error_text(job, lang)
        if (status, progress) != shown and status in ("pending", "running"):
            click.echo(_t(lang, f"job {job_id}: {status} {progress}", f"任务 {job_id}:{_STATUS_ZH[status]} {progress}"), err=True)
            shown = (status, progress)
        if status == "done":
            click.echo(_t(lang, f"job {job_id}: done ({progress})", f"任务 {job_id}:已完成({progress})"))
            return True
        if status == "failed":
            click.echo(_t(lang, f"job {job_id}: failed: {error}", f"任务 {job_id}:失败:{error}"))
            return False
        if deadline is not None and time.monotonic() >= deadline:
            _fail(_t(lang, f"job {job_id}: still {status} after {timeout:g} s (it goes on; see `fenpei jobs show {job_id}`)", f"任务 {job_id}:{timeout:g} 秒后仍{_STATUS_ZH[status]}(任务会继续;见 `fenpei jobs show {job_id}`)"))
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------------
# Queueing jobs
# ------------------------------------------------------------------------------------------------


def _submit(lang: str, wait: bool, submit: Callable[[Any, _Sender], int], what_en: str, what_zh: str) -> None:
    ws = _workspace()
    app = make_celery(ws.settings)
    sender = _Sender(app)
    with _unit() as session:
        job_id = submit(session, sender)
    _queued(lang, sender, job_id, what_en, what_zh)
    if wait and not _wait(job_id, lang, None):
        sys.exit(1)


_wait_option = click.option("--wait", is_flag=True, help="Wait until the job ends (exit 1 if it fails).")


@jobs_group.command("assign")
@click.argument("team")
@click.option("--now", "now_text", default=None, help="The clock, ISO 8601 with offset (default: the current time).")
@click.option("--batch", type=click.IntRange(min=1), default=runners.ASSIGN_BATCH, show_default=True, help="Leads per transaction.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Assign at most N pending leads (default: all).")
@click.option("--actor", default=None, help="Who asks, for the audit trail (default: FENPEI_ACTOR or the user name).")
@_wait_option
@click.pass_context
@_fenpei_errors
def jobs_assign(ctx: click.Context, team: str, now_text: str | None, batch: int, limit: int | None, actor: str | None, wait: bool) -> None:
    """Queue the assignment of TEAM's pending leads (on the template version published now)."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    who = _actor(actor)
    _submit(lang, wait, lambda s, send: runners.submit_assign(s, team, now, send, actor=who, batch=batch, limit=limit), f"assign {team}'s pending leads", f"分配 {team} 的待分配线索")


@jobs_group.command("reclaim")
@click.argument("team")
@click.option("--now", "now_text", default=None, help="The clock, ISO 8601 with offset (default: the current time).")
@click.option("--actor", default=None, help="Who asks, for the audit trail (default: FENPEI_ACTOR or the user name).")
@_wait_option
@click.pass_context
@_fenpei_errors
def jobs_reclaim(ctx: click.Context, team: str, now_text: str | None, actor: str | None, wait: bool) -> None:
    """Queue a reclaim sweep of TEAM now: reminders, and leads back to the pool (the beat runs one every hour)."""
    lang = ctx.obj["lang"]
    now = _parse_now(now_text, lang)
    who = _actor(actor)
    _submit(lang, wait, lambda s, send: runners.submit_reclaim(s, team, now, send, actor=who)[0], f"reclaim sweep of {team}", f"{team} 的回收扫描")


@jobs_group.command("import")
@click.argument("team")
@click.argument("file", type=click.Path())
@click.option("--map", "maps", multiple=True, metavar="COLUMN=FIELD", help="Map a column to a field (name or title); repeatable.")
@click.option("--ignore", "ignores", multiple=True, metavar="COLUMN", help="Skip a column; repeatable.")
@click.option("--mode", type=click.Choice(imports_service.MODES), default="keep_good", show_default=True, help="all_or_nothing: any bad row stores nothing; keep_good: store the good rows.")
@click.option("--sheet", default=None, help="The worksheet of an XLSX file (default: the first).")
@_wait_option
@click.pass_context
@_fenpei_errors
def jobs_import(ctx: click.Context, team: str, file: str, maps: tuple[str, ...], ignores: tuple[str, ...], mode: str, sheet: str | None, wait: bool) -> None:
    """Queue the import of FILE (CSV or XLSX) into TEAM; the file must stay where every worker can read it.

    The file and its header are checked now; the rows by the worker (the report: `fenpei jobs show ID`).
    """
    lang = ctx.obj["lang"]
    options = imports_service.ImportOptions(mode=mode, mapping=_mapping(maps), ignore=tuple(ignores), sheet=sheet)  # type: ignore[arg-type]
    try:
        _submit(lang, wait, lambda s, send: runners.submit_import(s, team, file, send, options=options), f"import {file} into {team}", f"将 {file} 导入 {team}")
    except InputProblems as exc:
        _fail(exc.format(lang))


@jobs_group.command("recover")
@click.pass_context
@_fenpei_errors
def jobs_recover(ctx: click.Context) -> None:
    """Send again the jobs whose worker died or whose message may be lost (workers and the beat do this too)."""
    lang = ctx.obj["lang"]
    ws = _workspace()
    ws.require_schema()
    app = make_celery(ws.settings)
    problem = _broker_problem(app, lang)
    if problem:
        _fail(problem)
    ids = recover(app)
    if ids:
        click.echo(_t(lang, f"sent again: jobs {', '.join(map(str, ids))}", f"已重新发送:任务 {'、'.join(map(str, ids))}"))
    else:
        click.echo(_t(lang, "no job to send again", "没有需要重新发送的任务"))


# ------------------------------------------------------------------------------------------------
# Worker and server
# ------------------------------------------------------------------------------------------------


@main.command("worker")
@click.option("--beat", is_flag=True, help="Also run the scheduler (periodic sweeps and points, recovery). Several may run: each period's job is made once.")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=None, help="Processes running jobs (default: one per CPU).")
@click.option("--loglevel", "-l", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True)
@click.pass_context
@_fenpei_errors
def worker_cmd(ctx: click.Context, beat: bool, concurrency: int | None, loglevel: str) -> None:
    """Run a worker for the configured broker (FENPEI_BROKER_URL) until stopped (Ctrl-C or SIGTERM: it finishes the job in hand).

    Before taking messages it sends again the jobs whose worker died or whose message may be lost.
    """
    lang = ctx.obj["lang"]
    ws = _workspace()
    ws.require_schema()
    app = make_celery(ws.settings)
    problem = _broker_problem(app, lang)
    if problem:
        _fail(problem)
    recovered = recover(app)
    if recovered:
        click.echo(_t(lang, f"sent again: jobs {', '.join(map(str, recovered))}", f"已重新发送:任务 {'、'.join(map(str, recovered))}"), err=True)
    from configurator.tasks import workspace_for

    workspace_for(ws.settings).engine.dispose()  # the pool processes open their own connections
    ws.engine.dispose()
    argv = ["worker", f"--loglevel={loglevel.upper()}", f"--hostname=fenpei-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    if beat:
        argv.append("--beat")
    app.worker_main(argv)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for every interface).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True, help="Port (0: any free port; the one chosen is printed).")
@click.option("--threads", type=click.IntRange(min=1), default=8, show_default=True, help="Threads serving requests.")
@click.option("--no-worker", is_flag=True, help="Do not start the embedded worker and scheduler.")
@click.option("--worker-log", type=click.Path(dir_okay=False), default=None, help="Where the embedded worker writes its log (default: this terminal).")
@click.pass_context
@_fenpei_errors
def serve_cmd(ctx: click.Context, host: str, port: int, threads: int, no_worker: bool, worker_log: str | None = None) -> None:
    """Start Fenpei: the web app (waitress) and, with the embedded broker, a worker and scheduler; Ctrl-C or SIGTERM stops all."""
    serve(ctx.obj["lang"], host=host, port=port, threads=threads, no_worker=no_worker, worker_log=Path(worker_log) if worker_log else None)


def serve(
    lang: str, *, host: str = "127.0.0.1", port: int = 8000, threads: int = 8, no_worker: bool = False, worker_log: Path | None = None, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve the app until Ctrl-C or SIGTERM; ``on_ready`` gets the URL once the server listens."""
    from waitress.server import create_server

    from configurator.app import create_app

    ws = _workspace()
    ws.require_schema()
    app = create_app({"FENPEI_SETTINGS": ws.settings})
    server = create_server(app, host=host, port=port, threads=threads)
    worker: _EmbeddedWorker | None = None
    if not no_worker and ws.settings.embedded_broker:
        worker = _EmbeddedWorker([sys.executable, "-m", "configurator", "--lang", lang, "worker", "--beat", "--concurrency", "2"], lang, worker_log)
    elif not no_worker:
        click.echo(_t(lang, f"broker {broker_kind(ws.settings.broker_url)}: start workers with `fenpei worker` (none started here)", f"消息代理 {broker_kind(ws.settings.broker_url)}:请用 `fenpei worker` 启动工作进程(此处不启动)"))

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        url = f"http://{server.effective_host}:{server.effective_port}"
        click.echo(_t(lang, f"serving on {url}", f"服务地址 {url}"))
        if on_ready is not None:
            on_ready(url)
        server.run()  # returns on Ctrl-C or SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
        if worker is not None:
            worker.stop()
    click.echo(_t(lang, "stopped", "已停止"))


class _EmbeddedWorker:
    """The worker and scheduler `fenpei serve` runs as a child process, started again if it stops on its own."""

    def __init__(self, argv: list[str], lang: str, log: Path | None = None) -> None:
        self.argv, self.lang, self.log = argv, lang, log
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # a restart and a stop never cross
        self.child = self._start()
        click.echo(_t(lang, f"worker and scheduler started (process {self.child.pid})", f"已启动工作进程和调度器(进程 {self.child.pid})"))
        if log is not None:
            click.echo(_t(lang, f"worker log: {log}", f"工作进程日志:{log}"))
        threading.Thread(target=self._watch, name="fenpei-worker-watch", daemon=True).start()

    def _start(self) -> subprocess.Popen[bytes]:
        if self.log is None:
            return subprocess.Popen(self.argv)
        with open(self.log, "ab") as out:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)

    def _watch(self) -> None:
        delay = 1.0
        while not self.stopping.wait(1.0):
            code = self.child.poll()
            if code is None:
                delay = 1.0
                continue
            if self.stopping.wait(delay):  # exits repeatedly (e.g. the database went away): wait longer each time
                return
            delay = min(delay * 2, 60.0)
            with self.lock:
                if self.stopping.is_set():
                    return
                self.child = self._start()
            click.echo(
                _t(
                    self.lang,
                    f"the worker stopped (exit {code}): started again (process {self.child.pid})",
                    f"工作进程已停止(退出码 {code}):已重新启动(进程 {self.child.pid})",
                ),
                err=True,
            )

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            child = self.child
        _stop_child(child, self.lang)


def _stop_child(child: subprocess.Popen[bytes], lang: str) -> None:
    """Ask the worker to stop after the job in hand (SIGTERM), then insist."""
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            click.echo(_t(lang, "the worker did not stop in time: killed (its job is taken over when a worker starts)", "工作进程未能及时停止,已强制结束(其任务会在工作进程启动时被接管)"), err=True)
            child.kill()
            child.wait()
