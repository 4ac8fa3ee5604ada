"""Alembic migrations create exactly the tables the models declare, and downgrade cleanly."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from cardmind.storage import migrations
from cardmind.storage.base import Base

TABLES = ("decision_log", "temp_credit_grants", "decision_labels", "list_entries")


def _shape(insp, table):
    cols = {c["name"]: (str(c["type"]).split("(")[0], c["nullable"]) for c in insp.get_columns(table)}
    idx = {tuple(i["column_names"]) for i in insp.get_indexes(table)}
    return cols, idx


def test_upgrade_matches_the_models_and_downgrade_removes(tmp_path):
    import cardmind.storage.tables  # noqa: F401

    url = f"sqlite:///{tmp_path / 'mig.db'}"
    migrations.upgrade(url)
    assert migrations.current(url) == "0001_authorization"
    ref = create_engine(f"sqlite:///{tmp_path / 'ref.db'}")
    Base.metadata.create_all(ref, tables=[Base.metadata.tables[t] for t in TABLES])
    got, want = inspect(create_engine(url)), inspect(ref)
    for table in TABLES:
        assert _shape(got, table) == _shape(want, table), table
    migrations.downgrade(url)
    assert not set(TABLES) & set(inspect(create_engine(url)).get_table_names())
