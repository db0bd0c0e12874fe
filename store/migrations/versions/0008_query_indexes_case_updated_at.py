"""indexes for the query routes; claim cases get updated_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00

`GET /v1/payment-intents` filters on payment.created_at and paymentdetail.insurance_number,
`GET /v1/cases` on claimcase.number and the new claimcase.updated_at (existing cases start at their
created_at).
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("claimcase", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.execute("UPDATE claimcase SET updated_at = created_at")
    with op.batch_alter_table("claimcase", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False)
        batch_op.create_index(batch_op.f("ix_claimcase_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_claimcase_number"), ["number"], unique=False)
    op.create_index(op.f("ix_payment_created_at"), "payment", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_paymentdetail_insurance_number"), "paymentdetail", ["insurance_number"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_paymentdetail_insurance_number"), table_name="paymentdetail")
    op.drop_index(op.f("ix_payment_created_at"), table_name="payment")
    with op.batch_alter_table("claimcase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claimcase_number"))
        batch_op.drop_index(batch_op.f("ix_claimcase_updated_at"))
        batch_op.drop_column("updated_at")
