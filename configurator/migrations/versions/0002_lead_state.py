"""lead state: new, owned, pool or escalated

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.String(length=16), nullable=False, server_default="new"))
        batch_op.create_index(batch_op.f("ix_leads_state"), ["state"], unique=False)
    op.execute("UPDATE leads SET state = CASE WHEN owner_id IS NULL THEN 'new' ELSE 'owned' END")


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_state"))
        batch_op.drop_column("state")
