"""Credit models: application scorecard (champion), LightGBM challenger, reject inference,
behaviour score, evaluation (cross-validation, KS, fairness) and monitoring (PSI)."""

from cardmind.models.credit.scorecard import PROTECTED_ATTRIBUTES, Scaling, Scorecard

__all__ = ["PROTECTED_ATTRIBUTES", "Scaling", "Scorecard"]
