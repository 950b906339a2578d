"""The rep's workspace pages through the Flask test client: every page in zh and en, a rep sees
only their own leads and the pool, claims (and reads why a claim is refused), logs follow-ups in
the generated form (errors next to the field, hidden values ignored), creates a lead, changes a
stage, fills and acknowledges a handover."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import World, world
from sqlalchemy import func, select
from web_support import csrf, field_block, login

from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import AuditEvent, FollowUp, Handover, Lead, PoolClaim

PAGES = ["/rep/", "/rep/leads/LA", "/rep/leads/LP", "/rep/leads/new", "/rep/pool", "/rep/handovers", "/rep/points", "/rep/health"]


def make_world(tmp_path: Path) -> World:
    return world(f"sqlite:///{tmp_path / 'fenpei.sqlite3'}", tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = make_world(tmp_path_factory.mktemp("web-rep"))
    yield w
    w.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path)
    yield w
    w.close()


def client_for(w: World, who: str, lang: str = "en"):  # type: ignore[no-untyped-def]
    client = w.app.test_client()
    login(client, who, lang)
    return client


@pytest.mark.parametrize("lang, words", [("en", ("My leads", "Pool")), ("zh", ("我的线索", "公海"))])
@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_in_both_languages(shared: World, path: str, lang: str, words: tuple[str, ...]) -> None:
    client = client_for(shared, "rep_a", lang)
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:2000]
    for word in words:
        assert word in html
    assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in html
    other = "我的线索" if lang == "en" else "My leads"
    assert other not in html


def test_login_lands_a_rep_on_the_workspace(shared: World) -> None:
    client = shared.app.test_client()
    response = client.post("/login", data={"username": "rep_a", "password": "rep-a-password-1"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/rep/")
    assert 'href="/rep/"' in client.get("/rep/").get_data(as_text=True)  # the header links the workspace


def test_a_rep_sees_only_own_leads(shared: World) -> None:
    a = client_for(shared, "rep_a")
    html = a.get("/rep/").get_data(as_text=True)
    assert 'data-lead="LA"' in html and 'data-lead="LB"' not in html and "LB" not in html and "LW" not in html
    for other in ("LB", "LW", "nope"):
        assert a.get(f"/rep/leads/{other}").status_code == 404
    pool = a.get("/rep/pool").get_data(as_text=True)
    assert 'data-test="pool-row" data-lead="LP"' in pool and "LB" not in pool and "LW" not in pool
    b = client_for(shared, "rep_b")
    html = b.get("/rep/").get_data(as_text=True)
    assert 'data-lead="LB"' in html and 'data-lead="LA"' not in html
    assert b.get("/rep/leads/LA").status_code == 404
    # nor through the form state of a lead that is not theirs
    token = csrf(b, "/rep/")
    r = b.post("/forms/east/followup/state", json={"values": {}, "lead": "LA"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 404


def test_my_leads_say_what_to_do_next(shared: World) -> None:
    html = client_for(shared, "rep_a").get("/rep/").get_data(as_text=True)
    row = re.search(r'<li class="agenda-item (\w+)" data-test="lead-row" data-lead="LA".*?</li>', html, re.S)
    assert row
    # LA was assigned on 2026-11-23 and never followed up: past the 3-day rule, or (before that) due
    expected = "red" if dt.datetime.now(dt.UTC) >= dt.datetime(2026, 11, 26, 1, tzinfo=dt.UTC) else "yellow"
    assert row.group(1) == expected
    assert 'data-test="next-step"' in row.group(0)


def test_managers_and_admins_have_no_rep_workspace(shared: World) -> None:
    assert client_for(shared, "mgr_east").get("/rep/").status_code == 403
    assert client_for(shared, "admin").get("/rep/pool").status_code == 403
    assert shared.app.test_client().get("/rep/").status_code == 302  # to the login page


def test_a_rep_claims_from_the_pool(fresh: World) -> None:
    a = client_for(fresh, "rep_a")
    token = csrf(a, "/rep/pool")
    response = a.post("/rep/pool/LP/claim", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/rep/leads/LP")
    assert 'data-lead="LP"' in a.get("/rep/").get_data(as_text=True)
    assert 'data-test="pool-empty"' in a.get("/rep/pool").get_data(as_text=True)


@pytest.mark.parametrize("lang, reason", [("en", "daily claim limit reached (3 of 3 today)"), ("zh", "已达到每日领取上限(今日已领 3 条,上限 3 条)")])
def test_a_refused_claim_shows_the_reason(fresh: World, lang: str, reason: str) -> None:
    with session_scope(workspace_of(fresh.app).sessions, write_lock=True) as s:
        s.add_all(PoolClaim(lead_id="LA", rep_id="r02", at=dt.datetime.now(dt.UTC)) for _ in range(3))
    a = client_for(fresh, "rep_a", lang)
    response = a.post("/rep/pool/LP/claim", data={"csrf_token": csrf(a, "/rep/pool")})
    html = response.get_data(as_text=True)
    assert response.status_code == 422  # as the API answers it
    m = re.search(r'<p class="field-error claim-refusal" role="alert" data-test="claim-refusal" data-claim-refusal-for="LP">(.*?)</p>', html)
    assert m and m.group(1) == reason
    # the API gives the page's script the same reason
    r = a.post("/api/v1/pool/claim", json={"leads": ["LP"]}, headers={"X-CSRF-Token": csrf(a, "/rep/pool"), "Accept-Language": "zh-CN" if lang == "zh" else "en"})
    assert r.status_code == 422 and r.get_json()["error"]["problems"][0]["message"] == reason


def test_a_post_needs_the_csrf_token(fresh: World) -> None:
    a = client_for(fresh, "rep_a")
    assert a.post("/rep/pool/LP/claim").status_code == 403
    assert a.post("/rep/leads/LA/followup", data={"method": "call"}).status_code == 403
    assert a.post("/forms/east/followup/state", json={"values": {}}).status_code == 403


def followups(w: World, lead: str) -> list[dict[str, object]]:
    with session_scope(workspace_of(w.app).sessions) as s:
        return [f.data for f in s.scalars(select(FollowUp).where(FollowUp.lead_id == lead))]


@pytest.mark.parametrize("lang, message", [("en", "this field is required"), ("zh", "此项为必填")])
def test_a_visit_without_notes_comes_back_with_the_error_next_to_visit_notes(fresh: World, lang: str, message: str) -> None:
    a = client_for(fresh, "rep_a", lang)
    response = a.post("/rep/leads/LA/followup", data={"csrf_token": csrf(a, "/rep/leads/LA"), "method": "visit", "summary": "showed the demo to the CIO"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    notes = field_block(html, "visit_notes")
    assert f'<p class="field-error" data-error-for="visit_notes" id="error-visit_notes" role="alert">{message}</p>' in notes
    assert "required" in notes.split(">")[0] and " hidden" not in notes.split(">")[0]  # shown and marked required
    assert 'value="visit" checked' in field_block(html, "method")  # what was entered is kept
    assert "showed the demo to the CIO" in field_block(html, "summary")
    assert followups(fresh, "LA") == []


def test_a_hidden_fields_value_is_ignored(fresh: World) -> None:
    a = client_for(fresh, "rep_a")
    form = {"csrf_token": csrf(a, "/rep/leads/LA"), "method": "call", "summary": "called about the pilot", "visit_notes": "should not be kept", "visit_attendees": "nobody"}
    response = a.post("/rep/leads/LA/followup", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert followups(fresh, "LA") == [{"method": "call", "summary": "called about the pilot"}]
    page = a.get("/rep/leads/LA").get_data(as_text=True)
    assert 'data-test="followup-entry"' in page and "called about the pilot" in page
    assert "· Rep 2</p>" in page  # the rep's name, not the roster id r02
    notes = field_block(page, "visit_notes")  # a fresh form: the visit fields start hidden
    assert " hidden" in notes.split(">")[0] and "disabled" in notes


def test_a_visit_with_notes_is_logged(fresh: World) -> None:
    a = client_for(fresh, "rep_a", "zh")
    form = {"csrf_token": csrf(a, "/rep/leads/LA"), "method": "visit", "summary": "上门演示了产品", "visit_notes": "见了 CIO", "next_followup_date": "2026-12-03"}
    assert a.post("/rep/leads/LA/followup", data=form).status_code == 302
    assert followups(fresh, "LA") == [{"method": "visit", "summary": "上门演示了产品", "visit_notes": "见了 CIO", "next_followup_date": "2026-12-03"}]
    assert "已记录跟进" in a.get("/rep/leads/LA").get_data(as_text=True)


def test_the_form_state_endpoint_is_the_one_evaluator(shared: World) -> None:
    a = client_for(shared, "rep_a", "zh")
    headers = {"X-CSRF-Token": csrf(a, "/rep/")}
    visit = a.post("/forms/east/followup/state", json={"values": {"method": ["visit"]}, "lead": "LA"}, headers=headers).get_json()
    assert "visit_notes" in visit["visible"] and "visit_notes" in visit["required"] and visit["errors"] == {}
    call = a.post("/forms/east/followup/state", json={"values": {"method": "call", "visit_notes": ["x"]}}, headers=headers).get_json()
    assert "visit_notes" in call["hidden"] and "visit_notes" not in call["required"]
    submit = a.post("/forms/east/followup/state", json={"values": {"method": "visit", "summary": "hello there"}, "submit": True}, headers=headers).get_json()
    assert submit["errors"] == {"visit_notes": "此项为必填"}
    lead = a.post("/forms/east/new_lead/state", json={"values": {}, "submit": True}, headers=headers).get_json()
    assert {"company", "industry", "region", "contact", "phone"} <= set(lead["errors"])
    assert a.post("/forms/east/nope/state", json={"values": {}}, headers=headers).status_code == 404
    assert a.post("/forms/west/followup/state", json={"values": {}}, headers=headers).status_code == 404
    assert a.post("/forms/east/followup/state", data="x", headers=headers).status_code == 400


def test_a_rep_creates_a_lead_in_the_generated_form(fresh: World) -> None:
    a = client_for(fresh, "rep_a")
    page = a.get("/rep/leads/new").get_data(as_text=True)
    order = [m.group(1) for m in re.finditer(r'data-field="(\w+)"', page)]
    assert order[:3] == ["company", "credit_code", "industry"] and "stage" not in order
    token = csrf(a, "/rep/leads/new")
    bad = a.post("/rep/leads/new", data={"csrf_token": token, "company": "杭州云帆", "industry": "internet", "region": "east", "contact": "周敏", "phone": "not a phone"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "is not a phone number" in field_block(html, "phone") and 'value="杭州云帆"' in field_block(html, "company")
    good = a.post("/rep/leads/new", data={"csrf_token": token, "company": "杭州云帆", "industry": "internet", "region": "east", "contact": "周敏", "phone": "13800138000", "budget_confirmed": ["false", "true"]})
    assert good.status_code == 302
    with session_scope(workspace_of(fresh.app).sessions) as s:
        lead = s.scalar(select(Lead).where(Lead.fields["company"].as_string() == "杭州云帆"))
        assert lead is not None and lead.state == "new" and lead.fields["budget_confirmed"] is True and lead.fields["stage"] == "new"


def test_a_stage_change_asks_for_the_reason_when_lost(fresh: World) -> None:
    a = client_for(fresh, "rep_a")
    token = csrf(a, "/rep/leads/LA")
    bad = a.post("/rep/leads/LA/stage", data={"csrf_token": token, "stage": "lost"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "this field is required" in field_block(html, "lost_reason") and "this field is required" in field_block(html, "change_note")
    ok = a.post("/rep/leads/LA/stage", data={"csrf_token": token, "stage": "proposal", "lost_reason": "price", "deal_size": "300000"})
    assert ok.status_code == 302, ok.get_data(as_text=True)[:2000]
    with session_scope(workspace_of(fresh.app).sessions) as s:
        lead = s.get(Lead, "LA")
        assert lead is not None and lead.fields["stage"] == "proposal" and "lost_reason" not in lead.fields
    lost = a.post("/rep/leads/LA/stage", data={"csrf_token": token, "stage": "lost", "lost_reason": "price", "change_note": "chose a cheaper vendor"})
    assert lost.status_code == 302, lost.get_data(as_text=True)[:2000]
    with session_scope(workspace_of(fresh.app).sessions) as s:
        reasons = list(s.scalars(select(AuditEvent.reason).where(AuditEvent.lead_id == "LA", AuditEvent.action == "update").order_by(AuditEvent.id)))
    assert reasons[-1] == "chose a cheaper vendor"  # the form's own note is kept with the change


def test_a_handover_is_filled_then_acknowledged(fresh: World) -> None:
    r = fresh.call("mgr_east", "POST", "/assignments/reassign", {"leads": ["LA"], "to": "r03", "reason": "rebalancing"})
    assert r.status_code == 200, r.get_json()
    with session_scope(workspace_of(fresh.app).sessions) as s:
        hid = s.scalar(select(Handover.id).where(Handover.lead_id == "LA"))
    a, b = client_for(fresh, "rep_a"), client_for(fresh, "rep_b", "zh")
    assert f'data-test="fill-handover-{hid}"' in a.get("/rep/handovers").get_data(as_text=True)
    assert f'data-test="fill-handover-{hid}"' in a.get("/rep/").get_data(as_text=True)
    locked = b.get("/rep/leads/LA").get_data(as_text=True)
    assert 'data-test="locked-notice"' in locked and "13800000000" not in locked and 'data-test="value-phone" class="locked"' in locked
    token = csrf(a, f"/rep/handovers/{hid}")
    bad = a.post(f"/rep/handovers/{hid}", data={"csrf_token": token, "customer_preferences": "WeChat after 6pm"})
    assert bad.status_code == 422 and "this field is required" in field_block(bad.get_data(as_text=True), "open_concerns")
    done = a.post(f"/rep/handovers/{hid}", data={"csrf_token": token, "customer_preferences": "WeChat after 6pm", "communication_history": "demo, quote 300k", "open_concerns": "price", "handover_meeting": "call", "joint_visit_date": "not a date"})
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    page = b.get("/rep/handovers").get_data(as_text=True)
    assert f'data-test="ack-handover-{hid}"' in page and "WeChat after 6pm" in page
    assert b.get(f"/rep/handovers/{hid}").status_code == 200
    ack = b.post(f"/rep/handovers/{hid}/ack", data={"csrf_token": csrf(b, "/rep/handovers")})
    assert ack.status_code == 302 and ack.headers["Location"].endswith("/rep/leads/LA")
    assert "13800000000" in b.get("/rep/leads/LA").get_data(as_text=True)
    assert a.get("/rep/leads/LA").status_code == 404  # no longer rep A's


def test_points_and_rank(fresh: World) -> None:
    a = client_for(fresh, "rep_a")
    form = {"csrf_token": csrf(a, "/rep/leads/LA"), "method": "call", "summary": "called about the pilot"}
    assert a.post("/rep/leads/LA/followup", data=form).status_code == 302
    page = a.get("/rep/points").get_data(as_text=True)
    assert 'data-test="my-rank-value"' in page and 'data-test="points-ledger"' in page


def test_weekly_health(fresh: World) -> None:
    a = client_for(fresh, "rep_a")
    page = a.get("/rep/health").get_data(as_text=True)
    lights = dict(re.findall(r'data-test="health-item-(\w+)" data-light="(\w+)"', page))
    assert set(lights) == {"overdue", "near_reclaim", "followups_week", "first_response", "handovers"}
    assert lights["followups_week"] == "red"  # LA not followed up this week
    form = {"csrf_token": csrf(a, "/rep/leads/LA"), "method": "call", "summary": "called about the pilot"}
    assert a.post("/rep/leads/LA/followup", data=form).status_code == 302
    page = a.get("/rep/health").get_data(as_text=True)
    assert dict(re.findall(r'data-test="health-item-(\w+)" data-light="(\w+)"', page))["followups_week"] == "green"
    with session_scope(workspace_of(fresh.app).sessions) as s:
        assert s.scalar(select(func.count()).select_from(FollowUp)) == 1


def test_the_workspace_on_sqlite_and_postgresql(db_url: str, tmp_path: Path) -> None:
    """The workspace's own reads (deadlines, follow-ups due, the week's figures) on both databases."""
    w = world(db_url, tmp_path)
    try:
        a = client_for(w, "rep_a", "zh")
        token = csrf(a, "/rep/")
        form = {"csrf_token": token, "method": "call", "summary": "called about the pilot", "next_followup_date": "2020-01-01"}
        assert a.post("/rep/leads/LA/followup", data=form).status_code == 302
        assert a.post("/rep/pool/LP/claim", data={"csrf_token": token}).status_code == 302
        html = a.get("/rep/").get_data(as_text=True)
        rows = re.findall(r'<li class="agenda-item (\w+)" data-test="lead-row" data-lead="(\w+)" data-urgency="(\d)"', html)
        assert [(lead, light) for light, lead, _ in rows] == [("LA", "red"), ("LP", "yellow")]  # a planned follow-up long past, then a new lead
        assert "计划于 2020-01-01 跟进" in html
        health = a.get("/rep/health").get_data(as_text=True)
        lights = dict(re.findall(r'data-test="health-item-(\w+)" data-light="(\w+)"', health))
        assert lights["overdue"] == "red" and lights["followups_week"] == "yellow"  # one of two leads followed up this week
    finally:
        w.close()


def test_the_stored_weekly_report_is_shown_when_there_is_one(fresh: World) -> None:
    from configurator.models import HealthReport
    from configurator.services.workspace import week_key
    from rule_engine import load_template

    now = dt.datetime.now(dt.UTC)
    week = week_key(load_template(Path(__file__).resolve().parents[2] / "templates" / "b2b_software.yaml"), now)
    a = client_for(fresh, "rep_a", "zh")
    assert 'data-test="health-live"' in a.get("/rep/health").get_data(as_text=True)
    with session_scope(workspace_of(fresh.app).sessions, write_lock=True) as s:
        team_id = s.scalar(select(Lead.team_id).where(Lead.id == "LA"))
        s.add(HealthReport(team_id=team_id, rep_id="r02", week=week, status="red", generated_at=now, items=[
            {"item": "visits", "value": "1/4", "status": "red", "en": "1 visit of the 4 planned", "zh": "计划 4 次拜访,完成 1 次"},
        ]))
    page = a.get("/rep/health").get_data(as_text=True)
    assert 'data-test="health-stored"' in page and "计划 4 次拜访,完成 1 次" in page
    assert re.findall(r'data-test="health-item-(\w+)" data-light="(\w+)"', page) == [("visits", "red")]
