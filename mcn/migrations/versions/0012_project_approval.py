"""console_projects.require_approval: a brand project's clips are planned only once approved (default on)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("console_projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("require_approval", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("console_projects", schema=None) as batch_op:
        batch_op.drop_column("require_approval")
