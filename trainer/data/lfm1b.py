"""LFM-1b readers (Schedl 2016): TAB-separated UTF-8 text, see shared/datasets.md §1.

Only ``LFM-1b_users.txt`` has a header. Names may hold spaces or be empty; fields are split on TAB
only. ``LFM-1b_LEs.txt`` (1.09 billion lines, grouped by user, newest first) is streamed in chunks
of numpy columns; bad rows are dropped and recorded with their line numbers in a :class:`BadRows`.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike

import numpy as np
import pyarrow as pa

from trainer.data.badrows import BadRows
from trainer.data.textio import StrColumn, read_first_line
from trainer.data.tsv import LINE, Col, header_cols, iter_tables, read_table

log = logging.getLogger(__name__)

EVENT_COLS = (Col("user_id"), Col("artist_id"), Col("album_id"), Col("track_id"),
              Col("timestamp", "int64"))
EVENT_FIELDS = tuple(c.name for c in EVENT_COLS)
BYTES_PER_EVENT = 32  # a typical LE line is 28-40 bytes; used to size blocks from chunk_rows


@dataclass(frozen=True)
class EventsChunk:
    """Consecutive listening events, one entry per kept line; all arrays have shape (n,).

    ``user_id``, ``artist_id``, ``album_id``, ``track_id`` are int32; ``timestamp`` is int64 unix
    seconds; a field not asked for (``iter_events(columns=…)``) is None. ``first_line`` is the
    1-based line number of the chunk's first line in the file.
    """

    user_id: np.ndarray | None
    artist_id: np.ndarray | None
    album_id: np.ndarray | None
    track_id: np.ndarray | None
    timestamp: np.ndarray | None
    first_line: int

    def __len__(self) -> int:
        return len(next(a for a in (self.user_id, self.track_id, self.artist_id, self.album_id,
                                    self.timestamp) if a is not None))


def iter_events(path: str | PathLike[str], bad: BadRows | None = None, chunk_rows: int = 1_000_000,
                progress: bool = True, prefetch: bool = True,
                columns: Sequence[str] = EVENT_FIELDS) -> Iterator[EventsChunk]:
    """Stream ``LFM-1b_LEs.txt`` (``user, artist, album, track, unix time``; no header).

    Chunks hold about ``chunk_rows`` events, so memory stays bounded whatever the file size.
    Rows with a wrong column count, or with a non-numeric, empty, negative or out-of-range field
    among ``columns``, are skipped and recorded in ``bad`` with their line numbers. Fields not in
    ``columns`` are neither converted nor checked (about 40 % faster when only the user and track
    are needed, as for the play-count matrix).
    """
    unknown = set(columns) - set(EVENT_FIELDS)
    if unknown or not columns:
        raise ValueError(f"columns must be a non-empty subset of {EVENT_FIELDS}, got {list(columns)}")
    bad = bad if bad is not None else BadRows()
    cols = [c if c.name in columns else Col(c.name, "skip") for c in EVENT_COLS]
    block = max(chunk_rows, 1) * BYTES_PER_EVENT
    for first_line, table in iter_tables(path, cols, bad, block_bytes=block,
                                         progress=progress, prefetch=prefetch):
        got = {name: table.column(name).to_numpy() for name in table.column_names}
        yield EventsChunk(*(got.get(name) for name in EVENT_FIELDS), first_line=first_line)


@dataclass(frozen=True)
class Tracks:
    """``LFM-1b_tracks.txt``: ids (n,) int32, names (n,) strings, artist_ids (n,) int32."""

    ids: np.ndarray
    names: StrColumn
    artist_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Artists:
    """``LFM-1b_artists.txt``: ids (n,) int32 and names (n,) strings."""

    ids: np.ndarray
    names: StrColumn

    def __len__(self) -> int:
        return len(self.ids)

    def name_lookup(self) -> dict[int, str]:
        """``{artist_id: name}``."""
        return dict(zip(self.ids.tolist(), self.names.to_list(), strict=True))


@dataclass(frozen=True)
class Albums:
    """``LFM-1b_albums.txt``: ids (n,) int32, names (n,) strings, artist_ids (n,) int32."""

    ids: np.ndarray
    names: StrColumn
    artist_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Users:
    """``LFM-1b_users.txt``, one entry per user; all arrays have shape (n,).

    ``age`` is -1 where unknown; ``gender`` is ``'m'``, ``'f'`` or ``'n'`` (n = not given, also
    used for an empty field); ``country`` is ``''`` where unknown; ``registered`` is unix seconds.
    """

    ids: np.ndarray
    country: list[str]
    age: np.ndarray
    gender: list[str]
    playcount: np.ndarray
    registered: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def read_tracks(path: str | PathLike[str], bad: BadRows | None = None,
                progress: bool = True) -> Tracks:
    """Read ``LFM-1b_tracks.txt``: ``track_id TAB track_name TAB artist_id``, no header."""
    cols = (Col("track_id"), Col("name", "str"), Col("artist_id"))
    t = read_table(path, cols, _bad(bad), progress=progress)
    return Tracks(_ids(t, "track_id"), StrColumn(t.column("name")), _ids(t, "artist_id"))


def read_artists(path: str | PathLike[str], bad: BadRows | None = None,
                 progress: bool = True) -> Artists:
    """Read ``LFM-1b_artists.txt``: ``artist_id TAB artist_name``, no header."""
    t = read_table(path, (Col("artist_id"), Col("name", "str")), _bad(bad), progress=progress)
    return Artists(_ids(t, "artist_id"), StrColumn(t.column("name")))


def read_albums(path: str | PathLike[str], bad: BadRows | None = None,
                progress: bool = True) -> Albums:
    """Read ``LFM-1b_albums.txt``: ``album_id TAB album_name TAB artist_id``, no header."""
    cols = (Col("album_id"), Col("name", "str"), Col("artist_id"))
    t = read_table(path, cols, _bad(bad), progress=progress)
    return Albums(_ids(t, "album_id"), StrColumn(t.column("name")), _ids(t, "artist_id"))


def read_users(path: str | PathLike[str], bad: BadRows | None = None) -> Users:
    """Read ``LFM-1b_users.txt``: header ``user_id country age gender playcount registered_unixtime``.

    A file without the header line is read positionally. Missing age (``-1`` or empty) gives -1,
    an empty gender gives ``'n'``; any other gender than m/f/n is a bad row.
    """
    bad = _bad(bad)
    has_header = read_first_line(path).split("\t", 1)[0].strip() == "user_id"
    cols = [Col("user_id"), Col("country", "str"), Col("age", "str"), Col("gender", "str"),
            Col("playcount", "int64"), Col("registered_unixtime", "int64", None)]
    if has_header:
        cols = header_cols(path, cols)
    t = read_table(path, cols, bad, skip_lines=int(has_header), with_lines=True, progress=False)
    keep, ages, genders = _clean_users(t, path, bad)
    ids = _ids(t, "user_id")
    return Users(ids[keep], [c for c, k in zip(t.column("country").to_pylist(), keep, strict=True) if k],
                 np.asarray(ages, dtype=np.int32), genders, t.column("playcount").to_numpy()[keep],
                 t.column("registered_unixtime").to_numpy()[keep])


def _clean_users(t: pa.Table, path: str | PathLike[str],
                 bad: BadRows) -> tuple[np.ndarray, list[int], list[str]]:
    """Validate age and gender row by row: (keep mask, ages, genders) of the kept rows."""
    keep = np.ones(t.num_rows, dtype=bool)
    ages: list[int] = []
    genders: list[str] = []
    rows = zip(t.column("age").to_pylist(), t.column("gender").to_pylist(),
               t.column(LINE).to_pylist(), strict=True)
    for i, (age, gender, line) in enumerate(rows):
        age_s, g = age.strip(), gender.strip().lower() or "n"
        try:
            a = int(age_s) if age_s else -1
        except ValueError:
            a = None
        if a is None or a < -1 or g not in ("m", "f", "n"):
            what = f"bad age {age!r}" if a is None or a < -1 else f"bad gender {gender!r}"
            bad.add(path, line, what, f"{age}\t{gender}")
            keep[i] = False
            continue
        ages.append(a)
        genders.append(g)
    bad.warn(path, log)
    return keep, ages, genders


def _ids(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def _bad(bad: BadRows | None) -> BadRows:
    return bad if bad is not None else BadRows()
