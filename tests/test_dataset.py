import pyarrow as pa

from cardmind.dataset import Dataset, DatasetWriter


def _labels(n: int) -> pa.Table:
    return pa.table(
        {
            "auth_id": [f"a{i}" for i in range(n)],
            "card_token": ["t"] * n,
            "label": ["fraud"] * n,
            "reported_at": pa.array(range(n), pa.timestamp("us", tz="UTC")),
        }
    )


def test_connect_gives_a_view_per_table_even_with_quotes_in_the_path(tmp_path):
    root = tmp_path / "it's a dataset"
    with DatasetWriter(root, manifest={"source": "test"}) as w:
        w.write("fraud_labels", _labels(3))
        w.write("fraud_labels", _labels(2))
    con = Dataset(root).connect()
    assert con.execute("select count(*) from fraud_labels").fetchone() == (5,)


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    root = tmp_path / "ds"
    try:
        with DatasetWriter(root, manifest={}) as w:
            w.write("fraud_labels", _labels(1))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []
