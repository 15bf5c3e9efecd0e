"""Play counts kept by other music players: Rhythmbox ``rhythmdb.xml`` and Strawberry/Clementine SQLite.

These hold one count per song (and when it was last played), not single plays, so each song is
one :class:`Entry` with ``count`` and ``location`` (the file); importing again replaces the
count instead of adding to it. Songs never played are left out silently; broken entries are
:class:`Skipped` with the reason.
"""
from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from core.history.entries import Entry, Skipped, clean, parse_time

Row = Entry | Skipped


def _count(value: object) -> int | None:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


# ---------------------------------------------------------------------------- Rhythmbox
def read_rhythmdb(path: Path) -> Iterator[Row]:
    """Songs with a ``play-count`` from a Rhythmbox ``rhythmdb.xml`` (read incrementally).

    XML that breaks off (a crash while Rhythmbox wrote it) keeps every entry before the
    break and reports the break as one skipped row."""
    n = 0
    try:
        for _, elem in ET.iterparse(path, events=("end",)):
            if elem.tag != "entry":
                continue
            n += 1
            if elem.get("type") == "song":
                row = _rhythmdb_entry(elem, f"entry {n}")
                if row is not None:
                    yield row
            elem.clear()
    except ET.ParseError as exc:
        yield Skipped(f"after entry {n}", "", f"the XML is broken here ({exc}); the entries before it were read")


def _rhythmdb_entry(elem: ET.Element, where: str) -> Row | None:
    fields = {child.tag: child.text for child in elem}
    raw = fields.get("play-count")
    if raw is None:
        return None
    count = _count(raw)
    artist, title = clean(fields.get("artist")), clean(fields.get("title"))
    label = " – ".join(x for x in (artist, title) if x)
    if count is None:
        return Skipped(where, label, f"unreadable play-count {raw!r}")
    if count == 0:
        return None
    location = clean(fields.get("location"))
    if not location and not (artist and title):
        return Skipped(where, label, "no location and no artist + title")
    duration = parse_time(fields.get("duration"))
    return Entry("rhythmbox", artist, title, clean(fields.get("album")), parse_time(fields.get("last-played")),
                 duration, count, location, where, counted=True)


# ---------------------------------------------------------------------------- Strawberry / Clementine
def read_player_sqlite(path: Path) -> Iterator[Row]:
    """Songs with a play count from a Strawberry (``strawberry.db``) or Clementine (``clementine.db``)
    database, opened read-only (the player may be running)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        yield Skipped(str(path), "", f"cannot open the database ({exc})")
        return
    try:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(songs)")}
        if not {"title", "artist", "playcount"} <= columns:
            yield Skipped(str(path), "", "no songs table with title, artist and playcount: "
                                         "not a Strawberry or Clementine database")
            return
        source = "strawberry" if "url" in columns else "clementine"
        loc = "url" if "url" in columns else ("filename" if "filename" in columns else "NULL")
        last = "lastplayed" if "lastplayed" in columns else "NULL"
        length = "length" if "length" in columns else "NULL"
        rows = conn.execute(f"SELECT rowid, title, artist, album, playcount, {last}, {loc}, {length}"  # noqa: S608
                            " FROM songs WHERE playcount > 0")
        for rowid, title, artist, album, count, lastplayed, location, nanos in rows:
            where = f"song {rowid}"
            n = _count(count)
            title_s, artist_s = clean(title), clean(artist)
            location_s = location.decode("utf-8", "replace") if isinstance(location, bytes) else clean(location)
            if n is None:
                yield Skipped(where, f"{artist_s} – {title_s}", f"unreadable playcount {count!r}")
                continue
            if not location_s and not (artist_s and title_s):
                yield Skipped(where, "", "no location and no artist + title")
                continue
            seconds = float(nanos) / 1e9 if isinstance(nanos, (int, float)) and nanos > 0 else None
            played = parse_time(lastplayed) if isinstance(lastplayed, (int, float)) and lastplayed > 0 else None
            yield Entry(source, artist_s, title_s, clean(album), played, seconds, n, location_s, where, counted=True)
    except sqlite3.Error as exc:
        yield Skipped(str(path), "", f"cannot read the database ({exc})")
    finally:
        conn.close()
