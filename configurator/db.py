"""The database: engine and session factory for SQLite (embedded) and PostgreSQL.

Services take a session and never commit; the boundary that owns the work (a CLI verb, a task,
a request) opens :func:`session_scope` and commits once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from configurator.jsoncodec import loads

__all__ = ["Base", "JSONType", "make_engine", "make_sessionmaker", "session_scope"]

# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {dict[str, Any]: JSONType, list[Any]: JSONType}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    # JSON columns as json.loads reads them, faster (psycopg's json and jsonb loaders too: the
    # dialect hands this to the adapters its connections use)
    kwargs.setdefault("json_deserializer", loads)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Python's sqlite3 opens transactions lazily; we issue BEGIN ourselves so that a
            # writer can take the lock up front (BEGIN IMMEDIATE) and never deadlock on upgrade.
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            write = conn.get_execution_options().get("fenpei_write_lock", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], *, write_lock: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error.

    ``write_lock`` takes SQLite's database write lock at BEGIN (BEGIN IMMEDIATE); on PostgreSQL
    services lock the rows they change instead.
    """
    session = factory()
    try:
        if write_lock:
            # Procure the connection now so the option is set before its transaction begins.
            session.connection(execution_options={"fenpei_write_lock": True})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
