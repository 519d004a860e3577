"""Every path and URI a caller names, read or written, goes through here: one place for every rule.

A location is ``s3://bucket/key`` or a local path (plain or ``file:///``). The rules, the same for the
``hrnn`` command and the HTTP endpoint:

* **A URI chooses a bucket and a key, nothing else.** ``s3://`` with a query, a fragment, credentials or a
  port is refused; the S3 endpoint, scheme and credentials come only from the operator's configuration
  (``--s3-endpoint-url``, the AWS environment), and the filesystem is built from that configuration, never
  from the caller's URI. ``file://`` names no host. Other schemes are refused.
* **Local paths stay under the allowed directories** (``--data-dir``; the command line allows any path
  unless given one) and outside the workspace. The path is resolved, checked for containment, then opened
  component by component from the root with ``O_NOFOLLOW`` (``openat``), so a link swapped in later cannot
  redirect the open; a link that leads out is refused.
* **Only regular files are read or replaced.** A FIFO, device, socket or link is named as such and refused,
  never opened for reading (so nothing hangs) and never written through.
* **Nothing existing is replaced** unless the caller asked (``--overwrite`` on the command line); a new file
  appears atomically (written beside, then linked in), so a reader never sees half of it.
* **Reads are capped** (``max_bytes``).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from hrnn.atomic import current_umask
from hrnn.errors import InvalidInputException, ResourceAlreadyExistsException

from .store import storage_error

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
COPY_CHUNK = 1 << 20
DEFAULT_MAX_BYTES = 10 << 30


@dataclass(frozen=True)
class Access:
    """What a front end lets its caller reach (the operator's configuration, never the caller's)."""

    roots: tuple[Path, ...] | None = None  # resolved directories; None: any local path this process can reach
    workspace: Path | None = None  # never read or written through a location
    s3_endpoint: str | None = None  # scheme://host[:port] of an S3-compatible store

    @classmethod
    def confined(cls, roots, workspace: Path | None = None, s3_endpoint: str | None = None) -> "Access":
        return cls(tuple(Path(os.path.realpath(os.path.expanduser(str(r)))) for r in roots), workspace, s3_endpoint)


@dataclass(frozen=True)
class Location:
    scheme: str  # "s3" or "local"
    path: str  # "bucket/key" for s3, an absolute resolved path for local
    given: str  # as the caller wrote it

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def to_list(self) -> list[str]:  # for a record's private part
        return [self.scheme, self.path, self.given]


def parse(value: object, member: str, access: Access, local_only: bool = False) -> Location:
    """A location the caller may use: InvalidInput naming the member and the value otherwise."""
    if not isinstance(value, str) or not value:
        raise InvalidInputException(f"{member} {value!r} names no location.")
    if "\x00" in value:
        raise InvalidInputException(f"{member} {value[:200]!r} holds a NUL character.")
    scheme = _SCHEME.match(value)
    if scheme and scheme.group(1).lower() == "s3" and not local_only:
        return _s3(value, member)
    if scheme and scheme.group(1).lower() != "file" and not re.match(r"^[a-zA-Z]:[\\/]", value):
        what = "only local files (a path or file://)" if local_only else "s3://bucket/key, file:///path or a local path"
        raise InvalidInputException(f"{member} {value[:200]!r}: {what} are supported"
                                    f"{'; copy the object to a local or shared filesystem first' if local_only else ''}.")
    local = value
    if scheme:  # file://
        rest = value[len(scheme.group(0)):]
        if not rest.startswith("//"):
            raise InvalidInputException(f"{member} {value[:200]!r} is not a file:// URI; expected file:///path.")
        host, _, tail = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise InvalidInputException(f"{member} {value[:200]!r} names a host; a file:// URI names a local path "
                                        "(file:///path).")
        local = "/" + tail
    try:
        resolved = Path(os.path.realpath(os.path.expanduser(local)))
    except (OSError, ValueError, RuntimeError) as exc:
        raise InvalidInputException(f"{member} {value[:200]!r} cannot be resolved: {exc}.") from None
    _check_confined(resolved, value, member, access)
    return Location("local", str(resolved), value)


def _s3(value: str, member: str) -> Location:
    rest = value[len("s3://"):]
    if any(c in rest for c in "?#") or any(ord(c) < 32 or ord(c) == 127 for c in rest):
        raise InvalidInputException(f"{member} {value[:200]!r}: an s3:// URI names a bucket and a key only (no "
                                    "query, fragment or control characters); the S3 endpoint is the server's.")
    bucket, _, key = rest.partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidInputException(f"{member} {value[:200]!r}: {bucket[:80]!r} is not an S3 bucket name (3 to 63 "
                                    "lower-case letters, digits, dots and hyphens; no credentials or port).")
    return Location("s3", f"{bucket}/{key}", value)


def _check_confined(resolved: Path, value: str, member: str, access: Access) -> None:
    if access.roots is not None and not any(resolved == r or r in resolved.parents for r in access.roots):
        shown = ", ".join(str(r) for r in access.roots) or "none"
        raise InvalidInputException(
            f"{member} {value[:200]!r} is outside the directories this server may use ({shown}), directly or "
            "through a link; start it with --data-dir to allow another.")
    ws = access.workspace
    if ws is not None and (resolved == ws or ws in resolved.parents):
        raise InvalidInputException(f"{member} {value[:200]!r} is inside the workspace, which jobs may not use.")


# ---- local files, opened without following links --------------------------------------------------------

def _root_of(path: Path, access: Access) -> Path:
    if access.roots:
        return max((r for r in access.roots if r == path or r in path.parents), key=lambda r: len(r.parts))
    return Path(path.anchor)


def _open_dir(path: Path, access: Access, create: bool = False) -> int:
    """A descriptor of the directory ``path``, walked from its root with O_NOFOLLOW (made if ``create``)."""
    root = _root_of(path, access)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in path.relative_to(root).parts:
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o777, dir_fd=fd)
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    return ("a symbolic link" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else
            "a directory" if stat.S_ISDIR(mode) else "not a regular file")


def _local_error(exc: OSError, loc: Location, member: str, action: str) -> Exception:
    if exc.errno == errno.ENOENT:
        return InvalidInputException(f"{member} {loc.given[:200]!r} does not exist.")
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return InvalidInputException(f"{member} {loc.given[:200]!r} leads through a symbolic link or a non-directory "
                                     "that appeared while it was opened; links are not followed.")
    return storage_error(exc, f"{action} {member} {loc.given[:200]!r}")


def _open_regular(dir_fd: int, name: str, loc: Location, member: str) -> int:
    """Open ``name`` in ``dir_fd`` for reading only if it is a regular file (checked before and after)."""
    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputException(f"{member} {loc.given[:200]!r}: {name!r} is {_kind(info.st_mode)}; only "
                                    "regular files are read.")
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    if not os.path.samestat(info, os.fstat(fd)):
        os.close(fd)
        raise InvalidInputException(f"{member} {loc.given[:200]!r} changed while it was opened.")
    return fd


def local_file(value: object, member: str, access: Access) -> str:
    """A local regular file to read in place (the command line's ``--interactions``): its resolved path."""
    loc = parse(value, member, access, local_only=True)
    path = Path(loc.path)
    try:
        dir_fd = _open_dir(path.parent, access)
        try:
            os.close(_open_regular(dir_fd, path.name, loc, member))
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise _local_error(exc, loc, member, "read") from None
    return loc.path


def read_into(loc: Location, member: str, access: Access, target: Path,
              max_bytes: int = DEFAULT_MAX_BYTES) -> list[Path]:
    """Copy the file, or every regular file directly in the folder, that ``loc`` names into ``target``;
    return the copies, sorted by name. Names starting with ``.`` or ``_`` in a folder are skipped."""
    target.mkdir(parents=True, exist_ok=True)
    if loc.scheme == "s3":
        return _read_s3(loc, member, access, target, max_bytes)
    path = Path(loc.path)
    copies = []
    try:
        info = os.lstat(path)
        if stat.S_ISDIR(info.st_mode):
            dir_fd = _open_dir(path, access)
            names = sorted(n for n in os.listdir(dir_fd) if not n.startswith((".", "_")))
        else:
            dir_fd, names = _open_dir(path.parent, access), [path.name]
        try:
            if not names:
                raise InvalidInputException(f"{member} {loc.given[:200]!r} is a folder with no files.")
            for name in names:
                fd = _open_regular(dir_fd, name, loc, member)
                with os.fdopen(fd, "rb") as source:
                    copies.append(_copy(source, target / name, loc, member, max_bytes))
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise _local_error(exc, loc, member, "read") from None
    return copies


def _copy(source, target: Path, loc: Location, member: str, max_bytes: int) -> Path:
    size = 0
    with open(target, "wb") as out:
        while chunk := source.read(COPY_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise InvalidInputException(f"{member} {loc.given[:200]!r} is larger than {max_bytes >> 20:,} MiB, the "
                                            "most this server reads.")
            out.write(chunk)
    return target


def output_target(loc: Location, name: str) -> tuple[str, str]:
    """(folder, file name) of an output named ``name`` at ``loc``, which names a folder (as the service's
    ``s3DataDestination`` does; a local one is made if it is missing)."""
    return (loc.path.rstrip("/") if loc.scheme == "s3" else loc.path), name


def write_from(source: Path, loc: Location, name: str, member: str, access: Access, overwrite: bool = False) -> str:
    """Publish ``source`` as ``name`` in the folder ``loc`` names; return where."""
    folder, file_name = output_target(loc, name)
    if loc.scheme == "s3":
        return _write_s3(source, loc, f"{folder}/{file_name}", member, access)
    try:
        dir_fd = _open_dir(Path(folder), access, create=True)
    except OSError as exc:
        raise _local_error(exc, loc, member, "write") from None
    try:
        _publish(source, dir_fd, file_name, loc, member, overwrite)
    finally:
        os.close(dir_fd)
    return str(Path(folder) / file_name)


def check_target(loc: Location, name: str, member: str, access: Access, overwrite: bool = False) -> None:
    """Refuse, before any work, an output :func:`write_from` would refuse (a local one only)."""
    if loc.scheme != "local":
        return
    folder, file_name = output_target(loc, name)
    try:
        dir_fd = _open_dir(Path(folder), access)
    except FileNotFoundError:
        return  # made when the output is written
    except OSError as exc:
        raise _local_error(exc, loc, member, "write") from None
    try:
        _check_existing(dir_fd, file_name, loc, member, overwrite)
    finally:
        os.close(dir_fd)


def _check_existing(dir_fd: int, name: str, loc: Location, member: str, overwrite: bool) -> None:
    shown = f"{member} {loc.given[:200]!r}: {name!r}"
    try:
        existing = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _local_error(exc, loc, member, "write") from None
    if not stat.S_ISREG(existing.st_mode):
        raise InvalidInputException(f"{shown} is {_kind(existing.st_mode)}; it is never written through or replaced.")
    if not overwrite:
        raise ResourceAlreadyExistsException(f"{shown} already exists; nothing was written over it (the hrnn "
                                             "command's --overwrite replaces a regular file).")


def _publish(source: Path, dir_fd: int, name: str, loc: Location, member: str, overwrite: bool) -> None:
    shown = f"{member} {loc.given[:200]!r}: {name!r}"
    _check_existing(dir_fd, name, loc, member, overwrite)
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o666 & ~current_umask(), dir_fd=dir_fd)
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            while chunk := src.read(COPY_CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        raise ResourceAlreadyExistsException(f"{shown} appeared meanwhile; nothing was written over it.") from None
    except OSError as exc:
        raise storage_error(exc, f"write {shown}") from None
    finally:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass


# ---- S3, through the operator's configuration only ----------------------------------------------------

def s3_endpoint(environ=os.environ) -> str | None:
    """The S3-compatible endpoint from the standard AWS environment (the operator's, never a request's)."""
    return environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or None


def s3_filesystem(access: Access):
    """pyarrow's S3 filesystem for the configured endpoint (credentials and region from the environment)."""
    from pyarrow import fs

    if not access.s3_endpoint:
        return fs.S3FileSystem()
    scheme, _, host = access.s3_endpoint.partition("://")
    return fs.S3FileSystem(endpoint_override=host.rstrip("/"), scheme=scheme or "https")


def _read_s3(loc: Location, member: str, access: Access, target: Path, max_bytes: int) -> list[Path]:
    from pyarrow import fs

    try:
        s3 = s3_filesystem(access)
        info = s3.get_file_info(loc.path)
        if info.type == fs.FileType.Directory or loc.path.endswith("/"):
            listed = s3.get_file_info(fs.FileSelector(loc.path.rstrip("/"), recursive=False, allow_not_found=True))
            sources = sorted((i.path for i in listed if i.type == fs.FileType.File
                              and not i.base_name.startswith((".", "_"))))
        elif info.type == fs.FileType.File:
            sources = [loc.path]
        else:
            raise InvalidInputException(f"{member} {loc.given[:200]!r} does not exist.")
        if not sources:
            raise InvalidInputException(f"{member} {loc.given[:200]!r} is a folder with no files.")
        copies = []
        for source in sources:
            with s3.open_input_stream(source) as stream:
                copies.append(_copy(stream, target / source.rsplit("/", 1)[-1], loc, member, max_bytes))
        return copies
    except InvalidInputException:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises OSError, ArrowInvalid, ... with the store's message
        raise InvalidInputException(f"Cannot read {member} {loc.given[:200]!r}: {str(exc)[:300]}") from None


def _write_s3(source: Path, loc: Location, key: str, member: str, access: Access) -> str:
    try:
        with s3_filesystem(access).open_output_stream(key) as out, open(source, "rb") as src:
            while chunk := src.read(COPY_CHUNK):
                out.write(chunk)
    except Exception as exc:  # noqa: BLE001 - see _read_s3
        raise InvalidInputException(f"Cannot write to {member} {loc.given[:200]!r}: {str(exc)[:300]}") from None
    return "s3://" + key
