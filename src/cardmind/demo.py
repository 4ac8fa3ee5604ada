"""The end-to-end demo: simulate -> features -> train -> cash-out detection -> replay.

``cardmind demo`` runs :func:`run_demo` on the ``demo`` preset (about 11,000 cards over six
months). The steps, each using the same library calls as its own CLI command:

1. simulate the issuer into ``out/data`` (``cardmind simulate``);
2. build point-in-time features and train the fraud model; the test window is the last
   ``replay_days`` days, after a feedback-delay gap, and the model is promoted in the registry
   under ``$CARDMIND_HOME`` (``cardmind train fraud --promote``);
3. train the cash-out detector on card-cycles before the replay window and score every card as
   of the window's start (``cardmind cashout train`` / ``detect --as-of``);
4. replay the last ``replay_days`` days through the authorization engine with that model and
   that cash-out risk table (``cardmind replay``) and report what it caught, whom it challenged,
   what smart credit rescued, and the latency.

Nothing in steps 2-4 reads the simulator's truth except the evaluations that report on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from cardmind.errors import InvalidInput

#: progress(step, message): called when a step starts and with its result line
Progress = Callable[[str, str], None]


@dataclass(kw_only=True)
class DemoResult:
    """What the demo produced: folders, model versions, metrics and the replay report."""

    data_dir: Path
    fraud_model_version: str
    fraud_metrics: dict[str, Any]
    cashout_metrics: dict[str, Any]
    replay: Any
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "fraud_model_version": self.fraud_model_version,
            "fraud_metrics": self.fraud_metrics,
            "cashout_metrics": self.cashout_metrics,
            "replay": self.replay.to_dict(),
            "seconds": self.seconds,
        }


def _quiet(step: str, message: str) -> None:
    """Default progress callback: says nothing."""


def run_demo(
    out: str | Path,
    *,
    preset: str = "demo",
    seed: int = 0,
    replay_days: int = 14,
    features: str = "compact",
    rounds: int = 300,
    progress: Progress = _quiet,
) -> DemoResult:
    """Run the whole demo into ``out`` and return its figures (also written to ``out/demo.json``).

    ``preset="tiny"`` runs the same pipeline in seconds (used by the tests).
    """
    from cardmind.dataset import Dataset
    from cardmind.decisions.authorize import EngineConfig
    from cardmind.decisions.replay import replay
    from cardmind.models.cashout import pipeline as cashout
    from cardmind.models.evaluation import SplitSpec
    from cardmind.models.fraud import (
        FraudTrainConfig,
        build_training_table,
        fraud_candidates,
        train_and_register,
    )
    from cardmind.simulate import load_preset, simulate

    if replay_days < 1:
        raise InvalidInput(f"replay_days must be >= 1, got {replay_days}")
    out = Path(out)
    data_dir = out / "data"
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    progress("simulate", f"simulating the {preset!r} issuer (seed {seed})")
    summary = simulate(load_preset(preset, seed=seed), data_dir)
    seconds["simulate"] = time.perf_counter() - t0
    progress("simulate", str(summary))

    t0 = time.perf_counter()
    progress("train", "building point-in-time features and training the fraud model")
    ds = Dataset(data_dir)
    table = build_training_table(ds, fraud_candidates(size=features))
    spec = SplitSpec(test_days=replay_days)
    version, metrics = train_and_register(
        table, spec, FraudTrainConfig(num_boost_round=rounds, num_threads=2), name="fraud", promote=True
    )
    seconds["train_fraud"] = time.perf_counter() - t0
    keep = ("auc", "ap", "cp_at_k", "recall_at_fpr")
    fraud_metrics = {k: metrics[k] for k in keep if k in metrics}
    progress("train", f"fraud model {version} promoted: " + json.dumps(_rounded(fraud_metrics)))

    t0 = time.perf_counter()
    progress("cashout", "training the cash-out detector on card-cycles before the replay window")
    con = ds.connect()
    (last,) = con.execute("SELECT max(ts) FROM authorizations").fetchone()
    start = last + timedelta(microseconds=1) - timedelta(days=replay_days)
    detector = cashout.train(ds, as_of=start)
    detection = cashout.detect(ds, detector, as_of=start)
    seconds["cashout"] = time.perf_counter() - t0
    cashout_metrics = {
        "card_cycles": detection.cycles.num_rows,
        "alerts": detection.alerts.num_rows,
        **{k: v for k, v in (detector.metrics_ or {}).items() if isinstance(v, int | float)},
    }
    progress("cashout", f"{cashout_metrics['alerts']} card-cycles flagged for cash-out")

    t0 = time.perf_counter()
    progress("replay", f"replaying the last {replay_days} days through the authorization engine")
    db = out / "replay-decisions.db"
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        p.unlink(missing_ok=True)
    report = replay(
        data_dir,
        start=start,
        days=replay_days,
        config=EngineConfig(db_url=f"sqlite:///{db}", latency_budget_us=50_000),
        cashout=detection.risk.engine_hook(),
    )
    seconds["replay"] = time.perf_counter() - t0

    result = DemoResult(
        data_dir=data_dir,
        fraud_model_version=version,
        fraud_metrics=fraud_metrics,
        cashout_metrics=cashout_metrics,
        replay=report,
        seconds={k: round(v, 1) for k, v in seconds.items()},
    )
    (out / "demo.json").write_text(
        json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str)
    )
    return result


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}
