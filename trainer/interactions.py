"""Users × items play-count matrices from listening data, in one streaming pass of bounded memory.

LFM-1b: every event's track id is mapped to an item through a dense lookup array (-1 = not an
item); each chunk's (user, item) pairs are packed into int64 keys ``user_index << 32 | item`` and
reduced with ``np.unique``; the reduced runs are merged whenever the new runs outgrow the merged
one (so merging costs O(n log n) overall). Memory is about 12 bytes per distinct (user, item) pair
plus one chunk, never proportional to the number of events. Users are numbered in order of first
appearance, so a file grouped by user (as LFM-1b is) yields nearly sorted runs.

Taste Profile: the same with string user and song ids (counts are already aggregated per line).
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from trainer.data.badrows import BadRows
from trainer.data.lfm1b import EventsChunk, iter_events
from trainer.data.tasteprofile import TripletsChunk, iter_triplets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Interactions:
    """``matrix``: CSR (n_users, n_items) float32 play counts; ``user_ids`` (n_users,) the dataset's
    user ids in row order; ``item_ids`` (n_items,) what each column is; ``n_events`` plays read and
    ``n_counted`` plays that landed in the matrix (plays of non-items are not counted)."""

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    n_events: int = 0
    n_counted: int = 0


# --------------------------------------------------------------------------- id bookkeeping
def dense_lookup(mapping: Mapping[int, int] | np.ndarray) -> np.ndarray:
    """A dense int32 array ``lut[track_id] = item`` (-1 = no item) from a dict or such an array."""
    if isinstance(mapping, np.ndarray):
        return mapping.astype(np.int32, copy=False)
    keys = np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping))
    values = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))
    if len(keys) and keys.min() < 0:
        raise ValueError("track ids in the item mapping must be >= 0")
    lut = np.full(int(keys.max()) + 1 if len(keys) else 0, -1, dtype=np.int32)
    lut[keys] = values
    return lut


def _map_through(lut: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``lut[ids]`` with -1 for ids past the end of ``lut``."""
    if len(ids) == 0 or int(ids.max()) < len(lut):
        return lut[ids]
    out = np.full(len(ids), -1, dtype=lut.dtype)
    inside = ids < len(lut)
    out[inside] = lut[ids[inside]]
    return out


class IdIndexer:
    """Numbers non-negative integer ids 0, 1, 2, … in order of first appearance.

    Ids below ``dense_limit`` use a growing dense lookup array (4 bytes per possible id); larger
    ids fall back to a dict.
    """

    def __init__(self, dense_limit: int = 1 << 27) -> None:
        self.dense_limit = dense_limit
        self._lut = np.full(0, -1, dtype=np.int32)
        self._dict: dict[int, int] | None = None
        self._seen: list[np.ndarray] = []
        self.n = 0

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """Indices (n,) int64 of ``ids`` (n,), numbering new ids as they come."""
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        if self._dict is None and int(ids.max()) >= self.dense_limit:
            self._dict = {int(k): i for i, k in enumerate(self.ids.tolist())}
        if self._dict is not None:
            return self._by_dict(ids)
        if int(ids.max()) >= len(self._lut):
            grown = np.full(max(int(ids.max()) + 1, 2 * len(self._lut)), -1, dtype=np.int32)
            grown[: len(self._lut)] = self._lut
            self._lut = grown
        idx = self._lut[ids]
        if (idx < 0).any():
            new = _first_appearance(ids[idx < 0])
            self._lut[new] = np.arange(self.n, self.n + len(new), dtype=np.int32)
            self._add(new)
            idx = self._lut[ids]
        return idx.astype(np.int64)

    def _by_dict(self, ids: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(ids, return_inverse=True)
        d = self._dict
        assert d is not None
        new = [k for k in _first_appearance(ids).tolist() if k not in d]
        for k in new:
            d[k] = len(d)
        self._add(np.asarray(new, dtype=np.int64))
        return np.fromiter((d[k] for k in uniq.tolist()), np.int64, len(uniq))[inverse]

    def _add(self, new: np.ndarray) -> None:
        self._seen.append(new.astype(np.int64))
        self.n += len(new)

    @property
    def ids(self) -> np.ndarray:
        """The ids seen so far, (n,) int64, index order."""
        return np.concatenate(self._seen) if self._seen else np.zeros(0, dtype=np.int64)


def _first_appearance(ids: np.ndarray) -> np.ndarray:
    """Distinct values of ``ids`` in order of first appearance."""
    uniq, first = np.unique(ids, return_index=True)
    return uniq[np.argsort(first, kind="stable")]


class StrIndexer:
    """Numbers string ids 0, 1, 2, … in order of first appearance (or by a fixed mapping)."""

    def __init__(self, fixed: Mapping[str, int] | None = None) -> None:
        self.fixed = fixed
        self._index: dict[str, int] = {}

    def __call__(self, values: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Indices (n,) int64 of the strings in ``values``; -1 for strings not in a fixed mapping."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        enc = pc.dictionary_encode(values)
        if self.fixed is not None:
            get = self.fixed.get
            codes = [get(s, -1) for s in enc.dictionary.to_pylist()]
        else:
            index = self._index
            codes = [index.setdefault(s, len(index)) for s in enc.dictionary.to_pylist()]
        return np.asarray(codes, dtype=np.int64)[enc.indices.to_numpy()]

    @property
    def ids(self) -> np.ndarray:
        """Strings seen so far in index order, (n,) object (only without a fixed mapping)."""
        return np.asarray(list(self._index), dtype=object)


# --------------------------------------------------------------------------- pair counting
class PairCounter:
    """Sums counts per (row, col) pair over many chunks; about 12 bytes per distinct pair, 28 at
    the peak of a merge, and a float32 CSR of 8 bytes per pair at the end.

    ``min_merge`` pairs may wait in unmerged runs before the first merge.
    """

    def __init__(self, min_merge: int = 20_000_000) -> None:
        self.min_merge = min_merge
        self._keys: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._merged = 0  # size of the first run, the result of the last merge
        self._pending = 0

    def add(self, rows: np.ndarray, cols: np.ndarray, counts: np.ndarray | None = None) -> None:
        """Add (n,) rows (< 2^31), (n,) cols (< 2^32) and optional (n,) counts (default 1 each)."""
        if len(rows) == 0:
            return
        keys = rows.astype(np.int64)
        keys <<= 32
        keys |= cols.astype(np.int64, copy=False)
        if counts is None:
            keys.sort()
            starts = _run_starts(keys)
            counts = np.diff(np.append(starts, len(keys))).astype(np.int32)
            keys = keys[starts]
        else:
            keys, counts = _reduce(keys, counts.astype(np.int32))
        self._keys.append(keys)
        self._counts.append(counts)
        self._pending += len(keys)
        if self._pending > max(self.min_merge, self._merged):
            self._merge()

    def _merge(self) -> None:
        """Merge all runs into one; peak about 28 bytes per stored pair."""
        if len(self._keys) > 1:
            keys = np.concatenate(self._keys)
            self._keys.clear()
            counts = np.concatenate(self._counts)
            self._counts.clear()
            if not _is_sorted(keys):
                order = np.argsort(keys, kind="stable")  # timsort: fast on concatenated sorted runs
                keys = keys[order]
                counts = counts[order]
                del order
            keys, counts = _sum_runs(keys, counts)
            self._keys, self._counts = [keys], [counts]
        self._merged = len(self._keys[0]) if self._keys else 0
        self._pending = 0

    @property
    def n_pairs(self) -> int:
        """Pairs stored now (distinct after :meth:`to_csr`)."""
        return sum(len(k) for k in self._keys)

    def to_csr(self, n_rows: int, n_cols: int) -> sp.csr_matrix:
        """The (n_rows, n_cols) float32 CSR matrix of summed counts; empties the counter."""
        self._merge()
        keys = self._keys[0] if self._keys else np.zeros(0, np.int64)
        counts = self._counts[0] if self._counts else np.zeros(0, np.int32)
        self._keys, self._counts = [], []
        indptr = np.searchsorted(keys, np.arange(n_rows + 1, dtype=np.int64) << 32)
        indices = _low_half(keys)
        del keys
        data = counts.astype(np.float32)
        del counts
        return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))


def _low_half(keys: np.ndarray) -> np.ndarray:
    """The low 32 bits of int64 ``keys`` (n,) as int32, without an int64 temporary."""
    if sys.byteorder == "little":
        return keys.view(np.int32)[0::2].copy()
    return (keys & 0xFFFFFFFF).astype(np.int32)


def _is_sorted(keys: np.ndarray) -> bool:
    return len(keys) < 2 or bool((keys[1:] >= keys[:-1]).all())


def _sum_runs(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys of sorted ``keys`` (n,) and the summed ``counts`` (n,) int32 of each."""
    if len(keys) == 0:
        return keys, counts
    starts = _run_starts(keys)
    if len(starts) == len(keys):
        return keys, counts
    return keys[starts], np.add.reduceat(counts, starts).astype(np.int32)


def _reduce(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and the summed counts of each; keys (n,) int64, counts (n,) int32."""
    if not _is_sorted(keys):
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
    return _sum_runs(keys, counts)


def _run_starts(keys: np.ndarray) -> np.ndarray:
    """Indices where a run of equal values starts in sorted, non-empty ``keys`` (n,)."""
    new = np.empty(len(keys), dtype=bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    return np.flatnonzero(new)


# --------------------------------------------------------------------------- builders
def build_interactions(events_path: str | PathLike[str], lfm_track_to_item: Mapping[int, int] | np.ndarray,
                       bad: BadRows | None = None, *, n_items: int | None = None,
                       item_ids: np.ndarray | None = None, chunk_rows: int = 1_000_000,
                       progress: bool = True) -> Interactions:
    """Play counts users × items from ``LFM-1b_LEs.txt`` in one streaming pass.

    ``lfm_track_to_item`` maps LFM-1b track ids to item columns (a dict, or a dense int array with
    -1 for "no item", e.g. ``MatchResult.lfm_track_to_item``); several tracks may share an item,
    and their plays are summed. Rows are the users with at least one counted play, in order of
    first appearance. ``n_items`` defaults to ``max(item) + 1``; ``item_ids`` to ``arange``.
    Only the user and track fields are parsed and checked (plus every row's column count); audit
    the other fields with :func:`trainer.data.lfm1b.iter_events`.
    """
    bad = bad if bad is not None else BadRows()
    chunks = iter_events(events_path, bad, chunk_rows=chunk_rows, progress=progress,
                         columns=("user_id", "track_id"))
    return interactions_from_chunks(chunks, lfm_track_to_item, n_items=n_items, item_ids=item_ids)


def interactions_from_chunks(chunks: Iterable[EventsChunk], lfm_track_to_item: Mapping[int, int] | np.ndarray,
                             *, n_items: int | None = None,
                             item_ids: np.ndarray | None = None) -> Interactions:
    """:func:`build_interactions` over already-read event chunks."""
    lut = dense_lookup(lfm_track_to_item)
    n_items = _n_items(lut, n_items, item_ids)
    users, pairs = IdIndexer(), PairCounter()
    n_events = n_counted = 0
    for chunk in chunks:
        items = _map_through(lut, chunk.track_id)
        hit = items >= 0
        n_events += len(chunk)
        n_counted += int(hit.sum())
        pairs.add(users(chunk.user_id[hit]), items[hit])
    matrix = pairs.to_csr(users.n, n_items)
    return _finish(matrix, users.ids, item_ids, n_events, n_counted)


def build_triplet_interactions(path: str | PathLike[str], song_to_item: Mapping[str, int] | None = None,
                               bad: BadRows | None = None, *, n_items: int | None = None,
                               item_ids: np.ndarray | None = None,
                               progress: bool = True) -> Interactions:
    """Play counts users × items from Taste Profile triplets (``user TAB song TAB count``).

    With ``song_to_item`` (e.g. after :func:`trainer.data.tasteprofile.filter_mismatches`) songs
    outside it are dropped and several songs may share an item; without it every song is an item,
    numbered by first appearance, and ``item_ids`` are the song ids. Counts of repeated
    (user, item) pairs are summed.
    """
    bad = bad if bad is not None else BadRows()
    return triplet_interactions_from_chunks(iter_triplets(path, bad, progress=progress), song_to_item,
                                            n_items=n_items, item_ids=item_ids)


def triplet_interactions_from_chunks(chunks: Iterable[TripletsChunk],
                                     song_to_item: Mapping[str, int] | None = None, *,
                                     n_items: int | None = None,
                                     item_ids: np.ndarray | None = None) -> Interactions:
    """:func:`build_triplet_interactions` over already-read chunks."""
    users, songs, pairs = StrIndexer(), StrIndexer(song_to_item), PairCounter()
    n_events = n_counted = 0
    for chunk in chunks:
        items = songs(chunk.songs.array)
        hit = items >= 0
        n_events += int(chunk.counts.sum())
        n_counted += int(chunk.counts[hit].sum())
        user_arr = chunk.users.array.filter(pa.array(hit)) if not hit.all() else chunk.users.array
        pairs.add(users(user_arr), items[hit], chunk.counts[hit])
    if song_to_item is None:
        n_items, item_ids = len(songs.ids), songs.ids if item_ids is None else item_ids
    else:
        n_items = _n_items(np.fromiter(song_to_item.values(), np.int64), n_items, item_ids)
    matrix = pairs.to_csr(len(users.ids), n_items)
    return _finish(matrix, users.ids, item_ids, n_events, n_counted)


def _n_items(items: np.ndarray, n_items: int | None, item_ids: np.ndarray | None) -> int:
    if n_items is None:
        n_items = len(item_ids) if item_ids is not None else int(items.max(initial=-1)) + 1
    if len(items) and int(items.max(initial=-1)) >= n_items:
        raise ValueError(f"item index {int(items.max())} does not fit n_items={n_items}")
    return n_items


def _finish(matrix: sp.csr_matrix, user_ids: np.ndarray, item_ids: np.ndarray | None,
            n_events: int, n_counted: int) -> Interactions:
    if item_ids is None:
        item_ids = np.arange(matrix.shape[1])
    log.info("interactions: %d users × %d items, %d non-zeros; %d of %d plays counted (%.1f%%)",
             matrix.shape[0], matrix.shape[1], matrix.nnz, n_counted, n_events,
             100.0 * n_counted / max(n_events, 1))
    return Interactions(matrix, user_ids, np.asarray(item_ids), n_events, n_counted)


def track_play_counts(events_path: str | PathLike[str], bad: BadRows | None = None,
                      progress: bool = True) -> np.ndarray:
    """Plays per LFM-1b track id, (max_track_id + 1,) int64; e.g. to pick the N most popular."""
    total = np.zeros(0, dtype=np.int64)
    for chunk in iter_events(events_path, bad, progress=progress, columns=("track_id",)):
        counts = np.bincount(chunk.track_id, minlength=len(total))
        if len(counts) > len(total):
            counts[: len(total)] += total
            total = counts
        else:
            total += counts
    return total
