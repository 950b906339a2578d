"""Bulk lead import from CSV and XLSX files.

One import is one :class:`~configurator.models.Job` (kind ``import``). It runs in five steps:

1. **Read** the file (:func:`configurator.inputs.read_table`): CSV in UTF-8 with or without a BOM,
   or the first (or a named) sheet of an XLSX workbook. Cells of a workbook are turned into the
   text a CSV file would hold (numbers without a trailing ``.0``, dates as ISO 8601) so both
   formats are checked by the same rules.
2. **Map** the columns (:func:`map_columns`): a column named like a field, or like its zh or en
   title (``公司名称`` -> ``company``), maps to it; ``mapping`` maps others explicitly and
   ``ignore`` skips columns. Any other column, a column mapped twice, or a required field with no
   column is refused before anything is stored (:class:`~configurator.inputs.InputProblems`).
   Besides the template's fields, a file may carry ``id`` and ``created_at``; owners and the
   follow-up history are the service's to set.
3. **Check** every row with the rules of one lead (``template.lead_record(raw, text=True)``),
   grade it, and find duplicates: by the template's ``unique`` fields (the lead's ``dedup_key``)
   and by content, within the file and against the team's stored leads.
4. **Store** the good rows with set-based inserts (state ``new``, graded, waiting for assignment).
5. **Report** every bad or duplicate row as :class:`~configurator.models.ImportRowProblem` rows,
   downloadable with :func:`report_csv` and :func:`report_xlsx` (formula-safe).

Outcomes of a row: *stored*; *duplicate* (skipped and reported, in either mode: the lead is
already there); *bad* (reported). Modes: ``all_or_nothing`` stores nothing when any row is bad;
``keep_good`` stores the good rows. A **dry run** checks, grades and reports exactly as a real
run, stores no lead and sends nothing; it does store its Job (status ``done``,
``params.dry_run``) and the Job's report, so the report can be downloaded like any other.

**Re-runs create no duplicates.** Every imported lead keeps ``import_hash``: a SHA-256 of the
row's typed values (so ``1,500,000`` and ``1500000`` hash alike), unique per team. A row whose
hash is already stored is not stored again: when the same job stored it (a resumed run, see
``job_id``), it counts as stored by this job; otherwise it is reported as already imported.
Templates without ``unique`` fields are covered by the hash alone, so two rows with exactly the
same values are one lead. Lead ids come from the file's ``id`` column or are generated.

**Transactions.** :func:`import_leads` takes a session and never commits: one transaction, any
mode (``all_or_nothing`` inserts under a savepoint and rolls it back at the first bad row, then
goes on checking so the report is complete). :func:`run_import` takes a session *factory*: in
``keep_good`` mode it commits every ``chunk_size`` rows (leads, report rows and the Job's
``progress``), so a long import that is interrupted keeps what it stored, and running it again
(with ``job_id``, or as a new job) stores only the rest. Other modes run in one transaction.
Writes lock the team row (PostgreSQL) or take SQLite's write lock, so two imports into one team
do not interleave their duplicate checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import Table as SQLTable
from sqlalchemy import String, bindparam, delete, func, insert, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from configurator.db import session_scope
from configurator.inputs import InputProblem, InputProblems, Table, read_table
from configurator.models import ImportRowProblem, Job, Lead, Team, TemplateVersion
from configurator.services.bulk import Memo, bulk_cache, collector_paused, dumps, insert_rows
from configurator.services.exports import table_csv, table_xlsx
from configurator.services.leads import dedup_key, grade_record, to_json
from configurator.services.teams import get_team
from configurator.services.templates import ServiceError, compiled, get_version
from rule_engine import CompiledTemplate, Problem
from rule_engine.errors import EvaluationError, closest
from rule_engine.fields import FieldDef
from rule_engine.template import LEAD_BUILTIN_FIELDS

__all__ = [
    "CHUNK_SIZE",
    "MODES",
    "REPORT_HEADER",
    "ColumnMap",
    "ImportOptions",
    "ImportResult",
    "import_leads",
    "map_columns",
    "report_csv",
    "report_rows",
    "report_xlsx",
    "run_import",
]

Mode = Literal["all_or_nothing", "keep_good"]
MODES: tuple[Mode, ...] = ("all_or_nothing", "keep_good")
CHUNK_SIZE = 1000
# Built-in lead values a file may carry; the others (owner, follow-ups...) belong to the service.
IMPORTABLE_BUILTINS = ("id", "created_at")
DUPLICATE_CODES = frozenset({"import.duplicate", "import.duplicate_in_file", "import.already_imported"})
REPORT_HEADER = ("row", "column", "outcome", "code", "message_en", "message_zh")
_ID_MAX = 64  # leads.id
_COLUMN_MAX = 128  # import_row_problems.column


@dataclass(frozen=True)
class ImportOptions:
    """How to read and store a file (kept in the Job's params; a resumed job must use the same)."""

    mode: Mode = "all_or_nothing"
    dry_run: bool = False
    mapping: Mapping[str, str] = field(default_factory=dict)  # source column -> field name or title
    ignore: tuple[str, ...] = ()
    sheet: str | None = None

    def params(self) -> dict[str, Any]:
        return {"mode": self.mode, "dry_run": self.dry_run, "mapping": dict(self.mapping), "ignore": list(self.ignore), "sheet": self.sheet}


@dataclass
class ImportResult:
    """What an import did. ``stored`` counts the job's leads, including those a resumed run found."""

    job_id: int
    mode: Mode
    dry_run: bool
    rows: int = 0  # data rows read
    good: int = 0  # rows that passed every check and were not stored before
    stored: int = 0
    resumed: int = 0  # of ``stored``: rows an earlier run of the same job had stored
    duplicates: int = 0
    bad: int = 0
    grades: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> output -> good rows

    @property
    def failed(self) -> bool:
        """True when an all-or-nothing import stored (or, dry, would store) nothing because a row was bad."""
        return self.mode == "all_or_nothing" and self.bad > 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------
# Column mapping
# ------------------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    """Compare column names loosely: full-width forms folded (（元） = (元)), case and spacing ignored."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True)
class ColumnMap:
    """Which cell feeds which field: ``(cell index, source column, field)``; the header width that counts."""

    columns: tuple[tuple[int, str, FieldDef], ...]
    ignored: tuple[str, ...]
    width: int

    def column_of(self, name: str) -> str:
        """The source column of field ``name`` (the field name when no column maps to it)."""
        for _, column, fdef in self.columns:
            if fdef.name == name:
                return column
        return name


def map_columns(template: CompiledTemplate, table: Table, mapping: Mapping[str, str] | None = None, ignore: Sequence[str] = ()) -> ColumnMap:
    """Map the table's columns to lead fields; raises InputProblems (line 1) listing every problem.

    A column maps by ``mapping`` (to a field name or title), else by being named like a field or
    like its zh or en title. A column that maps to nothing must be in ``ignore``.
    """
    source = table.source
    mapping = dict(mapping or {})
    importable: dict[str, FieldDef] = {**template.fields, **{n: LEAD_BUILTIN_FIELDS[n] for n in IMPORTABLE_BUILTINS}}
    targets = {_norm(n): n for n in importable}
    owners: dict[str, set[str]] = {}
    for name, fdef in template.fields.items():
        for title in (fdef.title.zh, fdef.title.en):
            owners.setdefault(_norm(title), set()).add(name)
    ambiguous: dict[str, list[str]] = {}
    for key, names in owners.items():
        if key in targets:
            continue  # a field's name wins over another field's title
        if len(names) == 1:
            targets[key] = next(iter(names))
        else:
            ambiguous[key] = sorted(names)
    reserved = {_norm(n): n for n in LEAD_BUILTIN_FIELDS if n not in IMPORTABLE_BUILTINS}
    problems: list[InputProblem] = []

    def problem(column: str | None, code: str, en: str, zh: str, **params: Any) -> None:
        suggestion = params.pop("suggestion", None)
        problems.append(InputProblem(source, 1, column, Problem.make(code, en, zh, suggestion=suggestion, **params)))

    def resolve(spec: str, column: str, explicit: bool) -> str | None:
        key = _norm(spec)
        if key in targets:
            return targets[key]
        if key in ambiguous:
            problem(column, "import.ambiguous", "{s!r} is the title of several fields ({names}): map the column to one of them by name", "{s!r} 是多个字段的标题({names}):请按字段名映射该列", s=spec, names=", ".join(ambiguous[key]))
        elif key in reserved:
            problem(column, "import.builtin", "{f!r} is set by the service, not by an import: ignore this column", "{f!r} 由系统设置,不能导入:请忽略该列", f=reserved[key])
        else:
            hit = closest(key, list(targets))
            suggestion = targets[hit] if hit is not None else None
            if explicit:
                problem(column, "import.map", "mapped to {f!r}, which is not a field of template {t}", "映射到的 {f!r} 不是模板 {t} 的字段", suggestion=suggestion, f=spec, t=template.name)
            else:
                problem(column, "import.column", "unknown column: not a lead field of template {t} (map it to a field or ignore it)", "未知的列:不是模板 {t} 的线索字段(请映射到字段或忽略该列)", suggestion=suggestion, t=template.name)
        return None

    header = list(table.header)
    while header and not header[-1]:
        header.pop()  # trailing blank header cells: a sheet's formatting, not columns
    columns: list[tuple[int, str, FieldDef]] = []
    ignored: list[str] = []
    by_field: dict[str, str] = {}
    seen: set[str] = set()
    for index, column in enumerate(header):
        if not column:
            problem(None, "input.header", "column {n} has no header: name it or delete it", "第 {n} 列没有表头:请填写列名或删除该列", n=index + 1)
            continue
        if column in seen:
            problem(column, "input.header", "this column appears twice", "该列重复出现")
            continue
        seen.add(column)
        if column in ignore:
            ignored.append(column)
            continue
        target = resolve(mapping[column], column, True) if column in mapping else resolve(column, column, False)
        if target is None:
            continue
        if target in by_field:
            problem(column, "import.map", "columns {a!r} and {b!r} both map to field {f!r}", "列 {a!r} 和 {b!r} 都映射到字段 {f!r}", a=by_field[target], b=column, f=target)
            continue
        by_field[target] = column
        columns.append((index, column, importable[target]))
    for column in [*mapping, *ignore]:
        if column not in seen:
            problem(column, "import.map", "no such column in the file", "文件中没有这一列", suggestion=closest(column, [h for h in header if h]))
    for name, fdef in template.fields.items():
        if fdef.required and fdef.default is None and name not in by_field:
            problem(None, "import.required", "no column for the required field {f!r} ({title})", "缺少必填字段 {f!r}({title_zh})的列", f=name, title=fdef.title.en, title_zh=fdef.title.zh)
    if problems:
        raise InputProblems(problems)
    return ColumnMap(tuple(columns), tuple(ignored), len(header))


# ------------------------------------------------------------------------------------------------
# Checking rows
# ------------------------------------------------------------------------------------------------


def _cell_text(value: Any, fdef: FieldDef) -> str:
    """A workbook cell as the text a CSV file would hold, so both are checked by the same rules."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # Excel keeps every number as a float: 13912345678.0 is a phone number
    if isinstance(value, dt.datetime):
        # Excel dates are date-times at midnight; a naive time is read in the template's time zone.
        return value.date().isoformat() if fdef.type == "date" else value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


Outcome = Literal["new", "resumed", "duplicate", "bad"]


@dataclass(slots=True)
class _Row:
    line: int
    outcome: Outcome
    problems: list[tuple[str | None, Problem]]
    lead: dict[str, Any] | None = None  # the row to insert
    key: str | None = None
    digest: str = ""
    given_id: str | None = None


def _problem(code: str, en: str, zh: str, **params: Any) -> Problem:
    return Problem.make(code, en, zh, **params)


LEADS = cast(SQLTable, Lead.__table__)
# What an imported lead's row holds, in the order store() lists the values.
_LEAD_COLUMNS = (
    "id", "team_id", "fields", "outputs", "weight", "is_open", "state", "dedup_key", "import_hash",
    "from_pool", "locked", "created_at", "followup_count", "reclaim_count", "revision", "template_version_id", "import_job_id",
)


class _Importer:
    """Checks rows chunk by chunk, resolves duplicates against the database and stores the new ones."""

    def __init__(self, template: CompiledTemplate, version: TemplateVersion, team: Team, job_id: int, cmap: ColumnMap, now: dt.datetime, result: ImportResult) -> None:
        self.template = template
        self.team_id = team.id
        self.version_id = version.id
        self.job_id = job_id
        self.cmap = cmap
        self.now = now
        self.created = now.astimezone(dt.timezone.utc)  # stored in UTC: SQLite keeps no offset
        self.clock = template.clock(now)
        self.result = result
        self.grades: dict[str, Counter[str]] = {t.name: Counter() for t in template.segments}
        self.unique = ", ".join(n for n, f in template.fields.items() if f.unique)
        self.unique_column = next((cmap.column_of(n) for n, f in template.fields.items() if f.unique), None)
        self.seen_hash: dict[str, int] = {}
        self.seen_key: dict[str, int] = {}
        self.seen_id: dict[str, int] = {}
        self.outputs_json = Memo()  # the leads of a file share few combinations of grades

    # -- one row, in memory -------------------------------------------------------------------

    def check(self, line: int, cells: Sequence[Any]) -> _Row:
        cmap, template = self.cmap, self.template
        problems: list[tuple[str | None, Problem]] = []
        if len(cells) > cmap.width and any(c is not None and str(c).strip() for c in cells[cmap.width:]):
            problems.append((None, _problem("input.columns", "this row has cells beyond the last column of the header", "该行在表头最后一列之后还有内容")))
        raw = {}
        for index, _, fdef in cmap.columns:
            value = cells[index] if index < len(cells) else ""
            raw[fdef.name] = value if type(value) is str else _cell_text(value, fdef)
        values, bad = template.lead_record(raw, text=True)
        problems.extend((cmap.column_of(str(p.path[0])) if p.path else None, p) for p in bad)
        given_id = values.get("id")
        if given_id is not None and len(given_id) > _ID_MAX:
            problems.append((cmap.column_of("id"), _problem("import.id", "an id has at most {n} characters", "id 最多 {n} 个字符", n=_ID_MAX)))
        if problems:
            return _Row(line, "bad", problems)
        stored = to_json(values)
        digest = hashlib.sha256(json.dumps(stored, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
        key = dedup_key(template, values)
        row = _Row(line, "new", problems, key=key, digest=digest, given_id=given_id)
        first = self.seen_hash.get(digest)
        if first is not None:
            return self._duplicate(row, None, "import.duplicate_in_file", "the same lead as row {first}", "与第 {first} 行是同一条线索", first=first)
        if key is not None and key in self.seen_key:
            return self._duplicate(row, self.unique_column, "import.duplicate_in_file", "the same {fields} as row {first}", "与第 {first} 行的{fields}相同", fields=self.unique, first=self.seen_key[key])
        if given_id is not None and given_id in self.seen_id:
            row.outcome = "bad"
            problems.append((cmap.column_of("id"), _problem("input.id", "id {id!r} already used on row {first}", "id {id!r} 已在第 {first} 行使用", id=given_id, first=self.seen_id[given_id])))
            return row
        self.seen_hash[digest] = line
        if key is not None:
            self.seen_key[key] = line
        if given_id is not None:
            self.seen_id[given_id] = line
        # Grade from the typed values in hand (grade_lead would read a stored lead back first).
        lead_id = given_id or f"L{uuid.uuid4().hex[:16]}"
        created = values.get("created_at")
        record = dict(values)
        record["id"] = lead_id
        record["created_at"] = created or self.now
        try:
            grade = grade_record(template, record, self.now, self.clock)
        except EvaluationError as exc:
            row.outcome = "bad"
            problems.extend((None, p) for p in exc.problems)
            return row
        stored.pop("id", None)
        stored.pop("created_at", None)
        row.lead = {
            "id": lead_id,
            "team_id": self.team_id,
            "fields": stored,
            "outputs": grade.outputs,
            "weight": grade.weight,
            "is_open": grade.is_open,
            "state": "new",
            "dedup_key": key,
            "import_hash": digest,
            "from_pool": False,
            "locked": False,
            "created_at": created.astimezone(dt.timezone.utc) if created else self.created,
            "followup_count": 0,
            "reclaim_count": 0,
            "revision": 0,
            "template_version_id": self.version_id,
            "import_job_id": self.job_id,
        }
        return row

    @staticmethod
    def _duplicate(row: _Row, column: str | None, code: str, en: str, zh: str, **params: Any) -> _Row:
        row.outcome = "duplicate"
        row.problems.append((column, _problem(code, en, zh, **params)))
        return row

    # -- a chunk, against the database --------------------------------------------------------

    def resolve(self, session: Session, rows: Sequence[_Row]) -> None:
        """Mark rows whose lead is already stored: by this job (resumed), by content, by key, by id."""
        new = [r for r in rows if r.outcome == "new"]
        if not new:
            return
        by_hash = {h: (lead_id, job_id) for lead_id, h, job_id in self._matching(session, Lead.import_hash, [r.digest for r in new], Lead.import_job_id)}
        keys = [r.key for r in new if r.key is not None]
        by_key = {k: lead_id for lead_id, k in self._matching(session, Lead.dedup_key, keys)} if keys else {}
        ids = [r.given_id for r in new if r.given_id is not None]
        taken = set(session.scalars(select(Lead.id).where(Lead.id.in_(ids)))) if ids else set()
        for r in new:
            hit = by_hash.get(r.digest)
            if hit is not None:
                if hit[1] == self.job_id:
                    r.outcome = "resumed"
                else:
                    self._duplicate(r, None, "import.already_imported", "this row was already imported as lead {id}", "该行已导入为线索 {id}", id=hit[0])
            elif r.key is not None and r.key in by_key:
                self._duplicate(r, self.unique_column, "import.duplicate", "a lead with the same {fields} already exists: {id}", "已存在相同{fields}的线索:{id}", fields=self.unique, id=by_key[r.key])
            elif r.given_id is not None and r.given_id in taken:
                r.outcome = "bad"
                r.problems.append((self.cmap.column_of("id"), _problem("lead.id", "lead id {id!r} is already used", "线索 id {id!r} 已被使用", id=r.given_id)))

    def _matching(self, session: Session, column: InstrumentedAttribute[str | None], wanted: list[str], *extra: InstrumentedAttribute[Any]) -> Sequence[Any]:
        """``(id, column, *extra)`` of the team's leads whose ``column`` is one of ``wanted``.

        Each value is one probe of the unique (team_id, column) index. On PostgreSQL that needs a
        LATERAL join: while a bulk load runs the new rows have no statistics, the planner takes
        ``team_id = ?`` to match a few rows, and an IN list becomes a scan of the whole team per
        chunk (quadratic over an import). SQLite's planner uses the index for an IN list.
        """
        if session.get_bind().dialect.name != "postgresql":
            return session.execute(select(Lead.id, column, *extra).where(Lead.team_id == self.team_id, column.in_(wanted))).all()
        probes = func.unnest(bindparam("wanted", wanted, type_=ARRAY(String))).table_valued("v").render_derived(name="wanted")
        hit = select(Lead.id, column, *extra).where(Lead.team_id == self.team_id, column == probes.c.v).limit(1).lateral("hit")
        return session.execute(select(hit).select_from(probes).join(hit, true())).all()

    def count(self, rows: Sequence[_Row]) -> None:
        result = self.result
        for r in rows:
            if r.outcome == "new" or r.outcome == "resumed":
                outputs = r.lead["outputs"] if r.lead is not None else {}
                for name, counter in self.grades.items():
                    v = outputs.get(name)
                    counter["∅" if v is None else (", ".join(map(str, v)) if isinstance(v, list) else str(v))] += 1
            if r.outcome == "new":
                result.good += 1
            elif r.outcome == "resumed":
                result.stored += 1
                result.resumed += 1
            elif r.outcome == "duplicate":
                result.duplicates += 1
            else:
                result.bad += 1
        result.grades = {name: dict(sorted(c.items())) for name, c in self.grades.items()}

    def store(self, session: Session, rows: Sequence[_Row]) -> int:
        """Insert the new leads of ``rows`` in one bulk statement (see :func:`~configurator.services.bulk.insert_rows`); returns how many."""
        outputs = self.outputs_json
        leads = [
            (
                d["id"], d["team_id"], dumps(d["fields"]), outputs(d["outputs"]), d["weight"], d["is_open"], d["state"], d["dedup_key"], d["import_hash"],
                d["from_pool"], d["locked"], d["created_at"], d["followup_count"], d["reclaim_count"], d["revision"], d["template_version_id"], d["import_job_id"],
            )
            for r in rows
            if r.outcome == "new" and (d := r.lead) is not None
        ]
        insert_rows(session, LEADS, _LEAD_COLUMNS, leads)
        return len(leads)

    def problem_rows(self, rows: Sequence[_Row]) -> list[dict[str, Any]]:
        return [
            {
                "job_id": self.job_id,
                "row": r.line,
                "column": column[:_COLUMN_MAX] if column else None,
                "code": p.code,
                "message_en": p.message("en"),
                "message_zh": p.message("zh"),
            }
            for r in rows
            for column, p in r.problems
        ]


# ------------------------------------------------------------------------------------------------
# Jobs and runs
# ------------------------------------------------------------------------------------------------


def _digest(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _chunks(rows: Sequence[tuple[int, list[Any]]], size: int) -> Iterator[Sequence[tuple[int, list[Any]]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _lock_team(session: Session, team_id: int) -> None:
    # PostgreSQL: imports into one team take turns (SQLite: the write lock already does this).
    session.execute(select(Team.id).where(Team.id == team_id).with_for_update())


@dataclass
class _Prepared:
    """A file read and mapped, the version it imports on, and the job it resumes (if any)."""

    table: Table
    digest: str
    version: TemplateVersion
    template: CompiledTemplate
    cmap: ColumnMap
    job: Job | None


def _prepare(session: Session, team: Team, path: str | os.PathLike[str], options: ImportOptions, job_id: int | None) -> _Prepared:
    """Read and map the file, writing nothing: a file or header problem stores no job."""
    if options.mode not in MODES:
        raise ServiceError(_problem("import.mode", "unknown mode {m!r} (one of: {all})", "未知的模式 {m!r}(可选:{all})", m=options.mode, all=", ".join(MODES)))
    table = read_table(path, sheet=options.sheet)
    digest = _digest(path)
    job = None if job_id is None else _resumable(session, team, digest, options, job_id)
    version = get_version(session, team.template_name) if job is None else session.get(TemplateVersion, job.template_version_id)
    if version is None:
        raise ServiceError(_problem("import.job", "no import job {id}", "没有导入任务 {id}", id=job_id))
    template = compiled(version)
    return _Prepared(table, digest, version, template, map_columns(template, table, options.mapping, options.ignore), job)


def _resumable(session: Session, team: Team, digest: str, options: ImportOptions, job_id: int) -> Job:
    """Job ``job_id``, if it imported this file into this team with these options."""
    job = session.get(Job, job_id)
    if job is None or job.kind != "import" or job.template_version_id is None:
        raise ServiceError(_problem("import.job", "no import job {id}", "没有导入任务 {id}", id=job_id))
    old = job.params or {}
    if old.get("dry_run") or options.dry_run:
        raise ServiceError(_problem("import.resume", "a dry run stores no leads: there is nothing to resume", "试运行不保存线索:没有可续传的内容"))
    if old.get("team") != team.slug or old.get("sha256") != digest:
        raise ServiceError(_problem("import.resume", "job {id} imported another file or into another team: run a new import instead", "任务 {id} 导入的是另一个文件或另一个团队:请新建导入", id=job_id))
    if {k: old.get(k) for k in options.params()} != options.params():
        raise ServiceError(
            _problem("import.resume", "job {id} ran with other options (mode, mapping, ignored columns, sheet): use the same ones", "任务 {id} 使用了不同的选项(模式、列映射、忽略的列、工作表):请使用相同的选项", id=job_id)
        )
    return job


def _open_job(session: Session, team: Team, path: str | os.PathLike[str], prepared: _Prepared, options: ImportOptions) -> Job:
    """A new running import job, or the resumed one reset to run again (its report is rewritten)."""
    wall = dt.datetime.now(dt.timezone.utc)
    rows = len(prepared.table.rows)
    job = prepared.job
    if job is None:
        params = {"team": team.slug, "file": os.fspath(path), "sha256": prepared.digest, **options.params()}
        job = Job(kind="import", params=params, status="running", progress=0, total=rows, attempts=1, template_version_id=prepared.version.id, started_at=wall)
        session.add(job)
    else:
        # The rerun checks every row again, so the report is written again from scratch.
        session.execute(delete(ImportRowProblem).where(ImportRowProblem.job_id == job.id))
        job.status, job.progress, job.total, job.error = "running", 0, rows, None
        job.attempts = (job.attempts or 0) + 1
        job.started_at, job.finished_at = wall, None
    session.flush()
    return job


def _finished(result: ImportResult) -> dict[str, Any]:
    """The Job's columns once an import has run to its end."""
    return {
        "status": "failed" if result.failed and not result.dry_run else "done",
        "progress": result.rows,
        "result": result.to_json(),
        "error": f"{result.bad} bad rows: nothing stored (all or nothing)" if result.failed and not result.dry_run else None,
        "finished_at": dt.datetime.now(dt.timezone.utc),
    }


Progress = Callable[[int, int], None]


def import_leads(
    session: Session,
    team: Team,
    path: str | os.PathLike[str],
    *,
    options: ImportOptions = ImportOptions(),
    now: dt.datetime | None = None,
    job_id: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Progress | None = None,
) -> ImportResult:
    """Import ``path`` into ``team`` in the caller's transaction (never commits); any mode, dry run or not.

    Raises InputProblems for an unreadable file or a bad header (nothing stored); row problems
    go to the Job's report. ``job_id`` runs an earlier import job again (same file and options).
    ``on_progress(done, total)`` is called after every ``chunk_size`` rows.
    """
    with collector_paused(), bulk_cache(session):
        return _import_leads(session, team, path, options, now, job_id, chunk_size, on_progress)


def _import_leads(
    session: Session,
    team: Team,
    path: str | os.PathLike[str],
    options: ImportOptions,
    now: dt.datetime | None,
    job_id: int | None,
    chunk_size: int,
    on_progress: Progress | None,
) -> ImportResult:
    now = now or dt.datetime.now(dt.timezone.utc)
    prepared = _prepare(session, team, path, options, job_id)
    job = _open_job(session, team, path, prepared, options)
    _lock_team(session, team.id)
    total = len(prepared.table.rows)
    result = ImportResult(job.id, options.mode, options.dry_run, rows=total)
    importer = _Importer(prepared.template, prepared.version, team, job.id, prepared.cmap, now, result)
    storing = not options.dry_run
    savepoint = session.begin_nested() if storing and options.mode == "all_or_nothing" else None
    problems: list[dict[str, Any]] = []
    stored = done = 0
    for chunk in _chunks(prepared.table.rows, chunk_size):
        rows = [importer.check(line, cells) for line, cells in chunk]
        importer.resolve(session, rows)
        importer.count(rows)
        if savepoint is not None and storing and any(r.outcome == "bad" for r in rows):
            savepoint.rollback()  # all or nothing: undo the leads stored so far, and keep checking
            storing, stored = False, 0
        if storing:
            stored += importer.store(session, rows)
        problems += importer.problem_rows(rows)
        done += len(chunk)
        if on_progress is not None:
            on_progress(done, total)
    if savepoint is not None and savepoint.is_active:
        savepoint.commit()
    result.stored += stored
    if problems:
        session.execute(insert(ImportRowProblem), problems)
    for name, value in _finished(result).items():
        setattr(job, name, value)
    session.flush()
    return result


def run_import(
    sessions: sessionmaker[Session],
    team_slug: str,
    path: str | os.PathLike[str],
    *,
    options: ImportOptions = ImportOptions(),
    now: dt.datetime | None = None,
    job_id: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Progress | None = None,
    after_chunk: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import ``path`` into team ``team_slug``, committing as it goes: the entry point for the CLI and jobs.

    ``keep_good`` (not a dry run) commits every ``chunk_size`` rows: the leads, the report rows and
    the Job's ``progress``; ``after_chunk(done)`` runs after each commit. If the run stops part way
    (an error, an interrupt, a killed process), what was committed stays and the Job is marked
    ``failed`` when possible; run the same file again with ``job_id`` (or as a new job) and only the
    rows not yet stored are stored. Other modes run in one transaction (:func:`import_leads`).
    """
    if options.dry_run or options.mode != "keep_good":
        with session_scope(sessions, write_lock=True) as session:
            team = get_team(session, team_slug)
            return import_leads(session, team, path, options=options, now=now, job_id=job_id, chunk_size=chunk_size, on_progress=on_progress)
    now = now or dt.datetime.now(dt.timezone.utc)
    with session_scope(sessions, write_lock=True) as session:
        team = get_team(session, team_slug)
        prepared = _prepare(session, team, path, options, job_id)
        job_id = _open_job(session, team, path, prepared, options).id
    total = len(prepared.table.rows)
    result = ImportResult(job_id, options.mode, options.dry_run, rows=total)
    importer = _Importer(prepared.template, prepared.version, team, job_id, prepared.cmap, now, result)
    done = 0
    try:
        for chunk in _chunks(prepared.table.rows, chunk_size):
            with collector_paused():
                rows = [importer.check(line, cells) for line, cells in chunk]  # before taking the write lock
            with collector_paused(), session_scope(sessions, write_lock=True) as session, bulk_cache(session):
                _lock_team(session, team.id)
                importer.resolve(session, rows)
                result.stored += importer.store(session, rows)
                problems = importer.problem_rows(rows)
                if problems:
                    session.execute(insert(ImportRowProblem), problems)
                importer.count(rows)
                done += len(chunk)
                session.execute(update(Job).where(Job.id == job_id).values(progress=done, result=result.to_json()))
            if on_progress is not None:
                on_progress(done, total)
            if after_chunk is not None:
                after_chunk(done)
        with session_scope(sessions) as session:
            session.execute(update(Job).where(Job.id == job_id).values(**_finished(result)))
    except BaseException as exc:
        _mark_failed(sessions, job_id, exc)
        raise
    return result


def _mark_failed(sessions: sessionmaker[Session], job_id: int, exc: BaseException) -> None:
    """Best effort: record why a chunked import run in the foreground stopped (a killed process
    leaves it ``running``). A job a worker holds (``lease_owner``) is left to the worker's own
    bookkeeping: if another worker took it over meanwhile, it must not be marked failed under it."""
    try:
        with session_scope(sessions) as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running", Job.lease_owner.is_(None))
                .values(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=dt.datetime.now(dt.timezone.utc))
            )
    except Exception:  # the database may be what failed; the original error is the one to raise
        pass


# ------------------------------------------------------------------------------------------------
# The report
# ------------------------------------------------------------------------------------------------


def report_rows(session: Session, job_id: int) -> Iterator[tuple[Any, ...]]:
    """The rows of an import's report (see REPORT_HEADER), in file order; ServiceError for no such job."""
    job = session.get(Job, job_id)
    if job is None or job.kind != "import":
        raise ServiceError(_problem("import.job", "no import job {id}", "没有导入任务 {id}", id=job_id))
    query = select(ImportRowProblem).where(ImportRowProblem.job_id == job_id).order_by(ImportRowProblem.row, ImportRowProblem.id)
    for p in session.scalars(query):
        yield (p.row, p.column, "duplicate" if p.code in DUPLICATE_CODES else "bad", p.code, p.message_en, p.message_zh)


def report_csv(session: Session, job_id: int) -> bytes:
    """An import's report as CSV (UTF-8 with BOM); cells that look like formulas are neutralised."""
    return table_csv(REPORT_HEADER, report_rows(session, job_id))


def report_xlsx(session: Session, job_id: int) -> bytes:
    """An import's report as an XLSX workbook; cells that look like formulas are neutralised."""
    return table_xlsx(REPORT_HEADER, report_rows(session, job_id), title=f"import {job_id}")
