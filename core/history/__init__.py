"""Listening history: plays and imported exports → matched tracks → the listener's taste vector → "For you".

Everything stays in the library's own SQLite file; nothing is sent anywhere.

    >>> h = History(store, version, dim)
    >>> h.import_file("scrobbles.csv").summary()
    >>> h.record_play(track, heard=95.0)
    >>> h.for_you(n=25)            # [(track id, score)] in playing order

Modules: :mod:`.match` (normalised artist + title), :mod:`.entries`, :mod:`.exports` and
:mod:`.players` (the readers), :mod:`.importer` (format detection, report, idempotent writes),
:mod:`.log` (the play log), :mod:`.taste` (the one-step ALS user solve), :mod:`.mix` (ranking
under the playlist rules).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from core.errors import CbrecError
from core.history.importer import ImportReport, import_file
from core.history.log import PlayLog, PlayStats, counts_as_play
from core.history.match import Matcher
from core.history.mix import rank_and_pick
from core.history.taste import ALPHA, EPSILON, REGULARIZATION, confidence, gramian, solve_clusters, solve_user
from core.progress import CancelToken, ProgressCallback
from core.store import Store
from core.types import Track

__all__ = ["History", "Taste", "ImportReport", "PlayStats", "counts_as_play", "confidence", "solve_user", "Matcher"]

NO_HISTORY = ("There is no listening history to build a mix from yet: play some tracks in cbrec, or import "
              "a Last.fm, ListenBrainz or Spotify export (Library ▸ Import listening history, or "
              "`cbrec-lib history import FILE`).")


class History:
    """The listening history of one library (its store, analysed with one model version)."""

    def __init__(self, store: Store, version: str, dim: int) -> None:
        self.store, self.version, self.dim = store, version, dim
        self.log = PlayLog(store)
        self._lock = threading.Lock()
        self._matcher_at: tuple[int, Matcher] | None = None
        self._items_at: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _matcher(self) -> Matcher:
        """The library's matcher, rebuilt only when the store has changed since the last one."""
        with self._lock:
            generation = self.store.generation()
            if self._matcher_at is None or self._matcher_at[0] != generation:
                self._matcher_at = (generation, Matcher(self.store.tracks(self.version)))
            return self._matcher_at[1]

    def _items(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ids (n,), vectors (n, f), their gramian (f, f))``, cached until the store changes."""
        with self._lock:
            generation = self.store.generation()
            if self._items_at is None or self._items_at[0] != generation:
                ids, vecs = self.store.vectors(self.version, self.dim)
                self._items_at = (generation, ids, vecs, gramian(vecs))
            return self._items_at[1:]

    def import_file(self, path: str | os.PathLike, progress: ProgressCallback | None = None,
                    cancel: CancelToken | None = None) -> ImportReport:
        """Import one export or player database; see :mod:`core.history.importer`."""
        matcher = self._matcher()
        self.log.rematch_if_stale(lambda: matcher)
        return import_file(self.store, path, matcher, progress, cancel)

    def record_play(self, track: Track, heard: float, started_at: float | None = None) -> bool:
        """Record that ``track`` was heard for ``heard`` seconds; True if it counted as a play."""
        return self.log.record(track.id, heard, track.duration, started_at, track.artist, track.title, track.album)

    def stats(self) -> dict[int, PlayStats]:
        """``track id → PlayStats`` (count, last played) for every played track."""
        self.log.rematch_if_stale(self._matcher)
        return self.log.stats()

    def taste(self, half_life_days: float | None = None, clusters: int = 1, alpha: float = ALPHA,
              epsilon: float = EPSILON, regularization: float = REGULARIZATION) -> Taste:
        """The listener's taste vector(s) from the whole history (see :class:`Taste`).

        Raises CbrecError when no played track has been analysed by the current model."""
        self.log.rematch_if_stale(self._matcher)
        plays = self.log.weighted_counts(half_life_days)
        return self._solve(plays, clusters, alpha, epsilon, regularization)

    def _solve(self, plays: dict[int, float], clusters: int = 1, alpha: float = ALPHA, epsilon: float = EPSILON,
               regularization: float = REGULARIZATION) -> Taste:
        ids, vecs, gram = self._items()
        rows = np.flatnonzero(np.isin(ids, np.fromiter(plays, np.int64, len(plays))))
        if not len(rows):
            raise CbrecError(NO_HISTORY)
        counts = np.asarray([plays[int(ids[r])] for r in rows])
        vectors, weights = solve_clusters(vecs, rows, counts, clusters, alpha, epsilon, regularization, gram)
        return Taste(vectors, weights, ids, vecs, plays)

    def for_you(self, tracks, n: int = 25, include_played: bool = False, max_per_artist: int | None = None,
                discovery: float = 0.3, half_life_days: float | None = None,
                clusters: int = 1) -> list[tuple[int, float]]:
        """``[(track id, score)]``: see :func:`core.history.mix.rank_and_pick`; ``tracks`` gives Track records."""
        self.log.rematch_if_stale(self._matcher)
        raw_counts = self.log.weighted_counts()
        taste = self._solve(self.log.weighted_counts(half_life_days) if half_life_days else raw_counts, clusters)
        return rank_and_pick(taste.item_ids, taste.item_vectors, taste.vectors, raw_counts, tracks, n, include_played,
                             max_per_artist, discovery, weights=taste.weights)


@dataclass(frozen=True)
class Taste:
    """A listener's taste: ``vectors`` (k, f) with ``weights`` (k,) summing to 1 (k = 1 unless
    clusters were asked for), solved against ``item_vectors`` (n, f) of tracks ``item_ids`` (n,);
    ``plays`` maps a track id to its (recency-weighted) play count."""

    vectors: np.ndarray
    weights: np.ndarray
    item_ids: np.ndarray
    item_vectors: np.ndarray
    plays: dict[int, float]
