"""pool request expiry

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 21:00:00

When a bulk request's bills expire (issue 13, research §5.3): GePG delivers the numbers later by
callback, which must pool them with the expiry the bills were sent with. Null on rows made before.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poolrequest", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("poolrequest", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
