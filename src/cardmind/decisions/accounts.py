"""Card-account state for authorization: limit, balance, open-to-buy, temporary credit.

The engine must know each card's available credit at the moment of a purchase. ``AccountBook``
holds one :class:`CardAccount` per card in memory, bootstrapped from a dataset as of a moment
(``AccountBook.from_dataset(ds, until=...)``) and updated by every decision: approved purchases
raise the balance, reversals and refunds lower it, repayments lower it, temporary credit raises
the open-to-buy until it expires.

Bootstrap per card: the permanent limit of the latest statement before ``until`` (else the card's
opening limit); the balance implied by the card's last authorization before ``until``
(``limit - available_credit_fen`` then that authorization's own effect, plus interest and fees
of statements cut since), else by its latest
statement plus later purchases; minus repayments after that point. Every card of the card
master file is loaded (the issuer knows a card from the day it issues it; cards opened later
start at a zero balance). Card ``status`` in the
``cards`` table is the status at the end of the data (future information), so it is not used:
a card is ``active`` unless it was charged off before ``until``.

>>> from datetime import date, datetime
>>> book = AccountBook()
>>> book.put(CardAccount(card_token="c1", customer_id="u1", limit_fen=100_000, balance_fen=90_000,
...     opened_at=date(2020, 1, 1)))
>>> now = datetime(2026, 3, 1, tzinfo=TZ)
>>> book.get("c1").available_fen(now)
10000
>>> book.purchase("c1", 5_000); book.get("c1").available_fen(now)
5000
>>> book.grant_temp("c1", 20_000, now.replace(day=20)); book.get("c1").available_fen(now)
25000
>>> book.get("c1").available_fen(now.replace(month=4))  # temp credit expired
5000
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from cardmind.units import TZ


@dataclass(slots=True, kw_only=True)
class CardAccount:
    """Credit state of one card (money in fen)."""

    card_token: str
    customer_id: str
    limit_fen: int
    balance_fen: int = 0
    opened_at: date | None = None
    product_tier: str = "classic"
    status: str = "active"
    temp_credit_fen: int = 0
    temp_expires_at: datetime | None = None
    days_past_due: int = 0
    repaid_ratio: float = 1.0  # last statement: repayments / previous balance (1 if nothing owed)
    avg_purchases_fen: int = 0  # mean purchases of the last 3 statements

    def temp_active(self, now: datetime) -> int:
        if self.temp_credit_fen and self.temp_expires_at is not None and now < self.temp_expires_at:
            return self.temp_credit_fen
        return 0

    def available_fen(self, now: datetime) -> int:
        """Open-to-buy: limit + active temporary credit - balance (may be negative)."""
        return self.limit_fen + self.temp_active(now) - self.balance_fen

    def tenure_days(self, now: datetime) -> int:
        return (now.date() - self.opened_at).days if self.opened_at else 0


class AccountBook:
    """All card accounts, thread-safe for single updates."""

    def __init__(self) -> None:
        self._accounts: dict[str, CardAccount] = {}
        self._lock = threading.Lock()
        self.as_of: datetime | None = None

    def __len__(self) -> int:
        return len(self._accounts)

    def __contains__(self, card_token: str) -> bool:
        return card_token in self._accounts

    def get(self, card_token: str) -> CardAccount | None:
        return self._accounts.get(card_token)

    def put(self, account: CardAccount) -> None:
        self._accounts[account.card_token] = account

    def purchase(self, card_token: str, amount_fen: int) -> None:
        """An approved purchase raises the balance."""
        with self._lock:
            self._accounts[card_token].balance_fen += amount_fen

    def credit(self, card_token: str, amount_fen: int) -> None:
        """A reversal, refund or repayment lowers the balance (unknown cards are ignored)."""
        with self._lock:
            acct = self._accounts.get(card_token)
            if acct is not None:
                acct.balance_fen -= amount_fen

    def grant_temp(self, card_token: str, amount_fen: int, expires_at: datetime) -> None:
        """Add temporary credit (stacking on an active grant, extending its expiry)."""
        with self._lock:
            acct = self._accounts[card_token]
            now_active = acct.temp_expires_at is not None and acct.temp_credit_fen > 0
            if now_active and acct.temp_expires_at is not None and acct.temp_expires_at > expires_at:
                expires_at = acct.temp_expires_at
            acct.temp_credit_fen = (acct.temp_credit_fen if now_active else 0) + amount_fen
            acct.temp_expires_at = expires_at

    @classmethod
    def from_dataset(cls, data: str | Path, *, until: datetime | None = None) -> AccountBook:
        """Bootstrap every card's state as of ``until`` (default: end of the data)."""
        from cardmind.decisions._data import connect

        ds, con = connect(data)
        has = set(ds.tables())
        if until is None:
            until = con.execute("SELECT max(ts) FROM authorizations").fetchone()[0] if (
                "authorizations" in has) else datetime.now(TZ)
        until = until.astimezone(TZ) if until.tzinfo else until.replace(tzinfo=TZ)
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        params = {"until": until}
        stmt_cte = (
            """
            stm AS (
              SELECT card_token, credit_limit_fen, new_balance_fen, installment_outstanding_fen,
                     days_past_due, repayments_fen, previous_balance_fen, statement_date,
                     avg(purchases_fen) OVER (PARTITION BY card_token ORDER BY statement_date
                       ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS avg_purchases,
                     row_number() OVER (PARTITION BY card_token ORDER BY statement_date DESC) AS rn
              FROM statements WHERE statement_date < CAST($until AS DATE)
            ), last_stm AS (SELECT * FROM stm WHERE rn = 1)"""
            if "statements" in has
            else """last_stm AS (SELECT NULL::VARCHAR AS card_token, NULL::BIGINT AS credit_limit_fen,
                NULL::BIGINT AS new_balance_fen, NULL::BIGINT AS installment_outstanding_fen,
                NULL::INT AS days_past_due, NULL::BIGINT AS repayments_fen,
                NULL::BIGINT AS previous_balance_fen, NULL::DATE AS statement_date,
                NULL::DOUBLE AS avg_purchases WHERE false)"""
        )
        auth_cte = (
            """
            last_auth AS (
              SELECT * FROM (
                SELECT card_token, ts, available_credit_fen, amount_fen, message_type, approved,
                       row_number() OVER (PARTITION BY card_token ORDER BY ts DESC, auth_id DESC) rn
                FROM authorizations WHERE ts < $until) WHERE rn = 1
            ), after_stm AS (
              SELECT a.card_token,
                     sum(CASE WHEN a.message_type = 'purchase' THEN a.amount_fen
                              ELSE -a.amount_fen END) AS net
              FROM authorizations a LEFT JOIN last_stm s USING (card_token)
              WHERE a.approved AND a.ts < $until
                AND (s.statement_date IS NULL OR CAST(a.ts AS DATE) > s.statement_date)
              GROUP BY a.card_token
            )"""
            if "authorizations" in has
            else """last_auth AS (SELECT NULL::VARCHAR card_token, NULL::TIMESTAMPTZ ts,
                NULL::BIGINT available_credit_fen, NULL::BIGINT amount_fen,
                NULL::VARCHAR message_type, NULL::BOOLEAN approved WHERE false),
              after_stm AS (SELECT NULL::VARCHAR card_token, NULL::BIGINT net WHERE false)"""
        )
        rep_cte = (
            """
            rep AS (
              SELECT r.card_token,
                     sum(CASE WHEN la.ts IS NOT NULL AND r.ts > la.ts THEN r.amount_fen ELSE 0 END)
                       AS after_auth,
                     sum(CASE WHEN ls.statement_date IS NULL
                               OR CAST(r.ts AS DATE) > ls.statement_date THEN r.amount_fen ELSE 0 END)
                       AS after_stm
              FROM repayments r LEFT JOIN last_auth la USING (card_token)
                   LEFT JOIN last_stm ls USING (card_token)
              WHERE r.ts < $until GROUP BY r.card_token
            )"""
            if "repayments" in has
            else "rep AS (SELECT NULL::VARCHAR card_token, 0 after_auth, 0 after_stm WHERE false)"
        )
        chg_cte = (
            """
            chg AS (
              SELECT s.card_token, sum(s.interest_fen + s.fees_fen) AS charged
              FROM statements s JOIN last_auth la USING (card_token)
              WHERE s.statement_date >= CAST(la.ts AS DATE)
                AND s.statement_date < CAST($until AS DATE)
              GROUP BY s.card_token
            )"""
            if "statements" in has
            else "chg AS (SELECT NULL::VARCHAR card_token, 0 charged WHERE false)"
        )
        co_cte = (
            "co AS (SELECT DISTINCT card_token FROM charge_offs WHERE charged_off_at < CAST($until AS DATE))"
            if "charge_offs" in has
            else "co AS (SELECT NULL::VARCHAR card_token WHERE false)"
        )
        sql = f"""
        WITH {stmt_cte}, {auth_cte}, {rep_cte}, {chg_cte}, {co_cte}
        SELECT c.card_token, c.customer_id, c.product_tier, c.opened_at,
               coalesce(s.credit_limit_fen, c.credit_limit_fen) AS limit_fen,
               CASE
                 WHEN la.card_token IS NOT NULL THEN
                   coalesce(s.credit_limit_fen, c.credit_limit_fen) - la.available_credit_fen
                   + CASE WHEN la.approved AND la.message_type = 'purchase' THEN la.amount_fen
                          WHEN la.approved THEN -la.amount_fen ELSE 0 END
                   - coalesce(rep.after_auth, 0) + coalesce(chg.charged, 0)
                 ELSE coalesce(s.new_balance_fen, 0) + coalesce(s.installment_outstanding_fen, 0)
                   + coalesce(am.net, 0) - coalesce(rep.after_stm, 0)
               END AS balance_fen,
               coalesce(s.days_past_due, 0) AS dpd,
               CASE WHEN coalesce(s.previous_balance_fen, 0) <= 0 THEN 1.0
                    ELSE least(1.0, s.repayments_fen / s.previous_balance_fen) END AS repaid_ratio,
               coalesce(s.avg_purchases, 0) AS avg_purchases,
               co.card_token IS NOT NULL AS charged_off
        FROM cards c
        LEFT JOIN last_stm s USING (card_token)
        LEFT JOIN last_auth la USING (card_token)
        LEFT JOIN after_stm am USING (card_token)
        LEFT JOIN rep USING (card_token)
        LEFT JOIN chg USING (card_token)
        LEFT JOIN co USING (card_token)
        """
        rows = con.execute(sql, params).fetchall()
        book = cls()
        for (token, cust, tier, opened, limit, bal, dpd, ratio, avg_p, charged) in rows:
            book.put(CardAccount(
                card_token=token, customer_id=cust, product_tier=tier or "classic",
                opened_at=opened, limit_fen=int(limit), balance_fen=int(bal),
                status="charged_off" if charged else "active", days_past_due=int(dpd),
                repaid_ratio=float(ratio), avg_purchases_fen=int(avg_p),
            ))
        book.as_of = until
        return book
