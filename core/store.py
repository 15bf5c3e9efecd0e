"""SQLite store: the library's source of truth (schema, migrations, transactions).

Paths are stored as BLOBs of ``os.fsencode(path)`` so that file names that are not valid
UTF-8 survive. Vectors are keyed by (content fingerprint, analysis version): a moved file
keeps its analysis, and vectors of different models never mix.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import LibraryError
from core.types import Track

SCHEMA_VERSION = 3

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE tracks (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        title TEXT NOT NULL,
        artist TEXT, album TEXT, album_artist TEXT,
        track_number INTEGER, year INTEGER, genre TEXT, duration REAL,
        added_at REAL NOT NULL
    );
    CREATE INDEX tracks_fingerprint ON tracks(fingerprint);
    CREATE TABLE vectors (
        fingerprint TEXT NOT NULL,
        version TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (fingerprint, version)
    ) WITHOUT ROWID;
    CREATE TABLE failures (
        path BLOB PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        reason TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE TABLE folders (path BLOB PRIMARY KEY, added_at REAL NOT NULL);
    CREATE TABLE playlists (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, created TEXT NOT NULL, params TEXT
    );
    CREATE TABLE playlist_items (
        playlist_id INTEGER NOT NULL REFERENCES playlists(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
        score REAL,
        PRIMARY KEY (playlist_id, position)
    );
    """,
    # 2: listening history (issue 12). One row per play, or per imported play count of another
    # player. ``ext_key`` makes re-imports idempotent within a ``source``; ``track_id`` is NULL
    # while an entry matches no library track (kept, so a later scan can still match it).
    2: """
    CREATE TABLE plays (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        ext_key TEXT NOT NULL,
        track_id INTEGER REFERENCES tracks(id) ON DELETE SET NULL,
        played_at REAL,
        seconds REAL,
        count INTEGER NOT NULL DEFAULT 1,
        artist TEXT, title TEXT, album TEXT, location TEXT,
        imported_at REAL NOT NULL,
        UNIQUE (source, ext_key)
    );
    CREATE INDEX plays_track ON plays(track_id);
    """,
    # 3: automatic tags (issue 11). A tagged model's scores per analysed content, keyed like
    # vectors by (fingerprint, analysis version): float32 blobs in the order of that version's
    # ``tag_names`` (a JSON list), so the store alone says what every score means.
    3: """
    CREATE TABLE tag_scores (
        fingerprint TEXT NOT NULL,
        version TEXT NOT NULL,
        scores BLOB NOT NULL,
        PRIMARY KEY (fingerprint, version)
    ) WITHOUT ROWID;
    CREATE TABLE tag_names (version TEXT PRIMARY KEY, names TEXT NOT NULL);
    """,
}

_TRACK_COLUMNS = ("id, path, title, artist, album, album_artist, track_number, year, genre, duration")


@dataclass(frozen=True)
class FileState:
    """What the store knows about a path: its id, size, mtime (ns) and content fingerprint."""

    id: int
    size: int
    mtime_ns: int
    fingerprint: str


@dataclass(frozen=True)
class NewTrack:
    """A track ready to be written: file identity, tags and (optionally) its vector."""

    path: str
    size: int
    mtime_ns: int
    fingerprint: str
    tags: dict
    vector: np.ndarray | None


def encode_path(path: str) -> bytes:
    return os.fsencode(path)


def decode_path(blob: bytes) -> str:
    return os.fsdecode(bytes(blob))


def clean_text(value: object) -> str | None:
    """Tag text safe for SQLite: undecodable bytes (from odd file names) become U+FFFD."""
    if value is None:
        return None
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\x00", "").strip() or None


class Store:
    """Thread-safe access to one library database (one connection per thread, WAL mode)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate(self.conn)
        except (sqlite3.Error, OSError) as exc:
            raise LibraryError(f"Cannot open the library database {self.db_path}: {exc}. "
                               "Check that the folder is writable, or choose another library folder.") from exc

    # -- connections and transactions -------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self, bump: bool = True) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all.

        ``bump`` advances the generation counter: set it for writes to tracks or vectors (they
        make the vector index stale), not for folders or playlists."""
        with self._write_lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if bump:
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise LibraryError(f"The library {self.db_path} was written by a newer cbrec "
                               f"(schema {current}, this version knows {SCHEMA_VERSION}). Update cbrec.")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- meta ---------------------------------------------------------------------------------
    def generation(self) -> int:
        """A counter bumped by every write transaction (used to know when the index is stale)."""
        return int(self.conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def schema_version(self) -> int:
        return int(self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])

    # -- tracks -------------------------------------------------------------------------------
    def file_states(self) -> dict[str, FileState]:
        """Every known track path -> its stored size, mtime and fingerprint."""
        rows = self.conn.execute("SELECT path, id, size, mtime_ns, fingerprint FROM tracks")
        return {decode_path(p): FileState(i, s, m, f) for p, i, s, m, f in rows}

    def failure_states(self) -> dict[str, tuple[int, int, str]]:
        """Every path that failed analysis -> (size, mtime_ns, reason) when it failed."""
        rows = self.conn.execute("SELECT path, size, mtime_ns, reason FROM failures")
        return {decode_path(p): (s, m, r) for p, s, m, r in rows}

    def fingerprints_with_vectors(self, version: str) -> set[str]:
        rows = self.conn.execute("SELECT fingerprint FROM vectors WHERE version = ?", (version,))
        return {r[0] for r in rows}

    def tracks(self, version: str | None = None) -> list[Track]:
        """All tracks ordered by artist, album, track number; status from ``version``'s vectors."""
        sql = (f"SELECT {_TRACK_COLUMNS}, EXISTS(SELECT 1 FROM vectors v WHERE v.fingerprint = t.fingerprint"
               " AND v.version = ?) FROM tracks t ORDER BY artist COLLATE NOCASE, album COLLATE NOCASE,"
               " track_number, title COLLATE NOCASE")
        return [_row_to_track(r) for r in self.conn.execute(sql, (version or "",))]

    def tracks_by_id(self, ids: Sequence[int], version: str | None = None) -> dict[int, Track]:
        out: dict[int, Track] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            marks = ",".join("?" * len(chunk))
            sql = (f"SELECT {_TRACK_COLUMNS}, EXISTS(SELECT 1 FROM vectors v WHERE v.fingerprint ="
                   f" t.fingerprint AND v.version = ?) FROM tracks t WHERE id IN ({marks})")
            for row in self.conn.execute(sql, (version or "", *chunk)):
                out[row[0]] = _row_to_track(row)
        return out

    def track_id_for_path(self, path: str) -> int | None:
        row = self.conn.execute("SELECT id FROM tracks WHERE path = ?", (encode_path(path),)).fetchone()
        return row[0] if row else None

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0])

    def upsert_tracks(self, conn: sqlite3.Connection, items: Iterable[NewTrack], version: str) -> list[int]:
        """Insert or update tracks (by path) and their vectors, inside an open transaction."""
        ids = []
        now = time.time()
        for item in items:
            t = item.tags
            conn.execute(
                "INSERT INTO tracks (path, size, mtime_ns, fingerprint, title, artist, album, album_artist,"
                " track_number, year, genre, duration, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,"
                " fingerprint=excluded.fingerprint, title=excluded.title, artist=excluded.artist,"
                " album=excluded.album, album_artist=excluded.album_artist,"
                " track_number=excluded.track_number, year=excluded.year, genre=excluded.genre,"
                " duration=excluded.duration",
                (encode_path(item.path), item.size, item.mtime_ns, item.fingerprint,
                 clean_text(t.get("title")) or clean_text(os.path.basename(item.path)),
                 clean_text(t.get("artist")), clean_text(t.get("album")), clean_text(t.get("album_artist")),
                 t.get("track_number"), t.get("year"), clean_text(t.get("genre")), t.get("duration"), now))
            if item.vector is not None:
                conn.execute("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                             (item.fingerprint, version, np.asarray(item.vector, np.float32).tobytes()))
            conn.execute("DELETE FROM failures WHERE path = ?", (encode_path(item.path),))
            ids.append(conn.execute("SELECT id FROM tracks WHERE path = ?",
                                    (encode_path(item.path),)).fetchone()[0])
        return ids

    def update_file_state(self, conn: sqlite3.Connection, path: str, size: int, mtime_ns: int) -> None:
        """Record a new size/mtime for a file whose content (fingerprint) did not change."""
        conn.execute("UPDATE tracks SET size = ?, mtime_ns = ? WHERE path = ?",
                     (size, mtime_ns, encode_path(path)))

    def move_track(self, conn: sqlite3.Connection, old: str, new: str, size: int, mtime_ns: int) -> None:
        """Point an existing track (and so its analysis and playlist entries) at a new path."""
        conn.execute("DELETE FROM failures WHERE path = ?", (encode_path(new),))
        conn.execute("UPDATE tracks SET path = ?, size = ?, mtime_ns = ? WHERE path = ?",
                     (encode_path(new), size, mtime_ns, encode_path(old)))

    def remove_paths(self, conn: sqlite3.Connection, paths: Iterable[str]) -> None:
        for path in paths:
            conn.execute("DELETE FROM tracks WHERE path = ?", (encode_path(path),))
            conn.execute("DELETE FROM failures WHERE path = ?", (encode_path(path),))
        conn.execute("DELETE FROM vectors WHERE fingerprint NOT IN (SELECT fingerprint FROM tracks)")
        conn.execute("DELETE FROM tag_scores WHERE fingerprint NOT IN (SELECT fingerprint FROM tracks)")

    def remove_failures(self, conn: sqlite3.Connection, paths: Iterable[str]) -> None:
        conn.executemany("DELETE FROM failures WHERE path = ?", [(encode_path(p),) for p in paths])

    def record_failure(self, conn: sqlite3.Connection, path: str, size: int, mtime_ns: int,
                       reason: str) -> None:
        conn.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
                     (encode_path(path), size, mtime_ns, reason, time.time()))

    def failures(self) -> list[tuple[str, str]]:
        rows = self.conn.execute("SELECT path, reason FROM failures ORDER BY path")
        return [(decode_path(p), r) for p, r in rows]

    # -- vectors ------------------------------------------------------------------------------
    def vectors(self, version: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """All analysed tracks for ``version``: (ids int64 (n,), vectors float32 (n, dim))."""
        rows = self.conn.execute(
            "SELECT t.id, v.vector FROM tracks t JOIN vectors v ON v.fingerprint = t.fingerprint"
            " WHERE v.version = ? ORDER BY t.id", (version,)).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return ids, mat

    def vectors_for(self, ids: Sequence[int], version: str, dim: int) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                "SELECT t.id, v.vector FROM tracks t JOIN vectors v ON v.fingerprint = t.fingerprint"
                f" WHERE v.version = ? AND t.id IN ({marks})", (version, *chunk))
            for tid, blob in rows:
                out[tid] = np.frombuffer(blob, dtype=np.float32, count=dim)
        return out

    # -- folders ------------------------------------------------------------------------------
    def folders(self) -> list[str]:
        return [decode_path(r[0]) for r in self.conn.execute("SELECT path FROM folders ORDER BY path")]

    def add_folder(self, path: str) -> None:
        with self.transaction(bump=False) as conn:
            conn.execute("INSERT OR IGNORE INTO folders VALUES (?, ?)", (encode_path(path), time.time()))

    def remove_folder(self, path: str) -> None:
        with self.transaction(bump=False) as conn:
            conn.execute("DELETE FROM folders WHERE path = ?", (encode_path(path),))

    # -- playlists ----------------------------------------------------------------------------
    def save_playlist(self, name: str, created: str, items: Sequence[tuple[int, float]],
                      params: str = "{}") -> int:
        with self.transaction(bump=False) as conn:
            cur = conn.execute("INSERT INTO playlists (name, created, params) VALUES (?, ?, ?)",
                               (name, created, params))
            pid = int(cur.lastrowid)
            conn.executemany("INSERT INTO playlist_items VALUES (?, ?, ?, ?)",
                             [(pid, pos, tid, score) for pos, (tid, score) in enumerate(items)])
        return pid

    def playlists(self) -> list[tuple[int, str, str]]:
        return list(self.conn.execute("SELECT id, name, created FROM playlists ORDER BY created, id"))

    def playlist(self, playlist_id: int) -> tuple[str, list[tuple[int, float]]] | None:
        row = self.conn.execute("SELECT name FROM playlists WHERE id = ?", (playlist_id,)).fetchone()
        if row is None:
            return None
        items = self.conn.execute("SELECT track_id, score FROM playlist_items WHERE playlist_id = ?"
                                  " ORDER BY position", (playlist_id,)).fetchall()
        return row[0], [(int(t), float(s) if s is not None else 0.0) for t, s in items]

    def delete_playlist(self, playlist_id: int) -> None:
        with self.transaction(bump=False) as conn:
            conn.execute("DELETE FROM playlists WHERE id = ?", (playlist_id,))


def _row_to_track(row: tuple) -> Track:
    tid, path, title, artist, album, album_artist, number, year, genre, duration, analysed = row
    return Track(id=tid, path=decode_path(path), title=title, artist=artist, album=album,
                 album_artist=album_artist, track_number=number, year=year, genre=genre,
                 duration=duration, status="ok" if analysed else "pending")
