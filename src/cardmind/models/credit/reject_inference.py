"""Reject inference: use the rejected applicants, whose outcome is unknown, in training.

A model trained only on approved applicants (the "known good/bad" sample, KGB) learns from a
population the legacy policy chose; it is then used on everyone who applies. Two standard methods
add the rejects with an inferred outcome:

- **fuzzy augmentation**: each reject enters twice, as bad with weight ``p`` and as good with
  weight ``1 - p``, where ``p`` is the KGB model's P(bad) times ``uplift`` (rejects are riskier
  than accepts at the same score), and the rejects' total weight is scaled by ``reject_weight``;
- **parceling**: rejects are grouped into score bands of the KGB model and randomly labelled bad
  at the band's observed bad rate times ``uplift``.

:func:`augment` returns ``(X, y, weight)`` ready for any estimator's ``fit(X, y, sample_weight)``;
``X`` keeps the original row labels (a reject appears twice under fuzzy augmentation).
Whether it helps is an empirical question: :func:`compare_methods` measures it against the true
outcome of the whole through-the-door population when one is known (simulated data).

>>> import numpy as np, pandas as pd
>>> X = pd.DataFrame({"x": np.arange(6.0)})
>>> y = np.array([0, 1, 0, 1, np.nan, np.nan])
>>> Xa, ya, wa = augment(X, y, np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), method="fuzzy")
>>> len(Xa), ya.tolist()[-4:], wa.round(2).tolist()[-4:]
(8, [1, 1, 0, 0], [0.5, 0.6, 0.5, 0.4])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cardmind.models.credit.evaluation import auc, ks

METHODS = ("none", "fuzzy", "parceling")


def augment(
    X: pd.DataFrame,
    y: np.ndarray,
    p_bad: np.ndarray,
    *,
    method: str,
    uplift: float = 1.0,
    reject_weight: float = 1.0,
    n_bands: int = 10,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Training set with inferred reject outcomes.

    ``y`` is 0/1 for applicants with a known outcome and NaN for rejects; ``p_bad`` is the KGB
    model's probability of bad for every row.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if uplift <= 0 or reject_weight < 0 or n_bands < 1:
        raise ValueError("need uplift > 0, reject_weight >= 0 and n_bands >= 1")
    y = np.asarray(y, dtype=float)
    p = np.asarray(p_bad, dtype=float)
    known = ~np.isnan(y)
    Xk, yk = X[known], y[known].astype(int)
    wk = np.ones(len(yk))
    rej = ~known
    if method == "none" or not rej.any():
        return Xk, yk, wk
    Xr = X[rej]
    pr = np.clip(p[rej] * uplift, 0.0, 1.0)
    if method == "fuzzy":
        X_out = pd.concat([Xk, Xr, Xr])
        y_out = np.r_[yk, np.ones(len(Xr), int), np.zeros(len(Xr), int)]
        w_out = np.r_[wk, reject_weight * pr, reject_weight * (1.0 - pr)]
        return X_out, y_out, w_out
    # parceling: band by the KGB score quantiles of the accepts
    edges = np.unique(np.quantile(p[known], np.linspace(0, 1, n_bands + 1)))
    band_k = np.clip(np.searchsorted(edges, p[known], side="right") - 1, 0, len(edges) - 2)
    band_r = np.clip(np.searchsorted(edges, p[rej], side="right") - 1, 0, len(edges) - 2)
    rate = np.array(
        [
            yk[band_k == b].mean() if (band_k == b).any() else yk.mean()
            for b in range(len(edges) - 1)
        ]
    )
    rng = np.random.default_rng(seed)
    yr = (rng.random(len(Xr)) < np.clip(rate[band_r] * uplift, 0, 1)).astype(int)
    X_out = pd.concat([Xk, Xr])
    return X_out, np.r_[yk, yr], np.r_[wk, np.full(len(Xr), reject_weight)]


def compare_methods(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_test: pd.DataFrame,
    truth_test: np.ndarray,
    make_model: Callable[[], Any],
    *,
    methods: tuple[str, ...] = METHODS,
    uplift: float = 2.0,
    reject_weight: float = 1.0,
    approved_test: np.ndarray | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """AUC and KS on the whole through-the-door test population, per method.

    ``y_train`` has NaN for rejects; ``truth_test`` is the true outcome of every test applicant
    (evaluation only). With ``approved_test``, AUC on the approved part is reported too (what a
    bank could measure without the truth).
    """
    y_train = np.asarray(y_train, dtype=float)
    known = ~np.isnan(y_train)
    kgb = make_model().fit(X_train[known], y_train[known].astype(int))
    p_all = kgb.predict_proba(X_train)[:, 1]
    rows = []
    for method in methods:
        if method == "none":
            model = kgb
        else:
            Xa, ya, wa = augment(
                X_train,
                y_train,
                p_all,
                method=method,
                uplift=uplift,
                reject_weight=reject_weight,
                seed=seed,
            )
            model = make_model().fit(Xa, ya, sample_weight=wa)
        p = model.predict_proba(X_test)[:, 1]
        row = {
            "method": method,
            "auc_through_the_door": auc(truth_test, p),
            "ks_through_the_door": ks(truth_test, p),
        }
        if approved_test is not None:
            a = np.asarray(approved_test, bool)
            row["auc_approved_only"] = (
                auc(truth_test[a], p[a]) if len(np.unique(truth_test[a])) > 1 else float("nan")
            )
            row["auc_rejected_only"] = (
                auc(truth_test[~a], p[~a]) if len(np.unique(truth_test[~a])) > 1 else float("nan")
            )
        rows.append(row)
    return pd.DataFrame(rows)
