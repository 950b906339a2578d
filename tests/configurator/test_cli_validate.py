"""`fenpei template validate FILE`: broken and hostile templates, run as a user runs them.

Contract (docs: product brief, "Contracts"): exit 0 when valid; otherwise exit 1 and one line per
problem, ``FILE:LINE: $.path.to.node: message``, with "did you mean" where a name is close. Never
a traceback, never a hang, nothing fetched or executed.
"""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ("b2b_software", "medical_devices", "consumer_goods_regional", "finance_points")

# A small valid template; each case below breaks one thing in it.
BASE = textwrap.dedent(
    """\
    fenpei: 1
    name: cli_test
    title: {zh: 命令行测试, en: CLI test}
    timezone: Asia/Shanghai
    fields:
      company:
        type: string
        title: {zh: 公司, en: Company}
      deal_size:
        type: number
        title: {zh: 预计金额, en: Deal size}
      region:
        type: enum
        title: {zh: 大区, en: Region}
        options: [north, south, east]
      stage:
        type: enum
        options: [new, negotiation, won]
    rep_fields:
      level:
        type: enum
        options: [junior, senior]
    segments:
      - name: value
        hit_policy: first
        rules:
          - when: 'deal_size >= 1000000'
            output: high
        default: low
    load:
      cap: 10
    assignment:
      policies:
        - name: main
          strategy: round_robin
      otherwise: pool
    """
)

BASE_DATA: dict[str, Any] = {
    "fenpei": 1,
    "name": "cli_test",
    "title": {"zh": "命令行测试", "en": "CLI test"},
    "fields": {
        "deal_size": {"type": "number", "title": {"zh": "预计金额", "en": "Deal size"}},
        "region": {"type": "enum", "options": ["north", "south", "east"]},
    },
    "segments": [{"name": "value", "rules": [{"when": "deal_size >= 1000000", "output": "high"}], "default": "low"}],
    "load": {"cap": 10},
    "assignment": {"policies": [{"name": "main", "strategy": "round_robin"}], "otherwise": "pool"},
}


def edit(*pairs: tuple[str, str]) -> str:
    """BASE with each ``old`` replaced by ``new`` (each ``old`` must occur exactly once)."""
    text = BASE
    for old, new in pairs:
        assert text.count(old) == 1, f"{old!r} must occur once in BASE"
        text = text.replace(old, new)
    return text


def when(condition: str) -> str:
    """BASE with the condition of the first table row replaced."""
    return edit(("'deal_size >= 1000000'", condition))


def segments(yaml_block: str) -> str:
    """BASE with the whole `segments:` list replaced by ``yaml_block`` (indented as in BASE)."""
    start = BASE.index("segments:\n")
    end = BASE.index("load:\n")
    return BASE[:start] + "segments:\n" + textwrap.indent(textwrap.dedent(yaml_block), "  ") + BASE[end:]


def as_json(change: Callable[[dict[str, Any]], None] | None = None) -> str:
    """The JSON twin of the base template, one key per line, after ``change``."""
    data = copy.deepcopy(BASE_DATA)
    if change is not None:
        change(data)
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def billion_laughs() -> str:
    """Nine levels of ten aliases each: 10**9 strings if expanded, a few hundred bytes as text."""
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 10) + "]")
    return BASE + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    """One broken template and the problem line it must produce.

    ``line`` is a number or a marker: the expected line is the one line of the document that
    contains the marker. ``path`` is exact, or a prefix when it ends with "...". Every fragment of
    ``message`` must be in that line's message. ``count`` is the exact number of problem lines
    (None: at least one).
    """

    id: str
    content: str | bytes | None  # None: no file at all (see ``kind``)
    line: int | str
    path: str
    message: tuple[str, ...]
    ext: str = "yaml"
    count: int | None = 1
    kind: str = "file"  # "file", "missing" or "directory"
    extra: dict[str, Any] = field(default_factory=dict)


def C(id: str, content: str | bytes | None, line: int | str, path: str, *message: str, **kw: Any) -> Case:
    return Case(id, content, line, path, tuple(message), **kw)


CASES = [
    # --- the document: syntax, hostile constructs, size -----------------------------------------
    C("malformed-yaml", edit(("name: cli_test", "name: cli_test: oops")), "cli_test: oops", "$", "YAML syntax error"),
    # The parser notices the unclosed list at the next key, so that is the line reported.
    C("malformed-yaml-unclosed-flow", edit(("options: [junior, senior]", "options: [junior, senior")), "segments:", "$.rep_fields.level.options...", "YAML syntax error"),
    C("malformed-json", '{\n  "fenpei": 1\n  "name": "x"\n}\n', 3, "$", "YAML syntax error", ext="json"),
    C("duplicate-key-yaml", edit(("name: cli_test\n", "name: cli_test\nname: again\n")), "name: again", "$.name", "duplicate key 'name'", "line 2"),
    C("duplicate-key-nested", edit(("    type: number\n", "    type: number\n    type: integer\n")), "type: integer", "$.fields.deal_size.type", "duplicate key 'type'"),
    C("duplicate-key-json", as_json().replace('"name": "cli_test",', '"name": "cli_test",\n  "name": "again",'), '"name": "again"', "$.name", "duplicate key 'name'", ext="json"),
    C(
        "python-object-apply",
        edit(("name: cli_test", 'name: !!python/object/apply:os.system ["touch pwned"]')),
        "os.system",
        "$.name",
        "tags are not allowed",
        "!!python/object/apply:os.system",
        extra={"must_not_create": "pwned"},
    ),
    C("python-object-new", BASE + 'x: !!python/object/new:subprocess.Popen [["touch", "pwned"]]\n', "subprocess.Popen", "$.x", "tags are not allowed", extra={"must_not_create": "pwned"}),
    C("python-name-tag", edit(("name: cli_test", "name: !!python/name:os.system")), "os.system", "$.name", "tags are not allowed"),
    C("binary-tag", edit(("name: cli_test", "name: !!binary Y2xpX3Rlc3Q=")), "!!binary", "$.name", "tags are not allowed", "!!binary"),
    C("standard-str-tag", edit(("title: {zh: 命令行测试, en: CLI test}", "title: {zh: !!str 命令行测试, en: CLI test}")), "!!str", "$.title.zh", "tags are not allowed"),
    C("local-include-tag", edit(("timezone: Asia/Shanghai", "timezone: !include secrets.yaml")), "!include", "$.timezone", "tags are not allowed"),
    C("merge-key", BASE + "defaults: &d {a: 1}\nmore:\n  <<: *d\n", "<<: *d", "$.more", "merge keys (<<) are not allowed"),
    C("alias-bomb-billion-laughs", billion_laughs(), "lol5: &lol5", "$.lol5[...", "more than 200000 nodes"),
    C("alias-count", BASE + "x: &x 1\ny: [" + ", ".join(["*x"] * 150) + "]\n", "y: [*x", "$.y[...", "aliases more than 100 times"),
    C("nesting-10000-deep-yaml", BASE + "notes: " + "[" * 10_000 + "]" * 10_000 + "\n", "notes: [[[", "$.notes[0][0][0]...", "nested more than 64 levels deep"),
    C("nesting-10000-deep-json", '{"fenpei": 1, "a": ' + "[" * 10_000 + "]" * 10_000 + "}\n", 1, "$.a[0][0][0]...", "nested more than 64 levels deep", ext="json"),
    C("document-2-mib", BASE + "# " + "x" * (2 * 1024 * 1024) + "\n", 1, "$", "larger than 1048576 bytes"),
    C("scalar-too-long", BASE + "notes: " + "x" * 200_000 + "\n", "notes: xxx", "$.notes", "longer than 100000 characters"),
    C("two-documents", BASE + "---\nname: second\n", "---", "$", "only one document"),
    C("non-string-key", BASE + "1: one\n", "1: one", "$", "mapping keys must be strings"),
    C("infinite-number", edit(("cap: 10", "cap: .inf")), "cap: .inf", "$.load.cap", "not a finite number"),
    C("nul-character", edit(("name: cli_test", "name: cli\x00test")), "name: cli", "$", "U+0000"),
    C("ref-http", edit(("rep_fields:\n", "rep_fields:\n  area: {$ref: 'http://169.254.169.254/latest/meta-data'}\n")), "$ref: 'http:", "$.rep_fields.area['$ref']", "never fetched", "http://169.254.169.254"),
    C("ref-file-path", edit(("rep_fields:\n", "rep_fields:\n  area: {$ref: '/etc/passwd'}\n")), "/etc/passwd", "$.rep_fields.area['$ref']", "never fetched", "/etc/passwd"),
    C("ref-file-url", edit(("rep_fields:\n", "rep_fields:\n  area: {$ref: 'file:///etc/passwd#/x'}\n")), "file:///", "$.rep_fields.area['$ref']", "never fetched"),
    C("ref-other-document", edit(("rep_fields:\n", "rep_fields:\n  area: {$ref: 'common.yaml#/fields/region'}\n")), "common.yaml", "$.rep_fields.area['$ref']", "never fetched"),
    C("ref-json-http", as_json(lambda d: d["fields"].update(region={"$ref": "https://example.com/region.json"})), "https://example.com", "$.fields.region['$ref']", "never fetched", ext="json"),
    C("ref-cycle-self", edit(("rep_fields:\n", "rep_fields:\n  area: {$ref: '#/rep_fields/area'}\n")), "#/rep_fields/area", "$.rep_fields.area['$ref']", "leads back to itself"),
    C("ref-cycle-two", edit(("rep_fields:\n", "rep_fields:\n  a: {$ref: '#/rep_fields/b'}\n  b: {$ref: '#/rep_fields/a'}\n")), "#/rep_fields/a'}", "$.rep_fields.b['$ref']", "leads back to itself"),
    C("empty-file", "", 1, "$", "empty"),
    C("comments-only", "# nothing here yet\n\n", 1, "$", "empty"),
    C("root-is-a-list", "- fenpei: 1\n- name: x\n", 1, "$", "must be a mapping"),
    C("root-is-a-scalar-json", '"just a string"\n', 1, "$", "must be a mapping", ext="json"),
    C("invalid-utf8", BASE.encode().replace("命令行测试".encode(), b"\xff\xfe\xfd"), "CLI test", "$", "not valid UTF-8"),
    C("missing-file", None, 1, "$", "not found", kind="missing"),
    C("directory", None, 1, "$", "directory", kind="directory"),
    # --- the structure (schema) ------------------------------------------------------------------
    C("unknown-top-level-key", BASE + "segmants: []\n", "segmants", "$.segmants", "unknown key 'segmants'", "did you mean 'segments'"),
    C("unknown-key-json", as_json(lambda d: d.update(titel=d.pop("title"))), '"titel"', "$.titel", "unknown key 'titel'", "did you mean 'title'", ext="json", count=None),
    C("unknown-strategy", edit(("strategy: round_robin", "strategy: round_robbin")), "round_robbin", "$.assignment.policies[0].strategy", "'round_robbin'", "did you mean 'round_robin'"),
    C("unknown-hit-policy", edit(("hit_policy: first", "hit_policy: frist")), "frist", "$.segments[0].hit_policy", "'frist'", "did you mean 'first'"),
    C("policy-option-of-another-strategy", edit(("strategy: round_robin", "strategy: round_robin\n      owner_field: region")), "owner_field", "$.assignment.policies[0].owner_field", "only allowed when 'strategy' is 'by_field'"),
    C("wrong-version", edit(("fenpei: 1", "fenpei: 2")), 1, "$.fenpei", "must be 1"),
    C("unknown-condition-operator", when("{field: deal_size, op: '~=', value: 1}"), "op: '~='", "$.segments[0].rules[0].when.op", "'~='"),
    # --- the meaning: names, types, conditions ---------------------------------------------------
    C("unknown-field-in-rule", when("'deal_sise >= 1000000'"), "deal_sise", "$.segments[0].rules[0].when", "unknown field 'deal_sise'", "did you mean 'deal_size'"),
    C(
        "unknown-table-in-policy",
        edit(("strategy: round_robin", "when: 'valeu == \"high\"'\n      strategy: round_robin")),
        "valeu",
        "$.assignment.policies[0].when",
        "'valeu'",
        "did you mean 'value'",
    ),
    C("unknown-field-json", as_json(lambda d: d["segments"][0]["rules"][0].update(when="deal_sise >= 1")), "deal_sise", "$.segments[0].rules[0].when", "unknown field 'deal_sise'", "did you mean 'deal_size'", ext="json"),
    C("number-compared-with-string", when("'deal_size >= \"big\"'"), '"big"', "$.segments[0].rules[0].when", "cannot compare number with string"),
    C("enum-compared-with-non-option", when("'region == \"nort\"'"), '== "nort"', "$.segments[0].rules[0].when", "'nort' is not an option", "did you mean 'north'"),
    C("rep-read-in-a-table", when("'rep.level == \"senior\"'"), "rep.level", "$.segments[0].rules[0].when", "rep.level cannot be read in a segment table"),
    C(
        "tables-depend-on-each-other",
        segments(
            """\
            - name: a
              rules:
                - when: 'b == "x"'
                  output: x
              default: y
            - name: b
              rules:
                - when: 'a == "x"'
                  output: x
              default: y
            """
        ),
        "- name: a",
        "$.segments[0].name",
        "tables depend on each other",
        "a → b → a",
    ),
    C("table-reads-its-own-output", when("'value == \"high\"'"), "- name: value", "$.segments[0].name", "reads its own output"),
    C(
        "table-reads-a-later-table",
        segments(
            """\
            - name: tier
              rules:
                - when: 'value == "high"'
                  output: A
              default: B
            - name: value
              rules:
                - when: 'deal_size >= 1000000'
                  output: high
              default: low
            """
        ),
        "'value == \"high\"'",
        "$.segments[0].rules[0].when",
        "'value' is computed later",
        "table 'value'",
    ),
    C(
        "regex-backtracking-in-field-pattern",
        edit(("    title: {zh: 公司, en: Company}\n", "    title: {zh: 公司, en: Company}\n    pattern: '^(a+)+$'\n")),
        "pattern:",
        "$.fields.company.pattern",
        "exponential time",
    ),
    C("regex-backtracking-in-matches", when("'matches(company, \"^(a|aa)+$\")'"), "matches(", "$.segments[0].rules[0].when", "exponential time"),
    C("attribute-access", when("'deal_size.__class__ == 1'"), "__class__", "$.segments[0].rules[0].when", "only lead.X, rep.X and team.X may use a dot"),
    C("dunder-through-lead", when("'lead.__class__ == 1'"), "__class__", "$.segments[0].rules[0].when", "cannot start with '_'"),
    C("dunder-import", when("'__import__(\"os\") == 1'"), "__import__", "$.segments[0].rules[0].when", "double underscores", "__import__"),
    C("unknown-function", when("'lenn(company) > 3'"), "lenn(", "$.segments[0].rules[0].when", "unknown function 'lenn'", "did you mean 'len'"),
    C("eval-is-not-a-function", when("'eval(\"1\") == 1'"), "eval(", "$.segments[0].rules[0].when", "unknown function 'eval'"),
    C("no-exponent-operator", when("'deal_size ** 99999999 > 1'"), "**", "$.segments[0].rules[0].when", "no exponent operator"),
    C("huge-number-literal", when("'deal_size >= 1e999999'"), "1e999999", "$.segments[0].rules[0].when", "too large"),
    C("condition-too-long", when("'" + " or ".join(f"deal_size > {i}" for i in range(3000)) + "'"), "deal_size > 2999", "$.segments[0].rules[0].when", "at most 2000 characters"),
    C("condition-nested-too-deep", when("'" + "(" * 200 + "deal_size > 1" + ")" * 200 + "'"), "((((", "$.segments[0].rules[0].when", "nested more than 32 levels deep"),
    C(
        "unique-table-overlapping-rows",
        segments(
            """\
            - name: value
              hit_policy: unique
              rules:
                - when: 'deal_size >= 100'
                  output: high
                - when: 'deal_size >= 50'
                  output: medium
              default: low
            """
        ),
        "'deal_size >= 50'",
        "$.segments[0].rules[1].when",
        "rows 1 and 2 can both match",
        "unique",
    ),
    C(
        "table-gap-without-default",
        segments(
            """\
            - name: value
              hit_policy: unique
              rules:
                - when: 'deal_size >= 100'
                  output: high
                - when: 'deal_size < 50'
                  output: low
            """
        ),
        "rules:",
        "$.segments[0].rules",
        "no row matches deal_size = 50",
        "no default",
    ),
    C(
        "trigger-names-unknown-policy",
        BASE + 'triggers:\n  - name: upgrade\n    "on": grade_changed\n    table: value\n    action: reassign_if_ineligible\n    policy: mian\n',
        "policy: mian",
        "$.triggers[0].policy",
        "unknown policy 'mian'",
        "did you mean 'main'",
    ),
    C(
        "handover-names-unknown-form",
        BASE + "handover:\n  form: handovr\nforms:\n  handover:\n    title: {zh: 交接, en: Handover}\n    include: [company]\n",
        "form: handovr",
        "$.handover.form",
        "unknown form 'handovr'",
        "did you mean 'handover'",
    ),
    C("reserved-field-name", edit(("  company:\n", "  owner:\n    type: string\n  company:\n")), "  owner:", "$.fields.owner", "'owner' is a built-in name"),
    C("reserved-rep-field-name", edit(("  level:\n", "  load:\n    type: number\n  level:\n")), "  load:", "$.rep_fields.load", "'load' is a built-in rep attribute"),
    C("invalid-timezone", edit(("timezone: Asia/Shanghai", "timezone: Mars/Olympus_Mons")), "Mars/Olympus_Mons", "$.timezone", "unknown timezone 'Mars/Olympus_Mons'"),
]


def expected_line(content: str | bytes | None, line: int | str) -> int:
    if isinstance(line, int):
        return line
    assert content is not None
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    hits = [n for n, row in enumerate(text.split("\n"), start=1) if line in row]
    assert len(hits) == 1, f"the marker {line!r} must be on exactly one line (found on {hits})"
    return hits[0]


def path_matches(expected: str, actual: str) -> bool:
    if expected.endswith("..."):
        return actual.startswith(expected[:-3])
    return actual == expected


def write_case(case: Case, directory: Path) -> str:
    """Put the case's file (or directory, or nothing) in ``directory``; returns its name."""
    name = f"{case.id}.{case.ext}"
    target = directory / name
    if case.kind == "file":
        assert case.content is not None
        target.write_bytes(case.content if isinstance(case.content, bytes) else case.content.encode("utf-8"))
    elif case.kind == "directory":
        target.mkdir()
    else:
        assert case.kind == "missing"
    return name


@pytest.fixture(scope="module")
def validated(fenpei: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str, Any]]:
    """Every case validated once, a few processes at a time: (its directory, file name, result)."""
    places = {case.id: tmp_path_factory.mktemp(case.id) for case in CASES}
    names = {case.id: write_case(case, places[case.id]) for case in CASES}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {c.id: pool.submit(fenpei, "template", "validate", names[c.id], cwd=places[c.id]) for c in CASES}
        return {cid: (places[cid], names[cid], f.result()) for cid, f in futures.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_template_is_reported_with_file_line_and_path(case: Case, validated: dict[str, tuple[Path, str, Any]]) -> None:
    directory, name, result = validated[case.id]
    problems = result.template_problems()  # exit 1, no traceback, every line FILE:LINE: $.path: message
    line = expected_line(case.content, case.line)
    for p in problems:
        assert p["file"] == name, result
    if case.count is not None:
        assert len(problems) == case.count, result
    wanted = [
        p
        for p in problems
        if int(p["line"]) == line and path_matches(case.path, p["path"]) and all(f in p["message"] for f in case.message)
    ]
    assert wanted, f"expected {name}:{line}: {case.path}: …{' … '.join(case.message)}…\n{result}"
    if "must_not_create" in case.extra:
        assert not (directory / case.extra["must_not_create"]).exists(), "a YAML tag ran code"


def test_at_least_35_cases() -> None:
    assert len(CASES) >= 35
    assert len({c.id for c in CASES}) == len(CASES)


# --- all problems at once, in file order -----------------------------------------------------------

THREE_COMPILE_ERRORS = (
    edit(
        ("timezone: Asia/Shanghai", "timezone: Mars/Olympus_Mons"),
        ("'deal_size >= 1000000'", "'deal_sise >= 1000000'"),
    )
    + 'triggers:\n  - name: upgrade\n    "on": grade_changed\n    table: value\n    action: reassign_if_ineligible\n    policy: mian\n'
)

# Three schema problems whose order of discovery (top-level keys first) is not the file order.
THREE_SCHEMA_ERRORS = edit(
    ("    type: number\n", "    type: number\n    minimum: lots\n"),
    ("hit_policy: first", "hit_policy: frist"),
    ("strategy: round_robin", "strategy: round_robbin"),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            THREE_COMPILE_ERRORS,
            [("Mars/Olympus_Mons", "$.timezone"), ("deal_sise", "$.segments[0].rules[0].when"), ("policy: mian", "$.triggers[0].policy")],
            id="compile",
        ),
        pytest.param(
            THREE_SCHEMA_ERRORS,
            [("minimum: lots", "$.fields.deal_size.minimum"), ("frist", "$.segments[0].hit_policy"), ("round_robbin", "$.assignment.policies[0].strategy")],
            id="schema",
        ),
    ],
)
def test_every_problem_is_reported_at_once_in_file_order(text: str, expected: list[tuple[str, str]], fenpei: Any, tmp_path: Path) -> None:
    (tmp_path / "three.yaml").write_text(text, encoding="utf-8")
    result = fenpei("template", "validate", "three.yaml", cwd=tmp_path)
    problems = result.template_problems()
    got = [(int(p["line"]), p["path"]) for p in problems]
    assert got == [(expected_line(text, marker), path) for marker, path in expected], result
    assert got == sorted(got), result


def test_messages_in_chinese(fenpei: Any, tmp_path: Path) -> None:
    (tmp_path / "three.yaml").write_text(THREE_COMPILE_ERRORS, encoding="utf-8")
    en = fenpei("template", "validate", "three.yaml", cwd=tmp_path)
    zh = fenpei("--lang", "zh", "template", "validate", "three.yaml", cwd=tmp_path)
    en_lines, zh_lines = en.template_problems(), zh.template_problems()
    # The same problems at the same places; only the words change.
    assert [(p["line"], p["path"]) for p in zh_lines] == [(p["line"], p["path"]) for p in en_lines]
    messages = [p["message"] for p in zh_lines]
    assert "未知的时区 'Mars/Olympus_Mons'" in messages[0], zh
    assert "未知的字段 'deal_sise'" in messages[1] and "是否想写 'deal_size'" in messages[1], zh
    assert "是否想写 'main'" in messages[2], zh
    for message in messages:
        assert "unknown" not in message and "did you mean" not in message, zh


@pytest.mark.parametrize("env", [{"FENPEI_LANG": "zh"}, {"FENPEI_LANG": "", "LANG": "zh_CN.UTF-8"}], ids=["FENPEI_LANG", "LANG"])
def test_language_from_the_environment(env: dict[str, str], fenpei: Any, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(when("'deal_sise >= 1'"), encoding="utf-8")
    result = fenpei("template", "validate", "t.yaml", cwd=tmp_path, env=env)
    [problem] = result.template_problems()
    assert "未知的字段 'deal_sise'" in problem["message"], result


def test_missing_file_in_chinese(fenpei: Any, tmp_path: Path) -> None:
    result = fenpei("--lang", "zh", "template", "validate", "nope.yaml", cwd=tmp_path)
    [problem] = result.template_problems()
    assert (problem["file"], problem["line"], problem["path"]) == ("nope.yaml", "1", "$"), result
    assert "找不到文件" in problem["message"], result


# --- the samples ----------------------------------------------------------------------------------


def test_base_template_of_these_cases_is_valid(fenpei: Any, tmp_path: Path) -> None:
    """Each case above breaks exactly one thing: the documents they start from are valid."""
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "base.json").write_text(as_json(), encoding="utf-8")
    for name in ("base.yaml", "base.json"):
        result = fenpei("template", "validate", name, cwd=tmp_path)
        result.assert_clean()
        assert result.returncode == 0, result


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_template_is_valid(sample: str, fenpei: Any) -> None:
    result = fenpei("template", "validate", f"templates/{sample}.yaml")
    result.assert_clean()
    assert result.returncode == 0, result
    assert result.stdout.startswith(f"templates/{sample}.yaml: valid"), result
    assert f"template {sample}" in result.stdout, result
    zh = fenpei("--lang", "zh", "template", "validate", f"templates/{sample}.yaml")
    assert zh.returncode == 0 and "有效" in zh.stdout, zh


def test_sample_templates_as_json_are_valid(fenpei: Any, tmp_path: Path) -> None:
    """Templates are YAML or JSON with the same structure: each sample rewritten as JSON validates."""
    from rule_engine.loader import load_document

    for sample in SAMPLES:
        data = load_document(ROOT / "templates" / f"{sample}.yaml").data
        (tmp_path / f"{sample}.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    for sample in SAMPLES:
        result = fenpei("template", "validate", f"{sample}.json", cwd=tmp_path)
        result.assert_clean()
        assert result.returncode == 0, result
