"""gepg statement

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:50:00

GePG's reconciliation answers (`gepgSpReconcResp`, issue 13): delivered to the API by callback and read
by the worker's reconciliation activity that sent the request, keyed by SpReconcReqId.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gepgstatement",
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("status_code", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("lines", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )


def downgrade() -> None:
    op.drop_table("gepgstatement")
