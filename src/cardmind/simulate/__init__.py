"""The simulated card issuer: seeded, vectorised, with labelled fraud and cash-out scenarios.

Only the CLI, benchmarks and tests import this package: features, models and policies never see
how the truth was generated.

>>> cfg = load_preset("tiny", seed=1)
>>> cfg.preset, cfg.period.months
('tiny', 6)
"""

from __future__ import annotations

from cardmind.simulate.config import SimulationConfig, load_preset, parse_overrides
from cardmind.simulate.run import simulate
from cardmind.simulate.summary import Summary, describe

__all__ = ["SimulationConfig", "Summary", "describe", "load_preset", "parse_overrides", "simulate"]
