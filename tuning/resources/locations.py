"""Where a job's data comes from and goes to: ``s3://`` through ``pyarrow.fs``, or the server's own disk.

Why pyarrow.fs: it is already a dependency and reads and writes S3 (and S3-compatible stores) with the
standard AWS configuration: credentials from the environment or ``~/.aws``, the endpoint from
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (``hrnn serve --s3-endpoint-url`` sets it).

Local paths (plain or ``file://``) are the server's files, so a client may name only those under the
directories the server was given (``--data-dir``, default: where it was started) and outside its workspace;
a path that resolves elsewhere, through ``..`` or a link, is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hrnn.errors import InvalidInputException


@dataclass(frozen=True)
class Location:
    scheme: str  # "s3" or "local"
    path: str  # "bucket/key" for s3, an absolute path for local
    given: str  # as the client wrote it

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def parse_location(value: str, member: str, roots: tuple[Path, ...], workspace: Path | None = None) -> Location:
    """Read a location and check it against the allowed local directories (never inside the workspace)."""
    if value.startswith("s3://"):
        path = value[len("s3://"):]
        if not path.split("/", 1)[0]:
            raise InvalidInputException(f"{member} {value!r} names no bucket; expected s3://bucket/key.")
        return Location("s3", path, value)
    if value.startswith("file://"):
        local = value[len("file://"):]
    elif "://" in value:
        raise InvalidInputException(
            f"{member} {value!r} is not supported; expected s3://bucket/key, file:///path or a local path.")
    else:
        local = value
    resolved = Path(os.path.expanduser(local)).resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        shown = ", ".join(str(r) for r in roots) or "none"
        raise InvalidInputException(
            f"{member} {value!r} is outside the directories this server may use ({shown}); "
            "start it with --data-dir to allow another.")
    if workspace is not None and (resolved == workspace or workspace in resolved.parents):
        raise InvalidInputException(f"{member} {value!r} is inside the server's workspace, which jobs may not use.")
    return Location("local", str(resolved), value)


def _filesystem(location: Location):
    from pyarrow import fs

    if location.scheme == "local":
        return fs.LocalFileSystem(), location.path
    return fs.FileSystem.from_uri("s3://" + location.path)


def copy_in(location: Location, target: Path) -> list[Path]:
    """Copy a file, or every file directly in a folder, into ``target``; return the copies (sorted)."""
    from pyarrow import fs

    try:
        filesystem, path = _filesystem(location)
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.Directory:
            listed = filesystem.get_file_info(fs.FileSelector(path, recursive=False))
            sources = sorted(i.path for i in listed if i.type == fs.FileType.File
                             and not i.base_name.startswith((".", "_")))
        elif info.type == fs.FileType.File:
            sources = [path]
        else:
            raise InvalidInputException(f"{location.given!r} does not exist.")
        if not sources:
            raise InvalidInputException(f"{location.given!r} is a folder with no files.")
        target.mkdir(parents=True, exist_ok=True)
        copies = []
        for source in sources:
            copy = target / source.rstrip("/").rsplit("/", 1)[-1]
            fs.copy_files(source, str(copy), source_filesystem=filesystem,
                          destination_filesystem=fs.LocalFileSystem())
            copies.append(copy)
        return copies
    except InvalidInputException:
        raise
    except Exception as exc:  # pyarrow raises OSError, ArrowInvalid, ... with the store's message
        raise InvalidInputException(f"Cannot read {location.given!r}: {exc}") from None


def copy_out(source: Path, location: Location) -> str:
    """Write ``source`` into the folder ``location`` names, as ``<folder>/<source name>``; return where."""
    from pyarrow import fs

    try:
        filesystem, folder = _filesystem(location)
        target = folder.rstrip("/") + "/" + source.name
        if location.scheme == "local":
            Path(folder).mkdir(parents=True, exist_ok=True)
        fs.copy_files(str(source), target, source_filesystem=fs.LocalFileSystem(),
                      destination_filesystem=filesystem)
    except Exception as exc:
        raise InvalidInputException(f"Cannot write to {location.given!r}: {exc}") from None
    return location.given.rstrip("/") + "/" + source.name
