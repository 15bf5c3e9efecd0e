"""Million Song Dataset readers, see shared/datasets.md §2.1-2.3 and §2.8.

``unique_tracks.txt`` and ``unique_artists.txt`` use the literal 5-character separator ``<SEP>``;
``track_metadata.db`` is SQLite; preview clips are stored by 7digital id.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from trainer.data.badrows import BadRows
from trainer.data.textio import iter_lines

log = logging.getLogger(__name__)

SEP = "<SEP>"
DEFAULT_CLIP_TEMPLATE = "{root}/{d0}/{d1}/{id}.clip.mp3"
"""Research copies of the 7digital previews: ``<root>/<d0>/<d1>/<7digitalid>.clip.mp3``."""


@dataclass(frozen=True)
class UniqueTracks:
    """``unique_tracks.txt``: four aligned lists of length n (MSD track and song ids, names)."""

    track_ids: list[str]
    song_ids: list[str]
    artists: list[str]
    titles: list[str]

    def __len__(self) -> int:
        return len(self.track_ids)


@dataclass(frozen=True)
class UniqueArtists:
    """``unique_artists.txt``: aligned lists (artist id, MusicBrainz id or '', a sample track, name)."""

    artist_ids: list[str]
    mbids: list[str]
    track_ids: list[str]
    names: list[str]

    def __len__(self) -> int:
        return len(self.artist_ids)


def _read_sep_file(path: str | PathLike[str], bad: BadRows | None, prefixes: dict[int, str],
                   progress: bool) -> list[list[str]]:
    """Columns of a 4-field ``<SEP>`` file split with maxsplit 3; field ``i`` must start with
    ``prefixes[i]`` (ids such as ``TR…``)."""
    bad = bad if bad is not None else BadRows()
    cols: list[list[str]] = [[], [], [], []]
    for line_no, line in iter_lines(path, bad, progress=progress):
        fields = line.split(SEP, 3)
        if len(fields) != 4:
            bad.add(path, line_no, f"wrong column count: expected 4 {SEP}-separated fields, "
                                   f"found {len(fields)}", line)
            continue
        wrong = [i for i, prefix in prefixes.items() if not fields[i].startswith(prefix)]
        if wrong:
            bad.add(path, line_no, f"field {wrong[0] + 1} does not start with {prefixes[wrong[0]]}", line)
            continue
        for col, value in zip(cols, fields, strict=True):
            col.append(value)
    bad.warn(path, log)
    return cols


def read_unique_tracks(path: str | PathLike[str], bad: BadRows | None = None,
                       progress: bool = True) -> UniqueTracks:
    """Read ``track_id<SEP>song_id<SEP>artist_name<SEP>title`` lines (no header).

    Names are kept verbatim (no stripping); a title may itself hold ``<SEP>`` (maxsplit 3).
    """
    return UniqueTracks(*_read_sep_file(path, bad, {0: "TR", 1: "SO"}, progress))


def read_unique_artists(path: str | PathLike[str], bad: BadRows | None = None,
                        progress: bool = True) -> UniqueArtists:
    """Read ``artist_id<SEP>artist_mbid<SEP>track_id<SEP>artist_name`` lines; mbid may be empty."""
    return UniqueArtists(*_read_sep_file(path, bad, {0: "AR", 2: "TR"}, progress))


SONGS_COLUMNS = ("track_id", "title", "song_id", "release", "artist_id", "artist_mbid", "artist_name",
                 "duration", "artist_familiarity", "artist_hotttnesss", "year", "track_7digitalid",
                 "shs_perf", "shs_work")


def read_track_metadata_db(path: str | PathLike[str]) -> dict[str, int]:
    """``{MSD track_id: 7digital track id}`` from the ``songs`` table of ``track_metadata.db``.

    Tracks whose ``track_7digitalid`` is NULL or not positive are left out.
    """
    rows = read_track_metadata(path, ("track_7digitalid",))
    out = {tid: int(v[0]) for tid, v in rows.items() if v[0] is not None and int(v[0]) > 0}
    if len(out) < len(rows):
        log.info("%s: %d of %d tracks have no 7digital id", path, len(rows) - len(out), len(rows))
    return out


def read_track_metadata(path: str | PathLike[str],
                        columns: tuple[str, ...] = ("title", "artist_name", "song_id", "duration",
                                                    "year", "track_7digitalid"),
                        ) -> dict[str, tuple[Any, ...]]:
    """``{track_id: (values of columns…)}`` from the ``songs`` table (schema in datasets.md §2.3)."""
    unknown = [c for c in columns if c not in SONGS_COLUMNS]
    if unknown:
        raise ValueError(f"unknown songs column(s) {unknown}; known: {SONGS_COLUMNS}")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file; download track_metadata.db from the MSD site")
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        query = f"SELECT track_id, {', '.join(columns)} FROM songs"  # noqa: S608 - names checked
        return {row[0]: tuple(row[1:]) for row in db.execute(query)}


def clip_path(root: str | PathLike[str], track_7digitalid: int | str,
              template: str = DEFAULT_CLIP_TEMPLATE) -> Path:
    """Where a preview clip lies under ``root``.

    Placeholders: ``{root}``; ``{id}`` the id as a string; ``{d0}``, ``{d1}``, … ``{d4}`` its first
    characters (for a 7digital id: its first decimal digits, so ``95`` -> ``9/5/95.clip.mp3``; for
    an MSD track id ``TRAAAAW…``, ``{d2}/{d3}/{d4}`` give the ``A/A/A/`` layout); a character past
    the end is ``''``. E.g. ``template="{root}/{d2}/{d3}/{d4}/{id}.mp3"`` with MSD track ids.
    """
    ident = str(track_7digitalid)
    digits = {f"d{i}": ident[i] if i < len(ident) else "" for i in range(5)}
    return Path(template.format(root=str(root).rstrip("/"), id=ident, **digits))
