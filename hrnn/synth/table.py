"""The Interactions table: string ids, shuffled rows (real exports are not sorted), and writing it out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .constants import EVENT_TYPES, SCHEMA


def shuffle_order(rng: np.random.Generator, n_events: int) -> np.ndarray:
    """A seeded row order (int32 where it fits, to halve the gathers' index memory)."""
    shuffle = rng.permutation(n_events)
    if n_events < 2**31:
        shuffle = shuffle.astype(np.int32)
    return shuffle


def id_strings(user_numbers: np.ndarray, n_items: int) -> tuple[pa.Array, pa.Array]:
    """USER_ID strings (``"1042"``) per user and ITEM_ID strings (``"i_00017"``) per item."""
    user_ids = pc.cast(pa.array(user_numbers), pa.string())
    width = max(5, len(str(n_items - 1)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(n_items)), pa.string()), width=width, padding="0")
    return user_ids, pc.binary_join_element_wise("i_", digits, "")


def interactions_table(
    user_ids: pa.Array, item_ids: pa.Array, row_user: np.ndarray, row_item: np.ndarray, timestamp: np.ndarray,
    purchase: np.ndarray, value: np.ndarray, null: np.ndarray
) -> pa.Table:
    """The table in :data:`SCHEMA` from per-row arrays (already in row order)."""
    event_types = pa.array(EVENT_TYPES, pa.string())
    return pa.Table.from_arrays(
        [
            pc.take(user_ids, pa.array(row_user)),
            pc.take(item_ids, pa.array(row_item)),
            pa.array(timestamp, pa.int64()),
            pc.take(event_types, pa.array(purchase.view(np.int8))),
            pa.array(value, pa.float64(), mask=null),
        ],
        schema=SCHEMA,
    )


def write_interactions(table: pa.Table, path: str | Path) -> Path:
    """Write ``table`` as CSV with a header (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``)."""
    path = Path(path)
    name = path.name.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif name.endswith((".csv", ".csv.gz")):
        import pyarrow.csv as pacsv

        options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
        if name.endswith(".gz"):
            with pa.CompressedOutputStream(str(path), "gzip") as out:
                pacsv.write_csv(table, out, write_options=options)
        else:
            pacsv.write_csv(table, str(path), write_options=options)
    else:
        raise ValueError(f"unsupported suffix for {path}: use .csv, .csv.gz, .parquet or .pq")
    return path
