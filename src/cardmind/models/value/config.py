"""The profit parameters of the value model: one documented YAML file (``value.yaml``).

Each parameter is ``{value, rationale}``; :func:`load_value_config` validates and returns a
:class:`ValueConfig` (fee rates in basis points, money in fen).

>>> cfg = load_value_config()
>>> cfg.issuer_fee_rate_bp["standard"], cfg.annual_fee_waiver_purchases
(45.0, 6)
>>> cfg.rationale["interest_daily_rate"][:25]
'Revolving interest 日息万分之五'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cardmind.errors import InvalidInput

DEFAULT_PATH = Path(__file__).with_name("value.yaml")
FEE_CLASSES = ("standard", "discounted", "public_service")
TIERS = ("classic", "gold", "platinum", "diamond")


@dataclass(frozen=True, kw_only=True)
class ValueConfig:
    """Validated profit parameters (see ``value.yaml`` for the rationale of each)."""

    issuer_fee_rate_bp: dict[str, float]
    interest_daily_rate: float
    annual_fee_fen: dict[str, int]
    annual_fee_waiver_purchases: int
    funding_rate_annual: float
    loss_given_default: float
    default_dpd: int
    rewards_rate: float
    servicing_cost_fen_per_month: int
    rationale: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.issuer_fee_rate_bp) != set(FEE_CLASSES):
            raise ValueError(f"issuer_fee_rate_bp needs exactly {FEE_CLASSES}")
        if any(not 0 <= v <= 200 for v in self.issuer_fee_rate_bp.values()):
            raise ValueError("issuer_fee_rate_bp must be within 0..200 bp")
        for name in ("interest_daily_rate", "funding_rate_annual", "loss_given_default", "rewards_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within 0..1, got {getattr(self, name)}")
        if self.annual_fee_waiver_purchases < 0 or self.default_dpd <= 0:
            raise ValueError("annual_fee_waiver_purchases must be >= 0 and default_dpd > 0")


def _value(raw: dict, key: str, where: str) -> tuple[float, str]:
    item = raw.get(key)
    if not isinstance(item, dict) or "value" not in item or not item.get("rationale"):
        raise InvalidInput(f"{where}: {key!r} must be a mapping with 'value' and 'rationale'")
    return item["value"], str(item["rationale"])


def load_value_config(path: str | Path | None = None) -> ValueConfig:
    """Read and validate ``value.yaml`` (the packaged defaults when ``path`` is None)."""
    where = str(path or DEFAULT_PATH)
    try:
        raw = yaml.safe_load(Path(path or DEFAULT_PATH).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{where}: cannot read value config: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: value config must be a mapping")
    rationale: dict[str, str] = {}
    args: dict = {}
    for group, keys in (("issuer_fee_rate_bp", FEE_CLASSES), ("annual_fee_fen", TIERS)):
        sub = raw.get(group)
        if not isinstance(sub, dict):
            raise InvalidInput(f"{where}: {group!r} must map {keys}")
        args[group] = {}
        for k in keys:
            v, why = _value(sub, k, f"{where}: {group}")
            args[group][k] = float(v) if group == "issuer_fee_rate_bp" else int(v)
            rationale[f"{group}.{k}"] = why
    for key, typ in (("interest_daily_rate", float), ("annual_fee_waiver_purchases", int),
                     ("funding_rate_annual", float), ("loss_given_default", float),
                     ("default_dpd", int), ("rewards_rate", float),
                     ("servicing_cost_fen_per_month", int)):
        v, why = _value(raw, key, where)
        args[key], rationale[key] = typ(v), why
    unknown = set(raw) - set(args)
    if unknown:
        raise InvalidInput(f"{where}: unknown parameters {sorted(unknown)}")
    try:
        return ValueConfig(**args, rationale=rationale)
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}") from None
