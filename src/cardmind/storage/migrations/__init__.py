"""Alembic migrations for the authorization tables (decision log, temp-credit grants, labels, lists,
repayments).

``create_all`` stays the quick path for a fresh embedded database; a long-lived database (the
production PostgreSQL) is upgraded with these migrations instead, so that a schema change never
needs a drop:

>>> import tempfile
>>> url = f"sqlite:///{tempfile.mkdtemp()}/m.db"
>>> upgrade(url)
>>> current(url)
'0004_decision_log_features'

Tables of other areas are created by ``create_all`` until their owners add migrations here.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


def _config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser escaping
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Upgrade the database at ``url`` (default: the configured one) to ``revision``."""
    from alembic import command

    from cardmind.settings import get_settings

    command.upgrade(_config(url or get_settings().db_url_resolved()), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision``."""
    from alembic import command

    command.downgrade(_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
