"""Atomic file writes: a reader sees the old file or the new one, never half of one."""
from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

from core.errors import WorkbenchError

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class WriteError(WorkbenchError):
    """A file could not be written (a full disk, no permission); the previous file is unchanged."""


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write bytes (or UTF-8 text) to `path` via temp file + fsync + os.replace."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return write_atomic_with(path, lambda fh: fh.write(payload))


def write_atomic_with(path: str | Path, writer: Callable[[object], object]) -> Path:
    """Let `writer(fh)` fill a temp file beside `path`, then move it into place.

    A failure (a full disk, say) removes the temp file and leaves the old file as it was.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:  # no inode left, no permission: nothing was written
        raise WriteError(_write_failure(target, exc)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # already gone; a leftover is swept when its run is recovered
        if isinstance(exc, OSError):
            raise WriteError(_write_failure(target, exc)) from exc
        raise
    _fsync_dir(target.parent)
    return target


def _write_failure(target: Path, exc: OSError) -> str:
    if exc.errno in _DISK_FULL:
        return (f"the disk is full: could not write {target.name} (no space left on the device holding "
                f"{target.parent}). Free some space and try again; the previous file is unchanged.")
    reason = exc.strerror or str(exc)
    return f"could not write {target.name}: {reason}; the previous file is unchanged"


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk too.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
