"""Bulk import: CSV and XLSX, column mapping, both modes, dry runs, duplicates, re-runs, reports, exports, the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.inputs import InputProblems, read_table
from configurator.migrate import upgrade
from configurator.models import ImportRowProblem, Job, Lead
from configurator.services import exports as exports_svc
from configurator.services import imports as imports_svc
from configurator.services import leads as leads_svc
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from configurator.services.imports import ImportOptions
from rule_engine import loads_template

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
B2B_SOURCE = (ROOT / "templates" / "b2b_software.yaml").read_text(encoding="utf-8")
# A template without unique fields: re-runs are recognised by the rows' content alone.
TINY_SOURCE = """\
fenpei: 1
name: tiny
title: {zh: 小模板, en: Tiny}
fields:
  company: {type: string, title: {zh: 公司, en: Company}, required: true}
  size: {type: integer, title: {zh: 人数, en: Headcount}}
"""
HEADER = ["company", "credit_code", "industry", "region", "contact", "phone", "deal_size", "stage", "expected_close_date"]


def code(i: int) -> str:
    """A valid unified social credit code, different for each ``i``."""
    return f"91{i:06d}MA1FL3XQ2K"


def lead_row(i: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "company": f"华东精密制造{i}有限公司",
        "credit_code": code(i),
        "industry": "manufacturing",
        "region": "east",
        "contact": "周敏",
        "phone": f"139{i:08d}",
        "deal_size": "1500000",
        "stage": "new",
        "expected_close_date": "2026-12-20",
    }
    row.update(changes)
    return row


def write_csv(path: Path, rows: Sequence[dict[str, Any]], header: Sequence[str] = HEADER, *, bom: bool = True) -> Path:
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header])
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for r in rows:
            sheet.append(r)
    book.save(path)
    return path


@dataclass
class Db:
    engine: Engine
    sessions: sessionmaker[Session]
    url: str

    def leads(self, team: str = "east") -> list[Lead]:
        with session_scope(self.sessions) as s:
            team_row = teams_svc.get_team(s, team)
            return list(s.scalars(select(Lead).where(Lead.team_id == team_row.id).order_by(Lead.created_at, Lead.id)))

    def count(self, team: str = "east") -> int:
        return len(self.leads(team))

    def job(self, job_id: int) -> Job:
        with session_scope(self.sessions) as s:
            job = s.get(Job, job_id)
            assert job is not None
            return job

    def report(self, job_id: int) -> list[tuple[Any, ...]]:
        with session_scope(self.sessions) as s:
            return list(imports_svc.report_rows(s, job_id))

    def run(self, path: Path, team: str = "east", **kw: Any) -> imports_svc.ImportResult:
        options = ImportOptions(**{k: kw.pop(k) for k in ("mode", "dry_run", "mapping", "ignore", "sheet") if k in kw})
        return imports_svc.run_import(self.sessions, team, path, options=options, now=NOW, **kw)


@pytest.fixture
def db(db_url: str) -> Iterator[Db]:
    """A migrated database with b2b_software and tiny published, team ``east`` (b2b) and ``tiny``."""
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        for source in (B2B_SOURCE, TINY_SOURCE):
            _, t = tmpl_svc.import_draft(s, source)
            tmpl_svc.publish(s, t.name)
        teams_svc.create_team(s, "east", "华东团队", "b2b_software")
        teams_svc.create_team(s, "tiny", "Tiny", "tiny")
    try:
        yield Db(engine, sessions, db_url)
    finally:
        engine.dispose()


def by_row(report: list[tuple[Any, ...]]) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = {}
    for entry in report:
        out.setdefault(entry[0], []).append(entry)
    return out


# ------------------------------------------------------------------------------------------------
# Both modes, CSV and XLSX
# ------------------------------------------------------------------------------------------------


def test_csv_with_bad_rows_in_both_modes(db: Db, tmp_path: Path) -> None:
    rows = [
        lead_row(1),
        lead_row(2, region="eastern", deal_size="lots"),  # line 3: two bad cells
        lead_row(3, deal_size="80,000", expected_close_date=""),
        lead_row(4, phone=""),  # line 5: a required field is empty
        lead_row(5, stage="lost"),  # line 6: lost_reason is required when the stage is lost
    ]
    path = write_csv(tmp_path / "leads.csv", rows)

    strict = db.run(path)  # all_or_nothing is the default
    assert (strict.rows, strict.stored, strict.bad, strict.good, strict.failed) == (5, 0, 3, 2, True)
    assert db.count() == 0
    job = db.job(strict.job_id)
    assert job.status == "failed" and "nothing stored" in (job.error or "") and job.progress == job.total == 5
    problems = by_row(db.report(strict.job_id))
    assert sorted(problems) == [3, 5, 6]
    assert {(p[1], p[3]) for p in problems[3]} == {("region", "field.option"), ("deal_size", "field.type")}
    assert "did you mean 'east'?" in next(p[4] for p in problems[3] if p[1] == "region")
    assert problems[5][0][1:4] == ("phone", "bad", "field.required")
    assert problems[6][0][1] == "lost_reason" and "必填" in problems[6][0][5]

    lenient = db.run(path, mode="keep_good")
    assert (lenient.stored, lenient.bad, lenient.duplicates, lenient.failed) == (2, 3, 0, False)
    assert db.job(lenient.job_id).status == "done"
    stored = {lead.fields["credit_code"]: lead for lead in db.leads()}
    assert set(stored) == {code(1), code(3)}
    first, third = stored[code(1)], stored[code(3)]
    # graded at import, waiting for assignment, traceable to the job
    assert first.state == "new" and first.owner_id is None and first.import_job_id == lenient.job_id
    assert first.outputs["value"] == "high" and third.outputs["value"] == "low" and third.fields["deal_size"] == 80000
    assert first.weight > 0 and first.is_open and first.dedup_key == leads_svc.dedup_key(loads_template(B2B_SOURCE), {"credit_code": code(1)})
    assert first.fields["expected_close_date"] == "2026-12-20" and "expected_close_date" not in third.fields
    assert lenient.grades["value"] == {"high": 1, "low": 1}


def test_xlsx_cells_are_read_as_their_values_in_both_modes(db: Db, tmp_path: Path) -> None:
    header = ["公司名称", "统一社会信用代码", "Industry", "Region", "contact", "Mobile", "Deal size (CNY)", "budget_confirmed", "预计签约日期", "employees", None, None]
    good = [
        # numbers as Excel keeps them (floats), a boolean, a date cell, option titles in Chinese
        ["华东精密", code(1), "制造业", "华东", "周敏", 13912345678, 1500000.0, True, dt.datetime(2026, 12, 20), 1200.0],
        ["华南物流", code(2), "logistics", "south", "陈伟", "13912345679", 250000, False, "2027-01-05", None],
    ]
    bad = [["坏数据", code(3), "制造业", "华东", "李四", 13912345670, 1500000.5, "maybe", dt.datetime(2026, 12, 20, 15, 30), 12.5]]
    path = write_xlsx(tmp_path / "leads.xlsx", {"Notes": [["not", "leads"]], "Leads": [header, *good, [], *bad, [None, None, None, None, None, None, None, None, None, None, None, "stray"]]})

    with pytest.raises(InputProblems) as unknown_sheet:
        db.run(path, sheet="Lead")
    assert "did you mean 'Leads'?" in unknown_sheet.value.format()
    with pytest.raises(InputProblems) as first_sheet:
        db.run(path)  # the first sheet is the default, and its header is not a lead header
    assert any(p.problem.code == "import.column" for p in first_sheet.value.problems)

    strict = db.run(path, sheet="Leads")
    assert (strict.rows, strict.stored, strict.bad) == (4, 0, 2) and db.count() == 0
    problems = by_row(db.report(strict.job_id))
    assert sorted(problems) == [5, 6]  # sheet row numbers: the blank row 4 is skipped, not renumbered
    assert {p[1] for p in problems[5]} == {"budget_confirmed", "employees"}  # a date-time cell in a date column gives its date
    assert problems[6][0][3] == "input.columns"

    lenient = db.run(path, sheet="Leads", mode="keep_good")
    assert (lenient.stored, lenient.bad) == (2, 2)
    stored = {lead.fields["credit_code"]: lead.fields for lead in db.leads()}
    one, two = stored[code(1)], stored[code(2)]
    assert one["phone"] == "13912345678" and one["deal_size"] == 1500000 and one["employees"] == 1200
    assert one["budget_confirmed"] is True and one["expected_close_date"] == "2026-12-20"
    assert one["industry"] == "manufacturing" and one["region"] == "east"
    assert two["budget_confirmed"] is False and two["expected_close_date"] == "2027-01-05"


def test_a_dry_run_stores_no_leads(db: Db, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", [lead_row(1), lead_row(2, region="x"), lead_row(3)])
    for mode in imports_svc.MODES:
        result = db.run(path, mode=mode, dry_run=True)
        assert (result.dry_run, result.stored, result.good, result.bad) == (True, 0, 2, 1)
        assert result.grades["tier"] and sum(result.grades["tier"].values()) == 2
        assert db.count() == 0
        # the job and its report are kept, so the report can be downloaded like any other
        job = db.job(result.job_id)
        assert job.params["dry_run"] is True and job.status == "done" and job.result is not None and job.result["good"] == 2
        assert [p[0] for p in db.report(result.job_id)] == [3]
    assert db.run(path, mode="keep_good").stored == 2


def test_duplicates_within_the_file_and_against_the_database(db: Db, tmp_path: Path) -> None:
    with session_scope(db.sessions) as s:
        team = teams_svc.get_team(s, "east")
        existing = leads_svc.add_lead(s, team, tmpl_svc.get_version(s, "b2b_software"), lead_row(9, company="已有客户"), NOW, text=True)
        existing_id = existing.id
    rows = [
        lead_row(1),
        lead_row(2),
        lead_row(1, company="同一家公司,不同名字"),  # line 4: same credit code as line 2
        lead_row(9),  # line 5: same credit code as the stored lead
        lead_row(5, credit_code=""),  # no unique value: only an identical row is a duplicate
        lead_row(5, credit_code=""),  # line 7: identical to line 6
        lead_row(6, credit_code="", company="另一家"),
        lead_row(2, credit_code=f" {code(2)} "),  # line 9: values are compared trimmed
    ]
    path = write_csv(tmp_path / "leads.csv", rows)
    result = db.run(path)
    assert (result.stored, result.duplicates, result.bad, result.failed) == (4, 4, 0, False)
    report = by_row(db.report(result.job_id))
    assert sorted(report) == [4, 5, 7, 9]
    assert report[4][0][1:4] == ("credit_code", "duplicate", "import.duplicate_in_file") and "row 2" in report[4][0][4]
    assert report[5][0][3] == "import.duplicate" and existing_id in report[5][0][4]
    assert report[7][0][3] == "import.duplicate_in_file" and "the same lead as row 6" in report[7][0][4]
    assert report[9][0][3] == "import.duplicate_in_file"
    assert db.count() == 5

    again = db.run(path, mode="keep_good")  # the same file as a new job stores nothing twice
    assert (again.stored, again.duplicates, again.bad) == (0, 8, 0)
    codes = {p[3] for p in db.report(again.job_id)}
    assert codes == {"import.already_imported", "import.duplicate_in_file", "import.duplicate"}
    assert db.count() == 5


def test_ids_from_the_file(db: Db, tmp_path: Path) -> None:
    header = ["id", *HEADER]
    path = write_csv(tmp_path / "leads.csv", [lead_row(1, id="A-1"), lead_row(2, id="A-1"), lead_row(3, id="x" * 65), lead_row(4, id="A-4")], header)
    result = db.run(path, mode="keep_good")
    assert (result.stored, result.bad) == (2, 2)
    assert {lead.id for lead in db.leads()} == {"A-1", "A-4"}
    report = by_row(db.report(result.job_id))
    assert report[3][0][1] == "id" and "row 2" in report[3][0][4]
    assert report[4][0][3] == "import.id"
    # an id another lead holds is a conflict, not a duplicate
    taken = write_csv(tmp_path / "taken.csv", [lead_row(7, id="A-4")], header)
    conflict = db.run(taken, mode="keep_good")
    assert (conflict.stored, conflict.bad) == (0, 1) and db.report(conflict.job_id)[0][3] == "lead.id"


# ------------------------------------------------------------------------------------------------
# Column mapping
# ------------------------------------------------------------------------------------------------


def test_columns_map_by_title_and_by_map(db: Db, tmp_path: Path) -> None:
    header = ["公司名称", "Unified social credit code", "所属行业", "REGION", "联系人", "手机", "预计金额(元)", "备注 / remark", "来源渠道"]
    row = ["华东精密", code(1), "制造业", "east", "周敏", "13912345678", "1500000", "老客户转介绍", "whatever"]
    path = tmp_path / "titled.csv"
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    result = db.run(path, mapping={"备注 / remark": "notes"}, ignore=("来源渠道",))
    assert result.stored == 1
    fields = db.leads()[0].fields
    assert fields["company"] == "华东精密" and fields["credit_code"] == code(1) and fields["deal_size"] == 1500000
    assert fields["notes"] == "老客户转介绍" and fields["contact"] == "周敏"


@pytest.mark.parametrize(
    ("header", "mapping", "ignore", "expected"),
    [
        # an unknown column is refused with the field it most likely meant
        (["company", "industry", "region", "contact", "phnoe"], {}, (), [("phnoe", "import.column", "phone"), (None, "import.required", None)]),
        (["company", "industry", "region", "contact", "Mobile", "remark"], {}, (), [("remark", "import.column", None)]),
        (["company", "industry", "region", "contact", "phone", "remark"], {"remark": "note"}, (), [("remark", "import.map", "notes")]),
        (["company", "industry", "region", "contact", "phone", "owner"], {}, (), [("owner", "import.builtin", None)]),
        (["company", "industry", "region", "contact", "phone", "Company"], {}, (), [("Company", "import.map", None)]),
        (["company", "industry", "region", "contact", "phone"], {"Phone": "phone"}, ("city",), [("Phone", "import.map", "phone"), ("city", "import.map", None)]),
        (["company", "industry", "", "region", "contact", "phone", "company"], {}, (), [(None, "input.header", None), ("company", "input.header", None)]),
    ],
)
def test_a_bad_header_is_refused_before_anything_is_stored(
    db: Db, tmp_path: Path, header: list[str], mapping: dict[str, str], ignore: tuple[str, ...], expected: list[tuple[str | None, str, str | None]]
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(",".join(header) + "\n" + ",".join("x" for _ in header) + "\n", encoding="utf-8")
    with pytest.raises(InputProblems) as refused:
        db.run(path, mapping=mapping, ignore=ignore)
    got = [(p.column, p.problem.code, p.problem.suggestion) for p in refused.value.problems]
    assert got == expected
    assert all(p.line == 1 and p.source == str(path) for p in refused.value.problems)
    with session_scope(db.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0  # no job for a file that cannot be read


def test_trailing_blank_header_cells_are_not_columns(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("company,size,,\nACME,3,,\n", encoding="utf-8")
    cmap = imports_svc.map_columns(loads_template(TINY_SOURCE), read_table(path))
    assert [(c[1], c[2].name) for c in cmap.columns] == [("company", "company"), ("size", "size")] and cmap.width == 2


def test_a_csv_file_has_no_sheets(tmp_path: Path) -> None:
    with pytest.raises(InputProblems) as refused:
        read_table(write_csv(tmp_path / "l.csv", [lead_row(1)]), sheet="Leads")
    assert refused.value.problems[0].problem.code == "input.sheet"


# ------------------------------------------------------------------------------------------------
# Interrupted imports
# ------------------------------------------------------------------------------------------------


class Interrupted(Exception):
    pass


def interrupt_after_first_chunk(done: int) -> None:
    raise Interrupted(f"stopped after {done} rows")


@pytest.mark.parametrize("same_job", [True, False], ids=["same-job", "new-job"])
def test_a_rerun_after_an_interruption_stores_every_good_row_once(db: Db, tmp_path: Path, same_job: bool) -> None:
    rows = [lead_row(i) if i % 4 else lead_row(i, region="nowhere") for i in range(1, 11)]  # rows 4 and 8 are bad
    rows.append(lead_row(1))  # line 12: a duplicate of line 2, in the last chunk
    path = write_csv(tmp_path / "leads.csv", rows)
    with pytest.raises(Interrupted):
        db.run(path, mode="keep_good", chunk_size=3, after_chunk=interrupt_after_first_chunk)
    with session_scope(db.sessions) as s:
        job = s.scalars(select(Job)).one()
        first_job = job.id
        assert job.status == "failed" and "Interrupted" in (job.error or "") and job.progress == 3 and job.total == 11
        assert s.scalar(select(func.count()).select_from(ImportRowProblem)) == 0  # the first 3 rows are good
    assert db.count() == 3  # the first chunk was committed

    rerun = db.run(path, mode="keep_good", chunk_size=3, job_id=first_job if same_job else None)
    assert rerun.bad == 2
    leads = db.leads()
    assert sorted(lead.fields["credit_code"] for lead in leads) == sorted(code(i) for i in range(1, 11) if i % 4)
    if same_job:
        assert rerun.job_id == first_job and (rerun.stored, rerun.resumed, rerun.duplicates) == (8, 3, 1)
        assert {lead.import_job_id for lead in leads} == {first_job}
        job = db.job(first_job)
        assert job.status == "done" and job.attempts == 2 and job.progress == 11
        assert sorted(p[0] for p in db.report(first_job)) == [5, 9, 12]  # the report is written once, complete
    else:
        assert rerun.job_id != first_job and (rerun.stored, rerun.resumed, rerun.duplicates) == (5, 0, 4)
        assert sum(p[3] == "import.already_imported" for p in db.report(rerun.job_id)) == 3
    assert db.run(path, mode="keep_good").stored == 0 and db.count() == 8


def test_a_rerun_without_unique_fields_is_recognised_by_content(db: Db, tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text("公司,Headcount\nACME,3\nBeta,\nACME, 3\nGamma,4\n", encoding="utf-8")
    with pytest.raises(Interrupted):
        db.run(path, team="tiny", mode="keep_good", chunk_size=2, after_chunk=interrupt_after_first_chunk)
    assert db.count("tiny") == 2
    rerun = db.run(path, team="tiny", mode="keep_good", chunk_size=2)
    assert (rerun.stored, rerun.duplicates) == (1, 3)  # ACME and Beta already imported, line 4 is line 2 again
    assert sorted((lead.fields["company"], lead.fields.get("size")) for lead in db.leads("tiny")) == [("ACME", 3), ("Beta", None), ("Gamma", 4)]
    assert all(lead.dedup_key is None and lead.import_hash for lead in db.leads("tiny"))


def test_resuming_needs_the_same_file_and_options(db: Db, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", [lead_row(1), lead_row(2)])
    first = db.run(path, mode="keep_good")
    other = write_csv(tmp_path / "other.csv", [lead_row(3)])
    for file, mode, dry_run in ((other, "keep_good", False), (path, "all_or_nothing", False), (path, "keep_good", True)):
        with pytest.raises(tmpl_svc.ServiceError) as refused:
            db.run(file, job_id=first.job_id, mode=mode, dry_run=dry_run)
        assert refused.value.problems[0].code == "import.resume"
    with pytest.raises(tmpl_svc.ServiceError):
        db.run(path, mode="keep_good", job_id=first.job_id + 100)


def test_the_leads_insert_is_set_based(db: Db, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", [lead_row(i) for i in range(1, 26)])
    statements: list[tuple[str, bool]] = []

    def record(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO LEADS"):
            statements.append((statement, executemany))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert db.run(path, mode="keep_good", chunk_size=10).stored == 25
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(statements) <= 3  # one statement per chunk of 10, whatever the number of rows


# ------------------------------------------------------------------------------------------------
# Reports and exports: content, and formulas neutralised
# ------------------------------------------------------------------------------------------------

DANGEROUS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-3+4", "@SUM(A1)", "\t=1", "\r=1"]


def test_the_report_as_csv_and_xlsx(db: Db, tmp_path: Path) -> None:
    header = [*HEADER, "=cmd|' /C calc'!A0", "@note"]
    rows = [
        lead_row(1),
        lead_row(2, **{"=cmd|' /C calc'!A0": "x" * 2001}),  # notes too long, reported under a formula-like column
        lead_row(3, **{"@note": "=1+1"}),  # a value that looks like a formula is stored as given
        lead_row(1),
    ]
    path = write_csv(tmp_path / "leads.csv", rows, header)
    result = db.run(path, mode="keep_good", mapping={"=cmd|' /C calc'!A0": "notes", "@note": "city"})
    assert (result.stored, result.bad, result.duplicates) == (2, 1, 1)
    with session_scope(db.sessions) as s:
        data = imports_svc.report_csv(s, result.job_id)
        book = imports_svc.report_xlsx(s, result.job_id)
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == list(imports_svc.REPORT_HEADER)
    assert table[1] == ["3", "'=cmd|' /C calc'!A0", "bad", "field.max_length", "must be at most 2000 characters", "最多 2000 个字符"]
    assert table[2] == ["5", "", "duplicate", "import.duplicate_in_file", "the same lead as row 2", "与第 2 行是同一条线索"]
    sheet = openpyxl.load_workbook(io.BytesIO(book)).active
    cells = [[c.value for c in r] for r in sheet.iter_rows()]
    assert cells[0] == list(imports_svc.REPORT_HEADER)
    assert cells[1][:4] == [3, "'=cmd|' /C calc'!A0", "bad", "field.max_length"]
    assert all(c.data_type != "f" for r in sheet.iter_rows() for c in r)
    with session_scope(db.sessions) as s, pytest.raises(tmpl_svc.ServiceError):
        imports_svc.report_csv(s, result.job_id + 100)


@pytest.mark.parametrize("value", DANGEROUS)
def test_neutralise(value: str) -> None:
    assert exports_svc.neutralise(value) == "'" + value
    assert exports_svc.neutralise("ACME =1") == "ACME =1" and exports_svc.neutralise(-3) == -3


def test_the_export_neutralises_formulas(db: Db, tmp_path: Path) -> None:
    header = [*HEADER, "city", "notes"]
    rows = [lead_row(i + 1, company=value, city="@A1", notes="-2+3" if i else "=1+1") for i, value in enumerate(DANGEROUS)]
    path = write_csv(tmp_path / "leads.csv", rows, header)
    assert db.run(path).stored == len(DANGEROUS)
    with session_scope(db.sessions) as s:
        team = teams_svc.get_team(s, "east")
        data, count = exports_svc.export_leads(s, team, "csv")
        book, _ = exports_svc.export_leads(s, team, "xlsx", states=["new"])
        none, zero = exports_svc.export_leads(s, team, "csv", states=["owned"])
        with pytest.raises(tmpl_svc.ServiceError):
            exports_svc.export_leads(s, team, "csv", states=["lost"])
    assert count == len(DANGEROUS) and zero == 0 and len(none.decode("utf-8-sig").splitlines()) == 1
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    stored = {lead.fields["company"] for lead in db.leads()}
    assert stored == {v.strip() for v in DANGEROUS}  # stored as given (trimmed); only the export is neutralised
    for row in table:
        for name in ("company", "city", "notes", "phone"):
            assert not row[name].startswith(("=", "+", "-", "@", "\t", "\r")), row
        assert row["deal_size"] == "1500000" and row["state"] == "new" and row["tier"]
    assert {row["company"] for row in table} == {"'" + v.strip() for v in DANGEROUS}
    sheet = openpyxl.load_workbook(io.BytesIO(book)).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    header_row = values[0]
    company = header_row.index("company")
    assert {r[company] for r in values[1:]} == {"'" + v.strip() for v in DANGEROUS}
    assert all(c.data_type != "f" for r in sheet.iter_rows() for c in r)
    close = header_row.index("expected_close_date")
    assert values[1][close] == dt.datetime(2026, 12, 20)  # a date cell, not text
    assert values[1][header_row.index("deal_size")] == 1500000


# ------------------------------------------------------------------------------------------------
# The command line, end to end
# ------------------------------------------------------------------------------------------------


def cli(tmp_path: Path, db_url: str, *args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FENPEI_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "FENPEI_DATABASE_URL")}
    env.update({"FENPEI_INSTANCE": str(tmp_path / "instance"), "FENPEI_DATABASE_URL": db_url, "FENPEI_LANG": lang, "PYTHONIOENCODING": "utf-8"})
    proc = subprocess.run([sys.executable, "-m", "configurator", *args], cwd=tmp_path, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr and "internal error" not in proc.stderr, proc
    return proc


def test_the_cli_end_to_end(db: Db, tmp_path: Path) -> None:
    url = db.url
    leads = write_csv(tmp_path / "leads.csv", [lead_row(1), lead_row(2, region="eastern"), lead_row(3), lead_row(1)])

    strict = cli(tmp_path, url, "leads", "import", "east", str(leads), "--report", "report.xlsx")
    assert strict.returncode == 1, strict
    out = strict.stdout.splitlines()
    assert f"{leads}:3: region: 'eastern' is not one of: north, east, south, central, west (did you mean 'east'?)" in out
    assert f"{leads}:5: the same lead as row 2" in out
    assert "rows read: 4 · stored: 0 · duplicates: 1 · bad rows: 1" in out
    assert "all or nothing: 1 bad rows, nothing stored" in out
    assert "importing" in strict.stderr and "importing" not in strict.stdout  # the progress bar stays on stderr
    assert (tmp_path / "report.xlsx").is_file() and db.count() == 0

    dry = cli(tmp_path, url, "leads", "import", "east", str(leads), "--mode", "keep_good", "--dry-run")
    assert dry.returncode == 0 and "dry run: nothing stored; 2 rows would be stored" in dry.stdout and db.count() == 0

    lenient = cli(tmp_path, url, "--lang", "zh", "leads", "import", "east", str(leads), "--mode", "keep_good", "--report", "report.csv")
    assert lenient.returncode == 0, lenient
    assert "读取行数:4 · 已保存:2 · 重复:1 · 有误的行:1" in lenient.stdout
    assert "分级结果(通过检查的行)" in lenient.stdout and db.count() == 2
    report = list(csv.reader(io.StringIO((tmp_path / "report.csv").read_text(encoding="utf-8-sig"))))
    assert [r[0] for r in report[1:]] == ["3", "5"]
    job = re.search(r"^导入任务 (\d+) → east", lenient.stdout, re.M)
    assert job is not None, lenient
    job_id = int(job.group(1))

    resumed = cli(tmp_path, url, "leads", "import", "east", str(leads), "--mode", "keep_good", "--resume", str(job_id))
    assert resumed.returncode == 0 and "of the stored rows, 2 had been stored by an earlier run of this job" in resumed.stdout and db.count() == 2

    unknown = write_csv(tmp_path / "unknown.csv", [lead_row(4)], [*HEADER, "Phnoe2"])
    refused = cli(tmp_path, url, "leads", "import", "east", str(unknown))
    assert refused.returncode == 1
    assert refused.stdout.splitlines() == [f"{unknown}:1: Phnoe2: unknown column: not a lead field of template b2b_software (map it to a field or ignore it) (did you mean 'phone'?)"]
    mapped = cli(tmp_path, url, "leads", "import", "east", str(unknown), "--ignore", "Phnoe2")
    assert mapped.returncode == 0 and "stored: 1" in mapped.stdout

    assert cli(tmp_path, url, "leads", "import", "east", str(leads), "--map", "nonsense").returncode == 2
    assert cli(tmp_path, url, "leads", "import", "east", str(leads), "--report", "r.txt").returncode == 2
    missing = cli(tmp_path, url, "leads", "import", "west", str(leads))
    assert missing.returncode == 1 and "no team 'west'" in missing.stdout
    nofile = cli(tmp_path, url, "leads", "import", "east", "nope.csv")
    assert nofile.returncode == 1 and nofile.stdout.strip() == "nope.csv:1: no such file"

    export = cli(tmp_path, url, "leads", "export", "east", "out.xlsx", "--state", "new")
    assert export.returncode == 0 and export.stdout.strip() == "exported 3 leads of east to out.xlsx"
    assert openpyxl.load_workbook(tmp_path / "out.xlsx").active.max_row == 4
    export_csv = cli(tmp_path, url, "leads", "export", "east", "out.csv")
    assert export_csv.returncode == 0 and len((tmp_path / "out.csv").read_text(encoding="utf-8-sig").splitlines()) == 4
    bad_name = cli(tmp_path, url, "leads", "export", "east", "out.txt")
    assert bad_name.returncode == 1 and "must end in .csv or .xlsx" in bad_name.stdout
