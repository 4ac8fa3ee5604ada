"""Authorization tables: decision_log, temp_credit_grants, decision_labels, list_entries.

Revision ID: 0001_authorization
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_authorization"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision_log",
        sa.Column("auth_id", sa.String(64), primary_key=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("card_token", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("message_type", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("response_code", sa.String(4), nullable=False),
        sa.Column("fraud_score", sa.Float(), nullable=True),
        sa.Column("cashout_score", sa.Float(), nullable=True),
        sa.Column("temp_credit_fen", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("standin", sa.Boolean(), nullable=False),
        sa.Column("standin_reason", sa.String(200), nullable=True),
        sa.Column("latency_us", sa.Integer(), nullable=False),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("features_json", sa.Text(), nullable=False),
        sa.Column("decision_json", sa.Text(), nullable=False),
    )
    op.create_index("ix_decision_log_decided_at", "decision_log", ["decided_at"])
    op.create_index("ix_decision_log_card_token", "decision_log", ["card_token"])
    op.create_index("ix_decision_log_action", "decision_log", ["action"])
    op.create_table(
        "temp_credit_grants",
        sa.Column("grant_id", sa.String(80), primary_key=True),
        sa.Column("auth_id", sa.String(64), nullable=False),
        sa.Column("card_token", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("behaviour_risk", sa.Float(), nullable=False),
        sa.Column("fraud_score", sa.Float(), nullable=True),
        sa.Column("card_cap_fen", sa.BigInteger(), nullable=False),
        sa.Column("portfolio_used_fen", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_temp_credit_grants_auth_id", "temp_credit_grants", ["auth_id"])
    op.create_index("ix_temp_credit_grants_card_token", "temp_credit_grants", ["card_token"])
    op.create_index("ix_temp_credit_grants_granted_at", "temp_credit_grants", ["granted_at"])
    op.create_table(
        "decision_labels",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("auth_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scenario", sa.String(64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_decision_labels_auth_id", "decision_labels", ["auth_id"])
    op.create_table(
        "list_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("list_type", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("added_by", sa.String(64), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("kind", "value", name="uq_list_entries_kind_value"),
    )
    op.create_index("ix_list_entries_kind", "list_entries", ["kind"])


def downgrade() -> None:
    for table in ("list_entries", "decision_labels", "temp_credit_grants", "decision_log"):
        op.drop_table(table)
