"""String ids to dense integer codes, and the (user, time) sort, without per-row Python work.

Why it is written this way: ingest of ten million rows must take seconds, so ids that are canonical decimal
numbers are coded from their bytes without hashing, and sorts use packed 64-bit keys (value sorts are an
order of magnitude faster than a stable argsort).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidInputException


def encode_ids(column: pa.ChunkedArray, name: str, source: str) -> tuple[np.ndarray, pa.Array]:
    """Dense int32 codes plus the dictionary (code -> original string id).

    Ids that are all canonical decimal numbers ("0", "42", not "007" or "+4", at most 18 digits) are coded
    in numeric order without hashing any string (the common case of numeric-looking ids, and the fastest).
    Other ids are hashed, in order of first appearance. Dictionary-encoded input (several chunks with their
    own dictionaries) is unified by hashing each distinct dictionary once.
    """
    if column.null_count:
        raise InvalidInputException(f"{source!r}: column {name} has missing (null) ids; expected strings.")
    if column.num_chunks == 0 or len(column) == 0:
        return np.zeros(0, dtype=np.int32), pa.array([], pa.string())
    if pa.types.is_dictionary(column.type):
        return _encode_dictionary(column)
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    numbers = _canonical_decimals(column)
    if numbers is not None:
        codes, uniques = _encode_integers(numbers)
        return codes, pc.cast(pa.array(uniques, pa.int64()), pa.string())
    encoded = pc.dictionary_encode(column.combine_chunks() if column.num_chunks > 1 else column.chunk(0))
    return encoded.indices.to_numpy().astype(np.int32, copy=False), encoded.dictionary


def _encode_dictionary(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    groups = _dictionary_groups(column)
    if len(groups) == 1:
        codes = _concat_numpy([c.indices for c in column.chunks]).astype(np.int32, copy=False)
        return codes, groups[0][0].cast(pa.string())
    encoded = pc.dictionary_encode(pa.concat_arrays([d.cast(pa.string()) for d, _ in groups]))
    transposed = encoded.indices.to_numpy().astype(np.int32, copy=False)
    codes = np.empty(len(column), dtype=np.int32)
    starts = np.concatenate([[0], np.cumsum([len(c) for c in column.chunks])])
    position = 0
    for d, chunk_indices in groups:
        transpose = transposed[position:position + len(d)]
        position += len(d)
        for i in chunk_indices:
            np.take(transpose, column.chunk(i).indices.to_numpy(), out=codes[starts[i]:starts[i + 1]])
    return codes, encoded.dictionary


def _dictionary_groups(column: pa.ChunkedArray) -> list[tuple[pa.Array, list[int]]]:
    """The distinct dictionaries of a dictionary-typed chunked column, each with the chunks that use it
    (Parquet chunks of one row group share one dictionary: hash it once, not once per chunk)."""
    groups: dict = {}
    for i, chunk in enumerate(column.chunks):
        d = chunk.dictionary
        key = (tuple(b.address if b is not None else 0 for b in d.buffers()), d.offset, len(d))
        groups.setdefault(key, (d, []))[1].append(i)
    return list(groups.values())


_MAX_DECIMAL_DIGITS = 18  # < 2**63


def _canonical_decimals(column: pa.ChunkedArray) -> np.ndarray | None:
    """The ids as int64 when every one is a canonical decimal number, else None (checked on raw bytes)."""
    parts = []
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        _, offsets_buffer, data_buffer = chunk.buffers()
        offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=len(chunk) + 1, offset=chunk.offset * 4)
        lengths = np.diff(offsets)
        if lengths.min() < 1 or lengths.max() > _MAX_DECIMAL_DIGITS:
            return None
        data = np.frombuffer(data_buffer, dtype=np.uint8)
        body = data[offsets[0]:offsets[-1]]
        if body.min() < 48 or body.max() > 57:  # a byte outside '0'..'9'
            return None
        if ((data[offsets[:-1]] == 48) & (lengths > 1)).any():  # a leading zero
            return None
        parts.append(pc.cast(chunk, pa.int64()).to_numpy())
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def _encode_integers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes in increasing value order, and the distinct values (no hashing, no argsort)."""
    n = len(values)
    lo, hi = int(values.min()), int(values.max())
    span = hi - lo + 1
    if span <= max(4 * n, 1 << 16) and span <= 1 << 26:
        present = np.zeros(span, dtype=bool)
        shifted = values - lo
        present[shifted] = True
        rank = np.cumsum(present, dtype=np.int32)
        rank -= 1
        return rank[shifted], np.flatnonzero(present) + lo
    pos_bits = _bits(n - 1)
    if _bits(hi - lo) + pos_bits <= 63:
        key = values - lo
        key <<= pos_bits
        key |= np.arange(n, dtype=np.int64)
        key.sort()
        position = key & ((1 << pos_bits) - 1)
        key >>= pos_bits
        new = np.empty(n, dtype=bool)
        new[0] = True
        np.not_equal(key[1:], key[:-1], out=new[1:])
        codes = np.empty(n, dtype=np.int32)
        codes[position] = np.cumsum(new, dtype=np.int32) - 1
        return codes, key[new] + lo
    uniques, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int32).reshape(-1), uniques


def _concat_numpy(arrays: list) -> np.ndarray:
    if len(arrays) == 1:
        return arrays[0].to_numpy()
    return np.concatenate([a.to_numpy() for a in arrays])


def compact_codes(codes: np.ndarray, dictionary: pa.Array, used: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """Renumber codes to 0..k-1 over the used dictionary entries, keeping their order."""
    if used.all():
        return codes, dictionary
    remap = np.cumsum(used, dtype=np.int64) - 1
    return remap[codes].astype(np.int32), dictionary.filter(pa.array(used))



def _bits(n: int) -> int:
    return max(int(n), 1).bit_length()


def stable_user_time_order(users: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Permutation sorting events by (user, time), ties in input order.

    Two value sorts of packed 64-bit keys instead of one stable argsort (numpy's SIMD sort of values is an
    order of magnitude faster than argsort): first (time, position) gives each event its rank in time order,
    then (user, time rank) gives the final order. Falls back to a stable argsort/lexsort when a key would not
    fit in 63 bits.
    """
    n = len(times)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    t0 = int(times.min())
    span = int(times.max()) - t0
    n_users = int(users.max()) + 1
    pos_bits = _bits(n - 1)
    if _bits(span) + pos_bits <= 63 and _bits(n_users - 1) + pos_bits <= 63:
        mask = (1 << pos_bits) - 1
        if bool((times[1:] >= times[:-1]).all()):  # already in time order (a common export order)
            by_time = np.arange(n, dtype=np.int64)
        else:
            key = times - t0
            key <<= pos_bits
            key |= np.arange(n, dtype=np.int64)
            key.sort()
            by_time = key & mask  # positions in (time, position) order
            del key
        rank = np.empty(n, dtype=np.int64)
        rank[by_time] = np.arange(n, dtype=np.int64)
        key = users.astype(np.int64)
        key <<= pos_bits
        key |= rank
        del rank
        key.sort()
        key &= mask  # time ranks in (user, time rank) order
        return by_time[key]
    if _bits(span) + _bits(n_users - 1) <= 63:
        key = users.astype(np.int64) * (span + 1) + (times - t0)
        return np.argsort(key, kind="stable")
    return np.lexsort((times, users))


