"""source labels: human sentence kinds and clip verdicts per recording

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_labels",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("annotator", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sentence_count", sa.Integer(), nullable=False),
        sa.Column("verdict_count", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    with op.batch_alter_table("source_labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_labels_updated_at"), ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("source_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_labels_updated_at"))
    op.drop_table("source_labels")
