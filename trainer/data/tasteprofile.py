"""Taste Profile Subset and MSD Challenge (Kaggle) readers, see shared/datasets.md §2.4-2.6.

The triplets hold SONG ids (``SO…``); ``taste_profile_song_to_tracks.txt`` links songs to MSD
tracks, and ``sid_mismatches.txt`` lists (song, track) pairs known to be wrongly matched, except
those in ``sid_matches_manually_accepted.txt``.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from os import PathLike

import numpy as np

from trainer.data.badrows import BadRows
from trainer.data.textio import StrColumn, iter_lines, read_id_list
from trainer.data.tsv import Col, iter_tables

log = logging.getLogger(__name__)

TRIPLET_COLS = (Col("user", "str"), Col("song", "str"), Col("count", "int32", 1))
MISMATCH_RE = re.compile(r"<(SO[A-Z0-9]{16}) (TR[A-Z0-9]{16})>")
"""The ``<SO… TR…>`` part of a mismatch line; the prefix (``ERROR: `` or other) is not relied on."""
MISMATCH_LINE_RE = re.compile(r"^ERROR: <(SO[A-Z0-9]{16}) (TR[A-Z0-9]{16})> (.*)  -  (.*)  !=  (.*)  -  (.*)$")
"""The full line of datasets.md §2.6: song, track, MSD artist, MSD title, other artist, other title."""
SONG_RE = re.compile(r"SO[A-Z0-9]{16}")
TRACK_RE = re.compile(r"TR[A-Z0-9]{16}")
DIGITS_RE = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class TripletsChunk:
    """Consecutive triplets: ``users`` and ``songs`` (n,) strings, ``counts`` (n,) int32 plays."""

    users: StrColumn
    songs: StrColumn
    counts: np.ndarray
    first_line: int

    def __len__(self) -> int:
        return len(self.counts)


def iter_triplets(path: str | PathLike[str], bad: BadRows | None = None, chunk_rows: int = 1_000_000,
                  progress: bool = True) -> Iterator[TripletsChunk]:
    """Stream ``train_triplets.txt`` or ``kaggle_visible_evaluation_triplets.txt``:
    ``user TAB song TAB play_count``, no header. Counts below 1 are bad rows."""
    bad = bad if bad is not None else BadRows()
    for first, t in iter_tables(path, TRIPLET_COLS, bad, block_bytes=chunk_rows * 64,
                                progress=progress):
        yield TripletsChunk(StrColumn(t.column("user")), StrColumn(t.column("song")),
                            t.column("count").to_numpy(), first)


def read_song_to_tracks(path: str | PathLike[str], bad: BadRows | None = None,
                        progress: bool = True) -> list[tuple[str, str]]:
    """``taste_profile_song_to_tracks.txt`` (``song TAB track [TAB track …]``) in long format:
    one ``(song_id, track_id)`` pair per track. Songs with no track give no pair."""
    bad = bad if bad is not None else BadRows()
    pairs: list[tuple[str, str]] = []
    no_track = 0
    for line_no, line in iter_lines(path, bad, progress=progress):
        fields = [f.strip() for f in line.split("\t")]
        song, tracks = fields[0], [f for f in fields[1:] if f]
        if not SONG_RE.fullmatch(song) or not all(TRACK_RE.fullmatch(t) for t in tracks):
            bad.add(path, line_no, "not a song id followed by track ids", line)
            continue
        no_track += not tracks
        pairs.extend((song, t) for t in tracks)
    bad.warn(path, log)
    if no_track:
        log.info("%s: %d songs map to no track", path, no_track)
    return pairs


def read_sid_mismatches(path: str | PathLike[str], bad: BadRows | None = None) -> set[tuple[str, str]]:
    """``(song_id, track_id)`` pairs of ``sid_mismatches.txt`` or ``sid_matches_manually_accepted.txt``.

    Each line's ``<SO… TR…>`` part is found with :data:`MISMATCH_RE`, whatever its prefix; lines
    without one are bad rows.
    """
    bad = bad if bad is not None else BadRows()
    pairs: set[tuple[str, str]] = set()
    for line_no, line in iter_lines(path, bad, progress=False):
        m = MISMATCH_RE.search(line)
        if m is None:
            bad.add(path, line_no, "no <SO… TR…> pair", line)
            continue
        pairs.add((m.group(1), m.group(2)))
    bad.warn(path, log)
    return pairs


def filter_mismatches(pairs: Iterable[tuple[str, str]], mismatches: set[tuple[str, str]],
                      accepted: set[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """The (song, track) ``pairs`` minus those in ``mismatches`` that are not manually ``accepted``."""
    drop = mismatches - (accepted or set())
    kept = [p for p in pairs if p not in drop]
    log.info("mismatch filter: kept %d (song, track) pairs, %d known mismatches (%d accepted back)",
             len(kept), len(drop), len(mismatches) - len(drop))
    return kept


def song_items(pairs: Iterable[tuple[str, str]]) -> dict[str, int]:
    """``{song_id: item}`` numbering the songs of (song, track) ``pairs`` (e.g. those kept by
    :func:`filter_mismatches`) in order of first appearance: the columns of a Taste Profile matrix."""
    items: dict[str, int] = {}
    for song, _track in pairs:
        items.setdefault(song, len(items))
    return items


def read_kaggle_users(path: str | PathLike[str], bad: BadRows | None = None) -> list[str]:
    """``kaggle_users.txt``: one user id per line, in challenge order."""
    return read_id_list(path, bad, what="user id")


def read_kaggle_songs(path: str | PathLike[str], bad: BadRows | None = None) -> dict[str, int]:
    """``kaggle_songs.txt``: ``song_id<space>index`` with a 1-based index -> ``{song_id: index}``."""
    bad = bad if bad is not None else BadRows()
    songs: dict[str, int] = {}
    for line_no, line in iter_lines(path, bad, progress=False):
        fields = line.split(" ")
        if len(fields) != 2 or not SONG_RE.fullmatch(fields[0]) or not DIGITS_RE.fullmatch(fields[1].strip()):
            bad.add(path, line_no, "expected 'SONG_ID INDEX'", line)
            continue
        songs[fields[0]] = int(fields[1])
    bad.warn(path, log)
    return songs
