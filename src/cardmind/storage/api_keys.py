"""The ``api_keys`` table: hashed HTTP API keys with their role (see :mod:`cardmind.api.security`).

Only the SHA-256 digest of a key is stored; the key itself is shown once when created.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from cardmind.storage.base import Base


class ApiKeyRow(Base):
    """One API key: a short public id, the digest, the role, a label and its life dates."""

    __tablename__ = "api_keys"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(8), index=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
