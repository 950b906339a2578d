"""leads storage: fillfactor 90 on PostgreSQL, the owner index holds the load columns on SQLite

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 06:00:00

PostgreSQL: follow-ups and reminder stamps change no indexed column, so with room left on each
page they update a lead in place (HOT) without touching its indexes. Only new and rewritten
pages keep the room; existing pages get it when the table is next rewritten (VACUUM FULL or
CLUSTER), which this migration does not force.

SQLite: ``ix_leads_team_owner`` becomes ``ix_leads_team_owner_load`` (team, owner, state, open
flag, weight, from-pool flag), which answers the roster's load GROUP BY without reading the
table. PostgreSQL keeps the narrow index (see ``configurator/models/lead.py``).
"""

from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE leads SET (fillfactor = 90)")
        return
    with op.batch_alter_table('leads') as batch:
        batch.drop_index('ix_leads_team_owner')
        batch.create_index('ix_leads_team_owner_load', ['team_id', 'owner_id', 'state', 'is_open', 'weight', 'from_pool'], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE leads RESET (fillfactor)")
        return
    with op.batch_alter_table('leads') as batch:
        batch.drop_index('ix_leads_team_owner_load')
        batch.create_index('ix_leads_team_owner', ['team_id', 'owner_id'], unique=False)
