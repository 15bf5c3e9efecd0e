"""The play log in the store: plays recorded by the app, counts per track, top lists, re-matching.

Times are unix seconds (UTC). A play counts once it was heard for :data:`MIN_PLAY_SECONDS`
or half the track, whichever is shorter, as scrobblers do.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from core.history.entries import MIN_PLAY_SECONDS
from core.history.match import Matcher
from core.store import Store

APP_SOURCE = "cbrec"
_MATCHED_AT = "history_matched_generation"   # meta key: store generation of the last re-match


@dataclass(frozen=True)
class PlayStats:
    """One track's plays: ``count`` (all sources) and ``last_played`` (unix s, None if unknown)."""

    count: int
    last_played: float | None


def counts_as_play(heard: float, duration: float | None) -> bool:
    """True once ``heard`` seconds reach 30 s or half of ``duration`` (when it is known)."""
    threshold = MIN_PLAY_SECONDS if not duration or duration <= 0 else min(MIN_PLAY_SECONDS, duration / 2)
    return heard >= threshold


class PlayLog:
    """Reads and writes the ``plays`` table of one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, track_id: int, heard: float, duration: float | None = None,
               started_at: float | None = None, artist: str | None = None, title: str | None = None,
               album: str | None = None) -> bool:
        """Store one play of ``track_id`` heard for ``heard`` s, if it counts; return whether it did.

        The artist/title/album are kept with the play so that it can be matched again if the
        file leaves the library and comes back."""
        if not counts_as_play(heard, duration):
            return False
        started = time.time() - heard if started_at is None else started_at
        with self.store.transaction(bump=False) as conn:
            conn.execute(
                "INSERT OR IGNORE INTO plays (source, ext_key, track_id, played_at, seconds, count, artist,"
                " title, album, imported_at) VALUES (?,?,?,?,?,1,?,?,?,?)",
                (APP_SOURCE, f"{started:.3f}|{int(track_id)}", int(track_id), started, float(heard),
                 artist, title, album, time.time()))
        return True

    def stats(self, track_ids: Iterable[int] | None = None) -> dict[int, PlayStats]:
        """``track id → PlayStats`` for every played track (or only ``track_ids``)."""
        rows = self.store.conn.execute("SELECT track_id, SUM(count), MAX(played_at) FROM plays"
                                       " WHERE track_id IS NOT NULL GROUP BY track_id")
        wanted = None if track_ids is None else {int(t) for t in track_ids}
        return {t: PlayStats(int(c), last) for t, c, last in rows if wanted is None or t in wanted}

    def weighted_counts(self, half_life_days: float | None = None, now: float | None = None) -> dict[int, float]:
        """``track id → plays``, each play weighted ``0.5 ** (age / half_life)`` when a half-life is given.

        A player's count (one row) is aged by its last play; a play of unknown time by none."""
        if not half_life_days:
            return {t: float(c) for t, c in self.store.conn.execute(
                "SELECT track_id, SUM(count) FROM plays WHERE track_id IS NOT NULL GROUP BY track_id")}
        now = time.time() if now is None else now
        out: dict[int, float] = {}
        for tid, count, played_at in self.store.conn.execute(
                "SELECT track_id, count, played_at FROM plays WHERE track_id IS NOT NULL"):
            weight = 1.0
            if played_at is not None:
                weight = 0.5 ** (max(now - played_at, 0.0) / (half_life_days * 86400.0))
            out[tid] = out.get(tid, 0.0) + count * weight
        return out

    def totals(self) -> tuple[int, int]:
        """``(plays matched to a track, plays not matched)``, player counts included."""
        row = self.store.conn.execute("SELECT COALESCE(SUM(CASE WHEN track_id IS NOT NULL THEN count END), 0),"
                                      " COALESCE(SUM(CASE WHEN track_id IS NULL THEN count END), 0) FROM plays")
        matched, unmatched = row.fetchone()
        return int(matched), int(unmatched)

    def top_tracks(self, n: int = 20) -> list[tuple[int, PlayStats]]:
        """The ``n`` most played library tracks, most played first (ties: most recent first)."""
        rows = self.store.conn.execute(
            "SELECT track_id, SUM(count) AS c, MAX(played_at) AS last FROM plays WHERE track_id IS NOT NULL"
            " GROUP BY track_id ORDER BY c DESC, last DESC, track_id LIMIT ?", (n,))
        return [(t, PlayStats(int(c), last)) for t, c, last in rows]

    def top_artists(self, n: int = 20) -> list[tuple[str, int]]:
        """The ``n`` most played artists over the whole history, matched or not."""
        rows = self.store.conn.execute(
            "SELECT COALESCE(t.artist, p.artist) AS a, SUM(p.count) AS c FROM plays p"
            " LEFT JOIN tracks t ON t.id = p.track_id WHERE a IS NOT NULL"
            " GROUP BY lower(a) ORDER BY c DESC, a LIMIT ?", (n,))
        return [(a, int(c)) for a, c in rows]

    def clear(self, source: str | None = None) -> int:
        """Forget every play (or those of one ``source``: "cbrec", "lastfm", …); how many rows went."""
        with self.store.transaction(bump=False) as conn:
            if source is None:
                return conn.execute("DELETE FROM plays").rowcount
            return conn.execute("DELETE FROM plays WHERE source = ?", (source,)).rowcount

    def rematch_if_stale(self, matcher_factory) -> int:
        """Match the unmatched plays again if the library changed since the last time; how many matched.

        ``matcher_factory()`` builds a :class:`Matcher` (only called when there is work)."""
        conn = self.store.conn
        generation = self.store.generation()
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_MATCHED_AT,)).fetchone()
        if row is not None and int(row[0]) == generation:
            return 0
        pending = conn.execute("SELECT id, artist, title, album, location FROM plays WHERE track_id IS NULL").fetchall()
        found = 0
        with self.store.transaction(bump=False) as wconn:
            if pending:
                matcher: Matcher = matcher_factory()
                for pid, artist, title, album, location in pending:
                    tid, _ = matcher.match(artist, title, album, location)
                    if tid is not None:
                        wconn.execute("UPDATE plays SET track_id = ? WHERE id = ?", (tid, pid))
                        found += 1
            wconn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_MATCHED_AT, str(generation)))
        return found
