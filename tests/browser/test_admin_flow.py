"""An admin adapts a sample template in the builder: imports it from the gallery, changes the
score threshold of tier A in the generated form, sees the located error of a bad condition next
to the control and in the YAML's problem list, simulates the draft on the sample leads against
team east's roster, and publishes it with a note."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browser_support import SAMPLE, shot

pytestmark = pytest.mark.browser

# tier (the fifth table) → its second row: 'score >= 60' gives A.
WHEN = "$.segments[4].rules[1].when"


def test_admin_imports_adapts_simulates_and_publishes(web) -> None:
    page = web.page("admin")
    expect(page.locator('[data-test="gallery"]')).to_be_visible()
    shot(page, "admin-flow-templates-en")

    # The gallery: import the sample as the draft, which opens the builder.
    page.locator(f'[data-test="import-{SAMPLE}"]').click()
    page.wait_for_url(f"**/admin/templates/{SAMPLE}/edit")
    expect(page.locator("p.flash")).to_contain_text(f"The sample {SAMPLE} is now the draft")
    status = page.locator('[data-test="validation-status"]')
    expect(status).to_have_attribute("data-valid", "true")
    yaml = page.locator('[data-test="yaml-editor"]')
    expect(yaml).to_have_value(re.compile(r"when: '?score >= 60"))

    # The generated form: segments → tier → its second row; the row's condition.
    page.locator('[data-test="section-segments"]').click()
    page.locator('[data-test="item-$.segments[4]"] .sf-index').click()
    page.locator('[data-test="item-$.segments[4].rules[1]"] .sf-index').click()
    condition = page.locator(f'[data-test="condition-{WHEN}"]')
    expect(condition).to_have_value("score >= 60")
    condition.fill("score >= 65")
    expect(yaml).to_have_value(re.compile(r"when: '?score >= 65"))
    expect(yaml).not_to_have_value(re.compile(r"score >= 60"))
    expect(page.locator('[data-test="dirty-state"]')).not_to_be_empty()
    expect(status).to_have_attribute("data-valid", "true")

    # A bad condition: located by line and path, next to the control and in the YAML's list.
    condition.fill("score >== 65")
    error = page.locator(f'[data-test="form-error"][data-path="{WHEN}"]')
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile(r"line \d+ · .*=="))
    expect(status).to_have_attribute("data-valid", "false")
    expect(status).to_have_text("✗ 1 problem")
    problem = page.locator(f'[data-test="yaml-problems"] li[data-path="{WHEN}"]')
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text(re.compile(r"line \d+"))
    # The error sits inside the condition's own block, right under the input.
    expect(page.locator(f'.sf-condition[data-path="{WHEN}"] [data-test="form-error"]')).to_have_count(1)
    expect(page.locator('[data-test="item-$.segments[4].rules[1]"]')).to_have_class(re.compile(r"\bhas-error\b"))
    shot(page, "admin-flow-builder-error-en", full_page=False)

    # Fixed again: the error goes, the draft is valid.
    condition.fill("score >= 65")
    expect(status).to_have_attribute("data-valid", "true")
    expect(error).to_have_count(0)
    expect(page.locator('[data-test="yaml-problems"] li')).to_have_count(0)

    # Simulate the draft on the sample leads against east's live roster.
    page.locator('[data-test="open-simulate"]').click()
    expect(page.locator('[data-test="simulate-panel"]')).to_be_visible()
    expect(page.locator('[data-test="sim-team"]')).to_have_value("east")
    page.locator('[data-test="sim-run"]').click()
    results = page.locator('[data-test="sim-results"]')
    expect(results.locator('[data-test="sim-figures"]')).to_be_visible()
    expect(results.locator('[data-test="sim-outcomes"]')).to_contain_text(re.compile(r"\d+ leads"))
    expect(results.locator('[data-test="sim-grade-tier"]')).to_be_visible()
    expect(results.locator('[data-test="sim-load-chart"]')).to_be_visible()
    expect(results.locator('[data-test="sim-rep"]').first).to_be_visible()
    expect(results.locator('[data-test="sim-explanation"]').first).to_be_visible()
    expect(results.locator('[data-test="sim-eligible"]')).to_have_text(re.compile(r"\d+"))
    shot(page, "admin-flow-simulation-en")

    # Publish with a note: version 2, and the history says what changed.
    page.locator('[data-test="publish-note"]').fill("tier A from a score of 65")
    page.locator('[data-test="publish"]').click()
    published = page.locator('[data-test="publish-result"]')
    expect(published).to_have_attribute("data-version", "2")
    expect(page.locator('[data-test="dirty-state"]')).to_be_empty()
    page.locator('[data-test="publish-versions-link"]').click()
    page.wait_for_url(f"**/admin/templates/{SAMPLE}/versions")
    expect(page.locator("body")).to_contain_text("tier A from a score of 65")
    shot(page, "admin-flow-versions-en")
