"""Track-to-track similarity of the MSD Last.fm dataset (``similars`` of the per-track JSON files,
shared/datasets.md §2.7), and the same from a simulated world's co-listening.

Each ``lastfm_train/A/B/C/TR….json`` holds ``"similars": [[track_id, score], …]``; scores are
floats in [0, 1] (Last.fm scales each track's list so its most similar track is 1), sometimes
written as strings. An entry that is not a ``[TR…, number in [0, 1]]`` pair is a bad row (the
"line" is its position in the list) and only that entry is dropped.

    >>> pairs = read_similars("lastfm_train.zip", bad)     # or a folder
    >>> pairs.source_ids[:3], pairs.target_ids[:3], pairs.scores[:3]
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from trainer.data.badrows import BadRows
from trainer.data.lastfm_tags import _json_sources

log = logging.getLogger(__name__)

TRACK_ID = re.compile(r"^TR[A-Z0-9]{16}$")


@dataclass(frozen=True)
class SimilarPairs:
    """(source track, similar track, score) triples: ``source_ids``/``target_ids`` lists of MSD
    track ids, ``scores`` (n,) float32 in [0, 1]."""

    source_ids: list[str]
    target_ids: list[str]
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def matrix(self, track_ids: list[str]) -> sp.csr_matrix:
        """Scores as a (len(track_ids),)² CSR matrix (row = source); pairs outside ``track_ids`` are dropped."""
        pos = {t: i for i, t in enumerate(track_ids)}
        keep = [(pos[s], pos[t], v) for s, t, v in zip(self.source_ids, self.target_ids, self.scores.tolist(),
                                                       strict=True) if s in pos and t in pos]
        n = len(track_ids)
        if not keep:
            return sp.csr_matrix((n, n), dtype=np.float32)
        r, c, v = zip(*keep, strict=True)
        return sp.csr_matrix((np.asarray(v, np.float32), (r, c)), shape=(n, n))


def parse_similars(doc: dict, where: str, bad: BadRows) -> list[tuple[str, str, float]]:
    """The valid ``(source, target, score)`` entries of one parsed JSON document."""
    source = str(doc.get("track_id", ""))
    entries = doc.get("similars", [])
    if not TRACK_ID.match(source):
        bad.add(where, 0, f"track_id {source!r} is not an MSD track id", "")
        return []
    if not isinstance(entries, list):
        bad.add(where, 0, "similars is not a list", str(entries)[:80])
        return []
    out = []
    for k, entry in enumerate(entries, start=1):
        reason = _check_entry(entry)
        if reason:
            bad.add(where, k, reason, json.dumps(entry)[:80])
            continue
        out.append((source, entry[0], float(entry[1])))
    return out


def _check_entry(entry: object) -> str:
    if not isinstance(entry, list | tuple) or len(entry) != 2:
        return "similar entry is not a [track_id, score] pair"
    tid, score = entry
    if not isinstance(tid, str) or not TRACK_ID.match(tid):
        return f"similar track id {tid!r} is not an MSD track id"
    try:
        value = float(score)
    except (TypeError, ValueError):
        return f"similarity score {score!r} is not a number"
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        return f"similarity score {value} is outside [0, 1]"
    return ""


def read_similars(source: str | PathLike[str], bad: BadRows | None = None) -> SimilarPairs:
    """Every ``similars`` entry of the ``*.json`` documents under a folder or inside a ``.zip``."""
    bad = bad if bad is not None else BadRows()
    src, dst, val = [], [], []
    for name, read in _json_sources(Path(source)):
        try:
            doc = json.loads(read())
        except (ValueError, UnicodeDecodeError) as exc:
            bad.add(name, 0, f"bad JSON document: {exc}", "")
            continue
        if not isinstance(doc, dict):
            bad.add(name, 0, "not a Last.fm track document", "")
            continue
        for s, t, v in parse_similars(doc, name, bad):
            src.append(s)
            dst.append(t)
            val.append(v)
    bad.warn(source, log)
    return SimilarPairs(src, dst, np.asarray(val, dtype=np.float32))


def similars_from_plays(plays: sp.spmatrix, among: np.ndarray, n: int = 20) -> dict[int, list[tuple[int, float]]]:
    """Co-listening similars for a simulated world: for each song of ``among`` (bool mask) with
    listeners, the ``n`` songs (of ``among``) sharing most listeners by cosine of the binary
    users × songs ``plays``, scaled so each list's top score is 1 (as Last.fm's are)."""
    b = (sp.csc_matrix(plays) > 0).astype(np.float32)
    idx = np.flatnonzero(np.asarray(among, dtype=bool) & (np.asarray(b.sum(axis=0)).ravel() > 0))
    if len(idx) < 2:
        return {}
    cols = b[:, idx]
    norm = np.sqrt(np.asarray(cols.multiply(cols).sum(axis=0)).ravel())
    out: dict[int, list[tuple[int, float]]] = {}
    for start in range(0, len(idx), 512):
        block = (cols[:, start:start + 512].T @ cols).toarray() / np.outer(norm[start:start + 512], norm)
        for r in range(block.shape[0]):
            block[r, start + r] = 0.0
            top = np.argsort(-block[r], kind="stable")[:n]
            top = top[block[r, top] > 0]
            if len(top):
                best = block[r, top[0]]
                out[int(idx[start + r])] = [(int(idx[c]), float(block[r, c] / best)) for c in top]
    return out
