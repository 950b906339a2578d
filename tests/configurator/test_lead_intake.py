"""One lead in: validated per field, graded, deduplicated; stored values read back as the engine's record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.services import leads as leads_svc
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from rule_engine import InputError

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
GOOD = {
    "company": "华东精密制造有限公司", "credit_code": "91310000MA1FL3XQ2K", "contact": "周敏", "phone": "13912345678",
    "industry": "manufacturing", "region": "east", "deal_size": "1500000", "decision_makers": "4",
    "competitor": "several", "customization": "light", "budget_confirmed": "true", "contact_role": "cio",
    "employees": "1200", "source": "referral", "stage": "new", "expected_close_date": "2026-12-20",
}


def test_add_grade_dedup_and_read_back(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:
        with session_scope(sessions) as s:
            tmpl_svc.import_draft(s, (ROOT / "templates" / "b2b_software.yaml").read_text(encoding="utf-8"))
            version = tmpl_svc.publish(s, "b2b_software")
            team = teams_svc.create_team(s, "east", "华东团队", "b2b_software")
            lead = leads_svc.add_lead(s, team, version, GOOD, NOW, text=True)
            assert lead.state == "new" and lead.owner_id is None
            assert lead.outputs["tier"] == "A" and lead.outputs["quadrant"] == "high_value_high_difficulty"
            assert lead.weight == 3.0 and lead.is_open
            assert lead.fields["expected_close_date"] == "2026-12-20" and lead.fields["deal_size"] == 1500000
            record = leads_svc.record_of(tmpl_svc.compiled(version), lead)
            assert record["expected_close_date"] == dt.date(2026, 12, 20) and record["budget_confirmed"] is True
        with session_scope(sessions) as s:
            team = teams_svc.get_team(s, "east")
            version = tmpl_svc.get_version(s, "b2b_software")
            with pytest.raises(tmpl_svc.ServiceError) as dup:
                leads_svc.add_lead(s, team, version, {**GOOD, "company": "另一家"}, NOW, text=True)
            assert "already exists" in dup.value.problems[0].en
            with pytest.raises(InputError) as bad:
                leads_svc.add_lead(s, team, version, {**GOOD, "credit_code": "91310000MA1FL3XQ2L", "deal_size": "lots", "region": "eastern", "phone": ""}, NOW, text=True)
            by_field = {p.path[0]: p for p in bad.value.problems}
            assert set(by_field) == {"deal_size", "region", "phone"}
            assert by_field["region"].suggestion == "east" and by_field["phone"].code == "field.required"
            # a caller cannot set the owner or the history through the fields
            sneaky = leads_svc.add_lead(s, team, version, {**GOOD, "credit_code": "91310000MA1FL3XQ2M", "owner": "r01", "followup_count": "9"}, NOW, text=True)
            assert sneaky.owner_id is None and sneaky.followup_count == 0
    finally:
        engine.dispose()
