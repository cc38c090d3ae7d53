"""console: users (brand / operator, scrypt hashes), brand projects, their uploads and clip reviews

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_text = sqlmodel.sql.sqltypes.AutoString
_when = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _text(), nullable=False),
        sa.Column("role", _text(), nullable=False),
        sa.Column("brand", _text(), nullable=True),
        sa.Column("password_hash", _text(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_console_users_name"),
    )
    op.create_table(
        "console_projects",
        sa.Column("id", _text(), nullable=False),
        sa.Column("brand", _text(), nullable=False),
        sa.Column("name", _text(), nullable=False),
        sa.Column("created_by", _text(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_projects_brand", "console_projects", ["brand"])
    op.create_table(
        "console_uploads",
        sa.Column("id", _text(), nullable=False),
        sa.Column("project_id", _text(), nullable=False),
        sa.Column("filename", _text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("status", _text(), nullable=False),
        sa.Column("error", _text(), nullable=True),
        sa.Column("path", _text(), nullable=False),
        sa.Column("products_path", _text(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("run_ref", _text(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["console_projects.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_uploads_project_id", "console_uploads", ["project_id"])
    op.create_table(
        "console_clip_reviews",
        sa.Column("clip_id", _text(), nullable=False),
        sa.Column("verdict", _text(), nullable=False),
        sa.Column("reviewer", _text(), nullable=False),
        sa.Column("note", _text(), nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["clips.id"]),
        sa.PrimaryKeyConstraint("clip_id"),
    )


def downgrade() -> None:
    op.drop_table("console_clip_reviews")
    op.drop_index("ix_console_uploads_project_id", table_name="console_uploads")
    op.drop_table("console_uploads")
    op.drop_index("ix_console_projects_brand", table_name="console_projects")
    op.drop_table("console_projects")
    op.drop_table("console_users")
