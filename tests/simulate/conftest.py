"""Fixtures of the simulator tests: the tiny dataset read once into Arrow tables."""

from __future__ import annotations

import pytest

from cardmind.dataset import Dataset
from cardmind.simulate.summary import connect


@pytest.fixture(scope="session")
def tiny(tiny_dataset):
    """The tiny dataset as a :class:`Dataset`."""
    return Dataset(tiny_dataset)


@pytest.fixture()
def con(tiny):
    """A DuckDB connection with one view per table of the tiny dataset."""
    c = connect(tiny)
    yield c
    c.close()
