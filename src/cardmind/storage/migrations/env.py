"""Alembic environment: runs the migrations of this folder on ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool


def run_offline() -> None:
    context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"),
                           poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()


try:
    _offline = context.is_offline_mode()
except (NameError, AttributeError):  # imported outside Alembic (e.g. doctest collection)
    _offline = None
if _offline is True:
    run_offline()
elif _offline is False:
    run_online()
