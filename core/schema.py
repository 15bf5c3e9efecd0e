"""The library database's schema: one SQL script per version, applied in order by
:meth:`core.store.Store` (each in one transaction). Add a version; never edit a released one."""
from __future__ import annotations

SCHEMA_VERSION = 4

MIGRATIONS: dict[int, str] = {
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
    # 4: nothing is lost when a drive is away (issue 10). A track whose folder cannot be read is
    # kept with ``available = 0``; ctime and inode tell a replaced file from an untouched one;
    # playlist items keep the path (and what to show) of their track, so an entry whose file is
    # gone stays in the playlist (``track_id`` NULL) and finds its track again when it returns.
    # ``store_id`` (random, never repeated by a new file) and ``content`` (a random token renewed
    # by every write to tracks or vectors) tie the vector index to the exact store it came from.
    4: """
    ALTER TABLE tracks ADD COLUMN available INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE tracks ADD COLUMN ctime_ns INTEGER;
    ALTER TABLE tracks ADD COLUMN inode INTEGER;
    CREATE TABLE playlist_entries (
        playlist_id INTEGER NOT NULL REFERENCES playlists(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        track_id INTEGER REFERENCES tracks(id) ON DELETE SET NULL,
        path BLOB NOT NULL,
        fingerprint TEXT,
        title TEXT, artist TEXT, duration REAL,
        score REAL,
        PRIMARY KEY (playlist_id, position)
    );
    INSERT INTO playlist_entries SELECT i.playlist_id, i.position, i.track_id, t.path, t.fingerprint,
        t.title, t.artist, t.duration, i.score FROM playlist_items i JOIN tracks t ON t.id = i.track_id;
    DROP TABLE playlist_items;
    ALTER TABLE playlist_entries RENAME TO playlist_items;
    CREATE INDEX playlist_items_track ON playlist_items(track_id);
    CREATE INDEX playlist_items_path ON playlist_items(path);
    INSERT OR REPLACE INTO meta VALUES ('store_id', lower(hex(randomblob(16))));
    INSERT OR REPLACE INTO meta VALUES ('content', lower(hex(randomblob(16))))
    """,
}
