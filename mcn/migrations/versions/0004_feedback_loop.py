"""feedback loop: affiliate orders, metric snapshots, sync cursors

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "affiliate_orders",
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("author_buyin_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("total_pay_amount", sa.Integer(), nullable=False),
        sa.Column("pay_goods_amount", sa.Integer(), nullable=False),
        sa.Column("settled_goods_amount", sa.Integer(), nullable=False),
        sa.Column("ads_estimated_commission", sa.Integer(), nullable=False),
        sa.Column("ads_real_commission", sa.Integer(), nullable=False),
        sa.Column("commission_rate", sa.Integer(), nullable=True),
        sa.Column("flow_point", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pay_success_time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("settle_time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("refund_time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("update_time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("media_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("external_info", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("post_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("attribution", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    with op.batch_alter_table("affiliate_orders", schema=None) as batch_op:
        batch_op.create_index("ix_affiliate_orders_attribution", ["attribution"], unique=False)
        batch_op.create_index("ix_affiliate_orders_pay_time", ["pay_success_time"], unique=False)
        batch_op.create_index("ix_affiliate_orders_settle_time", ["settle_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_affiliate_orders_author_buyin_id"), ["author_buyin_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_affiliate_orders_post_id"), ["post_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_affiliate_orders_product_id"), ["product_id"], unique=False)

    op.create_table(
        "metric_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("taken_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("published_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("completion_rate", sa.Float(), nullable=True),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("comments", sa.Integer(), nullable=True),
        sa.Column("shares", sa.Integer(), nullable=True),
        sa.Column("product_clicks", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("post_id", "taken_at", name="uq_metric_snapshots_post_taken"),
    )
    with op.batch_alter_table("metric_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_metric_snapshots_post_id"), ["post_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_metric_snapshots_taken_at"), ["taken_at"], unique=False)

    op.create_table(
        "sync_cursors",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("sync_cursors")
    with op.batch_alter_table("metric_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metric_snapshots_taken_at"))
        batch_op.drop_index(batch_op.f("ix_metric_snapshots_post_id"))
    op.drop_table("metric_snapshots")
    with op.batch_alter_table("affiliate_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_affiliate_orders_product_id"))
        batch_op.drop_index(batch_op.f("ix_affiliate_orders_post_id"))
        batch_op.drop_index(batch_op.f("ix_affiliate_orders_author_buyin_id"))
        batch_op.drop_index("ix_affiliate_orders_settle_time")
        batch_op.drop_index("ix_affiliate_orders_pay_time")
        batch_op.drop_index("ix_affiliate_orders_attribution")
    op.drop_table("affiliate_orders")
