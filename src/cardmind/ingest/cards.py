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

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cardmind.errors import InvalidInput
from cardmind.privacy import contains_pan, tokenize_pan

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
    """HMAC-tokenise a card-number column, hashing each distinct number once."""
    text = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    text = pc.utf8_trim_whitespace(text)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    uniq = pc.unique(text).drop_null()
    tokens: list[str | None] = []
    last4: list[str | None] = []
    for pan in uniq.to_pylist():
        try:
            tok, l4 = tokenize_pan(pan, key=key)
        except InvalidInput:
            tok, l4 = None, None
        tokens.append(tok)
        last4.append(l4)
    idx = pc.index_in(text, value_set=uniq)
    tok_arr = pc.take(pa.array(tokens, pa.string()), idx)
    l4_arr = pc.take(pa.array(last4, pa.string()), idx)
    bad = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), bool) & ~np.asarray(
        pc.is_valid(tok_arr).to_numpy(zero_copy_only=False), bool
    )
    return Tokens(tok_arr, l4_arr, bad)


def find_pans(arr: pa.Array) -> np.ndarray:
    """Rows whose text holds a full card number (13-19 digits passing Luhn)."""
    text = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    cand = np.asarray(
        pc.fill_null(pc.match_substring_regex(text, _CANDIDATE), False).to_numpy(
            zero_copy_only=False
        ),
        bool,
    )
    out = np.zeros(len(text), bool)
    idx = np.flatnonzero(cand)
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
