"""lead import hash: a re-run of an import recognises the rows it already stored

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ux_leads_team_import_hash", ["team_id", "import_hash"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ux_leads_team_import_hash")
        batch_op.drop_column("import_hash")
