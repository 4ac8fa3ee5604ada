"""Money and time conventions: integer fen inside, Decimal yuan at the edges, Asia/Shanghai.

>>> yuan_to_fen("12.34")
1234
>>> fen_to_yuan(1234)
Decimal('12.34')
>>> format_cny(123456789)
'¥1,234,567.89'
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from cardmind.errors import InvalidInput

TIMEZONE_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TIMEZONE_NAME)
FEN_PER_YUAN = 100


def yuan_to_fen(value: str | int | Decimal) -> int:
    """Convert an amount in yuan (str, int or Decimal; never float) to integer fen, half up."""
    if isinstance(value, float):
        raise InvalidInput("money must not be a binary float; pass a str or Decimal")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidInput(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise InvalidInput(f"not a finite amount: {value!r}")
    return int((amount * FEN_PER_YUAN).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_to_yuan(fen: int) -> Decimal:
    """Integer fen to a Decimal amount in yuan with two places."""
    return (Decimal(int(fen)) / FEN_PER_YUAN).quantize(Decimal("0.01"))


def format_cny(fen: int) -> str:
    """Human-readable CNY amount."""
    return f"¥{fen_to_yuan(fen):,}"
