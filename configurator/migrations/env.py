"""Alembic environment: the URL comes from the caller (configurator.migrate) or FENPEI_DATABASE_URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import context

import configurator.models  # noqa: F401 - registers every table on Base.metadata
from configurator.db import Base, make_engine
from configurator.settings import Settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


def _for_dialect(dialect: str) -> Callable[..., bool]:
    """Comparing the models with a database (``alembic check``) leaves out the indexes the models
    create only on another database (``Index(...).ddl_if(dialect=...)``)."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        if type_ != "index" or reflected or ddl_if is None or ddl_if.dialect is None:
            return True
        wanted = (ddl_if.dialect,) if isinstance(ddl_if.dialect, str) else tuple(ddl_if.dialect)
        return dialect in wanted

    return include_object


def run() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=Base.metadata, render_as_batch=True, include_object=_for_dialect(connectable.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, include_object=_for_dialect(connection.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
