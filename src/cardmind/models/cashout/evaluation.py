"""Evaluation against simulator ground truth: precision and recall per card-cycle, time to detection.

This is the only module of the cash-out package that reads ``truth_*`` tables. A card-cycle is
positive when one of its authorizations belongs to a cash-out scenario (``scenario`` containing
``cashout`` by default); its *onset* is the earlier of the episode start and the first such
authorization, and time to detection is the hours from the onset to the first alert.

>>> summary = pa.table({"card_token": ["a", "b", "c"], "cycle_end": [1, 1, 1],
...     "alert": [True, True, False], "alert_model": [True, False, False],
...     "alert_rules": [False, True, False], "first_alert_at": [5.0, 9.0, None],
...     "score": [0.9, 0.2, 0.1]})
>>> truth = pa.table({"card_token": ["a", "c"], "cycle_end": [1, 1], "onset": [2.0, 0.0],
...     "scenario": ["cashout_app", "cashout_app"]})
>>> m = cycle_metrics(summary, truth)
>>> m["combined"]["precision"], m["combined"]["recall"], m["time_to_detection_hours"]["median"]
(0.5, 0.5, 3.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput
from cardmind.models.cashout.detector import CashoutDetector, DetectorParams
from cardmind.models.cashout.features import (
    FeatureConfig,
    card_cycle_features,
    connect,
    cycle_end_sql,
)
from cardmind.units import TIMEZONE_NAME

#: Scenarios counted as cash-out (SQL LIKE pattern): ``cashout_app``, ``pos_cashout``, ...
DEFAULT_SCENARIO_PATTERN = "%cashout%"


def truth_cycles(ds: Dataset, *, scenario_pattern: str = DEFAULT_SCENARIO_PATTERN) -> pa.Table:
    """Positive card-cycles: ``card_token, cycle_end, onset, scenario, episode_id``."""
    if not ds.has("truth_authorizations"):
        raise InvalidInput(
            f"{ds.path}: no truth_authorizations table; evaluation needs simulated data"
        )
    con = connect(ds)
    con.execute(f"SET TimeZone = '{TIMEZONE_NAME}'")
    episodes = (
        "LEFT JOIN truth_episodes e ON e.episode_id = t.episode_id"
        if ds.has("truth_episodes")
        else "LEFT JOIN (SELECT NULL::VARCHAR AS episode_id, NULL::TIMESTAMPTZ AS start_at) e "
        "ON e.episode_id = t.episode_id"
    )
    sql = f"""
    SELECT a.card_token, {cycle_end_sql("a.ts", "c.billing_day")} AS cycle_end,
           least(min(a.ts), coalesce(min(e.start_at), min(a.ts))) AS onset,
           min(t.scenario) AS scenario, min(t.episode_id) AS episode_id
    FROM truth_authorizations t
    JOIN authorizations a USING (auth_id)
    JOIN cards c ON c.card_token = a.card_token
    {episodes}
    WHERE t.scenario LIKE $pattern
    GROUP BY ALL
    """
    return con.sql(sql, params={"pattern": scenario_pattern}).to_arrow_table()


def row_labels(features: pa.Table, truth: pa.Table) -> np.ndarray:
    """1 for rows of a positive card-cycle at or after its onset, else 0 (in feature order)."""
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{TIMEZONE_NAME}'")
    con.register("f", features.select(["card_token", "cycle_end", "ts"]))
    con.register("t", truth)
    sql = """
    SELECT coalesce(f.ts >= t.onset, FALSE)::INT AS y
    FROM (SELECT *, row_number() OVER () AS i FROM f) f
    LEFT JOIN t USING (card_token, cycle_end) ORDER BY f.i
    """
    return con.sql(sql).to_arrow_table().column("y").to_numpy().astype(np.int8)


def summarize(scored: pa.Table, threshold: float) -> pa.Table:
    """One row per card-cycle from per-row scores: max score, alerts, first alert time, rules."""
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{TIMEZONE_NAME}'")
    con.register("s", scored)
    sql = f"""
    SELECT card_token, cycle_start, cycle_end, max(ts) AS as_of, max(score) AS score,
           bool_or(alert) AS alert,
           bool_or(score >= {threshold!r}) AS alert_model,
           bool_or(len(rules) > 0) AS alert_rules,
           min(CASE WHEN alert THEN ts END) AS first_alert_at,
           list_sort(list_distinct(flatten(list(rules)))) AS rules,
           bool_or(reduced_features) AS reduced_features
    FROM s GROUP BY card_token, cycle_start, cycle_end
    ORDER BY card_token, cycle_end
    """
    return con.sql(sql).to_arrow_table()


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "tp": tp, "fp": fp, "fn": fn}  # fmt: skip


def cycle_metrics(summary: pa.Table, truth: pa.Table) -> dict[str, Any]:
    """Precision/recall per card-cycle (combined, model only, rules only), time to detection,
    and recall per scenario."""
    con = duckdb.connect()
    con.register("s", summary)
    con.register("t", truth)
    rows = (
        con.sql(
            """
        SELECT s.alert, s.alert_model, s.alert_rules, t.scenario,
               t.card_token IS NOT NULL AS positive,
               CASE WHEN s.alert AND t.card_token IS NOT NULL
                    THEN epoch(s.first_alert_at - t.onset) END AS ttd
        FROM s LEFT JOIN t USING (card_token, cycle_end)
        """
            if pa.types.is_timestamp(summary.schema.field("first_alert_at").type)
            else """
        SELECT s.alert, s.alert_model, s.alert_rules, t.scenario,
               t.card_token IS NOT NULL AS positive,
               CASE WHEN s.alert AND t.card_token IS NOT NULL
                    THEN (s.first_alert_at - t.onset) * 3600 END AS ttd
        FROM s LEFT JOIN t USING (card_token, cycle_end)
        """
        )
        .to_arrow_table()
        .to_pydict()
    )
    pos = np.array(rows["positive"], bool)
    # positives the detector never saw (no scoring row in that card-cycle) are misses too
    missed_unseen = max(truth.num_rows - int(pos.sum()), 0)
    out: dict[str, Any] = {
        "card_cycles": len(pos),
        "positive_cycles": int(pos.sum()) + missed_unseen,
    }
    for name in ("alert", "alert_model", "alert_rules"):
        a = np.array(rows[name], bool)
        key = {"alert": "combined", "alert_model": "model", "alert_rules": "rules"}[name]
        out[key] = _prf(
            int((a & pos).sum()), int((a & ~pos).sum()), int((~a & pos).sum()) + missed_unseen
        )
    ttd = np.array([v for v in rows["ttd"] if v is not None], float) / 3600.0
    ttd = np.maximum(ttd, 0.0)
    out["time_to_detection_hours"] = {
        "n": len(ttd),
        "median": round(float(np.median(ttd)), 2) if len(ttd) else None,
        "p90": round(float(np.quantile(ttd, 0.9)), 2) if len(ttd) else None,
    }
    per: dict[str, dict[str, int | float]] = {}
    alert = np.array(rows["alert"], bool)
    for scen in sorted({s for s in rows["scenario"] if s is not None}):
        m = np.array([s == scen for s in rows["scenario"]])
        found = int((m & alert).sum())
        per[scen] = {"cycles": int(m.sum()), "detected": found,
                     "recall": round(float(found / m.sum()), 4) if m.sum() else 0.0}  # fmt: skip
    out["recall_by_scenario"] = per
    return out


@dataclass(frozen=True, kw_only=True)
class EvaluationReport:
    """What :func:`evaluate` found: metrics on the held-out later cycles, and the split."""

    metrics: dict[str, Any]
    train_cycles: tuple[str, str] | None
    test_cycles: tuple[str, str]
    threshold: float
    reduced_features: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "train_cycles": self.train_cycles,
            "test_cycles": self.test_cycles,
            "threshold": self.threshold,
            "reduced_features": self.reduced_features,
        }

    def table(self) -> str:
        """The headline figures as a small text table."""
        m = self.metrics
        lines = [
            f"{'alerts from':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'tp':>5} {'fp':>5} {'fn':>5}"
        ]
        for key in ("combined", "model", "rules"):
            r = m[key]
            lines.append(f"{key:<10} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['f1']:>6.3f} "
                         f"{r['tp']:>5} {r['fp']:>5} {r['fn']:>5}")  # fmt: skip
        t = m["time_to_detection_hours"]
        lines.append(f"time to detection (h): median {t['median']}, p90 {t['p90']} (n={t['n']})")
        for scen, r in m["recall_by_scenario"].items():
            lines.append(f"recall {scen}: {r['recall']:.3f} ({r['detected']}/{r['cycles']})")
        lines.append(f"card-cycles {m['card_cycles']}, positive {m['positive_cycles']}, "
                     f"threshold {self.threshold:.4f}, reduced features: {self.reduced_features}")  # fmt: skip
        return "\n".join(lines)


def time_split(features: pa.Table, test_fraction: float) -> date:
    """The statement date after which card-cycles go to the test set (~``test_fraction`` of rows)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    ends = np.sort(features.column("cycle_end").to_numpy(zero_copy_only=False))
    return ends[int(len(ends) * (1 - test_fraction))]


def evaluate(
    ds: Dataset,
    *,
    detector: CashoutDetector | None = None,
    params: DetectorParams | None = None,
    config: FeatureConfig | None = None,
    test_fraction: float = 0.4,
    scenario_pattern: str = DEFAULT_SCENARIO_PATTERN,
) -> tuple[EvaluationReport, CashoutDetector]:
    """Evaluate on ``ds``: with ``detector`` given, on every card-cycle; otherwise train on the
    earlier cycles and test on the later ones (time split). Returns the report and the detector."""
    features = card_cycle_features(ds, config=config)
    if features.num_rows == 0:
        raise InvalidInput(f"{ds.path}: no purchases or repayments to evaluate")
    truth = truth_cycles(ds, scenario_pattern=scenario_pattern)
    train_span = None
    if detector is None:
        cut = time_split(features, test_fraction)
        ends = features.column("cycle_end")
        is_test = np.asarray(ends.to_numpy(zero_copy_only=False) >= cut)
        train = features.filter(pa.array(~is_test))
        test = features.filter(pa.array(is_test))
        detector = CashoutDetector(params=params)
        detector.fit(train, row_labels(train, truth))
        train_span = tuple(detector.training_window_)
    else:
        test = features
    scored = detector.score_many(test)
    summary = summarize(scored, detector.threshold_)
    lo, hi = pc.min(test.column("cycle_end")), pc.max(test.column("cycle_end"))
    test_truth = truth.filter(
        pc.and_(
            pc.greater_equal(truth.column("cycle_end"), lo),
            pc.less_equal(truth.column("cycle_end"), hi),
        )
    )
    metrics = cycle_metrics(summary, test_truth)
    report = EvaluationReport(
        metrics=metrics,
        train_cycles=train_span,
        test_cycles=(str(lo.as_py()), str(hi.as_py())),
        threshold=detector.threshold_,
        reduced_features=bool(
            np.any(test.column("reduced_features").to_numpy(zero_copy_only=False))
        ),
    )
    return report, detector


def ring_metrics(
    ds: Dataset, suspects: list[str], *, scenario_pattern: str = DEFAULT_SCENARIO_PATTERN
) -> dict[str, Any]:
    """Merchant-level precision/recall of a suspect-merchant list against the colluding merchants
    of the cash-out episodes (``truth_episodes.merchant_ids``) that actually took a purchase."""
    if not ds.has("truth_episodes"):
        raise InvalidInput(
            f"{ds.path}: no truth_episodes table; ring evaluation needs simulated data"
        )
    con = connect(ds)
    sql = """
    SELECT DISTINCT a.merchant_id
    FROM truth_authorizations t JOIN authorizations a USING (auth_id)
    JOIN truth_episodes e ON e.episode_id = t.episode_id
    WHERE t.scenario LIKE $pattern AND list_contains(e.merchant_ids, a.merchant_id)
    """
    truth = {r[0] for r in con.sql(sql, params={"pattern": scenario_pattern}).fetchall()}
    found = set(suspects)
    tp = len(found & truth)
    return {
        "suspects": len(found),
        "colluding_merchants": len(truth),
        **_prf(tp, len(found - truth), len(truth - found)),
    }
