"""Block/trust/watch lists: persisted, cached, one list per value, expiry, precise errors."""

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


def test_watch_list_denies_temporary_credit_but_does_not_decline(engine_factory, make_req):
    e = engine_factory()
    e.lists.add(ListEntry(kind="merchant", value="m7", list_type="watch"))
    over = e.decide(make_req("a1", card="full", amount=60_000, merchant_id="m7"))
    assert (over.action, over.response_code) == ("DECLINE", "51")
    assert "LIST_WATCH_NO_TEMP_CREDIT" in over.reason_codes
    assert over.temp_credit_fen == 0
    within = e.decide(make_req("a2", amount=1_000, merchant_id="m7"))
    assert within.action == "APPROVE"  # watched, not blocked
    elsewhere = e.decide(make_req("a3", card="full", amount=60_000, merchant_id="m1"))
    assert elsewhere.action == "APPROVE_WITH_TEMP_CREDIT"


def test_add_many_never_moves_a_value_between_lists(engine):
    lists = ListStore(engine)
    lists.add(ListEntry(kind="merchant", value="m1", list_type="block", reason="analyst"))
    added, refused = lists.add_many([
        ListEntry(kind="merchant", value="m1", list_type="watch"),
        ListEntry(kind="merchant", value="m2", list_type="watch", reason="ring r1"),
        ListEntry(kind="category", value="77", list_type="watch"),
    ])
    assert [e.value for e in added] == ["m2"]
    assert [(e.value, why) for e, why in refused] == [
        ("m1", "merchant 'm1' is on the block list; remove it first"),
        ("77", "a category entry is a 4-digit MCC, e.g. 7995"),
    ]
    assert lists.lookup("merchant", "m1") == "block" and lists.lookup("merchant", "m2") == "watch"
    assert ListStore(lists.engine).lookup("merchant", "m2") == "watch"  # persisted


def test_lookup_fields_answers_as_lookup_through_every_edit(engine):
    """``lookup_fields`` skips kinds without entries: it must follow adds, replacements,
    removals, expiry and a refresh with edits of another process exactly as ``lookup`` does."""
    s, other = ListStore(engine), ListStore(engine)
    fields = (("card", "card_token"), ("merchant", "merchant_id"), ("category", "mcc"))
    record = {"card_token": "c1", "merchant_id": "m1", "mcc": "7995"}
    now = datetime(2026, 3, 1, tzinfo=TZ)

    def check() -> dict[str, str]:
        got = s.lookup_fields(fields, record, now)
        assert got == {k: s.lookup(k, record[f], now) for k, f in fields}
        return got

    assert check() == {"card": "", "merchant": "", "category": ""}
    s.add(ListEntry(kind="merchant", value="m2", list_type="block"))
    assert check()["merchant"] == ""
    s.add(ListEntry(kind="merchant", value="m1", list_type="watch"))
    s.add(ListEntry(kind="merchant", value="m1", list_type="watch", reason="again"))
    assert check()["merchant"] == "watch"
    assert s.remove("merchant", "m1") and check()["merchant"] == ""
    assert s.remove("merchant", "m2") and check()["merchant"] == ""
    assert s.kinds_present == frozenset()
    s.add(ListEntry(kind="merchant", value="m1", list_type="block"))
    assert check()["merchant"] == "block"
    s.add(ListEntry(kind="card", value="c1", list_type="trust", expires_at=now))
    assert check()["card"] == ""  # expired at `now`
    other.add(ListEntry(kind="category", value="7995", list_type="block"))
    assert check()["category"] == ""  # not seen before a refresh
    s.refresh()
    assert check() == {"card": "", "merchant": "block", "category": "block"}
    assert s.kinds_present == {"card", "merchant", "category"}
    assert other.remove("category", "7995")
    s.refresh()
    assert check()["category"] == "" and s.kinds_present == {"card", "merchant"}
