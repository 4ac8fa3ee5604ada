"""Fixtures for the credit-model tests: German credit (real data) through the import path."""

from __future__ import annotations

from pathlib import Path

import pytest

GERMAN_CSV = Path(__file__).resolve().parents[4] / "shared" / "data" / "german_credit.csv"


@pytest.fixture(scope="session")
def german_csv() -> Path:
    if not GERMAN_CSV.is_file():
        pytest.skip(f"German credit CSV not found at {GERMAN_CSV}")
    return GERMAN_CSV


@pytest.fixture(scope="session")
def german_dataset(german_csv, tmp_path_factory) -> Path:
    """German credit imported with ``german_credit.yaml``, exactly as ``cardmind ingest`` does."""
    from cardmind.ingest import MAPPINGS_DIR, Mapping, ingest

    mapping = Mapping.load(MAPPINGS_DIR / "german_credit.yaml").override_sources(
        {"applications": [german_csv]}
    )
    out = tmp_path_factory.mktemp("german") / "dataset"
    ingest(mapping, out)
    return out


@pytest.fixture(scope="session")
def german(german_dataset):
    from cardmind.models.credit.german import frame_from_dataset

    return frame_from_dataset(german_dataset)
