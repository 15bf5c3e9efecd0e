"""What every history reader yields: plays (:class:`Entry`) and rows it could not use (:class:`Skipped`).

Also the tolerant text decoding the readers share: exports are UTF-8 most of the time, but
files that passed through spreadsheets arrive as UTF-16 or Windows-1252, sometimes mixed line
by line; each line is decoded on its own so one bad line costs only itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from core.history.match import artist_key, title_key

MIN_PLAY_SECONDS = 30.0   # a play counts after 30 s (or half the track), as scrobblers do


@dataclass(frozen=True)
class Entry:
    """One play (``count`` 1) or a player's play count for one song, as a source gave it.

    ``played_at`` is unix seconds (UTC), ``seconds`` how long it was heard when known,
    ``location`` a file URI or path (player databases), ``where`` the row for reports."""

    source: str
    artist: str | None
    title: str | None
    album: str | None = None
    played_at: float | None = None
    seconds: float | None = None
    count: int = 1
    location: str | None = None
    where: str = ""
    counted: bool = False   # a player's play count (replaced on re-import), not one play

    @property
    def key(self) -> str:
        """What makes this entry the same on a re-import (``ext_key`` in the store); a player's
        count is keyed by its file, or by the song when the player gave no file."""
        if self.counted:
            return "loc|" + (self.location or f"song|{artist_key(self.artist)}|{title_key(self.title)}"
                                               f"|{title_key(self.album)}")
        stamp = "" if self.played_at is None else str(int(self.played_at))
        return f"{stamp}|{artist_key(self.artist)}|{title_key(self.title)}"

    def describe(self) -> str:
        """``Artist – Title (where)`` for a report."""
        name = " – ".join(x for x in (self.artist, self.title) if x) or "(no artist or title)"
        return f"{name} ({self.where})" if self.where else name


@dataclass(frozen=True)
class Skipped:
    """A row that is not a usable play: where it is, what it held (shortened), and why."""

    where: str
    text: str
    reason: str

    def describe(self) -> str:
        return f"{self.where}: {self.text[:80]}" if self.text else self.where


def decode_line(raw: bytes) -> str:
    """One line as text: UTF-8 if it is valid, else Windows-1252 (never raises)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def decode_text(data: bytes) -> list[str]:
    """A file's lines (newlines kept): UTF-16 by BOM, else UTF-8 or Windows-1252 per line."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace").splitlines(keepends=True)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return [decode_line(line) for line in data.splitlines(keepends=True)]


_DATE_FORMATS = ("%d %b %Y %H:%M", "%d %b %Y, %H:%M", "%d %b %Y %H:%M:%S", "%Y-%m-%d %H:%M:%S",
                 "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M")


def parse_time(value: object) -> float | None:
    """Unix seconds from an int/str epoch (seconds or ms) or a date text in UTC; None if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        t = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            t = float(text)
        except ValueError:
            return _parse_date(text)
    if not math.isfinite(t) or t <= 0:
        return None
    return t / 1000.0 if t > 1e11 else t   # milliseconds


def _parse_date(text: str) -> float | None:
    iso = text.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        parsed = None
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def clean(value: object) -> str | None:
    """Field text stripped, ``None`` when empty or not text-like."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).replace("\x00", "").strip()
    return text or None
