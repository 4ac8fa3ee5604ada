"""A failed import never leaves a half-loaded dataset: the old one stays, no staging remains."""

from __future__ import annotations

import pytest

from cardmind.dataset import Dataset
from cardmind.ingest import Mapping, ingest, loader

from .conftest import tx_rows


def test_failure_mid_way_leaves_nothing(bank, monkeypatch):
    bank.write(tx_rows(4))
    mapping = Mapping.load(bank.mapping())
    ingest(mapping, bank.out)
    before = {p.relative_to(bank.out): p.read_bytes() for p in bank.out.rglob("*") if p.is_file()}

    real = loader._write_table
    calls = []

    def failing(writer, name, data, *, keep_extra):
        calls.append(name)
        if len(calls) == 2:  # authorizations written, fraud_labels fails
            raise OSError("disk full (injected)")
        real(writer, name, data, keep_extra=keep_extra)

    monkeypatch.setattr(loader, "_write_table", failing)
    bank.write(tx_rows(6))
    with pytest.raises(OSError, match="injected"):
        ingest(mapping, bank.out)
    assert calls == ["authorizations", "fraud_labels"]
    after = {p.relative_to(bank.out): p.read_bytes() for p in bank.out.rglob("*") if p.is_file()}
    assert after == before
    assert Dataset(bank.out).read("authorizations").num_rows == 4
    assert [p.name for p in bank.root.iterdir() if p.name.startswith(".")] == []


def test_failure_on_first_import_creates_no_folder(bank, monkeypatch):
    bank.write(tx_rows(4))

    def failing(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(loader, "_write_table", failing)
    with pytest.raises(RuntimeError):
        ingest(Mapping.load(bank.mapping()), bank.out)
    assert not bank.out.exists()
    assert sorted(p.name for p in bank.root.iterdir()) == ["mapping.yaml", "tx.csv"]


def test_refuses_to_replace_a_folder_that_is_not_a_dataset(bank):
    bank.write(tx_rows(2))
    precious = bank.root / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    from cardmind.errors import InvalidInput

    with pytest.raises(InvalidInput, match="exists and is not a cardmind dataset"):
        ingest(Mapping.load(bank.mapping()), precious)
    assert (precious / "thesis.txt").read_text() == "do not delete"
    empty = bank.root / "empty"
    empty.mkdir()
    ingest(Mapping.load(bank.mapping()), empty)
    assert Dataset(empty).read("authorizations").num_rows == 2
