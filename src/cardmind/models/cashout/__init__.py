"""Cash-out defence (代还/套现): card-cycle features, detector, merchant rings, evaluation.

cardmind never implements the cycling itself; this package is the issuer's defence against it.

>>> from cardmind.models.cashout import CashoutDetector, card_cycle_features
"""

from cardmind.models.cashout.detector import CashoutDetector, DetectorParams
from cardmind.models.cashout.features import (
    FEATURES,
    REDUCED_FEATURES,
    FeatureConfig,
    card_cycle_features,
)
from cardmind.models.cashout.rules import DEFAULT_RULES, Rule

__all__ = [
    "DEFAULT_RULES",
    "FEATURES",
    "REDUCED_FEATURES",
    "CashoutDetector",
    "DetectorParams",
    "FeatureConfig",
    "Rule",
    "card_cycle_features",
]
