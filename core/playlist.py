"""Playlists from seed tracks and paths from one track to another, over the vector index.

Both functions return ``[(track_id, score), ...]``; :class:`core.library.Library` turns them into
a :class:`Playlist`. The rules they share:

* never the same song twice: same case-folded artist + title (only when the artist is known:
  untagged files often share titles such as "Track 01"), or a length within 0.1 s of a track
  already chosen and a vector within cosine 0.99 of it (the same recording under another name);
* at most ``max_per_artist`` tracks per artist (case-folded; the seeds or the ends count). A
  track without an artist tag counts under its album artist, and one without either under its
  folder, as players group untagged files;
* deterministic: every tie is broken by the lower track id.

Cost: one index query per seed (plus one for the centroid of several seeds) or per path step,
one ``tracks_by_id`` and one ``vectors`` call per candidate pool; the pool grows only when the
rules rejected too many candidates.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import CbrecError, TrackNotFound
from core.index import VectorIndex
from core.types import Hit, Track

# Two tracks count as the same recording (say a FLAC and an MP3 copy with other tags) when their
# vectors are nearly parallel AND their lengths agree. The vector alone cannot tell: with the
# bundled model half the dev corpus's tracks have a *different* track above cosine 0.995, while
# lossy copies of a track fall to 0.91 (their windows move with the encoder's padding); their
# lengths agree within 0.03 s. Tracks of unknown length are never vector duplicates.
NEAR_DUPLICATE = 0.99       # cosine above which two tracks of the same length are one recording
SAME_LENGTH = 0.1           # seconds: lengths closer than this count as the same
MIN_POOL = 50               # candidates asked per query at least


class VectorSource(Protocol):
    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """(len(ids), dim) float32 unit vectors, row i for ids[i]."""
        ...


class TrackSource(Protocol):
    def tracks_by_id(self, ids: Sequence[int]) -> dict[int, Track]:
        """The tracks that exist among ``ids``; unknown ids are left out."""
        ...


@dataclass
class Playlist:
    """An ordered playlist. ``scores[i]`` is the similarity of ``tracks[i]`` to the seeds (seeds 1.0)."""

    tracks: list[Track]
    scores: list[float]
    name: str = "cbrec playlist"
    seeds: list[Track] = field(default_factory=list)

    def write(self, path: str | Path) -> Path:
        """Write as M3U8 (``.m3u8``/``.m3u``) or XSPF (``.xspf``); raise CbrecError otherwise."""
        from core.export import write_playlist

        return write_playlist(self.tracks, Path(path), title=self.name)

    def hits(self) -> list[Hit]:
        """The entries as :class:`Hit` (track, score) pairs."""
        return [Hit(t, s) for t, s in zip(self.tracks, self.scores, strict=True)]

    def __len__(self) -> int:
        return len(self.tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks)


# ------------------------------------------------------------------------- rules
def _artist_key(track: Track) -> str | None:
    artist = (track.artist or "").strip().casefold()
    return artist or None


def _group_key(track: Track) -> str:
    """Whom ``max_per_artist`` counts a track under: its artist, else its album artist, else its folder."""
    album_artist = (track.album_artist or "").strip().casefold()
    return _artist_key(track) or (f"album artist:{album_artist}" if album_artist
                                  else f"folder:{os.path.dirname(track.path)}")


def _song_key(track: Track) -> tuple[str, str] | None:
    artist, title = _artist_key(track), (track.title or "").strip().casefold()
    return (artist, title) if artist and title else None


class _Rules:
    """What has been chosen so far, and whether one more track may join (dedup + artist cap)."""

    def __init__(self, dim: int, capacity: int, max_per_artist: int | None) -> None:
        if max_per_artist is not None and max_per_artist < 1:
            raise ValueError(f"max_per_artist must be at least 1 (or None), not {max_per_artist}")
        self.cap = max_per_artist
        self.songs: set[tuple[str, str]] = set()
        self.artists: dict[str, int] = {}
        self.ids: set[int] = set()
        self.vecs = np.empty((capacity, dim), np.float32)
        self.lengths = np.empty(capacity, np.float64)  # seconds; NaN when unknown
        self.n = 0

    def admits(self, track: Track, vec: np.ndarray) -> bool:
        if track.id in self.ids or _song_key(track) in self.songs:
            return False
        if self.cap is not None and self.artists.get(_group_key(track), 0) >= self.cap:
            return False
        return not self._same_recording_chosen(track, vec)

    def _same_recording_chosen(self, track: Track, vec: np.ndarray) -> bool:
        """A chosen track has the same length as ``track`` and a nearly parallel vector."""
        if not self.n or track.duration is None:
            return False
        same_length = np.abs(self.lengths[: self.n] - track.duration) < SAME_LENGTH  # NaN: False
        return bool(same_length.any() and (self.vecs[: self.n][same_length] @ vec).max() > NEAR_DUPLICATE)

    def add(self, track: Track, vec: np.ndarray) -> None:
        if self.n == len(self.vecs):
            self.vecs = np.concatenate([self.vecs, np.empty_like(self.vecs)])
            self.lengths = np.concatenate([self.lengths, np.empty_like(self.lengths)])
        self.vecs[self.n] = vec
        self.lengths[self.n] = np.nan if track.duration is None else track.duration
        self.n += 1
        self.ids.add(track.id)
        key, group = _song_key(track), _group_key(track)
        if key:
            self.songs.add(key)
        self.artists[group] = self.artists.get(group, 0) + 1


# ---------------------------------------------------------------------- helpers
def _unit(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (n, dim) scaled to unit length, float32 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _lookup(ids: Sequence[int], tracks: TrackSource) -> list[Track]:
    """Tracks for ``ids`` in order; raise TrackNotFound for a missing one."""
    found = tracks.tracks_by_id(list(ids))
    missing = [i for i in ids if i not in found]
    if missing:
        raise TrackNotFound(f"track {missing[0]} is not in the library")
    return [found[i] for i in ids]


@dataclass
class _Pool:
    """Candidate tracks: ids (c,) int64 ascending, their tracks and unit vectors (c, dim)."""

    ids: np.ndarray
    tracks: list[Track]
    vecs: np.ndarray


def _pool(queries: np.ndarray, n: int, exclude: Sequence[int], index: VectorIndex,
          vectors: VectorSource, tracks: TrackSource) -> _Pool:
    """Union of the ``n`` nearest neighbours of each query (q, dim), minus ``exclude``."""
    found = [index.query(q, n)[0] for q in queries]
    ids = np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)
    ids = ids[~np.isin(ids, np.asarray(exclude, dtype=np.int64))]
    by_id = tracks.tracks_by_id(ids.tolist())
    ids = np.asarray([i for i in ids.tolist() if i in by_id], dtype=np.int64)
    vecs = _unit(vectors.vectors(ids.tolist())) if len(ids) else np.empty((0, queries.shape[1]), np.float32)
    return _Pool(ids, [by_id[i] for i in ids.tolist()], vecs)


def _best_first(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Indices sorting by score descending, then id ascending."""
    return np.lexsort((ids, -scores))


def _pool_size(base: int, index: VectorIndex, round_: int) -> int:
    """Neighbours to ask per query in retry ``round_``: ``base``, then 4x more each round."""
    return min(len(index), base * 4 ** round_)


# --------------------------------------------------------------------- playlist
def make_playlist(seed_ids: Sequence[int], index: VectorIndex, vectors: VectorSource,
                  tracks: TrackSource, length: int = 25,
                  max_per_artist: int | None = None) -> list[tuple[int, float]]:
    """Seeds (in the given order, score 1.0) followed by the tracks most similar to them.

    ``length`` counts the seeds; fewer are returned when the library runs out. Candidates are
    the neighbours of each seed and of the seeds' normalised centroid. The seeds take turns
    (in the given order) to pick their most similar candidate the rules admit, so several
    distinct seeds give an even mix rather than the neighbours of the most clustered seed.
    A track's score is its highest cosine to any seed. The picks are then ordered as a
    greedy nearest-neighbour chain starting from the last seed.
    """
    seeds = list(dict.fromkeys(int(i) for i in seed_ids))
    if not seeds:
        raise CbrecError("A playlist needs at least one seed track.")
    seed_tracks = _lookup(seeds, tracks)
    seed_vecs = _unit(vectors.vectors(seeds))
    head = [(i, 1.0) for i in seeds]
    want = max(length - len(seeds), 0)
    if not want:
        return head
    queries = _seed_queries(seed_vecs)
    for round_ in range(32):
        rules = _Rules(seed_vecs.shape[1], len(seeds) + want, max_per_artist)
        for t, v in zip(seed_tracks, seed_vecs, strict=True):
            rules.add(t, v)
        n = _pool_size(max(MIN_POOL, 4 * length), index, round_)
        pool = _pool(queries, n, seeds, index, vectors, tracks)
        cosines = pool.vecs @ seed_vecs.T
        chosen = _choose(pool, cosines, rules, want)
        if len(chosen) >= want or n >= len(index):
            break
    ordered = _chain(seed_vecs[-1], pool, chosen)
    scores = cosines.max(axis=1) if len(pool.ids) else np.empty(0)
    return head + [(int(pool.ids[k]), float(scores[k])) for k in ordered]


def _seed_queries(seed_vecs: np.ndarray) -> np.ndarray:
    """Query vectors (q, dim): every seed, plus the normalised centroid of two or more."""
    centroid = seed_vecs.sum(axis=0)
    if len(seed_vecs) > 1 and np.linalg.norm(centroid) > 1e-6:
        return np.vstack([seed_vecs, _unit(centroid[None])])
    return seed_vecs


def _choose(pool: _Pool, cosines: np.ndarray, rules: _Rules, want: int) -> list[int]:
    """Up to ``want`` pool indices: seeds (columns of cosines (c, s)) pick in turn, each its
    best remaining candidate the rules admit. A rejected candidate stays rejected (the rules
    only tighten as tracks are added), so each seed walks its ranking once: O(c * s).
    """
    rankings = [_best_first(cosines[:, j], pool.ids).tolist() for j in range(cosines.shape[1])]
    cursors = [0] * len(rankings)
    taken: set[int] = set()
    chosen: list[int] = []
    active = list(range(len(rankings)))
    while len(chosen) < want and active:
        for j in list(active):
            k = _next_admitted(pool, rankings[j], cursors, j, taken, rules)
            if k is None:
                active.remove(j)
                continue
            rules.add(pool.tracks[k], pool.vecs[k])
            taken.add(k)
            chosen.append(k)
            if len(chosen) == want:
                break
    return chosen


def _next_admitted(pool: _Pool, ranking: list[int], cursors: list[int], j: int, taken: set[int],
                   rules: _Rules) -> int | None:
    """Advance seed ``j``'s cursor to its next candidate not taken and admitted by the rules."""
    while cursors[j] < len(ranking):
        k = ranking[cursors[j]]
        cursors[j] += 1
        if k not in taken and rules.admits(pool.tracks[k], pool.vecs[k]):
            return k
    return None


def _chain(start: np.ndarray, pool: _Pool, chosen: list[int]) -> list[int]:
    """Order ``chosen`` pool indices so each is the nearest remaining one to the previous."""
    left = np.asarray(chosen, dtype=np.int64)
    order: list[int] = []
    current = start
    while len(left):
        pick = _best_first(pool.vecs[left] @ current, pool.ids[left])[0]
        order.append(int(left[pick]))
        current = pool.vecs[left[pick]]
        left = np.delete(left, pick)
    return order


# ------------------------------------------------------------------------- path
def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between unit vectors a, b (dim,) at fractions t (k,): (k, dim).

    Nearly equal vectors fall back to normalised linear interpolation; exactly opposite ones
    go through a fixed direction orthogonal to ``a`` (the great circle is not unique there).
    """
    t = np.asarray(t, dtype=np.float64)[:, None]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = float(np.clip(a64 @ b64, -1.0, 1.0))
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6 and cos < 0:
        ortho = np.zeros_like(a64)
        ortho[np.argmin(np.abs(a64))] = 1.0
        ortho = _unit((ortho - (ortho @ a64) * a64)[None])[0].astype(np.float64)
        out = np.cos(np.pi * t) * a64 + np.sin(np.pi * t) * ortho
    elif np.sin(omega) < 1e-6:
        out = (1 - t) * a64 + t * b64
    else:
        out = (np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)
    return _unit(out)


def make_path(start_id: int, end_id: int, index: VectorIndex, vectors: VectorSource,
              tracks: TrackSource, length: int = 10,
              max_per_artist: int | None = None) -> list[tuple[int, float]]:
    """A path of ``length`` tracks from ``start_id`` to ``end_id`` (both included, score 1.0).

    Step ``k`` targets ``slerp(a, b, k / (length - 1))`` and takes the nearest unused track
    the rules admit (ends count for dedup and the artist cap); its score is the cosine to the
    target. Steps the library cannot fill are skipped, so the path may come out shorter.
    """
    start_id, end_id = int(start_id), int(end_id)
    if start_id == end_id:
        raise CbrecError("A path needs two different tracks.")
    if length < 2:
        raise ValueError(f"a path has at least 2 tracks (both ends), not {length}")
    ends = _lookup([start_id, end_id], tracks)
    end_vecs = _unit(vectors.vectors([start_id, end_id]))
    steps = length - 2
    targets = slerp(end_vecs[0], end_vecs[1], np.arange(1, steps + 1) / (length - 1))
    middle: list[tuple[int, float]] = []
    for round_ in range(32 if steps else 0):
        rules = _Rules(end_vecs.shape[1], length, max_per_artist)
        for t, v in zip(ends, end_vecs, strict=True):
            rules.add(t, v)
        n = _pool_size(max(20, 2 * steps), index, round_)
        pool = _pool(targets, n, [start_id, end_id], index, vectors, tracks)
        middle = _walk(pool, targets, rules)
        if len(middle) == steps or n >= len(index):
            break
    return [(start_id, 1.0)] + middle + [(end_id, 1.0)]


def _walk(pool: _Pool, targets: np.ndarray, rules: _Rules) -> list[tuple[int, float]]:
    """For each target (k, dim) the nearest admitted pool track: [(id, cosine to target)]."""
    if not len(pool.ids):
        return []
    sims = pool.vecs @ targets.T
    out: list[tuple[int, float]] = []
    for step in range(len(targets)):
        for k in _best_first(sims[:, step], pool.ids).tolist():
            if rules.admits(pool.tracks[k], pool.vecs[k]):
                rules.add(pool.tracks[k], pool.vecs[k])
                out.append((int(pool.ids[k]), float(sims[k, step])))
                break
    return out
