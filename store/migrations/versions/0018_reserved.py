"""reserved: GePG callbacks by certificate (issue 20)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 02:50:00

A slot in the chain reserved for parallel work; empty until its owner fills it in.
"""

from alembic import op  # noqa: F401

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
