import pyarrow as pa
import pytest

from cardmind import schema


def test_money_columns_are_int64_and_timestamps_are_shanghai():
    for table in schema.TABLES.values():
        for col in table.columns:
            if col.name.endswith("_fen"):
                assert col.type == pa.int64(), (table.name, col.name)
            if pa.types.is_timestamp(col.type):
                assert col.type.tz == "Asia/Shanghai", (table.name, col.name)


def test_no_table_can_hold_a_card_number_or_secret():
    for table in schema.TABLES.values():
        for col in table.columns:
            assert col.name not in {"pan", "card_number", "cvv", "pin", "password"}
            assert not schema.is_sensitive_field_name(col.name)


def test_every_column_is_documented():
    for table in schema.TABLES.values():
        assert table.doc
        assert all(len(c.doc) > 5 for c in table.columns), table.name


def test_conform_reports_missing_required_columns():
    with pytest.raises(ValueError, match="missing required columns"):
        schema.conform(pa.table({"auth_id": ["a"]}), "authorizations")


def test_duplicate_columns_are_rejected():
    col = schema.Column(name="a", type=pa.int64(), doc="a column")
    with pytest.raises(ValueError, match="duplicate"):
        schema.Table(name="t", doc="t", columns=(col, col), primary_key=("a",))
