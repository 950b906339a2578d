"""Bulk import against a bare INSERT of the same rows, on SQLite and on PostgreSQL, in the same run.

N synthetic leads for ``templates/b2b_software.yaml`` (70 % with a unique credit code) are written
to a CSV file once. For each database, every measurement starts from a fresh, migrated database
with the template published and one team:

- ``import``: ``run_import`` in ``all_or_nothing`` mode (one transaction), from the CSV file:
  read, map the columns, validate every row, grade, dedup against the file and the database,
  bulk insert, write the Job;
- ``import_keep_good``: the same in ``keep_good`` mode, committing every 1,000 rows;
- ``assign``: when ``configurator.services.assignment.assign_pending`` exists, the imported leads
  assigned to 20 reps in one transaction, timed separately (and in ``import_and_assign``);
- ``bare``: the leads rows the import stored, read back (untimed) and inserted again with one
  DB-API ``executemany`` into the ``leads`` table of another fresh database, in one transaction.

``x_bare`` = import time / bare time; ``x_bare_import_and_assign`` = (import + assign) / bare: the
issue's target is at most 8. After the assignment the stored result is checked, not trusted: no lead
is left ``new``, every lead is owned, in the pool or escalated in the same numbers the service
reported, there is one audit row per lead, and a sample of leads is explained (in both languages)
from their audit rows alone.

The import and the assignment give SQLite a larger page cache while they write
(:data:`configurator.services.bulk.BULK_CACHE_KIB`); the floor runs with the connection's default,
as any other statement would. So that the ratio shows what it owes to that cache, SQLite's floor is
also measured with the same cache (``bare_cache``) and the ratio to it printed beside the target's.

Each figure is wall time, with the process's CPU time beside it: SQLite runs inside this process,
so on a shared machine its CPU ratio is the steadier one (PostgreSQL's work is in the server).
``--repeat`` runs everything again and keeps each figure's best round (ratios of the best rounds);
``--assign-batch`` assigns in transactions of that many leads, as ``fenpei assign`` does
(``--assign-batch cli``: the CLI's own ``ASSIGN_BATCH``), instead of one call for all of them.
PostgreSQL is ``postgresql+psycopg://postgres@127.0.0.1/<fresh database>`` (``--pg`` to change the
server); when it is unreachable its figures are skipped with a note. Last line: JSON with every figure.

    python benchmarks/import.py --n 100000
    python benchmarks/import.py --n 20000 --db sqlite --repeat 3 --assign-batch cli
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from configurator.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from configurator.migrate import upgrade  # noqa: E402
from configurator.models import Job, Lead  # noqa: E402
from configurator.services import imports  # noqa: E402
from configurator.services.assignment import explain_lead  # noqa: E402
from configurator.services.bulk import BULK_CACHE_KIB  # noqa: E402
from configurator.services import teams as teams_svc  # noqa: E402
from configurator.services import templates as tmpl_svc  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import NOW, make_leads, make_reps  # noqa: E402  (the engine benchmark's leads and reps)

CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
HEADER = [
    "公司名称", "credit_code", "industry", "employees", "region", "city", "contact", "contact_role", "phone", "email",
    "source", "deal_size", "budget_confirmed", "decision_makers", "competitor", "customization", "stage", "expected_close_date", "notes",
]


def credit_code(i: int) -> str:
    tail = []
    for _ in range(10):
        i, r = divmod(i, len(CODE_CHARS))
        tail.append(CODE_CHARS[r])
    return "91" + "310000" + "".join(tail)


def write_csv(path: Path, n: int, seed: int = 13) -> None:
    """The engine benchmark's N leads as a user's CSV file: with company, contact and credit code
    columns, UTF-8 with BOM, the company column titled in Chinese."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i, lead in enumerate(make_leads(n)):
            close = lead.get("expected_close_date")
            w.writerow([
                f"{lead['region']}精密制造{i}有限公司",
                credit_code(i) if rng.random() < 0.7 else "",
                lead["industry"],
                lead["employees"],
                lead["region"],
                rng.choice(("上海", "北京", "广州", "武汉", "成都")),
                rng.choice(SURNAMES) + rng.choice(("敏", "伟", "芳", "强")),
                lead["contact_role"],
                f"1{rng.randint(3, 9)}{i:09d}",
                f"contact{i}@example.com" if rng.random() < 0.5 else "",
                lead["source"],
                lead["deal_size"],
                "true" if lead["budget_confirmed"] else "false",
                lead["decision_makers"],
                lead["competitor"],
                lead["customization"],
                lead["stage"],
                close.isoformat() if close else "",
                "",
            ])


@contextmanager
def fresh(kind: str, workdir: Path, pg_admin: str) -> Iterator[str]:
    """A new empty database URL, dropped afterwards."""
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
        yield f"sqlite:///{path}"
        for p in workdir.glob(path.name + "*"):
            p.unlink()
        return
    name = f"fenpei_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def setup(url: str, with_reps: bool = False) -> tuple[Any, sessionmaker[Session]]:
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, (ROOT / "templates" / "b2b_software.yaml").read_text(encoding="utf-8"))
        tmpl_svc.publish(s, "b2b_software")
        team = teams_svc.create_team(s, "bench", "Bench", "b2b_software")
        if with_reps:
            teams_svc.upsert_reps(s, team, make_reps())
    return engine, sessions


def assign_function() -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("configurator.services.assignment")
    except ImportError:
        return None
    return getattr(module, "assign_pending", None)


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, this process's CPU seconds, and the result of ``fn()``."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def assign_all(sessions: sessionmaker[Session], assign_pending: Callable[..., Any], batch: int | None) -> dict[str, int]:
    """Assign every pending lead: in one call, or in transactions of ``batch`` leads as the CLI does."""
    totals: dict[str, int] = {}
    while True:
        with session_scope(sessions, write_lock=True) as s:
            outcome = assign_pending(s, teams_svc.get_team(s, "bench"), NOW, limit=batch)
        for key, count in outcome.counts.items():
            totals[key] = totals.get(key, 0) + count
        if batch is None or outcome.total < batch:
            return totals


def check_stored(engine: Any, sessions: sessionmaker[Session], n: int, outcomes: dict[str, int]) -> dict[str, Any]:
    """The assignment as stored, checked against what the service reported; raises if the work was not all done."""
    with engine.connect() as conn:
        states = dict(conn.exec_driver_sql("SELECT state, count(*) FROM leads GROUP BY state").all())
        actions = dict(conn.exec_driver_sql("SELECT action, count(*) FROM audit_events WHERE lead_id IS NOT NULL GROUP BY action").all())
        audited = conn.exec_driver_sql("SELECT count(DISTINCT lead_id) FROM audit_events WHERE lead_id IS NOT NULL").scalar()
        sample = [r[0] for r in conn.exec_driver_sql("SELECT id FROM leads ORDER BY id LIMIT 5").all()]
    expected_states = {"owned": outcomes.get("assigned", 0), "pool": outcomes.get("pool", 0), "escalated": outcomes.get("escalated", 0) + outcomes.get("error", 0)}
    assert states == {k: v for k, v in expected_states.items() if v}, (states, outcomes)
    assert sum(states.values()) == n and sum(actions.values()) == n and audited == n, (states, actions, audited)
    assert actions.get("assign", 0) == states.get("owned", 0), (actions, states)
    explained = 0
    with session_scope(sessions) as s:
        for lead_id in sample:
            for lang, arrow in (("en", "→ "), ("zh", "→ ")):
                (entry,) = explain_lead(s, lead_id, lang)
                assert entry.sentence and arrow in entry.sentence and entry.trace is not None, (lead_id, entry)
                explained += 1
    return {"states": states, "audit_rows": sum(actions.values()), "explained": explained}


def measure(kind: str, csv_path: Path, n: int, workdir: Path, pg_admin: str, *, with_assign: bool = True, assign_batch: int | None = None) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    assign_pending = assign_function() if with_assign else None

    # The import in each mode, each on a fresh database; the rows the first one stored are kept
    # (read before assignment changes them) for the floor.
    stored_rows: list[tuple[Any, ...]] = []
    columns: list[str] = []
    job_id = 0
    for mode in ("all_or_nothing", "keep_good"):
        with fresh(kind, workdir, pg_admin) as url:
            engine, sessions = setup(url, with_reps=assign_pending is not None)
            try:
                seconds, cpu, result = timed(lambda: imports.run_import(sessions, "bench", csv_path, options=imports.ImportOptions(mode=mode), now=NOW))  # noqa: B023
                assert result.stored == n and result.bad == 0 and result.duplicates == 0, result
                name = "import" if mode == "all_or_nothing" else "import_keep_good"
                figures[name], figures[f"{name}_cpu"] = seconds, cpu
                if mode == "all_or_nothing":
                    job_id = result.job_id
                    with engine.connect() as conn:
                        cur = conn.exec_driver_sql("SELECT * FROM leads")
                        columns = [d[0] for d in cur.cursor.description]
                        stored_rows = [tuple(r) for r in cur]
                    if assign_pending is not None:
                        seconds, cpu, outcomes = timed(lambda: assign_all(sessions, assign_pending, assign_batch))  # noqa: B023
                        figures["assign"], figures["assign_cpu"] = seconds, cpu
                        figures["import_and_assign"] = figures["import"] + seconds
                        figures["import_and_assign_cpu"] = figures["import_cpu"] + cpu
                        figures["assign_outcomes"] = outcomes
                        figures["check"] = check_stored(engine, sessions, n, outcomes)
            finally:
                engine.dispose()

    # The floor: the same rows, one executemany, one transaction. On SQLite also with the page
    # cache the services give their bulk writes, to show how much of the ratio that is.
    json_cols = {i for i, c in enumerate(columns) if c in ("fields", "outputs")}
    rows = [tuple(json.dumps(v, ensure_ascii=False) if i in json_cols and not isinstance(v, str) else v for i, v in enumerate(r)) for r in stored_rows]
    for name, cache in (("bare", None), *((("bare_cache", BULK_CACHE_KIB),) if kind == "sqlite" else ())):
        with fresh(kind, workdir, pg_admin) as url:
            engine, sessions = setup(url)
            try:
                with session_scope(sessions) as s:
                    s.add(Job(id=job_id, kind="import", params={}))
                mark = "?" if kind == "sqlite" else "%s"
                sql = f"INSERT INTO leads ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
                raw = engine.raw_connection()
                try:
                    cur = raw.cursor()
                    if cache is not None:
                        cur.execute(f"PRAGMA cache_size = -{cache}")
                    if kind == "sqlite":
                        cur.execute("BEGIN")
                    t0, c0 = time.perf_counter(), time.process_time()
                    cur.executemany(sql, rows)
                    raw.commit()
                    figures[name], figures[f"{name}_cpu"] = time.perf_counter() - t0, time.process_time() - c0
                finally:
                    raw.close()
                with session_scope(sessions) as s:
                    assert s.query(Lead).count() == n
            finally:
                engine.dispose()
    return ratios(figures)


def ratios(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures with their ratios to the bare insert (wall to wall, CPU to CPU)."""
    for suffix in ("", "_cpu"):
        bare = figures["bare" + suffix]
        figures["x_bare" + suffix] = figures["import" + suffix] / bare
        figures["x_bare_keep_good" + suffix] = figures["import_keep_good" + suffix] / bare
        if "assign" in figures:
            figures["x_bare_import_and_assign" + suffix] = figures["import_and_assign" + suffix] / bare
            if "bare_cache" in figures:
                figures["x_bare_cache_import_and_assign" + suffix] = figures["import_and_assign" + suffix] / figures["bare_cache" + suffix]
    return figures


def best(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each timed figure's best round (the others as they were in the first), and the ratios of those."""
    out = dict(rounds[0])
    for key, value in out.items():
        if isinstance(value, float) and not key.startswith("x_bare"):
            out[key] = min(r[key] for r in rounds)
    if len(rounds) > 1:
        out["rounds"] = [{k: v for k, v in r.items() if k.startswith("x_bare")} for r in rounds]
    return ratios(out)


def pg_reachable(admin: str) -> str | None:
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect: skip PostgreSQL with the reason
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), action="append", help="Only this database (repeatable; default: both)")
    parser.add_argument("--no-assign", action="store_true", help="Leave assignment out even when the service has it")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1/postgres", help="PostgreSQL admin URL (a fresh database is created beside it)")
    parser.add_argument("--repeat", type=int, default=1, help="Rounds per database; each figure is its best round")
    parser.add_argument("--assign-batch", default=None, help="Leads per assignment transaction (a number, or 'cli' for the CLI's ASSIGN_BATCH); default: all in one")
    args = parser.parse_args()
    batch: int | None = None
    if args.assign_batch == "cli":
        import configurator.cli  # noqa: F401  (cli_assign registers itself on it: import the group first)
        from configurator.cli_assign import ASSIGN_BATCH

        batch = ASSIGN_BATCH
    elif args.assign_batch is not None:
        batch = int(args.assign_batch)
    out: dict[str, Any] = {"n": args.n, "assign_batch": batch, "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "leads.csv"
        write_csv(csv_path, args.n)
        print(f"{args.n:,} leads, CSV {csv_path.stat().st_size / 1e6:.1f} MB (b2b_software)")
        if args.no_assign:
            print("assignment: left out (--no-assign)")
        elif assign_function() is None:
            print("assignment: not included yet (configurator.services.assignment.assign_pending does not exist)")
        for kind in args.db or ("sqlite", "postgresql"):
            if kind == "postgresql":
                why = pg_reachable(args.pg)
                if why is not None:
                    print(f"postgresql: skipped, not reachable ({why})")
                    out[kind] = {"skipped": why}
                    continue
            f = best([measure(kind, csv_path, args.n, workdir, args.pg, with_assign=not args.no_assign, assign_batch=batch) for _ in range(args.repeat)])
            out[kind] = f
            how = "one call" if batch is None else f"{batch:,}/txn"
            print(f"{kind}:{'' if args.repeat == 1 else f'  (best of {args.repeat} rounds)'}")
            print(f"  {'':28}{'wall':>8}   {'rows/s':>10}   {'x bare':>6}   {'cpu':>7}   {'x bare' if kind == 'sqlite' else '':>6}")

            def line(label: str, key: str, ratio: str | None) -> None:
                wall = f"{f[ratio]:5.2f}x" if ratio else ""
                cpu = f"{f[ratio + '_cpu']:5.2f}x" if ratio and kind == "sqlite" else ""  # PostgreSQL's work is not in this process
                print(f"  {label:<28}{f[key]:6.2f} s   {args.n / f[key]:>10,.0f}   {wall:>6}   {f[key + '_cpu']:5.2f} s   {cpu:>6}")

            line("bare executemany", "bare", None)
            if "bare_cache" in f:
                line(f"  same, {BULK_CACHE_KIB // 1024} MiB page cache", "bare_cache", None)
            line("import (all_or_nothing)", "import", "x_bare")
            line("import (keep_good, 1k/txn)", "import_keep_good", "x_bare_keep_good")
            if "assign" in f:
                line(f"assign ({how})", "assign", None)
                line("import + assign", "import_and_assign", "x_bare_import_and_assign")
                if "bare_cache" in f:
                    line("  against the cached floor", "import_and_assign", "x_bare_cache_import_and_assign")
                check = f["check"]
                print(f"  checked: {check['states']}, {check['audit_rows']:,} audit rows, {check['explained']} explanations rendered from them")
                if "rounds" in f:
                    print("  import + assign per round: " + ", ".join(f"{r['x_bare_import_and_assign']:.2f}x" for r in f["rounds"]))
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
