"""reliability: whole delivery-attempt outcomes, SMS resend sweep, reconciliation days

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:50:00

Issue 19 item 10: a delivery attempt keeps its outcome (`result`) and the receiver's Retry-After, so
a retried attempt answers as its first run did. Null on rows logged before (read from the status).
Issue 19 item 7: a failed SMS keeps when the resend sweep may try it again, and how often it did.
Issue 19 item 5: one row per statement day, pending until reconciled or marked by an operator.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliationday",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    with op.batch_alter_table("deliveryattempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column("retry_after", sa.Float(), nullable=True))
    with op.batch_alter_table("smsmessage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resends", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_smsmessage_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("reconciliationday")
    with op.batch_alter_table("smsmessage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_smsmessage_next_attempt_at"))
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("resends")
    with op.batch_alter_table("deliveryattempt", schema=None) as batch_op:
        batch_op.drop_column("retry_after")
        batch_op.drop_column("result")
