"""decision_log: feature values as a float64 vector (feature_set, feature_values) with their
names in decision_feature_sets; features_json nullable, kept for older rows (ADR 0023).

Revision ID: 0004_decision_log_features
Revises: 0003_repayment_log
"""

from __future__ import annotations

from alembic import op

from cardmind.storage.decision_log import (
    downgrade_decision_log_features,
    upgrade_decision_log_features,
)

revision = "0004_decision_log_features"
down_revision = "0003_repayment_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # idempotent: an engine started on this database may have upgraded the table already
    upgrade_decision_log_features(op.get_bind())


def downgrade() -> None:
    downgrade_decision_log_features(op.get_bind())
