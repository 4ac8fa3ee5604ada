"""API keys and roles: who may call which endpoint.

Three roles (see ``docs/adr``, "HTTP API keys and roles"):

- ``scoring``: the authorization switch; may only score authorizations;
- ``analyst``: fraud and credit analysts; read decisions, report labels, edit lists, read rules;
- ``admin``: everything, and the only role that may change rules.

Keys never live in the repository. Two sources, both read at start-up:

- ``CARDMIND_API_KEYS="key1:admin,key2:scoring"`` in the environment (keys of 16+ characters);
- hashed keys in the database, created with ``cardmind apikeys create --role admin`` which prints
  the key once and stores only its SHA-256 (and revoked with ``cardmind apikeys revoke``).

Only SHA-256 digests are kept in memory; the raw key is hashed on arrival and looked up.

>>> store = KeyStore(env_keys=parse_env_keys("scoring-key-0123456789:scoring"))
>>> store.principal("scoring-key-0123456789").role
<Role.SCORING: 'scoring'>
>>> store.principal("wrong") is None
True
>>> Role.ADMIN.allows({Role.ANALYST}), Role.SCORING.allows({Role.ANALYST})
(True, False)
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader
from sqlalchemy import Engine, select, update

from cardmind.errors import InvalidInput

API_KEY_HEADER = "X-API-Key"
ENV_VARIABLE = "CARDMIND_API_KEYS"
MIN_KEY_LENGTH = 16
KEY_PREFIX = "cmk_"


class Role(StrEnum):
    """A caller's role; ``admin`` is allowed wherever any role is."""

    SCORING = "scoring"
    ANALYST = "analyst"
    ADMIN = "admin"

    def allows(self, roles: Iterable[Role]) -> bool:
        """True when a caller with this role may use an endpoint open to ``roles``."""
        return self is Role.ADMIN or self in set(roles)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a short, non-secret key id (first 8 hex of the digest) and role."""

    key_id: str
    role: Role


def key_digest(key: str) -> str:
    """SHA-256 hex digest of a key: the only form in which keys are stored.

    >>> key_digest("abc")[:12]
    'ba7816bf8f01'
    """
    return hashlib.sha256(key.encode()).hexdigest()


def parse_role(text: str) -> Role:
    """A role from its name, with a precise error.

    >>> parse_role("Analyst")
    <Role.ANALYST: 'analyst'>
    """
    try:
        return Role(text.strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {text.strip()!r}; known roles: {known}") from None


def parse_env_keys(text: str | None) -> dict[str, Role]:
    """Parse ``"key:role,key:role"`` into ``{sha256(key): role}``; keys are never kept in clear.

    >>> len(parse_env_keys("a-very-long-admin-key:admin, another-long-scoring-key:scoring"))
    2
    >>> parse_env_keys("")
    {}
    >>> parse_env_keys("short:admin")
    Traceback (most recent call last):
    ...
    cardmind.errors.InvalidInput: CARDMIND_API_KEYS entry 1: key must have at least 16 characters
    """
    keys: dict[str, Role] = {}
    for i, item in enumerate((text or "").split(","), start=1):
        item = item.strip()
        if not item:
            continue
        key, sep, role = item.rpartition(":")
        if not sep or not key:
            raise InvalidInput(f"{ENV_VARIABLE} entry {i}: expected 'key:role'")
        if len(key) < MIN_KEY_LENGTH:
            raise InvalidInput(
                f"{ENV_VARIABLE} entry {i}: key must have at least {MIN_KEY_LENGTH} characters"
            )
        keys[key_digest(key)] = parse_role(role)
    return keys


def generate_key() -> str:
    """A new random API key (``cmk_`` + 43 URL-safe characters, 256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    """Digest -> role, from the environment and (optionally) the ``api_keys`` table.

    Database keys are re-read at most every ``refresh_seconds`` (on a lookup miss, or when the
    cache is older than that), so keys created or revoked with the CLI take effect on a running
    server within that delay, without a database query per request.
    """

    def __init__(
        self,
        *,
        env_keys: Mapping[str, Role] | None = None,
        db_engine: Engine | None = None,
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env_keys = dict(env_keys or {})
        self.db_engine = db_engine
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._db_keys: dict[str, Role] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, *, db_engine: Engine | None = None) -> KeyStore:
        """Keys from ``CARDMIND_API_KEYS`` plus, when ``db_engine`` is given, the database."""
        return cls(env_keys=parse_env_keys(os.environ.get(ENV_VARIABLE)), db_engine=db_engine)

    def __len__(self) -> int:
        self._refresh_if_stale()
        return len(self.env_keys) + len(self._db_keys)

    def principal(self, key: str | None) -> Principal | None:
        """The caller owning ``key``, or ``None`` for a missing, unknown or revoked key."""
        if not key:
            return None
        digest = key_digest(key)
        role = self.env_keys.get(digest)
        if role is None and self.db_engine is not None:
            self._refresh_if_stale(force_on_miss=digest not in self._db_keys)
            role = self._db_keys.get(digest)
        return None if role is None else Principal(key_id=digest[:8], role=role)

    def _refresh_if_stale(self, *, force_on_miss: bool = False) -> None:
        if self.db_engine is None:
            return
        age = self.clock() - self._loaded_at
        # A miss re-reads at most once per second, so unknown keys cannot hammer the database.
        if age < self.refresh_seconds and not (force_on_miss and age >= 1.0):
            return
        with self._lock:
            self._db_keys = load_db_keys(self.db_engine)
            self._loaded_at = self.clock()


def load_db_keys(engine: Engine) -> dict[str, Role]:
    """Active (not revoked) keys in the database as ``{digest: role}``."""
    from cardmind.storage.api_keys import ApiKeyRow

    ApiKeyRow.__table__.create(engine, checkfirst=True)
    with engine.connect() as conn:
        rows = conn.execute(
            select(ApiKeyRow.digest, ApiKeyRow.role).where(ApiKeyRow.revoked_at.is_(None))
        )
        return {digest: Role(role) for digest, role in rows}


def create_db_key(engine: Engine, *, role: Role, label: str = "") -> str:
    """Create a key, store only its digest, and return the key (shown to the user once)."""
    from cardmind.storage.api_keys import ApiKeyRow

    ApiKeyRow.__table__.create(engine, checkfirst=True)
    key = generate_key()
    digest = key_digest(key)
    with engine.begin() as conn:
        conn.execute(
            ApiKeyRow.__table__.insert().values(
                key_id=digest[:8],
                digest=digest,
                role=role.value,
                label=label,
                created_at=datetime.now(UTC),
                revoked_at=None,
            )
        )
    return key


def revoke_db_key(engine: Engine, key_id: str) -> int:
    """Revoke every active key whose id is ``key_id``; return how many were revoked."""
    from cardmind.storage.api_keys import ApiKeyRow

    ApiKeyRow.__table__.create(engine, checkfirst=True)
    with engine.begin() as conn:
        result = conn.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return int(result.rowcount or 0)


def list_db_keys(engine: Engine) -> list[dict[str, object]]:
    """Every key in the database (id, role, label, dates): never the key nor its digest."""
    from cardmind.storage.api_keys import ApiKeyRow

    ApiKeyRow.__table__.create(engine, checkfirst=True)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                ApiKeyRow.key_id,
                ApiKeyRow.role,
                ApiKeyRow.label,
                ApiKeyRow.created_at,
                ApiKeyRow.revoked_at,
            ).order_by(ApiKeyRow.created_at)
        )
        return [dict(r._mapping) for r in rows]


_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="API key; its role (scoring, analyst, admin) decides which endpoints it may call.",
)


def authenticate(request: Request, allowed: frozenset[Role]) -> Principal:
    """The caller of ``request`` if its key has one of ``allowed`` roles (admin: always).

    Raises 401 (missing or unknown key) or 403 (another role). Used by :func:`require_roles` and
    directly by the authorization fast path.
    """
    store: KeyStore = request.app.state.keys
    principal = store.principal(request.headers.get(API_KEY_HEADER))
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"missing or unknown API key in header {API_KEY_HEADER} (缺少或无效的 API 密钥)",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    if not principal.role.allows(allowed):
        names = " or ".join(sorted(r.value for r in allowed | {Role.ADMIN}))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=(
                f"role {principal.role.value!r} may not call this endpoint; it needs "
                f"{names} (当前角色无权访问此接口)"
            ),
        )
    return principal


def roles(*names: Role | str) -> frozenset[Role]:
    """A validated set of roles.

    >>> sorted(roles("analyst", Role.SCORING))
    [<Role.ANALYST: 'analyst'>, <Role.SCORING: 'scoring'>]
    """
    allowed = frozenset(parse_role(str(r)) for r in names)
    if not allowed:
        raise ValueError("at least one role is needed")
    return allowed


def require_roles(*names: Role | str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency admitting callers whose key has one of ``names`` (admin: always).

    Missing or unknown key: 401. Known key with another role: 403.

    >>> dep = require_roles("analyst")
    >>> callable(dep)
    True
    """
    allowed = roles(*names)

    # async: FastAPI runs sync dependencies in a thread pool, which costs more than the check.
    async def dependency(
        request: Request, _key: str | None = Depends(_api_key_header)
    ) -> Principal:
        principal = authenticate(request, allowed)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{'_or_'.join(sorted(r.value for r in allowed))}"
    return dependency


#: Annotated callers for endpoint signatures: ``caller: AnalystCaller``.
ScoringCaller = Annotated[Principal, Depends(require_roles(Role.SCORING))]
AnalystCaller = Annotated[Principal, Depends(require_roles(Role.ANALYST))]
AdminCaller = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
