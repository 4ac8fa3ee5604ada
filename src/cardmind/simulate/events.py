"""Candidate events of one month as a dict of NumPy columns (before the ledger decides them).

Every generator (genuine spending, each scenario) returns such a dict; the engine concatenates
them, sorts by card and time, and hands them to the ledger. Times are *local* seconds since
1970-01-01 in Asia/Shanghai wall-clock (China has no daylight saving time since 1991).

Fill events (``fill`` 1 = first of a run, 2 = continuation) take their amount from the card's
available credit at that moment: ``amount = floor(target * fill_w / unit) * unit`` with
``target = available - keep`` fixed at the first event of the run. Cash-out and bust-out use
them, because how much they can take depends on the card's state, which only the ledger knows.

>>> ev = make_events(2, card=np.array([0, 1]), ts=np.array([10, 5]), amount=np.array([100, 200]))
>>> ev["mtype"].tolist(), ev["ref"].tolist(), ev["device"].tolist()
([0, 0], [-1, -1], [-1, -1])
>>> concat_events([ev, make_events(0)])["card"].tolist()
[0, 1]
"""

from __future__ import annotations

import numpy as np

# message types
PURCHASE, REVERSAL, REFUND = 0, 1, 2
# installment flags on purchase events
INST_NONE, INST_OFFERED, INST_SELF = 0, 1, 2

COLUMNS: dict[str, tuple[type, int | float | bool]] = {
    "card": (np.int32, 0),
    "ts": (np.int64, 0),
    "amount": (np.int64, 0),
    "merchant": (np.int32, 0),
    "terminal": (np.int32, 0),
    "device": (np.int64, -1),
    "channel": (np.int8, 0),
    "city": (np.int16, 0),
    "mtype": (np.int8, PURCHASE),
    "ref": (np.int64, -1),
    "scenario": (np.int8, 0),
    "episode": (np.int64, -1),
    "fill": (np.int8, 0),
    "fill_w": (np.float64, 0.0),
    "unit": (np.int64, 1),
    "keep": (np.int64, 0),
    "legacy_decline": (np.bool_, False),
    "u_tc": (np.float64, 0.5),
    "inst": (np.int8, INST_NONE),
    "inst_accept": (np.bool_, False),
    "inst_periods": (np.int16, 0),
    "inst_fee_bp": (np.int32, 0),
    "inst_prob": (np.float64, 0.0),
}

Events = dict[str, np.ndarray]


def make_events(n: int, **cols: np.ndarray | int | float | bool) -> Events:
    """``n`` events with the given columns (arrays or scalars) and defaults for the others."""
    unknown = set(cols) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown event columns: {sorted(unknown)}")
    out: Events = {}
    for name, (dtype, default) in COLUMNS.items():
        value = cols.get(name, default)
        if isinstance(value, np.ndarray) and value.shape == (n,):
            out[name] = value.astype(dtype, copy=False)  # no copy when the type already fits
            continue
        arr = np.empty(n, dtype=dtype)
        arr[:] = value
        out[name] = arr
    return out


def concat_events(parts: list[Events]) -> Events:
    """Concatenate event dicts; ``ref`` indices are shifted to stay valid."""
    out: Events = {}
    offsets = np.cumsum([0] + [len(p["card"]) for p in parts])
    for name in COLUMNS:
        arrays = [p[name] for p in parts]
        if name == "ref":
            arrays = [
                np.where(a >= 0, a + off, -1) for a, off in zip(arrays, offsets, strict=False)
            ]
        out[name] = np.concatenate(arrays) if arrays else make_events(0)[name]
    return out


def take(ev: Events, idx: np.ndarray) -> Events:
    """Rows ``idx`` of ``ev`` (``ref`` is remapped; refs to dropped rows become -1)."""
    n = len(ev["card"])
    new_pos = np.full(n, -1, dtype=np.int64)
    new_pos[idx] = np.arange(len(idx))
    out = {k: v[idx] for k, v in ev.items()}
    ref = out["ref"]
    out["ref"] = np.where(ref >= 0, new_pos[np.maximum(ref, 0)], -1)
    return out


def size(ev: Events) -> int:
    return len(ev["card"])
