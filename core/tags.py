"""Track metadata from file tags (mutagen), with a fallback to the file name. Never raises.

    >>> read_tags("Music/Nina Simone - Sinnerman.mp3").artist
    'Nina Simone'

Handles ID3 (MP3, WAV, AIFF), Vorbis comments (FLAC, Ogg Vorbis, Opus), MP4 atoms (M4A, ALAC)
and ASF (WMA). Light on purpose (no torch): it runs in decode worker processes.
"""
from __future__ import annotations

import logging
import math
import os
import re
import stat
from dataclasses import dataclass
from typing import Any

from core.tagtext import decode_text, lenient_text

__all__ = ["TrackTags", "read_tags"]

log = logging.getLogger(__name__)

# Field -> keys to look for, in order: easy names (EasyID3, EasyMP4, Vorbis comments), ID3 frames,
# ASF attributes, MP4 atoms (for when mutagen could not give the easy interface).
_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("title", "TIT2", "Title", "\xa9nam"),
    "artist": ("artist", "TPE1", "Author", "\xa9ART"),
    "album": ("album", "TALB", "WM/AlbumTitle", "\xa9alb"),
    "album_artist": ("albumartist", "album artist", "album_artist", "TPE2", "WM/AlbumArtist", "aART"),
    "track_number": ("tracknumber", "TRCK", "WM/TrackNumber", "WM/Track", "trkn"),
    "year": ("date", "originaldate", "year", "TDRC", "TYER", "TDOR", "WM/Year", "\xa9day"),
    "genre": ("genre", "TCON", "WM/Genre", "\xa9gen"),
}
_STRIP = " \t\r\n\x00\ufeff"
_NUMBERED = re.compile(r"^(?:(\d{1,3})\.\s*|(0\d)\s+)(?P<rest>\S.*)$")


@dataclass(frozen=True)
class TrackTags:
    """What a track says about itself; ``duration`` in seconds. Only ``title`` is always set."""

    title: str
    artist: str | None
    album: str | None
    album_artist: str | None
    track_number: int | None
    year: int | None
    genre: str | None
    duration: float | None


def read_tags(path: str | os.PathLike) -> TrackTags:
    """Tags of ``path``; missing or unreadable tags fall back to the file name. Never raises.

    A name like "Artist - Title" gives both; "03 - Title" gives a track number.
    """
    try:
        name_title, name_artist, name_track = _from_filename(path)
    except Exception:  # noqa: BLE001 - this function must never raise
        name_title, name_artist, name_track = "Unknown track", None, None
    fields, duration = _read(path)
    title = fields.get("title")
    artist = fields.get("artist")
    if title is None:
        title, artist = name_title, artist or name_artist
    return TrackTags(
        title=title, artist=artist, album=fields.get("album"), album_artist=fields.get("album_artist"),
        track_number=_number(fields.get("track_number")) or (name_track if not fields.get("title") else None),
        year=_year(fields.get("year")), genre=fields.get("genre"), duration=duration,
    )


def _read(path: str | os.PathLike) -> tuple[dict[str, str], float | None]:
    """Text fields and duration from mutagen; ({}, None) when the file cannot be read."""
    try:
        import mutagen

        name = os.fsdecode(os.fspath(path))
        if not stat.S_ISREG(os.stat(name).st_mode):  # never open a FIFO: it would block
            return {}, None
        with lenient_text():  # Latin-1 / CP1252 tags read as players read them, not as "\ufffd"
            audio = mutagen.File(name, easy=True)
    except Exception as exc:  # noqa: BLE001 - mutagen raises many types on broken files
        log.debug("no tags read from %r: %s", path, exc)
        return {}, None
    if audio is None:
        return {}, None
    fields: dict[str, str] = {}
    tags = getattr(audio, "tags", None)
    for field, keys in _KEYS.items():
        value = _first(tags, keys) if tags is not None else None
        if value is not None:
            fields[field] = value
    return fields, _duration(audio)


def _first(tags: Any, keys: tuple[str, ...]) -> str | None:
    """The first non-empty text among ``keys`` in a mutagen tag mapping."""
    for key in keys:
        try:
            if key not in tags:
                continue
            value = _text(tags[key])
        except Exception:  # noqa: BLE001 - odd frames or keys invalid for this tag type
            continue
        if value:
            return value
    return None


def _text(value: Any) -> str | None:
    """Plain text of one tag value (list, ID3 frame, ASF attribute, MP4 tuple), cleaned."""
    if isinstance(value, list | tuple):
        if not value:
            return None
        value = value[0]
    if isinstance(value, tuple):  # MP4 trkn: (number, total)
        value = value[0]
    text = getattr(value, "genres", None) or getattr(value, "text", None)  # ID3 frames; TCON "(17)"
    if isinstance(text, list):
        value = text[0] if text else None
    elif hasattr(value, "value"):  # ASF attributes
        value = value.value
    if value is None:
        return None
    if isinstance(value, bytes):
        value = decode_text(value)
    return _clean(str(value))


def _clean(text: str) -> str | None:
    """Strip whitespace and NULs; replace unencodable characters; empty becomes None."""
    text = text.replace("\x00", " ").strip(_STRIP)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text or None


def _duration(audio: Any) -> float | None:
    try:
        length = float(audio.info.length)
    except Exception:  # noqa: BLE001 - no info, or no length
        return None
    return length if math.isfinite(length) and length > 0 else None


def _number(text: str | None) -> int | None:
    """Track number from "3", "03", "3/12"; None if absent, zero or not a number."""
    match = re.match(r"\s*(\d{1,4})", text or "")
    if not match:
        return None
    return int(match.group(1)) or None


def _year(text: str | None) -> int | None:
    """Year from "2004", "2004-05-01", "2004-05-01T12:00"; None when no plausible year."""
    match = re.search(r"(?<!\d)(\d{4})(?!\d)", text or "")
    year = int(match.group(1)) if match else 0
    return year if 1000 <= year <= 2999 else None


def _display_name(path: str | os.PathLike) -> str:
    """The file's stem as text, also when the name is not valid UTF-8 (tried as cp1252)."""
    stem = os.path.splitext(os.path.basename(os.fsdecode(os.fspath(path))))[0]
    raw = os.fsencode(stem)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _from_filename(path: str | os.PathLike) -> tuple[str, str | None, int | None]:
    """(title, artist, track number) guessed from a name like "01 - Artist - Title"."""
    stem = _display_name(path)
    if " " not in stem and "_" in stem:
        stem = stem.replace("_", " ")
    parts = [p for p in (_clean(p) for p in re.split(r"\s+-\s+", stem)) if p]
    track = None
    if len(parts) > 1 and parts[0].isdigit():
        track = _number(parts.pop(0))
    elif len(parts) == 1 and (m := _NUMBERED.match(parts[0])):  # "01 Title", "1. Title"
        track, parts = _number(m.group(1) or m.group(2)), [m.group("rest")]
    if len(parts) >= 2:
        return " - ".join(parts[1:]), parts[0], track
    return (parts[0] if parts else _clean(stem) or "Unknown track"), None, track
