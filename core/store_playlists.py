"""Saved playlists in the store: entries that outlive their files.

An entry keeps its track's path, content fingerprint and what to show (title, artist, length)
beside the track id. When a track leaves the library (its file deleted) the id becomes NULL and
the entry stays, shown as missing; when a file comes back at that path, or the same content at
another path, the entry is linked to it again and so gets its place back (as players do).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import NamedTuple

from core.storefaults import Connection
from core.types import Track


class PlaylistEntry(NamedTuple):
    """One saved entry: ``track_id`` is None while its file is missing from the library."""

    track_id: int | None
    score: float
    path: str
    title: str | None = None
    artist: str | None = None
    duration: float | None = None


class PlaylistRecords:
    """Playlist methods of :class:`core.store.Store` (a mixin: it needs ``conn`` and ``transaction``)."""

    conn: Connection

    def transaction(self, bump: bool = True) -> AbstractContextManager[Connection]:  # pragma: no cover
        raise NotImplementedError

    def save_playlist(self, name: str, created: str, items: Sequence[tuple[Track | int, float]],
                      params: str = "{}") -> int:
        """Save ``(track or track id, score)`` items; a track no longer in the library (or a
        missing entry loaded earlier) is saved by its path, title and artist, unlinked."""
        from core.store import decode_path, encode_path

        with self.transaction(bump=False) as conn:
            cur = conn.execute("INSERT INTO playlists (name, created, params) VALUES (?, ?, ?)",
                               (name, created, params))
            pid = int(cur.lastrowid)
            rows = []
            for pos, (ref, score) in enumerate(items):
                tid = ref.id if isinstance(ref, Track) else int(ref)
                row = conn.execute("SELECT id, path, fingerprint, title, artist, duration FROM tracks WHERE id = ?",
                                   (tid,)).fetchone() if tid > 0 else None
                if row is not None and (not isinstance(ref, Track) or decode_path(row[1]) == ref.path):
                    rows.append((pid, pos, row[0], row[1], row[2], row[3], row[4], row[5], score))
                elif isinstance(ref, Track):
                    linked = conn.execute("SELECT id, fingerprint FROM tracks WHERE path = ?",
                                          (encode_path(ref.path),)).fetchone()
                    rows.append((pid, pos, linked[0] if linked else None, encode_path(ref.path),
                                 linked[1] if linked else None, ref.title, ref.artist, ref.duration, score))
            conn.executemany("INSERT INTO playlist_items (playlist_id, position, track_id, path, fingerprint, title,"
                             " artist, duration, score) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        return pid

    def playlists(self) -> list[tuple[int, str, str]]:
        return list(self.conn.execute("SELECT id, name, created FROM playlists ORDER BY created, id"))

    def playlist(self, playlist_id: int) -> tuple[str, list[PlaylistEntry]] | None:
        """``(name, entries in order)``, or None when there is no such playlist."""
        from core.store import decode_path

        row = self.conn.execute("SELECT name FROM playlists WHERE id = ?", (playlist_id,)).fetchone()
        if row is None:
            return None
        items = self.conn.execute("SELECT track_id, score, path, title, artist, duration FROM playlist_items"
                                  " WHERE playlist_id = ? ORDER BY position", (playlist_id,)).fetchall()
        return row[0], [PlaylistEntry(t, float(s) if s is not None else 0.0, decode_path(p), ti, a, d)
                        for t, s, p, ti, a, d in items]

    def delete_playlist(self, playlist_id: int) -> None:
        with self.transaction(bump=False) as conn:
            conn.execute("DELETE FROM playlists WHERE id = ?", (playlist_id,))

    def relink_playlist_items(self, conn: Connection, track_id: int, path: str, fingerprint: str) -> int:
        """Give entries whose file was missing their track back: same path first, else same
        content (a file that came back under another name). Returns how many were linked."""
        from core.store import encode_path

        cur = conn.execute("UPDATE playlist_items SET track_id = ?, fingerprint = ? WHERE track_id IS NULL"
                           " AND path = ?", (track_id, fingerprint, encode_path(path)))
        linked = max(cur.rowcount, 0)
        cur = conn.execute("UPDATE playlist_items SET track_id = ?, path = ? WHERE track_id IS NULL"
                           " AND fingerprint = ?", (track_id, encode_path(path), fingerprint))
        return linked + max(cur.rowcount, 0)

    def missing_entries(self) -> int:
        """How many saved playlist entries point at no track now."""
        return int(self.conn.execute("SELECT COUNT(*) FROM playlist_items WHERE track_id IS NULL").fetchone()[0])


def entry_tracks(entries: Sequence[PlaylistEntry], tracks: dict[int, Track]) -> Iterator[Track]:
    """A :class:`Track` per entry: the library's track, or a stand-in with status ``"missing"``
    (id ``-(position + 1)``, the saved path, title and artist) when its file is not there."""
    import os

    for pos, e in enumerate(entries):
        track = tracks.get(e.track_id) if e.track_id is not None else None
        if track is None:
            track = Track(id=-(pos + 1), path=e.path, title=e.title or os.path.basename(e.path), artist=e.artist,
                          duration=e.duration, status="missing", error="the file is not in the library now")
        yield track
