"""What differs between SQLite and PostgreSQL in the services' set-based statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from configurator.services.templates import ServiceError
from rule_engine import Problem

__all__ = ["dialect_insert", "dialect_name", "insert_ignoring"]


def dialect_name(session: Session) -> str:
    """``sqlite`` or ``postgresql``."""
    return session.get_bind().dialect.name


def dialect_insert(session: Session) -> Any:
    """The dialect's INSERT construct (it has ``on_conflict_do_nothing``)."""
    name = dialect_name(session)
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    raise ServiceError(Problem.make("db.dialect", "database {d!r} is not supported (use SQLite or PostgreSQL)", "不支持数据库 {d!r}(请使用 SQLite 或 PostgreSQL)", d=name))


def insert_ignoring(session: Session, table: Table, conflict: Sequence[str]) -> Any:
    """``INSERT INTO table … ON CONFLICT (conflict) DO NOTHING``: a row whose key exists is skipped."""
    return dialect_insert(session)(table).on_conflict_do_nothing(index_elements=list(conflict))
