"""Shared fixtures: an isolated CARDMIND_HOME per test, and service availability checks.

Tests needing PostgreSQL or Redis use the ``postgres_url`` / ``redis_url`` fixtures: they skip
with a reason when the service is absent, except under CI (``CI=true``) where absence fails.
"""

from __future__ import annotations

import os
import socket

import pytest

from cardmind.settings import get_settings

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def cardmind_home(tmp_path, monkeypatch):
    """Every test gets its own CARDMIND_HOME and a fixed PAN key."""
    home = tmp_path / "cardmind-home"
    monkeypatch.setenv("CARDMIND_HOME", str(home))
    monkeypatch.setenv("CARDMIND_PAN_KEY", "test-key-not-secret")
    monkeypatch.delenv("CARDMIND_DB_URL", raising=False)
    monkeypatch.delenv("CARDMIND_ONLINE_STORE", raising=False)
    monkeypatch.delenv("CARDMIND_ONLINE_NAMESPACE", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _service(name: str, host: str, port: int, url: str) -> str:
    if _reachable(host, port):
        return url
    message = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true requires it")
    pytest.skip(f"{message}; start it to run this test")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL database (trust auth, database ``test``)."""
    return _service(
        "PostgreSQL", "127.0.0.1", 5432, "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the test Redis server."""
    return _service("Redis", "127.0.0.1", 6379, "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """Path of a simulated dataset (preset ``tiny``, seed 0), generated once per session.

    About 860 cards over 6 months (2025-11-01 .. 2026-05-01, covering 11.11 and the Spring
    Festival), ~47,000 authorizations, every scenario present; card tokens use the test PAN key
    ``test-key-not-secret``. Read it with ``cardmind.dataset.Dataset(tiny_dataset)``.
    """
    from cardmind.simulate import load_preset, simulate

    root = tmp_path_factory.mktemp("tiny-dataset")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CARDMIND_HOME", str(root / "home"))
        mp.setenv("CARDMIND_PAN_KEY", "test-key-not-secret")
        get_settings.cache_clear()
        try:
            simulate(load_preset("tiny", seed=0), root / "data")
        finally:
            get_settings.cache_clear()
    return root / "data"
