"""settlement idempotency key

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:10:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("settlementrevision", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.create_unique_constraint(
            "uq_settlementrevision_case_id_idempotency_key", ["case_id", "idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("settlementrevision", schema=None) as batch_op:
        batch_op.drop_constraint("uq_settlementrevision_case_id_idempotency_key", type_="unique")
        batch_op.drop_column("idempotency_key")
