"""decision_log: request_ts column (filled from request_json) and index; the unused action and
card_token indexes dropped (ADR 0020).

Revision ID: 0002_decision_log_request_ts
Revises: 0001_authorization
"""

from __future__ import annotations

from alembic import op

from cardmind.storage.decision_log import (
    DROPPED_INDEXES,
    REQUEST_TS_INDEX,
    upgrade_decision_log,
)

revision = "0002_decision_log_request_ts"
down_revision = "0001_authorization"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # idempotent: an engine started on this database may have upgraded the table already
    upgrade_decision_log(op.get_bind())


def downgrade() -> None:
    op.drop_index(REQUEST_TS_INDEX, table_name="decision_log")
    with op.batch_alter_table("decision_log") as batch:
        batch.drop_column("request_ts")
    for name in DROPPED_INDEXES:
        op.create_index(name, "decision_log", [name.removeprefix("ix_decision_log_")])
