"""The declarative base, the engine from settings, and sessions.

``CARDMIND_DB_URL`` chooses the database (default: SQLite file under ``CARDMIND_HOME``); the
same code runs on PostgreSQL.

>>> engine = make_engine("sqlite://")
>>> create_all(engine)
>>> engine.dialect.name
'sqlite'
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from cardmind.settings import get_settings


class Base(DeclarativeBase):
    """Base of every cardmind table."""


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: the configured database), with SQLite tuned for WAL."""
    url = url or get_settings().db_url_resolved()
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # 16 KB pages (a new file only; an existing one keeps its size): a decision-log row
            # is ~2.3 KB, so 4 KB pages held one row each and every commit wrote ~2x the bytes
            cur.execute("PRAGMA page_size=16384")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def create_all(engine: Engine) -> None:
    """Create every table declared on :class:`Base` (importing the table modules first), and
    bring a decision log that an earlier version created up to date
    (:func:`cardmind.storage.decision_log.upgrade_decision_log` and
    :func:`~cardmind.storage.decision_log.upgrade_decision_log_features`, idempotent)."""
    import cardmind.storage.tables  # noqa: F401  (registers all table modules)
    from cardmind.storage.decision_log import (
        upgrade_decision_log,
        upgrade_decision_log_features,
    )

    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        upgrade_decision_log(conn)
        upgrade_decision_log_features(conn)


def session_factory(engine: Engine) -> sessionmaker:
    """A session factory bound to ``engine``."""
    return sessionmaker(engine, expire_on_commit=False)
