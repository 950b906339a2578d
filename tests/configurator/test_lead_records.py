"""A stored lead read back as the record the engine evaluates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from configurator.services.leads import record_of
from rule_engine import load_template

ROOT = Path(__file__).resolve().parents[2]


def test_record_of_a_stored_lead() -> None:
    template = load_template(ROOT / "templates" / "b2b_software.yaml")

    class Stored:
        id = "L1"
        fields = {"industry": "finance", "employees": 250, "deal_size": 1.5e6, "expected_close_date": "2026-12-01", "dropped_field": 1, "company": " ACME 公司 ", "region": "atlantis"}
        owner_id = previous_owner_id = None
        created_at = dt.datetime(2026, 11, 23, 1, 0)  # as SQLite gives it back: UTC without an offset
        assigned_at = first_followup_at = last_followup_at = reclaimed_at = None
        followup_count = reclaim_count = 0

    record = record_of(template, Stored())  # type: ignore[arg-type]
    assert record == {
        "industry": "finance", "employees": 250, "deal_size": 1.5e6, "expected_close_date": dt.date(2026, 12, 1), "company": "ACME 公司", "id": "L1",
        "created_at": dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.timezone.utc), "followup_count": 0, "reclaim_count": 0,
    }
