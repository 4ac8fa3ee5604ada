"""``cardmind lists import|show``: a suspect-merchant file reaches the engine's lists."""

from __future__ import annotations

import json

import pytest


def _store():
    from cardmind.cli.lists import _store

    return _store()


def test_import_rings_file_puts_merchants_on_the_watch_list(run, tmp_path):
    from cardmind.decisions.types import ListEntry

    _store().add(ListEntry(kind="merchant", value="m3", list_type="block", reason="analyst"))
    ring = {"ring_id": "r1", "suspect_cards": 4}
    items = [
        {"kind": "merchant", "value": "m1", "list_type": "watch", "reason": "ring r1",
         "added_by": "cardmind-cashout-rings", "expires_at": "2030-01-01T00:00:00",
         "evidence": ring},
        {"kind": "merchant", "value": "m2", "list_type": "watch", "evidence": ring},
        {"kind": "merchant", "value": "m3", "list_type": "watch", "evidence": ring},
        {"kind": "merchant", "value": "6222021234567894", "list_type": "watch"},
        {"kind": "shop", "value": "x", "list_type": "watch"},
        "not an object",
    ]
    f = tmp_path / "suspects.json"
    f.write_text(json.dumps(items))
    code, out, err = run("lists", "import", str(f))
    assert code == 0, err
    assert "added or refreshed 2 watch; 4 refused" in out
    store = _store()
    assert store.lookup("merchant", "m1") == "watch" and store.lookup("merchant", "m2") == "watch"
    assert store.lookup("merchant", "m3") == "block"  # an import never lifts a block
    rejected = json.loads((tmp_path / "suspects.json.rejected.json").read_text())
    reasons = [r["reason"] for r in rejected]
    assert any("is on the block list" in r for r in reasons)
    assert any("kind" in r for r in reasons) and "not a JSON object" in reasons
    text = (tmp_path / "suspects.json.rejected.json").read_text()
    assert "6222021234567894" not in text  # card data never written back
    code, out, _ = run("lists", "show", "--type", "watch")
    assert code == 0 and "m1" in out and "m2" in out and "m3" not in out


@pytest.mark.parametrize(("content", "message"), [("{not json", "not valid JSON"),
                                                  ('{"kind": "merchant"}', "JSON array")])
def test_import_refuses_a_bad_file_and_writes_nothing(run, tmp_path, content, message):
    f = tmp_path / "bad.json"
    f.write_text(content)
    code, _, err = run("lists", "import", str(f))
    assert code == 2 and message in err
    assert len(_store()) == 0
