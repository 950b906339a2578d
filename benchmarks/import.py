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

``x_bare`` = import time / bare time (the issue's target: at most 8). PostgreSQL is
``postgresql+psycopg://postgres@127.0.0.1/<fresh database>`` (``--pg`` to change the server); when it
is unreachable its figures are skipped with a note. Last line: JSON with every figure.

    python benchmarks/import.py --n 100000
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


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(kind: str, csv_path: Path, n: int, workdir: Path, pg_admin: str, *, with_assign: bool = True) -> dict[str, Any]:
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
                seconds, result = timed(lambda: imports.run_import(sessions, "bench", csv_path, options=imports.ImportOptions(mode=mode), now=NOW))  # noqa: B023
                assert result.stored == n and result.bad == 0 and result.duplicates == 0, result
                figures["import" if mode == "all_or_nothing" else "import_keep_good"] = seconds
                if mode == "all_or_nothing":
                    job_id = result.job_id
                    with engine.connect() as conn:
                        cur = conn.exec_driver_sql("SELECT * FROM leads")
                        columns = [d[0] for d in cur.cursor.description]
                        stored_rows = [tuple(r) for r in cur]
                    if assign_pending is not None:

                        def assign() -> Any:
                            with session_scope(sessions, write_lock=True) as s:
                                team = teams_svc.get_team(s, "bench")
                                return assign_pending(s, team, NOW)

                        seconds, outcome = timed(assign)
                        figures["assign"] = seconds
                        figures["import_and_assign"] = figures["import"] + seconds
                        counts = getattr(outcome, "counts", None)
                        figures["assign_outcomes"] = counts() if callable(counts) else counts
            finally:
                engine.dispose()

    # The floor: the same rows, one executemany, one transaction.
    json_cols = {i for i, c in enumerate(columns) if c in ("fields", "outputs")}
    rows = [tuple(json.dumps(v, ensure_ascii=False) if i in json_cols and not isinstance(v, str) else v for i, v in enumerate(r)) for r in stored_rows]
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
                if kind == "sqlite":
                    cur.execute("BEGIN")
                t0 = time.perf_counter()
                cur.executemany(sql, rows)
                raw.commit()
                figures["bare"] = time.perf_counter() - t0
            finally:
                raw.close()
            with session_scope(sessions) as s:
                assert s.query(Lead).count() == n
        finally:
            engine.dispose()
    figures["x_bare"] = figures["import"] / figures["bare"]
    figures["x_bare_keep_good"] = figures["import_keep_good"] / figures["bare"]
    if "assign" in figures:
        figures["x_bare_import_and_assign"] = figures["import_and_assign"] / figures["bare"]
    return figures


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
    args = parser.parse_args()
    out: dict[str, Any] = {"n": args.n}
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
            f = measure(kind, csv_path, args.n, workdir, args.pg, with_assign=not args.no_assign)
            out[kind] = f
            print(f"{kind}:")
            print(f"  bare executemany            {f['bare']:8.2f} s   {args.n / f['bare']:>10,.0f} rows/s")
            print(f"  import (all_or_nothing)     {f['import']:8.2f} s   {args.n / f['import']:>10,.0f} rows/s   {f['x_bare']:.2f}x bare")
            print(f"  import (keep_good, 1k/txn)  {f['import_keep_good']:8.2f} s   {args.n / f['import_keep_good']:>10,.0f} rows/s   {f['x_bare_keep_good']:.2f}x bare")
            if "assign" in f:
                print(f"  assign (assign_pending)     {f['assign']:8.2f} s   {args.n / f['assign']:>10,.0f} rows/s   {f['assign_outcomes']}")
                print(f"  import + assign             {f['import_and_assign']:8.2f} s   {f['x_bare_import_and_assign']:.2f}x bare")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
