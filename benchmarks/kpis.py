"""KPIs for 200 reps over 1,000,000 leads and 5,000,000 follow-ups, against the bare aggregate
queries that compute the same numbers, on SQLite and on PostgreSQL, in the same run.

Setup (timed separately, part of neither figure): a fresh, migrated database with
``templates/consumer_goods_regional.yaml`` published (it has a ``targets`` section), one team of
200 reps, and rows generated set-based in the database (``INSERT … SELECT`` over a recursive CTE
on SQLite, ``generate_series`` on PostgreSQL):

- N leads spread over the reps, assigned over October and November 2026: 95 % owned, 5 % in the
  pool (reclaimed from their last owner); one in five never followed up; one in ten won (with a
  result row for ``purchases``, whose amount has cents, and one for ``new_stores``); grades A, B, C;
- 5 × N follow-ups on the followed-up leads by their owners, a quarter of them visits;
- an ``assign`` audit row per lead and a ``reclaim`` row per pooled lead;
- target plans for 2026-Q4 (``purchases``, ``new_stores``, ``visits``), team → 200 reps, set with
  the service (``fenpei targets set``).

Then, per database, both measured at the clock 2026-11-20 12:00 (+08:00) for the period 2026-11:

- ``kpis``: ``configurator.services.kpis.kpis(session, "bench", "2026-11", now)`` — every KPI per
  rep and for the team, with target completion rolled up the three trees;
- ``bare``: the same aggregates as hand-written SQL (owned leads: coverage, compliance, load; the
  period's cohort per grade: first response, conversion; the audit trail: assignments and
  reclaims; results and visits per rep for the quarter), rows fetched and nothing else.

Checked: the service's totals equal the bare queries' (owned, followed up, overdue, answered,
won per grade, assignments, reclaims, each metric's results). ``x_bare`` = kpis time / bare time;
beside the SQLite figures, this process's CPU time. PostgreSQL is
``postgresql+psycopg://postgres@127.0.0.1/<fresh database>`` (``--pg`` to change the server);
when it is unreachable its figures are skipped with a note. Last line: JSON with every figure.

    python benchmarks/kpis.py                        # 1,000,000 leads, 5,000,000 follow-ups, both databases
    python benchmarks/kpis.py --leads 100000 --db sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from configurator.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from configurator.migrate import upgrade  # noqa: E402
from configurator.services import kpis as kpis_svc  # noqa: E402
from configurator.services import targets as targets_svc  # noqa: E402
from configurator.services import teams as teams_svc  # noqa: E402
from configurator.services import templates as tmpl_svc  # noqa: E402
from rule_engine import Rep  # noqa: E402

_import_bench = importlib.import_module("import")  # the import benchmark's scratch databases and PostgreSQL probe
fresh, pg_reachable = _import_bench.fresh, _import_bench.pg_reachable

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=CST)
REPS = 200
FOLLOWUPS_PER_LEAD = 5
UTC = dt.timezone.utc


def setup(url: str) -> tuple[Engine, sessionmaker[Session], int, int]:
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, (ROOT / "templates" / "consumer_goods_regional.yaml").read_text(encoding="utf-8"))
        version = tmpl_svc.publish(s, "consumer_goods_regional", now=dt.datetime(2026, 9, 1, tzinfo=UTC))
        team = teams_svc.create_team(s, "bench", "Bench", "consumer_goods_regional")
        teams_svc.upsert_reps(s, team, [Rep(f"r{i:03d}", f"Rep {i}", {"regions": ("east",)}) for i in range(REPS)])
        return engine, sessions, team.id, version.id


def _sql(kind: str, n: int, team_id: int, version_id: int) -> list[str]:
    """The set-based generators: leads, follow-ups, audit rows, results."""
    if kind == "sqlite":
        seq = lambda count: f"WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k < {count - 1}) "  # noqa: E731
        ts = lambda base, minutes: f"(datetime('{base}', '+' || ({minutes}) || ' minutes') || '.000000')"  # noqa: E731
        rep = "'r' || printf('%03d', k % 200)"
        lead = "'L' || k"
        true, false = "1", "0"
        js = ""
    else:
        seq = lambda count: f"WITH s(k) AS (SELECT generate_series(0, {count - 1})) "  # noqa: E731
        ts = lambda base, minutes: f"(TIMESTAMPTZ '{base}+00' + ({minutes}) * INTERVAL '1 minute')"  # noqa: E731
        rep = "'r' || lpad((k % 200)::text, 3, '0')"
        lead = "'L' || k"
        true, false = "true", "false"
        js = "::jsonb"
    # assigned over 61 days from 30 Sep 16:00 UTC (1 Oct 00:00 +08), a minute apart per 16 leads
    assigned = ts("2026-09-30 16:00:00", f"(k * 7) % 87840")
    followed = "k % 5 <> 0"
    won = "k % 10 = 1"
    grade = "CASE k % 3 WHEN 0 THEN 'A' WHEN 1 THEN 'B' ELSE 'C' END"
    json_outputs = f"('{{\"store_grade\": \"' || {grade} || '\"}}'){js}"
    leads = (
        seq(n)
        + "INSERT INTO leads (id, team_id, fields, outputs, weight, is_open, state, owner_id, previous_owner_id, from_pool, locked, created_at, assigned_at, "
        "first_followup_at, last_followup_at, followup_count, reclaim_count, won_at, template_version_id, revision) "
        f"SELECT {lead}, {team_id}, '{{\"store_name\": \"x\"}}'{js}, {json_outputs}, CASE WHEN k % 3 = 0 THEN 3.0 ELSE 1.0 END, "
        f"CASE WHEN {won} THEN {false} ELSE {true} END, CASE WHEN k % 20 = 7 THEN 'pool' ELSE 'owned' END, "
        f"CASE WHEN k % 20 = 7 THEN NULL ELSE {rep} END, CASE WHEN k % 20 = 7 THEN {rep} ELSE NULL END, {false}, {false}, "
        f"{ts('2026-09-20 00:00:00', '(k * 7) % 87840')}, CASE WHEN k % 20 = 7 THEN NULL ELSE {assigned} END, "
        f"CASE WHEN {followed} AND k % 20 <> 7 THEN {ts('2026-09-30 16:00:00', '(k * 7) % 87840 + 30 + k % 600')} END, "
        f"CASE WHEN {followed} AND k % 20 <> 7 THEN {ts('2026-09-30 16:00:00', '(k * 7) % 87840 + 30 + k % 20000')} END, "
        f"CASE WHEN {followed} AND k % 20 <> 7 THEN 5 ELSE 0 END, CASE WHEN k % 20 = 7 THEN 1 ELSE 0 END, "
        f"CASE WHEN {won} AND k % 20 <> 7 THEN {ts('2026-09-30 16:00:00', '(k * 7) % 87840 + 3000')} END, {version_id}, 0 FROM s"
    )
    # follow-ups: follow-up j goes to lead k = j % n (moved to the next lead when that one is never followed up)
    fk = f"(CASE WHEN (j % {n}) % 5 = 0 THEN (j % {n}) + 1 ELSE j % {n} END)"
    f_rep = rep.replace("k", fk)
    seq_j = seq(n * FOLLOWUPS_PER_LEAD).replace("s(k)", "s(j)").replace("SELECT k + 1 FROM s WHERE k <", "SELECT j + 1 FROM s WHERE j <")
    followups = (
        seq_j
        + "INSERT INTO followups (lead_id, rep_id, at, data, activity, created_at) "
        f"SELECT 'L' || {fk}, {f_rep}, {ts('2026-10-01 00:00:00', f'(j * 13) % 87000')}, '{{\"method\": \"call\"}}'{js}, "
        f"CASE WHEN j % 4 = 0 THEN 'visits' END, {ts('2026-10-01 00:00:00', '0')} FROM s"
    )
    audit = (
        seq(n)
        + "INSERT INTO audit_events (at, team_id, actor, action, lead_id, to_rep_id) "
        f"SELECT {assigned}, {team_id}, 'system', 'assign', {lead}, {rep} FROM s"
    )
    reclaims = (
        seq(n)
        + "INSERT INTO audit_events (at, team_id, actor, action, lead_id, from_rep_id) "
        f"SELECT {ts('2026-10-01 00:00:00', '(k * 11) % 87000')}, {team_id}, 'system', 'reclaim', {lead}, {rep} FROM s WHERE k % 20 = 7"
    )
    results = [
        seq(n)
        + "INSERT INTO target_results (lead_id, metric, team_id, rep_id, at, amount) "
        f"SELECT {lead}, '{metric}', {team_id}, {rep}, {ts('2026-09-30 16:00:00', '(k * 7) % 87840 + 3000')}, {amount} FROM s WHERE {won} AND k % 20 <> 7"
        for metric, amount in (("purchases", "(k % 1000) * 10.25 + 0.07"), ("new_stores", "1"))
    ]
    return [leads, followups, audit, reclaims, *results]


def plans(sessions: sessionmaker[Session]) -> None:
    for metric, amount in (("purchases", "100000000.00"), ("new_stores", "50000"), ("visits", "1500000")):
        children = "\n".join(f"    - {{level: rep, key: r{i:03d}, weight: {1 + i % 3}}}" for i in range(REPS))
        source = f"period: 2026-Q4\nmetric: {metric}\ntree:\n  level: team\n  key: bench\n  owner: mgr\n  amount: {amount}\n  split: weights\n  children:\n{children}\n"
        with session_scope(sessions) as s:
            targets_svc.set_plan(s, source, source_name=f"{metric}.yaml", actor="bench", now=dt.datetime(2026, 10, 1, tzinfo=CST))


def seed(engine: Engine, kind: str, n: int, team_id: int, version_id: int) -> dict[str, float]:
    steps: dict[str, float] = {}
    with engine.begin() as conn:
        for name, sql in zip(("leads", "followups", "audit", "reclaims", "purchases", "new_stores"), _sql(kind, n, team_id, version_id), strict=True):
            t0 = time.perf_counter()
            conn.execute(text(sql))
            steps[name] = time.perf_counter() - t0
    if kind == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return steps


def _param(kind: str, moment: dt.datetime) -> Any:
    utc = moment.astimezone(UTC)
    return utc.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if kind == "sqlite" else utc


def bare(engine: Engine, kind: str, team_id: int) -> dict[str, Any]:
    """The same aggregates, hand-written: rows fetched, nothing assembled."""
    month = (dt.datetime(2026, 11, 1, tzinfo=CST), dt.datetime(2026, 12, 1, tzinfo=CST))
    quarter = (dt.datetime(2026, 10, 1, tzinfo=CST), dt.datetime(2027, 1, 1, tzinfo=CST))
    p = lambda m: _param(kind, m)  # noqa: E731
    grade = "json_extract(outputs, '$.store_grade')" if kind == "sqlite" else "outputs ->> 'store_grade'"
    hours = "(julianday(first_followup_at) - julianday(assigned_at)) * 24.0" if kind == "sqlite" else "extract(epoch from first_followup_at - assigned_at) / 3600.0"
    open_ = "is_open = 1" if kind == "sqlite" else "is_open"
    queries = {
        "owned": (
            f"SELECT owner_id, count(*), sum(CASE WHEN followup_count > 0 THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN coalesce(last_followup_at, assigned_at) <= :t7 OR created_at <= :t45 THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN {open_} THEN weight ELSE 0 END) FROM leads WHERE team_id = :team AND state = 'owned' AND owner_id IS NOT NULL GROUP BY owner_id",
            {"t7": p(NOW - dt.timedelta(days=7)), "t45": p(NOW - dt.timedelta(days=45))},
        ),
        "cohort": (
            f"SELECT owner_id, {grade}, count(*), count(won_at), count(first_followup_at), sum(CASE WHEN first_followup_at IS NOT NULL THEN {hours} END) "
            f"FROM leads WHERE team_id = :team AND owner_id IS NOT NULL AND assigned_at >= :s AND assigned_at < :e GROUP BY owner_id, {grade}",
            {"s": p(month[0]), "e": p(month[1])},
        ),
        "audit": (
            "SELECT action, to_rep_id, from_rep_id, count(*) FROM audit_events WHERE team_id = :team AND at >= :s AND at < :e "
            "AND action IN ('assign', 'reassign', 'claim', 'redistribute', 'reclaim') GROUP BY action, to_rep_id, from_rep_id",
            {"s": p(month[0]), "e": p(month[1])},
        ),
        "purchases": ("SELECT rep_id, sum(round(amount * 100)) FROM target_results WHERE team_id = :team AND metric = 'purchases' AND at >= :s AND at < :e GROUP BY rep_id", {"s": p(quarter[0]), "e": p(quarter[1])}),
        "new_stores": ("SELECT rep_id, sum(round(amount * 100)) FROM target_results WHERE team_id = :team AND metric = 'new_stores' AND at >= :s AND at < :e GROUP BY rep_id", {"s": p(quarter[0]), "e": p(quarter[1])}),
        "visits": (
            "SELECT f.rep_id, count(*) FROM followups f JOIN reps r ON r.id = f.rep_id WHERE r.team_id = :team AND f.at >= :s AND f.at < :e AND f.activity = 'visits' GROUP BY f.rep_id",
            {"s": p(quarter[0]), "e": p(quarter[1])},
        ),
    }
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for name, (sql, params) in queries.items():
            out[name] = conn.execute(text(sql), {"team": team_id, **params}).all()
    return out


def totals_of_bare(rows: dict[str, Any]) -> dict[str, Any]:
    won: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, g, leads, w, _, _ in rows["cohort"]:
        won[str(g)][0] += int(leads)
        won[str(g)][1] += int(w)
    return {
        "owned": sum(int(r[1]) for r in rows["owned"]),
        "covered": sum(int(r[2]) for r in rows["owned"]),
        "overdue": sum(int(r[3]) for r in rows["owned"]),
        "answered": sum(int(r[4]) for r in rows["cohort"]),
        "won": {g: tuple(v) for g, v in sorted(won.items())},
        "assigned": sum(int(r[3]) for r in rows["audit"] if r[0] != "reclaim"),
        "reclaimed": sum(int(r[3]) for r in rows["audit"] if r[0] == "reclaim"),
        "purchases": str((Decimal(str(sum(int(r[1]) for r in rows["purchases"]))) / 100).quantize(Decimal("0.01"))),
        "new_stores": sum(int(Decimal(str(r[1])) / 100) for r in rows["new_stores"]),
        "visits": sum(int(r[1]) for r in rows["visits"]),
    }


def totals_of_service(got: kpis_svc.TeamKpis, sessions: sessionmaker[Session]) -> dict[str, Any]:
    t = got.total
    with session_scope(sessions) as s:
        results = {m: targets_svc.progress(s, "bench", "2026-Q4", m, NOW).nodes[0].result for m in ("purchases", "new_stores", "visits")}
    return {
        "owned": t.owned,
        "covered": t.covered,
        "overdue": t.overdue,
        "answered": t.responded,
        "won": {g: v for g, v in sorted(t.won.items())},
        "assigned": t.changes,
        "reclaimed": t.reclaimed,
        "purchases": str(results["purchases"]),
        "new_stores": int(results["new_stores"]),
        "visits": int(results["visits"]),
    }


def measure(kind: str, n: int, workdir: Path, pg_admin: str, rounds: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with fresh(kind, workdir, pg_admin) as url:
        t0 = time.perf_counter()
        engine, sessions, team_id, version_id = setup(url)
        try:
            figures["seed_steps"] = seed(engine, kind, n, team_id, version_id)
            plans(sessions)
            figures["setup"] = time.perf_counter() - t0
            best: dict[str, tuple[float, float]] = {}
            got = rows = None
            for _ in range(rounds):
                t0, c0 = time.perf_counter(), time.process_time()
                with session_scope(sessions) as s:
                    got = kpis_svc.kpis(s, "bench", "2026-11", NOW)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                if "kpis" not in best or wall < best["kpis"][0]:
                    best["kpis"] = (wall, cpu)
                t0, c0 = time.perf_counter(), time.process_time()
                rows = bare(engine, kind, team_id)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                if "bare" not in best or wall < best["bare"][0]:
                    best["bare"] = (wall, cpu)
            assert got is not None and rows is not None
            service, floor = totals_of_service(got, sessions), totals_of_bare(rows)
            assert service == floor, (service, floor)
            figures["checked"] = floor
            figures["reps"] = len(got.reps)
            figures["fairness"] = got.fairness
        finally:
            engine.dispose()
    figures["kpis"], figures["kpis_cpu"] = best["kpis"]
    figures["bare"], figures["bare_cpu"] = best["bare"]
    figures["x_bare"] = figures["kpis"] / figures["bare"]
    if kind == "sqlite":
        figures["x_bare_cpu"] = figures["kpis_cpu"] / figures["bare_cpu"]
    else:
        del figures["kpis_cpu"], figures["bare_cpu"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="Stored leads (default 1,000,000; five follow-ups each)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=2, help="Rounds per database; each figure is its best round (default 2)")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1/postgres", help="PostgreSQL admin URL (a fresh database is created beside it)")
    args = parser.parse_args()
    n = args.leads
    out: dict[str, Any] = {"leads": n, "followups": n * FOLLOWUPS_PER_LEAD, "reps": REPS}
    print(f"KPIs for {REPS} reps over {n:,} leads and {n * FOLLOWUPS_PER_LEAD:,} follow-ups (consumer_goods_regional), period 2026-11 at {NOW.isoformat()}")
    with tempfile.TemporaryDirectory(prefix="fenpei-kpi-") as tmp:
        for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
            if kind == "postgresql":
                why = pg_reachable(args.pg)
                if why is not None:
                    print(f"postgresql: skipped, not reachable ({why})")
                    out[kind] = {"skipped": why}
                    continue
            f = measure(kind, n, Path(tmp), args.pg, args.rounds)
            out[kind] = f
            c = f["checked"]
            cpu = kind == "sqlite"
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in f["seed_steps"].items())
            print(f"{kind}:")
            print(f"  setup (migrate, template, 200 reps, rows generated in SQL, 3 plans)  {f['setup']:8.2f} s   (in neither figure: {steps})")
            print(f"  bare aggregate queries (6 GROUP BYs, rows fetched)  {f['bare']:8.2f} s" + (f"   cpu {f['bare_cpu']:.2f} s" if cpu else ""))
            print(
                f"  kpis (service, {f['reps']} reps + team, 3 trees)          {f['kpis']:8.2f} s   {f['x_bare']:.2f}x bare"
                + (f"   cpu {f['kpis_cpu']:.2f} s, {f['x_bare_cpu']:.2f}x" if cpu else "")
            )
            print(
                f"  checked (service = bare): owned {c['owned']:,}, followed up {c['covered']:,}, overdue {c['overdue']:,}, answered {c['answered']:,}, "
                f"assigned {c['assigned']:,}, reclaimed {c['reclaimed']:,}, purchases {c['purchases']}, new stores {c['new_stores']:,}, visits {c['visits']:,}"
            )
            print(f"  fairness: {f['fairness']}")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
