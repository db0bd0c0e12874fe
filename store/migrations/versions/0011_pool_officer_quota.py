"""pool officer quota

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 19:30:00

Pool numbers an enrolment officer holds (issue 13, research §2.10 GetControlNumbersForEO, §5.3): the
officer's code and when they were reserved for him; a reserved number is no longer free to others.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poolednumber", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("officer_code", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True)
        )
        batch_op.add_column(sa.Column("reserved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_poolednumber_officer_code"), ["officer_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("poolednumber", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poolednumber_officer_code"))
        batch_op.drop_column("reserved_at")
        batch_op.drop_column("officer_code")
