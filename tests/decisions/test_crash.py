"""What survives a crash: kill -9 a process mid-stream and read its decision log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

from sqlalchemy import create_engine, text

from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.storage.decision_log import stored_features

CHILD = textwrap.dedent("""
    import sys
    from datetime import date, datetime, timedelta
    from cardmind.decisions.accounts import AccountBook, CardAccount
    from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
    from cardmind.decisions.types import AuthorizationRequest
    from cardmind.units import TZ

    class M:
        feature_names = ("txn_amount_fen",)
        version = "m1"
        def predict_one(self, row):
            return 0.01

    book = AccountBook()
    book.put(CardAccount(card_token="c", customer_id="u", limit_fen=10**12, opened_at=date(2020, 1, 1)))
    engine = AuthorizationEngine(EngineConfig(db_url=sys.argv[1], log_flush_ms=20, log_batch=64),
                                 model=M(), accounts=book)
    t0 = datetime(2026, 3, 1, tzinfo=TZ)
    i = 0
    while True:
        engine.decide(AuthorizationRequest(auth_id=f"a{i}", card_token="c", merchant_id="m",
            terminal_id="t", ts=t0 + timedelta(seconds=i), amount_fen=100 + i % 50, mcc="5411",
            channel="pos_chip", city="Shanghai"))
        print(f"a{i}", flush=True)
        i += 1
        if i == 200:
            engine.flush()
            print("DURABLE", flush=True)
""")


def test_kill_minus_nine_keeps_every_flushed_decision_and_only_whole_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), url], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    decided: list[str] = []
    durable_at = None
    try:
        for line in proc.stdout:
            line = line.strip()
            if line == "DURABLE":
                durable_at = len(decided)
                continue
            decided.append(line)
            if durable_at is not None and len(decided) >= durable_at + 400:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert durable_at == 200
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT auth_id, decision_json, features_json, names_json, feature_values "
            "FROM decision_log LEFT JOIN decision_feature_sets ON set_id = feature_set")).all()
    logged = {r.auth_id for r in rows}
    # everything flushed before the crash survived
    assert {f"a{i}" for i in range(200)} <= logged
    # nothing that was never decided, and every row whole
    assert logged <= set(decided) | {f"a{len(decided)}"}
    for r in rows:
        assert json.loads(r.decision_json)["auth_id"] == r.auth_id
        assert "txn_amount_fen" in stored_features(r.features_json, r.names_json,
                                                   r.feature_values)
    # a restarted engine answers logged ids from the log, without deciding again
    restarted = AuthorizationEngine(EngineConfig(db_url=url), model=None)
    first = json.loads(rows[0].decision_json)
    from cardmind.decisions.types import AuthorizationRequest

    again = restarted.decide(AuthorizationRequest(
        auth_id=rows[0].auth_id, card_token="c", merchant_id="m", terminal_id="t",
        ts="2026-03-01T00:00:00", amount_fen=100, mcc="5411", channel="pos_chip", city="x"))
    assert again.model_dump(mode="json") == first and not again.standin
    assert restarted.health()["decisions"] == 0 and restarted.health()["duplicates"] == 1
    restarted.close()
