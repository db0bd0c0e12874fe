"""reserved: payment intent workflow convergence (issue 19)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 02:50:00

A slot in the chain reserved for parallel work; empty until its owner fills it in.
"""

from alembic import op  # noqa: F401

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
