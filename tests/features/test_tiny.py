"""Parity on the ``tiny`` simulation: batch == online for every feature on sampled purchases."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from feature_helpers import assert_same
from feature_synth import replay

from cardmind.dataset import Dataset
from cardmind.features import BatchEngine, OnlineEngine, default_catalog

TABLES = ("authorizations", "repayments", "statements", "installment_plans", "fraud_labels")


def test_default_catalog_parity_on_tiny_simulation(tiny_dataset):
    ds = Dataset(tiny_dataset)
    catalog = default_catalog().for_dataset(ds)
    assert len(catalog) > 3000, catalog.notices
    tables = {t: ds.read(t) for t in TABLES if ds.has(t)}
    auths = tables["authorizations"].sort_by([("ts", "ascending"), ("auth_id", "ascending")])
    tables["authorizations"] = auths
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(auths.num_rows, size=100, replace=False))
    online = replay(OnlineEngine(catalog), tables, rows=sample.tolist())
    batch = BatchEngine(ds).compute(catalog, auths.take(pa.array(sample)))
    assert_same(catalog, batch, online, "tiny simulation: batch vs online")
    # the sample is not degenerate: card history and label-delayed features are populated
    assert np.nanmax(batch.column("card_count_30d").to_numpy(zero_copy_only=False)) > 5
    assert np.nansum(batch.column("merchant_fraud_count_30d").to_numpy(
        zero_copy_only=False)) >= 0
