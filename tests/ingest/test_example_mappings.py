"""The example mappings shipped with cardmind load what they describe."""

from __future__ import annotations

from datetime import date

from cardmind.dataset import Dataset
from cardmind.ingest import MAPPINGS_DIR, Mapping, ingest

from .conftest import PAN_A, PAN_B


def test_bank_transactions_example(bank):
    tx = bank.root / "tx.csv"
    tx.write_text(
        "txn_id,card_no,cust_no,mer_id,term_id,txn_amt,txn_time,mcc,chnl,city,msg_type,resp_code,approved,fraud_flag,cvn2\n"
        f"A1,{PAN_A},C1,M1,T1,88.80,2024-06-01 09:30:00,5812,01,上海,0200,00,Y,0,123\n"
        f"A2,{PAN_B},C2,M2,T2,1999.00,2024-06-01 23:59:59,5732,03,北京,0200,51,N,1,456\n"
        f"A3,{PAN_A},C1,M1,T1,88.80,2024-06-02 10:00:00,5812,01,上海,0400,00,Y,0,123\n"
        f"A4,{PAN_A},C1,M1,T1,5.00,2024-06-02 10:00:00,5812,09,上海,0200,00,Y,0,123\n",
        encoding="utf-8",
    )
    cust = bank.root / "cust.csv"
    cust.write_text(
        "cust_no,birth_dt,sex,income_month,city\nC1,19880412,2,12000.50,上海\nC2,19990101,1,8000,北京\n",
        encoding="utf-8",
    )
    mapping = Mapping.load(MAPPINGS_DIR / "bank_transactions.yaml").override_sources(
        {"authorizations": [tx], "fraud_labels": [tx], "customers": [cust]}
    )
    report = ingest(mapping, bank.out)
    ds = Dataset(bank.out)
    auth = ds.read("authorizations")
    assert auth.column("channel").to_pylist() == ["pos_chip", "online_cnp", "pos_chip"]
    assert auth.column("message_type").to_pylist() == ["purchase", "purchase", "reversal"]
    assert auth.column("approved").to_pylist() == [True, False, True]
    assert auth.column("amount_fen").to_pylist() == [8880, 199900, 8880]
    assert report.tables["authorizations"].rejected == 1  # channel code 09 is not mapped
    assert ds.read("fraud_labels").column("label").to_pylist() == ["genuine", "fraud", "genuine"]
    customers = ds.read("customers")
    assert customers.column("birth_date").to_pylist() == [date(1988, 4, 12), date(1999, 1, 1)]
    assert customers.column("gender").to_pylist() == ["F", "M"]
    assert customers.column("monthly_income_fen").to_pylist() == [1200050, 800000]
    assert ds.manifest["protected_columns"]["customers"] == ["gender"]
    assert "occupation" in ds.manifest["columns_absent"]["customers"]


def test_readme_mapping_example_runs(bank):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Importing a bank's data", 1)[1]
    (bank.root / "m.yaml").write_text(section.split("```yaml", 1)[1].split("```", 1)[0])
    (bank.root / "transactions.csv").write_text(
        "txn_id,card_no,txn_time,mer_id,txn_amt,chnl,fraud_flag,cvn2\n"
        f"A1,{PAN_A},2024-05-01 10:00:00,M1,0.29,01,1,123\n"
        f"A2,{PAN_B},2024-05-01 10:00:00,M1,1.005,03,0,123\n"
    )
    report = ingest(Mapping.load(bank.root / "m.yaml"), bank.out)
    auth = Dataset(bank.out).read("authorizations")
    assert auth.column("amount_fen").to_pylist() == [29]  # 1.005 yuan is rejected, as promised
    assert auth.column("channel").to_pylist() == ["pos_chip"]
    assert report.tables["authorizations"].rejected == 1
