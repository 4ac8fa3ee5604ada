"""Doctests in ``src/`` run with their own CARDMIND_HOME (``tests/conftest.py`` does the same for
the tests): no example ever reads or writes the real ``~/.cardmind``."""

from __future__ import annotations

import pytest
from _pytest.doctest import DoctestItem

from cardmind.settings import get_settings


@pytest.fixture(autouse=True)
def _doctest_cardmind_home(request, tmp_path_factory, monkeypatch):
    if not isinstance(request.node, DoctestItem):
        yield
        return
    monkeypatch.setenv("CARDMIND_HOME", str(tmp_path_factory.mktemp("doctest-home")))
    monkeypatch.setenv("CARDMIND_PAN_KEY", "test-key-not-secret")
    monkeypatch.delenv("CARDMIND_DB_URL", raising=False)
    monkeypatch.delenv("CARDMIND_ONLINE_STORE", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
