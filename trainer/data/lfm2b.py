"""LFM-2b readers: ``.tsv.bz2`` files, TAB-separated, with a header row (shared/datasets.md §1).

Columns are found by their header names, so a file with extra or reordered columns still reads.
Text is split on TAB with no quote handling at all (pandas' default quoting mis-parses
``tracks.tsv.bz2``). Bad rows are dropped and recorded with their line numbers (the header is
line 1).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike

import numpy as np
import pyarrow as pa

from trainer.data.badrows import BadRows
from trainer.data.textio import StrColumn, open_binary
from trainer.data.tsv import Col, header_cols, iter_tables, read_table

log = logging.getLogger(__name__)
_AGE_RE = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class CountsChunk:
    """``listening-counts``: ``user_id``, ``track_id`` (n,) int32 and ``count`` (n,) int32 plays."""

    user_id: np.ndarray
    track_id: np.ndarray
    count: np.ndarray
    first_line: int

    def __len__(self) -> int:
        return len(self.user_id)


@dataclass(frozen=True)
class Events2bChunk:
    """``listening-events``: ids (n,) int32 and ``timestamp`` (n,) int64 unix seconds (UTC)."""

    user_id: np.ndarray
    track_id: np.ndarray
    album_id: np.ndarray
    timestamp: np.ndarray
    first_line: int

    def __len__(self) -> int:
        return len(self.user_id)


@dataclass(frozen=True)
class Tracks2b:
    """``tracks.tsv.bz2``: ids (n,) int32, artist names and track names (n,) strings."""

    ids: np.ndarray
    artist_names: StrColumn
    names: StrColumn

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Named2b:
    """``artists`` / ``albums``: ids (n,) int32, names (n,), and for albums the artist names."""

    ids: np.ndarray
    names: StrColumn
    artist_names: StrColumn | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Users2b:
    """``users.tsv.bz2``: ids (n,) int32, age (n,) int32 (-1 = unknown), other fields as text."""

    ids: np.ndarray
    country: list[str]
    age: np.ndarray
    gender: list[str]
    creation_time: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def iter_listening_counts(path: str | PathLike[str], bad: BadRows | None = None,
                          chunk_rows: int = 1_000_000, progress: bool = True) -> Iterator[CountsChunk]:
    """Stream ``listening-counts.tsv.bz2`` (``user_id track_id count``)."""
    bad = bad if bad is not None else BadRows()
    cols = header_cols(path, (Col("user_id"), Col("track_id"), Col("count", "int32", 1)))
    for first, t in iter_tables(path, cols, bad, skip_lines=1, block_bytes=chunk_rows * 24,
                                progress=progress):
        yield CountsChunk(_np(t, "user_id"), _np(t, "track_id"), _np(t, "count"), first)


def iter_listening_events(path: str | PathLike[str], bad: BadRows | None = None,
                          chunk_rows: int = 1_000_000, progress: bool = True) -> Iterator[Events2bChunk]:
    """Stream ``listening-events.tsv.bz2`` (``user_id track_id album_id timestamp``).

    The timestamp is read as an ISO date-time (``2013-01-01 12:00:00``, UTC) or, where the first
    data row holds a plain integer, as unix seconds.
    """
    bad = bad if bad is not None else BadRows()
    cols = header_cols(path, (Col("user_id"), Col("track_id"), Col("album_id"),
                              Col("timestamp", _timestamp_kind(path), None)))
    for first, t in iter_tables(path, cols, bad, skip_lines=1, block_bytes=chunk_rows * 48,
                                progress=progress):
        ts = t.column("timestamp")
        seconds = (ts.cast(pa.int64()).to_numpy() // 1_000_000 if pa.types.is_timestamp(ts.type)
                   else ts.to_numpy())
        yield Events2bChunk(_np(t, "user_id"), _np(t, "track_id"), _np(t, "album_id"),
                            seconds.astype(np.int64), first)


def _timestamp_kind(path: str | PathLike[str]) -> str:
    """``'int64'`` when the first data row's timestamp is all digits, else ``'timestamp'``."""
    with open_binary(path) as f:
        header = f.readline().decode("utf-8", "replace").rstrip("\r\n").split("\t")
        row = f.readline().decode("utf-8", "replace").rstrip("\r\n").split("\t")
    if "timestamp" in header and len(row) == len(header):
        return "int64" if row[header.index("timestamp")].strip().isdigit() else "timestamp"
    return "timestamp"


def read_tracks(path: str | PathLike[str], bad: BadRows | None = None, progress: bool = True) -> Tracks2b:
    """Read ``tracks.tsv.bz2`` (``track_id artist_name track_name``), split on TAB, no quoting."""
    wanted = (Col("track_id"), Col("artist_name", "str"), Col("track_name", "str"))
    t = read_table(path, header_cols(path, wanted), _bad(bad), skip_lines=1, progress=progress)
    return Tracks2b(_np(t, "track_id"), StrColumn(t.column("artist_name")), StrColumn(t.column("track_name")))


def read_artists(path: str | PathLike[str], bad: BadRows | None = None, progress: bool = True) -> Named2b:
    """Read ``artists.tsv.bz2`` (``artist_id artist_name``)."""
    wanted = (Col("artist_id"), Col("artist_name", "str"))
    t = read_table(path, header_cols(path, wanted), _bad(bad), skip_lines=1, progress=progress)
    return Named2b(_np(t, "artist_id"), StrColumn(t.column("artist_name")))


def read_albums(path: str | PathLike[str], bad: BadRows | None = None, progress: bool = True) -> Named2b:
    """Read ``albums.tsv.bz2`` (``album_id album_name artist_name``)."""
    wanted = (Col("album_id"), Col("album_name", "str"), Col("artist_name", "str"))
    t = read_table(path, header_cols(path, wanted), _bad(bad), skip_lines=1, progress=progress)
    return Named2b(_np(t, "album_id"), StrColumn(t.column("album_name")),
                   StrColumn(t.column("artist_name")))


def read_users(path: str | PathLike[str], bad: BadRows | None = None) -> Users2b:
    """Read ``users.tsv.bz2`` (``user_id country age gender creation_time``).

    An empty or ``-1`` age gives -1; another non-integer age is a bad row.
    """
    bad = _bad(bad)
    wanted = (Col("user_id"), Col("country", "str"), Col("age", "str"), Col("gender", "str"),
              Col("creation_time", "str"))
    t = read_table(path, header_cols(path, wanted), bad, skip_lines=1, with_lines=True, progress=False)
    keep, ages = [], []
    for age, line in zip(t.column("age").to_pylist(), t.column("_line").to_pylist(), strict=True):
        value = parse_age(age)
        if value is None:
            bad.add(path, line, f"bad age {age!r}", age)
        else:
            ages.append(value)
        keep.append(value is not None)
    bad.warn(path, log)
    t = t.filter(pa.array(keep))
    return Users2b(_np(t, "user_id"), t.column("country").to_pylist(), np.asarray(ages, dtype=np.int32),
                   t.column("gender").to_pylist(), t.column("creation_time").to_pylist())


def parse_age(text: str) -> int | None:
    """An age field: ``''`` or ``-1`` -> -1, a non-negative integer -> itself, else None."""
    text = text.strip()
    if not text:
        return -1
    if _AGE_RE.fullmatch(text) is None or int(text) < -1:
        return None
    return int(text)


def _bad(bad: BadRows | None) -> BadRows:
    return bad if bad is not None else BadRows()
