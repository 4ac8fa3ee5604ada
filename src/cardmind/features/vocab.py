"""The vocabulary features are declared in: windows, category groups, amount bands, local time.

Everything here is a pure function of an event's own columns, written twice on purpose: once for
Python (online engine) and once as a SQL expression (batch engine, see :mod:`.sql`). Both sides are
tested equal.

>>> parse_window("7d"), parse_window("10m")
(604800000000, 600000000)
>>> category_group("5812"), category_group("4511"), category_group("bad")
('dining', 'travel', 'other')
>>> amount_band(9_999), amount_band(10_000), amount_band(10_000_000)
('small', 'medium', 'xlarge')
>>> local_hour(0)  # 1970-01-01 00:00 UTC is 08:00 in Asia/Shanghai
8
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from cardmind.units import TZ

US_PER_SECOND = 1_000_000
_UNIT_US = {"s": US_PER_SECOND, "m": 60 * US_PER_SECOND, "h": 3600 * US_PER_SECOND,
            "d": 86_400 * US_PER_SECOND}
_WINDOW_RE = re.compile(r"^(-?\d+)([smhd])$")

#: The windows of the default catalog, shortest first.
WINDOWS = ("10m", "1h", "24h", "7d", "30d", "90d", "180d")

#: Asia/Shanghai has had a fixed offset of UTC+8 since 1991 (no daylight saving), so local
#: hours are integer arithmetic on epoch microseconds in both engines.
LOCAL_OFFSET_US = 8 * 3600 * US_PER_SECOND
NIGHT_HOURS = (0, 6)  # local hour in [0, 6)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_window(text: str) -> int:
    """Window length in microseconds from ``"<n><s|m|h|d>"``; ``ValueError`` when not positive."""
    m = _WINDOW_RE.match(str(text))
    if not m:
        raise ValueError(f"window {text!r} is not '<n><s|m|h|d>' such as '7d' or '10m'")
    n = int(m.group(1))
    if n <= 0:
        raise ValueError(f"window {text!r} must be positive")
    return n * _UNIT_US[m.group(2)]


def to_epoch_us(ts: object) -> int:
    """Epoch microseconds of a timestamp (aware datetime, naive = Asia/Shanghai, or int µs)."""
    if isinstance(ts, bool):
        raise ValueError(f"not a timestamp: {ts!r}")
    if isinstance(ts, int):
        return ts
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=TZ)
        d = ts - EPOCH
        if type(d) is timedelta:  # exact integer arithmetic, no timedelta division
            return (d.days * 86_400 + d.seconds) * US_PER_SECOND + d.microseconds
        return d // timedelta(microseconds=1)
    if hasattr(ts, "value") and hasattr(ts, "tz_localize"):  # pandas.Timestamp
        return to_epoch_us(ts.to_pydatetime())
    raise ValueError(f"not a timestamp: {ts!r}")


def local_hour(epoch_us: int) -> int:
    """Hour of day in Asia/Shanghai."""
    return ((epoch_us + LOCAL_OFFSET_US) // (3600 * US_PER_SECOND)) % 24


def is_night(epoch_us: int) -> bool:
    return NIGHT_HOURS[0] <= local_hour(epoch_us) < NIGHT_HOURS[1]


# --- category groups (from the ISO 18245 MCC, inclusive ranges) -------------------------------

CATEGORY_RANGES: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("travel", ((3000, 3999), (4111, 4131), (4411, 4411), (4511, 4511), (4722, 4722),
                (7011, 7012), (7512, 7512))),
    ("dining", ((5812, 5814),)),
    ("grocery", ((5411, 5411), (5422, 5499))),
    ("fuel_auto", ((5511, 5599), (7531, 7549))),
    ("electronics", ((5045, 5045), (5722, 5734), (5946, 5946))),
    ("luxury", ((5094, 5094), (5944, 5944), (5681, 5681), (5948, 5948))),
    ("retail", ((5200, 5399), (5600, 5699), (5700, 5721), (5940, 5999))),
    ("entertainment", ((7800, 7999),)),
    ("health", ((5912, 5912), (8000, 8099))),
    ("utilities", ((4812, 4816), (4899, 4900))),
    ("education", ((8200, 8299),)),
    ("quasi_cash", ((4829, 4829), (6010, 6012), (6050, 6051), (6211, 6211), (6540, 6540))),
    ("business", ((5000, 5199), (7300, 7399), (8900, 8999))),
)
CATEGORY_GROUPS = (*(g for g, _ in CATEGORY_RANGES), "other")


def category_group(mcc: object) -> str:
    """Category group of an MCC (first matching range; ``other`` when none or not a number)."""
    try:
        code = int(str(mcc))
    except (TypeError, ValueError):
        return "other"
    for group, ranges in CATEGORY_RANGES:
        for lo, hi in ranges:
            if lo <= code <= hi:
                return group
    return "other"


# --- amount bands (fen) ------------------------------------------------------------------------

AMOUNT_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("small", 0, 10_000),  # < 100 CNY
    ("medium", 10_000, 100_000),  # 100 - 1,000 CNY
    ("large", 100_000, 1_000_000),  # 1,000 - 10,000 CNY
    ("xlarge", 1_000_000, None),  # >= 10,000 CNY
)


def amount_band(amount_fen: int) -> str:
    for name, lo, hi in AMOUNT_BANDS:
        if amount_fen >= lo and (hi is None or amount_fen < hi):
            return name
    return "small"  # amounts are > 0 by schema; negative values fall in the lowest band
