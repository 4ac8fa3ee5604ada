"""The real German credit data loads through the same path: 1,000 applicants, 300 bad."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from cardmind.dataset import Dataset
from cardmind.ingest import MAPPINGS_DIR, Mapping, ingest

GERMAN = Path(__file__).resolve().parents[3] / "shared" / "data" / "german_credit.csv"


@pytest.fixture(scope="module")
def german(tmp_path_factory):
    if not GERMAN.is_file():
        pytest.skip(f"{GERMAN} not present")
    out = tmp_path_factory.mktemp("german") / "ds"
    m = Mapping.load(MAPPINGS_DIR / "german_credit.yaml").override_sources(
        {"applications": [GERMAN]}
    )
    report = ingest(m, out)
    return report, Dataset(out)


def test_loads_1000_applicants_with_300_bad(german):
    report, ds = german
    assert report.tables["applications"].loaded == 1000
    assert report.rejected == 0
    outcomes = ds.read("application_outcomes")
    assert outcomes.num_rows == 1000
    assert sum(outcomes.column("bad").to_pylist()) == 300
    apps = ds.read("applications")
    assert apps.column("application_id").to_pylist()[:2] == [
        "german_credit-000001",
        "german_credit-000002",
    ]
    assert (
        outcomes.column("application_id").to_pylist() == apps.column("application_id").to_pylist()
    )


def test_standard_and_extra_columns_are_typed(german):
    _, ds = german
    apps = ds.read("applications")
    assert apps.schema.field("age").type == pa.int16()
    assert apps.column("age").to_pylist()[:3] == [67, 22, 49]
    assert set(apps.column("housing").to_pylist()) == {"own_no_mortgage", "rent", "family"}
    assert apps.schema.field("credit_amount").type == pa.int64()
    assert apps.schema.field("purpose").type == pa.string()
    assert "creditability" not in apps.column_names  # the target never sits beside features
    assert "age_in_years" not in apps.column_names
    assert len(ds.manifest["extra_columns"]["applications"]) == 18


def test_protected_attributes_are_kept_and_flagged(german):
    _, ds = german
    assert ds.manifest["protected_columns"]["applications"] == [
        "personal_status_and_sex",
        "foreign_worker",
    ]
    apps = ds.read("applications", columns=["personal_status_and_sex", "foreign_worker"])
    assert apps.column("foreign_worker").value_counts().to_pylist()[0]["counts"] in (963, 37)
    assert ds.manifest["outcomes"]["applications"]["source_column"] == "creditability"


def test_unmapped_outcome_value_is_rejected(bank):
    bank.write(["30,own,good", "40,rent,unknown"], header="age_in_years,housing,creditability")
    m = Mapping.load(MAPPINGS_DIR / "german_credit.yaml").override_sources(
        {"applications": [bank.root / "tx.csv"]}
    )
    from cardmind.errors import InvalidInput

    # The protected columns of the real file are missing from this one.
    with pytest.raises(
        InvalidInput, match=r"protected: \['personal_status_and_sex', 'foreign_worker'\]"
    ):
        ingest(m, bank.out)


def test_extra_columns_are_scanned_for_card_numbers_and_typed_across_files(bank):
    (bank.root / "a.csv").write_text("age_in_years,ref,note\n30,12,x\n41,6222021234567894,y\n")
    (bank.root / "b.csv").write_text("age_in_years,ref,note\n50,R-7,z\n")
    m = Mapping.from_dict(
        {
            "tables": {
                "applications": {
                    "source": ["a.csv", "b.csv"],
                    "columns": {"age": "age_in_years"},
                    "extra_columns": "keep",
                }
            }
        },
        base_dir=bank.root,
    )
    report = ingest(m, bank.out)
    apps = Dataset(bank.out).read("applications")
    assert apps.column("ref").to_pylist() == ["12", "R-7"]  # int in a.csv, text in b.csv
    assert apps.column("application_id").to_pylist() == ["a-000001", "b-000001"]
    assert report.tables["applications"].rejected == 1
    q = (bank.out / "_quarantine" / "applications.csv").read_text()
    assert '"a.csv",3,"ref"' in q and "6222021234567894" not in q
