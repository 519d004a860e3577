"""Saving and loading a prepared dataset as Arrow IPC files, swapped into place atomically.

Why a directory swap: a dataset is several files, and a reader (or a crash mid-write) must see either the
old dataset or the new one, never a mix.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import InvalidInputException
from .dataset import InteractionData

FORMAT_VERSION = 1


def save_dataset(data: InteractionData, directory: str | os.PathLike) -> Path:
    """Write the dataset as Arrow IPC files in ``directory``, replacing an existing saved dataset.

    Everything is written to a temporary sibling directory first and swapped in with one atomic rename
    exchange (Linux ``renameat2``), or two renames where that is unavailable, so a reader sees either
    the old dataset or the new one. A directory that is not a saved dataset is never replaced.
    """
    directory = Path(directory)
    if directory.exists() and not _is_dataset_dir(directory):
        raise InvalidInputException(
            f"{str(directory)!r} exists and is not a saved dataset directory; refusing to replace it."
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        write_ipc(tmp / "events.arrow", {
            "item": np.ascontiguousarray(data.items, dtype=np.int32),
            "time": np.ascontiguousarray(data.times, dtype=np.int64),
            "weight": np.ascontiguousarray(data.weights, dtype=np.float32),
            "session_start": data.session_start_mask(),
        })
        write_ipc(tmp / "sequences.arrow", {
            "user": np.ascontiguousarray(data.seq_users, dtype=np.int32),
            "length": data.lengths.astype(np.int64),
        })
        write_ipc(tmp / "users.arrow", {"user_id": _as_string_array(data.user_ids)})
        write_ipc(tmp / "items.arrow", {"item_id": _as_string_array(data.item_ids)})
        meta = {"format_version": FORMAT_VERSION, "n_users": data.n_users, "n_items": data.n_items,
                **data.summary()}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        _replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load_dataset(directory: str | os.PathLike) -> InteractionData:
    directory = Path(directory)
    if not _is_dataset_dir(directory):
        raise InvalidInputException(f"{str(directory)!r} is not a saved dataset directory (no meta.json).")
    try:
        meta = json.loads((directory / "meta.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise InvalidInputException(
                f"{str(directory)!r} has dataset format version {meta.get('format_version')!r}; "
                f"expected {FORMAT_VERSION}."
            )
        events = read_ipc(directory / "events.arrow")
        sequences = read_ipc(directory / "sequences.arrow")
        user_ids = read_ipc(directory / "users.arrow").column("user_id").combine_chunks()
        item_ids = read_ipc(directory / "items.arrow").column("item_id").combine_chunks()
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        if isinstance(exc, InvalidInputException):
            raise
        raise InvalidInputException(f"Saved dataset {str(directory)!r} is unreadable: {exc}") from None
    offsets = np.zeros(sequences.num_rows + 1, dtype=np.int64)
    np.cumsum(_np(sequences.column("length")), out=offsets[1:])
    session_start = _np(events.column("session_start"))
    if offsets[-1] != events.num_rows:
        raise InvalidInputException(f"Saved dataset {str(directory)!r} is inconsistent (sequence lengths).")
    return InteractionData(
        items=_np(events.column("item")),
        times=_np(events.column("time")),
        weights=_np(events.column("weight")),
        user_offsets=offsets,
        seq_users=_np(sequences.column("user")),
        session_offsets=np.append(np.flatnonzero(session_start), events.num_rows).astype(np.int64),
        user_ids=user_ids,
        item_ids=item_ids,
    )


def _np(column: pa.ChunkedArray) -> np.ndarray:
    """A writable numpy copy of a (chunked) Arrow column."""
    return np.array(column.to_numpy(), copy=True)


def _as_string_array(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(values, pa.string())
    return values.cast(pa.string())


def write_ipc(path: Path, columns: dict) -> None:
    """Write columns (numpy or Arrow arrays) as one Arrow IPC file."""
    table = pa.table({k: (v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v)) for k, v in columns.items()})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_ipc(path: Path) -> pa.Table:
    """Read a whole Arrow IPC file."""
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all()


def _is_dataset_dir(directory: Path) -> bool:
    return directory.is_dir() and (directory / "meta.json").is_file()


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0


def _replace_dir(tmp: Path, target: Path) -> None:
    """Swap a fully written temporary directory into place so readers never see a half-written one."""
    if not target.exists():
        os.replace(tmp, target)
        return
    if _rename_exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the old dataset
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, old)  # onto an empty directory: allowed
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)

