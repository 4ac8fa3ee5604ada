"""Parity on the ``tiny`` simulation: batch == online for every feature on sampled purchases."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feature_helpers import assert_same
from feature_synth import replay

from cardmind.dataset import Dataset
from cardmind.features import BatchEngine, OnlineEngine, default_catalog

TABLES = ("authorizations", "repayments", "statements", "installment_plans", "fraud_labels")
_TIME = {"repayments": "ts", "installment_plans": "created_at", "fraud_labels": "reported_at"}


def test_default_catalog_parity_on_tiny_simulation(tiny_dataset):
    ds = Dataset(tiny_dataset)
    catalog = default_catalog().for_dataset(ds)
    assert len(catalog) > 3000, catalog.notices
    tables = {t: ds.read(t) for t in TABLES if ds.has(t)}
    auths = tables["authorizations"].sort_by([("ts", "ascending"), ("auth_id", "ascending")])
    # sample purchases from the first 40 % of the period; the online replay stops there
    head = int(auths.num_rows * 0.4)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(head, size=100, replace=False))
    cut = auths.column("ts")[head - 1]
    prefix = {t: (tbl.filter(pc.less_equal(tbl[_TIME[t]], cut)) if t in _TIME else tbl)
              for t, tbl in tables.items()}
    prefix["authorizations"] = auths.slice(0, head)
    online = replay(OnlineEngine(catalog), prefix, rows=sample.tolist())
    engine = BatchEngine(ds)
    batch = engine.compute(catalog, auths.take(pa.array(sample)), strategy="join")
    assert_same(catalog, batch, online, "tiny simulation: batch (join) vs online")
    compiled = engine.compute(catalog, auths.take(pa.array(sample)), strategy="compiled")
    assert_same(catalog, compiled, online, "tiny simulation: batch (compiled) vs online")
    # the sample is not degenerate: card history and label-delayed features are populated
    assert np.nanmax(batch.column("card_count_30d").to_numpy(zero_copy_only=False)) > 5
    assert np.nansum(batch.column("merchant_fraud_count_30d").to_numpy(
        zero_copy_only=False)) >= 0
