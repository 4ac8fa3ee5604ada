"""Application characteristics and the origination model bundle (full scorecard + quote model).

Characteristics come from the ``applications`` table (schema): age, declared income, occupation,
city tier, education, housing, employment years, monthly debt service, bureau inquiries and
delinquencies, channel, and the derived debt-to-income ratio. ``gender`` and other protected
attributes are never characteristics.

The bundle holds four things, saved as readable JSON (no pickle):

- ``champion``: the application scorecard (all characteristics);
- ``challenger``: LightGBM on the same characteristics (shadow score, logged, not decisive);
- ``quote``: a scorecard on the five quick-quote fields (age, income, occupation, city tier,
  housing/education) with a calibration table: per quote-score band, the share of applicants the
  full policy approved and the line/income ratios it assigned;
- ``city_tiers``: city -> tier, learned from the data (quick quotes give a city, not a tier).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardmind.errors import InvalidInput
from cardmind.models.credit.challenger import LightGBMChallenger
from cardmind.models.credit.scorecard import Scorecard

#: Characteristics of the full application scorecard.
APPLICATION_FEATURES: tuple[str, ...] = (
    "age",
    "monthly_income_fen",
    "occupation",
    "city_tier",
    "education",
    "housing",
    "employment_years",
    "existing_debt_fen",
    "debt_to_income",
    "bureau_inquiries_6m",
    "bureau_delinquencies",
    "channel",
)
#: Characteristics of the quick-quote scorecard (the five fields; city enters as its tier).
QUOTE_FEATURES: tuple[str, ...] = (
    "age",
    "monthly_income_fen",
    "occupation",
    "city_tier",
    "housing",
    "education",
)
CATEGORICAL = ("occupation", "education", "housing", "channel")

#: Default tier for a city the bundle has not seen (and that is not a well-known tier-1 city).
DEFAULT_CITY_TIER = 3
KNOWN_CITY_TIERS = {
    "beijing": 1,
    "shanghai": 1,
    "guangzhou": 1,
    "shenzhen": 1,
    "北京": 1,
    "上海": 1,
    "广州": 1,
    "深圳": 1,
}


def application_features(df: pd.DataFrame) -> pd.DataFrame:
    """Characteristics from application rows (derives ``debt_to_income``).

    >>> application_features(pd.DataFrame({"monthly_income_fen": [1_000_000, 0],
    ...     "existing_debt_fen": [250_000, 100]}))["debt_to_income"].tolist()
    [0.25, 5.0]
    """
    out = pd.DataFrame(index=df.index)
    for c in APPLICATION_FEATURES:
        if c in df.columns:
            out[c] = df[c]
    if "monthly_income_fen" in df.columns and "existing_debt_fen" in df.columns:
        income = df["monthly_income_fen"].astype(float)
        dti = df["existing_debt_fen"].astype(float) / income.where(income > 0, np.nan)
        out["debt_to_income"] = dti.fillna(5.0).clip(upper=5.0)
    return out


@dataclass
class QuoteBand:
    """Calibration of one quote-score band (scores in ``[lo, hi)``)."""

    lo: float
    hi: float
    approval_rate: float
    line_ratio_lo: float
    line_ratio_hi: float
    n: int


@dataclass
class OriginationModels:
    """Champion, challenger and quote models plus city tiers: everything origination scores with."""

    champion: Scorecard
    challenger: LightGBMChallenger | None
    quote: Scorecard
    quote_bands: list[QuoteBand]
    city_tiers: dict[str, int]
    version: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def city_tier(self, city: str) -> tuple[int, bool]:
        """``(tier, known)`` for a city name (case-insensitive)."""
        key = city.strip().lower()
        if key in self.city_tiers:
            return self.city_tiers[key], True
        if key in KNOWN_CITY_TIERS:
            return KNOWN_CITY_TIERS[key], True
        return DEFAULT_CITY_TIER, False

    def quote_band(self, score: float) -> QuoteBand:
        for b in self.quote_bands:
            if b.lo <= score < b.hi:
                return b
        return self.quote_bands[0] if score < self.quote_bands[0].lo else self.quote_bands[-1]

    def save(self, folder: str | Path) -> None:
        """Write the bundle folder: ``bundle.json``, ``champion.json``, ``quote.json``,
        ``challenger.json`` + ``challenger.txt``, and the champion table as ``champion.csv``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.champion.save(folder / "champion.json")
        self.champion.to_csv(folder / "champion.csv")
        self.quote.save(folder / "quote.json")
        if self.challenger is not None:
            self.challenger.save(folder / "challenger.json")
        meta = {
            "kind": "cardmind.origination_models",
            "version": self.version,
            "quote_bands": [b.__dict__ for b in self.quote_bands],
            "city_tiers": self.city_tiers,
            "challenger": self.challenger is not None,
            "metrics": self.metrics,
        }
        (folder / "bundle.json").write_text(
            json.dumps(meta, indent=1, ensure_ascii=False, default=float)
        )

    @classmethod
    def load(cls, folder: str | Path) -> OriginationModels:
        folder = Path(folder)
        try:
            meta = json.loads((folder / "bundle.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{folder}: not an origination model folder ({exc})") from exc
        return cls(
            champion=Scorecard.load(folder / "champion.json"),
            challenger=LightGBMChallenger.load(folder / "challenger.json")
            if meta["challenger"]
            else None,
            quote=Scorecard.load(folder / "quote.json"),
            quote_bands=[QuoteBand(**b) for b in meta["quote_bands"]],
            city_tiers={k: int(v) for k, v in meta["city_tiers"].items()},
            version=meta["version"],
            metrics=meta.get("metrics", {}),
        )


def learn_city_tiers(df: pd.DataFrame) -> dict[str, int]:
    """The most frequent tier of every city in the data (lower-cased city names)."""
    if "city" not in df.columns or "city_tier" not in df.columns:
        return {}
    pairs = df[["city", "city_tier"]].dropna()
    if pairs.empty:
        return {}
    mode = pairs.groupby(pairs["city"].astype(str).str.strip().str.lower())["city_tier"].agg(
        lambda s: int(s.value_counts().index[0])
    )
    return {k: int(v) for k, v in mode.items()}


def quote_bands(
    quote_scores: np.ndarray,
    approved: np.ndarray,
    line_ratio: np.ndarray,
    *,
    n_bands: int = 8,
) -> list[QuoteBand]:
    """Calibrate quote-score bands (quantiles) against the full policy's decisions.

    ``approved`` is the full policy's approval per applicant, ``line_ratio`` its line over
    monthly income (NaN when not approved).
    """
    edges = np.unique(np.quantile(quote_scores, np.linspace(0, 1, n_bands + 1)))
    edges[0], edges[-1] = -1e9, 1e9  # open ends, JSON-safe
    bands = []
    for lo, hi in itertools.pairwise(edges):
        m = (quote_scores >= lo) & (quote_scores < hi)
        if not m.any():
            continue
        ratios = line_ratio[m & approved]
        q_lo, q_hi = np.quantile(ratios, [0.25, 0.75]) if ratios.size else (0.0, 0.0)
        bands.append(
            QuoteBand(
                lo=float(lo),
                hi=float(hi),
                approval_rate=float(approved[m].mean()),
                line_ratio_lo=float(q_lo),
                line_ratio_hi=float(q_hi),
                n=int(m.sum()),
            )
        )
    return bands


def fit_origination_models(
    applications: pd.DataFrame,
    bad: Any,
    *,
    sample_weight: Any = None,
    version: str = "origination-v1",
    challenger: bool = True,
    seed: int = 0,
    scorecard: dict[str, Any] | None = None,
) -> OriginationModels:
    """Fit champion, challenger and quote scorecards on application rows and their outcome.

    The quote bands are a single uncalibrated band until
    :func:`cardmind.decisions.origination.calibrate_quote` runs the full policy over a population.
    """
    feats = application_features(applications)
    sc_kw = {"categorical": [c for c in CATEGORICAL if c in feats.columns], **(scorecard or {})}
    champion = Scorecard(name="application_scorecard", **sc_kw).fit(feats, bad, sample_weight)
    quote_cols = [c for c in QUOTE_FEATURES if c in feats.columns]
    quote = Scorecard(
        name="quote_scorecard",
        **{
            **sc_kw,
            "features": quote_cols,
            "categorical": [c for c in CATEGORICAL if c in quote_cols],
        },
    ).fit(feats, bad, sample_weight)
    chall = (
        LightGBMChallenger(seed=seed, name="application_lightgbm").fit(feats, bad, sample_weight)
        if challenger
        else None
    )
    return OriginationModels(
        champion=champion,
        challenger=chall,
        quote=quote,
        quote_bands=[
            QuoteBand(lo=-1e9, hi=1e9, approval_rate=0.5, line_ratio_lo=1.0, line_ratio_hi=3.0, n=0)
        ],
        city_tiers=learn_city_tiers(applications),
        version=version,
    )


def default_bundle_dir(home: str | Path | None = None) -> Path:
    """Where ``cardmind train credit`` saves the origination models and the API loads them."""
    if home is None:
        from cardmind.settings import get_settings

        home = get_settings().home
    return Path(home) / "models" / "credit" / "origination"
