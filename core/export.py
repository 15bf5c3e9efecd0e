"""Write playlists for other players: M3U8 (extended M3U, UTF-8) and XSPF 1 (XML).

Both writers replace the target atomically (temporary file in the same folder, fsync, rename)
and return the path written.

    >>> write_playlist(playlist.tracks, Path("mix.xspf"), title="Evening mix")
"""
from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath
from urllib.parse import quote

from core.errors import CbrecError
from core.fileio import write_atomic
from core.types import Track

log = logging.getLogger(__name__)

XSPF_NS = "http://xspf.org/ns/0/"
M3U_SUFFIXES = (".m3u8", ".m3u")
XSPF_SUFFIXES = (".xspf",)
# characters XML 1.0 cannot hold at all (C0 controls except tab/newline/CR, lone surrogates, U+FFFE/F)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def file_uri(path: str | os.PathLike[str]) -> str:
    """``file://`` URI of ``path`` made absolute, percent-encoding its bytes (``os.fsencode``).

    File names that are not valid UTF-8 (``str`` with surrogate escapes) keep their exact bytes:
    ``urllib.parse.unquote_to_bytes`` of the URI path gives back ``os.fsencode(path)``.
    """
    absolute = os.path.abspath(path)
    if os.name == "nt":
        return PureWindowsPath(absolute).as_uri()
    return "file://" + quote(os.fsencode(absolute), safe="/")


def write_m3u8(tracks: Sequence[Track], path: Path) -> Path:
    """Extended M3U in UTF-8 with ``\\n`` line ends: ``#EXTINF:<seconds or -1>,Artist - Title``
    then the absolute path of each track.

    A path that is not valid UTF-8 is written as a ``file://`` URI instead, so the playlist
    stays valid UTF-8 and still names the exact file.
    """
    lines = ["#EXTM3U"]
    for track in tracks:
        seconds = -1 if track.duration is None else int(round(track.duration))
        lines.append(f"#EXTINF:{seconds},{_one_line(track.display)}")
        lines.append(_m3u_location(track.path))
    return _write_atomic(Path(path), ("\n".join(lines) + "\n").encode("utf-8"))


def write_xspf(tracks: Sequence[Track], path: Path, title: str = "cbrec playlist") -> Path:
    """XSPF 1: per track ``<location>`` (file URI), ``<title>``, ``<creator>``, ``<album>``,
    ``<trackNum>`` and ``<duration>`` (milliseconds), whichever are known."""
    root = ET.Element("playlist", {"version": "1", "xmlns": XSPF_NS})
    _text(root, "title", title)
    _text(root, "creator", "cbrec")
    track_list = ET.SubElement(root, "trackList")
    for track in tracks:
        _xspf_track(ET.SubElement(track_list, "track"), track)
    ET.indent(root)
    data = ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"
    return _write_atomic(Path(path), data)


def write_playlist(tracks: Sequence[Track], path: str | Path, title: str = "cbrec playlist") -> Path:
    """Write ``tracks`` in the format the suffix names: ``.m3u8``/``.m3u`` or ``.xspf`` (``~`` expanded)."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix in M3U_SUFFIXES:
        return write_m3u8(tracks, path)
    if suffix in XSPF_SUFFIXES:
        return write_xspf(tracks, path, title=title)
    raise CbrecError(f"Cannot write a playlist to {path}: unknown format {suffix or '(no suffix)'!r}. "
                     "Use a name ending in .m3u8, .m3u or .xspf.")


# -------------------------------------------------------------------------- helpers
def _one_line(text: str) -> str:
    """``text`` without line breaks (they would end the M3U entry), encodable as UTF-8."""
    text = " ".join(text.splitlines())
    return text.encode("utf-8", "replace").decode("utf-8")


def _m3u_location(path: str) -> str:
    absolute = os.path.abspath(path)
    try:
        absolute.encode("utf-8")
    except UnicodeEncodeError:
        return file_uri(absolute)
    return file_uri(absolute) if "\n" in absolute or "\r" in absolute else absolute


def _xml_text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _text(parent: ET.Element, tag: str, value: object | None) -> None:
    """Append ``<tag>value</tag>`` unless ``value`` is None or empty."""
    if value is None or value == "":
        return
    ET.SubElement(parent, tag).text = _xml_text(value)


def _xspf_track(element: ET.Element, track: Track) -> None:
    """Fill one ``<track>``, children in the order of the XSPF 1 specification."""
    _text(element, "location", file_uri(track.path))
    _text(element, "title", track.title)
    _text(element, "creator", track.artist)
    _text(element, "album", track.album)
    if track.track_number is not None and track.track_number > 0:
        _text(element, "trackNum", int(track.track_number))
    if track.duration is not None and track.duration >= 0:
        _text(element, "duration", int(round(track.duration * 1000)))


def _write_atomic(path: Path, data: bytes) -> Path:
    """Replace ``path`` atomically; an unwritable target becomes a CbrecError a person can act on."""
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise CbrecError(f"Cannot write the playlist {path}: {exc.strerror or exc}. "
                         "Check that the folder exists and is writable.") from exc
    log.info("wrote playlist %s", path)
    return path
