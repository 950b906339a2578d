"""leads: an index on (team, state, id) for the reclaim sweep's keyset batches

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 22:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_team_state_id", ["team_id", "state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_team_state_id")
