"""Fixtures for the credit-model tests: German credit (real data) read through a small loader."""

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
def german(german_csv):
    from cardmind.models.credit.german import german_frame_from_csv

    return german_frame_from_csv(german_csv)
