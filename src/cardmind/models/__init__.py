"""Models: fraud training, the evaluation protocol, the registry, reason codes.

>>> from cardmind.models import Registry, ScoringModel, Calibration
"""

from cardmind.models.calibration import Calibration
from cardmind.models.explain import FeatureText, Reason, ReasonExplainer, describe_feature
from cardmind.models.registry import Registry, load
from cardmind.models.scoring import ScoringModel

__all__ = [
    "Calibration",
    "FeatureText",
    "Reason",
    "ReasonExplainer",
    "Registry",
    "ScoringModel",
    "describe_feature",
    "load",
]
