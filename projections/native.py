"""ClickHouse's Native format written from numpy arrays: one block of columns, ready
for `INSERT ... FORMAT Native` on chDB and on a server alike.

clickhouse-connect encodes a column value by value in Python (a dictionary lookup per
LowCardinality value); here a fixed-width column is one `tobytes` and a LowCardinality
column is its dictionary plus one array of codes, so the cost per row is numpy's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["block", "fixed", "low_cardinality"]

# LowCardinality serialization: keys version SharedDictionariesWithAdditionalKeys, then
# per block the width of the codes with "additional keys" and "new dictionary" set.
_KEYS_VERSION = 1
_NEW_KEYS = (1 << 9) | (1 << 10)
_CODES = (np.uint8, np.uint16, np.uint32, np.uint64)


def block(rows: int, columns: Sequence[tuple[str, str, bytes]]) -> bytes:
    """(name, ClickHouse type, column bytes) of `rows` rows each -> one Native block."""
    out = [_varint(len(columns)), _varint(rows)]
    for name, ch_type, data in columns:
        out += [_string(name), _string(ch_type), data]
    return b"".join(out)


def fixed(values: np.ndarray, dtype: str) -> bytes:
    """A fixed-width column: Float64 '<f8', UInt64 '<u8', DateTime64 as ticks '<i8'."""
    return np.ascontiguousarray(values, dtype=dtype).tobytes()


def low_cardinality(keys: Sequence[str], codes: np.ndarray) -> bytes:
    """A LowCardinality(String) column: row i is keys[codes[i]]."""
    width = next(i for i, t in enumerate(_CODES) if len(keys) <= np.iinfo(t).max)
    head = np.array([_KEYS_VERSION, _NEW_KEYS | width, len(keys)], "<u8").tobytes()
    return b"".join([head, *map(_string, keys), np.array([len(codes)], "<u8").tobytes(),
                     codes.astype(np.dtype(_CODES[width]).newbyteorder("<")).tobytes()])


def _string(text: str) -> bytes:
    data = text.encode()
    return _varint(len(data)) + data


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
