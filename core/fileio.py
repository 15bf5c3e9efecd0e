"""Durable, atomic file replacement: write beside the target, fsync, rename, fsync the folder."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

NAME_MAX = 255  # bytes in one file name on every common file system


def temp_name(path: Path) -> Path:
    """A fresh hidden name next to ``path`` (same file system, so ``os.replace`` is atomic).

    The target's name is shortened as needed so the temporary name stays within ``NAME_MAX``
    bytes: a target whose own name is 229-255 bytes long can still be written."""
    suffix = f".{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    name = path.name
    while name and len(os.fsencode(f".{name}{suffix}")) > NAME_MAX:
        name = name[:-1]
    return path.with_name(f".{name}{suffix}")


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (POSIX only; Windows cannot open folders)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` so readers see the old file or the new one, never a mix.

    Raises ``OSError`` (the temporary file is removed) when the folder is not writable."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path
