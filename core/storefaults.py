"""What went wrong with the library database, said in one sentence a person can act on.

SQLite reports a damaged file, a full disk, a read-only folder and a missing drive through a
handful of result codes (``sqlite_errorname``); :func:`store_error` turns any of them into a
:class:`~core.errors.LibraryError` subclass whose message names the fault and what to do, so
that no caller ever shows ``sqlite3.DatabaseError`` or a traceback. The hint always matches
the fault: a damaged file is never answered with "check that the folder is writable".

:class:`Connection` is the ``sqlite3`` connection the store uses: every ``execute`` (and every
row fetched afterwards) raises these errors instead of raw ``sqlite3`` ones.
"""
from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from core.errors import LibraryError

# below this many free bytes an I/O error on the library's disk is taken as "disk full"
FULL_BELOW = 1 << 20


class StoreDamaged(LibraryError):
    """The database file is corrupt (or not a database); ``cbrec-lib repair`` salvages it."""


class DiskFull(LibraryError):
    """The disk holding the library has no room left; nothing was lost."""


class ReadOnlyLibrary(LibraryError):
    """The library can be read but not changed (read-only folder, share, backup or full disk)."""


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def folder_is_read_only(folder: Path) -> bool:
    """True when files in ``folder`` cannot be created: a read-only mount or no write permission."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except (OSError, AttributeError):
        pass
    return not os.access(folder, os.W_OK)


def classify(exc: BaseException, db_path: Path) -> str:
    """``"damaged"``, ``"full"``, ``"readonly"``, ``"missing"``, ``"locked"``, ``"io"`` or ``"other"``."""
    folder = Path(db_path).parent
    if isinstance(exc, OSError) and not isinstance(exc, sqlite3.Error):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "full"
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return "readonly"
        if exc.errno == errno.ENOENT:
            return "missing"
        return "io"
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text:
        return "damaged"
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return "full"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return "locked"
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY")) or "readonly" in text \
            or "unable to open" in text or "disk i/o" in text:
        if not folder.is_dir():
            return "missing"
        free = _free_bytes(folder)
        if free is not None and free < FULL_BELOW:
            return "full"
        if name.startswith("SQLITE_READONLY") or "readonly" in text or folder_is_read_only(folder) \
                or (Path(db_path).exists() and not os.access(db_path, os.W_OK)):
            return "readonly"
        return "io"
    return "other"


def store_error(exc: BaseException, db_path: Path, doing: str = "") -> LibraryError:
    """The :class:`LibraryError` to raise for ``exc`` met while using the database ``db_path``."""
    if isinstance(exc, LibraryError):
        return exc
    db_path = Path(db_path)
    folder = db_path.parent
    kind = classify(exc, db_path)
    detail = getattr(exc, "strerror", None) or str(exc)
    if kind == "damaged":
        return StoreDamaged(f"The library database {db_path} is damaged ({detail}); run `cbrec-lib repair` "
                            "(or reopen the app and choose Repair library) to salvage what it still holds into "
                            "a fresh database, keeping the damaged file aside.")
    if kind == "full":
        return DiskFull(f"The disk holding {folder} is full, so the library could not be changed (nothing "
                        "was lost): free some space on that disk, or move the library folder, and try again.")
    if kind == "readonly":
        return ReadOnlyLibrary(f"The library {db_path} is read-only ({detail}): it can be browsed, but "
                               f"{doing or 'changing it'} needs write access to {folder}.")
    if kind == "missing":
        return LibraryError(f"The library folder {folder} is not there ({detail}): connect the drive it lives "
                            "on, or choose another library folder.")
    if kind == "locked":
        return LibraryError(f"The library {db_path} is busy: another program is writing to it ({detail}); "
                            "try again when it has finished.")
    if kind == "io":
        return LibraryError(f"The disk holding {folder} reported an input/output error ({detail}): check that "
                            "the drive is connected and healthy, then try again.")
    return LibraryError(f"The library database {db_path} could not be used ({detail}).")


class _Cursor(sqlite3.Cursor):
    """A cursor whose row fetches raise :func:`store_error` errors (a damaged page is often met
    while stepping through rows, after ``execute`` succeeded)."""

    def _fail(self, exc: sqlite3.Error) -> LibraryError:
        return store_error(exc, self.connection.db_path)  # type: ignore[attr-defined]

    def __next__(self):
        try:
            return super().__next__()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def fetchone(self):
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def fetchall(self):
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc


class Connection(sqlite3.Connection):
    """``sqlite3.Connection`` whose ``execute``/``executemany`` raise :func:`store_error` errors.

    ``raw_execute`` runs a statement with plain ``sqlite3`` errors (for ROLLBACK and probes)."""

    db_path: Path = Path("library.sqlite3")

    def execute(self, sql: str, parameters=(), /):  # type: ignore[override]
        cur = self.cursor(_Cursor)
        try:
            return cur.execute(sql, parameters)
        except sqlite3.Error as exc:
            raise store_error(exc, self.db_path) from exc

    def executemany(self, sql: str, parameters, /):  # type: ignore[override]
        cur = self.cursor(_Cursor)
        try:
            return cur.executemany(sql, parameters)
        except sqlite3.Error as exc:
            raise store_error(exc, self.db_path) from exc

    def raw_execute(self, sql: str, parameters=()) -> sqlite3.Cursor:
        return sqlite3.Connection.execute(self, sql, parameters)

    def rollback_quietly(self) -> None:
        """ROLLBACK if a transaction is open; a failing ROLLBACK must never hide the real error."""
        if self.in_transaction:
            try:
                self.raw_execute("ROLLBACK")
            except sqlite3.Error:
                pass


def connect(db_path: Path, read_only: bool = False, immutable: bool = False) -> Connection:
    """Open ``db_path``; ``read_only`` opens it with ``mode=ro`` (``immutable`` also skips locking,
    which is only safe when there is no write-ahead log with unmerged changes)."""
    if read_only:
        from urllib.parse import quote

        uri = "file:" + quote(os.fspath(Path(db_path).absolute())) + "?mode=ro" + ("&immutable=1" if immutable else "")
        conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False,
                               factory=Connection)
    else:
        conn = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False,
                               factory=Connection)
    conn.db_path = Path(db_path)
    return conn
