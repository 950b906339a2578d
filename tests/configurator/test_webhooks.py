"""Webhooks: events read from the audit trail, ledger and follow-ups become signed deliveries to a
real HTTP receiver, retried with backoff, never duplicated; the admin-only API that registers them.

Every test runs on SQLite and on PostgreSQL (``db_url``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from configurator import runners, tasks
from configurator.app import create_app, workspace_of
from configurator.context import Workspace
from configurator.db import session_scope
from configurator.migrate import upgrade
from configurator.models import Job, Webhook, WebhookDelivery
from configurator.services import accounts
from configurator.services import assignment as assign_svc
from configurator.services import audit as audit_svc
from configurator.services import leads as leads_svc
from configurator.services import pool as pool_svc
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from configurator.services import webhooks as svc
from configurator.settings import Settings
from rule_engine import Rep

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
DAY = dt.timedelta(days=1)

TEMPLATE = """\
fenpei: 1
name: hooks_test
title: {{zh: 钩子测试, en: Hooks test}}
timezone: Asia/Shanghai
fields:
  company: {{type: string}}
  tier: {{type: enum, options: [A, B]}}
rep_fields:
  level: {{type: enum, options: [junior, senior]}}
load:
  default_weight: 1
  cap: {cap}
assignment:
  policies:
    - {{name: rotation, strategy: round_robin, on_no_candidate: pool}}
reclaim:
  rules:
    - name: no_first_followup
      title: {{zh: 3 天未首次跟进, en: No first follow-up within 3 days}}
      since: assigned
      days: 3
      when: 'followup_count == 0'
      action: pool
  claim:
    daily_limit: 2
    max_held: 3
points:
  period: month
  rules:
    - {{name: touch, "on": followup.logged, amount: 1, once: per_lead}}
    - {{name: lost, "on": lead.reclaimed, amount: -5, to: previous_owner}}
"""

REPS = [Rep("r1", "Ann", {"level": "senior"}), Rep("r2", "Bo", {"level": "junior"}), Rep("r3", "Cy", {"level": "senior"})]


# ------------------------------------------------------------------------------------------------
# A real receiver
# ------------------------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with the next scripted status (then 200)."""

    url: str
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0

    def events(self, path: str = "/hook") -> list[tuple[str, dict[str, Any]]]:
        return [(r.json["event"], r.json["data"]) for r in self.received if r.path == path]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.received.append(Received(self.path, {k: v for k, v in self.headers.items()}, body))
                status = state.answers.pop(0) if state.answers else 200
            if state.delay:
                threading.Event().wait(state.delay)
            text = b"ok" if status < 300 else b"receiver is down"
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ------------------------------------------------------------------------------------------------
# The database and its team
# ------------------------------------------------------------------------------------------------


@pytest.fixture()
def ws(db_url: str, tmp_path: Path) -> Iterator[Workspace]:
    upgrade(db_url)
    workspace = Workspace(Settings(instance=tmp_path, database_url=db_url, broker_url=f"sqlite:///{tmp_path / 'broker.sqlite3'}"))
    yield workspace
    workspace.engine.dispose()


def build(sessions: sessionmaker[Session], tiers: list[str], *, teams: tuple[str, ...] = ("east",)) -> None:
    """The template (version 1), the teams with reps r1-r3 (east) and leads L0.. waiting in east."""
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, TEMPLATE.format(cap=20))
        version = tmpl_svc.publish(s, "hooks_test", now=T0 - DAY)
        for slug in teams:
            team = teams_svc.create_team(s, slug, slug, "hooks_test")
            if slug == "east":
                teams_svc.upsert_reps(s, team, REPS)
                for i, tier in enumerate(tiers):
                    leads_svc.add_lead(s, team, version, {"id": f"L{i}", "company": "Acme", "tier": tier}, T0 - dt.timedelta(hours=1) + dt.timedelta(minutes=i))


def add_hook(sessions: sessionmaker[Session], url: str, events: tuple[str, ...] = svc.EVENTS, team: str | None = None) -> tuple[int, str]:
    with session_scope(sessions) as s:
        hook = svc.create_webhook(s, url, events, "admin", dt.datetime.now(dt.UTC), team=team)
        return hook.id, hook.secret


def assign(sessions: sessionmaker[Session]) -> dict[str, str]:
    with session_scope(sessions, write_lock=True) as s:
        return assign_svc.assign_pending(s, teams_svc.get_team(s, "east"), T0).assigned


def run_pass(ws: Workspace, webhooks: list[int] | None = None) -> dict[str, Any]:
    """One webhook job, submitted and run in this process as a worker would."""
    with session_scope(ws.sessions, write_lock=True) as s:
        job_id, _ = runners.submit_webhooks(s, dt.datetime.now(dt.UTC), lambda _id: None, webhooks=webhooks)
    assert runners.execute(ws, job_id, lease_seconds=60) == "done"
    with session_scope(ws.sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return dict(job.result or {})


def deliveries(sessions: sessionmaker[Session], hook_id: int | None = None) -> list[WebhookDelivery]:
    with session_scope(sessions) as s:
        stmt = select(WebhookDelivery).order_by(WebhookDelivery.id)
        if hook_id is not None:
            stmt = stmt.where(WebhookDelivery.webhook_id == hook_id)
        return list(s.scalars(stmt))


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


# ------------------------------------------------------------------------------------------------
# The five events, end to end
# ------------------------------------------------------------------------------------------------


def test_each_event_reaches_a_real_receiver_signed_and_naming_what_happened(ws: Workspace, receiver: Receiver) -> None:
    sessions = ws.sessions
    build(sessions, ["B", "B"], teams=("east", "west"))
    hook_id, secret = add_hook(sessions, receiver.url + "/hook")
    west_id, _ = add_hook(sessions, receiver.url + "/west", team="west")  # another team's: only the publish concerns it

    assert assign(sessions) == {"L0": "r1", "L1": "r2"}  # lead.assigned ×2
    with session_scope(sessions, write_lock=True) as s:  # followup.logged, and +1 point (points.awarded)
        pool_svc.log_followup(s, "L1", "r2", {"note": "called"}, T0 + DAY)
    swept = pool_svc.run_sweep(sessions, "east", T0 + 3 * DAY + dt.timedelta(minutes=1))  # lead.reclaimed, and -5 points
    assert [r["lead"] for r in swept.reclaimed] == ["L0"]
    with session_scope(sessions, write_lock=True) as s:  # lead.assigned by a claim from the pool
        pool_svc.claim(s, "L0", "r3", T0 + 3 * DAY + dt.timedelta(minutes=5))
    with session_scope(sessions) as s:  # template.published
        tmpl_svc.import_draft(s, TEMPLATE.format(cap=30))
        tmpl_svc.publish(s, "hooks_test", actor="admin", note="cap 30", now=T0 + 4 * DAY)

    result = run_pass(ws)
    assert result["delivered"] == 9 and result["retry"] == 0 and result["dispatched"] == 9  # 8 to /hook, 1 to /west

    mine = [r for r in receiver.received if r.path == "/hook"]
    for r in mine:
        # The documented recipe, written out independently of the service: HMAC-SHA256 of "<timestamp>.<body>".
        timestamp, signature = r.headers["X-Fenpei-Timestamp"], r.headers["X-Fenpei-Signature"]
        expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + r.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, expected)
        assert svc.verify(secret, timestamp, r.body, signature, dt.datetime.now(dt.UTC))
        assert not svc.verify("whsec_wrong", timestamp, r.body, signature, dt.datetime.now(dt.UTC))
        assert not svc.verify(secret, timestamp, r.body + b" ", signature, dt.datetime.now(dt.UTC))
        assert r.headers["X-Fenpei-Event"] == r.json["event"] and r.headers["Content-Type"].startswith("application/json")
        assert set(r.json) == {"id", "event", "created_at", "team", "data"}

    events = receiver.events("/hook")
    assert sorted({e for e, _ in events}) == sorted(svc.EVENTS)
    assigned = [(d["lead"], d["owner"], d["previous_owner"], d["action"]) for e, d in events if e == "lead.assigned"]
    assert assigned == [("L0", "r1", None, "assign"), ("L1", "r2", None, "assign"), ("L0", "r3", None, "claim")]
    assert [(d["lead"], d["rep"], d["data"]) for e, d in events if e == "followup.logged"] == [("L1", "r2", {"note": "called"})]
    assert [(d["lead"], d["previous_owner"], d["rule"]) for e, d in events if e == "lead.reclaimed"] == [("L0", "r1", "no_first_followup")]
    assert [(d["rep"], d["rule"], d["amount"], d["lead"]) for e, d in events if e == "points.awarded"] == [("r2", "touch", 1.0, "L1"), ("r1", "lost", -5.0, "L0")]
    assert [(d["template"], d["version"], d["note"], d["actor"]) for e, d in events if e == "template.published"] == [("hooks_test", 2, "cap 30", "admin")]
    teams = {r.json["event"]: r.json["team"] for r in mine}
    assert teams["template.published"] is None and teams["lead.assigned"] == "east"

    # The other team's webhook: nothing of east's, but the publish (it has no team).
    assert [e for e, _ in receiver.events("/west")] == ["template.published"]

    stored = deliveries(sessions, hook_id)
    assert len(stored) == 8 and all(d.status == "delivered" and d.attempts == 1 and d.last_status == 200 for d in stored)
    assert sorted(r.headers["X-Fenpei-Delivery"] for r in mine) == sorted(str(d.id) for d in stored)
    assert {r.json["id"] for r in mine} == {d.event_key for d in stored}

    # A second pass, and a job for the same webhook: nothing new, nothing sent again.
    again = run_pass(ws)
    assert again["dispatched"] == 0 and again["delivered"] == 0
    run_pass(ws, [west_id])
    assert len(receiver.received) == 9


def test_a_new_webhook_gets_only_events_after_it_was_registered(ws: Workspace, receiver: Receiver) -> None:
    build(ws.sessions, ["B"])
    assign(ws.sessions)
    hook_id, _ = add_hook(ws.sessions, receiver.url + "/hook", ("lead.assigned", "template.published"))
    assert run_pass(ws)["dispatched"] == 0 and receiver.received == []
    with session_scope(ws.sessions) as s:
        hook = s.get(Webhook, hook_id)
        assert hook is not None and hook.cursor["audit"] > 0


# ------------------------------------------------------------------------------------------------
# Retries and backoff
# ------------------------------------------------------------------------------------------------


def test_a_failed_attempt_is_recorded_and_retried_after_its_backoff(ws: Workspace, receiver: Receiver) -> None:
    sessions = ws.sessions
    build(sessions, ["B"])
    hook_id, _ = add_hook(sessions, receiver.url + "/hook", ("lead.assigned",))
    assign(sessions)
    receiver.answers = [500]
    now = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    with session_scope(sessions, write_lock=True) as s:
        assert svc.dispatch(s, hook_id, now) == svc.Dispatched(1, False)
    (delivery,) = deliveries(sessions)

    assert svc.deliver(sessions, delivery.id, clock=lambda: now) == "retry"
    (first,) = deliveries(sessions)
    assert (first.status, first.attempts, first.last_status) == ("pending", 1, 500)
    assert first.last_error == "HTTP 500: receiver is down"
    assert aware(first.next_attempt_at) == now + dt.timedelta(seconds=30)
    assert svc.deliver(sessions, delivery.id, clock=lambda: now + dt.timedelta(seconds=29)) == "skipped"  # not due yet
    assert len(receiver.received) == 1

    later = now + dt.timedelta(seconds=31)
    assert svc.deliver(sessions, delivery.id, clock=lambda: later) == "delivered"
    (done,) = deliveries(sessions)
    assert (done.status, done.attempts, done.last_status, done.last_error) == ("delivered", 2, 200, None)
    assert aware(done.delivered_at) == later and done.next_attempt_at is None
    # The same attempt asked for again (a task delivered twice): nothing is sent.
    assert svc.deliver(sessions, delivery.id, clock=lambda: later + DAY) == "skipped"
    assert len(receiver.received) == 2
    assert receiver.received[0].body == receiver.received[1].body  # the same event, the same id


def test_after_the_last_attempt_the_delivery_is_failed_and_an_admin_may_queue_it_again(ws: Workspace, receiver: Receiver) -> None:
    sessions = ws.sessions
    build(sessions, ["B"])
    hook_id, _ = add_hook(sessions, receiver.url + "/hook", ("lead.assigned",))
    assign(sessions)
    receiver.answers = [503] * svc.MAX_ATTEMPTS
    clock = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    with session_scope(sessions, write_lock=True) as s:
        svc.dispatch(s, hook_id, clock)
    (delivery,) = deliveries(sessions)
    waits = []
    for attempt in range(1, svc.MAX_ATTEMPTS + 1):
        state = svc.deliver(sessions, delivery.id, clock=lambda: clock)
        (row,) = deliveries(sessions)
        assert row.attempts == attempt and row.last_status == 503
        if attempt < svc.MAX_ATTEMPTS:
            assert state == "retry"
            next_at = aware(row.next_attempt_at)
            assert next_at is not None
            waits.append(int((next_at - clock).total_seconds()))
            clock = next_at
        else:
            assert state == "failed" and row.status == "failed" and row.next_attempt_at is None
    assert waits == [30, 60, 120, 240, 480, 960, 1920]
    assert svc.backoff(8) == svc.backoff(20) == dt.timedelta(hours=1)
    assert svc.deliver(sessions, delivery.id, clock=lambda: clock + DAY) == "skipped"
    assert len(receiver.received) == svc.MAX_ATTEMPTS

    with session_scope(sessions) as s:
        again = svc.requeue(s, hook_id, delivery.id, clock + DAY)
        assert (again.status, again.attempts) == ("pending", 0)
    assert svc.deliver(sessions, delivery.id, clock=lambda: clock + DAY) == "delivered"


def test_a_receiver_that_does_not_answer_is_an_error_recorded_without_a_status(ws: Workspace) -> None:
    sessions = ws.sessions
    build(sessions, ["B"])
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook_id, _ = add_hook(sessions, f"http://127.0.0.1:{port}/hook", ("lead.assigned",))
    assign(sessions)
    now = dt.datetime.now(dt.UTC)
    with session_scope(sessions, write_lock=True) as s:
        svc.dispatch(s, hook_id, now)
    (delivery,) = deliveries(sessions)
    assert svc.deliver(sessions, delivery.id, clock=lambda: now) == "retry"
    (row,) = deliveries(sessions)
    assert row.last_status is None and row.last_error and "refused" in row.last_error.lower()


# ------------------------------------------------------------------------------------------------
# Idempotency: no duplicate deliveries, no second send
# ------------------------------------------------------------------------------------------------


def test_two_dispatchers_at_once_make_each_delivery_once(ws: Workspace, receiver: Receiver) -> None:
    sessions = ws.sessions
    build(sessions, [("A", "B")[i % 2] for i in range(30)])
    hook_id, _ = add_hook(sessions, receiver.url + "/hook", ("lead.assigned",))
    assign(sessions)
    now = dt.datetime.now(dt.UTC)
    barrier = threading.Barrier(2)
    made: list[int] = []
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            barrier.wait(5)
            more = True
            while more:
                with session_scope(sessions, write_lock=True) as s:
                    done = svc.dispatch(s, hook_id, now, batch=7)  # several batches each
                made.append(done.created)
                more = done.more
        except BaseException as exc:  # shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    rows = deliveries(sessions)
    assert sum(made) == len(rows) == 30
    assert len({d.event_key for d in rows}) == 30
    with session_scope(sessions, write_lock=True) as s:
        assert svc.dispatch(s, hook_id, now) == svc.Dispatched(0, False)  # and once more: nothing


def test_two_workers_sending_the_same_delivery_send_it_once(ws: Workspace, receiver: Receiver) -> None:
    sessions = ws.sessions
    build(sessions, ["B"])
    hook_id, _ = add_hook(sessions, receiver.url + "/hook", ("lead.assigned",))
    assign(sessions)
    receiver.delay = 0.3  # the first worker is still sending when the second one asks
    now = dt.datetime.now(dt.UTC)
    with session_scope(sessions, write_lock=True) as s:
        svc.dispatch(s, hook_id, now)
    (delivery,) = deliveries(sessions)
    barrier = threading.Barrier(2)
    states: list[str] = []

    def worker() -> None:
        barrier.wait(5)
        states.append(svc.deliver(sessions, delivery.id))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(states) == ["delivered", "skipped"]
    assert len(receiver.received) == 1
    (row,) = deliveries(sessions)
    assert (row.status, row.attempts) == ("delivered", 1)


def test_two_webhook_jobs_at_once_send_each_event_once(ws: Workspace, receiver: Receiver) -> None:
    build(ws.sessions, ["A", "B", "A", "B"])
    add_hook(ws.sessions, receiver.url + "/hook", ("lead.assigned",))
    assign(ws.sessions)
    with session_scope(ws.sessions, write_lock=True) as s:
        ids = [runners.submit_webhooks(s, dt.datetime.now(dt.UTC), lambda _id: None)[0] for _ in range(2)]
    outcomes: list[str] = []
    threads = [threading.Thread(target=lambda j=j: outcomes.append(runners.execute(ws, j, lease_seconds=60))) for j in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes == ["done", "done"]
    assert sorted(d["lead"] for _, d in receiver.events()) == ["L0", "L1", "L2", "L3"]
    # A job delivered twice: the second run finds it done and sends nothing.
    assert runners.execute(ws, ids[0], lease_seconds=60) == "done"
    assert len(receiver.received) == 4


def test_the_schedule_asks_for_one_pass_per_minute_and_none_when_nothing_waits(ws: Workspace, receiver: Receiver) -> None:
    build(ws.sessions, ["B"])
    at = dt.datetime(2026, 12, 1, 8, 0, 10, tzinfo=dt.UTC)
    assert runners.schedule_webhooks(ws, at, lambda _id: None).created == []  # no webhook at all
    hook_id, _ = add_hook(ws.sessions, receiver.url + "/hook", ("lead.assigned",))
    assert runners.schedule_webhooks(ws, at, lambda _id: None).created == []  # a webhook, nothing new
    assign(ws.sessions)
    sent: list[int] = []
    first = runners.schedule_webhooks(ws, at, sent.append)
    second = runners.schedule_webhooks(ws, at + dt.timedelta(seconds=40), sent.append)  # another scheduler, same minute
    assert len(first.created) == 1 and second.created == [] and second.existing == first.created and sent == first.created
    assert runners.execute(ws, first.created[0], lease_seconds=60) == "done"
    assert len(receiver.received) == 1
    assert runners.schedule_webhooks(ws, at + dt.timedelta(minutes=1), sent.append).created == []  # delivered: nothing waits
    beat = tasks.celery_config(ws.settings)["beat_schedule"]["fenpei-webhooks"]
    assert beat["task"] == tasks.WEBHOOKS and beat["schedule"].run_every == runners.WEBHOOKS_EVERY == dt.timedelta(minutes=1)


def test_a_row_committed_after_a_higher_id_is_still_delivered(ws: Workspace, receiver: Receiver, db_url: str) -> None:
    """On PostgreSQL ids are taken at insert and rows show at commit: a later id may be read first."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: ids always commit in order")
    sessions = ws.sessions
    hook_id, _ = add_hook(sessions, receiver.url + "/hook", ("template.published",))

    def publish_row(s: Session, note: str) -> None:
        audit_svc.record(s, at=dt.datetime.now(dt.UTC), team_id=None, actor="admin", action="publish", en="", zh="", reason=note)

    slow = sessions()
    publish_row(slow, "slow")  # takes the lower id, commits later
    slow.flush()
    with session_scope(sessions) as s:
        publish_row(s, "fast")
    now = dt.datetime.now(dt.UTC)
    with session_scope(sessions, write_lock=True) as s:
        assert svc.dispatch(s, hook_id, now).created == 1
    slow.commit()
    slow.close()
    with session_scope(sessions, write_lock=True) as s:
        assert svc.dispatch(s, hook_id, now + dt.timedelta(seconds=5)).created == 1
    assert sorted(d.payload["data"]["note"] for d in deliveries(sessions)) == ["fast", "slow"]
    with session_scope(sessions, write_lock=True) as s:  # once the gap is given up, it is forgotten
        svc.dispatch(s, hook_id, now + svc.GAP_WAIT + dt.timedelta(seconds=1))
        hook = s.get(Webhook, hook_id)
        assert hook is not None and hook.cursor["gaps"] == {}


# ------------------------------------------------------------------------------------------------
# The API
# ------------------------------------------------------------------------------------------------


@pytest.fixture()
def api(ws: Workspace) -> Iterator[tuple[Any, dict[str, dict[str, str]]]]:
    app = create_app({"FENPEI_SETTINGS": ws.settings, "TESTING": True})
    headers = {}
    with session_scope(workspace_of(app).sessions) as s:
        for name, role in (("root", "admin"), ("boss", "manager")):
            user, _ = accounts.create_user(s, name, role, password="a-long-password")
            _, token = accounts.create_token(s, user, "tests", dt.datetime.now(dt.UTC))
            headers[role] = {"Authorization": f"Bearer {token}"}
    yield app.test_client(), headers
    workspace_of(app).engine.dispose()


def test_only_an_admin_registers_webhooks_and_bad_urls_or_events_are_refused_by_field(api: Any, ws: Workspace, receiver: Receiver) -> None:
    client, headers = api
    build(ws.sessions, ["B"])
    body = {"url": receiver.url + "/hook", "events": ["lead.assigned"]}
    assert client.post("/api/v1/webhooks", json=body, headers=headers["manager"]).status_code == 403
    assert client.post("/api/v1/webhooks", json=body).status_code == 401

    cases = [
        ({"url": "ftp://example.com/x", "events": ["lead.assigned"]}, "$.url"),
        ({"url": "not a url", "events": ["lead.assigned"]}, "$.url"),
        ({"url": receiver.url, "events": ["lead.exploded"]}, "$.events[0]"),
        ({"url": receiver.url, "events": []}, "$.events"),
        ({"url": receiver.url, "events": ["lead.assigned"], "team": "nowhere"}, "$.team"),
        ({"url": receiver.url, "events": ["lead.assigned"], "secret": "mine"}, "$.secret"),
    ]
    for bad, path in cases:
        answer = client.post("/api/v1/webhooks", json=bad, headers=headers["admin"])
        assert answer.status_code == 422, (bad, answer.get_json())
        assert [p["path"] for p in answer.get_json()["error"]["problems"]] == [path], bad
    with session_scope(ws.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Webhook)) == 0

    created = client.post("/api/v1/webhooks", json={**body, "team": "east"}, headers=headers["admin"])
    assert created.status_code == 201
    hook = created.get_json()
    secret = hook["secret"]
    assert secret.startswith("whsec_") and hook["team"] == "east" and hook["events"] == ["lead.assigned"] and hook["active"] is True
    listed = client.get("/api/v1/webhooks", headers=headers["admin"])
    assert listed.status_code == 200 and secret not in listed.get_data(as_text=True)
    assert [(h["id"], h["deliveries"]) for h in listed.get_json()] == [(hook["id"], {"pending": 0, "delivered": 0, "failed": 0})]
    assert client.get("/api/v1/webhooks", headers=headers["manager"]).status_code == 403
    shown = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=headers["admin"])
    gone = client.delete(f"/api/v1/webhooks/{hook['id']}", headers=headers["admin"])
    assert shown.status_code == gone.status_code == 200 and all(secret not in r.get_data(as_text=True) for r in (shown, gone))


def test_deliveries_are_listed_retried_and_a_webhook_deactivated(api: Any, ws: Workspace, receiver: Receiver) -> None:
    client, headers = api
    admin = headers["admin"]
    build(ws.sessions, ["B", "B"])
    hook = client.post("/api/v1/webhooks", json={"url": receiver.url + "/hook", "events": ["lead.assigned"]}, headers=admin).get_json()
    with session_scope(ws.sessions) as s:  # the change asked for this minute's pass
        assert s.scalar(select(func.count()).select_from(Job).where(Job.kind == "webhooks", Job.dedup.like("webhooks:%"))) == 1
    assign(ws.sessions)
    receiver.answers = [500]
    run_pass(ws)
    listed = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=admin).get_json()
    by_lead = {d["payload"]["data"]["lead"]: d for d in listed}
    assert (by_lead["L0"]["status"], by_lead["L0"]["last_status"], by_lead["L0"]["last_error"]) == ("pending", 500, "HTTP 500: receiver is down")
    assert (by_lead["L1"]["status"], by_lead["L1"]["last_status"]) == ("delivered", 200)
    assert [d["id"] for d in listed] == sorted((d["id"] for d in listed), reverse=True)  # newest first
    only = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries?status=delivered", headers=admin).get_json()
    assert [d["payload"]["data"]["lead"] for d in only] == ["L1"]

    failed_id = by_lead["L0"]["id"]
    retry = f"/api/v1/webhooks/{hook['id']}/deliveries/{failed_id}/retry"
    assert client.post(retry, headers=admin).status_code == 409  # still pending, not failed
    with session_scope(ws.sessions) as s:
        s.execute(update(WebhookDelivery).where(WebhookDelivery.id == failed_id).values(status="failed", attempts=svc.MAX_ATTEMPTS, next_attempt_at=None))
    again = client.post(retry, headers=admin)
    assert again.status_code == 202 and (again.get_json()["status"], again.get_json()["attempts"]) == ("pending", 0)
    assert client.post(retry, headers=headers["manager"]).status_code == 403
    assert client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/999999/retry", headers=admin).status_code == 404
    with session_scope(ws.sessions) as s:
        job = s.scalars(select(Job).where(Job.kind == "webhooks").order_by(Job.id.desc()).limit(1)).one()  # the retry's
        assert job.status == "pending" and job.params["webhooks"] == [hook["id"]]
        job_id = job.id
    assert runners.execute(ws, job_id, lease_seconds=60) == "done"
    assert sorted(d["lead"] for _, d in receiver.events()) == ["L0", "L0", "L1"]

    gone = client.delete(f"/api/v1/webhooks/{hook['id']}", headers=admin)
    assert gone.status_code == 200 and gone.get_json()["active"] is False and "secret" not in gone.get_json()
    assert client.delete("/api/v1/webhooks/999999", headers=admin).status_code == 404
    with session_scope(ws.sessions) as s:  # a new event after deactivation is not dispatched
        tmpl_svc.import_draft(s, TEMPLATE.format(cap=31))
        tmpl_svc.publish(s, "hooks_test")
    assert run_pass(ws)["dispatched"] == 0
