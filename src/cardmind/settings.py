"""Settings in one place: environment variables with the ``CARDMIND_`` prefix.

| variable | default | meaning |
|---|---|---|
| ``CARDMIND_HOME`` | ``~/.cardmind`` | model registry, SQLite file, reports, local secrets |
| ``CARDMIND_DB_URL`` | ``sqlite:///$CARDMIND_HOME/cardmind.db`` | SQLAlchemy URL (``postgresql+psycopg://...``) |
| ``CARDMIND_ONLINE_STORE`` | ``memory://`` | online feature state (``redis://host:6379/0``) |
| ``CARDMIND_ONLINE_NAMESPACE`` | ``cardmind:online:`` | prefix of the online state's Redis keys (one per deployment sharing a server) |
| ``CARDMIND_PAN_KEY`` | generated once into ``$CARDMIND_HOME/secrets/pan_key`` | HMAC key for card tokens |
| ``CARDMIND_TIMEZONE`` | ``Asia/Shanghai`` | time zone of naive timestamps and of reports |

>>> s = Settings(home="/tmp/cm-example")
>>> str(s.db_url_resolved())
'sqlite:////tmp/cm-example/cardmind.db'
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Typed settings read from ``CARDMIND_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CARDMIND_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".cardmind")
    db_url: str | None = None
    online_store: str = "memory://"
    online_namespace: str = Field(default="cardmind:online:", min_length=1, pattern=r"^\S+$")
    pan_key: str | None = Field(default=None, repr=False)
    timezone: str = "Asia/Shanghai"

    def db_url_resolved(self) -> str:
        """The database URL, defaulting to a SQLite file under ``home``."""
        return self.db_url or f"sqlite:///{self.home / 'cardmind.db'}"

    def pan_key_bytes(self) -> bytes:
        """The HMAC key for card tokens: from the environment, else a local key file.

        The local file is created once with mode 0600 under ``$CARDMIND_HOME/secrets`` so that a
        demo works out of the box; production sets ``CARDMIND_PAN_KEY`` from its secret store.
        """
        if self.pan_key:
            return self.pan_key.encode()
        path = self.home / "secrets" / "pan_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip().encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
