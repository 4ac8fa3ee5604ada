"""A dataset with only the minimum columns loads; absent columns are recorded for features."""

from __future__ import annotations

from datetime import timedelta

from cardmind import schema
from cardmind.dataset import Dataset
from cardmind.ingest import Mapping, ingest


def test_minimum_dataset_with_customer_id_as_card_key(bank):
    bank.write(
        ["a1,c1,T9,12.5,2024-05-01 10:00:00,0", "a2,c2,T9,3,2024-05-01 11:00:00,1"],
        header="id,customer,terminal,amount,time,is_fraud",
    )
    data = {
        "tables": {
            "authorizations": {
                "source": "tx.csv",
                "columns": {
                    "auth_id": "id",
                    "customer_id": "customer",
                    "terminal_id": "terminal",
                    "amount_fen": {"from": "amount", "unit": "yuan"},
                    "ts": "time",
                },
            },
            "fraud_labels": {
                "source": "tx.csv",
                "columns": {
                    "auth_id": "id",
                    "label": {"from": "is_fraud", "values": {"1": "fraud", "0": "genuine"}},
                },
            },
        }
    }
    report = ingest(Mapping.load(bank.mapping(data)), bank.out)
    assert report.rejected == 0
    ds = Dataset(bank.out)
    auth = ds.read("authorizations", columns=schema.AUTHORIZATIONS.column_names)
    # Without a column list only the columns holding data come back.
    assert (
        ds.read("authorizations").column_names == ds.manifest["columns_present"]["authorizations"]
    )
    assert auth.column("card_token").to_pylist() == ["c1", "c2"]
    assert auth.column("merchant_id").to_pylist() == ["T9", "T9"]
    assert auth.column("message_type").to_pylist() == ["purchase", "purchase"]
    assert auth.column("channel").null_count == 2
    labels = ds.read("fraud_labels")
    assert labels.column("card_token").to_pylist() == ["c1", "c2"]
    assert labels.column("label").to_pylist() == ["genuine", "fraud"]
    m = ds.manifest
    assert set(m["columns_present"]["authorizations"]) == {
        "auth_id",
        "ts",
        "card_token",
        "customer_id",
        "merchant_id",
        "terminal_id",
        "amount_fen",
        "message_type",
        "temp_credit_fen",
    }
    assert "channel" in m["columns_absent"]["authorizations"]
    assert m["columns_absent"]["fraud_labels"] == ["scenario"]
    assert m["columns_defaulted"]["fraud_labels"]["reported_at"].startswith("authorization ts + 7d")
    assert labels.column("reported_at").to_pylist() == [
        t + timedelta(days=7) for t in auth.column("ts").to_pylist()
    ]
    assert m["columns_defaulted"]["authorizations"]["card_token"] == "copied from customer_id"
    assert m["card_key"]["authorizations"].startswith("customer_id")
    assert ds.columns_present("authorizations") == m["columns_present"]["authorizations"]
    # Absent columns are nullable in the file, present ones keep the schema's contract.
    fields = {f.name: f for f in auth.schema}
    assert fields["channel"].nullable and not fields["amount_fen"].nullable


def test_minimum_mapping_is_enforced(bank):
    import pytest

    from cardmind.errors import InvalidInput

    bank.write(["a1,c1,12.5"], header="id,customer,amount")
    data = {
        "tables": {
            "authorizations": {
                "source": "tx.csv",
                "columns": {
                    "auth_id": "id",
                    "customer_id": "customer",
                    "amount_fen": {"from": "amount", "unit": "yuan"},
                },
            }
        }
    }
    with pytest.raises(InvalidInput, match="must fill ts"):
        ingest(Mapping.load(bank.mapping(data)), bank.out)


def test_several_files_per_table_and_labels_from_their_own_file(bank):
    header = "id,customer,terminal,amount,time"
    bank.write(
        ["a1,c1,T1,1,2024-05-01 10:00:00", "a2,c2,T1,2,2024-05-01 10:01:00"],
        header=header,
        name="jan.csv",
    )
    bank.write(
        ["a3,c3,T2,3,2024-06-01 10:00:00", "a1,c9,T9,9,2024-06-01 11:00:00"],
        header=header,
        name="feb.csv",
    )
    bank.write(["a3,chargeback", "a2,fraud", "zz,fraud"], header="txn,kind", name="labels.csv")
    data = {
        "tables": {
            "authorizations": {
                "source": ["jan.csv", "feb.csv"],
                "columns": {
                    "auth_id": "id",
                    "customer_id": "customer",
                    "terminal_id": "terminal",
                    "amount_fen": {"from": "amount", "unit": "fen"},
                    "ts": "time",
                },
            },
            "fraud_labels": {
                "source": "labels.csv",
                "columns": {"auth_id": "txn", "label": "kind"},
            },
        }
    }
    report = ingest(Mapping.load(bank.mapping(data)), bank.out)
    ds = Dataset(bank.out)
    assert ds.read("authorizations").column("auth_id").to_pylist() == ["a1", "a2", "a3"]
    labels = ds.read("fraud_labels")
    assert dict(
        zip(
            labels.column("auth_id").to_pylist(),
            labels.column("card_token").to_pylist(),
            strict=True,
        )
    ) == {
        "a3": "c3",
        "a2": "c2",
    }
    q = (bank.out / "_quarantine" / "authorizations.csv").read_text()
    assert "duplicate 'a1', first at jan.csv line 2 (kept)" in q and '"feb.csv",3' in q
    assert report.tables["fraud_labels"].rejected == 1


def test_features_needing_absent_columns_are_skipped(bank):
    from cardmind import features

    bank.write(["a1,c1,T9,12.5,2024-05-01 10:00:00"], header="id,customer,terminal,amount,time")
    data = {
        "tables": {
            "authorizations": {
                "source": "tx.csv",
                "columns": {
                    "auth_id": "id",
                    "customer_id": "customer",
                    "terminal_id": "terminal",
                    "amount_fen": {"from": "amount", "unit": "yuan"},
                    "ts": "time",
                },
            }
        }
    }
    ingest(Mapping.load(bank.mapping(data)), bank.out)
    catalog = features.default_catalog().for_dataset(Dataset(bank.out))
    lacking = [n for n in catalog.notices if "authorizations lacks columns" in n]
    assert any("'channel'" in n for n in lacking) and any("'device_id'" in n for n in lacking)


def test_label_delay_is_configurable_and_validated(bank):
    import pytest

    from cardmind.errors import InvalidInput

    bank.write(["a1,c1,T9,1,2024-05-01 10:00:00,1"], header="id,customer,terminal,amount,time,f")
    data = {
        "tables": {
            "authorizations": {
                "source": "tx.csv",
                "columns": {
                    "auth_id": "id",
                    "customer_id": "customer",
                    "terminal_id": "terminal",
                    "amount_fen": {"from": "amount", "unit": "fen"},
                    "ts": "time",
                },
            },
            "fraud_labels": {
                "source": "tx.csv",
                "label_delay": "36h",
                "columns": {"auth_id": "id", "label": {"from": "f", "values": {"1": "fraud"}}},
            },
        }
    }
    ingest(Mapping.load(bank.mapping(data)), bank.out)
    ds = Dataset(bank.out)
    (ts,) = ds.read("authorizations").column("ts").to_pylist()
    assert ds.read("fraud_labels").column("reported_at").to_pylist() == [ts + timedelta(hours=36)]
    data["tables"]["fraud_labels"]["label_delay"] = "a week"
    with pytest.raises(InvalidInput, match="a delay looks like 7d, 36h or 90m"):
        Mapping.load(bank.mapping(data))
