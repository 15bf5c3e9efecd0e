"""The "For you" mix: the library ranked by the taste vector, under the playlist rules.

The rules are :mod:`core.playlist`'s (no song twice, no two copies of one recording, the artist
cap, deterministic ties) and so is the flow: the picks are chained nearest-neighbour from the
best one. ``discovery`` is the share of the mix reserved for tracks played at most ``rare``
times; without ``include_played`` every pick is unplayed anyway.
"""
from __future__ import annotations

import numpy as np

from core.playlist import TrackSource, _best_first, _chain, _Pool, _Rules, _unit

RARE_PLAYS = 1            # "rarely played": at most this many plays


def rank_and_pick(ids: np.ndarray, vecs: np.ndarray, taste: np.ndarray, plays: dict[int, float],
                  tracks: TrackSource, n: int = 25, include_played: bool = False,
                  max_per_artist: int | None = None, discovery: float = 0.3,
                  rare: int = RARE_PLAYS) -> list[tuple[int, float]]:
    """``[(track id, cosine to the taste vector)]`` for up to ``n`` tracks, in playing order.

    ``ids`` (m,) and ``vecs`` (m, f) are the analysed library; ``plays`` maps a track id to its
    play count. Without ``include_played`` played tracks are left out; with it, ``discovery``
    of the ``n`` places go to the best tracks played at most ``rare`` times, the rest to the
    best of the others (either side fills in when the other runs out)."""
    if not 0.0 <= discovery <= 1.0:
        raise ValueError(f"discovery is a share between 0 and 1, not {discovery}")
    if n < 1 or not len(ids):
        return []
    vecs = _unit(vecs)
    direction = _unit(np.asarray(taste, np.float32)[None])[0]
    scores = vecs @ direction
    played = np.asarray([plays.get(int(i), 0.0) for i in ids])
    order = _best_first(scores, ids)
    if not include_played:
        order = order[played[order] == 0]
    fresh = played[order] <= rare
    quota = {True: n if not include_played else int(round(n * discovery))}
    quota[False] = n - quota[True]
    rules = _Rules(vecs.shape[1], n, max_per_artist)
    chosen = _pick(order, fresh, quota, ids, vecs, tracks, rules)
    if len(chosen) < n:   # one side ran out: the other fills the mix
        chosen += _pick(order, fresh, {True: n - len(chosen), False: n - len(chosen)}, ids, vecs, tracks, rules,
                        total=n - len(chosen))
    if not chosen:
        return []
    sel = np.asarray(chosen, dtype=np.int64)
    by_id = tracks.tracks_by_id(ids[sel].tolist())
    pool = _Pool(ids[sel], [by_id[int(i)] for i in ids[sel]], vecs[sel])
    best = int(np.argmax(scores[sel]))
    flow = [best] + [k for k in _chain(vecs[sel[best]], pool, [k for k in range(len(sel)) if k != best])]
    return [(int(ids[sel[k]]), float(scores[sel[k]])) for k in flow]


def _pick(order: np.ndarray, fresh: np.ndarray, quota: dict[bool, int], ids: np.ndarray, vecs: np.ndarray,
          tracks: TrackSource, rules: _Rules, total: int | None = None) -> list[int]:
    """Rows of ``order`` (best first) the rules admit, at most ``quota[fresh[k]]`` of each kind
    (and ``total`` in all); fetches tracks in growing chunks."""
    left = dict(quota)
    want = sum(left.values()) if total is None else total
    out: list[int] = []
    start, chunk = 0, max(4 * want, 64)
    while len(out) < want and start < len(order):
        ks = range(start, min(start + chunk, len(order)))
        start += chunk
        chunk *= 4
        found = tracks.tracks_by_id([int(ids[order[k]]) for k in ks])
        for k in ks:
            r, kind = int(order[k]), bool(fresh[k])
            track = found.get(int(ids[r]))
            if left[kind] <= 0 or track is None or not rules.admits(track, vecs[r]):
                continue
            rules.add(track, vecs[r])
            out.append(r)
            left[kind] -= 1
            if len(out) == want:
                break
    return out
