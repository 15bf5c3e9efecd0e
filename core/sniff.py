"""Which files a scan looks at: audio by name, or audio by content under another name.

A file is scanned when its extension is one of :data:`core.audio.AUDIO_EXTENSIONS`. A file with
any other extension (or none) is opened and its first bytes are compared with the signatures of
the audio formats FFmpeg reads (:func:`holds_audio`), unless its extension says plainly that it
is something else (:data:`NOT_AUDIO_EXTENSIONS`: pictures, text, playlists, cue sheets, video,
archives). So ``song.mp3.bak`` or ``track`` (no extension) is scanned, and ``cover.jpg`` is not.
MIDI files (notes, not sound) and tag-only APEv2 files are not audio. A file that looks like
audio but does not decode is listed among the failures with the reason.
"""
from __future__ import annotations

import os

__all__ = ["NOT_AUDIO_EXTENSIONS", "worth_sniffing", "holds_audio"]

#: Extensions never opened to look for audio: what music folders hold beside the music.
NOT_AUDIO_EXTENSIONS: frozenset[str] = frozenset({
    # pictures
    ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".ico",
    ".svg", ".psd",
    # text, documents, playlists, rip logs and checksums
    ".txt", ".nfo", ".log", ".cue", ".m3u", ".m3u8", ".pls", ".xspf", ".wpl", ".pdf", ".doc", ".docx",
    ".odt", ".rtf", ".htm", ".html", ".md", ".json", ".xml", ".ini", ".cfg", ".toml", ".yaml", ".yml",
    ".csv", ".tsv", ".lrc", ".srt", ".sfv", ".md5", ".ffp", ".sha1", ".sha256", ".accurip", ".toc", ".url",
    ".desktop", ".db", ".sqlite", ".sqlite3",
    # video (the library holds music; a video's soundtrack is not a track)
    ".mkv", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ogv", ".ts", ".vob",
    # archives, programs, notes-not-sound
    ".zip", ".rar", ".7z", ".gz", ".bz2", ".xz", ".tar", ".iso", ".exe", ".dll", ".so", ".py", ".sh",
    ".mid", ".midi", ".kar",
    # partial downloads and torrents are incomplete by definition
    ".part", ".crdownload", ".torrent",
})

_HEAD = 16
# (offset, bytes): the file starts (at offset) with these bytes
_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (0, b"ID3"), (0, b"fLaC"), (0, b"OggS"), (0, b"FRM8"), (0, b"DSD "), (0, b"MPCK"), (0, b"MP+"),
    (0, b"tBaK"), (0, b"wvpk"), (0, b"MAC "), (0, b"TTA1"), (0, b"OFR "), (0, b"ADIF"), (0, b"caff"),
    (0, b".snd"), (0, b"#!AMR"), (0, b"\x0b\x77"), (0, b"\x1aE\xdf\xa3"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),                     # ASF (WMA)
)
_RIFF = (b"RIFF", b"RF64", b"BW64")
_IMAGE_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis", b"crx ")


def worth_sniffing(name: str) -> bool:
    """True when a file called ``name`` (not audio by extension) may still hold audio."""
    return os.path.splitext(name)[1].lower() not in NOT_AUDIO_EXTENSIONS


def holds_audio(path: str) -> bool:
    """True when the regular file at ``path`` starts like an audio file FFmpeg reads.

    Reads at most 16 bytes; a file that cannot be read is not audio here (the caller only asks
    about regular files it has already stat-ed, never pipes, which would block)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return False
    if len(head) < 4:
        return False
    if any(head.startswith(sig, off) for off, sig in _SIGNATURES):
        return True
    if head[:4] in _RIFF:
        return head[8:12] == b"WAVE"
    if head[:4] == b"FORM":
        return head[8:12] in (b"AIFF", b"AIFC")
    if head[4:8] == b"ftyp":                                   # MP4 family: audio unless an image brand
        return head[8:12] not in _IMAGE_BRANDS
    return head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x18 != 0x08   # MPEG audio / ADTS sync
