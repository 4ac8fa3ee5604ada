"""A restarted engine equals one that never stopped: the decision and repayment logs replayed
into its state.

The reference engine decides the whole stream (authorizations with repayments between them) in
one process. Engine A decides the first part and is closed; engine B is built from the same
dataset and database, restores, and decides the rest. Accounts, temporary credit, the portfolio's
temp-credit budget, online feature vectors (repayment features included), the reversal cache,
repayment idempotency and the next decisions must be those of the reference.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, delete, select, text, update

from cardmind.decisions._data import connect
from cardmind.decisions.accounts import AccountBook
from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.decisions.replay import _REQUEST_FIELDS
from cardmind.decisions.smart_credit import SmartCredit
from cardmind.decisions.types import AuthorizationRequest, Label, RepaymentRequest
from cardmind.settings import get_settings
from cardmind.storage.decision_log import DecisionLogRow, TempCreditGrantRow

#: Catalog features the test model reads: velocity, returns, customer, device, label-delayed and
#: repayment (spending since the latest repayment reads both the repayments and the purchases).
NAMES = ("card_count_1h", "card_count_1h_approved", "card_amount_sum_24h", "card_count_1h_returns",
         "card_time_since_last_1h", "customer_count_1h", "merchant_fraud_count_7d",
         "merchant_fraud_rate_7d_delay1d", "device_count_24h", "card_amount_sum_24h_approved",
         "card_repayment_amount_sum_7d", "card_repayment_spend_since_7d",
         "customer_repayment_count_7d_other_payer")
_REPAYMENT_FIELDS = tuple(RepaymentRequest.model_fields)


class HashModel:
    """A score that is a hash of the feature vector: any difference in state changes it."""

    feature_names = NAMES
    version = "hash-1"

    def predict_one(self, row):
        h = hashlib.blake2b(repr([row.get(n) for n in NAMES]).encode(), digest_size=8).digest()
        u = int.from_bytes(h, "big") / 2**64
        return 0.01 + 0.05 * u if u < 0.9 else 0.3 + 0.7 * u  # mostly approved, some declined

    def explain(self, row, top=2):
        return []


# --- the stream ----------------------------------------------------------------------------------

class Stream:
    """Dataset authorizations after ``until`` plus injected cases, cut in two at ``cut``; the
    dataset's repayments of that time (and injected ones) are applied before the authorization
    that follows them (``repay_before``: auth_id -> repayments, applied at its first decision)."""

    def __init__(self, data):
        _, con = connect(data)
        end = con.execute("SELECT max(ts) FROM authorizations").fetchone()[0]
        self.until = end - timedelta(days=2)
        rows = con.execute(f"SELECT {', '.join(_REQUEST_FIELDS)} FROM authorizations "
                           "WHERE ts >= $1 ORDER BY ts, auth_id", [self.until]).fetchall()
        reqs = [AuthorizationRequest(**dict(zip(_REQUEST_FIELDS, r, strict=True))) for r in rows]
        book = AccountBook.from_dataset(data, until=self.until)
        t1 = self.until + timedelta(seconds=1)
        over = []  # over-limit purchases of cards that smart credit may rescue
        policy = SmartCredit()
        for r in reqs:
            a = book.get(r.card_token)
            if a is None or r.card_token in {o.card_token for o in over}:
                continue
            avail = a.available_fen(t1)
            if (a.tenure_days(t1) >= 120 and a.days_past_due == 0 and avail > 50_000
                    and policy.card_cap(a) - a.temp_active(t1) > 40_000):
                over.append(r.model_copy(update=dict(
                    auth_id=f"over-{len(over)}", ts=t1, amount_fen=avail + 20_000)))
            if len(over) == 3:
                break
        purchases = [r for r in reqs if r.message_type == "purchase"]
        half = len(reqs) * 3 // 5
        first, rest = reqs[:half], reqs[half:]
        self.cut_ts = first[-1].ts
        unknown = first[5].model_copy(update=dict(auth_id="unknown-1", card_token="no-such-card"))
        # reversals across the restart: of purchases decided before it
        later_rev = [p.model_copy(update=dict(
            auth_id=f"rev-{i}", message_type="reversal", original_auth_id=p.auth_id,
            ts=rest[0].ts)) for i, p in enumerate(purchases[10:16])]
        refund = purchases[20].model_copy(update=dict(
            auth_id="refund-1", message_type="refund", original_auth_id=purchases[20].auth_id,
            amount_fen=max(1, purchases[20].amount_fen // 2), ts=rest[0].ts))
        self.first = [*over, *first[:50], unknown, first[10], *first[50:]]  # first[10]: a retry
        self.rest = [*later_rev, refund, first[7], *rest]  # first[7]: a retry after the restart
        self.labelled = [p.auth_id for p in purchases[:half][30:36]]  # labelled before the cut
        # repayments: the dataset's, each before the next authorization (none before the last 45
        # of the first part, which tests drop as lost), a large one on a card that got temporary
        # credit, its retry after the restart (frees nothing twice)
        self.repay_before: dict[str, list[RepaymentRequest]] = {}
        cur = con.execute(f"SELECT {', '.join(_REPAYMENT_FIELDS)} FROM repayments WHERE ts >= $1 "
                          "ORDER BY ts, repayment_id", [self.until])
        keyed = [*first[:-45], *rest]  # the dataset's authorizations, in time order
        k = 0
        for row in cur.fetchall():
            p = RepaymentRequest(**dict(zip(_REPAYMENT_FIELDS, row, strict=True)))
            while k < len(keyed) and keyed[k].ts < p.ts:
                k += 1
            if k < len(keyed):
                self.repay_before.setdefault(keyed[k].auth_id, []).append(p)
        big = RepaymentRequest(repayment_id="big-1", card_token=over[0].card_token, ts=t1,
                               amount_fen=over[0].amount_fen, channel="third_party_app",
                               payer_is_cardholder=False)
        self.repay_before.setdefault(first[0].auth_id, []).insert(0, big)
        self.repay_before.setdefault(rest[0].auth_id, []).insert(0, big)  # the retry
        self.repayments = list({p.repayment_id: p for ps in self.repay_before.values()
                                for p in ps}.values())
        self.repaid_first = {p.repayment_id: p.amount_fen for a in first[:-45]
                             for p in self.repay_before.get(a.auth_id, ())}

    def label(self, engine, auth_id, ts):
        engine.add_label(Label(auth_id=auth_id, label="fraud", reported_at=ts))

    def run(self, engine, reqs, repaid=None):
        """Decide ``reqs``; the repayments before an authorization are applied at its first
        decision (their results appended to ``repaid``)."""
        out, seen = [], set()
        for r in reqs:
            if r.auth_id not in seen:
                seen.add(r.auth_id)
                for p in self.repay_before.get(r.auth_id, ()):
                    result = engine.repay(p)
                    if repaid is not None:
                        repaid.append(result)
            out.append(engine.decide(r))
        return out

    def run_first(self, engine, repaid=None):
        out = self.run(engine, self.first, repaid)
        for aid in self.labelled:
            self.label(engine, aid, self.cut_ts - timedelta(minutes=1))
        return out

    def run_rest(self, engine, repaid=None):
        return self.run(engine, self.rest, repaid)


def essence(d):
    """What the decision says (its audit timing and latency differ between processes)."""
    return (d.auth_id, d.action, d.response_code, d.temp_credit_fen, d.temp_credit_expires_at,
            d.fraud_score, d.available_credit_fen, tuple(d.reason_codes), d.standin)


def repaid_essence(r):
    """What a repayment answer says (``received_at`` is the time of the process that applied it)."""
    return (r.repayment_id, r.card_token, r.amount_fen, r.balance_fen,
            r.available_credit_before_fen, r.available_credit_fen, r.temp_credit_fen)


def state(engine, stream):
    """Everything a restart must bring back, for the cards and purchases the stream touched."""
    reqs = stream.first + stream.rest
    cards = sorted({r.card_token for r in [*reqs, *stream.repayments]
                    if r.card_token in engine.accounts})
    t = stream.rest[-1].ts + timedelta(minutes=1)
    accounts = {c: (a.balance_fen, a.temp_credit_fen, a.temp_expires_at, a.available_fen(t))
                for c in cards for a in [engine.accounts.get(c)]}
    purchases = {}
    for r in reqs:
        for aid in (r.auth_id, r.original_auth_id):
            p = engine._purchases.get(aid or "")
            if p is not None:
                purchases[aid] = (p.card_token, p.amount_fen, p.approved, p.reversed)
    last = {r.card_token: r for r in reqs}
    vectors = {}
    for c in cards:
        probe = last.get(c, reqs[0].model_copy(update=dict(card_token=c, customer_id=None)))
        probe = probe.model_copy(update=dict(auth_id=f"probe-{c}", ts=t, message_type="purchase",
                                               original_auth_id=None)).as_event()
        probe["customer_id"] = probe["customer_id"] or engine.accounts.get(c).customer_id
        vectors[c] = {k: ("nan" if isinstance(v, float) and math.isnan(v) else v)
                      for k, v in engine.features.features_for(probe).items()}
    days = sorted({r.ts.date() for r in reqs})
    budget = [engine.credit.used_today(r.ts) for r in reqs]
    repaid = sorted({p.repayment_id for p in stream.repayments} & engine._logged_repayments)
    return {"accounts": accounts, "purchases": purchases, "vectors": vectors, "days": days,
            "budget": budget, "repaid": repaid}


def build(data, db_url, until):
    cfg = EngineConfig(db_url=db_url, log_flush_ms=5, latency_budget_us=60_000_000)
    return AuthorizationEngine.from_dataset(data, until=until, config=cfg, model=HashModel())


@pytest.fixture(scope="module")
def stream(tiny_dataset):
    return Stream(tiny_dataset)


@pytest.fixture(scope="module")
def reference(tiny_dataset, stream, tmp_path_factory):
    """The engine that never stopped: states after the first part and after the whole stream."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ref') / 'ref.db'}"
    engine = build(tiny_dataset, url, stream.until)
    repaid_first, repaid_rest = [], []
    first = stream.run_first(engine, repaid_first)
    mid = state(engine, stream)
    rest = stream.run_rest(engine, repaid_rest)
    end = state(engine, stream)
    engine.close()
    return {"first": first, "mid": mid, "rest": rest, "end": end, "repaid_first": repaid_first,
            "repaid_rest": repaid_rest}


def _pg_url(postgres_url):
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    return f"{postgres_url}?options=-csearch_path%3D{schema}", schema


def _restart_matches_the_engine_that_never_stopped(data, stream, reference, url):
    a = build(data, url, stream.until)
    assert a.restored.decisions == a.restored.repayments == 0  # an empty log changes nothing
    repaid = []
    assert [essence(d) for d in stream.run_first(a, repaid)] == [essence(d) for d in
                                                                  reference["first"]]
    assert [repaid_essence(r) for r in repaid] == [repaid_essence(r) for r in
                                                   reference["repaid_first"]]
    a.close()

    b = build(data, url, stream.until)
    report = b.restored
    n_logged = len({r.auth_id for r in stream.first})
    assert report.decisions == n_logged and report.labels == len(stream.labelled)
    assert report.repayments == len(stream.repaid_first) > 5
    assert report.repaid_fen == sum(stream.repaid_first.values())
    assert report.temp_credit_grants > 0
    assert report.returns == sum(r.message_type != "purchase" for r in stream.first)
    assert report.mismatches == report.skipped == report.feature_errors == 0
    assert b.health()["restored"]["decisions"] == n_logged
    assert state(b, stream) == reference["mid"]
    repaid = []
    rest = stream.run_rest(b, repaid)
    assert [essence(d) for d in rest] == [essence(d) for d in reference["rest"]]
    assert any(d.reason_codes == ["REVERSAL_APPLIED"] for d in rest)  # matched across the restart
    assert [repaid_essence(r) for r in repaid] == [repaid_essence(r) for r in
                                                   reference["repaid_rest"]]
    assert b.health()["repayment_duplicates"] == 1  # the retry of big-1 after the restart
    b.close()
    return report


def test_a_restarted_engine_equals_one_that_never_stopped(tiny_dataset, stream, reference,
                                                          tmp_path):
    url = f"sqlite:///{tmp_path / 'cm.db'}"
    first = _restart_matches_the_engine_that_never_stopped(tiny_dataset, stream, reference, url)
    # restart twice: the same state, nothing counted twice
    for _ in range(2):
        c = build(tiny_dataset, url, stream.until)
        assert c.restored.decisions == first.decisions + len({r.auth_id for r in stream.rest}) - 1
        assert c.restored.returns == sum(r.message_type != "purchase"
                                         for r in {r.auth_id: r for r in stream.first
                                                   + stream.rest}.values())
        assert c.restored.repayments == len({p.repayment_id for p in stream.repayments})
        assert c.restored.mismatches == 0
        assert state(c, stream) == reference["end"]
        c.close()
    print(f"\nrestore: {first.summary()}")


@pytest.mark.postgres
def test_restart_on_postgres(tiny_dataset, stream, reference, postgres_url):
    url, schema = _pg_url(postgres_url)
    try:
        _restart_matches_the_engine_that_never_stopped(tiny_dataset, stream, reference, url)
    finally:
        admin = create_engine(postgres_url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.mark.redis
def test_restart_with_features_in_redis(tiny_dataset, stream, reference, redis_url, tmp_path,
                                        monkeypatch):
    monkeypatch.setenv("CARDMIND_ONLINE_STORE", redis_url)
    # a namespace of its own: other runs of this test on the same Redis must not share the state
    monkeypatch.setenv("CARDMIND_ONLINE_NAMESPACE", f"cardmind:test:{uuid.uuid4().hex}:")
    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'cm.db'}"
    _restart_matches_the_engine_that_never_stopped(tiny_dataset, stream, reference, url)
    c = build(tiny_dataset, url, stream.until)  # bootstrap clears the namespace: no double count
    assert type(c.features.store).__name__ == "RedisStore"
    assert state(c, stream) == reference["end"]
    c.features.store.clear()
    c.close()


def test_only_committed_decisions_are_restored(tiny_dataset, stream, tmp_path):
    """A process killed mid-write leaves whole rows only (ADR 0005): the restored state is that of
    an engine that decided exactly the committed decisions."""
    url = f"sqlite:///{tmp_path / 'cm.db'}"
    a = build(tiny_dataset, url, stream.until)
    stream.run_first(a)
    a.close()
    lost = {r.auth_id for r in stream.first[-40:]}
    db = create_engine(url)
    with db.begin() as conn:  # the last batches never reached the database
        conn.execute(delete(DecisionLogRow.__table__).where(DecisionLogRow.auth_id.in_(lost)))
        conn.execute(delete(TempCreditGrantRow.__table__)
                     .where(TempCreditGrantRow.auth_id.in_(lost)))
    db.dispose()
    b = build(tiny_dataset, url, stream.until)
    ref = build(tiny_dataset, f"sqlite:///{tmp_path / 'ref.db'}", stream.until)
    committed = replace_stream(stream, [r for r in stream.first if r.auth_id not in lost])
    committed.run_first(ref)
    assert state(b, committed) == state(ref, committed)
    assert b.restored.mismatches == 0
    # a retry of a lost authorization is decided again (it was never answered durably)
    retry = next(r for r in stream.first if r.auth_id in lost)
    assert essence(b.decide(retry)) == essence(ref.decide(retry))
    b.close()
    ref.close()


def replace_stream(stream, first):
    s = Stream.__new__(Stream)
    s.__dict__.update(stream.__dict__)
    s.first = first
    return s


def test_lossy_rows_are_completed_or_skipped_and_said(tiny_dataset, stream, tmp_path):
    url = f"sqlite:///{tmp_path / 'cm.db'}"
    a = build(tiny_dataset, url, stream.until)
    decided = [a.decide(r) for r in stream.first[:40]]
    a.close()
    ids = [d.auth_id for d in decided]
    db = create_engine(url)
    with db.begin() as conn:
        # request JSON without optional fields (defaults), or required ones (row's columns)
        for aid, drop in [(ids[3], {"device_id", "cross_border", "pan_last4", "customer_id"}),
                          (ids[4], {"merchant_id", "city"})]:
            req = next(r for r in stream.first if r.auth_id == aid)
            conn.execute(update(DecisionLogRow.__table__).where(DecisionLogRow.auth_id == aid)
                         .values(request_json=req.model_dump_json(exclude=drop)))
        # a request JSON that lost its time: the columns cannot place it, it is skipped
        conn.execute(update(DecisionLogRow.__table__)
                     .where(DecisionLogRow.auth_id == ids[7]).values(request_json="{}"))
        # no decision JSON: the columns and the restored state decide
        conn.execute(update(DecisionLogRow.__table__)
                     .where(DecisionLogRow.auth_id == ids[8]).values(decision_json="not json"))
    db.dispose()
    b = build(tiny_dataset, url, stream.until)
    r = b.restored
    assert (r.decisions, r.skipped) == (39, 1)
    assert r.partial == 1 and r.feature_errors == 0
    assert "skipped: 1" in r.summary()
    b.close()


def test_decisions_before_the_datasets_end_are_not_replayed(tiny_dataset, stream, tmp_path):
    """The dataset is the truth up to its as-of time: a later dataset holds what was decided."""
    url = f"sqlite:///{tmp_path / 'cm.db'}"
    a = build(tiny_dataset, url, stream.until)
    stream.run_first(a)
    a.close()
    b = build(tiny_dataset, url, stream.cut_ts + timedelta(seconds=1))
    assert b.restored.decisions == 0 and b.restored.older == len({r.auth_id for r in stream.first})
    assert (b.restored.repayments, b.restored.older_repayments) == (0, len(stream.repaid_first))
    b.close()


def test_restore_reads_only_the_rows_after_the_datasets_end(tiny_dataset, stream, tmp_path):
    """The ``request_ts`` column (indexed) selects the rows: those before the dataset's end are
    counted, never read; a row without it (a request time the migration could not read) is
    read and placed by its JSON, as before the column existed."""
    url = f"sqlite:///{tmp_path / 'cm.db'}"
    a = build(tiny_dataset, url, stream.until)
    decided = [a.decide(r) for r in stream.first[:30]]
    a.close()
    reqs = {r.auth_id: r for r in stream.first[:30]}
    ids = [d.auth_id for d in decided]
    cut = sorted(reqs[i].ts for i in ids)[10]  # a later dataset's end: 10 decisions before it
    before = [i for i in ids if reqs[i].ts < cut]
    assert len(before) == 10 and not set(ids[-3:]) & set(before)
    t = DecisionLogRow.__table__
    db = create_engine(url)
    with db.begin() as conn:
        got = dict(conn.execute(select(t.c.auth_id, t.c.request_ts)).all())
        assert got == {i: reqs[i].ts.replace(tzinfo=None) for i in ids}  # SQLite: wall clock
        # unreadable requests before the cut: reading them would count them as skipped
        conn.execute(update(t).where(t.c.auth_id.in_(before)).values(request_json="not json"))
        # after the cut but without request_ts: still read, placed by the JSON
        conn.execute(update(t).where(t.c.auth_id.in_(ids[-3:])).values(request_ts=None))
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT auth_id FROM decision_log "
            "WHERE request_ts >= ? OR request_ts IS NULL", ("2026-01-01",)))
    db.dispose()
    assert "ix_decision_log_request_ts" in plan
    b = build(tiny_dataset, url, cut)
    r = b.restored
    assert (r.decisions, r.older, r.skipped) == (len(ids) - len(before), len(before), 0)
    b.close()


def test_replayed_decisions_stay_idempotent_beyond_the_idempotency_window(tiny_dataset, stream,
                                                                           tmp_path):
    url = f"sqlite:///{tmp_path / 'cm.db'}"
    a = build(tiny_dataset, url, stream.until)
    first = [a.decide(r) for r in stream.first[:20]]
    a.close()
    db = create_engine(url)
    t = DecisionLogRow.__table__
    with db.begin() as conn:  # decided a month ago (wall clock): outside idempotency_days
        for aid, at in conn.execute(select(t.c.auth_id, t.c.decided_at)).all():
            conn.execute(update(t).where(t.c.auth_id == aid)
                         .values(decided_at=at - timedelta(days=30)))
    db.dispose()
    b = build(tiny_dataset, url, stream.until)
    assert b.restored.decisions == 20
    balance = {c: b.accounts.get(c).balance_fen for c in {r.card_token for r in stream.first[:20]}}
    again = [b.decide(r) for r in stream.first[:20]]  # retries: answered from the log
    assert [essence(d) for d in again] == [essence(d) for d in first]
    assert b.health()["duplicates"] == 20 and b.health()["decisions"] == 0
    assert {c: b.accounts.get(c).balance_fen for c in balance} == balance
    b.close()


def test_restore_applies_what_the_live_engine_did_not_what_the_book_says_now(engine_factory,
                                                                             make_req):
    """A stand-in for unavailable account state approved without debiting; an unknown card fed
    nothing: replayed the same way, even when the restored book knows the card."""
    from tests.decisions.conftest import make_book

    from cardmind.decisions.restore import restore

    a = engine_factory(book=make_book())
    real_get = a.accounts.get
    a.accounts.get = lambda card: (_ for _ in ()).throw(RuntimeError("account store down"))
    standin = a.decide(make_req("s1", amount=7_000))
    a.accounts.get = real_get
    assert standin.reason_codes[0] == "STANDIN_ACCOUNT" and standin.action == "APPROVE"
    normal = a.decide(make_req("n1", amount=3_000))
    a.close()
    b = engine_factory(book=make_book())
    report = restore(b, since=None)
    assert (report.decisions, report.mismatches) == (2, 0)
    assert b.accounts.get("good").balance_fen == a.accounts.get("good").balance_fen == 503_000
    assert b._purchases["s1"].approved and normal.action == "APPROVE"


KILLED_CHILD = '''
import sys
from datetime import datetime
from tests.decisions.test_restore import HashModel, Stream, build

data, url = sys.argv[1], sys.argv[2]
stream = Stream(data)
engine = build(data, url, stream.until)
engine._log.flush_ms, engine._log.batch = 20, 64  # several commits while the parent reads
for i, r in enumerate(stream.first + stream.rest):
    engine.decide(r)
    print(r.auth_id, flush=True)
    if i == 150:
        engine.flush()
        print("DURABLE", flush=True)
'''


def test_a_process_killed_mid_stream_restores_exactly_its_committed_decisions(tiny_dataset,
                                                                              stream, tmp_path):
    """``kill -9`` while deciding: a restart restores the committed decisions, no more, no less,
    and equals an engine that decided just those."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    url = f"sqlite:///{tmp_path / 'cm.db'}"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(tiny_dataset), url], stdout=subprocess.PIPE,
        text=True, cwd=root, env={**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(root), str(root / "src"), os.environ.get("PYTHONPATH", "")])})
    decided, durable = [], None
    try:
        for line in proc.stdout:
            if line.strip() == "DURABLE":
                durable = len(decided)
            elif line.strip():
                decided.append(line.strip())
            if durable is not None and len(decided) >= durable + 120:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert durable is not None
    db = create_engine(url)
    with db.connect() as conn:
        t = DecisionLogRow.__table__
        logged = [a for (a,) in conn.execute(select(t.c.auth_id).order_by(t.c.decided_at))]
    db.dispose()
    order = [r.auth_id for r in stream.first + stream.rest]
    printing = order[len(decided)] if len(decided) < len(order) else None  # killed before print
    assert set(decided[:durable]) <= set(logged) <= set(decided) | {printing}
    b = build(tiny_dataset, url, stream.until)
    assert b.restored.decisions == len(logged) and b.restored.mismatches == 0
    by_id = {r.auth_id: r for r in stream.first + stream.rest}
    committed = replace_stream(stream, [by_id[a] for a in logged])
    committed.rest = committed.first[-1:]
    ref = build(tiny_dataset, f"sqlite:///{tmp_path / 'ref.db'}", stream.until)
    for r in committed.first:
        ref.decide(r)
    assert state(b, committed) == state(ref, committed)
    b.close()
    ref.close()
