"""The shipped template JSON Schema and its problems (rule_engine.schema)."""

from __future__ import annotations

import copy
import json
import socket
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from rule_engine import schema as schema_module
from rule_engine.errors import Problem
from rule_engine.schema import MAX_DEPTH, SCHEMA_ID, SCHEMA_PATH, schema_problems, template_schema

# ------------------------------------------------------------------------------------------------
# A complete, realistic template that uses every key of the format
# ------------------------------------------------------------------------------------------------

FULL: dict[str, Any] = {
    "$schema": "https://fenpei.dev/schema/template-1.json",
    "fenpei": 1,
    "name": "b2b_software",
    "title": {"zh": "B2B 软件团队", "en": "B2B software team"},
    "description": {"zh": "按价值和难度分级,大客户给资深销售。", "en": "Grade by value and difficulty; key accounts go to senior reps."},
    "timezone": "Asia/Shanghai",
    "fields": {
        "company": {
            "type": "string",
            "title": {"zh": "公司", "en": "Company"},
            "description": {"zh": "客户公司的全称", "en": "The customer's registered name"},
            "required": True,
            "unique": True,
            "min_length": 2,
            "max_length": 200,
            "group": {"zh": "客户", "en": "Customer"},
            "order": 1,
            "widget": "input",
        },
        "contact": {"type": "string", "title": "Contact", "required": True, "group": {"zh": "客户", "en": "Customer"}},
        "phone": {"type": "phone", "title": {"zh": "电话", "en": "Phone"}, "unique": True, "widget": "phone", "pattern": "^1[3-9][0-9]{9}$"},
        "email": {"type": "email", "title": {"zh": "邮箱", "en": "Email"}, "widget": "email"},
        "website": {"type": "url", "title": {"zh": "网站", "en": "Website"}, "widget": "url"},
        "tax_id": {"type": "string", "title": {"zh": "税号", "en": "Tax id"}, "pattern": "^[A-Z]{2}[0-9]{4}$"},
        "deal_size": {
            "type": "number",
            "title": {"zh": "预计金额", "en": "Deal size"},
            "required": True,
            "default": 0,
            "minimum": 0,
            "maximum": 100000000,
            "widget": "number",
            "group": {"zh": "商机", "en": "Opportunity"},
            "order": 10,
        },
        "employees": {"type": "integer", "title": {"zh": "员工数", "en": "Employees"}, "minimum": 1, "default": 10},
        "industry": {
            "type": "enum",
            "title": {"zh": "行业", "en": "Industry"},
            "widget": "select",
            "default": "medical",
            "options": [
                "medical",
                {"value": "finance", "title": {"zh": "金融", "en": "Finance"}},
                "manufacturing",
                "education",
            ],
        },
        "region": {"type": "enum", "title": {"zh": "区域", "en": "Region"}, "options": ["north", "south", "east", "west"]},
        "product_lines": {
            "type": "tags",
            "title": {"zh": "产品线", "en": "Product lines"},
            "options": ["crm", "erp", "bi", "hr"],
            "max_items": 4,
            "default": ["crm"],
            "widget": "tags",
        },
        "stage": {
            "type": "enum",
            "title": {"zh": "阶段", "en": "Stage"},
            "options": ["new", "qualified", "proposal", "negotiation", "won", "lost"],
            "default": "new",
            "widget": "radio",
        },
        "budget_confirmed": {"type": "boolean", "title": {"zh": "预算已确认", "en": "Budget confirmed"}, "default": False, "widget": "checkbox"},
        "expected_close": {
            "type": "date",
            "title": {"zh": "预计成交日", "en": "Expected close"},
            "widget": "date",
            "required_when": 'stage == "proposal"',
            "default": "2026-12-31",
        },
        "last_meeting": {"type": "datetime", "title": {"zh": "最近会面", "en": "Last meeting"}, "widget": "datetime"},
        "account_owner": {"type": "string", "title": {"zh": "客户负责人", "en": "Account owner"}},
        "notes": {
            "type": "text",
            "title": {"zh": "备注", "en": "Notes"},
            "widget": "textarea",
            "max_length": 4000,
            "visible_when": {
                "any": [
                    {"field": "stage", "op": "in", "value": ["proposal", "negotiation"]},
                    {"not": {"field": "deal_size", "op": "<", "value": 100000}},
                    {"expr": "days_since(created_at) > 30"},
                    'industry == "medical"',
                ]
            },
        },
    },
    "rep_fields": {
        "level": {"type": "enum", "title": {"zh": "级别", "en": "Level"}, "options": ["intern", "junior", "senior", "expert"]},
        "skills": {"type": "tags", "title": {"zh": "技能", "en": "Skills"}, "options": ["crm", "erp", "bi", "hr"]},
        "regions": {"type": "tags", "title": {"zh": "负责区域", "en": "Regions"}, "options": ["north", "south", "east", "west"]},
        "capacity": {"type": "number", "title": {"zh": "容量", "en": "Capacity"}, "default": 10, "minimum": 0},
    },
    "segments": [
        {
            "name": "value",
            "title": {"zh": "客户价值", "en": "Customer value"},
            "hit_policy": "first",
            "rules": [
                {"when": "deal_size >= 1000000", "output": "high", "title": {"zh": "百万以上", "en": "A million or more"}},
                {"when": {"field": "deal_size", "op": ">=", "value": 200000}, "output": "medium"},
            ],
            "default": "low",
        },
        {
            "name": "difficulty",
            "title": {"zh": "难度", "en": "Difficulty"},
            "hit_policy": "unique",
            "rules": [
                {"when": "employees >= 1000", "output": "high"},
                {"when": "employees >= 100 and employees < 1000", "output": "medium"},
                {"when": "employees < 100", "output": "low"},
            ],
        },
        {
            "name": "quadrant",
            "hit_policy": "priority",
            "priorities": ["strategic", "grow", "maintain"],
            "rules": [
                {"when": 'value == "high" and difficulty == "high"', "output": "strategic"},
                {"when": 'value == "high"', "output": "grow"},
                {"output": "maintain"},
            ],
        },
        {
            "name": "score",
            "title": "Score",
            "hit_policy": "collect",
            "aggregate": "sum",
            "rules": [
                {"when": 'value == "high"', "output": 40},
                {"when": 'industry in ["medical", "finance"]', "output": 20},
                {"when": "budget_confirmed", "output_expr": "round(deal_size / 100000)"},
            ],
            "default": 0,
        },
        {
            "name": "consistent_flag",
            "hit_policy": "any",
            "rules": [
                {"when": "deal_size > 5000000", "output": True},
                {"when": 'industry == "finance" and deal_size > 5000000', "output": True},
            ],
            "default": False,
        },
        {
            "name": "signals",
            "hit_policy": "rule_order",
            "rules": [
                {"when": "budget_confirmed", "output": "budget"},
                {"when": "len(product_lines) >= 2", "output": "cross_sell"},
            ],
        },
        {
            "name": "signal_count",
            "hit_policy": "collect",
            "aggregate": "count",
            "rules": [{"when": "budget_confirmed", "output": 1}, {"when": "phone is set", "output": 1}],
        },
        {
            "name": "tier",
            "title": {"zh": "等级", "en": "Tier"},
            "rules": [{"when": "score >= 60", "output": "A"}, {"when": "score >= 30", "output": "B"}],
            "default": "C",
        },
    ],
    "load": {
        "weights": [
            {"when": 'value == "high" and difficulty == "high"', "weight": 3},
            {"when": 'value == "medium" or difficulty == "medium"', "weight": 1.5},
        ],
        "default_weight": 0.5,
        "cap": "rep.capacity",
        "daily_quota": 5,
        "weekly_quota": "rep.capacity * 2",
        "open_when": 'stage not in ["won", "lost"]',
    },
    "assignment": {
        "policies": [
            {
                "name": "key_accounts",
                "title": {"zh": "大客户", "en": "Key accounts"},
                "when": 'tier == "A"',
                "eligible": {
                    "all": [
                        {"field": "rep.level", "op": "in", "value": ["senior", "expert"]},
                        {"field": "lead.region", "op": "in", "ref": "rep.regions"},
                        {"field": "phone", "op": "is set"},
                    ]
                },
                "strategy": "skill_match",
                "score": "overlap_count(product_lines, rep.skills) * 10",
                "min_score": 10,
                "on_no_candidate": "escalate",
            },
            {"name": "named_accounts", "when": "account_owner is set", "strategy": "by_field", "owner_field": "account_owner"},
            {
                "name": "territories",
                "when": 'tier == "B"',
                "strategy": "by_field",
                "field": "region",
                "owners": {"north": ["r01", "r02"], "south": "r05", "east": ["r03"], "west": "r04"},
                "on_no_candidate": "next",
            },
            {"name": "by_skill", "strategy": "skill_match", "lead_tags": "product_lines", "rep_tags": "skills", "min_score": 1},
            {"name": "by_capacity", "when": 'industry == "education"', "strategy": "weighted", "weight": "rep.capacity"},
            {"name": "top_performers", "when": 'stage == "qualified"', "strategy": "points_priority"},
            {"name": "balanced", "when": 'value == "medium"', "strategy": "least_loaded", "eligible": 'rep.level != "intern"'},
            {"name": "everyone", "when": 'value == "low"', "strategy": "round_robin", "on_no_candidate": "pool"},
            {"name": "hold", "strategy": "pool"},
        ],
        "otherwise": "pool",
    },
    "reclaim": {
        "rules": [
            {
                "name": "no_first_followup",
                "title": {"zh": "分配后3天未首次跟进", "en": "No first follow-up within 3 days"},
                "since": "assigned",
                "days": 3,
                "when": "followup_count == 0",
                "remind_before_days": 1,
                "action": "pool",
                "notify": ["owner", "manager"],
            },
            {
                "name": "gone_quiet",
                "since": "last_followup",
                "days": 7,
                "when": 'not (stage in ["negotiation", "won"])',
                "remind_before_days": 0.5,
                "action": "reassign",
                "notify": ["owner"],
            },
            {"name": "stale", "since": "created", "days": 90},
        ],
        "protected": 'stage in ["negotiation", "won"]',
        "cooldown_days": 7,
        "claim": {"daily_limit": 5, "max_held": 30, "eligible": 'rep.level != "intern"'},
    },
    "triggers": [
        {
            "name": "upgrade_recheck",
            "on": "grade_changed",
            "table": "tier",
            "when": 'tier == "A"',
            "action": "reassign_if_ineligible",
            "policy": "key_accounts",
            "handover": True,
            "message": {"zh": "这个客户可能更适合由资深销售跟进", "en": "This account may suit a senior rep better"},
        },
        {"name": "to_closing", "on": "stage_changed", "when": 'stage == "negotiation"', "action": "suggest", "handover": False},
        {"name": "leave", "on": "rep_unavailable", "action": "redistribute"},
        {"name": "full", "on": "rep_over_cap", "action": "pause_intake"},
    ],
    "handover": {"form": "handover", "require_ack": True, "contact_fields": ["contact", "phone", "email"]},
    "won_when": 'stage == "won"',
    "points": {
        "period": "month",
        "rules": [
            {
                "name": "challenge_win",
                "title": {"zh": "攻坚成交", "en": "Hard win"},
                "on": "lead.converted",
                "when": 'difficulty == "high"',
                "amount": "round(deal_size / 10000)",
                "cap": 500,
                "once": "per_lead",
                "to": "owner",
            },
            {"name": "followup", "on": "followup.logged", "amount": 1, "cap": 50},
            {"name": "lost_to_pool", "on": "lead.reclaimed", "amount": -5, "to": "previous_owner", "cap": 100},
            {"name": "team_goal", "on": "period.ended", "amount": 100, "once": "per_rep_period"},
            {"name": "handed_over", "on": "handover.completed", "amount": 2},
            {"name": "took_lead", "on": "lead.assigned", "amount": 0.5},
            {"name": "moved", "on": "stage.changed", "when": 'stage == "proposal"', "amount": 3},
        ],
    },
    "targets": {
        "period": "quarter",
        "levels": ["company", "region", "team", "rep"],
        "split": "weights",
        "grade": "tier",
        "metrics": [
            {"name": "revenue", "title": {"zh": "签约额", "en": "Revenue"}, "kind": "revenue", "field": "deal_size"},
            {"name": "new_customers", "kind": "new_customers", "when": 'industry == "medical"'},
            {"name": "deals", "kind": "deals_won"},
            {"name": "visits", "kind": "visits", "when": 'method == "visit"'},
            {"name": "calls", "kind": "calls", "when": 'method == "call"'},
            {"name": "proposals", "kind": "proposals_sent", "when": 'method == "wechat"'},
            {"name": "followups", "kind": "followups_logged"},
        ],
        "health": {
            "completion": {"green": 1, "yellow": 0.8},
            "activity": {"green": 1, "yellow": 0.8},
            "coverage": {"green": 0.9, "yellow": 0.7},
            "first_response_hours": {"green": 24, "yellow": 72},
            "compliance": {"green": 0.95, "yellow": 0.8},
            "reclaim_rate": {"green": 0.05, "yellow": 0.15},
        },
    },
    "forms": {
        "new_lead": {"title": {"zh": "新建线索", "en": "New lead"}, "include": ["company", "contact", "phone", "deal_size"]},
        "followup": {
            "title": {"zh": "跟进记录", "en": "Follow-up"},
            "fields": {
                "method": {"type": "enum", "options": ["call", "visit", "wechat"], "title": {"zh": "方式", "en": "Method"}, "required": True},
                "visit_notes": {
                    "type": "text",
                    "title": {"zh": "拜访记录", "en": "Visit notes"},
                    "visible_when": 'method == "visit"',
                    "required_when": 'method == "visit"',
                },
            },
        },
        "stage_change": {"include": ["stage", "expected_close"]},
        "handover": {
            "title": {"zh": "交接清单", "en": "Handover checklist"},
            "fields": {
                "preferences": {"type": "text", "title": {"zh": "客户偏好", "en": "Preferences"}, "required": True},
                "concerns": {"type": "text", "title": {"zh": "未解决的问题", "en": "Open concerns"}},
            },
        },
    },
}

MINIMAL: dict[str, Any] = {"fenpei": 1, "name": "tiny", "title": "Tiny", "fields": {"company": {"type": "string"}}}


def _schema_keys(node: Any) -> Iterator[str]:
    """Every property name the schema defines."""
    if isinstance(node, dict):
        for key, sub in (node.get("properties") or {}).items():
            yield key
            yield from _schema_keys(sub)
        for key, sub in node.items():
            if key != "properties":
                yield from _schema_keys(sub)
    elif isinstance(node, list):
        for sub in node:
            yield from _schema_keys(sub)


def _document_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, sub in node.items():
            yield key
            yield from _document_keys(sub)
    elif isinstance(node, list):
        for sub in node:
            yield from _document_keys(sub)


# ------------------------------------------------------------------------------------------------
# The schema itself
# ------------------------------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = template_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID


def test_schema_is_loaded_once_from_the_package_file() -> None:
    assert template_schema() is template_schema()
    assert json.loads(SCHEMA_PATH.read_text(encoding="utf-8")) == template_schema()


def test_every_ref_stays_inside_the_schema() -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for sub in node.values():
                walk(sub)
        elif isinstance(node, list):
            for sub in node:
                walk(sub)

    walk(template_schema())
    assert refs and all(r.startswith("#/$defs/") for r in refs)
    defs = template_schema()["$defs"]
    assert {r.removeprefix("#/$defs/") for r in refs} <= set(defs)


def _main_properties(node: Any, where: str = "$") -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, name, schema) of every property definition, outside conditional subschemas."""
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            yield where, name, sub
            yield from _main_properties(sub, f"{where}.{name}")
        for key, sub in node.items():
            if key in ("properties", "if", "then", "else", "dependentSchemas", "not"):
                continue
            yield from _main_properties(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _main_properties(sub, f"{where}[{i}]")


def test_every_object_is_closed_and_every_property_has_a_title_and_a_description() -> None:
    found = list(_main_properties(template_schema()))
    assert len(found) > 100
    for where, name, sub in found:
        assert isinstance(sub.get("title"), str) and sub["title"], (where, name)
        assert isinstance(sub.get("description"), str) and sub["description"], (where, name)

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("type") == "object":
                assert node.get("additionalProperties") is False, where
            for key, sub in node.items():
                walk(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}[{i}]")

    walk(template_schema(), "$")


@pytest.mark.parametrize(
    ("location", "values"),
    [
        ("field.type", ["string", "text", "integer", "number", "boolean", "date", "datetime", "enum", "tags", "email", "phone", "url"]),
        ("field.widget", ["input", "textarea", "number", "date", "datetime", "select", "radio", "checkbox", "tags", "email", "phone", "url"]),
        ("segment.hit_policy", ["first", "unique", "priority", "any", "collect", "rule_order"]),
        ("segment.aggregate", ["sum", "min", "max", "count", "list"]),
        ("policy.strategy", ["round_robin", "least_loaded", "weighted", "skill_match", "points_priority", "by_field", "pool"]),
        ("policy.on_no_candidate", ["next", "pool", "escalate"]),
        ("reclaim_rule.since", ["assigned", "last_followup", "created"]),
        ("reclaim_rule.action", ["pool", "reassign"]),
        ("trigger.on", ["grade_changed", "stage_changed", "rep_unavailable", "rep_over_cap"]),
        ("trigger.action", ["reassign_if_ineligible", "reassign", "suggest", "pause_intake", "redistribute", "pool"]),
        (
            "points_rule.on",
            ["lead.assigned", "followup.logged", "stage.changed", "lead.converted", "lead.reclaimed", "handover.completed", "period.ended"],
        ),
        ("points_rule.once", ["per_lead", "per_rep_period"]),
        ("points_rule.to", ["owner", "previous_owner"]),
        (
            "condition_tree.op",
            ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is set", "is not set", "is empty", "is not empty"],
        ),
    ],
)
def test_closed_sets_are_enums(location: str, values: list[str]) -> None:
    definition, key = location.split(".")
    assert template_schema()["$defs"][definition]["properties"][key]["enum"] == values


def test_closed_sets_of_sections_are_enums() -> None:
    props = template_schema()["properties"]
    assert props["assignment"]["properties"]["otherwise"]["enum"] == ["pool", "escalate"]
    assert props["points"]["properties"]["period"]["enum"] == ["day", "week", "month", "quarter", "year"]
    notify = template_schema()["$defs"]["reclaim_rule"]["properties"]["notify"]
    assert notify["items"]["enum"] == ["owner", "manager"]


# ------------------------------------------------------------------------------------------------
# Valid documents
# ------------------------------------------------------------------------------------------------


def test_complete_template_is_valid() -> None:
    assert schema_problems(FULL) == []


def test_complete_template_uses_every_key_of_the_schema() -> None:
    unused = set(_schema_keys(template_schema())) - set(_document_keys(FULL))
    assert unused == set()


def test_minimal_template_is_valid() -> None:
    assert schema_problems(MINIMAL) == []


def test_plain_string_titles_and_descriptions_are_valid() -> None:
    doc = copy.deepcopy(MINIMAL)
    doc["description"] = "One string for both languages"
    doc["fields"]["company"]["title"] = "Company"
    assert schema_problems(doc) == []


# ------------------------------------------------------------------------------------------------
# Broken documents
# ------------------------------------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _set(path: tuple[Any, ...], value: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        node: Any = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return edit


def _drop(path: tuple[Any, ...]) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        node: Any = doc
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return edit


def _rename_field(old: str, new: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        doc["fields"][new] = doc["fields"].pop(old)

    return edit


def _nested(depth: int) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        condition: Any = {"field": "deal_size", "op": ">", "value": 1}
        for _ in range(depth):
            condition = {"not": condition}
        doc["fields"]["notes"]["visible_when"] = condition

    return edit


ROW0 = ("segments", 0, "rules", 0)
POLICY0 = ("assignment", "policies", 0)
NOTES_WHEN = ("fields", "notes", "visible_when")

BROKEN: list[tuple[str, Edit, str, tuple[Any, ...] | None, str | None]] = [
    ("unknown top key", _set(("segmets",), []), "schema.additionalProperties", ("segmets",), "segments"),
    ("unknown field key", _set(("fields", "company", "requried"), True), "schema.additionalProperties", ("fields", "company", "requried"), "required"),
    ("missing title", _drop(("title",)), "schema.required", (), None),
    ("title without en", _set(("title",), {"zh": "团队"}), "schema.required", ("title",), None),
    ("empty title", _set(("title",), ""), "schema.minLength", ("title",), None),
    ("format version 2", _set(("fenpei",), 2), "schema.const", ("fenpei",), None),
    ("bad template name", _set(("name",), "B2B-Software"), "schema.pattern", ("name",), "b2b_software"),
    ("bad timezone", _set(("timezone",), "Asia Shanghai"), "schema.pattern", ("timezone",), None),
    ("no fields", _set(("fields",), {}), "schema.minProperties", ("fields",), None),
    ("bad field name", _rename_field("deal_size", "Deal Size"), "schema.pattern", ("fields", "Deal Size"), "deal_size"),
    ("reserved field name", _rename_field("account_owner", "owner"), "schema.not", ("fields", "owner"), None),
    ("bad field type", _set(("fields", "company", "type"), "str"), "schema.enum", ("fields", "company", "type"), "string"),
    ("enum without options", _drop(("fields", "industry", "options")), "schema.required", ("fields", "industry"), None),
    ("options on a number", _set(("fields", "deal_size", "options"), ["a"]), "schema.dependentSchemas", ("fields", "deal_size", "options"), None),
    ("bad option value", _set(("fields", "region", "options", 0), "far north"), "schema.pattern", ("fields", "region", "options", 0), None),
    ("default of wrong type", _set(("fields", "deal_size", "default"), "big"), "schema.type", ("fields", "deal_size", "default"), None),
    ("bad widget", _set(("fields", "notes", "widget"), "text_area"), "schema.enum", ("fields", "notes", "widget"), "textarea"),
    ("bad hit policy", _set(("segments", 0, "hit_policy"), "frist"), "schema.enum", ("segments", 0, "hit_policy"), "first"),
    ("aggregate on a first table", _set(("segments", 0, "aggregate"), "sum"), "schema.dependentSchemas", ("segments", 0, "aggregate"), None),
    ("priorities on a collect table", _set(("segments", 3, "priorities"), [1]), "schema.dependentSchemas", ("segments", 3, "priorities"), None),
    ("bad aggregate", _set(("segments", 3, "aggregate"), "total"), "schema.enum", ("segments", 3, "aggregate"), None),
    ("table without rows", _set(("segments", 0, "rules"), []), "schema.minItems", ("segments", 0, "rules"), None),
    ("output and output_expr", _set((*ROW0, "output_expr"), "deal_size / 2"), "schema.oneOf", ROW0, None),
    ("neither output", _drop((*ROW0, "output")), "schema.oneOf", ROW0, None),
    ("bad condition op", _set(NOTES_WHEN, {"field": "deal_size", "op": "=>", "value": 1}), "schema.enum", (*NOTES_WHEN, "op"), ">="),
    ("in with a scalar", _set(NOTES_WHEN, {"field": "stage", "op": "in", "value": "won"}), "schema.type", (*NOTES_WHEN, "value"), None),
    ("is set with a value", _set(NOTES_WHEN, {"field": "phone", "op": "is set", "value": 1}), "schema.dependentSchemas", (*NOTES_WHEN, "value"), None),
    ("two tree shapes", _set(NOTES_WHEN, {"all": ["a > 1"], "any": ["b > 1"]}), "schema.oneOf", NOTES_WHEN, None),
    ("condition too long", _set(NOTES_WHEN, "deal_size > 1 and " * 120 + "true"), "schema.maxLength", NOTES_WHEN, None),
    ("condition of wrong type", _set(NOTES_WHEN, 5), "schema.type", NOTES_WHEN, None),
    ("bad name in a tree", _set(NOTES_WHEN, {"field": "Deal.Size", "op": "is set"}), "schema.pattern", (*NOTES_WHEN, "field"), None),
    ("wrong type for cap", _set(("load", "cap"), [10]), "schema.type", ("load", "cap"), None),
    ("negative cap", _set(("load", "cap"), -1), "schema.exclusiveMinimum", ("load", "cap"), None),
    ("bad strategy", _set((*POLICY0, "strategy"), "round-robin"), "schema.enum", (*POLICY0, "strategy"), "round_robin"),
    ("skill_match without score", _drop((*POLICY0, "score")), "schema.oneOf", POLICY0, None),
    ("weight on skill_match", _set((*POLICY0, "weight"), 2), "schema.dependentSchemas", (*POLICY0, "weight"), None),
    ("bad on_no_candidate", _set((*POLICY0, "on_no_candidate"), "skip"), "schema.enum", (*POLICY0, "on_no_candidate"), None),
    ("owners of wrong type", _set(("assignment", "policies", 2, "owners", "north"), 7), "schema.type", ("assignment", "policies", 2, "owners", "north"), None),
    ("bad otherwise", _set(("assignment", "otherwise"), "next"), "schema.enum", ("assignment", "otherwise"), None),
    ("bad reclaim since", _set(("reclaim", "rules", 0, "since"), "assign"), "schema.enum", ("reclaim", "rules", 0, "since"), "assigned"),
    ("days 0", _set(("reclaim", "rules", 0, "days"), 0), "schema.exclusiveMinimum", ("reclaim", "rules", 0, "days"), None),
    ("notify twice", _set(("reclaim", "rules", 0, "notify"), ["owner", "owner"]), "schema.uniqueItems", ("reclaim", "rules", 0, "notify", 1), None),
    ("bad notify", _set(("reclaim", "rules", 0, "notify"), ["boss"]), "schema.enum", ("reclaim", "rules", 0, "notify", 0), None),
    ("claim limit fraction", _set(("reclaim", "claim", "daily_limit"), 2.5), "schema.type", ("reclaim", "claim", "daily_limit"), None),
    ("grade_changed without table", _drop(("triggers", 0, "table")), "schema.required", ("triggers", 0), None),
    ("pool on rep_over_cap", _set(("triggers", 3, "action"), "pool"), "schema.enum", ("triggers", 3, "action"), None),
    ("handover without form", _drop(("handover", "form")), "schema.required", ("handover",), None),
    ("points amount list", _set(("points", "rules", 0, "amount"), [50]), "schema.type", ("points", "rules", 0, "amount"), None),
    ("bad points once", _set(("points", "rules", 0, "once"), "per-lead"), "schema.enum", ("points", "rules", 0, "once"), "per_lead"),
    ("bad points event", _set(("points", "rules", 0, "on"), "lead.won"), "schema.enum", ("points", "rules", 0, "on"), None),
    ("empty form", _set(("forms", "stage_change"), {"title": "Stage"}), "schema.anyOf", ("forms", "stage_change"), None),
    ("too deep", _nested(MAX_DEPTH), "schema.depth", None, None),
]


@pytest.mark.parametrize(("edit", "code", "path", "suggestion"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_document(edit: Edit, code: str, path: tuple[Any, ...] | None, suggestion: str | None) -> None:
    doc = copy.deepcopy(FULL)
    edit(doc)
    problems = schema_problems(doc)
    assert problems, "the broken document was accepted"
    for p in problems:
        assert p.en and p.zh
        assert p.code.startswith("schema.")
    matching = [p for p in problems if p.code == code and (path is None or p.path == path)]
    assert matching, [(p.code, p.path, p.en) for p in problems]
    if suggestion is not None:
        assert matching[0].suggestion == suggestion
    # Nothing but the edit is wrong: one problem for each of these documents.
    assert len(problems) == 1, [(p.code, p.path, p.en) for p in problems]


def test_messages_use_our_wording() -> None:
    doc = copy.deepcopy(FULL)
    doc["segmets"] = []
    doc["segments"][0]["hit_policy"] = "frist"
    doc["fields"]["notes"]["visible_when"] = {"field": "deal_size", "op": "=>", "value": 1}
    doc["fields"]["Deal Size"] = doc["fields"].pop("deal_size")
    del doc["title"]
    by_code = {p.code: p for p in schema_problems(doc)}
    assert by_code["schema.required"].en == "missing required key 'title'"
    assert by_code["schema.required"].zh == "缺少必填的键 'title'"
    assert by_code["schema.additionalProperties"].en == "unknown key 'segmets'"
    assert by_code["schema.additionalProperties"].message() == "unknown key 'segmets' (did you mean 'segments'?)"
    assert "names use lowercase letters, digits and _ and start with a letter" in by_code["schema.pattern"].en
    enum_messages = [p for p in schema_problems(doc) if p.code == "schema.enum"]
    assert {p.suggestion for p in enum_messages} == {"first", ">="}
    assert all("is not valid under any of the given schemas" not in p.en for p in schema_problems(doc))


def test_problems_are_sorted_by_path_and_unique() -> None:
    doc = copy.deepcopy(FULL)
    doc["zzz"] = 1
    doc["aaa"] = 1
    doc["segments"][2]["hit_policy"] = "nope"
    doc["segments"][0]["rules"][1]["output_expr"] = "1"
    doc["fields"]["company"]["widget"] = "big"
    doc["reclaim"]["rules"][1]["days"] = -1
    doc["points"]["rules"][0]["to"] = "team"
    problems = schema_problems(doc)
    keys = [schema_module._path_key(p.path) for p in problems]
    assert keys == sorted(keys)
    assert len({(p.code, p.path, p.en) for p in problems}) == len(problems)
    assert [p.path for p in problems][:2] == [("aaa",), ("fields", "company", "widget")]


def test_unknown_keys_are_each_reported_at_their_own_path() -> None:
    doc = copy.deepcopy(MINIMAL)
    doc["fields"]["company"].update({"lable": "x", "requird": True})
    problems = schema_problems(doc)
    assert [(p.path, p.suggestion) for p in problems] == [
        (("fields", "company", "lable"), None),
        (("fields", "company", "requird"), "required"),
    ]


def test_required_keeps_the_object_path_and_names_each_missing_key() -> None:
    problems = schema_problems({"fenpei": 1})
    assert [(p.code, p.path, p.params["key"]) for p in problems] == [
        ("schema.required", (), "fields"),
        ("schema.required", (), "name"),
        ("schema.required", (), "title"),
    ]


def test_conditional_rules_say_when_they_apply() -> None:
    doc = copy.deepcopy(FULL)
    del doc["fields"]["industry"]["options"]
    (problem,) = schema_problems(doc)
    assert problem.en == "missing required key 'options' (when 'type' is one of: enum, tags)"
    assert "enum, tags" in problem.zh


def test_dependent_keys_are_explained() -> None:
    doc = copy.deepcopy(FULL)
    doc["segments"][0]["aggregate"] = "sum"
    (problem,) = schema_problems(doc)
    assert problem.en == "'aggregate' is only allowed when 'hit_policy' is 'collect'"
    assert problem.format() == "$.segments[0].aggregate: 'aggregate' is only allowed when 'hit_policy' is 'collect'"


def test_value_and_ref_cannot_both_be_given() -> None:
    doc = copy.deepcopy(MINIMAL)
    doc["fields"]["company"]["visible_when"] = {"field": "lead.region", "op": "in", "value": ["north"], "ref": "rep.regions"}
    (problem,) = schema_problems(doc)
    assert problem.code == "schema.dependentSchemas"
    assert problem.path == ("fields", "company", "visible_when", "value")
    assert "'ref'" in problem.en


def test_the_error_format_is_path_then_message() -> None:
    doc = copy.deepcopy(FULL)
    doc["segments"][0]["hit_policy"] = "frist"
    (problem,) = schema_problems(doc)
    assert problem.format() == (
        "$.segments[0].hit_policy: 'frist' is not one of: first, unique, priority, any, collect, rule_order "
        "(did you mean 'first'?)"
    )
    located = problem.at("team.yaml", 12)
    assert located.format("zh").startswith("team.yaml:12: $.segments[0].hit_policy: 'frist' 不是以下之一")


@pytest.mark.parametrize(
    "data",
    [None, [], "fenpei: 1", 1, {"fenpei": True}, {"fields": []}, {"fields": {"a": None}}],
    ids=["null", "list", "string", "number", "bool version", "fields list", "field null"],
)
def test_non_templates_give_problems_not_exceptions(data: Any) -> None:
    problems = schema_problems(data)
    assert problems
    assert all(isinstance(p, Problem) and p.en and p.zh for p in problems)


def test_depth_limit_is_reported_once_and_shallower_trees_validate() -> None:
    doc = copy.deepcopy(FULL)
    _nested(MAX_DEPTH - 4)(doc)  # $ -> fields -> notes -> visible_when -> not ... : exactly MAX_DEPTH levels
    assert schema_problems(doc) == []
    _nested(MAX_DEPTH - 3)(doc)
    (problem,) = schema_problems(doc)
    assert problem.code == "schema.depth"


# ------------------------------------------------------------------------------------------------
# Nothing is ever fetched
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    # Build the validator afresh under the guard, too.
    for cached in (template_schema, schema_module._engine):
        cached.cache_clear()


def test_schema_key_is_just_a_string(no_network: None) -> None:
    doc = copy.deepcopy(MINIMAL)
    doc["$schema"] = "http://example.com/x"
    assert schema_problems(doc) == []


def test_refs_in_a_document_are_data_and_never_fetched(no_network: None) -> None:
    doc = copy.deepcopy(MINIMAL)
    doc["fields"]["company"] = {"$ref": "http://example.com/field.json"}
    doc["fields"]["region"] = {"type": "enum", "options": [{"$ref": "https://example.com/options"}]}
    problems = schema_problems(doc)
    assert ("schema.additionalProperties", ("fields", "company", "$ref")) in [(p.code, p.path) for p in problems]
    assert all(p.code.startswith("schema.") for p in problems)


# ------------------------------------------------------------------------------------------------
# Anything at all gives problems, never an exception
# ------------------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(sorted(set(_schema_keys(template_schema())) | {"x", "Deal Size"}))


def _mutations(doc: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))

    walk(doc, ())

    @st.composite
    def mutate(draw: st.DrawFn) -> dict[str, Any]:
        new = copy.deepcopy(doc)
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(paths[1:]))
            node: Any = new
            try:
                for part in path[:-1]:
                    node = node[part]
                if draw(st.booleans()) and isinstance(node, dict):
                    node[draw(_keys)] = draw(_json)
                else:
                    node[path[-1]] = draw(_json)
            except (KeyError, IndexError, TypeError):
                continue
        return new

    return mutate()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(FULL))
def test_mutated_templates_give_located_bilingual_problems(doc: dict[str, Any]) -> None:
    problems = schema_problems(doc)
    assert problems == sorted(problems, key=lambda p: (schema_module._path_key(p.path), p.code, p.en))
    for p in problems:
        assert p.code.startswith("schema.") and p.code != "schema.None"
        assert p.en and p.zh
        assert "is not valid under any of the given schemas" not in p.en

