"""Salvage a damaged library database into a fresh one, keeping the damaged file aside.

SQLite can often still read most of a damaged file: every table is read in rowid order until
the damage, then backwards from the end, then row by row across the gap, so one bad page costs
only the rows on it. What is read (folders, tracks, vectors, playlists, listening history, ...)
goes into a new store with the current schema; links to rows that were lost are cut (a playlist
entry keeps its path and shows as missing), and the next scan re-adds and re-analyses whatever
is missing. ``cbrec-lib repair`` and the app's *Repair library* run :func:`repair_store`, then a scan.

    >>> report = repair_store(Path("~/.local/share/cbrec/library.sqlite3").expanduser())
    >>> print(report.summary())
"""
from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import LibraryError
from core.lock import LibraryLock
from core.store import Store

log = logging.getLogger(__name__)

# parents before children; "failures" is left out (the next scan tries those files again)
_ORDER = ("folders", "tracks", "vectors", "tag_names", "tag_scores", "playlists", "playlist_items", "plays")
_SKIP = {"meta", "failures"}
_MAX_PROBES = 2_000_000   # row-by-row reads across one damaged gap


@dataclass
class RepairReport:
    """What :func:`repair_store` did: where the damaged file went, rows kept per table, problems."""

    db_path: Path
    damaged_copy: Path | None = None
    was_damaged: bool = True
    check: str = ""
    salvaged: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)   # table -> damaged regions met

    def summary(self) -> str:
        if not self.was_damaged:
            return f"{self.db_path} is not damaged (integrity check: {self.check}); nothing was changed."
        kept = ", ".join(f"{n} {table}" for table, n in self.salvaged.items() if n) or "nothing"
        text = f"Salvaged {kept} into a fresh {self.db_path}; the damaged file is kept as {self.damaged_copy}."
        if self.unreadable:
            text += " Unreadable parts in: " + ", ".join(sorted(self.unreadable)) + "."
        return text


def check_store(db_path: Path) -> str:
    """``"ok"`` or SQLite's first complaint about the file (``PRAGMA quick_check``)."""
    try:
        conn = sqlite3.connect(f"file:{Path(db_path).absolute()}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return str(exc)
    return "; ".join(str(r[0]) for r in rows[:3]) or "ok"


def repair_store(db_path: Path, force: bool = False) -> RepairReport:
    """Move ``db_path`` (and its ``-wal``/``-shm``) aside and salvage it into a fresh store there.

    An undamaged file is left alone unless ``force``. Raises :class:`LibraryError` when there is
    no file, or when the folder cannot take the fresh store."""
    db_path = Path(db_path)
    report = RepairReport(db_path)
    if not db_path.is_file():
        raise LibraryError(f"There is no library database at {db_path} to repair.")
    lock = LibraryLock(db_path.parent)
    lock.acquire()  # no program may have the library open while its file is moved aside
    try:
        return _repair_locked(db_path, report, force)
    finally:
        lock.release()


def _repair_locked(db_path: Path, report: RepairReport, force: bool) -> RepairReport:
    report.check = check_store(db_path)
    if report.check == "ok" and not force:
        report.was_damaged = False
        return report
    aside = db_path.with_name(f"{db_path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(db_path) + suffix)
            if src.exists():
                os.replace(src, Path(str(aside) + suffix))
    except OSError as exc:
        raise LibraryError(f"Cannot move the damaged library {db_path} aside ({exc.strerror}): "
                           "check that its folder is writable.") from exc
    report.damaged_copy = aside
    fresh = Store(db_path)
    try:
        old = sqlite3.connect(f"file:{aside}?mode=ro", uri=True)
        try:
            _salvage(old, fresh, report)
        finally:
            old.close()
    finally:
        fresh.close()
    log.info("%s", report.summary())
    return report


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")').fetchall()]


def _tables(conn: sqlite3.Connection) -> dict[str, bool]:
    """table name -> has a rowid (False for WITHOUT ROWID tables)."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name: "WITHOUT ROWID" not in (sql or "").upper() for name, sql in rows if not name.startswith("sqlite_")}


def _salvage(old: sqlite3.Connection, fresh: Store, report: RepairReport) -> None:
    try:
        old_tables = _tables(old)
    except sqlite3.Error as exc:  # the schema page itself is gone: nothing can be read
        report.unreadable["schema"] = 1
        log.warning("the damaged library's schema cannot be read (%s); starting afresh", exc)
        return
    new_tables = _tables(fresh.conn)
    order = [t for t in _ORDER if t in new_tables] + sorted(set(new_tables) - set(_ORDER) - _SKIP)
    conn = fresh.conn
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        with fresh.transaction() as tx:
            for table in order:
                if table not in old_tables:
                    continue
                report.salvaged[table] = _copy_table(old, tx, table, old_tables[table], report)
            _cut_lost_links(tx, new_tables)
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


def _copy_table(old: sqlite3.Connection, tx, table: str, has_rowid: bool, report: RepairReport) -> int:
    try:
        old_cols = _columns(old, table)
    except sqlite3.Error:
        report.unreadable[table] = report.unreadable.get(table, 0) + 1
        return 0
    new_cols = _columns(tx, table)
    cols = [c for c in new_cols if c in old_cols]
    fill_path = table == "playlist_items" and "path" not in old_cols   # a store older than schema 4
    if fill_path:
        cols_sql = ", ".join(f'"{c}"' for c in cols) + ', "path"'
    else:
        cols_sql = ", ".join(f'"{c}"' for c in cols)
    insert = f'INSERT OR IGNORE INTO "{table}" ({cols_sql}) VALUES ({", ".join("?" * (len(cols) + fill_path))})'
    kept = 0
    for row in _read_rows(old, table, cols, has_rowid, report):
        if fill_path:
            found = tx.execute("SELECT path FROM tracks WHERE id = ?", (row[cols.index("track_id")],)).fetchone()
            if found is None:
                continue
            row = (*row, found[0])
        try:
            kept += tx.execute(insert, row).rowcount > 0
        except LibraryError:  # a garbled row that breaks a constraint: leave it out
            continue
    return kept


def _read_rows(old: sqlite3.Connection, table: str, cols: list[str], has_rowid: bool,
               report: RepairReport) -> Iterator[tuple]:
    """Every row SQLite can still read: forward until the damage, backward from the end, then
    (rowid tables) row by row across the gap between them."""
    select = ", ".join(f'"{c}"' for c in cols)
    key = "rowid" if has_rowid else ", ".join(f'"{c}"' for c in _primary_key(old, table) or cols[:1])

    def damaged() -> None:
        report.unreadable[table] = report.unreadable.get(table, 0) + 1

    seen_low: int | None = None
    forward_done = False
    try:
        for row in old.execute(f'SELECT {"rowid, " if has_rowid else ""}{select} FROM "{table}" ORDER BY {key}'):
            if has_rowid:
                seen_low = row[0]
                yield row[1:]
            else:
                yield row
        forward_done = True
    except sqlite3.Error:
        damaged()
    if forward_done or not has_rowid:
        if not forward_done:
            yield from _read_backward(old, table, select, key, None, damaged)
        return
    high = None
    for rowid, row in _read_backward_rowid(old, table, select, seen_low, damaged):
        high = rowid if high is None else min(high, rowid)
        yield row
    start = (seen_low if seen_low is not None else 0) + 1
    stop = high if high is not None else start + _MAX_PROBES
    for rowid in range(start, min(stop, start + _MAX_PROBES)):
        try:
            row = old.execute(f'SELECT {select} FROM "{table}" WHERE rowid = ?', (rowid,)).fetchone()
        except sqlite3.Error:
            continue
        if row is not None:
            yield row


def _read_backward_rowid(old, table, select, above, damaged) -> Iterator[tuple[int, tuple]]:
    where = "WHERE rowid > ?" if above is not None else ""
    try:
        for row in old.execute(f'SELECT rowid, {select} FROM "{table}" {where} ORDER BY rowid DESC',
                               (above,) if above is not None else ()):
            yield row[0], row[1:]
    except sqlite3.Error:
        damaged()


def _read_backward(old, table, select, key, _above, damaged) -> Iterator[tuple]:
    """WITHOUT ROWID tables: the rows after the damage, read from the end (duplicates are ignored
    by the insert)."""
    desc = ", ".join(f"{k.strip()} DESC" for k in key.split(","))
    try:
        yield from old.execute(f'SELECT {select} FROM "{table}" ORDER BY {desc}')
    except sqlite3.Error:
        damaged()


def _primary_key(old: sqlite3.Connection, table: str) -> list[str]:
    try:
        info = old.execute(f'PRAGMA table_info("{table}")').fetchall()
    except sqlite3.Error:
        return []
    return [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]


def _cut_lost_links(tx, tables: dict[str, bool]) -> None:
    """References to rows that were not salvaged become NULL (kept, shown missing) or go."""
    tx.execute("DELETE FROM playlist_items WHERE playlist_id NOT IN (SELECT id FROM playlists)")
    tx.execute("UPDATE playlist_items SET track_id = NULL WHERE track_id IS NOT NULL"
               " AND track_id NOT IN (SELECT id FROM tracks)")
    if "plays" in tables:
        tx.execute("UPDATE plays SET track_id = NULL WHERE track_id IS NOT NULL AND track_id NOT IN (SELECT id FROM tracks)")
    # vectors whose track row was lost are kept: the scan that follows finds the file again and
    # reuses its analysis (same content fingerprint) instead of decoding it again
