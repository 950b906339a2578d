"""The manager's pages (configurator/web/manager.py) through the Flask test client: every page in
zh and en, who may open what, the traffic lights and every chart's figures on the fixed data set
of ``dashboard_support``, and a reassignment through the API showing in the lead's audit trail."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from api_support import NOW, World, world
from dashboard_support import build
from flask.testing import FlaskClient
from sqlalchemy import insert

from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import PointEntry, Team
from configurator.web.charts import Bar, Series, bar_chart, line_chart, traffic_light

# configurator/services/pool.py's sweep (the due list runs it as dry runs) still calls
# Result.tuples(), deprecated in SQLAlchemy 2.1; only that warning is let through here.
pytestmark = pytest.mark.filterwarnings("ignore:The Result.tuples:sqlalchemy.exc.SADeprecationWarning")

PASSWORDS = {"admin": "admin-password-1", "mgr_east": "manager-password-1", "mgr_west": "manager-password-2", "rep_a": "rep-a-password-1"}
PAGES = ["/manager/", "/manager/teams/east", "/manager/teams/east?fair=day&by=value", "/manager/teams/east/leads", "/manager/teams/east/leads?state=owned&owner=r01", "/manager/teams/east/pool", "/manager/leads/H2"]


def _world(tmp_path: Path, data: bool) -> World:
    w = world(f"sqlite:///{tmp_path / 'fenpei.sqlite3'}", tmp_path)
    if data:
        build(w)
        with session_scope(workspace_of(w.app).sessions, write_lock=True) as s:
            east = s.query(Team).filter_by(slug="east").one()
            rows = [("r03", "12"), ("r01", "5")]
            s.execute(
                insert(PointEntry),
                [{"key": f"k{i}", "team_id": east.id, "rep_id": rep, "rule": "deal_won", "amount": Decimal(amount), "period": "2026-11", "event_id": f"e{i}"} for i, (rep, amount) in enumerate(rows)],
            )
    w.app.config["FENPEI_CLOCK"] = lambda: NOW
    return w


@pytest.fixture
def data_world(tmp_path: Path) -> Iterator[World]:
    w = _world(tmp_path, True)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def plain_world(tmp_path: Path) -> Iterator[World]:
    w = _world(tmp_path, False)
    try:
        yield w
    finally:
        w.close()


def login(w: World, who: str, lang: str = "en") -> FlaskClient:
    client = w.app.test_client()
    client.set_cookie("fenpei_lang", lang)
    response = client.post("/login", data={"username": who, "password": PASSWORDS[who]})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def csrf_of(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def svg(page: str, test: str) -> str:
    found = re.search(rf'<svg[^>]*data-test="{test}".*?</svg>', page, re.S)
    assert found is not None, f"no chart {test}"
    return found.group(0)


def bars(page: str, test: str) -> dict[str, str]:
    """label -> value of each bar of a bar chart."""
    return {html.unescape(a): html.unescape(b) for a, b in re.findall(r'<g class="bar" data-label="([^"]*)" data-value="([^"]*)">', svg(page, test))}


def points(page: str, test: str) -> dict[str, list[tuple[str, str]]]:
    """series -> [(label, value)] of a line chart."""
    out: dict[str, list[tuple[str, str]]] = {}
    for series, label, value in re.findall(r'<circle [^>]*data-series="([^"]*)" data-label="([^"]*)" data-value="([^"]*)"', svg(page, test)):
        out.setdefault(html.unescape(series), []).append((html.unescape(label), value))
    return out


def rows(page: str, test: str) -> list[dict[str, str]]:
    """The data-* attributes of every element with ``data-test=test``."""
    out = []
    for attrs in re.findall(rf'<tr data-test="{test}"([^>]*)>', page):
        out.append({k: html.unescape(v) for k, v in re.findall(r'data-([\w-]+)="([^"]*)"', attrs)})
    return out


# ------------------------------------------------------------------------------------------------
# Every page in both languages; who may open what
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "known", "other"), [("en", "Team dashboard", "团队看板"), ("zh", "团队看板", "Team dashboard")])
def test_every_manager_page_renders_in_both_languages(data_world: World, lang: str, known: str, other: str) -> None:
    client = login(data_world, "mgr_east", lang)
    texts = {
        "/manager/": (known, "Load index against the cap" if lang == "en" else "负荷指数与上限"),
        "/manager/teams/east/leads": ("Leads" if lang == "en" else "线索", "Back to the dashboard" if lang == "en" else "返回看板"),
        "/manager/teams/east/pool": ("Public pool" if lang == "en" else "公海", "longest waiting first" if lang == "en" else "按等待时间排序"),
        "/manager/leads/H2": ("Audit trail and explanations" if lang == "en" else "审计记录与决策说明", "Reassign" if lang == "en" else "改派"),
    }
    for url in PAGES:
        response = client.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, (url, page[:2000])
        assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page
        for text in texts.get(url.split("?")[0], (known,)):
            assert text in page, (url, text)
        if url.split("?")[0] in ("/manager/", "/manager/teams/east"):
            assert other not in page, url


def test_a_manager_of_another_team_gets_403_and_a_rep_is_kept_out(data_world: World) -> None:
    west = login(data_world, "mgr_west")
    for url in ("/manager/teams/east", "/manager/teams/east/leads", "/manager/teams/east/pool", "/manager/?team=east"):
        assert west.get(url).status_code == 403, url
    assert west.get("/manager/leads/H2").status_code == 404  # as in the API: another team's lead does not exist for them
    page = west.get("/manager/").get_data(as_text=True)
    assert "西部组" in page and 'data-test="team-picker"' not in page  # one team: no picker
    assert west.get("/manager/teams/nowhere").status_code == 404
    rep = login(data_world, "rep_a")
    assert rep.get("/manager/").status_code == 403 and rep.get("/manager/leads/LA").status_code == 403
    anonymous = data_world.app.test_client()
    assert anonymous.get("/manager/teams/east").status_code == 302


def test_an_admin_sees_every_team_and_picks_one(data_world: World) -> None:
    admin = login(data_world, "admin")
    page = admin.get("/manager/").get_data(as_text=True)
    assert 'data-test="team-picker"' in page and 'value="east"' in page and 'value="west"' in page
    west = admin.get("/manager/?team=west").get_data(as_text=True)
    assert "西部组" in west and [r["rep"] for r in rows(west, "load-row")] == ["w01"]
    assert admin.get("/manager/leads/LW").status_code == 200


# ------------------------------------------------------------------------------------------------
# The figures
# ------------------------------------------------------------------------------------------------


def test_the_traffic_lights_of_the_loads_worked_out_by_hand(data_world: World) -> None:
    page = login(data_world, "mgr_east").get("/manager/teams/east").get_data(as_text=True)
    lights = {r["rep"]: (r["load"], r["light"], r["unavailable"]) for r in rows(page, "load-row")}
    # r01: 3 heavy leads = 9 of 10 (>= 70 %): yellow, on leave; r02: 1.5: green, paused; r03: 1.5 + 3 x 3 = 10.5: red
    assert lights == {"r01": ("9", "yellow", "on_leave"), "r02": ("1.5", "green", "paused"), "r03": ("10.5", "red", "")}
    assert 'data-light="yellow"' in page and 'aria-label="70% of the cap or more · on leave"' in page
    assert 'aria-label="below 70% of the cap · paused"' in page and 'aria-label="at or over the cap"' in page
    assert bars(page, "loads-chart") == {"Rep 1": "9", "Rep 2": "1.5", "Rep 3": "10.5"}


def test_every_chart_shows_the_figures_of_the_fixed_data_set(data_world: World) -> None:
    client = login(data_world, "mgr_east")
    page = client.get("/manager/teams/east?fair=day").get_data(as_text=True)
    assert bars(page, "grades-chart") == {"A": "5", "B": "3", "C": "3"}
    assert re.search(r'data-test="pool-count">2<', page) and 'href="/manager/leads/P2"' in page
    due = points(page, "due-chart")
    assert [v for _, v in due["reclaims"]] == ["1", "0", "5", "0", "0", "1", "1", "0"]
    assert [v for _, v in due["reminders"]] == ["0"] * 8
    assert {(r["lead"], r["kind"], r["day"]) for r in rows(page, "due-row")} == {
        ("H2", "reclaim", "0"), ("LA", "reclaim", "2"), ("LB", "reclaim", "2"), ("H3", "reclaim", "2"), ("H5", "reclaim", "2"), ("H6", "reclaim", "2"), ("H4", "reclaim", "5"), ("H1", "reclaim", "6"),
    }
    spread = points(page, "fairness-spread-chart")["spread (max − min)"]
    gini = points(page, "fairness-gini-chart")["Gini"]
    assert len(spread) == 14 and spread[-3:] == [("11-21", "0"), ("11-22", "1"), ("11-23", "2")]
    assert gini[-3:] == [("11-21", "0.00"), ("11-22", "0.17"), ("11-23", "0.44")]
    assert bars(page, "first-response-chart") == {"Rep 1": "66.7", "Rep 2": "0", "Rep 3": "25", "whole team": "37.5"}
    assert bars(page, "followup-chart") == {"Rep 1": "33.3", "Rep 2": "0", "Rep 3": "25", "whole team": "25"}
    assert 'data-test="first-response-rate">38%<' in page and 'data-test="followup-rate">25%<' in page
    assert bars(page, "conversion-chart") == {"A": "16.7", "B": "0", "C": "0"}
    assert {(r["grade"], r["won"], r["leads"]) for r in rows(page, "conversion-row")} == {("A", "1", "6"), ("B", "0", "3"), ("C", "0", "3")}
    assert bars(page, "leaderboard-chart") == {"1. Rep 3": "12", "2. Rep 1": "5", "3. Rep 2": "0"}
    weekly = client.get("/manager/teams/east").get_data(as_text=True)
    assert points(weekly, "fairness-spread-chart")["spread (max − min)"][-2:] == [("W47", "1"), ("W48", "2")]
    by_value = client.get("/manager/teams/east?by=value").get_data(as_text=True)
    assert bars(by_value, "grades-chart") == {"high": "8", "medium": "3", "low": "0"}


def test_charts_have_text_alternatives_in_the_page_language(data_world: World) -> None:
    page = login(data_world, "mgr_east", "zh").get("/manager/teams/east").get_data(as_text=True)
    chart = svg(page, "grades-chart")
    assert 'role="img"' in chart and "<title id=" in chart and "按等级的未结线索" in chart
    assert re.search(r"<desc id=\"chart-grades-desc\">A: 5; B: 3; C: 3</desc>", chart)
    assert "负荷指数与上限" in svg(page, "loads-chart") and "分配公平性趋势" in svg(page, "fairness-spread-chart")


def test_the_chart_helpers_escape_every_text() -> None:
    evil = '<script>alert("x")</script>'
    drawn = str(bar_chart("c1", evil, [Bar(evil, 2, evil)], desc=evil, test="t"))
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn
    drawn = str(line_chart("c2", evil, [evil, "b"], [Series(evil, [1, None])]))
    assert "<script>" not in drawn and drawn.count("<circle") == 1
    assert "<script>" not in str(traffic_light("red", evil))


# ------------------------------------------------------------------------------------------------
# Reassigning, handovers and the audit trail
# ------------------------------------------------------------------------------------------------


def test_a_reassignment_through_the_api_shows_its_reason_in_the_lead_pages_audit_trail(plain_world: World) -> None:
    client = login(plain_world, "mgr_east")
    page = client.get("/manager/teams/east/leads").get_data(as_text=True)
    assert 'data-test="reassign-dialog"' in page and 'data-test="reassign-open" data-lead="LA"' in page
    script = client.get("/static/fenpei/manager.js")
    assert script.status_code == 200 and b"/assignments/reassign" in script.data
    script.close()
    reason = "客户要求换人 <b>now</b>"
    answer = client.post("/api/v1/assignments/reassign", json={"leads": ["LA"], "to": "r01", "reason": reason}, headers={"X-CSRF-Token": csrf_of(page)})
    assert answer.status_code == 200, answer.get_json()
    lead = client.get("/manager/leads/LA").get_data(as_text=True)
    entries = re.findall(r'<li data-test="audit-entry" data-action="([^"]+)">(.*?)</li>', lead, re.S)
    reassign = [body for action, body in entries if action == "reassign"]
    assert len(reassign) == 1 and html.escape(reason) in reassign[0] and "<b>now</b>" not in lead
    assert "reassigned by mgr_east from Rep 2 to Rep 1" in reassign[0]
    assert re.search(r'data-test="lead-owner" data-owner="r01"', lead)
    zh = login(plain_world, "mgr_east", "zh").get("/manager/leads/LA").get_data(as_text=True)
    assert "mgr_east 将线索从 Rep 2 改派给 Rep 1" in zh
    # the handover the reassignment opened waits on the dashboard
    dashboard = client.get("/manager/teams/east").get_data(as_text=True)
    assert [(r["lead"], r["status"]) for r in rows(dashboard, "handover-row")] == [("LA", "to_fill")]


def test_a_refused_reassignment_answers_the_message_the_dialog_shows(data_world: World) -> None:
    client = login(data_world, "mgr_east")
    page = client.get("/manager/leads/LA").get_data(as_text=True)
    answer = client.post(
        "/api/v1/assignments/reassign", json={"leads": ["LA"], "to": "r03", "reason": "try"}, headers={"X-CSRF-Token": csrf_of(page), "Accept-Language": "zh-CN"}
    )
    assert 400 <= answer.status_code < 500
    problems = answer.get_json()["error"]["problems"]
    assert any("上限" in p["message"] for p in problems), problems
    assert not re.findall(r'data-action="reassign"', client.get("/manager/leads/LA").get_data(as_text=True))
