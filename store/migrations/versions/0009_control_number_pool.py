"""control number pool

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 18:24:39

Pooled control numbers (issue 13, research §5.3): `poolrequest` (one bulk bill request per product,
its state) and `poolednumber` (the numbers it brought; `payment_id` set when an intent takes one).
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poolrequest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("product_code", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "poolednumber",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("control_number", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("product_code", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("bill_id", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["poolrequest.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("control_number"),
        sa.UniqueConstraint("payment_id"),
    )
    with op.batch_alter_table("poolednumber", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poolednumber_product_code"), ["product_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_poolednumber_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("poolednumber", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poolednumber_request_id"))
        batch_op.drop_index(batch_op.f("ix_poolednumber_product_code"))

    op.drop_table("poolednumber")
    op.drop_table("poolrequest")
