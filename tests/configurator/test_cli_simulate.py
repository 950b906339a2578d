"""`fenpei simulate TEMPLATE --leads LEADS.csv --reps REPS.csv [--now ISO] [--json]`, run as a user runs it.

The samples: a readable summary in English and Chinese, one JSON object per lead then a summary,
byte-identical output from the same inputs. Bad input: exit 1 and one `FILE:LINE: column: message`
line per problem, every bad cell of a file at once, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-23T09:00:00+08:00"  # the reference time of the sample data (examples/README.md)
SAMPLES = ("b2b_software", "medical_devices", "consumer_goods_regional", "finance_points")
LEAD_KEYS = {"id", "outputs", "owner", "policy", "explanation", "outcome"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def sample_args(sample: str, *extra: str) -> list[str]:
    return [
        "simulate",
        f"templates/{sample}.yaml",
        "--leads",
        f"examples/{sample}/leads.csv",
        "--reps",
        f"examples/{sample}/reps.csv",
        "--now",
        NOW,
        *extra,
    ]


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@pytest.fixture(scope="module")
def runs(fenpei: Any) -> dict[tuple[str, str], Any]:
    """Every sample simulated as text (en, zh), as JSON, and each once more with another hash seed."""
    jobs: dict[tuple[str, str], tuple[list[str], dict[str, str] | None]] = {}
    for sample in SAMPLES:
        jobs[(sample, "en")] = (sample_args(sample), None)
        jobs[(sample, "zh")] = (["--lang", "zh", *sample_args(sample)], None)
        jobs[(sample, "json")] = (sample_args(sample, "--json"), None)
        # Same inputs, another process with another string-hash seed: set or dict order that
        # leaks into the output would show up as a difference.
        jobs[(sample, "en-again")] = (sample_args(sample), {"PYTHONHASHSEED": "1"})
        jobs[(sample, "json-again")] = (sample_args(sample, "--json"), {"PYTHONHASHSEED": "2"})
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(fenpei, *args, env=env) for key, (args, env) in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


def parse_json_lines(stdout: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    objects = [json.loads(line) for line in stdout.splitlines()]
    assert objects, "no output"
    *leads, last = objects
    assert set(last) == {"summary"}, f"the last object must be the summary, got keys {sorted(last)}"
    return leads, last["summary"]


# --- the samples ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES)
def test_text_summary_in_english(sample: str, runs: dict[tuple[str, str], Any]) -> None:
    result = runs[(sample, "en")]
    result.assert_clean()
    assert result.returncode == 0, result
    assert result.stderr == "", result
    _, summary = parse_json_lines(runs[(sample, "json")].stdout)
    text = result.stdout
    lines = text.splitlines()
    assert lines[0].startswith(f"Template {sample} — "), result
    assert f"{summary['leads']} leads, {len(summary['reps'])} reps, now {NOW}" in lines[1]

    # Grades: one line per table with each value and its count.
    grades = lines.index("Grades")
    for offset, (table, counts) in enumerate(summary["grades"].items(), start=1):
        row = lines[grades + offset]
        assert row.split()[0] == table, row
        for value, count in counts.items():
            assert f"{value} {count}" in row, row

    assert any(line.startswith("Outcomes: ") for line in lines), result
    # Loads with caps: every rep, with its new leads and `load / cap`.
    loads = next(i for i, line in enumerate(lines) if line.startswith("Load after assignment"))
    for offset, rep in enumerate(summary["reps"], start=1):
        row = lines[loads + offset]
        assert row.split()[0] == rep["id"] and rep["name"] in row, row
        assert f"+{rep['assigned']} " in row, row
        assert f"{rep['load']:g} / {rep['cap']:g}" in row, row
    assert f"Pool: {summary['pool']} leads left in the pool; {summary['escalated']} escalated" in text
    fair = summary["fairness"]
    assert f"Fairness among {fair['eligible_reps']} eligible reps: spread {fair['spread']} (min {fair['min']}, max {fair['max']}), Gini {fair['gini']:.3f}" in text
    rc = summary["reclaim"]
    assert f"Reclaim: {rc['reclaim']} due for reclaim, {rc['remind']} due for a reminder, {rc['protected']} protected" in text
    # Each lead due for a reminder or a reclaim is listed with its owner, action, rule and deadline.
    for due in summary["due"]:
        assert re.search(rf"^\s+{due['id']}\s+{due['owner']}\s+{due['action']}\s+{due['rule']}\s+{re.escape(due['deadline'])}$", text, re.M), due
    assert not CJK.search("\n".join(line for line in lines if not line.startswith("  "))), "English headings only"


@pytest.mark.parametrize("sample", SAMPLES)
def test_text_summary_in_chinese(sample: str, runs: dict[tuple[str, str], Any]) -> None:
    result = runs[(sample, "zh")]
    result.assert_clean()
    assert result.returncode == 0, result
    _, summary = parse_json_lines(runs[(sample, "json")].stdout)
    text = result.stdout
    assert text.startswith(f"模板 {sample} — "), result
    for heading in ("分级结果", "结果:", "分配后负载", "公海:", "公平性", "回收:"):
        assert heading in text, heading
    assert f"{summary['leads']} 条线索,{len(summary['reps'])} 位销售" in text
    rc = summary["reclaim"]
    assert f"回收:{rc['reclaim']} 条到期应回收,{rc['remind']} 条需要提醒,{rc['protected']} 条受保护" in text
    assert "在岗" in text  # rep status in Chinese
    for english in ("Grades", "Outcomes", "Load after", "Pool:", "Fairness", "Reclaim:", " active "):
        assert english not in text, english


@pytest.mark.parametrize("sample", SAMPLES)
def test_json_one_object_per_lead_then_summary(sample: str, runs: dict[tuple[str, str], Any]) -> None:
    result = runs[(sample, "json")]
    result.assert_clean()
    assert result.returncode == 0, result
    assert result.stderr == "", result
    leads, summary = parse_json_lines(result.stdout)
    rows = read_csv(ROOT / "examples" / sample / "leads.csv")
    header, body = rows[0], rows[1:]
    owner_col = header.index("owner")
    assert [lead["id"] for lead in leads] == [row[0] for row in body], "one object per lead, in input order"
    for lead, row in zip(leads, body):
        owned = bool(row[owner_col])
        assert set(lead) == (LEAD_KEYS | {"reclaim"} if owned else LEAD_KEYS), lead
        assert isinstance(lead["outputs"], dict) and isinstance(lead["explanation"], str) and lead["explanation"]
        assert lead["outcome"] == "owned" if owned else lead["outcome"] in {"assigned", "pool", "escalated"}, lead
        if owned:
            assert lead["owner"] == row[owner_col]
            assert set(lead["reclaim"]) == {"action", "rule", "deadline"}, lead
        else:
            assert (lead["owner"] is not None) == (lead["outcome"] == "assigned"), lead
    assert summary["template"] == sample
    assert summary["leads"] == len(leads)
    assert set(summary) >= {"grades", "reps", "pool", "escalated", "fairness", "reclaim", "outcomes"}


@pytest.mark.parametrize("sample", SAMPLES)
def test_same_inputs_give_byte_identical_output(sample: str, runs: dict[tuple[str, str], Any]) -> None:
    for first, again in (("en", "en-again"), ("json", "json-again")):
        a, b = runs[(sample, first)], runs[(sample, again)]
        assert a.returncode == b.returncode == 0, (a, b)
        assert a.stdout == b.stdout, f"{sample} {first}: two runs differ"


def test_json_explanations_in_chinese(fenpei: Any) -> None:
    result = fenpei("--lang", "zh", *sample_args("b2b_software", "--json"))
    result.assert_clean()
    assert result.returncode == 0, result
    leads, _ = parse_json_lines(result.stdout)
    assigned = [lead for lead in leads if lead["outcome"] == "assigned"]
    assert assigned
    for lead in assigned:
        assert CJK.search(lead["explanation"]) and "assigned to" not in lead["explanation"], lead


def test_simulate_writes_nothing(fenpei: Any, tmp_path: Path) -> None:
    """`simulate` runs in memory: the input files are untouched and nothing new appears."""
    sample = "consumer_goods_regional"
    for name in ("leads.csv", "reps.csv"):
        (tmp_path / name).write_bytes((ROOT / "examples" / sample / name).read_bytes())
    (tmp_path / "t.yaml").write_bytes((ROOT / "templates" / f"{sample}.yaml").read_bytes())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = fenpei("simulate", "t.yaml", "--leads", "leads.csv", "--reps", "reps.csv", "--now", NOW, "--json", cwd=tmp_path)
    assert result.returncode == 0, result
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# --- bad input ------------------------------------------------------------------------------------

TEMPLATE = str(ROOT / "templates" / "b2b_software.yaml")
LEADS = read_csv(ROOT / "examples" / "b2b_software" / "leads.csv")
REPS = read_csv(ROOT / "examples" / "b2b_software" / "reps.csv")
Rows = list[list[str]]
RowsEdit = Callable[[Rows], Rows]
Edit = Callable[[Rows], "Rows | str | bytes | None"]  # None: no file; "<directory>": a directory


def cells(*changes: tuple[int, str, str]) -> RowsEdit:
    """Set cells: (data row number, 1-based, so the file line is row + 1; column name; value)."""

    def apply(rows: list[list[str]]) -> list[list[str]]:
        for row, column, value in changes:
            rows[row][rows[0].index(column)] = value
        return rows

    return apply


def rename_column(old: str, new: str) -> RowsEdit:
    def apply(rows: list[list[str]]) -> list[list[str]]:
        rows[0][rows[0].index(old)] = new
        return rows

    return apply


def drop_column(name: str) -> RowsEdit:
    def apply(rows: list[list[str]]) -> list[list[str]]:
        i = rows[0].index(name)
        return [row[:i] + row[i + 1:] for row in rows]

    return apply


@dataclass(frozen=True)
class Bad:
    """Broken inputs and the exact problems expected: (file, line, column or None, message fragment)."""

    id: str
    leads: Edit | None = None  # applied to a copy of the first rows of the sample leads
    reps: Edit | None = None  # applied to a copy of the sample reps
    expected: tuple[tuple[str, int, str | None, str], ...] = ()


BAD = [
    Bad("bad-number-cell", leads=cells((2, "deal_size", "lots")), expected=(("leads.csv", 3, "deal_size", "'lots' is not a valid number"),)),
    Bad("bad-integer-cell", leads=cells((1, "employees", "1.5k")), expected=(("leads.csv", 2, "employees", "'1.5k' is not a valid integer"),)),
    Bad(
        "bad-enum-cell-with-suggestion",
        leads=cells((3, "industry", "manufactoring")),
        expected=(("leads.csv", 4, "industry", "'manufactoring' is not one of"), ("leads.csv", 4, "industry", "did you mean 'manufacturing'")),
    ),
    Bad("bad-date-cell", leads=cells((2, "expected_close_date", "2026-02-30")), expected=(("leads.csv", 3, "expected_close_date", "'2026-02-30'"),)),
    Bad("bad-boolean-cell", leads=cells((1, "budget_confirmed", "maybe")), expected=(("leads.csv", 2, "budget_confirmed", "'maybe'"),)),
    Bad(
        "unknown-column-with-suggestion",
        leads=rename_column("deal_size", "deal_sise"),
        expected=(("leads.csv", 1, "deal_sise", "unknown column"), ("leads.csv", 1, "deal_sise", "did you mean 'deal_size'")),
    ),
    Bad(
        "owner-not-in-reps-with-suggestion",
        leads=cells((2, "owner", "r99")),
        expected=(("leads.csv", 3, "owner", "'r99' is not a rep in the reps file"), ("leads.csv", 3, "owner", "did you mean")),
    ),
    Bad(
        "duplicate-id",
        leads=lambda rows: rows + [list(rows[2])],
        expected=(("leads.csv", 7, "id", "id 'L00002' already used on line 3"),),
    ),
    Bad("missing-id-column", leads=drop_column("id"), expected=(("leads.csv", 1, None, "no 'id' column"),)),
    Bad("missing-id-value", leads=cells((4, "id", "")), expected=(("leads.csv", 5, "id", "every lead needs an id"),)),
    Bad("missing-required-value", leads=cells((2, "company", "")), expected=(("leads.csv", 3, "company", "required"),)),
    Bad("missing-leads-file", leads=lambda rows: None, expected=(("leads.csv", 1, None, "no such file"),)),
    Bad("leads-is-a-directory", leads=lambda rows: "<directory>", expected=(("leads.csv", 1, None, "directory"),)),
    Bad("empty-leads-file", leads=lambda rows: "", expected=(("leads.csv", 1, None, "the file is empty"),)),
    Bad(
        "invalid-utf8",
        leads=lambda rows: csv_text(rows).encode("utf-8").replace("厦门凯越".encode(), b"\xff\xfe\xa0\xa1", 1),
        expected=(("leads.csv", 2, None, "not UTF-8"),),
    ),
    Bad("gbk-encoded-file", leads=lambda rows: csv_text(rows).encode("gbk"), expected=(("leads.csv", 2, None, "not UTF-8"),)),
    Bad("row-with-too-many-cells", leads=lambda rows: rows[:3] + [rows[3] + ["extra"]], expected=(("leads.csv", 4, None, "30 cells but the header has 29"),)),
    Bad("unknown-rep-status", reps=cells((3, "status", "holiday")), expected=(("reps.csv", 4, "status", "active, paused, inactive"),)),
    Bad(
        "leave-to-before-leave-from",
        reps=cells((2, "leave_from", "2026-11-25"), (2, "leave_to", "2026-11-20")),
        expected=(("reps.csv", 3, "leave_to", "before leave_from"),),
    ),
    Bad("bad-rep-number", reps=cells((5, "load", "heavy")), expected=(("reps.csv", 6, "load", "'heavy' is not a valid number"),)),
    Bad(
        "bad-rep-enum-with-suggestion",
        reps=cells((1, "level", "exprt")),
        expected=(("reps.csv", 2, "level", "'exprt'"), ("reps.csv", 2, "level", "did you mean 'expert'")),
    ),
    Bad("duplicate-rep-id", reps=lambda rows: rows + [list(rows[4])], expected=(("reps.csv", 26, "id", "id 'r04' already used on line 5"),)),
    Bad("unknown-rep-column", reps=rename_column("regions", "region"), expected=(("reps.csv", 1, "region", "did you mean 'regions'"),)),
    Bad(
        "all-bad-cells-of-a-file",
        leads=cells(
            (1, "deal_size", "lots"),
            (1, "region", "mars"),
            (3, "employees", "many"),
            (4, "budget_confirmed", "perhaps"),
            (5, "industry", "mining"),
        ),
        expected=(
            ("leads.csv", 2, "region", "'mars'"),
            ("leads.csv", 2, "deal_size", "'lots'"),
            ("leads.csv", 4, "employees", "'many'"),
            ("leads.csv", 5, "budget_confirmed", "'perhaps'"),
            ("leads.csv", 6, "industry", "'mining'"),
        ),
    ),
    Bad(
        "bad-leads-and-bad-reps-together",
        leads=cells((2, "deal_size", "lots")),
        reps=cells((3, "status", "holiday")),
        expected=(("leads.csv", 3, "deal_size", "'lots'"), ("reps.csv", 4, "status", "active, paused, inactive")),
    ),
    Bad(
        # A quoted cell may hold a line break: the problem is on the line where its row starts.
        "row-with-a-multi-line-cell",
        leads=lambda rows: [*cells((1, "notes", "line one\nline two"), (1, "deal_size", "lots"), (2, "deal_size", "more"))([list(r) for r in rows]), rows[1]],
        expected=(
            ("leads.csv", 2, "deal_size", "'lots'"),
            ("leads.csv", 4, "deal_size", "'more'"),
            ("leads.csv", 8, "id", "id 'L00001' already used on line 2"),
        ),
    ),
    Bad(
        # No rows yet is fine, a misspelt column is not.
        "header-only-file-with-unknown-column",
        leads=lambda rows: [rename_column("stage", "stgae")(rows)[0]],
        expected=(("leads.csv", 1, "stgae", "did you mean 'stage'"),),
    ),
]


def write_input(path: Path, content: list[list[str]] | str | bytes | None) -> None:
    if content is None:
        return
    if content == "<directory>":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(csv_text(content), encoding="utf-8")


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_input_is_reported_per_cell(case: Bad, fenpei: Any, tmp_path: Path) -> None:
    leads = [list(row) for row in LEADS[:6]]  # the header and five leads
    reps = [list(row) for row in REPS]
    write_input(tmp_path / "leads.csv", case.leads(leads) if case.leads else leads)
    write_input(tmp_path / "reps.csv", case.reps(reps) if case.reps else reps)

    result = fenpei("simulate", TEMPLATE, "--leads", "leads.csv", "--reps", "reps.csv", "--now", NOW, cwd=tmp_path)

    problems = result.input_problems()  # exit 1, no traceback, every line FILE:LINE: [column: ]message
    got = [(p["file"], int(p["line"]), p["column"]) for p in problems]
    wanted = sorted({(f, line, col) for f, line, col, _ in case.expected}, key=lambda k: (k[0], k[1]))
    assert sorted(set(got), key=lambda k: (k[0], k[1])) == wanted, result
    assert len(got) == len(set(got)), f"one line per problem\n{result}"
    for f, line, col, fragment in case.expected:
        assert any(p["file"] == f and int(p["line"]) == line and p["column"] == col and fragment in p["message"] for p in problems), (
            f"expected {f}:{line}: {col}: …{fragment}…\n{result}"
        )


def test_bad_input_in_chinese(fenpei: Any, tmp_path: Path) -> None:
    leads = cells((1, "industry", "manufactoring"), (2, "deal_size", "lots"))([list(r) for r in LEADS[:4]])
    (tmp_path / "leads.csv").write_text(csv_text(leads), encoding="utf-8")
    result = fenpei("--lang", "zh", "simulate", TEMPLATE, "--leads", "leads.csv", "--reps", str(ROOT / "examples/b2b_software/reps.csv"), "--now", NOW, cwd=tmp_path)
    problems = result.input_problems()
    assert [(p["line"], p["column"]) for p in problems] == [("2", "industry"), ("3", "deal_size")], result
    assert "是否想写 'manufacturing'" in problems[0]["message"], result
    assert "不是有效的数字" in problems[1]["message"], result


@pytest.mark.parametrize(
    ("now", "fragment"),
    [
        ("yesterday", "is not an ISO 8601 date-time"),
        ("2026-13-45T09:00:00+08:00", "is not an ISO 8601 date-time"),
        ("2026-11-23T09:00:00", "needs a UTC offset"),
        ("2026-11-23", "needs a UTC offset"),
    ],
)
def test_bad_now(now: str, fragment: str, fenpei: Any) -> None:
    result = fenpei(*sample_args("b2b_software")[:-2], "--now", now)
    result.assert_invalid()
    assert result.messages == [line for line in result.messages if line.startswith("--now: ")], result
    assert any(fragment in line and repr(now) in line for line in result.messages), result


def test_bad_template_in_simulate(fenpei: Any, tmp_path: Path) -> None:
    text = (ROOT / "templates" / "b2b_software.yaml").read_text(encoding="utf-8")
    broken = text.replace("strategy: least_loaded", "strategy: least_loadd", 1)
    line = text[: text.index("strategy: least_loaded")].count("\n") + 1
    (tmp_path / "t.yaml").write_text(broken, encoding="utf-8")
    result = fenpei("simulate", "t.yaml", "--leads", str(ROOT / "examples/b2b_software/leads.csv"), "--reps", str(ROOT / "examples/b2b_software/reps.csv"), "--now", NOW, cwd=tmp_path)
    [problem] = result.template_problems()
    assert (problem["file"], int(problem["line"]), problem["path"]) == ("t.yaml", line, "$.assignment.policies[0].strategy"), result
    assert "did you mean 'least_loaded'" in problem["message"], result


def test_missing_template_and_reps(fenpei: Any, tmp_path: Path) -> None:
    result = fenpei("simulate", "nope.yaml", "--leads", "leads.csv", "--reps", "reps.csv", "--now", NOW, cwd=tmp_path)
    [problem] = result.template_problems()
    assert (problem["file"], problem["line"], problem["path"]) == ("nope.yaml", "1", "$"), result
    (tmp_path / "leads.csv").write_text(csv_text(LEADS[:3]), encoding="utf-8")
    result = fenpei("simulate", TEMPLATE, "--leads", "leads.csv", "--reps", "nope.csv", "--now", NOW, cwd=tmp_path)
    assert [(p["file"], p["line"]) for p in result.input_problems()] == [("nope.csv", "1")], result


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    """``fenpei simulate … --json | head -1``: the closed pipe ends the command quietly (status 141)."""
    import os
    import subprocess

    from tests.configurator.conftest import fenpei_command

    sample = ROOT / "examples" / "b2b_software"
    env = dict(os.environ, FENPEI_LANG="en")
    with subprocess.Popen(
        [*fenpei_command(), "simulate", str(ROOT / "templates" / "b2b_software.yaml"), "--leads", str(sample / "leads.csv"), "--reps", str(sample / "reps.csv"), "--now", "2026-11-23T09:00:00+08:00", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert json.loads(first)["id"]
    assert code == 141 and "internal error" not in err and "Traceback" not in err, (code, err)
