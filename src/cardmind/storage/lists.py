"""Table of block/trust list entries (cards, merchants, devices, terminals, categories).

The authorization engine caches the whole table in memory (:mod:`cardmind.decisions.lists`);
this module only declares the rows.

>>> from cardmind.storage.base import make_engine, create_all
>>> engine = make_engine("sqlite://"); create_all(engine)
>>> ListEntryRow.__tablename__
'list_entries'
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cardmind.storage.base import Base


class ListEntryRow(Base):
    """One value on a block or trust list; a value is on at most one list of its kind."""

    __tablename__ = "list_entries"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_list_entries_kind_value"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    value: Mapped[str] = mapped_column(String(64))
    list_type: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    added_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
