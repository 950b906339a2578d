"""Logging in to the API: wrong passwords lock an account for a while, a changed password ends
other sessions, a revoked token stops working at once, logging out ends the session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from api_support import world

from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import User
from configurator.services import accounts


@pytest.fixture
def w(tmp_path: Path):  # type: ignore[no-untyped-def]
    built = world(f"sqlite:///{tmp_path / 'api.sqlite3'}", tmp_path)
    yield built
    built.close()


def _login(w, username: str, password: str, lang: str = "en"):  # type: ignore[no-untyped-def]
    return w.client.post("/api/v1/auth/login", json={"username": username, "password": password}, headers={"Accept-Language": lang})


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(w) -> None:  # type: ignore[no-untyped-def]
    for _ in range(accounts.LOGIN_ATTEMPTS):
        r = _login(w, "rep_a", "not-the-password")
        assert r.status_code == 401 and r.get_json()["error"]["code"] == "auth.login"
    locked = _login(w, "rep_a", "rep-a-password-1", lang="zh-CN")
    assert locked.status_code == 401
    assert locked.get_json()["error"]["code"] == "auth.locked"
    assert "已锁定" in locked.get_json()["error"]["message"]
    # Another account is not affected, and the lock ends after its time.
    assert _login(w, "rep_b", "rep-b-password-1").status_code == 200
    with session_scope(workspace_of(w.app).sessions) as s:
        user = s.query(User).filter_by(username="rep_a").one()
        user.locked_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert _login(w, "rep_a", "rep-a-password-1").status_code == 200


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(w) -> None:  # type: ignore[no-untyped-def]
    a = _login(w, "nobody", "whatever-password")
    b = _login(w, "rep_a", "whatever-password")
    assert a.status_code == b.status_code == 401
    assert a.get_json() == b.get_json()


def test_a_changed_password_ends_the_other_sessions(w) -> None:  # type: ignore[no-untyped-def]
    r = _login(w, "mgr_east", "manager-password-1")
    assert r.status_code == 200
    assert w.client.get("/api/v1/me").get_json()["username"] == "mgr_east"
    with session_scope(workspace_of(w.app).sessions) as s:
        accounts.set_password(s, s.query(User).filter_by(username="mgr_east").one(), "a-new-password-9")
    again = w.client.get("/api/v1/me")
    assert again.status_code == 401 and again.get_json()["error"]["code"] == "auth.required"


def test_logout_ends_the_session(w) -> None:  # type: ignore[no-untyped-def]
    csrf = _login(w, "mgr_east", "manager-password-1").get_json()["csrf_token"]
    assert w.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert w.client.get("/api/v1/me").status_code == 401


def test_a_revoked_token_stops_working_at_once(w) -> None:  # type: ignore[no-untyped-def]
    made = w.call("rep_a", "POST", "/tokens", {"name": "phone"})
    assert made.status_code == 201
    token = made.get_json()["token"]
    listed = w.call("rep_a", "GET", "/tokens").get_json()
    assert all("token" not in t for t in listed) and any(t["prefix"] == token[:10] for t in listed)
    assert w.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # Another user cannot revoke it; its owner can.
    assert w.call("rep_b", "DELETE", f"/tokens/{made.get_json()['id']}").status_code == 404
    assert w.call("rep_a", "DELETE", f"/tokens/{made.get_json()['id']}").status_code == 200
    gone = w.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401 and gone.get_json()["error"]["code"] == "auth.token"


@pytest.mark.parametrize("header", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer fp_not-a-real-token", "Token abc"])
def test_bad_authorization_headers_are_401(w, header: str) -> None:  # type: ignore[no-untyped-def]
    r = w.client.get("/api/v1/me", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] in ("auth.scheme", "auth.token")


def test_an_empty_body_is_a_clear_400(w) -> None:  # type: ignore[no-untyped-def]
    r = w.client.post("/api/v1/pool/claim", data=b"", headers={**w.headers("rep_a"), "Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "http.empty"


@pytest.mark.parametrize("period", ["2026-13", "9999-W99", "0000", "2026-Q5", "nonsense"])
def test_points_periods_are_checked(w, period: str) -> None:  # type: ignore[no-untyped-def]
    for path in (f"/teams/east/points/leaderboard?period={period}", f"/teams/east/points/ledger?period={period}"):
        r = w.call("mgr_east", "GET", path)
        assert r.status_code in (400, 422), (path, r.get_json())
    assert w.call("mgr_east", "GET", "/teams/east/points/leaderboard?period=2026-11").status_code == 200


def test_a_followup_dated_before_the_assignment_is_refused(w) -> None:  # type: ignore[no-untyped-def]
    r = w.call("rep_a", "POST", "/leads/LA/followups", {"data": {"method": "call", "summary": "聊了预算和时间"}, "at": "0001-01-01T00:00:00-14:00"})
    assert r.status_code == 422 and r.get_json()["error"]["problems"][0]["path"] == "$.at"


def test_a_leads_followups_are_listed_for_those_who_see_the_lead(w) -> None:  # type: ignore[no-untyped-def]
    for summary in ("第一次电话沟通", "第二次电话沟通"):
        assert w.call("rep_a", "POST", "/leads/LA/followups", {"data": {"method": "call", "summary": summary}}).status_code == 201
    mine = w.call("rep_a", "GET", "/leads/LA/followups")
    assert mine.status_code == 200
    assert [f["data"]["summary"] for f in mine.get_json()] == ["第二次电话沟通", "第一次电话沟通"]
    assert w.call("mgr_east", "GET", "/leads/LA/followups?limit=1").get_json()[0]["data"]["summary"] == "第二次电话沟通"
    assert w.call("rep_b", "GET", "/leads/LA/followups").status_code == 404
    assert w.call("mgr_west", "GET", "/leads/LA/followups").status_code == 404


def test_a_stage_change_keeps_its_note_in_the_audit_trail(w) -> None:  # type: ignore[no-untyped-def]
    r = w.call("rep_a", "POST", "/leads/LA/stage", {"stage": "contacted", "note": "客户同意下周演示"})
    assert r.status_code == 200, r.get_json()
    trail = w.call("rep_a", "GET", "/leads/LA/audit").get_json()
    assert trail[-1]["action"] == "update" and trail[-1]["reason"] == "客户同意下周演示"
