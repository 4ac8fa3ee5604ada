"""The API test modules never touch the real ``~/.cardmind`` when pytest imports them.

Collection happens before any fixture (so before the isolated CARDMIND_HOME of ``conftest.py``):
a module that built an app at import wrote ``~/.cardmind/cardmind.db`` and raced with the other
xdist worker doing the same.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from cardmind.settings import get_settings

API_TESTS = Path(__file__).parent


@pytest.mark.parametrize(
    "module", sorted(p.name for p in API_TESTS.glob("test_*.py") if p.name != Path(__file__).name)
)
def test_importing_the_module_leaves_home_untouched(module, tmp_path, monkeypatch):
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CARDMIND_HOME", raising=False)
    get_settings.cache_clear()
    try:
        runpy.run_path(str(API_TESTS / module))
    finally:
        get_settings.cache_clear()
    assert not (home / ".cardmind").exists()
    assert list(home.iterdir()) == []


def test_doctests_leave_home_untouched(tmp_path):
    """The root ``conftest.py`` gives doctests their own CARDMIND_HOME (the app's doctest opens
    the key store's database)."""
    home = tmp_path / "user-home"
    home.mkdir()
    root = API_TESTS.parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDMIND_")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "src/cardmind/api/app.py"],
        cwd=root, env={**env, "HOME": str(home)}, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert not (home / ".cardmind").exists()
