"""reserved: domain rules, flow A (issue 23)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:50:00

A slot in the chain reserved for parallel work; empty until its owner fills it in.
"""

from alembic import op  # noqa: F401

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
