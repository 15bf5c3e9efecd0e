"""Last.fm tags of the MSD and Keunwoo Choi's top-50 tag split (shared/datasets.md §2.7, §2.9).

``lastfm_tags.db`` (SQLite): ``tags(tag)`` and ``tids(tid)`` addressed by ROWID, ``tid_tag(tid,
tag, val)`` with foreign keys to those ROWIDs and ``val`` in (0, 100]. The per-track JSON files
(``lastfm_train/A/A/A/TRAAAAW128F429D538.json``) carry ``tags = [[tag, weight], …]`` with weights
as strings or numbers. A tag is a positive label iff its value is > 50.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np

from trainer.data.badrows import BadRows
from trainer.data.textio import read_id_list

log = logging.getLogger(__name__)

TOP50_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
    "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
    "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist",
    "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk",
    "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy")
"""Column order of the ``*_y.npy`` label matrices (``tags.py`` of MSD_split_for_tagging)."""
POSITIVE_ABOVE = 50.0


@dataclass(frozen=True)
class TagPairs:
    """(track, tag, value) triples in long format: ``track_idx``/``tag_idx`` (n,) int32 index into
    ``track_ids``/``tags``; ``values`` (n,) float32 in (0, 100]."""

    track_ids: list[str]
    tags: list[str]
    track_idx: np.ndarray
    tag_idx: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def tags_of(self, track_id: str) -> dict[str, float]:
        """``{tag: value}`` of one track (linear scan; for spot checks)."""
        try:
            i = self.track_ids.index(track_id)
        except ValueError:
            return {}
        rows = np.flatnonzero(self.track_idx == i)
        return {self.tags[self.tag_idx[r]]: float(self.values[r]) for r in rows}


def read_lastfm_tags_db(path: str | PathLike[str], min_value: float = 0.0) -> TagPairs:
    """All (track, tag, value) rows of ``lastfm_tags.db`` with ``val >= min_value``.

    Every track and tag of the ``tids``/``tags`` tables is listed, in ROWID order.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file; get lastfm_tags.db from the MSD Last.fm page")
    with sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True) as db:
        track_rowids, track_ids = _rowid_table(db, "SELECT ROWID, tid FROM tids")
        tag_rowids, tags = _rowid_table(db, "SELECT ROWID, tag FROM tags")
        rows = np.array(db.execute("SELECT tid, tag, val FROM tid_tag WHERE val >= ?",
                                   (min_value,)).fetchall(), dtype=np.float64).reshape(-1, 3)
    track_idx = _rowid_to_index(track_rowids, rows[:, 0].astype(np.int64))
    tag_idx = _rowid_to_index(tag_rowids, rows[:, 1].astype(np.int64))
    ok = (track_idx >= 0) & (tag_idx >= 0)
    if not ok.all():
        log.warning("%s: %d tid_tag rows point to no track or tag; skipped", path, int((~ok).sum()))
    return TagPairs(track_ids, tags, track_idx[ok].astype(np.int32), tag_idx[ok].astype(np.int32),
                    rows[ok, 2].astype(np.float32))


def _rowid_table(db: sqlite3.Connection, query: str) -> tuple[np.ndarray, list[str]]:
    rows = db.execute(query + " ORDER BY ROWID").fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]


def _rowid_to_index(rowids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions of ``wanted`` ROWIDs in the sorted ``rowids``; -1 where absent."""
    if len(rowids) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(rowids, wanted), len(rowids) - 1)
    return np.where(rowids[pos] == wanted, pos, -1)


def tag_matrix(pairs: TagPairs, track_ids: Sequence[str], tags: Sequence[str] = TOP50_TAGS,
               threshold: float = POSITIVE_ABOVE) -> np.ndarray:
    """Labels (len(track_ids), len(tags)) bool: True iff the track has the tag with value > threshold.

    Tag names match exactly (``'Hip-Hop'`` ≠ ``'hip-hop'``); unknown tracks get all-False rows.
    """
    row_of = {t: i for i, t in enumerate(track_ids)}
    col_of = {t: j for j, t in enumerate(tags)}
    track_row = np.array([row_of.get(t, -1) for t in pairs.track_ids], dtype=np.int64)
    tag_col = np.array([col_of.get(t, -1) for t in pairs.tags], dtype=np.int64)
    rows = track_row[pairs.track_idx] if len(pairs) else np.zeros(0, np.int64)
    cols = tag_col[pairs.tag_idx] if len(pairs) else np.zeros(0, np.int64)
    hit = (rows >= 0) & (cols >= 0) & (pairs.values > threshold)
    out = np.zeros((len(track_ids), len(tags)), dtype=bool)
    out[rows[hit], cols[hit]] = True
    return out


# --------------------------------------------------------------------------- per-track JSON
@dataclass(frozen=True)
class LastfmTrack:
    """One ``lastfm_train``/``lastfm_test`` JSON file; tag and similarity weights as floats."""

    track_id: str
    artist: str
    title: str
    tags: list[tuple[str, float]] = field(default_factory=list)
    similars: list[tuple[str, float]] = field(default_factory=list)
    timestamp: str = ""


def json_path(root: str | PathLike[str], track_id: str) -> Path:
    """``root/A/B/C/TRABC….json``: the folders are characters 2, 3 and 4 of the track id."""
    return Path(root, track_id[2], track_id[3], track_id[4], f"{track_id}.json")


def parse_lastfm_json(text: str | bytes) -> LastfmTrack:
    """Parse one per-track JSON document; raises ValueError when it is not one."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or "track_id" not in doc:
        raise ValueError("not a Last.fm track document (no track_id)")
    return LastfmTrack(str(doc["track_id"]), str(doc.get("artist", "")), str(doc.get("title", "")),
                       [(str(t), float(w)) for t, w in doc.get("tags", [])],
                       [(str(t), float(w)) for t, w in doc.get("similars", [])],
                       str(doc.get("timestamp", "")))


def iter_lastfm_json(source: str | PathLike[str], bad: BadRows | None = None) -> Iterator[LastfmTrack]:
    """Every ``*.json`` track document under a folder or inside a ``.zip``, sorted by path.

    Unreadable documents are recorded in ``bad`` (line 0 = the whole file) and skipped.
    """
    bad = bad if bad is not None else BadRows()
    for name, read in _json_sources(Path(source)):
        try:
            yield parse_lastfm_json(read())
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            bad.add(name, 0, f"bad JSON document: {exc}", "")
    bad.warn(source, log)


def _json_sources(source: Path) -> Iterator[tuple[str, object]]:
    if source.is_dir():
        for p in sorted(source.rglob("*.json")):
            yield str(p), p.read_bytes
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            for name in sorted(n for n in zf.namelist() if n.endswith(".json")):
                yield f"{source}!{name}", (lambda n=name: zf.read(n))
    else:
        raise FileNotFoundError(f"{source}: neither a folder nor a zip of Last.fm JSON files")


# --------------------------------------------------------------------------- top-50 split
@dataclass(frozen=True)
class MsdSplit:
    """One part of Keunwoo Choi's split: aligned (n,) MSD ids, 7digital ids (int64) and npy file
    names; ``labels`` (n, 50) bool in :data:`TOP50_TAGS` order, or None when ``*_y.npy`` is absent."""

    msd_ids: list[str]
    ids_7d: np.ndarray
    filenames: list[str]
    labels: np.ndarray | None

    def __len__(self) -> int:
        return len(self.msd_ids)


def read_msd_split(folder: str | PathLike[str], split: str, bad: BadRows | None = None) -> MsdSplit:
    """Read ``{split}_x_msd_id.txt``, ``{split}_x_7d_id.txt``, ``{split}_x_filename.txt`` and, if
    present, ``{split}_y.npy`` from ``folder`` (split = ``train``, ``valid`` or ``test``).

    Raises ValueError when the files are not line-aligned (they must be: line i of each is one clip).
    """
    bad = bad if bad is not None else BadRows()
    folder = Path(folder)
    msd = read_id_list(folder / f"{split}_x_msd_id.txt", bad)
    ids_7d = read_id_list(folder / f"{split}_x_7d_id.txt", bad)
    names = read_id_list(folder / f"{split}_x_filename.txt", bad)
    y_path = folder / f"{split}_y.npy"
    labels = np.load(y_path, allow_pickle=False).astype(bool) if y_path.exists() else None
    sizes = {"msd_id": len(msd), "7d_id": len(ids_7d), "filename": len(names)}
    if labels is not None:
        sizes["y"] = len(labels)
        if labels.ndim != 2 or labels.shape[1] != len(TOP50_TAGS):
            raise ValueError(f"{y_path}: shape {labels.shape}, expected (n, {len(TOP50_TAGS)})")
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{folder}: {split} files are not line-aligned: {sizes}; "
                         "re-download them from keunwoochoi/MSD_split_for_tagging")
    if not all(i.isdigit() for i in ids_7d):
        raise ValueError(f"{folder / f'{split}_x_7d_id.txt'}: holds non-numeric 7digital ids")
    return MsdSplit(msd, np.array(ids_7d, dtype=np.int64), names, labels)
