"""transaction ids unique per tenant; a stored webhook-id per event

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00

Receipts get their payment's tenant and a (tenant, transaction_id) key instead of a global one;
reconciliation issues are kept per statement line (the control number joins their key). Events get
a `webhook_id`: existing ones keep `msg_<id>`, the id their deliveries were sent with.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}
"""Names SQLite's reflected unnamed keys get in batch mode (PostgreSQL has named them already)."""


def _unique_name(table: str, columns: list[str]) -> str:
    """The name of the unnamed unique key on `columns` of `table`, as this database knows it."""
    for key in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if key["column_names"] == columns and key["name"]:
            return str(key["name"])
    return NAMING["uq"] % {"table_name": table, "column_0_N_name": "_".join(columns)}


def upgrade() -> None:
    with op.batch_alter_table("paymentreceipt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.execute(
        "UPDATE paymentreceipt SET tenant = "
        "(SELECT payment.tenant FROM payment WHERE payment.id = paymentreceipt.payment_id)"
    )
    old_receipt_key = _unique_name("paymentreceipt", ["transaction_id"])
    old_issue_key = _unique_name("reconciliationissue", ["day", "transaction_id", "kind"])
    with op.batch_alter_table("paymentreceipt", naming_convention=NAMING) as batch_op:
        batch_op.alter_column("tenant", existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
        batch_op.drop_constraint(old_receipt_key, type_="unique")
        batch_op.create_unique_constraint(
            "uq_paymentreceipt_tenant_transaction_id", ["tenant", "transaction_id"]
        )
    with op.batch_alter_table("reconciliationissue", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(old_issue_key, type_="unique")
        batch_op.create_unique_constraint(
            "uq_reconciliationissue_line_kind", ["day", "transaction_id", "control_number", "kind"]
        )

    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("webhook_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
    op.execute("UPDATE event SET webhook_id = 'msg_' || CAST(id AS VARCHAR)")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column(
            "webhook_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False
        )
        batch_op.create_unique_constraint("uq_event_webhook_id", ["webhook_id"])


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_constraint("uq_event_webhook_id", type_="unique")
        batch_op.drop_column("webhook_id")
    with op.batch_alter_table("reconciliationissue", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reconciliationissue_line_kind", type_="unique")
        batch_op.create_unique_constraint(
            "uq_reconciliationissue_day_transaction_id_kind", ["day", "transaction_id", "kind"]
        )
    with op.batch_alter_table("paymentreceipt", schema=None) as batch_op:
        batch_op.drop_constraint("uq_paymentreceipt_tenant_transaction_id", type_="unique")
        batch_op.create_unique_constraint("uq_paymentreceipt_transaction_id", ["transaction_id"])
        batch_op.drop_column("tenant")
