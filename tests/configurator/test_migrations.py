"""The shipped migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from configurator.db import Base, make_engine
from configurator.migrate import alembic_config, upgrade


def test_upgrade_builds_every_table_and_matches_the_models(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)  # a second run changes nothing
    engine = make_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    finally:
        engine.dispose()
    command.check(alembic_config(db_url))  # raises when the models and migrations differ
