"""Leads created and assigned through the REST API by concurrent clients against the served app,
beside the same work done through the service layer directly, on SQLite and on PostgreSQL, in the
same run.

Setup (untimed, part of neither figure), for each measurement a fresh, migrated database with
``templates/b2b_software.yaml`` published with a generous load cap (``cap: 10`` raised to
``LOAD_CAP``, so that no rep fills up and the outcome of a lead does not depend on the order the
clients happen to send it in), one team ``bench`` with the engine benchmark's 20 reps (two of
them paused), and a manager of that team with an API token. The leads are the engine benchmark's
synthetic leads (so the tiers and policies vary as in real intake), each with a unique company
name and mobile number; the same N bodies go to both measurements.

- ``service``: the floor, no HTTP. ``--clients`` threads in this process, each lead its own unit
  of work as a request is: ``session_scope(sessions, write_lock=True)`` (on SQLite that takes the
  database write lock at BEGIN, as the API does for every change; on PostgreSQL the services lock
  the rotation row), the team and its published version looked up, ``leads.add_lead`` and
  ``assignment.assign_pending(session, team, now, only=[lead.id], version=…)``, commit.
- ``api``: ``fenpei serve --no-worker`` in a child process (waitress, a production WSGI server,
  ``--threads`` threads, default 8) on 127.0.0.1 and a free port; the benchmark waits for
  ``/healthz``. ``--clients`` client threads, each with its own keep-alive connection
  (``http.client``), send ``POST /api/v1/teams/bench/leads`` with ``{"fields": …, "assign": true}``
  and the manager's bearer token until N requests have been sent in all. Each request's latency is
  recorded from sending it to having read the whole answer. Any answer but 201 is an error; the
  errors are counted and the first one's body is shown (the target is none).

For each: requests, errors, wall time, requests per second and the p50/p95/p99 latency (nearest
rank) in ms, and the ratio API / service of the throughput and of the p50. Beside the API figures,
the CPU seconds the server process and this process (the clients) used during the run: both, and
the database, share the machine's cores (2 on the machine this was written for), so the clients'
own work is part of what the API figure pays for; the load average before and after each database
is printed too, since other work on the machine shifts every figure.

Reading the SQLite tail: writers wait for the database write lock in SQLite's busy handler, which
polls with growing sleeps (up to 100 ms), so a writer that has waited a while is overtaken by
newcomers that poll sooner. The median is then the newcomers' (one transaction), and p99 / max are
the overtaken writers' (seconds, with ``--clients 8``); service and API alike. On PostgreSQL every
assignment queues on the team's rotation row (``SELECT … FOR UPDATE``) in arrival order, so the
median is about ``clients`` transactions and the tail is short.

Checked afterwards, from the database and not from the answers: every lead sent exists exactly
once (the ids the API or the service returned are the ids stored, the companies are distinct),
none is left ``new``, an owned lead has an owner and nothing else does, each lead has exactly one
assignment audit row, the API's answers name the owner the database holds, and the API and the
service reached the same state (owned / pool / escalated) for every lead.

PostgreSQL is ``postgresql+psycopg://postgres@127.0.0.1/<fresh database>`` (``--pg`` to change
the server); when it is unreachable its figures are skipped with a note. Last line: JSON with every
figure.

    python benchmarks/api.py                          # 2,000 requests, 8 clients, both databases
    python benchmarks/api.py --db sqlite --requests 500 --clients 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import importlib
import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from configurator.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from configurator.migrate import upgrade  # noqa: E402
from configurator.models import AuditEvent, Lead  # noqa: E402
from configurator.services import accounts  # noqa: E402
from configurator.services import assignment as assignment_service  # noqa: E402
from configurator.services import leads as leads_service  # noqa: E402
from configurator.services import teams as teams_svc  # noqa: E402
from configurator.services import templates as tmpl_svc  # noqa: E402

from engine import make_leads, make_reps  # noqa: E402  (the engine benchmark's leads and reps)

# The import benchmark's scratch databases and PostgreSQL probe ("import" is a keyword).
_import_bench = importlib.import_module("import")
fresh, pg_reachable = _import_bench.fresh, _import_bench.pg_reachable

TEAM = "bench"
MANAGER = "bench_manager"
LOAD_CAP = 100_000  # the template's cap is 10: 2,000 leads over 18 active reps would fill everyone
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
START_TIMEOUT = 60.0


# ------------------------------------------------------------------------------------------------
# Setup
# ------------------------------------------------------------------------------------------------


def template_text() -> str:
    text = (ROOT / "templates" / "b2b_software.yaml").read_text(encoding="utf-8")
    raised, count = re.subn(r"(?m)^(load:\n(?:  .*\n|\s*\n|#.*\n)*?  cap:) 10$", rf"\1 {LOAD_CAP}", text)
    assert count == 1, "the template's load cap was not found"
    return raised


def prepare(url: str) -> tuple[sessionmaker[Session], Any, str]:
    """A migrated database with the template, the team, its reps and a manager; returns the session
    factory, the engine and the manager's API token."""
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    now = dt.datetime.now(dt.UTC)
    with session_scope(sessions, write_lock=True) as s:
        tmpl_svc.import_draft(s, template_text())
        tmpl_svc.publish(s, "b2b_software")
        team = teams_svc.create_team(s, TEAM, "Bench", "b2b_software")
        teams_svc.upsert_reps(s, team, make_reps())
        user, _ = accounts.create_user(s, MANAGER, "manager", password="bench-manager-password", teams=[TEAM])
        _, token = accounts.create_token(s, user, "bench", now)
    return sessions, engine, token


def lead_bodies(n: int) -> list[dict[str, Any]]:
    """N field sets for the template: the engine benchmark's leads with a unique company and mobile."""
    out = []
    for i, lead in enumerate(make_leads(n, seed=23)):
        fields = {k: v for k, v in lead.items() if k != "id"}
        if "expected_close_date" in fields:
            fields["expected_close_date"] = fields["expected_close_date"].isoformat()
        fields.update(
            company=f"{lead['region']}精密制造{i}有限公司",
            contact=SURNAMES[i % len(SURNAMES)] + "先生",
            phone=f"1{3 + i % 7}{i:09d}",
            city="上海",
        )
        out.append(fields)
    return out


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")


def figures(latencies: list[float], errors: int, wall: float, requests: int) -> dict[str, Any]:
    ordered = sorted(latencies)
    ok = len(latencies)
    return {
        "requests": requests,
        "ok": ok,
        "errors": errors,
        "wall_s": wall,
        "per_s": ok / wall if wall else 0.0,
        "p50_ms": percentile(ordered, 50) * 1000,
        "p95_ms": percentile(ordered, 95) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": ordered[-1] * 1000 if ordered else float("nan"),
    }


def run_concurrently(n: int, clients: int, work: Callable[[int, Any], tuple[bool, Any]], local: Callable[[], Any], close: Callable[[Any], None]) -> tuple[list[float], list[Any], list[Any], float]:
    """``work(i, state)`` for i in 0..n-1 on ``clients`` threads (each with ``local()`` state);
    returns the latencies of the successes, their results, the failures, and the wall time."""
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(n):
        todo.put(i)
    latencies: list[float] = []
    results: list[Any] = []
    failures: list[Any] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client() -> None:
        state = local()
        mine: list[tuple[float, Any]] = []
        bad: list[Any] = []
        start.wait()
        try:
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    break
                t0 = time.perf_counter()
                ok, value = work(i, state)
                elapsed = time.perf_counter() - t0
                (mine.append((elapsed, value)) if ok else bad.append(value))
        finally:
            close(state)
            with lock:
                latencies.extend(t for t, _ in mine)
                results.extend(v for _, v in mine)
                failures.extend(bad)

    threads = [threading.Thread(target=client, name=f"bench-client-{k}") for k in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, results, failures, time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------
# The floor: the service layer in this process
# ------------------------------------------------------------------------------------------------


def run_service(sessions: sessionmaker[Session], bodies: list[dict[str, Any]], clients: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Each lead added and assigned in its own unit of work, ``clients`` at a time."""

    def work(i: int, _state: Any) -> tuple[bool, Any]:
        try:
            now = dt.datetime.now(dt.UTC)
            with session_scope(sessions, write_lock=True) as s:
                team = teams_svc.get_team(s, TEAM)
                version = tmpl_svc.get_version(s, team.template_name)
                lead = leads_service.add_lead(s, team, version, dict(bodies[i]), now)
                result = assignment_service.assign_pending(s, team, now, actor=MANAGER, version=version, only=[lead.id])
                return True, (i, lead.id, result.assigned.get(lead.id))
        except Exception as exc:  # counted and shown, like a non-201 answer
            return False, f"{type(exc).__name__}: {exc}"

    c0 = time.process_time()
    latencies, results, failures, wall = run_concurrently(len(bodies), clients, work, lambda: None, lambda _s: None)
    f = figures(latencies, len(failures), wall, len(bodies))
    f["cpu_s"] = time.process_time() - c0
    if failures:
        f["first_error"] = str(failures[0])[:2000]
    return f, {bodies[i]["company"]: {"id": lead_id, "owner": owner} for i, lead_id, owner in results}


# ------------------------------------------------------------------------------------------------
# The API: `fenpei serve` in a child process, clients in this one
# ------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


@contextmanager
def served(url: str, instance: Path, threads: int) -> Iterator[tuple[int, subprocess.Popen[str], Path]]:
    """``fenpei serve --no-worker`` on 127.0.0.1 and a free port, ready (``/healthz`` answers 200)."""
    env = dict(os.environ, FENPEI_DATABASE_URL=url, FENPEI_INSTANCE=str(instance), FENPEI_COOKIE_SECURE="0", PYTHONUNBUFFERED="1")
    env.pop("FENPEI_SECRET_KEY", None)
    log = instance / "serve.log"
    argv = [sys.executable, "-m", "configurator", "--lang", "en", "serve", "--no-worker", "--host", "127.0.0.1", "--port", "0", "--threads", str(threads)]
    with open(log, "w") as errors:
        child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        m = re.search(r"http://[\d.]+:(\d+)", line)
        if m is None:
            child.wait(10)
            raise RuntimeError(f"fenpei serve did not start: {line!r} {log.read_text()[-2000:]}")
        port = int(m.group(1))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError(f"fenpei serve is not healthy: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield port, child, log
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def run_api(url: str, instance: Path, token: str, bodies: list[dict[str, Any]], clients: int, threads: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    path = f"/api/v1/teams/{TEAM}/leads"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept-Language": "en"}
    payloads = [json.dumps({"fields": fields, "assign": True}, ensure_ascii=False).encode() for fields in bodies]
    with served(url, instance, threads) as (port, child, log):

        def connect() -> dict[str, Any]:
            return {"conn": http.client.HTTPConnection("127.0.0.1", port, timeout=120)}

        def close(state: dict[str, Any]) -> None:
            state["conn"].close()

        # Warm-up (untimed): each client's connection, the token check and the compiled template
        # cache, with reads that leave the data as they found it.
        warm = connect()
        for _ in range(3):
            warm["conn"].request("GET", f"{path}?limit=1", headers=headers)
            answer = warm["conn"].getresponse()
            body = answer.read()
            assert answer.status == 200, (answer.status, body[:500])
        close(warm)

        def work(i: int, state: dict[str, Any]) -> tuple[bool, Any]:
            conn = state["conn"]
            try:
                conn.request("POST", path, body=payloads[i], headers=headers)
                answer = conn.getresponse()
                body = answer.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()  # reconnects on the next request
                return False, (None, f"{type(exc).__name__}: {exc}")
            if answer.status != 201:
                return False, (answer.status, body.decode("utf-8", "replace"))
            doc = json.loads(body)
            return True, (i, doc["lead"]["id"], (doc.get("assignment") or {}).get("owner"), doc["lead"]["state"])

        s0, c0 = cpu_seconds(child.pid), time.process_time()
        latencies, results, failures, wall = run_concurrently(len(bodies), clients, work, connect, close)
        server_cpu, client_cpu = cpu_seconds(child.pid) - s0, time.process_time() - c0
    f = figures(latencies, len(failures), wall, len(bodies))
    f.update(server_cpu_s=server_cpu, client_cpu_s=client_cpu)
    if failures:
        statuses = Counter(str(status) for status, _ in failures)
        f["error_statuses"] = dict(statuses)
        f["first_error"] = f"{failures[0][0]}: {failures[0][1][:2000]}"
    server_log = log.read_text(errors="replace")
    if "Traceback" in server_log:
        f["server_log_tail"] = server_log[-3000:]
    return f, {bodies[i]["company"]: {"id": lead_id, "owner": owner, "state": state} for i, lead_id, owner, state in results}


# ------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------


def check_stored(sessions: sessionmaker[Session], bodies: list[dict[str, Any]], made: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every lead sent exists once, decided once, as the caller was told; returns state per company."""
    n = len(bodies)
    assert len(made) == n, f"{len(made):,} leads answered for {n:,} sent"
    with session_scope(sessions) as s:
        rows = s.execute(select(Lead.id, Lead.state, Lead.owner_id, Lead.fields)).all()
        audit = Counter(s.scalars(select(AuditEvent.lead_id).where(AuditEvent.lead_id.is_not(None))))
        actions = Counter(s.scalars(select(AuditEvent.action).where(AuditEvent.lead_id.is_not(None))))
    assert len(rows) == n, f"{len(rows):,} leads stored for {n:,} sent"
    by_company = {r.fields["company"]: r for r in rows}
    assert len(by_company) == n, f"{n - len(by_company):,} companies stored twice"
    assert set(by_company) == {b["company"] for b in bodies}
    states: Counter[str] = Counter()
    for company, r in by_company.items():
        told = made[company]
        assert told["id"] == r.id, (company, told, r.id)
        assert r.state in ("owned", "pool", "escalated"), (r.id, r.state)
        assert (r.owner_id is not None) == (r.state == "owned"), (r.id, r.state, r.owner_id)
        assert told["owner"] == r.owner_id, (r.id, told, r.owner_id)
        if "state" in told:
            assert told["state"] == r.state, (r.id, told, r.state)
        states[r.state] += 1
    assert set(audit) == set(by_company[c].id for c in by_company) and set(audit.values()) == {1}, "not one assignment audit row per lead"
    return {"leads": len(rows), "states": dict(states), "audit": dict(actions), "by_company": {c: r.state for c, r in by_company.items()}}


# ------------------------------------------------------------------------------------------------
# A database
# ------------------------------------------------------------------------------------------------


def measure(kind: str, bodies: list[dict[str, Any]], clients: int, threads: int, workdir: Path, pg_admin: str) -> dict[str, Any]:
    out: dict[str, Any] = {"loadavg_before": os.getloadavg()}
    with fresh(kind, workdir, pg_admin) as url:
        t0 = time.perf_counter()
        sessions, engine, _token = prepare(url)
        out["setup_s"] = time.perf_counter() - t0
        try:
            out["service"], made = run_service(sessions, bodies, clients)
            if out["service"]["errors"] == 0:
                service_check = check_stored(sessions, bodies, made)
        finally:
            engine.dispose()
    with fresh(kind, workdir, pg_admin) as url:
        sessions, engine, token = prepare(url)
        try:
            instance = Path(tempfile.mkdtemp(prefix="instance-", dir=workdir))
            out["api"], made = run_api(url, instance, token, bodies, clients, threads)
            if out["api"]["errors"] == 0:
                api_check = check_stored(sessions, bodies, made)
        finally:
            engine.dispose()
    out["loadavg_after"] = os.getloadavg()
    s, a = out["service"], out["api"]
    out["api_over_service_per_s"] = a["per_s"] / s["per_s"] if s["per_s"] else float("nan")
    out["api_over_service_p50"] = a["p50_ms"] / s["p50_ms"] if s["p50_ms"] else float("nan")
    if s["errors"] == 0 and a["errors"] == 0:
        differ = [c for c, state in api_check["by_company"].items() if service_check["by_company"][c] != state]
        out["check"] = {"leads": api_check["leads"], "states_api": api_check["states"], "states_service": service_check["states"], "audit_api": api_check["audit"], "same_state": len(bodies) - len(differ)}
        assert not differ, f"{len(differ):,} leads ended in another state through the API than through the service, e.g. {differ[:3]}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=("sqlite", "pg", "postgresql", "both"), default="both")
    parser.add_argument("--requests", type=int, default=2_000, help="Leads created (one request each) per measurement (default 2,000)")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent clients, and service-layer threads (default 8)")
    parser.add_argument("--threads", type=int, default=8, help="The server's threads (fenpei serve --threads; default 8)")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1/postgres", help="PostgreSQL admin URL (a fresh database is created beside it)")
    args = parser.parse_args()
    n, clients = args.requests, args.clients
    kinds = ("sqlite", "postgresql") if args.db == "both" else ("postgresql" if args.db == "pg" else args.db,)
    bodies = lead_bodies(n)
    cores = os.cpu_count() or 0
    out: dict[str, Any] = {"requests": n, "clients": clients, "server_threads": args.threads, "cores": cores, "load_cap": LOAD_CAP}
    print(f"{n:,} leads created and assigned per measurement: POST /api/v1/teams/{TEAM}/leads {{fields, \"assign\": true}} as the team's manager")
    print(f"b2b_software (load cap raised to {LOAD_CAP:,}), 20 reps (18 active); {clients} clients / service threads, fenpei serve (waitress) with {args.threads} threads")
    print(
        f"machine: {cores} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; the clients (threads in this process), "
        "the server and the database share these cores, so the clients' own work is inside the API figures"
    )
    with tempfile.TemporaryDirectory(prefix="fenpei-apibench-") as tmp:
        for kind in kinds:
            if kind == "postgresql":
                why = pg_reachable(args.pg)
                if why is not None:
                    print(f"postgresql: skipped, not reachable ({why})")
                    out[kind] = {"skipped": why}
                    continue
            f = measure(kind, bodies, clients, args.threads, Path(tmp), args.pg)
            out[kind] = f
            la, lb = f["loadavg_before"], f["loadavg_after"]
            print(f"{kind}:  (load average {la[0]:.2f} before, {lb[0]:.2f} after; setup {f['setup_s']:.1f} s, in neither figure)")
            print(f"  {'':44}{'ok':>6} {'errors':>6} {'wall':>8} {'req/s':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
            for label, key in (("service layer (add_lead + assign_pending)", "service"), ("API over HTTP (fenpei serve)", "api")):
                r = f[key]
                print(
                    f"  {label:<44}{r['ok']:>6,} {r['errors']:>6,} {r['wall_s']:>6.2f} s {r['per_s']:>8,.0f} "
                    f"{r['p50_ms']:>5.1f} ms {r['p95_ms']:>5.1f} ms {r['p99_ms']:>5.1f} ms {r['max_ms']:>5.0f} ms"
                )
                if r["errors"]:
                    print(f"    ERRORS {r.get('error_statuses', '')}; first: {r['first_error'][:1500]}")
                if "server_log_tail" in r:
                    print(f"    server log (tail):\n{r['server_log_tail']}")
            a, s = f["api"], f["service"]
            print(f"  API / service: throughput {f['api_over_service_per_s']:.2f}x, p50 {f['api_over_service_p50']:.2f}x")
            print(
                f"  CPU during the API run: server process {a['server_cpu_s']:.1f} s ({a['server_cpu_s'] / a['ok'] * 1000 if a['ok'] else 0:.1f} ms a request), "
                f"clients {a['client_cpu_s']:.1f} s ({a['client_cpu_s'] / a['wall_s'] / max(cores, 1):.0%} of the machine); service run: {s['cpu_s']:.1f} s in this process"
                + ("" if kind == "sqlite" else " (plus PostgreSQL's, not counted)")
            )
            if "check" in f:
                c = f["check"]
                print(
                    f"  checked: {c['leads']:,} leads stored once each (ids and owners as answered, one audit row each {c['audit_api']}), "
                    f"states {c['states_api']}, the same state as through the service for {c['same_state']:,} of {n:,}"
                )
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
