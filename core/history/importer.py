"""Import a listening-history file into the store: detect its format, match, report.

    >>> report = import_file(store, "scrobbles.csv", Matcher(store.tracks()))
    >>> report.summary()
    'Last.fm CSV: 812 matched, 40 not in the library, 3 already imported, 2 skipped'

The format is read from the content, not the name: SQLite (Strawberry/Clementine), XML
(Rhythmbox), JSON/JSONL (ListenBrainz or Spotify, record by record), a ZIP of those (the
ListenBrainz and Spotify downloads), else a Last.fm CSV. Every entry is kept, matched or not
(a later scan may match it); a play already stored (same source, time, artist and title; for
timed plays from any source, so a Last.fm and a ListenBrainz copy of one scrobble count once)
is a duplicate, and a player's play count replaces the one imported before.
"""
from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import CbrecError
from core.history.entries import Entry, Skipped, decode_text
from core.history.exports import json_kind, json_records, read_json_history, read_lastfm_csv
from core.history.match import Matcher
from core.history.players import read_player_sqlite, read_rhythmdb
from core.progress import CancelToken, ProgressCallback, ProgressMeter
from core.store import Store

Row = Entry | Skipped
MAX_BYTES = 2 << 30   # a history export larger than 2 GiB is surely not one


@dataclass
class ImportReport:
    """What one import did. ``unmatched`` and ``skipped`` hold ``(entry, reason)`` a person can read."""

    path: str
    format: str = ""
    matched: int = 0
    updated: int = 0
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    duplicates: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    def summary(self) -> str:
        parts = [f"{self.matched} matched", f"{len(self.unmatched)} not in the library",
                 f"{self.duplicates} already imported", f"{len(self.skipped)} skipped"]
        if self.updated:
            parts.insert(1, f"{self.updated} play counts updated")
        return f"{self.format}: " + ", ".join(parts) + (" (cancelled)" if self.cancelled else "")


def read_history_file(path: str | os.PathLike) -> tuple[str, Iterator[Row]]:
    """``(format name, rows)`` for any supported file; CbrecError if it is none of them."""
    p = Path(path).expanduser()
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise CbrecError(f"Cannot read {p}: {exc.strerror or exc}.") from exc
    if size > MAX_BYTES:
        raise CbrecError(f"{p} is {size / 2**30:.1f} GiB, too large for a listening-history export.")
    if head.startswith(b"SQLite format 3\x00"):
        return "Strawberry/Clementine database", read_player_sqlite(p)
    if head.startswith(b"PK\x03\x04"):
        return _read_zip(p)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        if b"<rhythmdb" not in head:
            raise CbrecError(f"{p} is an XML file but not a Rhythmbox rhythmdb.xml.")
        return "Rhythmbox", read_rhythmdb(p)
    data = p.read_bytes()
    if stripped[:1] in (b"[", b"{"):
        return _json_format(data), read_json_history(json_records(data))
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CbrecError(f"{p} is a binary file, not a listening-history export. Supported: Last.fm CSV, "
                         "ListenBrainz JSON/JSONL, Spotify streaming history JSON, Rhythmbox rhythmdb.xml, "
                         "Strawberry/Clementine database.")
    return "Last.fm CSV", read_lastfm_csv(decode_text(data))


def _json_format(data: bytes) -> str:
    for _, record in json_records(data):
        kind = json_kind(record)
        if kind:
            return {"spotify": "Spotify streaming history", "listenbrainz": "ListenBrainz"}[kind]
    return "JSON"


def _read_zip(p: Path) -> tuple[str, Iterator[Row]]:
    try:
        archive = zipfile.ZipFile(p)
        names = [n for n in archive.namelist() if n.lower().endswith((".json", ".jsonl", ".csv"))
                 and not n.rsplit("/", 1)[-1].startswith(".")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise CbrecError(f"{p} is a damaged ZIP file ({exc}).") from exc
    if not names:
        raise CbrecError(f"{p} is a ZIP file without JSON or CSV files in it.")
    listen_names = [n for n in names if "listen" in n.lower() or "streaming_history" in n.lower()]
    audio_names = [n for n in listen_names if "streaming_history_audio" in n.lower()]   # not _Video_
    names = sorted(audio_names or listen_names or names)

    def rows() -> Iterator[Row]:
        with archive:
            for name in names:
                data = archive.read(name)
                inner = (read_lastfm_csv(decode_text(data)) if name.lower().endswith(".csv")
                         else read_json_history(json_records(data)))
                for row in inner:
                    yield _prefixed(row, name)

    first = archive.read(names[0])
    kind = "Last.fm CSV" if names[0].lower().endswith(".csv") else _json_format(first)
    return f"{kind} (ZIP)", rows()


def _prefixed(row: Row, name: str) -> Row:
    if isinstance(row, Skipped):
        return Skipped(f"{name} {row.where}", row.text, row.reason)
    return Entry(row.source, row.artist, row.title, row.album, row.played_at, row.seconds, row.count,
                 row.location, f"{name} {row.where}", row.counted)


def import_file(store: Store, path: str | os.PathLike, matcher: Matcher, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> ImportReport:
    """Read ``path``, match every play and store it (one transaction); never raises for a row."""
    fmt, rows = read_history_file(path)
    report = ImportReport(str(path), fmt)
    meter = ProgressMeter("importing history", 0, progress)
    timed = {k for (k,) in store.conn.execute("SELECT ext_key FROM plays WHERE ext_key NOT LIKE 'loc|%'")}
    counted = {(s, k): c for s, k, c in store.conn.execute(
        "SELECT source, ext_key, count FROM plays WHERE ext_key LIKE 'loc|%'")}
    now = time.time()
    with store.transaction(bump=False) as conn:
        for row in rows:
            if cancel is not None and cancel.cancelled:
                report.cancelled = True
                break
            meter.advance(1, row.where)
            if isinstance(row, Skipped):
                report.skipped.append((row.describe(), row.reason))
                continue
            key = row.key
            if row.counted:
                old = counted.get((row.source, key))
                if old == row.count:
                    report.duplicates += 1
                    continue
            elif key in timed:
                report.duplicates += 1
                continue
            track_id, reason = matcher.match(row.artist, row.title, row.album, row.location)
            _write(conn, row, key, track_id, now)
            is_update = row.counted and (row.source, key) in counted
            if row.counted:
                counted[(row.source, key)] = row.count
            else:
                timed.add(key)
            if track_id is None:
                report.unmatched.append((row.describe(), reason))
            elif is_update:
                report.updated += 1
            else:
                report.matched += 1
    meter.advance(0, force=True)
    return report


def _write(conn, row: Entry, key: str, track_id: int | None, now: float) -> None:
    conn.execute(
        "INSERT INTO plays (source, ext_key, track_id, played_at, seconds, count, artist, title, album,"
        " location, imported_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(source, ext_key) DO UPDATE SET"
        " count = excluded.count, played_at = excluded.played_at, track_id = excluded.track_id",
        (row.source, key, track_id, row.played_at, row.seconds, row.count, row.artist, row.title, row.album,
         row.location, now))
