"""The import's documented policy: vocabularies, amount signs, defaults, minimum columns.

>>> VOCABULARIES[("fraud_labels", "label")]
('fraud', 'chargeback', 'genuine')
>>> ESSENTIALS["authorizations"][3]
('card_token', 'customer_id')
"""

from __future__ import annotations

from typing import Any

from cardmind import schema

VOCABULARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("authorizations", "channel"): schema.CHANNELS,
    ("authorizations", "message_type"): schema.MESSAGE_TYPES,
    ("cards", "product_tier"): schema.PRODUCT_TIERS,
    ("cards", "status"): schema.CARD_STATUSES,
    ("repayments", "channel"): schema.REPAYMENT_CHANNELS,
    ("installment_plans", "kind"): schema.INSTALLMENT_KINDS,
    ("customers", "acquisition_channel"): schema.ACQUISITION_CHANNELS,
    ("applications", "channel"): schema.ACQUISITION_CHANNELS,
    ("applications", "decision"): ("approved", "rejected"),
    ("fraud_labels", "label"): schema.LABEL_KINDS,
}

# Amounts that must be > 0 (the message type, not the sign, says refund or reversal).
POSITIVE_AMOUNTS = {
    ("authorizations", "amount_fen"),
    ("repayments", "amount_fen"),
    ("temp_credits", "amount_fen"),
}
# Money that may legitimately be negative (a credit balance); every other *_fen must be >= 0.
SIGNED_AMOUNTS = {("statements", "previous_balance_fen"), ("statements", "new_balance_fen")}

# Documented defaults for absent columns: constants, or another column of the same row.
CONSTANT_DEFAULTS: dict[tuple[str, str], Any] = {
    ("authorizations", "message_type"): "purchase",
    ("authorizations", "temp_credit_fen"): 0,
}
COLUMN_FALLBACKS: dict[str, list[tuple[str, str]]] = {
    # table: [(absent column, column copied into it)], applied in order
    "*": [("card_token", "customer_id"), ("customer_id", "card_token")],
    "authorizations": [("merchant_id", "terminal_id"), ("terminal_id", "merchant_id")],
}

# Identifiers generated (``<file stem>-<record number>``) when the bank's file has none.
GENERATED_IDS = {
    "applications": "application_id",
    "statements": "statement_id",
    "repayments": "repayment_id",
    "installment_plans": "plan_id",
    "temp_credits": "grant_id",
}

# Minimum columns per table: each entry is a set of alternatives, one of which must be filled.
ESSENTIALS: dict[str, list[tuple[str, ...]]] = {
    "authorizations": [
        ("auth_id",),
        ("ts",),
        ("amount_fen",),
        ("card_token", "customer_id"),
        ("merchant_id", "terminal_id"),
    ],
    "fraud_labels": [("auth_id",), ("label",)],
    "repayments": [("ts",), ("amount_fen",), ("card_token", "customer_id")],
    "statements": [("statement_date",), ("card_token", "customer_id")],
    "cards": [("card_token", "customer_id")],
    "application_outcomes": [("application_id",), ("bad",)],
}

# When labels carry no report time, they are taken as known this long after the authorization
# (the usual 7-day feedback delay of the fraud-detection literature); ``label_delay`` changes it.
DEFAULT_LABEL_DELAY = "7d"
