"""notification attempts: outcome, attempt number, one accepted row per gateway transaction

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("paymentnotification", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="rejected"
            )
        )
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("accepted_transaction", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.create_unique_constraint(
            "uq_paymentnotification_accepted_transaction", ["accepted_transaction"]
        )
        batch_op.create_index(
            batch_op.f("ix_paymentnotification_transaction_id"), ["transaction_id"], unique=False
        )
    op.execute("UPDATE paymentnotification SET outcome = 'accepted' WHERE accepted")


def downgrade() -> None:
    with op.batch_alter_table("paymentnotification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paymentnotification_transaction_id"))
        batch_op.drop_constraint("uq_paymentnotification_accepted_transaction", type_="unique")
        batch_op.drop_column("accepted_transaction")
        batch_op.drop_column("attempt")
        batch_op.drop_column("outcome")
