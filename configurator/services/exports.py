"""Spreadsheets out: CSV and XLSX writers that are safe to open, and the export of a team's leads.

Every text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written
with a leading single quote, so a spreadsheet shows it as text and never runs it as a formula
(CSV/formula injection). Numbers, booleans and dates are written as values, never as text that
could be read as a formula. CSV files are UTF-8 with a BOM, which Excel needs to show Chinese.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from configurator.models import Lead, Team
from configurator.services.leads import record_of
from configurator.services.templates import ServiceError, compiled, get_version
from rule_engine import CompiledTemplate, Problem

__all__ = ["FORMATS", "LEAD_STATES", "export_leads", "format_of", "lead_table", "neutralise", "table_csv", "table_xlsx"]

FORMATS = ("csv", "xlsx")
LEAD_STATES = ("new", "owned", "pool", "escalated")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Lead columns after the template's fields; ``owner`` and the timestamps are the service's own.
_BUILTIN_COLUMNS = ("created_at", "state", "owner", "assigned_at", "last_followup_at", "followup_count")


def neutralise(value: Any) -> Any:
    """``value`` with a leading single quote when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def format_of(path: str) -> Literal["csv", "xlsx"]:
    """``csv`` or ``xlsx`` from a file name; ServiceError for anything else."""
    lowered = path.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith(".xlsx"):
        return "xlsx"
    raise ServiceError(Problem.make("export.format", "{p!r}: the file name must end in .csv or .xlsx", "{p!r}:文件名须以 .csv 或 .xlsx 结尾", p=path))


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ";".join(_csv_text(v) for v in value)
    return str(neutralise(value)) if isinstance(value, str) else str(value)


def table_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV file (UTF-8 with BOM, CRLF) of ``header`` and ``rows``, with formula-like text neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_csv_text(h) for h in header])
    for row in rows:
        writer.writerow([_csv_text(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def _xlsx_value(value: Any) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dt.datetime):
        # Excel has no time zones: the caller passes local times; an aware one is kept as text.
        return value if value.tzinfo is None else value.isoformat()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (list, tuple)):
        value = ";".join(str(v) for v in value)
    # Control characters are not allowed in a workbook; they carry no meaning in a lead.
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def table_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "Sheet1") -> bytes:
    """An XLSX workbook of one sheet with ``header`` and ``rows``; text is never written as a formula."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.append([_xlsx_value(h) for h in header])
    for row in rows:
        sheet.append([_xlsx_value(v) for v in row])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def lead_table(
    session: Session,
    team: Team,
    template: CompiledTemplate,
    *,
    states: Collection[str] | None = None,
    local_times: bool = False,
    owner: str | None = None,
) -> tuple[list[str], Iterator[list[Any]]]:
    """The header and rows of a team's leads: id, the template's fields, the service's columns, the grades.

    Field values are typed (dates, numbers, booleans, tag lists). Time stamps are aware; with
    ``local_times`` they are naive times in the template's time zone (for a workbook). Leads are
    read in batches, oldest first. With ``owner`` (a rep's own export), only the leads that rep
    owns, with the contact fields left empty on a lead whose handover they have not acknowledged.
    """
    names = list(template.fields)
    outputs = [t.name for t in template.segments]
    header = ["id", *names, *_BUILTIN_COLUMNS, *outputs]
    query = select(Lead).where(Lead.team_id == team.id).order_by(Lead.created_at, Lead.id).execution_options(yield_per=1000)
    if states:
        query = query.where(Lead.state.in_(sorted(states)))
    hidden: frozenset[str] = frozenset()
    if owner is not None:
        from configurator.services.handovers import contact_fields

        query = query.where(Lead.owner_id == owner, Lead.state == "owned")
        hidden = frozenset(contact_fields(template))

    def local(value: Any) -> Any:
        if not isinstance(value, dt.datetime):
            return value
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # SQLite keeps UTC without an offset
        return aware.astimezone(template.timezone).replace(tzinfo=None) if local_times else aware

    def rows() -> Iterator[list[Any]]:
        for lead in session.scalars(query):
            record = record_of(template, lead)
            if lead.locked and hidden:
                record = {k: v for k, v in record.items() if k not in hidden}
            yield [
                lead.id,
                *(local(record.get(n)) for n in names),
                local(lead.created_at),
                lead.state,
                lead.owner_id,
                local(lead.assigned_at),
                local(lead.last_followup_at),
                lead.followup_count,
                *((lead.outputs or {}).get(o) for o in outputs),
            ]

    return header, rows()


def export_leads(
    session: Session, team: Team, fmt: Literal["csv", "xlsx"], *, states: Collection[str] | None = None, owner: str | None = None
) -> tuple[bytes, int]:
    """A team's leads (optionally only those in ``states``, or only ``owner``'s) as CSV or XLSX bytes, formula-safe; and how many."""
    unknown = sorted(set(states or ()) - set(LEAD_STATES))
    if unknown:
        raise ServiceError(Problem.make("export.state", "unknown lead state {s!r} (one of: {all})", "未知的线索状态 {s!r}(可选:{all})", s=unknown[0], all=", ".join(LEAD_STATES)))
    template = compiled(get_version(session, team.template_name))
    header, rows = lead_table(session, team, template, states=states, local_times=fmt == "xlsx", owner=owner)
    count = 0

    def counted() -> Iterator[list[Any]]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    data = table_csv(header, counted()) if fmt == "csv" else table_xlsx(header, counted(), title=team.slug)
    return data, count
