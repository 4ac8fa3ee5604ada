"""Helpers for the ingest tests: write a small bank export and its mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

HEADER = "txn_id,card_no,mer_id,amt,txn_time,fraud_flag,memo"
# Luhn-valid test card numbers.
PAN_A = "6222021234567894"
PAN_B = "4111111111111111"


def tx_rows(n: int = 5) -> list[str]:
    rows = []
    for i in range(n):
        pan = PAN_A if i % 2 == 0 else PAN_B
        rows.append(f"t{i},{pan},m{i % 3},{10 + i}.50,2024-05-01 10:{i:02d}:00,{i % 2},ok")
    return rows


def base_mapping(**extra_tables: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "tables": {
            "authorizations": {
                "source": "tx.csv",
                "card_number": "card_no",
                "columns": {
                    "auth_id": "txn_id",
                    "merchant_id": "mer_id",
                    "ts": "txn_time",
                    "amount_fen": {"from": "amt", "unit": "yuan"},
                    "city": "memo",
                },
            },
            "fraud_labels": {
                "source": "tx.csv",
                "columns": {
                    "auth_id": "txn_id",
                    "label": {"from": "fraud_flag", "values": {"1": "fraud", "0": "genuine"}},
                },
            },
            **extra_tables,
        },
    }


class Bank:
    """A folder with a bank export and a mapping file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = root / "out"

    def write(self, rows: list[str], *, header: str = HEADER, name: str = "tx.csv") -> Path:
        path = self.root / name
        path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        return path

    def mapping(self, data: dict[str, Any] | None = None) -> Path:
        path = self.root / "mapping.yaml"
        path.write_text(yaml.safe_dump(data or base_mapping(), allow_unicode=True))
        return path


@pytest.fixture
def bank(tmp_path: Path) -> Bank:
    return Bank(tmp_path)
