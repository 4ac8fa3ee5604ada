"""Readable cash-out rules: named SQL conditions over the card-cycle features, with reasons.

A rule's condition is a boolean SQL expression that may use only feature names, numbers,
comparisons, ``AND``/``OR``/``NOT``, ``BETWEEN`` and arithmetic; :class:`Rule` parses it with
sqlglot and refuses anything else (no functions, no sub-queries, no unknown columns). DuckDB
evaluates all rules at once over the feature table; a rule over a feature that is null (not
available) does not fire.

>>> r = Rule(name="tp", condition="third_party_repay >= 0.5", reason_en="paid by a third party",
...          reason_zh="第三方代还")
>>> r.features, r.needs_repayments
(('third_party_repay',), True)
>>> Rule(name="x", condition="read_csv('/etc/passwd') > 0", reason_en="e", reason_zh="z")
Traceback (most recent call last):
...
ValueError: rule x: only feature names, numbers and comparisons are allowed, found READ_CSV('/etc/passwd')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import expressions as exp

from cardmind.models.cashout.features import FEATURES, REPAYMENT_FEATURES

_ALLOWED = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Paren, exp.Neg, exp.Not,
    exp.And, exp.Or, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ, exp.NEQ, exp.Between,
    exp.Add, exp.Sub, exp.Mul, exp.Div,
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One readable rule: a name, a SQL condition over features, and its reason in two languages."""

    name: str
    condition: str
    reason_en: str
    reason_zh: str
    features: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"rule name must be an identifier, got {self.name!r}")
        try:
            tree = sqlglot.parse_one(self.condition, read="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise ValueError(f"rule {self.name}: cannot parse condition: {exc}") from exc
        used: list[str] = []
        for node in tree.walk():
            if not isinstance(node, _ALLOWED):
                raise ValueError(
                    f"rule {self.name}: only feature names, numbers and comparisons are allowed, "
                    f"found {node.sql(dialect='duckdb')[:40]}"
                )
            if isinstance(node, exp.Column):
                if node.name not in FEATURES or node.table:
                    raise ValueError(f"rule {self.name}: unknown feature {node.sql()!r}")
                if node.name not in used:
                    used.append(node.name)
        object.__setattr__(self, "features", tuple(used))

    @property
    def needs_repayments(self) -> bool:
        """True when the rule reads a feature that only exists with repayment data."""
        return any(f in REPAYMENT_FEATURES for f in self.features)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "condition": self.condition,
            "reason_en": self.reason_en,
            "reason_zh": self.reason_zh,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        return cls(**{k: data[k] for k in ("name", "condition", "reason_en", "reason_zh")})


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        name="third_party_repay_then_cycle",
        condition=(
            "third_party_repay >= 0.5 AND spend_after_repay_ratio >= 0.8 "
            "AND purchases_since_repay >= 3 AND hours_since_repay <= 96 "
            "AND (repaid_to_limit >= 0.3 OR min_free_share <= 0.12) AND amount_cv <= 1.0"
        ),
        reason_en=(
            "a third party repaid the card and 80 %+ of it was spent again within 4 days "
            "in similar amounts"
        ),
        reason_zh="第三方代为还款后4天内以相近金额再次消费超过还款额的80%",
    ),
    Rule(
        name="cycle_through_pattern_merchants",
        condition=(
            "repaid_to_limit >= 0.3 AND spend_after_repay_ratio BETWEEN 0.8 AND 1.5 "
            "AND hours_since_repay <= 96 "
            "AND (merchant_tp_pattern_share >= 0.15 OR young_merchant_share >= 0.5)"
        ),
        reason_en=(
            "repayment spent again within days at merchants where many cards do the same, "
            "or at young merchants"
        ),
        reason_zh="还款后数日内在多卡同样操作的商户或新开商户再次消费",
    ),
    Rule(
        name="round_amounts_after_statement",
        condition=(
            "hours_since_cycle_start <= 96 AND round_share >= 0.6 "
            "AND spend_to_limit >= 0.3 AND max_purchase_to_limit >= 0.1"
        ),
        reason_en="large round-amount purchases right after the statement date",
        reason_zh="账单日后立即发生大额整数金额消费",
    ),
    Rule(
        name="line_drained_at_young_merchants",
        condition=(
            "spend_to_limit >= 0.5 AND min_free_share <= 0.15 AND young_merchant_share >= 0.7 "
            "AND merchant_hhi >= 0.15 AND n_purchases >= 5 AND amount_cv <= 1.0"
        ),
        reason_en=(
            "most of the line spent in similar amounts at a few young merchants, "
            "leaving a small margin free"
        ),
        reason_zh="额度大部分以相近金额集中在少数新开商户用尽，仅保留少量可用额度",
    ),
)


def evaluate_rules(features: pa.Table, rules: tuple[Rule, ...]) -> pa.Table:
    """One boolean column per rule (null features -> False), in rule order."""
    if not rules:
        return pa.table({})
    con = duckdb.connect()
    con.register("feats", features)
    select = ", ".join(f"coalesce(({r.condition}), FALSE) AS {r.name}" for r in rules)
    return con.sql(f"SELECT {select} FROM feats").to_arrow_table()
