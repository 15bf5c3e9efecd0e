"""Match listening-history entries to library tracks by normalised artist + title.

Platt (2017) matched LFM-1b to the MSD on case-insensitive artist + title; exports and tags
disagree in more ways than case, so both sides go through :func:`title_key` / :func:`artist_key`:

    >>> title_key("Let It Be (Remastered 2009)"), title_key("let it be - 2009 remaster")
    ('let it be', 'let it be')
    >>> artist_key("The Beatles feat. Billy Preston"), artist_key("Beatles")
    ('beatles', 'beatles')

Several library tracks with one key are told apart by album, then by the lower id. An entry
that matches nothing gets a reason a person can read.
"""
from __future__ import annotations

import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote, urlparse

from core.types import Track

_FEAT = r"(?:feat\.?|ft\.?|featuring|with)"
# "(feat. X)", "[ft. X]" anywhere; " feat. X" up to the end
_BRACKET_FEAT = re.compile(rf"\s*[(\[]\s*{_FEAT}\s[^)\]]*[)\]]", re.I)
_TRAILING_FEAT = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s.*$", re.I)
# version notes that do not make another song: "(Remastered 2011)", "[2009 Remaster]", "(Mono)"
_VERSION_WORDS = (r"(?:\d{4}\s+)?(?:digital(?:ly)?\s+)?remaster(?:ed)?(?:\s+\d{4})?(?:\s+version)?|mono|stereo"
                  r"|(?:\d{4}\s+)?(?:mono|stereo)\s+(?:mix|version)|single\s+version|album\s+version|radio\s+edit"
                  r"|deluxe(?:\s+edition)?|bonus\s+track|explicit|original\s+mix")
_BRACKET_VERSION = re.compile(rf"\s*[(\[][^)\]]*\b(?:{_VERSION_WORDS})\b[^)\]]*[)\]]", re.I)
_DASH_VERSION = re.compile(rf"\s+[-–—]\s+(?:{_VERSION_WORDS})\b.*$", re.I)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# separators of several credited artists: "A & B", "A, B", "A x B", "A / B", "A and B"
_ARTIST_SPLIT = re.compile(r"\s*(?:,|&|/|;|\s+x\s+|\s+and\s+|\s+vs\.?\s+)\s*", re.I)


def _fold(text: str) -> str:
    """Case-folded, accents removed, punctuation to spaces, single-spaced."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.casefold()
    text = text.replace("&", " and ").replace("'", "").replace("’", "")
    return " ".join(_NON_WORD.sub(" ", text).split())


@lru_cache(maxsize=1 << 16)   # histories repeat their songs: most keys are asked for many times
def title_key(title: str | None) -> str:
    """A title without featured artists and version notes, folded; ``""`` for no title."""
    if not title or not title.strip():
        return ""
    raw = title.strip()
    cut = _BRACKET_FEAT.sub("", raw)
    cut = _TRAILING_FEAT.sub("", cut)
    cut = _BRACKET_VERSION.sub("", cut)
    cut = _DASH_VERSION.sub("", cut)
    return _fold(cut) or _fold(raw) or raw.casefold()


@lru_cache(maxsize=1 << 16)
def artist_key(artist: str | None) -> str:
    """An artist without featured artists and a leading "The", folded; ``""`` for none."""
    if not artist or not artist.strip():
        return ""
    raw = artist.strip()
    cut = _TRAILING_FEAT.sub("", _BRACKET_FEAT.sub("", raw))
    key = _fold(cut) or _fold(raw) or raw.casefold()
    return key[4:] if key.startswith("the ") and len(key) > 4 else key


@lru_cache(maxsize=1 << 16)
def artist_keys(artist: str | None) -> tuple[str, ...]:
    """The whole credit's key first, then the first credited artist's ("A & B" → "a and b", "a")."""
    whole = artist_key(artist)
    if not whole:
        return ()
    first = _ARTIST_SPLIT.split(_TRAILING_FEAT.sub("", _BRACKET_FEAT.sub("", artist.strip())))[0]
    keys = [whole]
    first_key = artist_key(first)
    if first_key and first_key != whole:
        keys.append(first_key)
    return tuple(keys)


def album_key(album: str | None) -> str:
    return title_key(album)


def path_from_location(location: str | None) -> str | None:
    """A local path from a ``file://`` URI (percent-decoded) or a plain path; None otherwise."""
    if not location:
        return None
    if location.startswith("file:"):
        parsed = urlparse(location)
        return os.path.normpath(unquote(parsed.path)) if parsed.path else None
    return os.path.normpath(location) if os.path.isabs(location) else None


class Matcher:
    """An index of the library's tracks by (artist key, title key), by artist, and by path."""

    def __init__(self, tracks: Iterable[Track]) -> None:
        self._songs: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        self._artists: set[str] = set()
        self._paths: dict[str, int] = {}
        for t in tracks:
            self._paths[os.path.normpath(t.path)] = t.id
            tk = title_key(t.title)
            for credit in (t.artist, t.album_artist):
                for ak in artist_keys(credit):
                    self._artists.add(ak)
                    if tk and (t.id, album_key(t.album)) not in self._songs[(ak, tk)]:
                        self._songs[(ak, tk)].append((t.id, album_key(t.album)))

    def match(self, artist: str | None, title: str | None, album: str | None = None,
              location: str | None = None) -> tuple[int | None, str]:
        """``(track id, "")`` for a match, else ``(None, reason)``.

        A file location that is a library path wins; then artist + title (whole credit, then
        its first artist); several candidates are told apart by album, then by the lower id."""
        path = path_from_location(location)
        if path is not None and path in self._paths:
            return self._paths[path], ""
        tk, aks = title_key(title), artist_keys(artist)
        if not tk or not aks:
            return None, "no artist" if tk else "no title"
        for ak in aks:
            found = self._songs.get((ak, tk))
            if found:
                wanted = album_key(album)
                same_album = [tid for tid, alb in found if wanted and alb == wanted]
                return min(same_album or [tid for tid, _ in found]), ""
        if not any(ak in self._artists for ak in aks):
            return None, f"no track by {artist.strip()!r} in the library"
        return None, f"{artist.strip()!r} is in the library, but no track titled {title.strip()!r}"
