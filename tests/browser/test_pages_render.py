"""Every page of every role renders in both languages in a real browser: the language chosen by
the ``fenpei_lang`` cookie (and by the switch in the header), a known text of that language, not
the other language's, and no console error. A screenshot of each page is kept
(``<role>-<page>-<lang>.png``)."""

from __future__ import annotations

import re
from typing import NamedTuple

import pytest
from playwright.sync_api import expect

from browser_support import SAMPLE, TEAM, shot

pytestmark = pytest.mark.browser


class Page(NamedTuple):
    user: str | None
    name: str
    path: str
    en: str
    zh: str
    status: int = 200


# The only handover of the installation (LH1, rep_a → rep_b) has the id 1.
PAGES = [
    Page(None, "login", "/login", "Log in to Fenpei", "登录分配系统"),
    Page("admin", "templates", "/admin/templates", "Gallery of sample templates", "示例模板库"),
    Page("admin", "builder", f"/admin/templates/{SAMPLE}/edit", "Template builder", "模板构建器"),
    Page("admin", "versions", f"/admin/templates/{SAMPLE}/versions", "Version history", "版本历史"),
    Page("admin", "dashboard", f"/manager/teams/{TEAM}", "Team dashboard", "团队看板"),
    Page("mgr_east", "dashboard", f"/manager/teams/{TEAM}", "Load index against the cap", "负荷指数与上限"),
    Page("mgr_east", "leads", f"/manager/teams/{TEAM}/leads", "Last follow-up", "最近跟进"),
    Page("mgr_east", "pool", f"/manager/teams/{TEAM}/pool", "Public pool", "公海"),
    Page("mgr_east", "lead", "/manager/leads/LH1", "Audit trail and explanations", "审计记录与决策说明"),
    Page("rep_a", "workspace", "/rep/", "Handovers waiting for you", "等你处理的交接"),
    Page("rep_a", "pool", "/rep/pool", "The pool", "公海"),
    Page("rep_a", "lead", "/rep/leads/LA1", "Log a follow-up", "记录跟进"),
    Page("rep_a", "new-lead", "/rep/leads/new", "New lead", "新建线索"),
    Page("rep_a", "handovers", "/rep/handovers", "Checklists to fill", "待填写的交接清单"),
    Page("rep_a", "handover-fill", "/rep/handovers/1", "Handover of", "交接:"),
    Page("rep_a", "points", "/rep/points", "My points", "我的积分"),
    Page("rep_a", "health", "/rep/health", "Weekly health", "每周健康度"),
    Page("rep_b", "lead-locked", "/rep/leads/LH1", "The contact details stay hidden", "确认交接清单后才能查看联系方式"),
    Page("rep_b", "handovers", "/rep/handovers", "Waiting for someone else", "等待对方处理"),
    Page("rep_a", "forbidden", "/admin/templates", "You may not open this page.", "你无权打开此页面。", 403),
]
ROLE = {None: "anonymous", "admin": "admin", "mgr_east": "manager", "rep_a": "rep", "rep_b": "rep-b"}


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("spec", PAGES, ids=[f"{ROLE[p.user]}-{p.name}" for p in PAGES])
def test_page_renders_in_each_language(web, spec: Page, lang: str) -> None:
    if spec.status != 200:
        web.allow_console_error(f"status of {spec.status}")
    page = web.page(spec.user, None, lang=lang)
    response = page.goto(web.url + spec.path)
    assert response is not None and response.status == spec.status, f"{spec.path}: HTTP {response.status if response else None}"
    assert page.url.split("?")[0].endswith(spec.path), f"{spec.path} went to {page.url}"
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh" else "en")
    main = page.locator("main")
    known, other = (spec.zh, spec.en) if lang == "zh" else (spec.en, spec.zh)
    expect(main).to_contain_text(known)
    assert other not in main.inner_text(), f"{spec.path} in {lang} shows {other!r}"
    # The switch offers the other language.
    expect(page.locator("header a.lang")).to_have_text("English" if lang == "zh" else "中文")
    page.wait_for_load_state("load")
    shot(page, f"{ROLE[spec.user]}-{spec.name}-{lang}")


def test_language_switch_keeps_the_page(web) -> None:
    """The link in the header switches the language and comes back to the same page."""
    page = web.page(None, "/login", lang="en")
    page.locator("header a.lang").click()
    expect(page.locator("main h1")).to_have_text("登录分配系统")
    page.locator('input[name="username"]').fill("rep_a")
    page.locator('input[name="password"]').fill("rep-a-password-1")
    page.locator('button[type="submit"]').click()
    page.wait_for_url("**/rep/")
    expect(page.locator("main")).to_contain_text("我的线索")
    page.locator('[data-test="nav-pool"]').click()
    page.wait_for_url("**/rep/pool")
    page.locator("header a.lang").click()
    page.wait_for_url("**/rep/pool")
    expect(page.locator("main h1")).to_contain_text("The pool")
    expect(page.locator('[data-test="nav-pool"]')).to_have_text("Pool")
    cookie = next(c for c in page.context.cookies() if c["name"] == "fenpei_lang")
    assert cookie["value"] == "en"


def test_language_follows_the_browser_without_a_choice(web) -> None:
    """No cookie yet: the browser's Accept-Language decides (zh-CN here)."""
    context = web.chromium.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(web.url + "/login")
        expect(page.locator("main h1")).to_have_text("登录分配系统")
        expect(page.locator("html")).to_have_attribute("lang", re.compile("^zh"))
    finally:
        context.close()
