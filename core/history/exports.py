"""Readers for the listening exports people already have: Last.fm CSV, ListenBrainz, Spotify.

Each reader yields :class:`Entry` (a play) or :class:`Skipped` (a row it could not use, with
the reason); none raises for a bad row.

* Last.fm scrobble CSV, either ``uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid``
  (with its header) or the plain ``artist,album,track,date`` (``31 Jan 2021 13:45``, header optional);
* ListenBrainz JSON (an array, or an API ``{"payload": {"listens": [...]}}``) or JSONL, one listen
  per line: ``listened_at``, ``track_metadata.{artist_name, track_name, release_name}``;
* Spotify "Extended streaming history" (``ts``, ``ms_played``, ``master_metadata_*``; plays under
  30 s and podcast episodes are skipped) and the older account-data ``StreamingHistory*.json``
  (``endTime``, ``artistName``, ``trackName``, ``msPlayed``).
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from core.history.entries import MIN_PLAY_SECONDS, Entry, Skipped, clean, decode_line, decode_text, parse_time

Row = Entry | Skipped

_LASTFM_FULL = ("uts", "utc_time", "artist", "artist_mbid", "album", "album_mbid", "track", "track_mbid")
_LASTFM_PLAIN = ("artist", "album", "track", "date")
_HEADER_ALIASES = {"title": "track", "name": "track", "track_name": "track", "timestamp": "uts",
                   "artist_name": "artist", "album_name": "album", "time": "date"}


# ---------------------------------------------------------------------------- Last.fm CSV
def read_lastfm_csv(lines: list[str]) -> Iterator[Row]:
    """Scrobbles from a Last.fm CSV export (either layout; see the module docstring)."""
    reader = csv.reader(line.replace("\x00", "") for line in lines)
    columns: tuple[str, ...] | None = None
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Skipped(f"line {reader.line_num}", "", f"not a CSV row ({exc})")
            continue
        where = f"line {reader.line_num}"
        if not row or not any(cell.strip() for cell in row):
            continue
        if columns is None:
            header = tuple(_HEADER_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in row)
            if "artist" in header and "track" in header:
                columns = header
                continue
            columns = _LASTFM_FULL if len(row) == len(_LASTFM_FULL) and row[0].strip().isdigit() else _LASTFM_PLAIN
        yield _lastfm_row(row, columns, where)


def _lastfm_row(row: list[str], columns: tuple[str, ...], where: str) -> Row:
    text = ",".join(row)
    if len(row) < len(columns):
        return Skipped(where, text, f"expected {len(columns)} columns, found {len(row)}")
    fields = dict(zip(columns, row, strict=False))
    artist, title = clean(fields.get("artist")), clean(fields.get("track"))
    if not artist or not title:
        return Skipped(where, text, "no artist" if title else "no track title")
    raw_time = fields.get("uts") or fields.get("utc_time") or fields.get("date")
    played_at = parse_time(fields.get("uts")) or parse_time(fields.get("utc_time")) or parse_time(fields.get("date"))
    if played_at is None:
        return Skipped(where, text, f"no readable play time ({(raw_time or 'empty').strip() or 'empty'!s})")
    return Entry("lastfm", artist, title, clean(fields.get("album")), played_at, where=where)


# ---------------------------------------------------------------------------- JSON records
def json_records(data: bytes) -> Iterator[tuple[str, object]]:
    """``(where, record)`` for each object of a JSON array/wrapper or JSONL file.

    A whole file that is not valid JSON is read as JSONL: each bad line becomes a
    ``(where, Skipped)`` pair and the rest still count."""
    text = _decode_json(data)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    else:
        if isinstance(doc, dict):
            payload = doc.get("payload")
            if isinstance(payload, dict) and isinstance(payload.get("listens"), list):
                doc = payload["listens"]
            else:
                doc = [doc]
        if isinstance(doc, list):
            for i, record in enumerate(doc, 1):
                yield f"record {i}", record
            return
    for n, raw in enumerate(data.splitlines(), 1):
        line = decode_line(raw).strip().lstrip("\ufeff").rstrip(",")
        if not line or line in "[]":
            continue
        try:
            yield f"line {n}", json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"line {n}", Skipped(f"line {n}", line, f"not valid JSON ({exc.msg})")


def _decode_json(data: bytes) -> str:
    """The text of a JSON file, line by line (UTF-16 by BOM, else UTF-8 or Windows-1252 per line)."""
    return "".join(decode_text(data))


def json_kind(record: object) -> str | None:
    """``"spotify"`` or ``"listenbrainz"`` from one record's keys; None when neither."""
    if not isinstance(record, dict):
        return None
    if "ms_played" in record or "msPlayed" in record or "master_metadata_track_name" in record:
        return "spotify"
    if "listened_at" in record or "track_metadata" in record:
        return "listenbrainz"
    return None


def read_json_history(records: Iterator[tuple[str, object]]) -> Iterator[Row]:
    """Plays from ListenBrainz or Spotify records (each record is read by its own keys)."""
    for where, record in records:
        if isinstance(record, Skipped):
            yield record
            continue
        kind = json_kind(record)
        if kind == "spotify":
            yield _spotify(record, where)  # type: ignore[arg-type]
        elif kind == "listenbrainz":
            yield _listenbrainz(record, where)  # type: ignore[arg-type]
        else:
            yield Skipped(where, _short(record), "neither a ListenBrainz listen nor a Spotify stream")


def _short(record: object) -> str:
    try:
        return json.dumps(record, ensure_ascii=False)[:120]
    except (TypeError, ValueError):
        return repr(record)[:120]


def _listenbrainz(record: dict, where: str) -> Row:
    meta = record.get("track_metadata")
    if not isinstance(meta, dict):
        return Skipped(where, _short(record), "no track_metadata")
    artist, title = clean(meta.get("artist_name")), clean(meta.get("track_name"))
    if not artist or not title:
        return Skipped(where, _short(record), "no artist" if title else "no track title")
    played_at = parse_time(record.get("listened_at"))
    if played_at is None:
        return Skipped(where, _short(record), "no readable listened_at")
    info = meta.get("additional_info") if isinstance(meta.get("additional_info"), dict) else {}
    ms = info.get("duration_ms")
    seconds = float(ms) / 1000.0 if isinstance(ms, (int, float)) and ms > 0 else None
    return Entry("listenbrainz", artist, title, clean(meta.get("release_name")), played_at, seconds, where=where)


def _spotify(record: dict, where: str) -> Row:
    extended = "ms_played" in record or "master_metadata_track_name" in record
    if extended:
        title = clean(record.get("master_metadata_track_name"))
        artist = clean(record.get("master_metadata_album_artist_name"))
        album, ms, stamp = clean(record.get("master_metadata_album_album_name")), record.get("ms_played"), record.get("ts")
    else:
        title, artist = clean(record.get("trackName")), clean(record.get("artistName"))
        album, ms, stamp = None, record.get("msPlayed"), record.get("endTime")
    if not title and (record.get("episode_name") or record.get("audiobook_title") or record.get("episode_show_name")):
        return Skipped(where, _short(record), "a podcast episode or audiobook, not a song")
    if not artist or not title:
        return Skipped(where, _short(record), "no artist" if title else "no track title")
    if not isinstance(ms, (int, float)) or isinstance(ms, bool) or ms < 0:
        return Skipped(where, _short(record), "no readable ms_played")
    seconds = float(ms) / 1000.0
    if seconds < MIN_PLAY_SECONDS:
        return Skipped(where, f"{artist} – {title}", f"played {seconds:.0f} s, under {MIN_PLAY_SECONDS:.0f} s")
    ended = parse_time(stamp)
    if ended is None:
        return Skipped(where, _short(record), "no readable time (ts)")
    # Spotify stamps the end of a stream; scrobblers stamp its start
    return Entry("spotify", artist, title, album, ended - seconds, seconds, where=where)
