"""A rep's day in the workspace: only their own leads, a claim from the pool, a follow-up whose
visit notes appear and become required when the method is an on-site visit (the error shown next
to the field, by the page's script and by the server alike), the workspace on a phone, and a
handover filled by the previous owner and acknowledged by the new one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browser_support import COMPANY, shot

pytestmark = pytest.mark.browser

SUMMARY = "客户对报价感兴趣,约了下周演示"
VISIT_NOTES = "见了 CIO 和财务总监,演示了报表模块"


def _listed(page) -> list[str]:
    return page.locator('[data-test="lead-row"]').evaluate_all("rows => rows.map(r => r.dataset.lead)")


def test_rep_sees_only_own_leads(web) -> None:
    page = web.page("rep_a")
    expect(page).to_have_url(f"{web.url}/rep/")
    expect(page.locator('[data-test="my-leads-count"]')).to_have_text("2")
    assert sorted(_listed(page)) == ["LA1", "LA2"]
    expect(page.locator('[data-test="my-leads"]')).not_to_contain_text(COMPANY["LB1"])
    # LH1 went to rep_b: rep_a only has its handover checklist left to fill.
    expect(page.locator('[data-test="lead-row"][data-lead="LH1"]')).to_have_count(0)
    expect(page.locator('[data-test="handovers-waiting"]')).to_contain_text("LH1")
    shot(page, "rep-flow-workspace-en")

    # Another rep's lead is not there, even by its address.
    web.allow_console_error("status of 404")
    response = page.goto(f"{web.url}/rep/leads/LB1")
    assert response is not None and response.status == 404
    expect(page.locator("body")).not_to_contain_text(COMPANY["LB1"])

    other = web.page("rep_b")
    assert sorted(_listed(other)) == ["LB1", "LH1"]
    expect(other.locator('[data-test="my-leads"]')).not_to_contain_text(COMPANY["LA1"])


def test_rep_claims_a_pool_lead_and_logs_a_followup_with_a_conditional_field(web) -> None:
    page = web.page("rep_a")
    page.locator('[data-test="nav-pool"]').click()
    page.wait_for_url("**/rep/pool")
    expect(page.locator('[data-test="pool-row"]')).to_have_count(2)
    shot(page, "rep-flow-pool-en")
    page.locator('[data-test="claim-LP1"]').click()
    page.wait_for_url("**/rep/leads/LP1")
    expect(page.locator('[data-test="lead-card"]')).to_contain_text(COMPANY["LP1"])

    form = page.locator('[data-test="form-followup"]')
    notes = form.locator('[data-test="field-visit_notes"]')
    attendees = form.locator('[data-test="field-visit_attendees"]')
    expect(notes).to_be_hidden()
    expect(attendees).to_be_hidden()

    # A phone call: the visit fields stay hidden.
    form.get_by_label("Phone call").check()
    form.locator('textarea[name="summary"]').fill(SUMMARY)
    expect(notes).to_be_hidden()

    # An on-site visit: the visit notes appear and become required.
    form.get_by_label("On-site visit").check()
    expect(notes).to_be_visible()
    expect(attendees).to_be_visible()
    expect(notes).to_have_class(re.compile(r"\brequired\b"))
    expect(attendees).not_to_have_class(re.compile(r"\brequired\b"))
    expect(notes.locator("textarea")).to_have_attribute("aria-required", "true")

    # Left empty: the error shows next to the field, and nothing is logged.
    form.locator('[data-test="submit-followup"]').click()
    error = notes.locator('p.field-error[data-error-for="visit_notes"]')
    expect(error).to_be_visible()
    expect(error).to_have_text("this field is required")
    expect(notes).to_have_class(re.compile(r"\binvalid\b"))
    expect(form.locator("p.field-error:visible")).to_have_count(1)
    expect(notes.locator("textarea")).to_be_focused()
    expect(page.locator('[data-test="followup-entry"]')).to_have_count(0)
    shot(page, "rep-flow-followup-error-en", full_page=False)

    # Back to a phone call: hidden again, so not required; then a visit with its notes.
    form.get_by_label("Phone call").check()
    expect(notes).to_be_hidden()
    form.get_by_label("On-site visit").check()
    expect(notes).to_be_visible()
    notes.locator("textarea").fill(VISIT_NOTES)
    expect(error).to_be_hidden()
    form.locator('[data-test="submit-followup"]').click()
    page.wait_for_url("**/rep/leads/LP1")
    expect(page.locator("p.flash")).to_contain_text("Follow-up logged.")
    entry = page.locator('[data-test="followup-entry"]')
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("On-site visit")
    expect(entry).to_contain_text(VISIT_NOTES)
    shot(page, "rep-flow-followup-logged-en")

    # The claimed lead is now in the rep's own list, and out of the pool.
    page.locator('[data-test="back-to-leads"]').click()
    assert sorted(_listed(page)) == ["LA1", "LA2", "LP1"]
    page.locator('[data-test="nav-pool"]').click()
    expect(page.locator('[data-test="pool-row"]')).to_have_count(1)
    expect(page.locator('[data-test="pool-row"][data-lead="LP1"]')).to_have_count(0)


def test_server_shows_the_error_next_to_the_field_without_script(web) -> None:
    """The server checks the form with the same rules: without JavaScript the page comes back
    (422) with the visit notes shown, required and their error beside them."""
    web.allow_console_error("status of 422")
    page = web.page("rep_a", "/rep/leads/LA1", javascript=False)
    form = page.locator('[data-test="form-followup"]')
    form.get_by_label("On-site visit").check()
    form.locator('textarea[name="summary"]').fill(SUMMARY)
    with page.expect_response(re.compile(r"/rep/leads/LA1/followup$")) as answer:
        form.locator('[data-test="submit-followup"]').click()
    assert answer.value.status == 422
    notes = page.locator('[data-test="form-followup"] [data-test="field-visit_notes"]')
    expect(notes).to_be_visible()
    expect(notes).to_have_class(re.compile(r"\brequired\b.*\binvalid\b|\binvalid\b.*\brequired\b"))
    expect(notes.locator('p.field-error[data-error-for="visit_notes"]')).to_have_text("this field is required")
    # What the rep typed is kept.
    expect(page.locator('[data-test="form-followup"] textarea[name="summary"]')).to_have_value(SUMMARY)
    expect(page.locator('[data-test="form-followup"] input[value="visit"]')).to_be_checked()


def _fits(page) -> None:
    """Nothing wider than the screen: no horizontal scrolling."""
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert max(width[0], width[1]) <= width[2], f"the page scrolls sideways: {width[0]}/{width[1]} px wide on a {width[2]} px screen"


def _on_screen(page, locator) -> None:
    """Visible, inside the screen's width, and big enough to tap."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375 + 0.5, f"{locator} sticks out: {box}"
    assert box["height"] >= 24, f"{locator} is too small to tap: {box}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_rep_workspace_on_a_phone(web, lang: str) -> None:
    page = web.page("rep_a", "/rep/", phone=True, lang=lang)
    _fits(page)
    for name in ("nav-workspace", "nav-pool", "nav-new-lead", "nav-handovers", "nav-points", "nav-health"):
        _on_screen(page, page.locator(f'[data-test="{name}"]'))
    # The tabs stay at hand: fixed in the screen, not scrolled out of reach.
    expect(page.locator('[data-test="nav-pool"]')).to_be_in_viewport()
    _on_screen(page, page.locator('[data-test="new-lead"]'))
    first = page.locator('[data-test="lead-row"] a').first
    _on_screen(page, first)
    shot(page, f"rep-workspace-phone-{lang}")

    # One tap to a lead, and its follow-up form within reach.
    first.tap()
    page.wait_for_url(re.compile(r"/rep/leads/\w+$"))
    _fits(page)
    _on_screen(page, page.locator('[data-test="goto-followup"]'))
    page.locator('[data-test="goto-followup"]').tap()
    _on_screen(page, page.locator('[data-test="form-followup"] label.choice:has(input[value="visit"])'))  # the label is the tap target
    submit = page.locator('[data-test="submit-followup"]')
    submit.scroll_into_view_if_needed()
    _on_screen(page, submit)
    shot(page, f"rep-lead-phone-{lang}")

    # The pool: the claim buttons fit too.
    page.locator('[data-test="nav-pool"]').tap()
    page.wait_for_url("**/rep/pool")
    _fits(page)
    _on_screen(page, page.locator('[data-test="pool-row"] button[data-test^="claim-"]').first)
    shot(page, f"rep-pool-phone-{lang}")

    # A new lead's generated form: every field fits the screen.
    page.locator('[data-test="nav-new-lead"]').tap()
    page.wait_for_url("**/rep/leads/new")
    _fits(page)
    shot(page, f"rep-new-lead-phone-{lang}")


def test_handover_filled_by_the_previous_owner_and_acknowledged_by_the_new_one(web) -> None:
    """LH1 went from rep_a to rep_b: rep_a fills the checklist (a joint visit asks for its date),
    rep_b acknowledges it, and only then sees the customer's contact details."""
    page = web.page("rep_a")
    page.locator('[data-test="handovers-waiting"] [data-test="fill-handover-1"]').click()
    page.wait_for_url("**/rep/handovers/1")
    form = page.locator('[data-test="form-handover"]')
    date = form.locator('[data-test="field-joint_visit_date"]')
    expect(date).to_be_hidden()
    form.locator('[name="customer_preferences"]').fill("喜欢微信沟通,下午方便")
    form.locator('[name="communication_history"]').fill("已演示报表模块,报价 30 万")
    form.locator('[name="open_concerns"]').fill("价格偏高")
    form.locator('[name="handover_meeting"]').select_option("joint_visit")
    expect(date).to_be_visible()
    expect(date).to_have_class(re.compile(r"\brequired\b"))
    form.locator('[data-test="submit-handover"]').click()
    expect(date.locator('p.field-error[data-error-for="joint_visit_date"]')).to_be_visible()
    date.locator("input").fill("2026-12-15")
    form.locator('[data-test="submit-handover"]').click()
    page.wait_for_url("**/rep/handovers")
    expect(page.locator("p.flash")).to_contain_text("Checklist handed over.")
    expect(page.locator('[data-test="handovers-waiting-others"]')).to_contain_text("LH1 · waiting for r03")

    other = web.page("rep_b", "/rep/leads/LH1")
    expect(other.locator('[data-test="locked-notice"]')).to_be_visible()
    expect(other.locator('[data-test="value-phone"]')).to_have_attribute("data-hidden", "1")
    expect(other.locator('[data-test="lead-fields"]')).not_to_contain_text("13800000006")
    other.locator('[data-test="open-ack-1"]').click()
    other.wait_for_url("**/rep/handovers/1")
    expect(other.locator('[data-test="handover-page"]')).to_contain_text("价格偏高")
    shot(other, "rep-flow-handover-ack-en")
    other.locator('[data-test="ack-handover-1"]').click()
    other.wait_for_url("**/rep/leads/LH1")
    expect(other.locator('[data-test="locked-notice"]')).to_have_count(0)
    expect(other.locator('[data-test="value-phone"]')).to_contain_text("13800000006")
