"""The "For you" mix: the library ranked by the taste vector(s), under the playlist rules.

The rules are :mod:`core.playlist`'s (no song twice, no two copies of one recording, the artist
cap, deterministic ties) and so is the flow: the picks are chained nearest-neighbour from the
best one. ``discovery`` is the share of the mix reserved for tracks played at most ``rare``
times; without ``include_played`` every pick is unplayed anyway. Several taste vectors (one per
cluster of taste) share the mix in proportion to their weights, each picking its best remaining
track in turn.
"""
from __future__ import annotations

import numpy as np

from core.playlist import TrackSource, _best_first, _chain, _Pool, _Rules, _unit

RARE_PLAYS = 1            # "rarely played": at most this many plays


def rank_and_pick(ids: np.ndarray, vecs: np.ndarray, taste: np.ndarray, plays: dict[int, float],
                  tracks: TrackSource, n: int = 25, include_played: bool = False,
                  max_per_artist: int | None = None, discovery: float = 0.3,
                  rare: int = RARE_PLAYS, weights: np.ndarray | None = None) -> list[tuple[int, float]]:
    """``[(track id, cosine to the nearest taste vector)]`` for up to ``n`` tracks, in playing order.

    ``ids`` (m,) and ``vecs`` (m, f) are the analysed library; ``taste`` is one vector (f,) or
    several (k, f) with ``weights`` (k,) (default equal); ``plays`` maps a track id to its play
    count. Without ``include_played`` played tracks are left out; with it, ``discovery`` of the
    ``n`` places go to the best tracks played at most ``rare`` times, the rest to the best of the
    others (either side fills in when the other runs out)."""
    if not 0.0 <= discovery <= 1.0:
        raise ValueError(f"discovery is a share between 0 and 1, not {discovery}")
    if n < 1 or not len(ids):
        return []
    vecs = _unit(vecs)
    directions = _unit(np.atleast_2d(np.asarray(taste, np.float32)))
    cosines = vecs @ directions.T                                  # (m, k)
    scores = cosines.max(axis=1)
    share = np.ones(len(directions)) if weights is None else np.asarray(weights, np.float64)
    share = share / share.sum()
    played = np.asarray([plays.get(int(i), 0.0) for i in ids])
    keep = np.ones(len(ids), bool) if include_played else played == 0
    orders = [o[keep[o]] for o in (_best_first(cosines[:, j], ids) for j in range(len(directions)))]
    fresh = played <= rare
    quota = {True: n if not include_played else int(round(n * discovery))}
    quota[False] = n - quota[True]
    picker = _Picker(orders, share, fresh, ids, vecs, tracks, _Rules(vecs.shape[1], n, max_per_artist))
    chosen = picker.pick(quota, n)
    if len(chosen) < n:   # one side ran out: the other fills the mix
        picker.cursors = [0] * len(orders)
        chosen += picker.pick({True: n, False: n}, n - len(chosen))
    if not chosen:
        return []
    sel = np.asarray(chosen, dtype=np.int64)
    by_id = tracks.tracks_by_id(ids[sel].tolist())
    pool = _Pool(ids[sel], [by_id[int(i)] for i in ids[sel]], vecs[sel])
    best = int(np.argmax(scores[sel]))
    flow = [best] + _chain(vecs[sel[best]], pool, [k for k in range(len(sel)) if k != best])
    return [(int(ids[sel[k]]), float(scores[sel[k]])) for k in flow]


class _Picker:
    """Taste vectors take turns (the one furthest below its share first) to pick their best
    remaining track the rules admit; tracks are fetched in chunks as the cursors advance."""

    def __init__(self, orders: list[np.ndarray], share: np.ndarray, fresh: np.ndarray, ids: np.ndarray,
                 vecs: np.ndarray, tracks: TrackSource, rules: _Rules) -> None:
        self.orders, self.share, self.fresh, self.ids, self.vecs = orders, share, fresh, ids, vecs
        self.tracks, self.rules = tracks, rules
        self.cursors = [0] * len(orders)
        self.taken = np.zeros(len(orders), np.int64)
        self._cache: dict[int, object] = {}

    def pick(self, quota: dict[bool, int], want: int) -> list[int]:
        left, out = dict(quota), []
        active = [j for j in range(len(self.orders)) if len(self.orders[j])]
        while len(out) < want and active:
            total = self.taken.sum() + 1
            j = max(active, key=lambda a: (self.share[a] * total - self.taken[a], -a))
            r = self._next(j, left)
            if r is None:
                active.remove(j)
                continue
            out.append(r)
            self.taken[j] += 1
            left[bool(self.fresh[r])] -= 1
        return out

    def _next(self, j: int, left: dict[bool, int]) -> int | None:
        order = self.orders[j]
        while self.cursors[j] < len(order):
            r = int(order[self.cursors[j]])
            self.cursors[j] += 1
            track = self._track(j, r)
            if track is None or track.status == "missing":   # its drive is away: cannot be played now
                continue
            if left[bool(self.fresh[r])] > 0 and self.rules.admits(track, self.vecs[r]):
                self.rules.add(track, self.vecs[r])
                return r
        return None

    def _track(self, j: int, r: int):
        tid = int(self.ids[r])
        if tid not in self._cache:   # fetch this ranking's next chunk in one query
            start = self.cursors[j] - 1
            chunk = self.orders[j][start:start + max(64, 4 * self.taken.sum() + 64)]
            found = self.tracks.tracks_by_id([int(self.ids[k]) for k in chunk])
            for k in chunk:
                self._cache[int(self.ids[k])] = found.get(int(self.ids[k]))
        return self._cache[tid]
