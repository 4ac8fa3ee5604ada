from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardmind.errors import InvalidInput
from cardmind.units import fen_to_yuan, yuan_to_fen


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_fen_yuan_round_trip(fen):
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


def test_floats_are_refused():
    with pytest.raises(InvalidInput):
        yuan_to_fen(1.1)


def test_half_up():
    assert yuan_to_fen(Decimal("0.005")) == 1
