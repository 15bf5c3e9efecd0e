"""Plain domain records returned by the engine: tracks, query hits, scan reports."""
from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Track:
    """One audio file in the library. ``duration`` is in seconds; missing tags are ``None``."""

    id: int
    path: str
    title: str
    artist: str | None = None
    album: str | None = None
    album_artist: str | None = None
    track_number: int | None = None
    year: int | None = None
    genre: str | None = None
    duration: float | None = None
    status: str = "ok"           # "ok" (analysed), "pending", "failed"
    error: str | None = None

    @property
    def display(self) -> str:
        """``"Artist - Title"``, or the title alone when the artist is unknown."""
        return f"{self.artist} - {self.title}" if self.artist else self.title


@dataclass(frozen=True)
class Hit:
    """A query result: a track and its cosine similarity to the query (1 = same direction)."""

    track: Track
    score: float


@dataclass
class ScanReport:
    """What a scan changed. ``failed`` holds ``(path, reason)`` pairs a person can read."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)   # kept, shown missing: folder not readable
    returned: list[str] = field(default_factory=list)      # were missing, their folder is back
    unchanged: int = 0
    cancelled: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated", f"{len(self.moved)} moved",
                 f"{len(self.removed)} removed", f"{len(self.failed)} failed", f"{self.unchanged} unchanged"]
        if self.unavailable:
            parts.append(f"{len(self.unavailable)} kept as missing (their folder cannot be read now)")
        text = ", ".join(parts) + f" in {self.seconds:.1f} s"
        return text + (" (cancelled)" if self.cancelled else "")


#: What the library's calls accept for a track: the record, its path (``~`` allowed) or its id.
TrackRef = Track | str | os.PathLike | int
