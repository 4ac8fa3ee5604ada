"""Block/trust lists: persisted, cached, one list per value, expiry, precise errors."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from cardmind.decisions.lists import ListStore
from cardmind.decisions.types import ListEntry
from cardmind.errors import InvalidInput
from cardmind.storage.base import create_all
from cardmind.storage.decision_log import log_engine
from cardmind.units import TZ


@pytest.fixture
def engine(tmp_path):
    e = log_engine(f"sqlite:///{tmp_path / 'lists.db'}")
    create_all(e)
    return e


def test_entries_persist_across_instances(engine):
    a = ListStore(engine)
    a.add(ListEntry(kind="device", value="d1", list_type="block", reason="emulator", added_by="ops"))
    a.add(ListEntry(kind="card", value="c" * 32, list_type="trust"))
    b = ListStore(engine)
    assert b.lookup("device", "d1") == "block" and b.lookup("card", "c" * 32) == "trust"
    assert [e.value for e in b.entries(list_type="block")] == ["d1"]
    assert b.entries(kind="device")[0].reason == "emulator"
    assert b.remove("device", "d1", "trust") is False and b.remove("device", "d1") is True
    assert ListStore(engine).lookup("device", "d1") == ""


def test_a_value_is_on_one_list_only(engine):
    s = ListStore(engine)
    s.add(ListEntry(kind="merchant", value="m1", list_type="block"))
    with pytest.raises(InvalidInput, match="is on the block list; remove it first"):
        s.add(ListEntry(kind="merchant", value="m1", list_type="trust"))
    s.add(ListEntry(kind="merchant", value="m1", list_type="block", reason="updated"))
    assert len(s) == 1 and s.entries()[0].reason == "updated"


def test_expired_entries_no_longer_match(engine):
    s = ListStore(engine)
    now = datetime(2026, 3, 1, tzinfo=TZ)
    s.add(ListEntry(kind="terminal", value="t1", list_type="block", expires_at=now))
    assert s.lookup("terminal", "t1", now - timedelta(seconds=1)) == "block"
    assert s.lookup("terminal", "t1", now) == ""


def test_bad_entries_are_refused(engine):
    s = ListStore(engine)
    with pytest.raises(InvalidInput, match="4-digit MCC"):
        s.add(ListEntry(kind="category", value="gambling", list_type="block"))
    with pytest.raises(ValidationError):
        ListEntry(kind="planet", value="x", list_type="block")
    with pytest.raises(InvalidInput, match="full card number"):
        ListEntry.parse({"kind": "card", "value": "6222021234567894", "list_type": "block"})
    with pytest.raises(InvalidInput, match="unknown kind"):
        s.entries(kind="planet")


def test_background_refresh_sees_edits_from_another_process(engine):
    import time

    mine, other = ListStore(engine), ListStore(engine)
    mine.start_refresh(0.01)
    other.add(ListEntry(kind="device", value="d9", list_type="block"))
    for _ in range(500):  # polls the outcome; no assumption on how fast the machine is
        if mine.lookup("device", "d9") == "block":
            break
        time.sleep(0.01)
    mine.stop_refresh()
    assert mine.lookup("device", "d9") == "block"
