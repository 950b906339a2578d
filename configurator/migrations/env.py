"""Alembic environment: the URL comes from the caller (configurator.migrate) or FENPEI_DATABASE_URL."""

from __future__ import annotations

from alembic import context

import configurator.models  # noqa: F401 - registers every table on Base.metadata
from configurator.db import Base, make_engine
from configurator.settings import Settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


def run() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
