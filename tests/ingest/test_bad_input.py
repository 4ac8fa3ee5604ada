"""Every bad input gives a precise message (file, line, column, reason); nothing is lost."""

from __future__ import annotations

import csv

import pytest

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput
from cardmind.ingest import Mapping, ingest

from .conftest import HEADER, base_mapping, tx_rows


def _quarantine(out, table="authorizations"):
    with open(out / "_quarantine" / f"{table}.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_missing_column_fails_before_loading_with_file_and_column(bank):
    bank.write(tx_rows(), header=HEADER.replace("txn_time", "when"))
    with pytest.raises(InvalidInput) as err:
        ingest(Mapping.load(bank.mapping()), bank.out)
    msg = str(err.value)
    assert "tx.csv" in msg and "'txn_time'" in msg and "tables.authorizations.columns.ts" in msg
    assert not bank.out.exists()


def test_unparseable_timestamp_is_rejected_per_row(bank):
    rows = tx_rows(4)
    rows[2] = rows[2].replace("2024-05-01 10:02:00", "2024-02-30 10:02:00")
    bank.write(rows)
    report = ingest(Mapping.load(bank.mapping()), bank.out)
    assert report.tables["authorizations"].loaded == 3
    (q,) = _quarantine(bank.out)
    assert (q["source_file"], q["line"], q["column"]) == ("tx.csv", "4", "txn_time")
    assert q["reason"] == "ts: not an ISO 8601 timestamp (years 1900-2199)"
    assert q["value"] == "2024-02-30 10:02:00"


def test_negative_amount_is_rejected_and_zero_too(bank):
    rows = tx_rows(4)
    rows[1] = rows[1].replace("11.50", "-11.50")
    rows[3] = rows[3].replace("13.50", "0.00")
    bank.write(rows)
    ingest(Mapping.load(bank.mapping()), bank.out)
    q = _quarantine(bank.out)
    assert [(r["line"], r["column"], r["reason_code"]) for r in q] == [
        ("3", "amt", "negative"),
        ("5", "amt", "negative"),
    ]
    assert "negative amount" in q[0]["reason"] and "message_type" in q[0]["reason"]
    assert q[1]["reason"] == "amount_fen: amount must be > 0"


def test_duplicate_ids_keep_the_first_and_name_it(bank):
    rows = tx_rows(3)
    rows.append(rows[1].replace(",ok", ",second copy"))
    bank.write(rows)
    report = ingest(Mapping.load(bank.mapping()), bank.out)
    auth = Dataset(bank.out).read("authorizations")
    assert auth.column("auth_id").to_pylist() == ["t0", "t1", "t2"]
    assert auth.column("city").to_pylist()[1] == "ok"
    (q,) = _quarantine(bank.out)
    assert q["line"] == "5" and q["reason_code"] == "duplicate"
    assert q["reason"] == "auth_id: duplicate 't1', first at tx.csv line 3 (kept)"
    assert report.tables["authorizations"].rejected == 1


def test_malformed_row_and_bad_values_are_quarantined_not_dropped(bank):
    rows = [*tx_rows(3), "t9,6222021234567894", "t10,6222021234567894,m1,abc,2024-05-01,0,ok"]
    rows.append("t11,6222021234567894,m1,1.005,2024-05-01,0,ok")
    bank.write(rows)
    report = ingest(Mapping.load(bank.mapping()), bank.out)
    t = report.tables["authorizations"]
    assert (t.source_rows, t.loaded, t.rejected) == (6, 3, 3)
    q = {r["line"]: r for r in _quarantine(bank.out)}
    assert q["5"]["reason"] == "expected 7 fields, found 2"
    assert q["6"]["column"] == "amt" and "not an amount in yuan" in q["6"]["reason"]
    assert q["7"]["value"] == "1.005"


def test_value_outside_vocabulary_is_rejected(bank):
    rows = tx_rows(3)
    rows[0] = rows[0].replace(",0,ok", ",7,ok")
    bank.write(rows)
    report = ingest(Mapping.load(bank.mapping()), bank.out)
    (q,) = _quarantine(bank.out, "fraud_labels")
    assert q["column"] == "fraud_flag" and q["line"] == "2"
    assert q["reason"].startswith("label: not one of fraud, chargeback, genuine")
    assert report.tables["fraud_labels"].loaded == 2


def test_labels_of_rejected_authorizations_are_quarantined(bank):
    rows = tx_rows(3)
    rows[1] = rows[1].replace("11.50", "-1")
    bank.write(rows)
    ingest(Mapping.load(bank.mapping()), bank.out)
    (q,) = _quarantine(bank.out, "fraud_labels")
    assert q["line"] == "3" and q["reason_code"] == "orphan"


def test_max_reject_rate_makes_rejections_an_error_and_writes_nothing(bank):
    rows = tx_rows(4)
    rows[0] = rows[0].replace("10.50", "-1")
    bank.write(rows)
    with pytest.raises(InvalidInput, match=r"1 of 4 rows rejected \(25.0% > --max-reject-rate"):
        ingest(Mapping.load(bank.mapping()), bank.out, max_reject_rate=0.1)
    assert not bank.out.exists()
    ingest(Mapping.load(bank.mapping()), bank.out, max_reject_rate=0.3)
    assert Dataset(bank.out).manifest["rejected_rows"] == 2  # the row and its label


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"tables": {"authorizations": {"source": "tx.csv", "colums": {}}}},
            "unknown keys ['colums']",
        ),
        ({"tables": {"truth_authorizations": {"source": "tx.csv"}}}, "simulator ground truth"),
        ({"tables": {"nope": {"source": "tx.csv"}}}, "unknown table 'nope'"),
        ({"timezone": "Mars/Base"}, "unknown time zone 'Mars/Base'"),
        (
            {"tables": {"fraud_labels": {"source": "tx.csv", "columns": {"label": "fraud_flag"}}}},
            "must fill auth_id",
        ),
    ],
)
def test_bad_mapping_messages(bank, change, message):
    bank.write(tx_rows())
    data = {**base_mapping(), **change}
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace("[", r"\[")):
        ingest(Mapping.load(bank.mapping(data)), bank.out)


def test_money_column_needs_a_unit(bank):
    data = base_mapping()
    data["tables"]["authorizations"]["columns"]["amount_fen"] = "amt"
    with pytest.raises(InvalidInput, match=r"columns.amount_fen: .*unit: yuan or fen"):
        Mapping.load(bank.mapping(data))


def test_bad_constant_is_a_mapping_error(bank):
    bank.write(tx_rows())
    data = base_mapping()
    data["tables"]["authorizations"]["columns"]["channel"] = {"constant": "telepathy"}
    with pytest.raises(InvalidInput, match="constant 'telepathy' is not one of"):
        ingest(Mapping.load(bank.mapping(data)), bank.out)


def test_bad_time_format_is_a_mapping_error(bank):
    bank.write(tx_rows())
    data = base_mapping()
    data["tables"]["authorizations"]["columns"]["ts"] = {"from": "txn_time", "format": "%Q"}
    with pytest.raises(
        InvalidInput, match=r"tables.authorizations.columns.ts: invalid timestamp format '%Q'"
    ):
        ingest(Mapping.load(bank.mapping(data)), bank.out)
    data["tables"]["authorizations"]["columns"]["ts"] = "txn_time"
    data["tables"]["authorizations"]["columns"]["city"] = {"from": "memo", "format": "%Y"}
    with pytest.raises(InvalidInput, match="format only applies to dates and timestamps"):
        ingest(Mapping.load(bank.mapping(data)), bank.out)
