"""A stored lead read back as the engine's record: the fast decoding gives exactly what ``coerce`` gives."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

from configurator.services.leads import _decoders, record_of, to_json
from rule_engine import CompiledTemplate, load_template
from rule_engine.fields import coerce

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ("b2b_software", "medical_devices", "consumer_goods_regional", "finance_points")

# Stored values a field may meet: its own valid form, another type's, padded, empty, out of range.
ODD: list[Any] = [
    None, "", "  ", " x ", "x", "A", "a" * 31, "a" * 101, "a" * 2001, 0, 1, -1, 1.5, -0.0, 10**15, 10**15 + 1, 1e15, 1.0000001e15,
    math.nan, math.inf, -math.inf, True, False, "true", "no", "2026-11-23", " 2026-11-23", "20261123", "2026-W48-1",
    "2026-11-23T09:00:00+08:00", "2026-11-23 09:00", "2026-11-23T09:00:00Z", "bad", [], ["x"], ["a", "a"], [1], {"a": 1},
    "13912345678", "+86 139 1234 5678", "a@b.co", "a @b.co", "https://example.com", "91310000MA1K3YJ123",
]


def expected(template: CompiledTemplate, name: str, raw: Any) -> Any:
    value, problem = coerce(template.fields[name], raw, template.timezone)
    return value if problem is None else None


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def stored_values(template: CompiledTemplate, sample: str) -> dict[str, list[Any]]:
    """Each field's values in the sample leads, stored the way intake stores them."""
    out: dict[str, list[Any]] = {name: [] for name in template.fields}
    with open(ROOT / "examples" / sample / "leads.csv", encoding="utf-8-sig", newline="") as fh:
        for raw in csv.DictReader(fh):
            values, _ = template.lead_record({k: v for k, v in raw.items() if k in template.fields}, text=True)
            for name, value in to_json(values).items():
                out[name].append(value)
    return out


@pytest.mark.parametrize("sample", SAMPLES)
def test_each_field_decodes_as_coerce_does(sample: str) -> None:
    template = load_template(ROOT / "templates" / f"{sample}.yaml")
    decoders = _decoders(template)
    stored = stored_values(template, sample)
    for name, fdef in template.fields.items():
        options = [o.value for o in fdef.options]
        candidates = [*ODD, *stored[name], *options, *(f" {o}" for o in options), options[:2], options[:1] * 2, [*options, "nope"]]
        for raw in candidates:
            got, want = decoders[name](raw), expected(template, name, raw)
            assert same(got, want), (sample, name, fdef.type, raw, got, want)


def test_record_of_a_stored_lead() -> None:
    template = load_template(ROOT / "templates" / "b2b_software.yaml")

    class Stored:
        id = "L1"
        fields = {"industry": "finance", "employees": 250, "deal_size": 1.5e6, "expected_close_date": "2026-12-01", "dropped_field": 1, "company": " ACME 公司 "}
        owner_id = previous_owner_id = None
        created_at = dt.datetime(2026, 11, 23, 1, 0)  # as SQLite gives it back: UTC without an offset
        assigned_at = first_followup_at = last_followup_at = reclaimed_at = None
        followup_count = reclaim_count = 0

    record = record_of(template, Stored())  # type: ignore[arg-type]
    assert record == {
        "industry": "finance", "employees": 250, "deal_size": 1.5e6, "expected_close_date": dt.date(2026, 12, 1), "company": "ACME 公司", "id": "L1",
        "created_at": dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.timezone.utc), "followup_count": 0, "reclaim_count": 0,
    }
