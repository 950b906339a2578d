"""handovers: the trigger and template version behind each one, and at most one open per lead

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN_HANDOVER = "status IN ('to_fill', 'to_ack')"


def upgrade() -> None:
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rule", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("template_version_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_handovers_template_version_id_template_versions"), "template_versions", ["template_version_id"], ["id"])
        batch_op.create_index(
            "ux_handovers_open_lead",
            ["lead_id"],
            unique=True,
            sqlite_where=sa.text(OPEN_HANDOVER),
            postgresql_where=sa.text(OPEN_HANDOVER),
        )


def downgrade() -> None:
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.drop_index("ux_handovers_open_lead")
        batch_op.drop_constraint(batch_op.f("fk_handovers_template_version_id_template_versions"), type_="foreignkey")
        batch_op.drop_column("template_version_id")
        batch_op.drop_column("rule")
