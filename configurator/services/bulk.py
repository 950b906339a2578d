"""Helpers for the services that write tens of thousands of rows at once (imports, assignment).

At that size the per-row costs that never matter for one lead add up to more than the database's
own work: Python's cycle collector walking every object the batch keeps, JSON written with
spaces, the same small document encoded again for each row, and the ORM's or Core's per-row
parameter handling. These helpers remove them; :func:`insert_rows` writes rows with the fastest
bulk path of each dialect.
"""

from __future__ import annotations

import gc
import json
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session
from sqlalchemy.sql import sqltypes

from configurator.services.dialect import dialect_name

__all__ = ["BULK_CACHE_KIB", "Memo", "bulk_cache", "collector_paused", "dumps", "insert_rows", "stored"]


def dumps(value: Any) -> str:
    """Compact JSON, non-ASCII text kept as it is (what a JSON column stores)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Memo:
    """``encode(mapping)``, remembered by the mapping's items (mappings with unhashable values are encoded each time)."""

    def __init__(self, encode: Callable[[Any], str] = dumps) -> None:
        self.encode = encode
        self.known: dict[tuple[Any, ...], str] = {}

    def __call__(self, value: Mapping[str, Any]) -> str:
        try:
            # With the types: 1, 1.0 and True are equal keys but not equal JSON.
            key = (*value.items(), *map(type, value.values()))
            text = self.known.get(key)
        except TypeError:
            return self.encode(value)
        if text is None:
            if len(self.known) >= 65536:
                self.known.clear()
            text = self.known[key] = self.encode(value)
        return text


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a batch builds its rows.

    A batch makes a few small containers per lead (records, notes, parameters) that all live until
    it ends; with the collector on, each full collection walks every one of them again, which
    cost more than the rule engine itself on a batch of 20,000 leads. Reference counting still
    frees everything; the collector runs again (and catches up) when the batch is done.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# SQLite's page cache while a batch writes: its default (2 MiB) holds a fraction of the pages a
# batch of 100,000 leads touches, so it keeps spilling pages to the journal and reading them back.
BULK_CACHE_KIB = 65536


@contextmanager
def bulk_cache(session: Session) -> Iterator[None]:
    """On SQLite, a page cache of :data:`BULK_CACHE_KIB` for the session's connection while the block runs."""
    if dialect_name(session) != "sqlite":
        yield
        return
    conn = session.connection()
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    yield
    # Not restored when the block raised: the connection may be unusable until the caller rolls
    # back, and a larger cache left on it costs memory only.
    conn.exec_driver_sql(f"PRAGMA cache_size = {int(before or 0)}")


def stored(session: Session, column: Any, value: Any) -> Any:
    """``value`` as the column's type sends it to this database (e.g. a SQLite date-time string)."""
    dialect = session.get_bind().dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process is not None else value


def insert_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    converted: bool = False,
    skip_conflicts: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (values in ``columns`` order, JSON columns as JSON text) in the session's transaction.

    PostgreSQL: one COPY (with psycopg 3). SQLite: one executemany, date-times converted as SQLAlchemy stores them
    (``converted``: the values are already what the driver takes, e.g. date-times as :func:`stored` gives them).
    No per-row work besides that, so the values must already be what the columns hold.

    ``skip_conflicts`` names a unique key: rows whose key exists already are skipped (``ON CONFLICT … DO
    NOTHING``; on PostgreSQL the rows are copied into a temporary table and inserted from there).
    """
    if not rows:
        return
    names = ", ".join(columns)
    conflict = f" ON CONFLICT ({', '.join(skip_conflicts)}) DO NOTHING" if skip_conflicts else ""
    if dialect_name(session) == "postgresql":
        raw: Any = session.connection().connection.driver_connection  # the driver's connection, in the session's transaction
        if hasattr(raw, "pipeline"):  # psycopg 3: COPY
            target = table.name
            with raw.cursor() as cursor:
                if skip_conflicts:
                    # A scratch table per table and column list, emptied at commit and after each use.
                    target = f"fenpei_copy_{table.name}_{zlib.crc32(names.encode()):08x}"
                    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} ON COMMIT DELETE ROWS AS SELECT {names} FROM {table.name} WITH NO DATA")
                with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                if skip_conflicts:
                    cursor.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {target}{conflict}")
                    cursor.execute(f"TRUNCATE {target}")
            return
        marks = ", ".join("%s" for _ in columns)  # another driver: a plain executemany
        session.connection().exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks}){conflict}", [tuple(row) for row in rows])
        return
    dialect = session.get_bind().dialect
    processors = []
    for i, name in enumerate(columns):
        impl = table.c[name].type.dialect_impl(dialect)
        process = None if converted or isinstance(impl, sqltypes.JSON) else impl.bind_processor(dialect)  # JSON comes as text already
        if process is not None:
            processors.append((i, process))
    if processors:
        converted_rows = []
        for row in rows:
            values = list(row)
            for i, process in processors:
                if values[i] is not None:
                    values[i] = process(values[i])
            converted_rows.append(tuple(values))
        rows = converted_rows
    marks = ", ".join("?" for _ in columns)
    session.connection().exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) VALUES ({marks}){conflict}", [row if isinstance(row, tuple) else tuple(row) for row in rows]
    )
