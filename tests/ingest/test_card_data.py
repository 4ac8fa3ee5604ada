"""Card numbers are tokenised and never written anywhere; CVV/PIN-like columns are refused."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput, SensitiveDataError
from cardmind.ingest import Mapping, ingest
from cardmind.ingest.cards import tokenize_column
from cardmind.privacy import tokenize_pan
from cardmind.settings import get_settings

from .conftest import HEADER, PAN_A, PAN_B, base_mapping, tx_rows

OTHER_PAN = "5555555555554444"  # Luhn-valid, appears only inside free text


def _all_output_text(root) -> bytes:
    """Every file's raw bytes, plus every Parquet value decoded (compression hides bytes)."""
    chunks = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            chunks.append(path.read_bytes())
            if path.suffix == ".parquet":
                chunks.append(str(pq.read_table(path).to_pylist()).encode())
    return b"\n".join(chunks)


def test_no_raw_card_number_anywhere_in_the_output_folder(bank):
    rows = tx_rows(6)
    rows[1] = rows[1].replace(
        ",ok", f",call me about {OTHER_PAN[:4]} {OTHER_PAN[4:8]} {OTHER_PAN[8:12]} {OTHER_PAN[12:]}"
    )
    rows[2] = rows[2].replace(PAN_A, "6222021234567895")  # fails Luhn: rejected, masked
    rows[3] = rows[3].replace("10:03:00", "not a time")  # rejected for another reason
    bank.write(rows)
    ingest(Mapping.load(bank.mapping()), bank.out, quarantine_format="csv")
    ingest(Mapping.load(bank.mapping()), bank.root / "out_pq", quarantine_format="parquet")
    for root in (bank.out, bank.root / "out_pq"):
        blob = _all_output_text(root)
        assert (root / "_quarantine").is_dir()
        for pan in (PAN_A, PAN_B, OTHER_PAN, "6222021234567895"):
            for shown in (pan, " ".join(pan[i : i + 4] for i in range(0, 16, 4))):
                assert shown.encode() not in blob, (root, pan)
        assert b"****7895" in blob and b"****4444" in blob


def test_card_number_becomes_token_and_last4(bank):
    bank.write(tx_rows(2))
    data = base_mapping(
        cards={"source": "tx.csv", "card_number": "card_no", "columns": {"customer_id": "mer_id"}}
    )
    ingest(Mapping.load(bank.mapping(data)), bank.out)
    ds = Dataset(bank.out)
    key = get_settings().pan_key_bytes()
    expected = [tokenize_pan(PAN_A, key=key)[0], tokenize_pan(PAN_B, key=key)[0]]
    assert ds.read("authorizations").column("card_token").to_pylist() == expected
    cards = ds.read("cards")
    assert cards.column("pan_last4").to_pylist() == ["7894", "1111"]
    assert "card_no" not in cards.column_names
    assert ds.manifest["card_key"]["authorizations"].startswith("card number column 'card_no'")


def test_cvv_column_is_refused_even_when_unmapped(bank):
    bank.write([r + ",123" for r in tx_rows(2)], header=HEADER + ",CVN2")
    with pytest.raises(SensitiveDataError, match=r"columns \['CVN2'\] look like CVV/CVN2, PIN"):
        ingest(Mapping.load(bank.mapping()), bank.out)
    assert not bank.out.exists()


@pytest.mark.parametrize("name", ["card_pin", "password", "交易密码", "cvv2"])
def test_sensitive_names_are_refused(bank, name):
    bank.write([r + ",x" for r in tx_rows(2)], header=HEADER + f",{name}")
    with pytest.raises(SensitiveDataError, match="drop_columns"):
        ingest(Mapping.load(bank.mapping()), bank.out)


def test_listed_under_drop_columns_the_cvv_is_never_read(bank):
    bank.write([r + ",987" for r in tx_rows(3)], header=HEADER + ",cvn2")
    data = base_mapping()
    for t in data["tables"].values():
        t["drop_columns"] = ["cvn2"]
    report = ingest(Mapping.load(bank.mapping(data)), bank.out)
    assert report.tables["authorizations"].loaded == 3
    assert b"987" not in _all_output_text(bank.out)


def test_mapping_a_dropped_column_is_an_error(bank):
    data = base_mapping()
    data["tables"]["authorizations"]["drop_columns"] = ["memo"]
    with pytest.raises(InvalidInput, match="both mapped and in drop_columns"):
        Mapping.load(bank.mapping(data))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789 -", min_size=0, max_size=22), min_size=1, max_size=20))
def test_vectorised_tokens_equal_the_reference(values):
    key = b"reference-key"
    got = tokenize_column(pa.array(values, pa.string()), key=key)
    for value, token, last4, bad in zip(
        values, got.tokens.to_pylist(), got.last4.to_pylist(), got.bad.tolist(), strict=True
    ):
        if not value.strip():
            assert token is None and not bad
            continue
        try:
            expected = tokenize_pan(value.strip(), key=key)
        except InvalidInput:
            assert bad and token is None
        else:
            assert (token, last4) == expected and not bad


def test_naive_timezone_defaults_to_the_setting(bank, monkeypatch):
    monkeypatch.setenv("CARDMIND_TIMEZONE", "UTC")
    get_settings.cache_clear()
    assert Mapping.load(bank.mapping()).timezone == "UTC"


def test_numeric_ids_that_pass_luhn_can_be_excluded_from_the_scan(bank):
    rows = [f"{PAN_B},{PAN_A},m1,1.00,2024-05-01 10:00:00,0,ok"]  # a 16-digit id passing Luhn
    bank.write(rows)
    report = ingest(Mapping.load(bank.mapping()), bank.out)
    assert report.tables["authorizations"].rejected == 1
    q = (bank.out / "_quarantine" / "authorizations.csv").read_text()
    assert "pan_scan_exclude" in q and PAN_B not in q
    data = base_mapping()
    for t in data["tables"].values():
        t["pan_scan_exclude"] = ["txn_id"]
    report = ingest(Mapping.load(bank.mapping(data)), bank.out)
    assert report.rejected == 0
    assert Dataset(bank.out).read("authorizations").column("auth_id").to_pylist() == [PAN_B]
