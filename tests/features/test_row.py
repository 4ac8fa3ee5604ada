"""The online read's feature row (the same names and values as ``features_for``'s dict, without
building it) and the demand-driven read (``serve``: the eager read's values on the names served).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from feature_synth import make_tables

from cardmind.features import OnlineEngine, default_catalog, vocab
from cardmind.features.plan import event_time
from cardmind.features.row import FeatureRow, RowLayout


def _bits(values) -> bytes:
    return np.asarray(list(values), np.float64).tobytes()


def assert_row_is_dict(row: FeatureRow, want: dict[str, float]) -> None:
    """Same names in the same order, same bits (NaN where NaN), through every accessor."""
    names = tuple(want)
    assert list(row) == list(names) and len(row) == len(want)
    assert _bits(row[n] for n in names) == _bits(want.values())
    assert _bits(row.get(n) for n in names) == _bits(want.values())
    assert _bits(v for _, v in row.items()) == _bits(want.values())
    assert row.take(names).tobytes() == _bits(want.values())
    assert _bits(row.to_dict().values()) == _bits(want.values())
    assert list(row.to_dict()) == list(names)
    assert all(type(row[n]) is float for n in names[:50])  # plain floats, as in the dict
    assert "no_such_feature" not in row and row.get("no_such_feature") is None
    with pytest.raises(KeyError):
        row["no_such_feature"]
    clean = {k: v for k, v in want.items() if not math.isnan(v)}
    assert {k: v for k, v in row.items() if k in clean} == clean


def _stream(tables, *, hold: int = 3):
    """Events in time order, every 4th authorization's update held back ``hold`` reads (so it
    arrives late: inserted, or refused when older than the allowed lateness). Yields
    ``("read", auth)`` and ``("update", event, table)``."""
    events = []
    for name, tbl in tables.items():
        if name == "authorizations":
            continue
        for e in tbl.to_pylist():
            t = (vocab.to_epoch_us(e["reported_at"]) if name == "fraud_labels"
                 else event_time(name, e))
            events.append((t, 0 if name != "fraud_labels" else 1, name, e))
    events.sort(key=lambda x: (x[0], x[1]))
    auths = sorted(tables["authorizations"].to_pylist(), key=lambda a: vocab.to_epoch_us(a["ts"]))
    held: list[tuple[int, dict]] = []
    j = 0
    for i, a in enumerate(auths):
        t = vocab.to_epoch_us(a["ts"])
        while j < len(events) and events[j][0] <= t:
            yield ("update", events[j][3], events[j][2])
            j += 1
        yield ("read", a)
        for _, e in [h for h in held if h[0] <= i]:
            yield ("update", e, "authorizations")
        held = [h for h in held if h[0] > i]
        if i % 4 == 3:
            held.append((i + hold, a))
        else:
            yield ("update", a, "authorizations")


def test_the_row_of_the_whole_catalog_is_the_dict_incl_nulls_late_and_refused_events():
    tables = make_tables(7, n_auths=160, days=4, n_cards=3)
    e = OnlineEngine(default_catalog(), allowed_lateness="1h")
    reads = nan_seen = 0
    a, pending = None, None
    for step in _stream(tables):
        if step[0] == "update":  # the read's pending update when it is the event just read
            e.update(step[1], step[2], pending=pending if step[1] is a else None)
            continue
        a = step[1]
        row, pending = e.read(a)
        want = e.features_for(a)
        assert len(want) > 3000
        assert_row_is_dict(row, want)
        assert row == e.features_for(a) or any(math.isnan(v) for v in want.values())
        nan_seen += sum(math.isnan(v) for v in want.values()) > 0
        reads += 1
    assert reads == 160 and nan_seen > 0
    assert e.n_rejected > 0  # some held-back authorizations came too late: refused
    assert any("older than the allowed lateness" in r for r in e.rejected)


def test_row_equality_and_gathers_follow_mapping_semantics():
    layout = RowLayout(["a", "b", "c"], [2, 0, 1])
    row = FeatureRow(np.asarray([10.0, 2.0, -0.0]), layout)
    assert row == {"a": -0.0, "b": 10.0, "c": 2.0} and row != {"a": 0.5, "b": 10.0, "c": 2.0}
    assert dict(row) == {"a": 0.0, "b": 10.0, "c": 2.0} and row != {"a": 0.0}
    names = ("c", "zz", "a")
    assert row.take(names, fill=-1.0).tolist() == [2.0, -1.0, -0.0]
    assert row.take(names).tolist()[0] == 2.0 and math.isnan(row.take(names)[1])
    assert row.take(list(names))[0] == 2.0  # any sequence; tuples have their slots cached
    assert row.subset(names) == {"c": 2.0, "a": -0.0}
    assert row.take(()).shape == (0,) and row.subset(()) == {}
    with pytest.raises(ValueError, match="duplicate"):
        RowLayout(["a", "a"], [0, 1])


def _served_names(catalog, rng) -> list[str]:
    """A mix of every kind: some plain window features, distinct counts, request and one-hot
    features, label counts and rates, repayment measures, derived features."""
    by_kind: dict[str, list[str]] = {}
    for d in catalog:
        kind = d.kind
        if kind == "window" and getattr(d, "aggregation", "") == "distinct_count":
            kind = "distinct"
        by_kind.setdefault(kind, []).append(d.name)
    names: list[str] = []
    for _, ns in sorted(by_kind.items()):
        names += [str(n) for n in rng.choice(ns, size=min(len(ns), 25), replace=False)]
    return names


def test_demand_read_equals_the_eager_read_on_the_names_it_serves():
    catalog = default_catalog()
    names = _served_names(catalog, np.random.default_rng(3))
    tables = make_tables(5, n_auths=140, days=4, n_cards=3)
    eager = OnlineEngine(catalog, allowed_lateness="1h")
    served = OnlineEngine(catalog, allowed_lateness="1h", serve=names)
    assert served.feature_names == tuple(names) and eager.feature_names is None
    assert 0 < len(served._served.reader_keys) <= len(eager._eager.reader_keys)
    # the served read fills a vector of what it computes, not one of the whole catalog
    assert len(served._served.blank) < len(served.names) // 4 == len(eager._eager.blank) // 4
    a, pending = None, None
    for step in _stream(tables):
        if step[0] == "update":
            eager.update(step[1], step[2])
            served.update(step[1], step[2], pending=pending if step[1] is a else None)
            continue
        a = step[1]
        want = eager.features_for(a)
        row, pending = served.read(a)
        assert list(row) == names
        assert _bits(row[n] for n in names) == _bits(want[n] for n in names)
        assert row.take(tuple(names)).tobytes() == _bits(want[n] for n in names)
        assert served.features_for(a).keys() == want.keys()  # the eager read stays available
    assert served.n_rejected == eager.n_rejected > 0


def test_serving_a_feature_outside_the_catalog_is_refused():
    with pytest.raises(ValueError, match="not in the catalog"):
        OnlineEngine(default_catalog(), serve=["card_count_1h", "card_count_99y"])


@pytest.mark.parametrize("compiled", [False, True])
def test_model_scores_and_reasons_from_the_row_equal_those_from_the_dict(compiled):
    import lightgbm as lgb

    from cardmind.models.scoring import ScoringModel

    tables = make_tables(2, n_auths=60, days=2, n_cards=2)
    catalog = default_catalog()
    names = [*_served_names(catalog, np.random.default_rng(1))[:40], "not_in_the_row"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, len(names))) * 1000
    X[rng.random(X.shape) < 0.2] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 3]) > 500).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 15,
                         "min_data_in_leaf": 5}, lgb.Dataset(X, y), num_boost_round=20)
    model = ScoringModel(model_text=booster.model_to_string(), metadata={"feature_names": names})
    if compiled:
        model.compile()
    e = OnlineEngine(catalog, serve=names[:-1])
    a = None
    for step in _stream(tables, hold=0):
        if step[0] == "update":
            e.update(step[1], step[2])
            continue
        a = step[1]
        row, _ = e.read(a)
        as_dict = row.to_dict()
        assert "not_in_the_row" not in row
        assert model.predict_one(row) == model.predict_one(as_dict)
        assert model._row(row).tobytes() == model._row(as_dict).tobytes()
        assert model.explain(row, top=3) == model.explain(as_dict, top=3)
