"""The "For you" mix: the library ranked by the taste vector, under the playlist rules.

The rules are :mod:`core.playlist`'s (no song twice, no two copies of one recording, the artist
cap, deterministic ties) and so is the flow: the picks are chained nearest-neighbour from the
best one. ``discovery`` is the share of the mix reserved for tracks played at most ``rare``
times; without ``include_played`` every pick is unplayed anyway.
"""
from __future__ import annotations

from collections.abc import Sequence

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
        fresh_quota = n
    else:
        fresh_quota = int(round(n * discovery))
    fresh = order[played[order] <= rare]
    familiar = order[played[order] > rare]
    rules = _Rules(vecs.shape[1], n, max_per_artist)
    chosen = _pick(fresh, fresh_quota, ids, vecs, tracks, rules)
    chosen += _pick(familiar, n - len(chosen), ids, vecs, tracks, rules)
    if len(chosen) < n:   # the familiar side ran out: fill from the fresh one
        chosen += _pick(fresh, n - len(chosen), ids, vecs, tracks, rules)
    if not chosen:
        return []
    sel = np.asarray(chosen, dtype=np.int64)
    by_id = tracks.tracks_by_id(ids[sel].tolist())
    pool = _Pool(ids[sel], [by_id[int(i)] for i in ids[sel]], vecs[sel])
    best = int(np.argmax(scores[sel]))
    flow = [best] + [k for k in _chain(vecs[sel[best]], pool, [k for k in range(len(sel)) if k != best])]
    return [(int(ids[sel[k]]), float(scores[sel[k]])) for k in flow]


def _pick(order: np.ndarray, want: int, ids: np.ndarray, vecs: np.ndarray, tracks: TrackSource,
          rules: _Rules) -> list[int]:
    """Up to ``want`` rows of ``order`` (best first) the rules admit; fetches tracks in chunks."""
    out: list[int] = []
    start, chunk = 0, max(4 * want, 64)
    while len(out) < want and start < len(order):
        rows: Sequence[int] = order[start:start + chunk].tolist()
        start += chunk
        chunk *= 4
        found = tracks.tracks_by_id([int(ids[r]) for r in rows])
        for r in rows:
            track = found.get(int(ids[r]))
            if track is None or int(ids[r]) in rules.ids or not rules.admits(track, vecs[r]):
                continue
            rules.add(track, vecs[r])
            out.append(r)
            if len(out) == want:
                break
    return out
