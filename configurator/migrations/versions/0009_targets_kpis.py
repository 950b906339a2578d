"""targets and kpis: target plans and nodes, results of won deals, health reports, follow-up activities, leads won_at

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('target_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_name', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('period_kind', sa.String(length=8), nullable=False),
    sa.Column('metric', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_target_plans')),
    sa.UniqueConstraint('template_name', 'period', 'metric', 'version', name=op.f('uq_target_plans_template_name'))
    )
    op.create_table('target_nodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=600), nullable=False),
    sa.Column('parent_path', sa.String(length=600), nullable=True),
    sa.Column('level', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('split', sa.String(length=16), nullable=False),
    sa.Column('weight', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['target_plans.id'], name=op.f('fk_target_nodes_plan_id_target_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_target_nodes')),
    sa.UniqueConstraint('plan_id', 'path', name=op.f('uq_target_nodes_plan_id'))
    )
    with op.batch_alter_table('target_nodes', schema=None) as batch_op:
        batch_op.create_index('ix_target_nodes_level_key', ['level', 'key'], unique=False)
        batch_op.create_index(batch_op.f('ix_target_nodes_plan_id'), ['plan_id'], unique=False)

    op.create_table('target_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=64), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('rep_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_target_results_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_target_results')),
    sa.UniqueConstraint('lead_id', 'metric', name=op.f('uq_target_results_lead_id'))
    )
    with op.batch_alter_table('target_results', schema=None) as batch_op:
        batch_op.create_index('ix_target_results_team_metric_at', ['team_id', 'metric', 'at'], unique=False)

    op.create_table('health_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('rep_id', sa.String(length=64), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_health_reports_job_id_jobs')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_health_reports_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_health_reports')),
    sa.UniqueConstraint('rep_id', 'week', name=op.f('uq_health_reports_rep_id'))
    )
    with op.batch_alter_table('health_reports', schema=None) as batch_op:
        batch_op.create_index('ix_health_reports_team_week', ['team_id', 'week'], unique=False)

    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('activity', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_followups_rep_at', ['rep_id', 'at'], unique=False)

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('won_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('won_at')

    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.drop_index('ix_followups_rep_at')
        batch_op.drop_column('activity')

    with op.batch_alter_table('health_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_health_reports_team_week')

    op.drop_table('health_reports')
    with op.batch_alter_table('target_results', schema=None) as batch_op:
        batch_op.drop_index('ix_target_results_team_metric_at')

    op.drop_table('target_results')
    with op.batch_alter_table('target_nodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_target_nodes_plan_id'))
        batch_op.drop_index('ix_target_nodes_level_key')

    op.drop_table('target_nodes')
    op.drop_table('target_plans')
