"""Who may see and touch what through the API: the endpoint x role x object table, a rep's lists
and exports, all-or-nothing bulk calls, mass assignment, CSRF and the session cookie, formula
cells in exports, size and page limits, and errors in the caller's language.

The expected statuses are written by hand from the rules in ``configurator/api/access.py``:
an admin does everything; a manager acts on the leads of the teams they steer (but logs no
follow-up, claims and releases nothing: those are a rep's own); a rep sees their own leads and
their team's pool, acts on their own leads and claims from the pool; an object the caller may not
see is 404, a visible one they may not act on is 403, a role the operation does not admit is 403,
and nobody logged in is 401. Refused calls change nothing.

Every test runs on SQLite and on PostgreSQL. Each installation is a copy of one pristine world
(a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL): a call that should change
something gets a fresh copy, calls that read or should be refused share one.
"""

from __future__ import annotations

import csv
import io
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import World, lead_fields, world
from sqlalchemy import create_engine, func, select, text

from configurator.app import create_app, workspace_of
from configurator.db import session_scope
from configurator.models import AuditEvent, FollowUp, Handover, Lead, PointEntry, PoolClaim, User
from configurator.services import teams as teams_svc
from configurator.settings import Settings
from rule_engine import Rep as EngineRep

LEADS = ("LA", "LB", "LP", "LW")  # rep A's own, rep B's own, east's pool, the west team's
WHO = ("admin", "mgr_east", "mgr_west", "rep_a", "rep_b", None)  # None: anonymous
PASSWORDS = {"admin": "admin-password-1", "mgr_east": "manager-password-1", "rep_a": "rep-a-password-1"}


# ------------------------------------------------------------------------------------------------
# Installations
# ------------------------------------------------------------------------------------------------


class Installations:
    """Fresh copies of the API test world (plus w02, a second west rep to reassign to)."""

    def __init__(self, backend: str, root: Path, pg_admin: str | None) -> None:
        self.backend = backend
        self.root = root
        self.pg_admin = pg_admin
        self.databases: list[str] = []  # PostgreSQL: the pristine database, and the shared one
        self.worlds: list[tuple[World, str]] = []  # made for the current test
        self.made = 0
        self._shared: World | None = None
        self.pristine = self._database("pristine")
        base = world(self.pristine, root / "pristine")
        with session_scope(workspace_of(base.app).sessions, write_lock=True) as s:
            west = teams_svc.get_team(s, "west")
            teams_svc.upsert_reps(s, west, [EngineRep(id="w02", name="West 2", attrs={"level": "senior", "regions": ["east", "west"]})])
        self.tokens = dict(base.tokens)
        base.close()

    def _database(self, label: str) -> str:
        if self.pg_admin is None:
            (self.root / label).mkdir()
            return f"sqlite:///{self.root / label / 'fenpei.sqlite3'}"
        name = f"fenpei_test_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{self.databases[0]}"' if self.databases else ""
        engine = create_engine(self.pg_admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
        engine.dispose()
        if not self.databases:
            self.databases.append(name)
        return self.pg_admin.rsplit("/", 1)[0] + f"/{name}"

    def fresh(self, *, cookie_secure: bool = False, max_body: int = 16 * 1024 * 1024) -> World:
        """A new installation in the pristine state (closed, and on PostgreSQL dropped, after the test)."""
        label = f"w{self.made}"
        self.made += 1
        url = self._database(label)
        if self.pg_admin is None:
            shutil.copy(self.root / "pristine" / "fenpei.sqlite3", self.root / label / "fenpei.sqlite3")
        instance = self.root / label
        instance.mkdir(exist_ok=True)
        settings = Settings(instance=instance, database_url=url, broker_url=f"sqlite:///{instance / 'broker.sqlite3'}", cookie_secure=cookie_secure, max_body=max_body)
        app = create_app({"TESTING": True, "FENPEI_SETTINGS": settings})
        w = World(app, app.test_client(), dict(self.tokens))
        self.worlds.append((w, url))
        return w

    @property
    def shared(self) -> World:
        """One installation for calls that read, or that must be refused (and so change nothing)."""
        if self._shared is None:
            self._shared, url = self.fresh(), self.worlds.pop()[1]
            self.databases.append(url.rsplit("/", 1)[1])
        return self._shared

    def discard(self) -> None:
        """Close the installations made for one test."""
        while self.worlds:
            w, url = self.worlds.pop()
            w.close()
            self._drop(url.rsplit("/", 1)[1])

    def _drop(self, name: str) -> None:
        if self.pg_admin is None:
            return
        engine = create_engine(self.pg_admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    def close(self) -> None:
        self.discard()
        if self._shared is not None:
            self._shared.close()
        for name in reversed(self.databases):
            self._drop(name)


@pytest.fixture(scope="module")
def installations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Installations]]:
    """The installations of this module by backend, made when first asked for."""
    made: dict[str, Installations] = {}
    try:
        yield made
    finally:
        for inst in made.values():
            inst.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def installs(request: pytest.FixtureRequest, installations: dict[str, Installations], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installations]:
    backend = request.param
    if backend not in installations:
        pg_admin = request.getfixturevalue("pg_server") if backend == "postgresql" else None
        installations[backend] = Installations(backend, tmp_path_factory.mktemp(f"api-access-{backend}"), pg_admin)
    inst = installations[backend]
    try:
        yield inst
    finally:
        inst.discard()


@pytest.fixture
def shared(installs: Installations) -> World:
    """One installation per backend for calls that read or must be refused (and so change nothing)."""
    return installs.shared


@pytest.fixture
def fresh(installs: Installations) -> World:
    """An installation of this test's own."""
    return installs.fresh()


def state_of(w: World) -> dict[str, Any]:
    """Everything a refused call must leave as it was: every lead, and the rows of the logs."""
    with session_scope(workspace_of(w.app).sessions) as s:
        leads = {
            lead.id: (lead.state, lead.owner_id, lead.revision, dict(lead.fields or {}), lead.followup_count, bool(lead.locked))
            for lead in s.scalars(select(Lead).order_by(Lead.id))
        }
        counts = {model.__name__: s.scalar(select(func.count()).select_from(model)) for model in (AuditEvent, FollowUp, Handover, PointEntry, PoolClaim, User)}
    return {"leads": leads, **counts}


def lead_row(w: World, lead_id: str) -> tuple[str, str | None]:
    with session_scope(workspace_of(w.app).sessions) as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None
        return lead.state, lead.owner_id


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the JSON error body with ``status`` (and ``code``)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] and error["message"] and isinstance(error["problems"], list)
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


# ------------------------------------------------------------------------------------------------
# The table: endpoint x role x lead
# ------------------------------------------------------------------------------------------------


def _to(lead: str) -> str:
    return "w02" if lead == "LW" else "r01"


Body = Callable[[str], Any] | None

# (method, path, body for the lead, {caller: expected status for LA, LB, LP, LW}).
# For rep_a, LA is their own lead and LB another rep's; for rep_b it is the other way round.
# mgr_east manages the team of LA, LB and LP and another team than LW's; mgr_west the reverse.
LEAD_TABLE: list[tuple[str, str, Body, dict[str | None, tuple[int, int, int, int]]]] = [
    ("GET", "/leads/{lead}", None, {
        #            LA   LB   LP   LW
        "admin":    (200, 200, 200, 200),
        "mgr_east": (200, 200, 200, 404),
        "mgr_west": (404, 404, 404, 200),
        "rep_a":    (200, 404, 200, 404),
        "rep_b":    (404, 200, 200, 404),
        None:       (401, 401, 401, 401),
    }),
    ("GET", "/leads/{lead}/explain", None, {
        "admin":    (200, 200, 200, 200),
        "mgr_east": (200, 200, 200, 404),
        "mgr_west": (404, 404, 404, 200),
        "rep_a":    (200, 404, 200, 404),
        "rep_b":    (404, 200, 200, 404),
        None:       (401, 401, 401, 401),
    }),
    ("GET", "/leads/{lead}/audit", None, {
        "admin":    (200, 200, 200, 200),
        "mgr_east": (200, 200, 200, 404),
        "mgr_west": (404, 404, 404, 200),
        "rep_a":    (200, 404, 200, 404),
        "rep_b":    (404, 200, 200, 404),
        None:       (401, 401, 401, 401),
    }),
    ("PATCH", "/leads/{lead}", lambda lead: {"fields": {"notes": "called back, wants a demo"}}, {
        "admin":    (200, 200, 200, 200),
        "mgr_east": (200, 200, 200, 404),
        "mgr_west": (404, 404, 404, 200),
        "rep_a":    (200, 404, 403, 404),
        "rep_b":    (404, 200, 403, 404),
        None:       (401, 401, 401, 401),
    }),
    ("POST", "/leads/{lead}/stage", lambda lead: {"stage": "contacted"}, {
        "admin":    (200, 200, 200, 200),
        "mgr_east": (200, 200, 200, 404),
        "mgr_west": (404, 404, 404, 200),
        "rep_a":    (200, 404, 403, 404),
        "rep_b":    (404, 200, 403, 404),
        None:       (401, 401, 401, 401),
    }),
    ("POST", "/leads/{lead}/followups", lambda lead: {"data": {"method": "call", "summary": "talked about the budget"}}, {
        "admin":    (403, 403, 403, 403),
        "mgr_east": (403, 403, 403, 403),
        "mgr_west": (403, 403, 403, 403),
        "rep_a":    (201, 404, 403, 404),
        "rep_b":    (404, 201, 403, 404),
        None:       (401, 401, 401, 401),
    }),
    ("POST", "/leads/{lead}/release", lambda lead: {"reason": "not a fit for us"}, {
        "admin":    (403, 403, 403, 403),
        "mgr_east": (403, 403, 403, 403),
        "mgr_west": (403, 403, 403, 403),
        "rep_a":    (200, 404, 403, 404),
        "rep_b":    (404, 200, 403, 404),
        None:       (401, 401, 401, 401),
    }),
    # A bulk call answers 403 for a lead that cannot be taken, whether unseen or not in the pool.
    ("POST", "/pool/claim", lambda lead: {"leads": [lead]}, {
        "admin":    (403, 403, 403, 403),
        "mgr_east": (403, 403, 403, 403),
        "mgr_west": (403, 403, 403, 403),
        "rep_a":    (403, 403, 200, 403),
        "rep_b":    (403, 403, 200, 403),
        None:       (401, 401, 401, 401),
    }),
    ("POST", "/assignments/reassign", lambda lead: {"leads": [lead], "to": _to(lead), "reason": "rebalancing the team"}, {
        "admin":    (200, 200, 200, 200),
        "mgr_east": (200, 200, 200, 403),
        "mgr_west": (403, 403, 403, 200),
        "rep_a":    (403, 403, 403, 403),
        "rep_b":    (403, 403, 403, 403),
        None:       (401, 401, 401, 401),
    }),
]

# Every cell runs on SQLite. On PostgreSQL a call that changes something (each needs a database of
# its own) runs for rep_a and mgr_west only; every read and every refusal runs there too.
PG_CHANGES = ("rep_a", "mgr_west")


def _backends(method: str, who: str | None, expected: int) -> tuple[str, ...]:
    changes = method != "GET" and expected < 400
    return ("sqlite", "postgresql") if not changes or who in PG_CHANGES else ("sqlite",)


LEAD_CELLS = [
    pytest.param(backend, method, path, body, who, lead, expected[i], id=f"{backend}-{method} {path} {who or 'anonymous'} {lead}")
    for method, path, body, table in LEAD_TABLE
    for who, expected in table.items()
    for i, lead in enumerate(LEADS)
    for backend in _backends(method, who, expected[i])
]


def test_the_table_covers_every_role() -> None:
    for _method, _path, _body, table in LEAD_TABLE:
        assert tuple(table) == WHO


@pytest.mark.parametrize(("installs", "method", "path", "body", "who", "lead", "expected"), LEAD_CELLS, indirect=["installs"])
def test_lead_access(installs: Installations, shared: World, method: str, path: str, body: Body, who: str | None, lead: str, expected: int) -> None:
    changes = method != "GET" and expected < 400
    w = installs.fresh() if changes else shared
    before = state_of(w)
    response = w.call(who, method, path.format(lead=lead), body(lead) if body else None)
    if expected >= 400:
        assert_error(response, expected)
        assert state_of(w) == before, "a refused call changed something"
        return
    assert response.status_code == expected, response.get_json()
    if changes:
        assert state_of(w) != before


# (method, path, body, {caller: expected status for team east, team west})
TEAM_TABLE: list[tuple[str, str, Any, dict[str | None, tuple[int, int]]]] = [
    ("GET", "/teams/{team}/leads", None, {
        #           east west
        "admin":    (200, 200),
        "mgr_east": (200, 403),
        "mgr_west": (403, 200),
        "rep_a":    (200, 403),
        "rep_b":    (200, 403),
        None:       (401, 401),
    }),
    ("GET", "/teams/{team}/pool", None, {
        "admin":    (200, 200),
        "mgr_east": (200, 403),
        "mgr_west": (403, 200),
        "rep_a":    (200, 403),
        "rep_b":    (200, 403),
        None:       (401, 401),
    }),
    ("GET", "/teams/{team}/leads/export?format=csv", None, {
        "admin":    (200, 200),
        "mgr_east": (200, 403),
        "mgr_west": (403, 200),
        "rep_a":    (200, 403),
        "rep_b":    (200, 403),
        None:       (401, 401),
    }),
    ("GET", "/teams/{team}/leads/export?format=xlsx", None, {
        "admin":    (200, 200),
        "mgr_east": (200, 403),
        "mgr_west": (403, 200),
        "rep_a":    (200, 403),
        "rep_b":    (200, 403),
        None:       (401, 401),
    }),
    ("GET", "/teams/{team}/reps", None, {
        "admin":    (200, 200),
        "mgr_east": (200, 403),
        "mgr_west": (403, 200),
        "rep_a":    (200, 403),
        "rep_b":    (200, 403),
        None:       (401, 401),
    }),
    ("GET", "/teams/{team}/handovers", None, {
        "admin":    (200, 200),
        "mgr_east": (200, 403),
        "mgr_west": (403, 200),
        "rep_a":    (200, 403),
        "rep_b":    (200, 403),
        None:       (401, 401),
    }),
    ("GET", "/teams/{team}/points/ledger", None, {
        "admin":    (200, 200),
        "mgr_east": (200, 403),
        "mgr_west": (403, 200),
        "rep_a":    (200, 403),
        "rep_b":    (200, 403),
        None:       (401, 401),
    }),
    ("GET", "/teams/{team}/audit", None, {
        "admin":    (200, 200),
        "mgr_east": (200, 403),
        "mgr_west": (403, 200),
        "rep_a":    (403, 403),
        "rep_b":    (403, 403),
        None:       (401, 401),
    }),
    ("GET", "/teams/{team}/reclaim/preview", None, {
        "admin":    (200, 200),
        "mgr_east": (200, 403),
        "mgr_west": (403, 200),
        "rep_a":    (403, 403),
        "rep_b":    (403, 403),
        None:       (401, 401),
    }),
    ("POST", "/teams/{team}/assign", {}, {
        "admin":    (200, 200),
        "mgr_east": (200, 403),
        "mgr_west": (403, 200),
        "rep_a":    (403, 403),
        "rep_b":    (403, 403),
        None:       (401, 401),
    }),
    ("POST", "/teams/{team}/leads", {"fields": lead_fields("新公司", "13911112222")}, {
        "admin":    (201, 201),
        "mgr_east": (201, 403),
        "mgr_west": (403, 201),
        "rep_a":    (201, 403),
        "rep_b":    (201, 403),
        None:       (401, 401),
    }),
]

TEAM_CELLS = [
    pytest.param(backend, method, path, body, who, team, expected[i], id=f"{backend}-{method} {path} {who or 'anonymous'} {team}")
    for method, path, body, table in TEAM_TABLE
    for who, expected in table.items()
    for i, team in enumerate(("east", "west"))
    for backend in _backends(method, who, expected[i])
]


@pytest.mark.parametrize(("installs", "method", "path", "body", "who", "team", "expected"), TEAM_CELLS, indirect=["installs"])
def test_team_access(installs: Installations, shared: World, method: str, path: str, body: Any, who: str | None, team: str, expected: int) -> None:
    changes = method != "GET" and expected < 400
    w = installs.fresh() if changes else shared
    before = state_of(w)
    response = w.call(who, method, path.format(team=team), body)
    if expected >= 400:
        assert_error(response, expected)
        assert state_of(w) == before, "a refused call changed something"
    else:
        assert response.status_code == expected, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize(
    ("who", "expected"), [("admin", 200), ("mgr_east", 403), ("mgr_west", 403), ("rep_a", 403), ("rep_b", 403), (None, 401)]
)
def test_only_an_admin_lists_users(shared: World, who: str | None, expected: int) -> None:
    assert shared.call(who, "GET", "/users").status_code == expected


# ------------------------------------------------------------------------------------------------
# What a rep sees in lists and exports
# ------------------------------------------------------------------------------------------------


def _pages(w: World, who: str, path: str) -> list[str]:
    ids: list[str] = []
    after = ""
    while True:
        response = w.call(who, "GET", f"{path}{'&' if '?' in path else '?'}limit=1{after}")
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        ids += [item["id"] for item in page["items"]]
        if page["next"] is None:
            return ids
        after = f"&after={page['next']}"


def _csv_ids(data: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "id"
    return [row[0] for row in rows[1:]]


def _xlsx_rows(data: bytes) -> list[tuple[Any, ...]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    rows = [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    return rows


@pytest.mark.parametrize(("rep", "own", "other"), [("rep_a", "LA", "LB"), ("rep_b", "LB", "LA")])
def test_a_reps_lists_and_exports_hold_none_of_another_reps_leads(shared: World, rep: str, own: str, other: str) -> None:
    for path in ("/teams/east/leads", "/teams/east/leads?state=owned", f"/teams/east/leads?owner={'r03' if rep == 'rep_a' else 'r02'}"):
        ids = _pages(shared, rep, path)
        assert other not in ids and "LW" not in ids, path
    assert sorted(_pages(shared, rep, "/teams/east/leads")) == sorted([own, "LP"])
    assert [lead["id"] for lead in shared.call(rep, "GET", "/teams/east/pool").get_json()] == ["LP"]

    response = shared.call(rep, "GET", "/teams/east/leads/export?format=csv")
    assert response.status_code == 200
    assert _csv_ids(response.data) == [own]
    response = shared.call(rep, "GET", "/teams/east/leads/export?format=xlsx")
    assert response.status_code == 200
    rows = _xlsx_rows(response.data)
    assert rows[0][0] == "id" and [row[0] for row in rows[1:]] == [own]
    assert other not in response.data.decode("latin-1")  # not in any cell, whatever the column

    # The manager's export has every lead of the team, and nothing of another team.
    assert sorted(_csv_ids(shared.call("mgr_east", "GET", "/teams/east/leads/export").data)) == ["LA", "LB", "LP"]


def test_the_giver_of_an_open_handover_sees_the_lead_but_cannot_touch_it(fresh: World) -> None:
    response = fresh.call("mgr_east", "POST", "/assignments/reassign", {"leads": ["LA"], "to": "r03", "reason": "rep A moves to key accounts"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()[0]["owner"] == "r03"
    waiting = fresh.call("rep_a", "GET", "/teams/east/handovers").get_json()
    assert [(h["lead"], h["from"], h["to"]) for h in waiting] == [("LA", "r02", "r03")]

    assert fresh.call("rep_a", "GET", "/leads/LA").status_code == 200
    before = state_of(fresh)
    assert_error(fresh.call("rep_a", "PATCH", "/leads/LA", {"fields": {"notes": "still mine?"}}), 403)
    assert_error(fresh.call("rep_a", "POST", "/leads/LA/followups", {"data": {"method": "call", "summary": "one more call"}}), 403)
    assert_error(fresh.call("rep_a", "POST", "/leads/LA/release", {"reason": "not mine any more"}), 403)
    assert state_of(fresh) == before
    assert "LA" not in _csv_ids(fresh.call("rep_a", "GET", "/teams/east/leads/export").data)

    # The new owner sees the lead without its contact details until they acknowledge the handover.
    lead = fresh.call("rep_b", "GET", "/leads/LA").get_json()
    assert lead["locked"] and "phone" not in lead["fields"] and "phone" in lead["hidden"]
    # A third rep sees none of it.
    assert fresh.call("rep_a", "GET", f"/handovers/{waiting[0]['id']}").status_code == 200


# ------------------------------------------------------------------------------------------------
# All-or-nothing bulk calls
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "path", "body", "refused"),
    [
        ("rep_a", "/pool/claim", {"leads": ["LP", "LB"]}, [1]),
        ("rep_a", "/pool/claim", {"leads": ["LW", "LP"]}, [0]),
        ("rep_a", "/pool/claim", {"leads": ["LP", "NO-SUCH-LEAD"]}, [1]),
        ("mgr_east", "/assignments/reassign", {"leads": ["LA", "LW"], "to": "r01", "reason": "rebalancing"}, [1]),
        ("mgr_east", "/assignments/reassign", {"leads": ["LW", "LA", "LB"], "to": "r01", "reason": "rebalancing"}, [0]),
        ("mgr_west", "/assignments/reassign", {"leads": ["LW", "LA"], "to": "w02", "reason": "rebalancing"}, [1]),
        ("mgr_east", "/teams/east/assign", {"leads": ["LP", "LW"]}, [1]),
    ],
)
def test_a_bulk_call_with_one_forbidden_lead_changes_nothing(shared: World, who: str, path: str, body: Any, refused: list[int]) -> None:
    before = state_of(shared)
    error = assert_error(shared.call(who, "POST", path, body), 403, "auth.lead")
    assert [p["path"] for p in error["problems"]] == [f"$.leads[{i}]" for i in refused]
    assert state_of(shared) == before
    assert lead_row(shared, "LP") == ("pool", None)
    assert lead_row(shared, "LA") == ("owned", "r02")


# ------------------------------------------------------------------------------------------------
# Mass assignment: owners, states, points and roles are never set through a field
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status", "path_refused"),
    [
        ("rep_a", "PATCH", "/leads/LA", {"fields": {"owner": "r03"}}, 422, "$.fields.owner"),
        ("rep_a", "PATCH", "/leads/LA", {"fields": {"notes": "hi"}, "owner": "r03"}, 422, "$.owner"),
        ("rep_a", "PATCH", "/leads/LA", {"fields": {"state": "pool"}}, 422, "$.fields.state"),
        ("rep_a", "PATCH", "/leads/LA", {"fields": {"owner_id": "r02", "notes": "x"}}, 422, "$.fields.owner_id"),
        ("rep_a", "PATCH", "/leads/LA", {"fields": {"tier": "A"}}, 422, "$.fields.tier"),
        ("rep_a", "PATCH", "/leads/LA", {"fields": {"points": 100}}, 422, "$.fields.points"),
        ("rep_a", "PATCH", "/leads/LA", {"fields": {"notes": "x"}, "team": "west"}, 422, "$.team"),
        ("mgr_east", "PATCH", "/leads/LB", {"fields": {"owner": "r01"}}, 422, "$.fields.owner"),
        ("rep_a", "POST", "/leads/LA/stage", {"stage": "contacted", "fields": {"owner": "r03"}}, 422, "$.fields.owner"),
        ("rep_a", "POST", "/leads/LA/stage", {"stage": "contacted", "owner": "r03"}, 422, "$.owner"),
        ("rep_a", "POST", "/leads/LA/followups", {"data": {"method": "call", "summary": "budget talk"}, "rep": "r03"}, 422, "$.rep"),
        ("rep_a", "POST", "/leads/LA/release", {"reason": "no", "to": "r03"}, 422, "$.to"),
        ("rep_a", "POST", "/pool/claim", {"leads": ["LP"], "rep": "r03"}, 422, "$.rep"),
        ("rep_a", "POST", "/teams/east/leads", {"fields": {**lead_fields("甲公司", "13911113333"), "owner": "r02"}}, 422, "$.fields.owner"),
        ("rep_a", "POST", "/teams/east/leads", {"fields": lead_fields("甲公司", "13911113333"), "owner": "r02"}, 422, "$.owner"),
        ("rep_a", "POST", "/teams/east/leads", {"fields": lead_fields("甲公司", "13911113333"), "assign": True}, 403, None),
        ("rep_a", "POST", "/users", {"username": "evil", "role": "admin", "password": "evil-password-1"}, 403, None),
        ("mgr_east", "POST", "/users", {"username": "evil", "role": "admin", "password": "evil-password-1"}, 403, None),
        ("mgr_east", "POST", "/users", {"username": "evil", "role": "manager", "teams": ["west"]}, 403, None),
        ("rep_a", "POST", "/points/1/reverse", {"reason": "unfair"}, 403, None),
        ("rep_a", "POST", "/reps/r03/status", {"status": "inactive"}, 403, None),
        ("mgr_west", "POST", "/reps/r03/status", {"status": "inactive"}, 404, None),
        ("rep_a", "POST", "/assignments/reassign", {"leads": ["LA"], "to": "r02", "reason": "mine"}, 403, None),
        ("mgr_east", "POST", "/assignments/reassign", {"leads": ["LA"], "to": "w01", "reason": "to the west"}, 422, "$.to"),
        ("admin", "POST", "/users", {"username": "new", "role": "rep", "rep": "r01", "is_admin": True}, 422, "$.is_admin"),
    ],
)
def test_mass_assignment_is_refused(shared: World, who: str, method: str, path: str, body: Any, status: int, path_refused: str | None) -> None:
    before = state_of(shared)
    error = assert_error(shared.call(who, method, path, body), status)
    if path_refused is not None:
        assert path_refused in [p["path"] for p in error["problems"]], error
    assert state_of(shared) == before


def test_an_admin_creates_a_user_with_a_role(fresh: World) -> None:
    response = fresh.call("admin", "POST", "/users", {"username": "rep_c", "role": "rep", "rep": "r01", "password": "rep-c-password-1"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["user"]["role"] == "rep"


# ------------------------------------------------------------------------------------------------
# Sessions: CSRF and cookie flags
# ------------------------------------------------------------------------------------------------


def _login(client: Any, username: str) -> Any:
    return client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORDS[username]})


def test_a_session_change_needs_the_csrf_token(fresh: World) -> None:
    client = fresh.app.test_client()
    response = _login(client, "rep_a")
    assert response.status_code == 200, response.get_json()
    csrf = response.get_json()["csrf_token"]
    assert client.get("/api/v1/me").get_json()["username"] == "rep_a"  # reading needs no token

    before = state_of(fresh)
    change = {"fields": {"notes": "from the browser"}}
    assert_error(client.patch("/api/v1/leads/LA", json=change), 403, "auth.csrf")
    assert_error(client.patch("/api/v1/leads/LA", json=change, headers={"X-CSRF-Token": "not-the-token"}), 403, "auth.csrf")
    assert_error(client.post("/api/v1/pool/claim", json={"leads": ["LP"]}), 403, "auth.csrf")
    assert_error(client.post("/api/v1/auth/logout"), 403, "auth.csrf")
    assert state_of(fresh) == before

    response = client.patch("/api/v1/leads/LA", json=change, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["lead"]["fields"]["notes"] == "from the browser"

    # Another session's token is not this one's.
    other = fresh.app.test_client()
    other_csrf = _login(other, "mgr_east").get_json()["csrf_token"]
    assert_error(client.patch("/api/v1/leads/LA", json=change, headers={"X-CSRF-Token": other_csrf}), 403, "auth.csrf")

    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert_error(client.get("/api/v1/me"), 401)


def test_a_bearer_token_needs_no_csrf_token(shared: World) -> None:
    assert shared.call("rep_a", "GET", "/me").status_code == 200
    assert_error(shared.client.get("/api/v1/me", headers={"Authorization": "Bearer fp_not-a-token"}), 401)


@pytest.mark.parametrize("secure", [True, False])
def test_the_session_cookie_flags(installs: Installations, secure: bool) -> None:
    w = installs.fresh(cookie_secure=secure)
    response = _login(w.app.test_client(), "admin")
    assert response.status_code == 200
    cookies = [v for k, v in response.headers.items() if k.lower() == "set-cookie"]
    session_cookie = [c for c in cookies if c.startswith("fenpei_session=")]
    assert len(session_cookie) == 1, cookies
    flags = [part.strip().lower() for part in session_cookie[0].split(";")[1:]]
    assert "httponly" in flags and "samesite=lax" in flags
    assert ("secure" in flags) is secure


def test_a_wrong_password_is_401_and_sets_no_session(shared: World) -> None:
    client = shared.app.test_client()
    response = client.post("/api/v1/auth/login", json={"username": "rep_a", "password": "wrong-password-1"})
    assert_error(response, 401)
    assert not [v for k, v in response.headers.items() if k.lower() == "set-cookie" and v.startswith("fenpei_session=") and "Expires=Thu, 01 Jan 1970" not in v]


# ------------------------------------------------------------------------------------------------
# Exports neutralise formula cells
# ------------------------------------------------------------------------------------------------

FORMULAS = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(1)", "\tx", "\rx", '=HYPERLINK("http://x")']
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def test_formula_cells_are_neutralised_in_csv_and_xlsx(fresh: World) -> None:
    columns = ("notes", "contact", "city")
    for i, value in enumerate(FORMULAS):
        body = {"id": f"F{i}", "fields": lead_fields(f"公司F{i}", f"1390000000{i}", **dict.fromkeys(columns, value))}
        response = fresh.call("mgr_east", "POST", "/teams/east/leads", body)
        assert response.status_code == 201, response.get_json()

    response = fresh.call("mgr_east", "GET", "/teams/east/leads/export?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    header = table[0]
    csv_rows = {row[0]: dict(zip(header, row, strict=True)) for row in table[1:]}

    response = fresh.call("mgr_east", "GET", "/teams/east/leads/export?format=xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = _xlsx_rows(response.data)
    header = [str(h) for h in rows[0]]
    xlsx_rows = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}

    for i, value in enumerate(FORMULAS):
        for column in columns:
            for cell in (csv_rows[f"F{i}"][column], xlsx_rows[f"F{i}"][column]):
                if value.startswith(("\t", "\r")):
                    # The template trims text, so a leading tab or CR never reaches the store.
                    assert cell in ("'" + value, value.strip()), (value, cell)
                else:
                    assert cell == "'" + value, (value, column, cell)
    # Whatever the column, no cell of either file starts like a formula.
    for cells in (*csv_rows.values(), *xlsx_rows.values()):
        assert not [v for v in cells.values() if isinstance(v, str) and v.startswith(DANGEROUS)], cells
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(response.data))
    assert not [c.coordinate for row in book.worksheets[0].iter_rows() for c in row if c.data_type == "f"]


@pytest.mark.parametrize("value", FORMULAS)
def test_the_writers_neutralise_every_formula_start(value: str) -> None:
    from configurator.services.exports import table_csv, table_xlsx

    rows = list(csv.reader(io.StringIO(table_csv(["v"], [[value]]).decode("utf-8-sig"), newline="")))
    assert rows[1] == ["'" + value]
    cell = _xlsx_rows(table_xlsx(["v"], [[value]]))[1][0]
    # XML reads a stored CR back as a line feed; the quote is what matters.
    assert cell in ("'" + value, "'" + value.replace("\r", "\n")), cell


# ------------------------------------------------------------------------------------------------
# Limits
# ------------------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_json(installs: Installations) -> None:
    w = installs.fresh(max_body=4096)
    big = {"fields": lead_fields("大公司", "13911114444", notes="备注" * 3000)}
    for lang, word in (("en", "too large"), ("zh-CN", "过大")):
        error = assert_error(w.call("mgr_east", "POST", "/teams/east/leads", big, lang=lang), 413, "http.too_large")
        assert word in error["message"] and "4096" in error["message"]
    # Also without a Content-Length (a chunked upload, through a server that ends the input stream).
    data = b'{"fields": {"notes": "' + b"x" * 8000 + b'"}}'
    response = w.client.patch(
        "/api/v1/leads/LA",
        input_stream=io.BytesIO(data),
        headers={**w.headers("mgr_east"), "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_error(response, 413)
    with session_scope(workspace_of(w.app).sessions) as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 4
        assert "notes" not in (s.get(Lead, "LA").fields or {})  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/teams/east/leads?limit=501", "$.query.limit"),
        ("/teams/east/leads?limit=0", "$.query.limit"),
        ("/teams/east/leads?limit=-5", "$.query.limit"),
        ("/teams/east/leads?limit=many", "$.query.limit"),
        ("/teams/east/pool?limit=501", "$.query.limit"),
        ("/teams/east/pool?offset=-1", "$.query.offset"),
        ("/teams/east/audit?limit=1001", "$.query.limit"),
        ("/teams/east/points/ledger?limit=1001", "$.query.limit"),
        ("/teams/east/leads?after=" + "x" * 65, "$.query.after"),
        ("/teams/east/leads?page=2", "$.query.page"),
    ],
)
def test_page_limits(shared: World, path: str, parameter: str) -> None:
    error = assert_error(shared.call("mgr_east", "GET", path), 400)
    assert parameter in [p["path"] for p in error["problems"]]


def test_the_largest_page_is_accepted(shared: World) -> None:
    assert shared.call("mgr_east", "GET", "/teams/east/leads?limit=500").status_code == 200
    assert shared.call("mgr_east", "GET", "/teams/east/audit?limit=1000").status_code == 200


# ------------------------------------------------------------------------------------------------
# Errors in the caller's language, with a path per field
# ------------------------------------------------------------------------------------------------


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize(
    ("lang", "chinese"),
    [("zh-CN", True), ("zh-CN,zh;q=0.9,en;q=0.8", True), ("zh", True), ("en", False), ("en-US,en;q=0.9", False), ("fr", False), ("", False)],
)
def test_errors_follow_accept_language(shared: World, lang: str, chinese: bool) -> None:
    before = state_of(shared)
    error = assert_error(shared.call("admin", "PATCH", "/leads/LA", {"fields": {"deal_size": "lots", "employees": -3}}, lang=lang), 422)
    paths = [p["path"] for p in error["problems"]]
    assert "$.fields.deal_size" in paths and "$.fields.employees" in paths, error
    assert all(_has_chinese(p["message"]) is chinese for p in error["problems"]), error
    assert _has_chinese(error["message"]) is chinese
    assert state_of(shared) == before

    for response in (shared.call("rep_a", "GET", "/leads/LB", lang=lang), shared.call(None, "GET", "/leads/LA", lang=lang), shared.call("rep_a", "GET", "/teams/east/audit", lang=lang)):
        assert _has_chinese(response.get_json()["error"]["message"]) is chinese


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "paths"),
    [
        ("mgr_east", "POST", "/teams/east/leads", {"fields": lead_fields("乙公司", "13911115555", deal_size="lots")}, ["$.fields.deal_size"]),
        ("mgr_east", "POST", "/teams/east/leads", {"id": "", "fields": lead_fields("乙公司", "13911115555", employees=0)}, ["$.id"]),
        ("mgr_east", "POST", "/teams/east/leads", {"fields": {"company": "乙公司"}}, ["$.fields.industry", "$.fields.phone"]),
        ("rep_a", "POST", "/leads/LA/stage", {"stage": "closed"}, ["$.stage"]),
        ("rep_a", "POST", "/leads/LA/stage", {"stage": "proposal", "fields": {"deal_size": -1}}, ["$.fields.deal_size"]),
        ("rep_a", "POST", "/leads/LA/followups", {"data": {"method": "fax"}}, ["$.data.method", "$.data.summary"]),
        ("rep_a", "PATCH", "/leads/LA", {"fields": {"stage": "closed", "email": "not-an-email"}}, ["$.fields.email", "$.fields.stage"]),
    ],
)
def test_each_problem_has_the_path_of_its_field_in_the_body(shared: World, who: str, method: str, path: str, body: Any, paths: list[str]) -> None:
    before = state_of(shared)
    error = assert_error(shared.call(who, method, path, body), 422)
    found = [p["path"] for p in error["problems"]]
    assert all(p in found for p in paths), error
    assert state_of(shared) == before


def test_a_body_that_is_not_json(shared: World) -> None:
    response = shared.client.patch("/api/v1/leads/LA", data="fields=1", headers={**shared.headers("admin"), "Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 415)
    response = shared.client.patch("/api/v1/leads/LA", data="{not json", headers={**shared.headers("admin"), "Content-Type": "application/json"})
    assert_error(response, 400)
