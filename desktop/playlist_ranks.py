"""Similarity a person can read: where each playlist track ranks in the whole library.

A model's cosines crowd near 1 (every track of a playlist shows 1.00 or 0.99), so the playlist
shows each track's *rank* instead: #1 is the library's closest track to the seeds, by the same
measure the playlist used (the highest cosine to any seed), and the share of the library it is
closer than. Computed on a worker thread: one matrix product over the library's vectors.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core import Track


@dataclass(frozen=True)
class Ranks:
    """``rank[track id]`` (1 = closest to the seeds), ``closer_than[track id]`` (share of the other
    tracks it beats, 0-1), ``cosine[track id]``; ``seeds`` (their ids); ``total``: tracks ranked."""

    rank: dict[int, int]
    closer_than: dict[int, float]
    cosine: dict[int, float]
    seeds: frozenset[int]
    total: int


def seed_ids(tracks: Sequence[Track], scores: Sequence[float], seeds: Sequence[Track]) -> list[int]:
    """The seeds' ids: the playlist's own, or (a reopened saved playlist) its tracks of score 1.0,
    which is how the engine scores seeds and path ends."""
    if seeds:
        return [t.id for t in seeds]
    return [t.id for t, s in zip(tracks, scores, strict=False) if s == 1.0]


def similarity_ranks(library: Any, tracks: Sequence[Track], seeds: Sequence[int]) -> Ranks | None:
    """Rank ``tracks`` among every analysed track of ``library`` by highest cosine to ``seeds``.

    None when there is nothing to rank against (no seed, or a seed without a vector)."""
    ids, vectors = library.vectors()
    row = {int(t): i for i, t in enumerate(ids.tolist())}
    seed_rows = [row[s] for s in seeds if s in row]
    if not seed_rows or len(seed_rows) != len(set(seeds)):
        return None
    sims = (vectors @ vectors[seed_rows].T).max(axis=1)
    others = np.ones(len(ids), bool)
    others[seed_rows] = False
    pool = np.sort(sims[others])[::-1]  # descending: the rank of s is 1 + how many are above it
    total = len(pool)
    rank, closer, cosine = {}, {}, {}
    for t in tracks:
        i = row.get(t.id)
        if i is None or not others[i]:
            continue
        s = float(sims[i])
        above = int(np.searchsorted(-pool, -s, side="left"))  # entries strictly greater than s
        rank[t.id] = above + 1
        below = total - int(np.searchsorted(-pool, -s, side="right"))
        closer[t.id] = below / max(total - 1, 1)
        cosine[t.id] = s
    return Ranks(rank, closer, cosine, frozenset(seeds), total)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def describe(ranks: Ranks | None, track: Track, score: float) -> tuple[str, str]:
    """(cell text, tooltip) for a playlist row."""
    if ranks is not None and track.id in ranks.seeds:
        return "seed", "A track this playlist was made from"
    if ranks is None or track.id not in ranks.rank:
        return f"{score:.2f}", "Cosine similarity to the seeds (1.00 = a seed); the rank is being computed"
    r = ranks.rank[track.id]
    return (f"{ordinal(r)} of {ranks.total:,}", f"The {ordinal(r)} closest of the {ranks.total:,} other analysed tracks to the seeds: "
            f"closer than {100 * ranks.closer_than[track.id]:.1f} % of them (cosine {ranks.cosine[track.id]:.3f})")
