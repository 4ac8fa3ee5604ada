"""repayment_log: the repayments the engine applied (POST /v1/repayments), replayed on restart.

Revision ID: 0003_repayment_log
Revises: 0002_decision_log_request_ts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_repayment_log"
down_revision = "0002_decision_log_request_ts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # an engine started on this database may have created the table already (create_all)
    if sa.inspect(op.get_bind()).has_table("repayment_log"):
        return
    op.create_table(
        "repayment_log",
        sa.Column("repayment_id", sa.String(64), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("card_token", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("payer_is_cardholder", sa.Boolean(), nullable=False),
        sa.Column("available_before_fen", sa.BigInteger(), nullable=False),
        sa.Column("available_after_fen", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_fen", sa.BigInteger(), nullable=False),
        sa.Column("temp_credit_fen", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_repayment_log_received_at", "repayment_log", ["received_at"])
    op.create_index("ix_repayment_log_ts", "repayment_log", ["ts"])


def downgrade() -> None:
    op.drop_table("repayment_log")
