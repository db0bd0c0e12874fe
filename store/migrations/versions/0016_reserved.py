"""reserved: settlement deltas and event retention (issue 23, flow B)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 02:50:00

A slot in the chain reserved for parallel work; empty until its owner fills it in.
"""

from alembic import op  # noqa: F401

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
