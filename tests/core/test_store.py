"""The SQLite store: schema, non-UTF-8 paths, vectors keyed by analysis version, playlists."""
from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from core.errors import LibraryError
from core.store import SCHEMA_VERSION, NewTrack, Store


def _item(path: str, fp: str, vec=None) -> NewTrack:
    return NewTrack(path, 10, 20, fp, {"title": os.path.basename(path), "artist": "A"}, vec)


def test_schema_wal_and_version(tmp_path):
    store = Store(tmp_path / "lib.sqlite3")
    assert store.schema_version() == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_non_utf8_paths_round_trip(tmp_path):
    store = Store(tmp_path / "lib.sqlite3")
    weird = os.fsdecode(b"/music/caf\xe9 \xff.flac")
    with store.transaction() as conn:
        store.upsert_tracks(conn, [_item(weird, "f1", np.ones(4, np.float32) / 2)], "v1")
    assert weird in store.file_states()
    assert store.tracks("v1")[0].path == weird


def test_vectors_are_per_version_and_shared_by_content(tmp_path):
    store = Store(tmp_path / "lib.sqlite3")
    vec = np.array([1, 0, 0, 0], np.float32)
    with store.transaction() as conn:
        store.upsert_tracks(conn, [_item("/m/a.mp3", "fp", vec), _item("/m/copy.mp3", "fp", None)], "v1")
    ids, mat = store.vectors("v1", 4)
    assert len(ids) == 2 and np.allclose(mat, vec)          # both copies share the content's vector
    assert store.vectors("v2", 4)[0].size == 0              # another model sees nothing
    assert {t.status for t in store.tracks("v2")} == {"pending"}


def test_generation_bumps_only_for_track_writes(tmp_path):
    store = Store(tmp_path / "lib.sqlite3")
    g0 = store.generation()
    store.add_folder("/m")
    store.save_playlist("p", "2026-01-01", [])
    assert store.generation() == g0
    with store.transaction() as conn:
        store.upsert_tracks(conn, [_item("/m/a.mp3", "fp", None)], "v1")
    assert store.generation() == g0 + 1


def test_failed_transaction_rolls_back(tmp_path):
    store = Store(tmp_path / "lib.sqlite3")
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.upsert_tracks(conn, [_item("/m/a.mp3", "fp", None)], "v1")
        raise RuntimeError("boom")
    assert store.count() == 0


def test_playlists_keep_entries_whose_track_is_removed_and_relink_them(tmp_path):
    store = Store(tmp_path / "lib.sqlite3")
    with store.transaction() as conn:
        ids = store.upsert_tracks(conn, [_item("/m/a.mp3", "a"), _item("/m/b.mp3", "b")], "v1")
    pid = store.save_playlist("mine", "2026-01-01T00:00:00", [(ids[1], 1.0), (ids[0], 0.5)])
    name, entries = store.playlist(pid)
    assert name == "mine" and [(e.track_id, e.score, e.path) for e in entries] == [
        (ids[1], 1.0, "/m/b.mp3"), (ids[0], 0.5, "/m/a.mp3")]
    with store.transaction() as conn:
        store.remove_paths(conn, ["/m/a.mp3"])
    entries = store.playlist(pid)[1]
    assert [(e.track_id, e.path, e.title) for e in entries] == [(ids[1], "/m/b.mp3", "b.mp3"),
                                                                (None, "/m/a.mp3", "a.mp3")]
    assert store.missing_entries() == 1
    with store.transaction() as conn:   # the file comes back: a new track, linked to the old entry
        new_id = store.upsert_tracks(conn, [_item("/m/a.mp3", "a")], "v1")[0]
    assert [e.track_id for e in store.playlist(pid)[1]] == [ids[1], new_id]
    assert store.missing_entries() == 0
    store.delete_playlist(pid)
    assert store.playlist(pid) is None and store.conn.execute("SELECT COUNT(*) FROM playlist_items").fetchone() == (0,)


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    db = tmp_path / "lib.sqlite3"
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(LibraryError, match="newer cbrec"):
        Store(db)


def test_migration_4_keeps_playlists_with_paths_and_gives_a_store_id(tmp_path):
    from core.schema import MIGRATIONS

    db = tmp_path / "lib.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for version in (1, 2, 3):
        conn.executescript(MIGRATIONS[version])
    conn.execute("INSERT INTO meta VALUES ('schema_version', '3'), ('generation', '7')")
    for i, name in enumerate((b"/m/a.mp3", b"/m/b.mp3"), 1):
        conn.execute("INSERT INTO tracks (id, path, size, mtime_ns, fingerprint, title, artist, added_at)"
                     " VALUES (?, ?, 1, 2, ?, ?, 'Ann', 0)", (i, name, f"fp{i}", f"T{i}"))
    conn.execute("INSERT INTO playlists VALUES (1, 'old', '2026-01-01', '{}')")
    conn.execute("INSERT INTO playlist_items VALUES (1, 0, 2, 0.9), (1, 1, 1, 0.8)")
    conn.commit()
    conn.close()
    store = Store(db)
    assert store.schema_version() == SCHEMA_VERSION and store.generation() == 7
    name, entries = store.playlist(1)
    assert [(e.track_id, e.path, e.title, e.artist, e.score) for e in entries] == [
        (2, "/m/b.mp3", "T2", "Ann", 0.9), (1, "/m/a.mp3", "T1", "Ann", 0.8)]
    assert all(s.available and s.ctime_ns is None for s in store.file_states().values())
    store_id, content = store.stamp().split(":")
    assert len(store_id) == 32 and len(content) == 32
    with store.transaction():
        pass
    assert store.stamp().split(":")[0] == store_id and store.stamp().split(":")[1] != content
