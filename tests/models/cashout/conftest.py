"""Fixtures of the cash-out tests: a small hand-made dataset, with and without repayments."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cardmind.dataset import Dataset

_spec = importlib.util.spec_from_file_location(
    "cashout_synthetic", Path(__file__).with_name("cashout_synthetic.py")
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


@pytest.fixture(scope="session")
def cashout_ds(tmp_path_factory) -> Dataset:
    return Dataset(synthetic.build(tmp_path_factory.mktemp("cashout") / "ds", seed=1))


@pytest.fixture(scope="session")
def cashout_ds_no_repayments(tmp_path_factory) -> Dataset:
    path = tmp_path_factory.mktemp("cashout") / "ds"
    return Dataset(synthetic.build(path, seed=1, with_repayments=False))


@pytest.fixture(scope="session")
def fitted(cashout_ds):
    """A detector trained on the whole synthetic dataset, with its features and labels."""
    from cardmind.models.cashout.detector import CashoutDetector, DetectorParams
    from cardmind.models.cashout.evaluation import row_labels, truth_cycles
    from cardmind.models.cashout.features import card_cycle_features

    features = card_cycle_features(cashout_ds)
    labels = row_labels(features, truth_cycles(cashout_ds))
    det = CashoutDetector(params=DetectorParams(num_boost_round=40))
    det.fit(features, labels)
    return det, features, labels
