"""notification digests: one notice per recipient, kind and rule names all its leads

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.add_column(sa.Column('lead_count', sa.Integer(), server_default='1', nullable=False))
        batch.add_column(sa.Column('leads', sa.JSON(), nullable=True))
    # Older notices were about one lead each: name it (owner and deadline were only in the message).
    pair = "json_build_array(json_build_array(lead_id, NULL, NULL))" if op.get_bind().dialect.name == "postgresql" else "json_array(json_array(lead_id, NULL, NULL))"
    op.execute(f"UPDATE notifications SET leads = {pair} WHERE lead_id IS NOT NULL")
    op.execute("UPDATE notifications SET leads = '[]', lead_count = 0 WHERE lead_id IS NULL")
    with op.batch_alter_table('notifications') as batch:
        batch.alter_column('leads', existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.drop_column('leads')
        batch.drop_column('lead_count')
