"""payment fee added back and valuation day

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:50:00

Issue 23: the transfer fee added back before matching, and the day (in the deployment's time zone)
the bill's lines were valued, so matching honours the prices the bill quoted. Existing rows: fee 0,
valued_on null (matching then values renewals on the payment day, as before).

On SQLite both directions rebuild `payment` (copy, drop, rename), with foreign keys off: its lines,
receipts and notifications reference it, and the drop fails while they do.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


@contextmanager
def _foreign_keys_off() -> Iterator[None]:
    """SQLite's foreign keys off around the rebuild: the pragma is a no-op inside a transaction, so
    it is set in autocommit blocks (which commit the steps run before)."""
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        with op.get_context().autocommit_block():
            op.execute("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    with _foreign_keys_off(), op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fee_added", sa.Numeric(18, 2), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("valued_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with _foreign_keys_off(), op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_column("valued_on")
        batch_op.drop_column("fee_added")
