"""Robustness: train on the simulator's default cash-out settings, test on settings never seen.

Each :class:`Variant` is a set of simulator overrides (``scenarios.<name>.<param>=value``) that
changes one trait of the cash-out pattern: ring size, fee, cycling speed, share of the line kept
free, merchant categories. The datasets are made by a caller-supplied function (the CLI runs
``cardmind simulate``), because models never import the simulator.

>>> Variant(name="bad name", overrides={})
Traceback (most recent call last):
...
ValueError: variant name must be an identifier, got 'bad name'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cardmind.dataset import Dataset
from cardmind.models.cashout.detector import CashoutDetector, DetectorParams
from cardmind.models.cashout.evaluation import evaluate
from cardmind.models.cashout.pipeline import train

APP = "scenarios.cashout_app"
POS = "scenarios.pos_cashout"


@dataclass(frozen=True, kw_only=True)
class Variant:
    """A named simulator setting: dotted overrides, and the trait it changes."""

    name: str
    overrides: dict[str, str]
    trait: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"variant name must be an identifier, got {self.name!r}")


#: Settings the detector is not trained on (the training set uses the simulator defaults).
DEFAULT_VARIANTS: tuple[Variant, ...] = (
    Variant(name="ring_small", trait="ring size", overrides={f"{APP}.ring_size": "3"}),
    Variant(name="ring_large", trait="ring size", overrides={f"{APP}.ring_size": "40"}),
    Variant(name="fee_low", trait="fee", overrides={f"{APP}.fee_rate": "0.003"}),
    Variant(name="fee_high", trait="fee", overrides={f"{APP}.fee_rate": "0.02"}),
    Variant(name="fee_very_high", trait="fee", overrides={f"{APP}.fee_rate": "0.05"}),
    Variant(name="cycle_fast", trait="cycling speed", overrides={f"{APP}.cycle_days": "0.5"}),
    Variant(name="cycle_slow", trait="cycling speed", overrides={f"{APP}.cycle_days": "10"}),
    Variant(name="keep_free_low", trait="share kept free", overrides={f"{APP}.keep_share_min": "0.01", f"{APP}.keep_share_max": "0.03"}),
    Variant(name="keep_free_high", trait="share kept free", overrides={f"{APP}.keep_share_max": "0.25", f"{APP}.keep_share_min": "0.15"}),
    Variant(name="few_purchases", trait="purchases per cycle", overrides={f"{APP}.purchases_min": "3", f"{APP}.purchases_max": "5"}),
    Variant(name="cat_jewellery", trait="merchant categories", overrides={f"{APP}.ring_categories": "jewellery"}),
    Variant(name="cat_big_ticket", trait="merchant categories", overrides={f"{APP}.ring_categories": "electronics,appliances,jewellery"}),
    Variant(name="cat_everyday", trait="merchant categories", overrides={f"{APP}.ring_categories": "supermarket,fast_food,pharmacy"}),
    Variant(name="pos_small_round", trait="POS round unit", overrides={f"{POS}.round_yuan": "100"}),
    Variant(name="pos_late", trait="POS days after statement", overrides={f"{POS}.days_after_statement_max": "10"}),
)  # fmt: skip

MakeDataset = Callable[[str, dict[str, str], int], Dataset]


@dataclass(frozen=True, kw_only=True)
class RobustnessReport:
    """Recall (and precision, time to detection) per setting, beside the in-distribution test."""

    rows: tuple[dict[str, Any], ...]
    threshold: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "settings": list(self.rows), "params": self.params}

    def table(self) -> str:
        head = f"{'setting':<18} {'trait':<20} {'recall':>7} {'precision':>9} {'app_recall':>10} {'ttd_h_med':>9} {'pos':>5}"
        lines = [head]
        for r in self.rows:
            if r.get("error"):
                lines.append(f"{r['setting']:<18} {r['trait']:<20} not run: {r['error']}")
                continue
            app = "-" if r["app_recall"] is None else f"{r['app_recall']:.3f}"
            ttd = "-" if r["ttd_hours_median"] is None else f"{r['ttd_hours_median']:.1f}"
            lines.append(
                f"{r['setting']:<18} {r['trait']:<20} {r['recall']:>7.3f} {r['precision']:>9.3f} "
                f"{app:>10} {ttd:>9} {r['positive_cycles']:>5}"
            )
        return "\n".join(lines)


def _row(
    name: str, trait: str, overrides: dict[str, str], metrics: dict[str, Any]
) -> dict[str, Any]:
    app = metrics["recall_by_scenario"].get("cashout_app")
    return {
        "setting": name,
        "trait": trait,
        "overrides": overrides,
        "recall": metrics["combined"]["recall"],
        "precision": metrics["combined"]["precision"],
        "model_recall": metrics["model"]["recall"],
        "rules_recall": metrics["rules"]["recall"],
        "app_recall": app["recall"] if app else None,
        "ttd_hours_median": metrics["time_to_detection_hours"]["median"],
        "positive_cycles": metrics["positive_cycles"],
        "card_cycles": metrics["card_cycles"],
    }


def run(
    make: MakeDataset,
    *,
    variants: tuple[Variant, ...] = DEFAULT_VARIANTS,
    seed: int = 0,
    params: DetectorParams | None = None,
    progress: Callable[[str], None] | None = None,
) -> RobustnessReport:
    """Train on ``make("train", {}, seed)``, then evaluate on a fresh default dataset and on
    every variant (each with its own seed). A variant the simulator refuses is reported, not
    fatal."""
    from cardmind.errors import InvalidInput

    say = progress or (lambda _m: None)
    det: CashoutDetector = train(make("train", {}, seed), params=params)
    say(f"trained on default settings (threshold {det.threshold_:.4f})")
    rows = []
    base, _ = evaluate(make("default", {}, seed + 1), detector=det)
    rows.append(_row("default", "(as trained)", {}, base.metrics))
    for i, v in enumerate(variants):
        try:
            ds = make(v.name, v.overrides, seed + 2 + i)
        except InvalidInput as exc:
            rows.append({"setting": v.name, "trait": v.trait, "overrides": v.overrides,
                         "error": str(exc)[:200]})  # fmt: skip
            say(f"{v.name}: not run ({exc})")
            continue
        rep, _ = evaluate(ds, detector=det)
        rows.append(_row(v.name, v.trait, v.overrides, rep.metrics))
        say(f"{v.name}: recall {rows[-1]['recall']:.3f}")
    return RobustnessReport(
        rows=tuple(rows), threshold=det.threshold_, params=det.params.__dict__ if det.params else {}
    )
