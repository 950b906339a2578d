"""A manager reassigns a lead with a reason from the team's lead list and finds the reassignment,
with the reason and its explanation, in the lead's audit trail."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser_support import HANDOVER_REASON, TEAM, shot

pytestmark = pytest.mark.browser

REASON = "客户要求更换对接人 / the customer asked for another contact"


def test_manager_reassigns_a_lead_with_a_reason_and_sees_it_in_the_audit_trail(web) -> None:
    page = web.page("mgr_east")
    expect(page).to_have_url(f"{web.url}/manager/")
    expect(page.locator('[data-test="dashboard-title"]')).to_contain_text("Team dashboard")
    shot(page, "manager-flow-dashboard-en")

    page.locator('[data-test="leads-link"]').click()
    page.wait_for_url(f"**/manager/teams/{TEAM}/leads")
    row = page.locator('[data-test="lead-row"][data-lead="LA1"]')
    expect(row).to_have_attribute("data-owner", "r02")

    row.locator('[data-test="reassign-open"]').click()
    dialog = page.locator('[data-test="reassign-dialog"]')
    expect(dialog).to_be_visible()
    expect(dialog.locator('[data-test="reassign-lead"]')).to_have_text("LA1")
    # The current owner is not offered.
    expect(dialog.locator('[data-test="reassign-to"] option[value="r02"]')).to_be_disabled()
    dialog.locator('[data-test="reassign-to"]').select_option("r03")
    dialog.locator('[data-test="reassign-reason"]').fill(REASON)
    shot(page, "manager-flow-reassign-dialog-en", full_page=False)
    dialog.locator('[data-test="reassign-submit"]').click()
    expect(dialog).to_be_hidden()
    expect(row).to_have_attribute("data-owner", "r03")

    row.locator('[data-test="lead-link"]').click()
    page.wait_for_url("**/manager/leads/LA1")
    expect(page.locator('[data-test="lead-owner"]')).to_have_attribute("data-owner", "r03")
    entry = page.locator('[data-test="audit-entry"][data-action="reassign"]')
    expect(entry).to_have_count(1)
    expect(entry.locator('[data-test="audit-reason"]')).to_contain_text(REASON)
    expect(entry.locator('[data-test="audit-sentence"]')).to_contain_text("mgr_east")
    expect(entry).to_contain_text("李静")  # from r02 …
    expect(entry).to_contain_text("张伟")  # … to r03
    shot(page, "manager-flow-audit-trail-en")


def test_manager_sees_a_handover_waiting_and_its_reason(web) -> None:
    page = web.page("mgr_east")
    handovers = page.locator('[data-test="handovers"]')
    expect(handovers).to_contain_text("LH1")
    page.goto(f"{web.url}/manager/leads/LH1")
    expect(page.locator('[data-test="lead-handover"]')).to_be_visible()
    expect(page.locator('[data-test="audit-entry"][data-action="reassign"] [data-test="audit-reason"]')).to_contain_text(HANDOVER_REASON)
