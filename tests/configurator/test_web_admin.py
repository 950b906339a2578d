"""The template builder's pages: the gallery, the builder (form and YAML kept in step through the
sync endpoint, located errors), simulation, comparison, publishing, versions; in zh and en; for
admins only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from api_support import ROOT, World, world

from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import TemplateDraft
from configurator.services import templates as tmpl_svc

SOURCE = (ROOT / "templates" / "b2b_software.yaml").read_text(encoding="utf-8")
PASSWORDS = {"admin": "admin-password-1", "mgr_east": "manager-password-1", "rep_a": "rep-a-password-1"}


@pytest.fixture
def w(tmp_path: Path):  # type: ignore[no-untyped-def]
    built = world(f"sqlite:///{tmp_path / 'web.sqlite3'}", tmp_path)
    yield built
    built.close()


def login(w: World, who: str = "admin") -> str:
    """Log the test client in as ``who``; returns the session's CSRF token."""
    r = w.client.post("/login", data={"username": who, "password": PASSWORDS[who]})
    assert r.status_code == 302
    page = w.client.get("/login").get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)  # type: ignore[union-attr]


def sync(w: World, token: str, body: dict[str, Any], lang: str = "en") -> Any:
    return w.client.post("/admin/templates/sync", json=body, headers={"X-CSRF-Token": token, "Accept-Language": lang})


def draft_source(w: World, name: str = "b2b_software") -> str | None:
    with session_scope(workspace_of(w.app).sessions) as s:
        draft = s.get(TemplateDraft, name)
        return draft.source if draft else None


PAGES = [
    ("/admin/templates", "Gallery of sample templates", "示例模板库"),
    ("/admin/templates/b2b_software/edit", "Template builder", "模板构建器"),
    ("/admin/templates/b2b_software/versions", "Version history", "版本历史"),
]


@pytest.mark.parametrize(("path", "en", "zh"), PAGES)
def test_every_admin_page_renders_in_both_languages(w: World, path: str, en: str, zh: str) -> None:
    login(w)
    for lang, text, other in (("en", en, zh), ("zh", zh, en)):
        w.client.set_cookie("fenpei_lang", lang)
        r = w.client.get(path)
        assert r.status_code == 200, (path, lang)
        html = r.get_data(as_text=True)
        assert text in html and other not in html


def test_the_builder_shows_generated_controls_in_the_page_language(w: World) -> None:
    login(w)
    w.client.set_cookie("fenpei_lang", "zh")
    html = w.client.get("/admin/templates/b2b_software/edit").get_data(as_text=True)
    assert 'data-test="section-segments"' in html and "分级规则" in html and "命中策略" in html
    assert 'data-path="$.segments[4].rules[1].when"' in html  # the tier threshold's condition
    assert 'data-test="yaml-editor"' in html and "score &gt;= 60" in html
    w.client.set_cookie("fenpei_lang", "en")
    html = w.client.get("/admin/templates/b2b_software/edit").get_data(as_text=True)
    assert "Hit policy" in html and "命中策略" not in html


def test_importing_from_the_gallery_creates_the_draft(w: World) -> None:
    token = login(w)
    assert draft_source(w, "medical_devices") is None
    page = w.client.get("/admin/templates").get_data(as_text=True)
    assert 'data-test="import-medical_devices"' in page
    r = w.client.post("/admin/gallery/medical_devices/import", data={"csrf_token": token})
    assert r.status_code == 302 and r.location.endswith("/admin/templates/medical_devices/edit")
    assert draft_source(w, "medical_devices") == (ROOT / "templates" / "medical_devices.yaml").read_text(encoding="utf-8")
    assert w.client.get(r.location).status_code == 200
    # Without the CSRF token nothing is imported; an unknown sample is 404.
    assert w.client.post("/admin/gallery/finance_points/import", data={}).status_code == 403
    assert draft_source(w, "finance_points") is None
    assert w.client.post("/admin/gallery/nope/import", data={"csrf_token": token}).status_code == 404


def test_a_value_changed_in_the_form_becomes_the_saved_draft(w: World) -> None:
    token = login(w)
    loaded = sync(w, token, {"source": SOURCE, "render": True}).get_json()
    assert loaded["valid"] and 'data-path="$.segments[4].rules[1].when"' in loaded["form"]
    document = loaded["document"]
    assert document["segments"][4]["rules"][1]["when"] == "score >= 60"
    document["segments"][4]["rules"][1]["when"] = "score >= 65"  # what the page's script reads from the form
    answer = sync(w, token, {"document": document}).get_json()
    assert answer["valid"] and answer["problems"] == [] and "score >= 65" in answer["source"]
    r = w.client.put("/api/v1/templates/draft", json={"source": answer["source"]}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.get_json()["name"] == "b2b_software"
    saved = draft_source(w)
    assert saved is not None and "score >= 65" in saved and "score >= 60" not in saved


def test_structural_actions_come_back_with_the_form(w: World) -> None:
    token = login(w)
    document = sync(w, token, {"source": SOURCE}).get_json()["document"]
    rows = sync(w, token, {"document": document, "action": {"op": "cond-mode", "ptr": ["segments", 4, "rules", 1, "when"], "mode": "rows"}}).get_json()
    assert rows["valid"] and rows["document"]["segments"][4]["rules"][1]["when"] == {"field": "score", "op": ">=", "value": 60}
    assert 'data-kind="cond-row" data-path="$.segments[4].rules[1].when"' in rows["form"]
    assert "field: score" in rows["source"]
    added = sync(w, token, {"document": rows["document"], "action": {"op": "add-item", "ptr": ["segments", 4, "rules"]}}).get_json()
    assert len(added["document"]["segments"][4]["rules"]) == 4 and not added["valid"]  # a blank row to fill in
    refused = sync(w, token, {"document": document, "action": {"op": "add-entry", "ptr": ["fields"], "key": "company"}}, lang="zh-CN")
    assert refused.status_code == 422 and "已存在" in refused.get_json()["error"]["message"]
    for nonsense in ({"op": "remove", "ptr": "fields"}, {"op": "move", "ptr": ["segments", 0], "by": {}}, {"op": "variant", "ptr": ["title"], "variant": "1"}):
        assert sync(w, token, {"document": document, "action": nonsense}).status_code == 422


def test_a_bad_condition_is_located_by_line_and_path(w: World) -> None:
    token = login(w)
    bad = SOURCE.replace("score >= 60", "score >== 60")
    line = bad.splitlines().index("      - when: 'score >== 60'") + 1
    answer = sync(w, token, {"source": bad, "render": True}).get_json()
    assert not answer["valid"]
    [problem] = answer["problems"]
    assert problem["path"] == "$.segments[4].rules[1].when" and problem["line"] == line and "'=='" in problem["message"]
    assert 'data-path="$.segments[4].rules[1].when"' in answer["form"]  # the control the page marks
    # The same condition typed in the form (no lines there: the YAML is written from the document).
    document = sync(w, token, {"source": SOURCE}).get_json()["document"]
    document["segments"][4]["rules"][1]["when"] = {"all": [{"field": "scor", "op": ">=", "value": 60}]}
    answer = sync(w, token, {"document": document}, lang="zh-CN").get_json()
    [problem] = answer["problems"]
    assert problem["path"].startswith("$.segments[4].rules[1].when") and problem["line"] and "score" in problem["message"]
    assert answer["source"].splitlines()[problem["line"] - 1].strip().startswith(("- field: scor", "field: scor", "all:", "when:"))
    # Switching the bad condition to text is refused with the same location.
    refused = sync(w, token, {"document": {**document}, "action": {"op": "cond-mode", "ptr": ["segments", 4, "rules", 1, "when"], "mode": "text"}})
    assert refused.status_code == 200  # it parses: only the name is unknown, which the text shows as well
    document["segments"][4]["rules"][1]["when"] = {"all": [{"field": "score", "op": "=>", "value": 60}]}
    refused = sync(w, token, {"document": document, "action": {"op": "cond-mode", "ptr": ["segments", 4, "rules", 1, "when"], "mode": "text"}})
    assert refused.status_code == 422 and refused.get_json()["error"]["path"] == "$.segments[4].rules[1].when.all[0].op"


def test_malformed_yaml_gives_its_line_and_no_form(w: World) -> None:
    token = login(w)
    answer = sync(w, token, {"source": "fenpei: 1\nname: [oops\n", "render": True}).get_json()
    assert not answer["valid"] and answer["document"] is None and "form" not in answer
    assert answer["problems"][0]["line"]


def _simulate(w: World, token: str, source: str, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    headers = {"X-CSRF-Token": token}
    leads = w.client.post("/admin/templates/b2b_software/leads", json={"source": source, **extra}, headers=headers)
    assert leads.status_code == 200, leads.get_json()
    body = leads.get_json()
    run = {"source": source, "leads": body["leads"]}
    if body["now"]:
        run["now"] = body["now"]
    sim = w.client.post("/api/v1/teams/east/simulate", json=run, headers=headers)
    assert sim.status_code == 200, sim.get_json()
    view = w.client.post("/admin/templates/b2b_software/simulation", json=sim.get_json(), headers=headers)
    assert view.status_code == 200
    return sim.get_json(), view.get_json()


def test_simulating_the_draft_on_the_sample_leads_shows_the_figures(w: World) -> None:
    token = login(w)
    result, view = _simulate(w, token, SOURCE)
    summary = result["summary"]
    assert summary["leads"] == 271 and set(summary["grades"]) == {"value", "difficulty", "quadrant", "score", "tier"}
    html = view["html"]
    for test in ("sim-grades", "sim-load", "sim-fairness", "sim-explanations", "sim-gini", "sim-spread", "sim-load-chart", "sim-grade-tier"):
        assert f'data-test="{test}"' in html, test
    assert f'data-test="sim-gini">{summary["fairness"]["gini"]}<' in html
    assert html.count('data-test="sim-rep"') == 3 and html.count('data-test="sim-explanation"') >= 2
    # Figures the page sends back that are not numbers are not drawn as numbers (and break nothing).
    odd = w.client.post("/admin/templates/b2b_software/simulation", json={"summary": {"reps": [{"id": "r01", "load": "x", "cap": None}], "grades": {"tier": {"A": "?"}}}, "leads": ["?"]}, headers={"X-CSRF-Token": token})
    assert odd.status_code == 200
    # A lower threshold puts more leads in tier A.
    lower, _ = _simulate(w, token, SOURCE.replace("score >= 60", "score >= 40"))
    assert lower["summary"]["grades"]["tier"].get("A", 0) > summary["grades"]["tier"].get("A", 0)


def test_simulating_an_uploaded_csv_reads_it_with_the_drafts_fields(w: World) -> None:
    token = login(w)
    csv_text = "id,company,industry,region,contact,phone,stage,deal_size,employees\nX1,甲公司,finance,east,王,13800000001,new,2000000,1200\nX2,乙,nowhere,east,李,13800000002,new,10,5\n"
    r = w.client.post("/admin/templates/b2b_software/leads", json={"source": SOURCE, "csv": csv_text}, headers={"X-CSRF-Token": token})
    body = r.get_json()
    assert r.status_code == 200 and [lead["id"] for lead in body["leads"]] == ["X1"] and body["skipped"] == 1
    assert body["problems"] and "line 3" in body["problems"][0] and body["now"] is None
    bad = w.client.post("/admin/templates/b2b_software/leads", json={"source": SOURCE.replace("score >= 60", "score >== 60")}, headers={"X-CSRF-Token": token})
    assert bad.status_code == 422 and bad.get_json()["error"]["problems"][0]["path"] == "$.segments[4].rules[1].when"


def test_compare_with_published_shows_what_would_change(w: World) -> None:
    token = login(w)
    r = w.client.post("/admin/templates/b2b_software/compare", json={"source": SOURCE.replace("score >= 60", "score >= 25")}, headers={"X-CSRF-Token": token})
    body = r.get_json()
    assert r.status_code == 200 and body["impact"]["changed_leads"] == 4
    assert 'data-test="compare-changed">4<' in body["html"] and 'data-test="compare-transition"' in body["html"]
    none = w.client.post("/admin/templates/b2b_software/compare", json={"source": SOURCE}, headers={"X-CSRF-Token": token}).get_json()
    assert 'data-test="compare-nothing"' in none["html"]


def test_publishing_creates_a_version_shown_in_the_history_with_its_diff(w: World) -> None:
    token = login(w)
    headers = {"X-CSRF-Token": token}
    changed = SOURCE.replace("score >= 60", "score >= 65")
    assert w.client.put("/api/v1/templates/draft", json={"source": changed}, headers=headers).status_code == 200
    r = w.client.post("/api/v1/templates/b2b_software/publish", json={"note": "tier A from 65"}, headers=headers)
    assert r.status_code == 201 and r.get_json()["version"] == 2
    w.client.set_cookie("fenpei_lang", "en")
    page = w.client.get("/admin/templates/b2b_software/versions?from=1&to=2").get_data(as_text=True)
    assert 'data-test="version-row-2"' in page and "tier A from 65" in page and 'data-test="rollback-1"' in page
    assert "table &#39;tier&#39; changed (rules)" in page
    # Rolling back (from the page's button, through the API) publishes version 1's source again.
    r = w.client.post("/api/v1/templates/b2b_software/rollback", json={"version": 1}, headers=headers)
    assert r.status_code == 201 and r.get_json()["rolled_back_from"] == 1
    with session_scope(workspace_of(w.app).sessions) as s:
        assert tmpl_svc.get_version(s, "b2b_software").source == SOURCE


def test_the_draft_against_the_published_version_in_words(w: World) -> None:
    token = login(w)
    w.client.put("/api/v1/templates/draft", json={"source": SOURCE.replace("cooldown_days: 14", "cooldown_days: 7")}, headers={"X-CSRF-Token": token})
    w.client.set_cookie("fenpei_lang", "zh")
    page = w.client.get("/admin/templates/b2b_software/versions").get_data(as_text=True)
    assert 'data-test="draft-changes"' in page and "reclaim.cooldown_days 已修改" in page


ADMIN_ONLY = [
    ("GET", "/admin/templates", None),
    ("GET", "/admin/templates/b2b_software/edit", None),
    ("GET", "/admin/templates/b2b_software/versions", None),
    ("POST", "/admin/gallery/b2b_software/import", None),
    ("POST", "/admin/templates/sync", {"source": SOURCE}),
    ("POST", "/admin/templates/b2b_software/leads", {"source": SOURCE}),
    ("POST", "/admin/templates/b2b_software/simulation", {"summary": {}, "leads": []}),
    ("POST", "/admin/templates/b2b_software/compare", {"source": SOURCE}),
]


@pytest.mark.parametrize("who", ["mgr_east", "rep_a"])
@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
def test_only_admins_may_open_the_template_builder(w: World, who: str, method: str, path: str, body: Any) -> None:
    token = login(w, who)
    if method == "GET":
        r = w.client.get(path)
    elif body is None:
        r = w.client.post(path, data={"csrf_token": token})
    else:
        r = w.client.post(path, json=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 403
    assert draft_source(w, "b2b_software") == SOURCE  # nothing imported or changed


def test_a_visitor_is_sent_to_the_login_page(w: World) -> None:
    r = w.client.get("/admin/templates")
    assert r.status_code == 302 and "/login" in r.location
