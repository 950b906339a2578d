"""Reading leads and reps from CSV files (and import tables from CSV or XLSX), with every problem located as ``FILE:LINE: column: message``."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from rule_engine import CompiledTemplate, Rep, rep_from_raw
from rule_engine.errors import Problem, closest
from rule_engine.targets import figure_names
from rule_engine.template import LEAD_BUILTIN_FIELDS

__all__ = ["InputProblem", "InputProblems", "Table", "read_leads_csv", "read_reps_csv", "read_table"]

REP_COLUMNS = (
    "id",
    "name",
    "team",
    "manager",
    "status",
    "leave_from",
    "leave_to",
    "load",
    "open_count",
    "assigned_today",
    "assigned_week",
    "points",
    "held_from_pool",
    "claims_today",
)
MAX_CSV_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class InputProblem:
    source: str
    line: int
    column: str | None
    problem: Problem

    def format(self, lang: str = "en") -> str:
        where = f"{self.source}:{self.line}: "
        col = f"{self.column}: " if self.column else ""
        return where + col + self.problem.message(lang)


class InputProblems(Exception):
    """One or more located problems in an input file."""

    def __init__(self, problems: list[InputProblem]) -> None:
        super().__init__(problems[0].format() if problems else "")
        self.problems = problems

    def format(self, lang: str = "en") -> str:
        return "\n".join(p.format(lang) for p in self.problems)


def _problem(source: str, line: int, column: str | None, code: str, en: str, zh: str, **params: Any) -> InputProblem:
    suggestion = params.pop("suggestion", None)
    return InputProblem(source, line, column, Problem.make(code, en, zh, suggestion=suggestion, **params))


def _read_text(path: str | os.PathLike[str]) -> str:
    """The whole file as text (UTF-8, with or without a BOM); file-level problems are on line 1."""
    source = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_CSV_BYTES:
            raise InputProblems([_problem(source, 1, None, "input.size", "the file is larger than {n} MiB", "文件超过 {n} MiB", n=MAX_CSV_BYTES >> 20)])
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise InputProblems([_problem(source, 1, None, "input.missing", "no such file", "文件不存在")]) from None
    except IsADirectoryError:
        raise InputProblems([_problem(source, 1, None, "input.missing", "this is a directory, not a CSV file", "这是目录,不是 CSV 文件")]) from None
    except OSError as exc:
        raise InputProblems([_problem(source, 1, None, "input.read", "cannot read the file ({err})", "无法读取文件({err})", err=exc.strerror or str(exc))]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputProblems([_problem(source, line, None, "input.encoding", "the file is not UTF-8 text (save it as CSV UTF-8)", "文件不是 UTF-8 编码(请另存为 CSV UTF-8)")]) from None


def _csv_cells(path: str | os.PathLike[str]) -> Iterator[tuple[int, list[str]]]:
    """``(1, header)`` first (cells stripped), then each row that is not blank, with the line it starts on."""
    source = os.fspath(path)
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputProblems([_problem(source, 1, None, "input.empty", "the file is empty", "文件为空")]) from None
    except csv.Error as exc:
        raise InputProblems([_problem(source, 1, None, "input.csv", "not a valid CSV file ({err})", "不是有效的 CSV 文件({err})", err=str(exc))]) from None
    yield 1, [h.strip() for h in header]
    try:
        # A quoted cell may span lines: a row is reported on the line where it starts.
        end = reader.line_num
        for row in reader:
            line, end = end + 1, reader.line_num
            if any(cell.strip() for cell in row):
                yield line, row
    except csv.Error as exc:
        raise InputProblems([_problem(source, reader.line_num, None, "input.csv", "not a valid CSV row ({err})", "不是有效的 CSV 行({err})", err=str(exc))]) from None


def _rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, str] | None, list[str]]]:
    """``(1, None, header)`` first, so the header is checked even without rows; then each row with its first line."""
    source = os.fspath(path)
    cells = _csv_cells(path)
    _, header = next(cells)
    yield 1, None, header
    for line, row in cells:
        if len(row) > len(header):
            raise InputProblems([_problem(source, line, None, "input.columns", "this row has {n} cells but the header has {h}", "该行有 {n} 个单元格,但表头只有 {h} 列", n=len(row), h=len(header))])
        yield line, dict(zip(header, row)), header


@dataclass(frozen=True)
class Table:
    """The cells of a CSV file or of one worksheet: the header and every row that is not blank.

    ``rows`` holds ``(line, cells)``: the line (CSV) or row number (XLSX) a row starts on, and its
    cells: text from a CSV file; from a workbook, the cells' own values (str, int, float, bool,
    date-time, ``None``), formulas read as the value Excel last computed, never evaluated.
    """

    source: str
    header: list[str]
    rows: list[tuple[int, list[Any]]]


XLSX_SUFFIXES = (".xlsx", ".xlsm")


def read_table(path: str | os.PathLike[str], *, sheet: str | None = None) -> Table:
    """A CSV (UTF-8, with or without a BOM) or XLSX file as a :class:`Table`; raises InputProblems.

    XLSX is chosen by the file name (``.xlsx``/``.xlsm``); ``sheet`` names a worksheet (default:
    the first) and is refused for a CSV file.
    """
    source = os.fspath(path)
    if source.lower().endswith(XLSX_SUFFIXES):
        return _read_xlsx(source, sheet)
    if sheet is not None:
        raise InputProblems([_problem(source, 1, None, "input.sheet", "a CSV file has no sheets (the sheet applies to XLSX files)", "CSV 文件没有工作表(工作表只适用于 XLSX 文件)")])
    cells = _csv_cells(path)
    _, header = next(cells)
    return Table(source, header, list(cells))


def _read_xlsx(source: str, sheet: str | None) -> Table:
    import warnings
    import zipfile

    import openpyxl

    try:
        with zipfile.ZipFile(source) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except FileNotFoundError:
        raise InputProblems([_problem(source, 1, None, "input.missing", "no such file", "文件不存在")]) from None
    except IsADirectoryError:
        raise InputProblems([_problem(source, 1, None, "input.missing", "this is a directory, not an XLSX file", "这是目录,不是 XLSX 文件")]) from None
    except (zipfile.BadZipFile, OSError):
        raise InputProblems([_problem(source, 1, None, "input.xlsx", "not a valid XLSX workbook", "不是有效的 XLSX 工作簿")]) from None
    # A workbook is a zip: refuse one that would unpack past the CSV size limit (a zip bomb).
    if unpacked > MAX_CSV_BYTES:
        raise InputProblems([_problem(source, 1, None, "input.size", "the workbook unpacks to more than {n} MiB", "工作簿解压后超过 {n} MiB", n=MAX_CSV_BYTES >> 20)])
    with warnings.catch_warnings():
        # openpyxl warns about styles and extensions it ignores; they do not change the cells.
        warnings.simplefilter("ignore")
        try:
            book = openpyxl.load_workbook(source, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a broken workbook
            raise InputProblems([_problem(source, 1, None, "input.xlsx", "not a valid XLSX workbook ({err})", "不是有效的 XLSX 工作簿({err})", err=type(exc).__name__)]) from None
        try:
            if sheet is None:
                if not book.worksheets:
                    raise InputProblems([_problem(source, 1, None, "input.empty", "the workbook has no worksheet", "工作簿中没有工作表")])
                ws = book.worksheets[0]
            elif sheet in book.sheetnames:
                ws = book[sheet]
            else:
                raise InputProblems(
                    [_problem(source, 1, None, "input.sheet", "no sheet {s!r} in the workbook (sheets: {names})", "工作簿中没有工作表 {s!r}(现有:{names})", suggestion=closest(sheet, book.sheetnames), s=sheet, names=", ".join(book.sheetnames))]
                )
            rows = ws.iter_rows(min_row=1, values_only=True)
            header_cells = next(rows, None)
            if header_cells is None or not any(_present(c) for c in header_cells):
                raise InputProblems([_problem(source, 1, None, "input.empty", "the sheet is empty (the first row must be the header)", "工作表为空(第一行应为表头)")])
            header = ["" if c is None else str(c).strip() for c in header_cells]
            body = [(number, list(cells)) for number, cells in enumerate(rows, start=2) if any(_present(c) for c in cells)]
        finally:
            book.close()
    return Table(source, header, body)


def _present(cell: Any) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


def _check_header(source: str, header: list[str], known: list[str], what_en: str, what_zh: str) -> list[InputProblem]:
    problems = []
    if "id" not in header:
        problems.append(_problem(source, 1, None, "input.header", "the header has no 'id' column", "表头缺少 'id' 列"))
    seen: set[str] = set()
    for col in header:
        if col in seen:
            problems.append(_problem(source, 1, col, "input.header", "this column appears twice", "该列重复出现"))
        seen.add(col)
        if col not in known:
            problems.append(
                _problem(source, 1, col, "input.header", "unknown column: not a {what} of this template", "未知的列:不是本模板的{what_zh}", suggestion=closest(col, known), what=what_en, what_zh=what_zh)
            )
    return problems


def read_leads_csv(
    path: str | os.PathLike[str], template: CompiledTemplate, reps: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Typed lead records from a CSV file; raises InputProblems listing every bad cell.

    With ``reps`` (rep ids), an ``owner`` or ``previous_owner`` that is not one of them is a problem.
    """
    source = os.fspath(path)
    known = list(template.fields) + list(LEAD_BUILTIN_FIELDS)
    records: list[dict[str, Any]] = []
    problems: list[InputProblem] = []
    ids: dict[str, int] = {}
    for line, raw, header in _rows(path):
        if raw is None:
            problems.extend(_check_header(source, header, known, "lead field", "线索字段"))
            if problems:
                break
            continue
        record, bad = template.lead_record(raw, text=True)
        lead_id = record.get("id")
        if not lead_id:
            problems.append(_problem(source, line, "id", "input.id", "every lead needs an id", "每条线索都需要 id"))
        elif lead_id in ids:
            problems.append(_problem(source, line, "id", "input.id", "id {id!r} already used on line {first}", "id {id!r} 已在第 {first} 行使用", id=lead_id, first=ids[lead_id]))
        else:
            ids[lead_id] = line
        problems.extend(InputProblem(source, line, str(p.path[0]) if p.path else None, p) for p in bad)
        if reps is not None:
            for column in ("owner", "previous_owner"):
                rep_id = record.get(column)
                if rep_id is not None and rep_id not in reps:
                    problems.append(
                        _problem(source, line, column, "input.rep", "{id!r} is not a rep in the reps file", "{id!r} 不在销售名单中", suggestion=closest(rep_id, reps), id=rep_id)
                    )
        records.append(record)
    if problems:
        raise InputProblems(problems)
    return records


def template_figures(template: CompiledTemplate) -> tuple[str, ...]:
    """The target figures a reps file may give for ``template`` (none without a ``targets`` section)."""
    if template.targets is None:
        return ()
    rep, team = figure_names(template.data.get("targets"))
    return (*rep, *(f"team.{k}" for k in team))


def read_reps_csv(path: str | os.PathLike[str], template: CompiledTemplate) -> list[Rep]:
    """Reps from a CSV file; raises InputProblems listing every bad cell."""
    source = os.fspath(path)
    figures = template_figures(template)
    known = list(REP_COLUMNS) + list(template.rep_fields) + list(figures)
    reps: list[Rep] = []
    problems: list[InputProblem] = []
    ids: dict[str, int] = {}
    for line, raw, header in _rows(path):
        if raw is None:
            problems.extend(_check_header(source, header, known, "rep attribute", "销售属性"))
            if problems:
                break
            continue
        rep, bad = rep_from_raw(raw, template.rep_fields, template.timezone, text=True, figures=figures)
        problems.extend(InputProblem(source, line, str(p.path[0]) if p.path else None, p) for p in bad)
        if rep is not None:
            if rep.id in ids:
                problems.append(_problem(source, line, "id", "input.id", "id {id!r} already used on line {first}", "id {id!r} 已在第 {first} 行使用", id=rep.id, first=ids[rep.id]))
            ids[rep.id] = line
            reps.append(rep)
    if problems:
        raise InputProblems(problems)
    return reps
