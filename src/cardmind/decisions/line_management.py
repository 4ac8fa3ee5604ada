"""Line management of existing cards: increase / hold / decrease, early warning, offers, tags.

Vectorised over any number of cards: inputs are the behaviour PD, the behaviour
characteristics (:data:`cardmind.models.credit.behaviour.BEHAVIOUR_FEATURES`) and the current
limit and balance; outputs are arrays. Rules (declarative thresholds in
:class:`LineManagementPolicy`):

- **increase** for grades A/B with at least ``min_tenure_months`` on book, no delinquency in 6
  months and average utilisation >= ``min_utilisation`` (the customer uses the line): limit x
  ``increase_factor[grade]``, rounded down to 1,000 CNY, capped at ``max_line_fen``;
- **decrease** for grade E or a delinquency of 30+ days: the unused line is cut to
  ``decrease_factor`` of the limit but never below the balance (rounded up);
- **hold** otherwise;
- **early warning** (collections list) when PD >= ``early_warning_pd`` or a current delinquency
  with PD >= ``early_warning_pd / 2``.

>>> import numpy as np, pandas as pd
>>> f = pd.DataFrame({"utilisation_avg_6m": [0.5, 0.5], "dpd_max_6m": [0, 45], "tenure_months": [24, 24],
...     "payment_ratio_avg_6m": [1.0, 0.1], "utilisation_last": [0.5, 0.9], "purchases_avg_3m_to_limit": [0.2, 0.0],
...     "installment_to_limit": [0, 0], "cash_like_share": [0, 0]})
>>> r = LineManagementPolicy().apply(np.array([0.002, 0.2]), f, np.array([1_000_000, 1_000_000]),
...                                  np.array([500_000, 900_000]))
>>> r["line_action"].tolist(), r["new_limit_fen"].tolist(), r["early_warning"].tolist()
(['increase', 'decrease'], [1300000, 900000], [False, True])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cardmind.decisions.line_assignment import RiskGrades

TAGS = (
    "transactor",
    "revolver",
    "high_utilisation",
    "dormant",
    "heavy_spender",
    "new_account",
    "installment_user",
    "third_party_repayment",
    "delinquent",
)
OFFERS = ("line_increase", "bill_installment", "tier_upgrade")


@dataclass(frozen=True, kw_only=True)
class LineManagementPolicy:
    """Thresholds of line management, early warning, offers and tags."""

    grades: RiskGrades = field(default_factory=lambda: RiskGrades(bounds=(0.005, 0.01, 0.03, 0.08)))
    increase_factor: dict[str, float] = field(default_factory=lambda: {"A": 1.3, "B": 1.2})
    min_tenure_months: int = 6
    min_utilisation: float = 0.3
    max_line_fen: int = 20_000_000
    decrease_factor: float = 0.7
    decrease_dpd: int = 30
    early_warning_pd: float = 0.10
    round_to_fen: int = 100_000
    version: str = "line-management-1"

    def __post_init__(self) -> None:
        if not set(self.increase_factor) <= set(self.grades.labels):
            raise ValueError(f"increase_factor grades must be among {self.grades.labels}")
        if any(f <= 1 for f in self.increase_factor.values()) or not 0 < self.decrease_factor < 1:
            raise ValueError("increase factors must be > 1 and decrease_factor in (0, 1)")
        if not 0 < self.early_warning_pd < 1 or self.round_to_fen <= 0:
            raise ValueError("need 0 < early_warning_pd < 1 and round_to_fen > 0")

    def apply(
        self,
        pd_bad: np.ndarray,
        features: pd.DataFrame,
        limit_fen: np.ndarray,
        balance_fen: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Per card: grade, line action, new limit, early warning, offer and tag flags."""
        pd_bad = np.asarray(pd_bad, float)
        limit = np.asarray(limit_fen, float)
        balance = np.nan_to_num(np.asarray(balance_fen, float), nan=0.0)
        f = {c: features[c].to_numpy(float) for c in features.columns}
        gi = self.grades.grade_index(pd_bad)
        labels = np.asarray(self.grades.labels)
        grade = labels[gi]
        dpd = np.nan_to_num(f["dpd_max_6m"], nan=0.0)
        util_avg = np.nan_to_num(f["utilisation_avg_6m"], nan=0.0)
        tenure = np.nan_to_num(f["tenure_months"], nan=0.0)
        factor = np.ones(len(pd_bad))
        for g, mult in self.increase_factor.items():
            factor[grade == g] = mult
        step = self.round_to_fen
        inc = (
            (factor > 1)
            & (tenure >= self.min_tenure_months)
            & (dpd == 0)
            & (util_avg >= self.min_utilisation)
            & (limit < self.max_line_fen)
        )
        dec = (grade == labels[-1]) | (dpd >= self.decrease_dpd)
        inc &= ~dec
        up = np.minimum(np.floor(limit * factor / step) * step, self.max_line_fen)
        down = np.maximum(
            np.floor(limit * self.decrease_factor / step) * step, np.ceil(balance / step) * step
        )
        down = np.minimum(down, limit)
        new_limit = np.where(inc, up, np.where(dec, down, limit)).astype(np.int64)
        action = np.where(
            inc & (new_limit > limit),
            "increase",
            np.where(dec & (new_limit < limit), "decrease", "hold"),
        )
        ew = (pd_bad >= self.early_warning_pd) | ((dpd > 0) & (pd_bad >= self.early_warning_pd / 2))
        pay = np.nan_to_num(f["payment_ratio_avg_6m"], nan=1.0)
        util_last = np.nan_to_num(f["utilisation_last"], nan=0.0)
        spend = np.nan_to_num(f["purchases_avg_3m_to_limit"], nan=0.0)
        good = np.isin(grade, labels[:3]) & (dpd == 0)
        out: dict[str, np.ndarray] = {
            "behaviour_grade": grade,
            "line_action": action,
            "new_limit_fen": new_limit,
            "early_warning": ew,
            "offer_line_increase": action == "increase",
            "offer_bill_installment": good & (pay < 0.5) & (util_avg >= 0.5),
            "offer_tier_upgrade": (grade == labels[0])
            & (spend >= 0.3)
            & (tenure >= 12)
            & (dpd == 0),
            "tag_transactor": pay >= 0.95,
            "tag_revolver": pay < 0.5,
            "tag_high_utilisation": util_last >= 0.8,
            "tag_dormant": spend <= 0,
            "tag_heavy_spender": spend >= 0.5,
            "tag_new_account": tenure < 6,
            "tag_installment_user": np.nan_to_num(f["installment_to_limit"], nan=0.0) > 0,
            "tag_third_party_repayment": np.nan_to_num(f["cash_like_share"], nan=0.0) >= 0.5,
            "tag_delinquent": dpd > 0,
        }
        return out
