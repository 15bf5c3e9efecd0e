"""Match LFM-1b tracks to the Million Song Dataset by artist and title (Platt 2017, ch. 3 and 5.4).

Two tracks match when their artist names and their titles are equal after ``strip().casefold()``
(case-insensitive exact matching; no fuzzy matching). Each distinct normalised (artist, title) key
becomes ONE item, so LFM-1b duplicates of the same song (several track ids, or artist ids, with the
same names) are merged into one column and their plays summed (ch. 5.4); all MSD tracks sharing the
key belong to that item too. Empty artist or title never match.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from trainer.data.lfm1b import Artists, Tracks
from trainer.data.msd import UniqueTracks

log = logging.getLogger(__name__)

Key = tuple[str, str]


def normalise(name: str) -> str:
    """The matching form of an artist name or title: stripped and case-folded."""
    return name.strip().casefold()


@dataclass(frozen=True)
class MatchResult:
    """Items (matrix columns) and how LFM-1b and MSD tracks map onto them.

    ``lfm_track_to_item``: (max LFM track id + 1,) int32, -1 = not an item;
    ``item_keys``: the normalised (artist, title) of each item;
    ``item_msd_track_ids``: every MSD track of each item (``[]`` for items outside the MSD);
    ``msd_track_to_item``: MSD track id -> item. Counts are numbers of tracks.
    """

    lfm_track_to_item: np.ndarray
    item_keys: list[Key]
    item_msd_track_ids: list[list[str]]
    msd_track_to_item: dict[str, int]
    n_lfm_tracks: int
    n_lfm_matched: int
    n_msd_tracks: int
    n_msd_matched: int

    @property
    def n_items(self) -> int:
        return len(self.item_keys)

    @property
    def lfm_match_rate(self) -> float:
        """Fraction of LFM-1b tracks matched to at least one MSD track."""
        return self.n_lfm_matched / max(self.n_lfm_tracks, 1)

    @property
    def msd_match_rate(self) -> float:
        """Fraction of MSD tracks matched to at least one LFM-1b track (Platt: ~69 %)."""
        return self.n_msd_matched / max(self.n_msd_tracks, 1)

    def msd_track_id(self, item: int) -> str | None:
        """The first MSD track (in ``unique_tracks.txt`` order) of an item, or None."""
        ids = self.item_msd_track_ids[item]
        return ids[0] if ids else None

    def summary(self) -> str:
        return (f"{self.n_items:,} items; LFM-1b tracks matched {self.n_lfm_matched:,}/"
                f"{self.n_lfm_tracks:,} ({100 * self.lfm_match_rate:.1f}%); MSD tracks matched "
                f"{self.n_msd_matched:,}/{self.n_msd_tracks:,} ({100 * self.msd_match_rate:.1f}%)")


def _msd_index(msd: UniqueTracks) -> tuple[dict[str, dict[str, int]], list[Key], list[list[str]]]:
    """``{artist_key: {title_key: key_index}}``, keys in file order, MSD track ids per key."""
    by_artist: dict[str, dict[str, int]] = {}
    keys: list[Key] = []
    tracks: list[list[str]] = []
    for tid, artist, title in zip(msd.track_ids, msd.artists, msd.titles, strict=True):
        a, t = normalise(artist), normalise(title)
        if not a or not t:
            continue
        titles = by_artist.setdefault(a, {})
        k = titles.get(t)
        if k is None:
            k = titles[t] = len(keys)
            keys.append((a, t))
            tracks.append([])
        tracks[k].append(tid)
    return by_artist, keys, tracks


def _artist_keys(artists: Artists | Mapping[int, str]) -> dict[int, str]:
    """``{artist_id: normalised name}`` for non-empty names."""
    pairs = (zip(artists.ids.tolist(), artists.names.to_list(), strict=True)
             if isinstance(artists, Artists) else artists.items())
    out = {}
    for artist_id, name in pairs:
        key = normalise(name)
        if key:
            out[int(artist_id)] = key
    return out


def match_lfm1b_to_msd(tracks: Tracks, artists: Artists | Mapping[int, str], msd: UniqueTracks, *,
                       merge_duplicates: bool = True, extra_lfm_track_ids: Sequence[int] | None = None,
                       progress: bool = True) -> MatchResult:
    """Case-insensitive exact artist + title matching of LFM-1b tracks to MSD tracks.

    ``merge_duplicates=False`` keeps one item per LFM-1b track instead (Platt's final factors: an
    MSD track then points to an arbitrary one, here the lowest LFM track id). ``extra_lfm_track_ids``
    (e.g. the 2 M most played, ch. 5.3) also become items when they match no MSD track.
    """
    by_artist, keys, msd_tracks = _msd_index(msd)
    artist_key = _artist_keys(artists)
    key_of_lfm: dict[int, int] = {}  # LFM track id -> MSD key index
    cand = np.flatnonzero(_known_artist_mask(tracks.artist_ids, artist_key, by_artist))
    titles = tracks.names.take(cand)
    for i, title in tqdm(zip(cand.tolist(), titles, strict=True), total=len(cand), desc="match",
                         unit="track", disable=not progress, leave=False):
        k = by_artist[artist_key[int(tracks.artist_ids[i])]].get(normalise(title))
        if k is not None:
            key_of_lfm[int(tracks.ids[i])] = k
    lut_size = int(tracks.ids.max()) + 1 if len(tracks) else 0
    builder = _ItemBuilder(lut_size, merge_duplicates)
    for lfm_id in sorted(key_of_lfm, key=lambda t: (key_of_lfm[t], t)):
        k = key_of_lfm[lfm_id]
        builder.add(lfm_id, keys[k], msd_tracks[k])
    n_msd_matched = sum(len(m) for m in builder.msd_lists())
    if extra_lfm_track_ids is not None:
        _add_extra(builder, tracks, artist_key, extra_lfm_track_ids)
    result = builder.result(len(tracks), len(key_of_lfm), len(msd), n_msd_matched)
    log.info("LFM-1b ↔ MSD match: %s", result.summary())
    return result


def _known_artist_mask(artist_ids: np.ndarray, artist_key: dict[int, str],
                       by_artist: dict[str, dict[str, int]]) -> np.ndarray:
    """(n,) bool: the track's artist name is also an MSD artist name (so its title is worth a look)."""
    known = [a for a, k in artist_key.items() if k in by_artist]
    size = max(int(artist_ids.max(initial=-1)) + 1, max(known, default=-1) + 1)
    lut = np.zeros(size, dtype=bool)
    lut[np.asarray(known, dtype=np.int64)] = True
    return lut[artist_ids] if len(artist_ids) else np.zeros(0, bool)


def _add_extra(builder: _ItemBuilder, tracks: Tracks, artist_key: dict[int, str],
               extra: Sequence[int]) -> None:
    """Items for extra LFM-1b tracks (not in the MSD), merged by name key like the others."""
    row_of = {int(t): i for i, t in enumerate(tracks.ids.tolist())}
    rows = [row_of[t] for t in map(int, extra) if t in row_of and not builder.has(t)]
    titles = tracks.names.take(np.asarray(rows, dtype=np.int64))
    for r, title in zip(rows, titles, strict=True):
        key = (artist_key.get(int(tracks.artist_ids[r]), ""), normalise(title))
        builder.add(int(tracks.ids[r]), key if all(key) else None, [])


class _ItemBuilder:
    """Assigns item numbers to LFM tracks, one per name key (merge) or one per track."""

    def __init__(self, lut_size: int, merge: bool) -> None:
        self.lut = np.full(lut_size, -1, dtype=np.int32)
        self.merge = merge
        self.keys: list[Key] = []
        self.msd: list[list[str]] = []
        self.item_of_key: dict[Key, int] = {}

    def has(self, lfm_id: int) -> bool:
        return lfm_id < len(self.lut) and self.lut[lfm_id] >= 0

    def add(self, lfm_id: int, key: Key | None, msd_ids: list[str]) -> None:
        item = self.item_of_key.get(key) if self.merge and key is not None else None
        if item is None:
            item = len(self.keys)
            self.keys.append(key or ("", ""))
            self.msd.append(msd_ids if key not in self.item_of_key else [])
            if key is not None:
                self.item_of_key.setdefault(key, item)
        self.lut[lfm_id] = item

    def msd_lists(self) -> list[list[str]]:
        return [m for m in self.msd if m]

    def result(self, n_lfm: int, n_lfm_matched: int, n_msd: int, n_msd_matched: int) -> MatchResult:
        msd_to_item = {tid: i for i, ids in enumerate(self.msd) for tid in ids}
        return MatchResult(self.lut, self.keys, self.msd, msd_to_item, n_lfm, n_lfm_matched,
                           n_msd, n_msd_matched)
