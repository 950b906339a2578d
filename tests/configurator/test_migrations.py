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


def test_notices_written_before_digests_name_their_one_lead(db_url: str) -> None:
    """Migration 0010: a notice from before names its lead in ``leads`` and counts one lead."""
    from sqlalchemy import text

    command.upgrade(alembic_config(db_url), "0009")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            team = conn.execute(text("INSERT INTO teams (slug, name, template_name) VALUES ('east', 'East', 'b2b') RETURNING id")).scalar_one()
            for key, lead in (("k1", "L1"), ("k2", None)):
                conn.execute(
                    text(
                        "INSERT INTO notifications (key, at, team_id, recipient, role, kind, lead_id, rule, message_en, message_zh) "
                        "VALUES (:key, '2026-11-23 01:00:00', :team, 'r1', 'owner', 'remind', :lead, 'stale', 'lead L1 (r1): …', '线索 L1(r1):…')"
                    ),
                    {"key": key, "team": team, "lead": lead},
                )
        upgrade(db_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key, lead_count, leads FROM notifications ORDER BY key")).all()
        import json

        assert [(key, count, leads if isinstance(leads, list) else json.loads(leads)) for key, count, leads in rows] == [("k1", 1, [["L1", None, None]]), ("k2", 0, [])]
    finally:
        engine.dispose()
