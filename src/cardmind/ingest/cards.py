"""Card numbers on import: tokenised once per distinct number, found in free text, masked.

>>> t = tokenize_column(pa.array(["6222021234567894", "6222 0212 3456 7894", "123", None]), key=b"k")
>>> t.tokens[0].as_py() == t.tokens[1].as_py(), t.last4.to_pylist(), t.bad.tolist()
(True, ['7894', '7894', None, None], [False, False, True, False])
>>> find_pans(pa.array(["call 6222021234567894", "order 12345", None])).tolist()
[True, False, False]
>>> mask_text(pa.array(["card 6222021234567894 lost"])).to_pylist()
['card ****7894 lost']
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cardmind.privacy import TOKEN_HEX_CHARS, contains_pan

# RE2 has no look-behind: this finds candidates, contains_pan() confirms them (length + Luhn).
_CANDIDATE = r"\d(?:[ -]?\d){12,18}"
_MASK = r"(?:\d[ -]?){9,15}(\d{4})"


@dataclass
class Tokens:
    """Card tokens and last four digits per row; ``bad`` marks cells that are not card numbers."""

    tokens: pa.Array
    last4: pa.Array
    bad: np.ndarray


def tokenize_column(arr: pa.Array, *, key: bytes) -> Tokens:
    """HMAC-tokenise a card-number column, hashing each distinct number once.

    Tokens equal :func:`cardmind.privacy.tokenize_pan` (same normalisation, Luhn check, HMAC);
    the Luhn check of the distinct numbers is vectorised.
    """
    text = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    text = pc.utf8_trim_whitespace(text)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    uniq = pc.unique(text).drop_null()
    digits = pc.replace_substring_regex(uniq, r"[\s-]", "")
    valid = _luhn_mask(digits)
    values = digits.to_pylist()
    tokens = [
        hmac.digest(key, d.encode(), "sha256").hex()[:TOKEN_HEX_CHARS] if ok else None
        for d, ok in zip(values, valid.tolist(), strict=True)
    ]
    last4 = [d[-4:] if ok else None for d, ok in zip(values, valid.tolist(), strict=True)]
    idx = pc.index_in(text, value_set=uniq)
    tok_arr = pc.take(pa.array(tokens, pa.string()), idx)
    l4_arr = pc.take(pa.array(last4, pa.string()), idx)
    bad = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), bool) & ~np.asarray(
        pc.is_valid(tok_arr).to_numpy(zero_copy_only=False), bool
    )
    return Tokens(tok_arr, l4_arr, bad)


def _luhn_mask(digits: pa.Array) -> np.ndarray:
    """13-19 digits passing the Luhn check, for every string of ``digits`` at once.

    >>> _luhn_mask(pa.array(["6222021234567894", "6222021234567895", "12", "42424242424242x"])).tolist()
    [True, False, False, False]
    """
    n = len(digits)
    if n == 0:
        return np.zeros(0, bool)
    shape_ok = np.asarray(
        pc.fill_null(pc.match_substring_regex(digits, r"^\d{13,19}$"), False).to_numpy(
            zero_copy_only=False
        ),
        bool,
    )
    padded = pc.utf8_lpad(pc.if_else(pa.array(shape_ok), digits, "0"), width=19, padding="0")
    raw = np.frombuffer(padded.buffers()[2], dtype=np.uint8)
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int32)[: n + 1] + 0
    start = offsets[0]
    grid = raw[start : start + 19 * n].reshape(n, 19).astype(np.int64) - ord("0")
    rev = grid[:, ::-1]
    doubled = rev[:, 1::2] * 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    total = rev[:, 0::2].sum(axis=1) + doubled.sum(axis=1)
    return shape_ok & (total % 10 == 0)


def find_pans(arr: pa.Array) -> np.ndarray:
    """Rows whose text holds a full card number (13-19 digits passing Luhn)."""
    text = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    out = np.zeros(len(text), bool)
    # Only strings of 13+ characters can hold a card number: test those with the regex.
    long_idx = np.flatnonzero(
        np.asarray(
            pc.fill_null(pc.greater_equal(pc.utf8_length(text), 13), False).to_numpy(
                zero_copy_only=False
            ),
            bool,
        )
    )
    if not len(long_idx):
        return out
    long_text = pc.take(text, pa.array(long_idx))
    cand = np.asarray(
        pc.fill_null(pc.match_substring_regex(long_text, _CANDIDATE), False).to_numpy(
            zero_copy_only=False
        ),
        bool,
    )
    idx = long_idx[cand]
    if len(idx):
        values = pc.take(text, pa.array(idx)).to_pylist()
        out[idx] = [contains_pan(v) for v in values]
    return out


def mask_text(arr: pa.Array) -> pa.Array:
    """Every run of 13-19 digits shown as ``****`` and its last four digits."""
    text = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    return pc.replace_substring_regex(text, _MASK, r"****\1")


def mask_all(arr: pa.Array) -> pa.Array:
    """A card-number cell shown as ``****`` plus its last four characters."""
    text = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    text = pc.utf8_trim_whitespace(text)
    tail = pc.utf8_slice_codeunits(text, -4)
    return pc.binary_join_element_wise("****", tail, "")
