"""pool_products: the affiliate product pool (精选联盟 fields: fen, ratios in 1/10,000), alliance.store

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pool_products",
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("coupon_price", sa.Integer(), nullable=True),
        sa.Column("cos_ratio", sa.Integer(), nullable=False),
        sa.Column("cos_fee", sa.Integer(), nullable=False),
        sa.Column("kol_cos_ratio", sa.Integer(), nullable=False),
        sa.Column("kol_cos_fee", sa.Integer(), nullable=False),
        sa.Column("sales", sa.BigInteger(), nullable=True),
        sa.Column("in_stock", sa.Boolean(), nullable=False),
        sa.Column("sharable", sa.Boolean(), nullable=False),
        sa.Column("shop_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("shop_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("comment_score", sa.Float(), nullable=True),
        sa.Column("comment_num", sa.BigInteger(), nullable=True),
        sa.Column("order_num", sa.BigInteger(), nullable=True),
        sa.Column("view_num", sa.BigInteger(), nullable=True),
        sa.Column("kol_num", sa.Integer(), nullable=True),
        sa.Column("shop_total_score", sa.JSON(), nullable=True),
        sa.Column("imgs", sa.JSON(), nullable=False),
        sa.Column("videos", sa.JSON(), nullable=False),
        sa.Column("cover", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("detail_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("first_cid", sa.BigInteger(), nullable=True),
        sa.Column("second_cid", sa.BigInteger(), nullable=True),
        sa.Column("third_cid", sa.BigInteger(), nullable=True),
        sa.Column("category_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("local_media", sa.JSON(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("product_id"),
    )


def downgrade() -> None:
    op.drop_table("pool_products")
