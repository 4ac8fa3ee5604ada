import pyarrow as pa
import pytest

from cardmind.errors import InvalidInput
from cardmind.models.cashout import pipeline
from cardmind.models.cashout.rings import LIST_TYPE, RingConfig, find_rings

RING = {f"ring{i:02d}" for i in range(5)}


@pytest.fixture(scope="module")
def detection(cashout_ds, fitted):
    det, _, _ = fitted
    return pipeline.detect(cashout_ds, det)


@pytest.mark.parametrize("method", ["louvain", "label_propagation"])
def test_the_colluding_merchants_form_one_ring(cashout_ds, detection, method):
    report = pipeline.rings(cashout_ds, detection, config=RingConfig(method=method))
    assert report.rings, "a ring is found"
    top = report.rings[0]
    assert set(top.merchant_ids) == RING
    assert top.shared_cards >= 2 and top.suspect_cards >= top.shared_cards
    assert top.categories == ("wholesale",)
    assert top.median_age_days < 180
    assert top.suspect_share > 0.9
    suspects = {e["value"] for e in report.suspect_list()}
    assert suspects == RING  # no ordinary merchant is listed
    assert report.graph["community_seconds"] >= 0


def test_suspect_list_entries_have_the_authorization_list_shape(cashout_ds, detection):
    entries = pipeline.rings(cashout_ds, detection).suspect_list()
    e = entries[0]
    assert (e["kind"], e["list_type"]) == ("merchant", LIST_TYPE)
    assert len(e["reason"]) <= 200 and "套现" in e["reason"]
    assert {"ring_id", "suspect_cards", "age_days", "category", "volume_fen"} <= set(e["evidence"])
    assert "团伙" in e["evidence"]["ring_zh"]


def test_no_suspects_no_rings(cashout_ds):
    empty = pa.table({"card_token": pa.array([], pa.string()),
                      "cycle_end": pa.array([], pa.date32())})  # fmt: skip
    report = find_rings(cashout_ds, empty)
    assert report.rings == () and report.suspect_list() == []


def test_bad_suspects_table_and_config(cashout_ds):
    with pytest.raises(InvalidInput, match="cycle_end"):
        find_rings(cashout_ds, pa.table({"card_token": ["x"]}))
    with pytest.raises(ValueError, match="min_suspect_share"):
        RingConfig(min_suspect_share=2)
