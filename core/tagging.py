"""Automatic tags: a tagged model's per-track scores, stored beside the vectors and ranked for people.

A tagged model (its card lists ``tags``, e.g. musicnn's 50 Last.fm tags) gives every analysed track
one score in [0, 1] per tag (:meth:`core.model.Embedder.embed_with_tags`). They are stored keyed
like vectors, by (content fingerprint, analysis version), with the version's tag names, so the
store alone says what each score means and scores of different models never mix.

    >>> top_tags(["rock", "jazz", "pop"], np.array([0.2, 0.7, 0.1]), n=2)
    [('jazz', 0.7), ('rock', 0.2)]
    >>> mix_name("Morning", [("jazz", 0.7), ("piano", 0.4)])
    'Jazz & piano mix: Morning'
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from core.store import Store

TagList = list[tuple[str, float]]

#: Scores below this are not worth naming a playlist after (a model's "no idea" level).
NAME_MIN_SCORE = 0.1


# -- writing (inside the analysis transaction) -------------------------------------------------
def save_tag_names(conn: sqlite3.Connection, version: str, names: Sequence[str]) -> None:
    """Record what the scores of ``version`` mean (its tag names, in score order)."""
    conn.execute("INSERT OR REPLACE INTO tag_names VALUES (?, ?)", (version, json.dumps(list(names))))


def save_tag_scores(conn: sqlite3.Connection, version: str, rows: Iterable[tuple[str, np.ndarray]]) -> None:
    """Store ``(fingerprint, scores (n_tags,))`` rows for ``version``; non-finite scores become 0."""
    conn.executemany("INSERT OR REPLACE INTO tag_scores VALUES (?, ?, ?)",
                     [(fp, version, _clean(s).tobytes()) for fp, s in rows])


def _clean(scores: np.ndarray) -> np.ndarray:
    s = np.nan_to_num(np.asarray(scores, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(s, 0.0, 1.0).astype(np.float32)


# -- reading ---------------------------------------------------------------------------------------
def tag_names(store: Store, version: str) -> list[str]:
    """The tag names of ``version``'s stored scores (empty: none stored, e.g. an untagged model)."""
    row = store.conn.execute("SELECT names FROM tag_names WHERE version = ?", (version,)).fetchone()
    return list(json.loads(row[0])) if row else []


def fingerprints_with_tags(store: Store, version: str) -> set[str]:
    """Contents that have tag scores of ``version``."""
    return {r[0] for r in store.conn.execute("SELECT fingerprint FROM tag_scores WHERE version = ?", (version,))}


def scores_for(store: Store, ids: Sequence[int], version: str) -> dict[int, np.ndarray]:
    """Track id -> its ``(n_tags,)`` float32 scores of ``version`` (tracks without scores are absent)."""
    out: dict[int, np.ndarray] = {}
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        rows = store.conn.execute(
            "SELECT t.id, s.scores FROM tracks t JOIN tag_scores s ON s.fingerprint = t.fingerprint"
            f" WHERE s.version = ? AND t.id IN ({','.join('?' * len(chunk))})", (version, *chunk))
        out.update((tid, np.frombuffer(blob, dtype=np.float32)) for tid, blob in rows)
    return out


def all_scores(store: Store, version: str) -> tuple[np.ndarray, np.ndarray]:
    """Every track with scores of ``version``: ids ``(n,)`` int64 and scores ``(n, n_tags)`` float32."""
    rows = store.conn.execute(
        "SELECT t.id, s.scores FROM tracks t JOIN tag_scores s ON s.fingerprint = t.fingerprint"
        " WHERE s.version = ? ORDER BY t.id", (version,)).fetchall()
    n_tags = len(tag_names(store, version))
    rows = [r for r in rows if len(r[1]) == 4 * n_tags]  # a row that does not fit the names is never misread
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), n_tags)
    return ids, mat


# -- ranking ---------------------------------------------------------------------------------------
def top_tags(names: Sequence[str], scores: np.ndarray, n: int = 5) -> TagList:
    """The ``n`` best ``(name, score)`` pairs, best first (ties keep the model's tag order)."""
    s = np.asarray(scores, dtype=np.float32)
    if n <= 0 or len(s) == 0 or len(s) != len(names):
        return []
    order = np.argsort(-s, kind="stable")[:n]
    return [(str(names[i]), float(s[i])) for i in order]


def top_tags_by_track(store: Store, version: str, n: int = 5) -> dict[int, TagList]:
    """Track id -> its ``n`` best tags, for every track with stored scores of ``version``."""
    names = tag_names(store, version)
    ids, mat = all_scores(store, version)
    if not names or not len(ids) or n <= 0:
        return {}
    order = np.argsort(-mat, axis=1, kind="stable")[:, :n]
    return {int(tid): [(names[j], float(mat[r, j])) for j in order[r]] for r, tid in enumerate(ids)}


def stored_tags(store: Store, version: str, track_id: int, n: int = 5) -> TagList | None:
    """A library track's ``n`` best stored tags of ``version``; None when it has no scores."""
    found = scores_for(store, [track_id], version)
    return top_tags(tag_names(store, version), found[track_id], n) if track_id in found else None


def seeds_top_tags(store: Store, version: str, seed_ids: Sequence[int], n: int = 2) -> TagList:
    """The ``n`` best tags of several tracks together (mean of their stored scores): a playlist's seeds."""
    names = tag_names(store, version)
    rows = [r for r in scores_for(store, seed_ids, version).values() if len(r) == len(names)]
    return top_tags(names, np.mean(rows, axis=0), n) if rows else []


def file_tags(embedder: Any, path: str, n: int = 5) -> TagList:
    """Any audio file's ``n`` best tags, analysed now by ``embedder`` (a :class:`core.model.Embedder`;
    ``[]`` for an untagged model). A file that cannot be decoded raises :class:`core.errors.AudioError`."""
    from core.audio import load_windows

    excerpt = load_windows(path, embedder.sample_rate, embedder.window_samples, embedder.n_windows)
    _, scores = embedder.embed_with_tags(excerpt.windows[None])
    return top_tags(embedder.tag_names, scores[0], n) if scores is not None else []


def mix_name(title: str, tags: TagList, extra_seeds: int = 0) -> str:
    """A playlist name from its seed's title and top tags: ``"Jazz & piano mix: Morning"``.

    Tags scoring under :data:`NAME_MIN_SCORE` are left out; with none left the name is the plain
    ``"Mix: Morning"`` (``+ N more`` for further seeds, either way)."""
    words = [name for name, score in tags[:2] if score >= NAME_MIN_SCORE]
    more = f" + {extra_seeds} more" if extra_seeds > 0 else ""
    if not words:
        return f"Mix: {title}{more}"
    label = " & ".join(words)
    return f"{label[:1].upper()}{label[1:]} mix: {title}{more}"
