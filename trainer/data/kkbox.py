"""Readers for the WSDM 2018 KKBox music recommendation challenge files (shared/datasets.md §10).

Comma-separated, one header line, UTF-8, standard CSV quoting (artist names contain commas):

- ``train.csv``: ``msno, song_id, source_system_tab, source_screen_name, source_type, target``
  (target 1 = the user played the song again within a month of the first play);
- ``songs.csv``: ``song_id, song_length (ms), genre_ids ('|'-joined), artist_name, composer,
  lyricist, language``;
- ``members.csv``: ``msno, city, bd (age, with outliers), gender, registered_via,
  registration_init_time, expiration_date`` (dates ``YYYYMMDD``).

Columns are found by header name (extra columns are ignored). A row with the wrong number of
fields, an empty id, a target other than 0/1, a non-numeric length or language, or a date that is
not ``YYYYMMDD`` is a bad row (1-based line number of its first physical line); empty optional
fields are kept empty. The public layout is unverified against a real copy (datasets.md says so).

    >>> bad = BadRows()
    >>> t = read_train(folder / "train.csv", bad); songs = read_songs(folder / "songs.csv", bad)
"""
from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from os import PathLike
from pathlib import Path

import numpy as np

from trainer.data.badrows import BadRows

log = logging.getLogger(__name__)

TRAIN_COLUMNS = ("msno", "song_id", "source_system_tab", "source_screen_name", "source_type", "target")
SONG_COLUMNS = ("song_id", "song_length", "genre_ids", "artist_name", "composer", "lyricist", "language")
MEMBER_COLUMNS = ("msno", "city", "bd", "gender", "registered_via", "registration_init_time", "expiration_date")


@dataclass(frozen=True)
class Interactions:
    """``train.csv``: one entry per row (lists of str) and ``target`` (n,) int8."""

    msno: list[str]
    song_id: list[str]
    source_system_tab: list[str]
    source_screen_name: list[str]
    source_type: list[str]
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.msno)


@dataclass(frozen=True)
class Song:
    """One ``songs.csv`` row; ``song_length`` in ms (-1 when empty), ``language`` (-1 when empty)."""

    song_length: int
    genre_ids: tuple[str, ...]
    artist_name: str
    composer: str
    lyricist: str
    language: int


@dataclass(frozen=True)
class Member:
    """One ``members.csv`` row; ``bd`` as given (outliers included; see :func:`clean_age`)."""

    city: str
    bd: int
    gender: str
    registered_via: str
    registration_init_time: str
    expiration_date: str


def clean_age(bd: int) -> int:
    """The age when plausible (1..100), else -1 (KKBox ``bd`` holds 0, negatives and > 100)."""
    return bd if 0 < bd <= 100 else -1


def _rows(path: str | PathLike[str], wanted: tuple[str, ...], bad: BadRows) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, {column: value})`` for every well-formed row; wrong field counts are bad rows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (KKBox challenge files: train.csv, songs.csv, members.csv)")
    with open(path, encoding="utf-8", newline="", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip().lstrip("\ufeff") for h in header]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise ValueError(f"{path}: header {header} lacks column(s) {missing}; is this the right KKBox file?")
        pos = {c: header.index(c) for c in wanted}
        line = reader.line_num
        for fields in reader:
            start, line = line + 1, reader.line_num
            if not fields:
                continue
            if len(fields) != len(header):
                bad.add(path, start, f"{len(fields)} fields, expected {len(header)}", ",".join(fields))
                continue
            yield start, {c: fields[i].strip() for c, i in pos.items()}


def _int_or(value: str, default: int) -> int | None:
    if value == "":
        return default
    try:
        return int(float(value)) if "." in value else int(value)
    except ValueError:
        return None


def _is_date(value: str) -> bool:
    if len(value) != 8 or not value.isdigit():
        return False
    try:
        datetime.strptime(value, "%Y%m%d")
    except ValueError:
        return False
    return True


def _read(path: str | PathLike[str], wanted: tuple[str, ...], bad: BadRows,
          check: Callable[[dict[str, str]], str]) -> Iterator[dict[str, str]]:
    for line, row in _rows(path, wanted, bad):
        reason = check(row)
        if reason:
            bad.add(path, line, reason, ",".join(row.values()))
        else:
            yield row
    bad.warn(path, log)


def read_train(path: str | PathLike[str], bad: BadRows | None = None) -> Interactions:
    """Read ``train.csv`` (rows in file order: KKBox's are chronological)."""
    bad = bad if bad is not None else BadRows()

    def check(r: dict[str, str]) -> str:
        if not r["msno"] or not r["song_id"]:
            return "empty msno or song_id"
        return "" if r["target"] in ("0", "1") else f"target {r['target']!r} is not 0 or 1"
    rows = list(_read(path, TRAIN_COLUMNS, bad, check))
    col = {c: [r[c] for r in rows] for c in TRAIN_COLUMNS[:-1]}
    return Interactions(**col, target=np.array([int(r["target"]) for r in rows], dtype=np.int8))


def read_songs(path: str | PathLike[str], bad: BadRows | None = None) -> dict[str, Song]:
    """Read ``songs.csv`` into ``{song_id: Song}`` (a repeated id keeps its first row)."""
    bad = bad if bad is not None else BadRows()

    def check(r: dict[str, str]) -> str:
        if not r["song_id"]:
            return "empty song_id"
        if _int_or(r["song_length"], -1) is None or (_int_or(r["song_length"], -1) or 0) < -1:
            return f"song_length {r['song_length']!r} is not a length in ms"
        return "" if _int_or(r["language"], -1) is not None else f"language {r['language']!r} is not a number"
    out: dict[str, Song] = {}
    for r in _read(path, SONG_COLUMNS, bad, check):
        out.setdefault(r["song_id"], Song(_int_or(r["song_length"], -1), tuple(g for g in r["genre_ids"].split("|") if g),
                                          r["artist_name"], r["composer"], r["lyricist"], _int_or(r["language"], -1)))
    return out


def read_members(path: str | PathLike[str], bad: BadRows | None = None) -> dict[str, Member]:
    """Read ``members.csv`` into ``{msno: Member}``."""
    bad = bad if bad is not None else BadRows()

    def check(r: dict[str, str]) -> str:
        if not r["msno"]:
            return "empty msno"
        if _int_or(r["bd"], 0) is None:
            return f"bd {r['bd']!r} is not a number"
        for c in ("registration_init_time", "expiration_date"):
            if r[c] and not _is_date(r[c]):
                return f"{c} {r[c]!r} is not a YYYYMMDD date"
        return ""
    return {r["msno"]: Member(r["city"], _int_or(r["bd"], 0), r["gender"], r["registered_via"],
                              r["registration_init_time"], r["expiration_date"])
            for r in _read(path, MEMBER_COLUMNS, bad, check)}
