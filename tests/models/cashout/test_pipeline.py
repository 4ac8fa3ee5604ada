import json

import pyarrow.parquet as pq
import pytest

from cardmind.errors import InvalidInput
from cardmind.models.cashout import pipeline


def test_detect_summarises_each_card_cycle_with_reasons(cashout_ds, fitted):
    result = pipeline.detect(cashout_ds, fitted[0])
    assert result.notices == ()
    cycles = result.cycles
    keys = set(
        zip(
            cycles.column("card_token").to_pylist(),
            cycles.column("cycle_end").to_pylist(),
            strict=True,
        )
    )
    assert len(keys) == cycles.num_rows
    for row in result.alerts.to_pylist():
        assert row["reasons_en"] and row["reasons_zh"]
        assert row["first_alert_at"] <= row["as_of"]
    assert not any(cycles.column("reduced_features").to_pylist())


def test_missing_repayments_is_said_not_silent(cashout_ds_no_repayments, fitted):
    result = pipeline.detect(cashout_ds_no_repayments, fitted[0])
    assert result.notices and "repayments" in result.notices[0]
    assert all(result.cycles.column("reduced_features").to_pylist())
    assert result.alerts.num_rows > 0  # the reduced model still finds cycling


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_write_table_formats(cashout_ds, fitted, tmp_path, suffix):
    result = pipeline.detect(cashout_ds, fitted[0])
    path = tmp_path / f"out{suffix}"
    pipeline.write_table(result.cycles, path)
    if suffix == ".parquet":
        assert pq.read_table(path).num_rows == result.cycles.num_rows
    elif suffix == ".jsonl":
        first = json.loads(path.read_text().splitlines()[0])
        assert "reduced_features" in first
    else:
        assert path.read_text().splitlines()[0].startswith('"card_token"')
    with pytest.raises(InvalidInput, match="must end in"):
        pipeline.write_table(result.cycles, tmp_path / "out.xlsx")


def test_import_without_payer_columns_is_a_stated_blind_spot(cashout_ds, fitted, tmp_path):
    from cardmind.dataset import Dataset, DatasetWriter

    present = ["repayment_id", "ts", "card_token", "customer_id", "amount_fen"]
    manifest = {"source": "import", "columns_present": {"repayments": present}}
    with DatasetWriter(tmp_path / "imp", manifest=manifest) as w:
        for t in ("cards", "merchants", "authorizations"):
            w.write(t, cashout_ds.read(t))
        w.write("repayments", cashout_ds.read("repayments", columns=present), partial=True)
    result = pipeline.detect(Dataset(tmp_path / "imp"), fitted[0])
    assert any("third-party payers cannot be seen" in n for n in result.notices)
    assert not any(result.cycles.column("reduced_features").to_pylist())
