"""One program at a time on a library: an OS file lock in the library folder.

:class:`core.Library` takes the lock when it opens and gives it back when it closes, so the
desktop app and ``cbrec-lib`` (or two app windows) can never write one library at once; the
second one gets :class:`LibraryInUse`, whose message names the program holding the library.
The lock is the operating system's (``flock`` on Linux and macOS, ``msvcrt.locking`` on
Windows): it goes away with the process, so a crash never leaves a stale lock behind.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from pathlib import Path

from core.errors import LibraryError

__all__ = ["LOCK_NAME", "LibraryInUse", "LibraryLock"]

log = logging.getLogger(__name__)

LOCK_NAME = "cbrec.lock"


class LibraryInUse(LibraryError):
    """Another program has this library open."""


def _program() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    if name in ("-c", "__main__.py", ""):
        name = "python"
    return name


class LibraryLock:
    """An exclusive, non-blocking lock on ``<root>/cbrec.lock``; :meth:`acquire`, :meth:`release`."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.path = Path(root) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`LibraryInUse` saying who holds it.

        A folder where no lock file can be written (a read-only disk) is opened without one:
        no one can write such a library, so no one can damage it."""
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            log.warning("no lock for %s (%s): opened without one", self.path.parent, exc.strerror or exc)
            return
        if not _try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            who = f" ({holder})" if holder else ""
            raise LibraryInUse(
                f"The library in {self.path.parent} is open in another cbrec program{who}. Close that "
                "program (or wait for its scan to finish) and try again: two programs writing one "
                "library at once could damage it.")
        self._fd = fd
        with contextlib.suppress(OSError):  # who holds it, for the message the next opener gets
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{_program()}, process {os.getpid()} on {socket.gethostname()}\n".encode())

    def release(self) -> None:
        """Give the lock back (closing the file releases it)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        _unlock(fd)
        os.close(fd)

    def __del__(self) -> None:  # a Library dropped without close() still lets go
        with contextlib.suppress(Exception):
            self.release()


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:  # a file system without locks (some network mounts): go on unlocked
        log.warning("file locks are not supported here (%s): the library is opened without one", exc)
    return True


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 200).decode("utf-8", "replace").strip()
    return ""
