"""Queries and playlists, the ``Library``'s second concern: similar tracks, playlists from seeds,
paths from one track to another, and saved playlists.

:class:`LibraryPlaylists` is mixed into :class:`core.library.Library`; it uses the library's
``store``, ``analysis_version``, ``dim``, ``index()``, ``embed_file``, ``_track_id``,
``_library_id_or_none`` and ``_vector``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from core import tagging
from core.errors import CbrecError
from core.playlist import Playlist, make_path, make_playlist
from core.store_playlists import entry_tracks
from core.types import Hit, Track, TrackRef

if TYPE_CHECKING:
    from core.store import Store


class LibraryPlaylists:
    """``similar``, ``playlist``, ``path`` and the saved playlists."""

    store: Store
    analysis_version: str
    dim: int

    def similar(self, ref: TrackRef, n: int = 10) -> list[Hit]:
        """The ``n`` tracks closest to ``ref`` (a track, id, or any audio file path), best first."""
        tid = self._library_id_or_none(ref)
        query = self._vector(tid) if tid is not None else self.embed_file(ref)  # type: ignore[arg-type]
        ids, scores = self.index().query(query, n + 1)
        keep = [(int(i), float(s)) for i, s in zip(ids, scores, strict=True) if i != tid][:n]
        tracks = self.store.tracks_by_id([i for i, _ in keep], self.analysis_version)
        return [Hit(tracks[i], s) for i, s in keep if i in tracks]

    def playlist(self, seeds: Sequence[TrackRef] | TrackRef, length: int = 25,
                 max_per_artist: int | None = None) -> Playlist:
        """Seeds first, then the tracks most like them, each flowing into the next."""
        if isinstance(seeds, (Track, str, os.PathLike, int, np.integer)):
            seeds = [seeds]
        seed_ids = [self._track_id(s) for s in seeds]
        if not seed_ids:
            raise CbrecError("A playlist needs at least one seed track.")
        for tid in seed_ids:
            self._vector(tid)
        view = self._view()
        items = make_playlist(seed_ids, self.index(), view, view, length, max_per_artist)
        top = tagging.seeds_top_tags(self.store, self.analysis_version, seed_ids)
        return self._to_playlist(items, seed_ids, lambda seeds: tagging.mix_name(seeds[0].title, top, len(seeds) - 1))

    def path(self, start: TrackRef, end: TrackRef, length: int = 10,
             max_per_artist: int | None = None) -> Playlist:
        """A playlist that walks from ``start`` to ``end`` in ``length`` steps (both included)."""
        a, b = self._track_id(start), self._track_id(end)
        self._vector(a), self._vector(b)
        view = self._view()
        items = make_path(a, b, self.index(), view, view, length, max_per_artist)
        return self._to_playlist(items, [a, b], lambda ends: f"Path: {ends[0].title} → {ends[1].title}")

    def _view(self) -> StoreView:
        return StoreView(self.store, self.analysis_version, self.dim)

    def _to_playlist(self, items: list[tuple[int, float]], seed_ids: list[int],
                     name: Callable[[list[Track]], str]) -> Playlist:
        tracks = self.store.tracks_by_id([i for i, _ in items] + seed_ids, self.analysis_version)
        seeds = [tracks[i] for i in seed_ids]
        return Playlist(tracks=[tracks[i] for i, _ in items], scores=[s for _, s in items], name=name(seeds),
                        seeds=seeds)

    # -- saved playlists --------------------------------------------------------------------------
    def save_playlist(self, playlist: Playlist, name: str | None = None) -> int:
        created = datetime.now(UTC).isoformat(timespec="seconds")
        params = json.dumps({"seeds": [t.id for t in playlist.seeds]})
        items = list(zip(playlist.tracks, playlist.scores, strict=True))
        return self.store.save_playlist(name or playlist.name, created, items, params)

    def playlists(self) -> list[tuple[int, str, str]]:
        """Saved playlists as ``(id, name, created ISO time)``, oldest first."""
        return self.store.playlists()

    def load_playlist(self, playlist_id: int) -> Playlist:
        saved = self.store.playlist(playlist_id)
        if saved is None:
            raise CbrecError(f"There is no saved playlist with id {playlist_id}.")
        name, entries = saved
        tracks = self.store.tracks_by_id([e.track_id for e in entries if e.track_id is not None],
                                         self.analysis_version)
        # an entry whose file is gone stays, as a track with status "missing" and its saved path
        return Playlist(tracks=list(entry_tracks(entries, tracks)), scores=[e.score for e in entries], name=name)

    def delete_playlist(self, playlist_id: int) -> None:
        self.store.delete_playlist(playlist_id)


class StoreView:
    """Adapts the store to the vector/track sources the playlist builders ask for."""

    def __init__(self, store: Store, version: str, dim: int) -> None:
        self.store, self.version, self.dim = store, version, dim

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        found = self.store.vectors_for(ids, self.version, self.dim)
        return np.stack([found[int(i)] for i in ids]) if len(ids) else np.zeros((0, self.dim), np.float32)

    def tracks_by_id(self, ids: Sequence[int]) -> dict[int, Track]:
        return self.store.tracks_by_id(ids, self.version)
