"""The template builder's pure part: forms generated from the template schema, the actions that
change the document, the condition builder's conversions, the YAML view and the Chinese labels."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from form_builder.schema_condition import OPERATORS, add, convert, names_of, render_condition
from form_builder.schema_form import ActionError, SchemaForm
from form_builder.schema_labels import ZH
from form_builder.schema_yaml import document_yaml
from rule_engine import loads_template, parse_tree, unparse
from rule_engine.conditions import COMPARISON_OPERATORS, TEST_OPERATORS, parse
from rule_engine.loader import parse_document
from rule_engine.schema import template_schema

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(p.stem for p in (ROOT / "templates").glob("*.yaml"))


def _doc(name: str) -> dict[str, Any]:
    return json.loads(json.dumps(parse_document((ROOT / "templates" / f"{name}.yaml").read_text(encoding="utf-8")).data))


@pytest.fixture(scope="module")
def form() -> SchemaForm:
    return SchemaForm()


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_sample_renders_with_a_control_for_every_value(form: SchemaForm, name: str, lang: str) -> None:
    doc = _doc(name)
    html = form.render(doc, lang=lang)
    paths = set(re.findall(r'data-path="([^"]+)"', html))
    # Every top-level key, every table row's condition and every field has its place.
    for key in doc:
        assert f"$.{key}" in paths or key in ("$schema",)
    for i, table in enumerate(doc.get("segments") or []):
        for j, row in enumerate(table["rules"]):
            if "when" in row:
                assert f"$.segments[{i}].rules[{j}].when" in paths
    for field in doc["fields"]:
        assert f"$.fields.{field}" in paths
    # Nothing fell through to a JSON box: the sample documents are valid, so every value has its widget.
    assert 'data-kind="raw"' not in html
    assert ("分级规则" in html) == (lang == "zh")


def test_kinds_follow_the_schema(form: SchemaForm) -> None:
    html = form.render(_doc("b2b_software"), lang="en")
    kinds = {path: kind for kind, path in re.findall(r'data-kind="([\w-]+)"[^>]*? data-path="([^"]+)"', html)}
    assert kinds["$.fenpei"] == "const"
    assert kinds["$.fields"] == "map"  # additionalProperties: key/value rows
    assert kinds["$.segments"] == "array"
    assert kinds["$.segments[0].hit_policy"] == "enum"
    assert kinds["$.segments[4].rules[1].when"] == "condition"
    assert kinds["$.title"] == "object"  # inside a chooser: one text, or zh and en
    assert kinds["$.fields.budget_confirmed.default"] == "boolean"  # `default` has no type: the value's own
    assert kinds["$.fields.stage.default"] == "string"
    assert kinds["$.reclaim.rules[0].notify"] == "enumset"
    assert kinds["$.fields.company.required"] == "boolean"
    assert kinds["$.load.cap"] == "number"
    assert 'data-kind="condition" data-mode="rows" data-path="$.assignment.policies[0].eligible"' in html  # a tree: rows
    assert 'data-kind="condition" data-mode="text" data-path="$.segments[4].rules[1].when"' in html  # a string: text
    # A choice around the title, and the builder rows for the tree written in the sample.
    assert 'data-kind="choice" data-path="$.title"' in html
    assert 'data-kind="cond-row" data-path="$.assignment.policies[0].eligible.all[1]"' in html


def test_a_wrong_value_is_shown_as_json_and_an_unknown_key_is_kept(form: SchemaForm) -> None:
    doc = _doc("b2b_software")
    doc["load"]["cap"] = {"oops": 1}
    doc["segments"][0]["colour"] = "red"
    html = form.render(doc, lang="en")
    assert re.search(r'data-kind="raw" data-path="\$\.load\.cap"', html) or 'data-kind="raw" data-path="$.load.cap"' in html
    assert 'data-key="colour"' in html and "Unknown key" in html


def test_actions_change_the_document(form: SchemaForm) -> None:
    doc = _doc("b2b_software")
    added = form.apply(doc, {"op": "add-item", "ptr": ["segments"]})
    assert added["segments"][-1] == {"name": "", "rules": [{"output": ""}]} or added["segments"][-1]["name"] == ""
    assert len(doc["segments"]) + 1 == len(added["segments"])  # the input is not changed
    row = form.apply(doc, {"op": "add-item", "ptr": ["segments", 4, "rules"]})["segments"][4]["rules"][-1]
    assert set(row) <= {"when", "output", "output_expr", "title"}
    entry = form.apply(doc, {"op": "add-entry", "ptr": ["fields"], "key": "wechat"})["fields"]["wechat"]
    assert entry == {"type": "string"}
    prop = form.apply(doc, {"op": "add-prop", "ptr": ["fields", "company"], "key": "visible_when"})["fields"]["company"]["visible_when"]
    assert prop == ""
    moved = form.apply(doc, {"op": "move", "ptr": ["segments", 1], "by": -1})
    assert [t["name"] for t in moved["segments"][:2]] == ["difficulty", "value"]
    removed = form.apply(doc, {"op": "remove", "ptr": ["reclaim", "cooldown_days"]})
    assert "cooldown_days" not in removed["reclaim"]
    one_text = form.apply(doc, {"op": "variant", "ptr": ["fields", "company", "title"], "variant": 0})
    assert one_text["fields"]["company"]["title"] == "Company"
    both = form.apply(one_text, {"op": "variant", "ptr": ["fields", "company", "title"], "variant": 1})
    assert both["fields"]["company"]["title"] == {"zh": "Company", "en": "Company"}
    section = form.apply({"fenpei": 1, "name": "x", "title": "X", "fields": {"a": {"type": "string"}}}, {"op": "add-prop", "ptr": [], "key": "load"})
    assert section["load"] == {}


@pytest.mark.parametrize(
    "action",
    [
        {"op": "add-prop", "ptr": ["fields", "company"], "key": "colour"},
        {"op": "add-entry", "ptr": ["fields"], "key": "company"},
        {"op": "add-entry", "ptr": ["fields"], "key": ""},
        {"op": "remove", "ptr": ["segments", 99]},
        {"op": "move", "ptr": ["segments", 0], "by": -1},
        {"op": "variant", "ptr": ["title"], "variant": 7},
        {"op": "explode", "ptr": []},
        {"op": "remove", "ptr": 3},
        {"op": "move", "ptr": ["segments", 1], "by": "x"},
        {"op": "cond-mode", "ptr": ["segments", 4, "rules", 1, "when"], "mode": "rows", "_src": "score >== 60"},
    ],
)
def test_an_action_that_cannot_be_taken_is_refused_with_a_message(form: SchemaForm, action: dict[str, Any]) -> None:
    doc = _doc("b2b_software")
    if "_src" in action:
        doc["segments"][4]["rules"][1]["when"] = action.pop("_src")
    with pytest.raises(ActionError) as caught:
        form.apply(doc, action)
    assert caught.value.message("en") and caught.value.message("zh")


CONDITIONS = [
    'deal_size >= 1000000 and industry in ["finance", "healthcare"]',
    'rep.level in ["senior", "expert"] and lead.region in rep.regions',
    'not (stage in ["won", "lost"])',
    "phone is set or email is not empty",
    'score >= 60 or (quadrant == "low_value_high_difficulty" and budget_confirmed == true)',
    "days_since(assigned_at) > 3",
]


@pytest.mark.parametrize("text", CONDITIONS)
def test_text_and_rows_are_the_same_condition(text: str) -> None:
    tree = convert(text, "rows")
    assert isinstance(tree, dict)
    assert parse_tree(tree) == parse(text)  # the engine reads the rows as it reads the text
    again = convert(tree, "text")
    assert parse(again) == parse(text)
    assert unparse(parse_tree(tree)) == again


def test_rows_and_groups_are_added_as_the_engine_reads_them() -> None:
    tree = add(convert("score >= 60", "rows"), "row")
    assert tree == {"all": [{"field": "score", "op": ">=", "value": 60}, {"field": "", "op": "==", "value": ""}]}
    grouped = add({"not": {"any": [{"field": "a", "op": "is set"}, {"field": "b", "op": "is set"}]}}, "group")
    assert set(grouped) == {"not"} and len(grouped["not"]["any"]) == 3 and "any" in grouped["not"]["any"][2]
    assert add("", "row") == {"field": "", "op": "==", "value": ""}
    assert convert("", "rows") == {"field": "", "op": "==", "value": ""}


def test_a_bad_condition_cannot_become_rows_and_says_where() -> None:
    with pytest.raises(ActionError) as caught:
        convert({"all": [{"field": "score", "op": "=>", "value": 1}]}, "text", "$.segments[4].rules[1].when")
    assert caught.value.path == "$.segments[4].rules[1].when.all[0].op"
    assert "did you mean '>='" in caught.value.message("en")


def test_the_builder_offers_the_engines_operators_and_the_templates_names() -> None:
    assert OPERATORS == COMPARISON_OPERATORS + TEST_OPERATORS
    names = names_of(_doc("b2b_software"))
    assert names["deal_size"]["kind"] == "number"
    assert names["industry"]["options"][:2] == ["manufacturing", "finance"]
    assert names["score"]["kind"] == "number" and names["tier"]["options"] == ["C", "A", "B"]
    assert names["rep.level"]["options"] == ["junior", "mid", "senior", "expert"]
    assert names["rep.load"]["kind"] == "number" and names["days_since_assigned"]["kind"] == "number"
    html = render_condition({"all": [{"field": "tier", "op": "==", "value": "A"}, 'stage == "won"']}, ("x",), names=names, lang="zh")
    for op in OPERATORS:
        assert f">{op.replace('<', '&lt;').replace('>', '&gt;')}</option>" in html
    assert 'list="sf-opts-tier"' in html and 'data-kind="cond-expr" data-plain="1"' in html and "全部满足" in html


@pytest.mark.parametrize("name", SAMPLES)
def test_the_yaml_view_reads_back_to_the_same_template(name: str) -> None:
    doc = _doc(name)
    text = document_yaml(doc)
    assert json.loads(json.dumps(parse_document(text).data)) == doc
    assert loads_template(text).fingerprint == loads_template((ROOT / "templates" / f"{name}.yaml").read_text(encoding="utf-8")).fingerprint
    assert "'on':" in text or '"on":' in text or "on" not in json.dumps(doc)


def test_yaml_keeps_strings_that_look_like_other_things() -> None:
    doc = {"a": "no", "b": "1_000", "c": "2026-01-01", "d": "on", "e": "line one\nline two", "f": "null", "g": ["yes", "0x1F"]}
    assert json.loads(json.dumps(parse_document(document_yaml(doc)).data)) == doc


def _texts(schema: Any, out: set[str]) -> set[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("title", "description") and isinstance(value, str):
                out.add(value)
            elif key == "properties":
                for sub in value.values():
                    _texts(sub, out)
            else:
                _texts(value, out)
    elif isinstance(schema, list):
        for item in schema:
            _texts(item, out)
    return out


def test_every_schema_title_and_description_has_its_chinese_text() -> None:
    missing = sorted(_texts(template_schema(), set()) - set(ZH))
    assert missing == [], f"add these to form_builder/schema_labels.py: {missing}"
