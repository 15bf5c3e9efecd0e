"""Real encoded audio for tests, made with PyAV (its bundled FFmpeg) and mutagen: no external binaries.

    >>> path = write_audio(tmp_path / "song.mp3", seconds=3, kind="drums", seed=2,
    ...                    tags={"title": "Song", "artist": "Band"})

The adversarial folder (every awkward case at once) is :mod:`tests.adversarial_audio`.

Formats by suffix: .mp3 (LAME), .flac, .ogg/.oga (Vorbis), .opus, .m4a/.mp4 (AAC; ALAC when the
name ends in ``.alac.m4a`` or ``codec="alac"``), .aac (ADTS), .wav/.wave, .aif/.aiff/.aifc, .wma
(WMA v2), .mka (FLAC in Matroska), .webm (Opus).
"""
from __future__ import annotations

import base64
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

__all__ = ["synth", "write_audio", "picture_bytes", "Fmt", "FORMATS"]

_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


# ----------------------------------------------------------------------------------------------
# Signals
# ----------------------------------------------------------------------------------------------

def synth(seconds: float, sr: int = 22050, channels: int = 1, kind: str = "chord", seed: int = 0) -> np.ndarray:
    """Music-like test signal, shape (channels, round(seconds*sr)) float32, peak 0.5 (silence: zeros).

    kind: "chord" (a seeded chord progression), "noise" (rhythmic coloured noise), "drums"
    (kick/snare/hat pattern at a seeded tempo), "silence", "sweep" (log sine sweep). Different
    seeds give audibly different signals.
    """
    n = max(int(round(seconds * sr)), 0)
    rng = np.random.default_rng(seed)
    makers = {"chord": _chords, "noise": _noise, "drums": _drums, "sweep": _sweep,
              "silence": lambda n, sr, rng: np.zeros(n, np.float32)}
    if kind not in makers:
        raise ValueError(f"unknown kind {kind!r}; use one of {sorted(makers)}")
    mono = makers[kind](n, sr, rng).astype(np.float32) if n else np.zeros(0, np.float32)
    peak = float(np.max(np.abs(mono))) if n else 0.0
    if peak > 0:
        mono *= 0.5 / peak
    out = np.empty((channels, n), np.float32)
    for c in range(channels):  # each channel a little different: gain and a few samples of delay
        out[c] = np.roll(mono, 7 * c) * (1.0 - 0.3 * c / max(channels, 1))
    return out


def _chords(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    root = int(rng.integers(40, 56))
    seg = int(sr * rng.uniform(0.8, 2.0))
    degrees = rng.choice([0, 2, 3, 5, 7, 8, 10], size=8)
    out = np.zeros(n, np.float32)
    t = (np.arange(seg) / sr).astype(np.float32)
    env = np.minimum(t / 0.02, 1.0) * np.exp(-t * rng.uniform(0.5, 3.0))
    for k, start in enumerate(range(0, n, seg)):
        m = min(seg, n - start)
        base = root + int(degrees[k % len(degrees)])
        x = np.zeros(m, np.float32)
        for note in (base, base + 4 - (k % 2), base + 7, base - 12):
            x += _harmonics(440.0 * 2 ** ((note - 69) / 12), t[:m], sr)
        out[start:start + m] = x * env[:m]
    return out


def _harmonics(f: float, t: np.ndarray, sr: int, count: int = 3) -> np.ndarray:
    """sum_h sin(2*pi*f*h*t) / h**1.5 below Nyquist, via sin((h+1)a) = 2cos(a)sin(ha) - sin((h-1)a)."""
    a = np.float32(2 * np.pi * f) * t
    two_cos = 2 * np.cos(a)
    prev, cur = np.zeros_like(a), np.sin(a)
    total = cur.copy()
    for h in range(2, count + 1):
        prev, cur = cur, two_cos * cur - prev
        if f * h < sr / 2:
            total += cur / h ** 1.5
    return total


def _noise(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Coloured noise (spectrum ~ 1/f^slope, slope seeded) with a seeded tremolo."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    spectrum /= np.maximum(freqs, 20.0) ** (rng.uniform(0.3, 1.2) / 2)
    coloured = np.fft.irfft(spectrum, n)
    rate = rng.uniform(1.0, 4.0)
    return coloured * (0.6 + 0.4 * np.sin(2 * np.pi * rate * np.arange(n) / sr))


def _drums(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    step = int(sr * 60.0 / rng.uniform(80, 160) / 4)
    pattern = rng.random((3, 16)) < np.array([[0.35], [0.25], [0.7]])
    pattern[0, 0] = pattern[1, 4] = True
    t = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 * t + 60 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 12)
    snare = rng.standard_normal(t.size) * np.exp(-t * 25) * 0.6
    hat_len = int(0.05 * sr)
    hat = np.diff(rng.standard_normal(hat_len + 1)) * np.exp(-np.arange(hat_len) / sr * 80) * 0.2
    out = np.zeros(n + t.size, np.float64)
    for k, start in enumerate(range(0, n, step)):
        for sound, on in zip((kick, snare, hat), pattern[:, k % 16], strict=True):
            if on:
                out[start:start + sound.size] += sound
    return out[:n]


def _sweep(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    f0, f1 = 40.0 * rng.uniform(1, 2), sr * 0.45 * rng.uniform(0.5, 1)
    t = np.arange(n) / sr
    total = max(n / sr, 1e-3)
    k = np.log(f1 / f0) / total
    return np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k + rng.uniform(0, np.pi))


def picture_bytes(size: int) -> bytes:
    """A valid 1x1 PNG padded with zero bytes after IEND to exactly ``size`` bytes (at least the PNG)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
    return png + b"\x00" * max(size - len(png), 0)


# ----------------------------------------------------------------------------------------------
# Encoding
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fmt:
    """How to write one suffix: container, codec, allowed rates (None: any), max channels."""

    container: str
    codec: str
    rates: tuple[int, ...] | None = None
    max_channels: int = 8
    bit_rate: int | None = None
    options: tuple[tuple[str, str], ...] = ()


_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
FORMATS: dict[str, Fmt] = {
    ".mp3": Fmt("mp3", "libmp3lame", _MP3_RATES, 2),
    ".flac": Fmt("flac", "flac"),
    ".ogg": Fmt("ogg", "vorbis", None, 2, None, (("strict", "experimental"),)),
    ".oga": Fmt("ogg", "vorbis", None, 2, None, (("strict", "experimental"),)),
    ".opus": Fmt("ogg", "libopus", (48000,), 2),
    ".m4a": Fmt("ipod", "aac", _AAC_RATES),
    ".mp4": Fmt("mp4", "aac", _AAC_RATES),
    ".aac": Fmt("adts", "aac", _AAC_RATES),
    ".alac": Fmt("ipod", "alac"),
    ".wav": Fmt("wav", "pcm_s16le"),
    ".wave": Fmt("wav", "pcm_s16le"),
    ".aif": Fmt("aiff", "pcm_s16be"),
    ".aiff": Fmt("aiff", "pcm_s16be"),
    ".aifc": Fmt("aiff", "pcm_s16be"),
    ".wma": Fmt("asf", "wmav2", None, 2, 96000),
    ".mka": Fmt("matroska", "flac"),
    ".webm": Fmt("webm", "libopus", (48000,), 2),
}


def _format_for(path: Path, codec: str | None) -> Fmt:
    suffix = path.suffix.lower()
    if codec == "alac" or path.name.lower().endswith(".alac.m4a"):
        return FORMATS[".alac"]
    if suffix not in FORMATS:
        raise ValueError(f"write_audio cannot write {suffix!r} files; use one of {sorted(FORMATS)}")
    fmt = FORMATS[suffix]
    if codec is not None and codec != fmt.codec:
        return Fmt(fmt.container, codec)
    return fmt


def write_audio(path: str | os.PathLike, seconds: float = 5.0, sr: int = 22050, channels: int = 1,
                kind: str = "chord", seed: int = 0, tags: dict | None = None,
                cover_bytes: bytes | int | None = None, codec: str | None = None,
                signal: np.ndarray | None = None) -> Path:
    """Encode a real audio file (format from the suffix) and optionally tag it; returns the path.

    signal: (channels, n) float32 at ``sr`` to encode instead of ``synth(...)``. Codecs that cannot
    store ``sr`` or ``channels`` (MP3, Opus, Vorbis, WMA: at most stereo; Opus: 48 kHz) are fed
    through FFmpeg's resampler, so the file holds the nearest rate/layout they allow.
    tags: title/artist/album/albumartist/tracknumber/date/genre. cover_bytes: picture bytes (or a
    size) embedded as cover art (not for .aac/.mka/.webm).
    """
    path = Path(path)
    fmt = _format_for(path, codec)
    x = synth(seconds, sr, channels, kind, seed) if signal is None else np.asarray(signal, np.float32)
    if x.ndim == 1:
        x = x[None]
    _encode(path, fmt, x, sr)
    if isinstance(cover_bytes, int):
        cover_bytes = picture_bytes(cover_bytes)
    if tags or cover_bytes:
        _tag(path, fmt, tags or {}, cover_bytes)
    return path


def _encode(path: Path, fmt: Fmt, x: np.ndarray, sr: int) -> None:
    channels = x.shape[0]
    rate = sr if fmt.rates is None or sr in fmt.rates else min(fmt.rates, key=lambda r: (r < sr, abs(r - sr)))
    out_channels = min(channels, fmt.max_channels)
    if fmt.codec == "vorbis":
        out_channels = 2  # FFmpeg's own Vorbis encoder writes stereo only
    in_layout = _LAYOUTS[channels]
    with av.open(str(path), "w", format=fmt.container) as container:
        stream = container.add_stream(fmt.codec, rate=rate, layout=_LAYOUTS[out_channels],
                                      options=dict(fmt.options))
        if fmt.bit_rate:
            stream.bit_rate = fmt.bit_rate
        block = 8192
        for i in range(0, x.shape[1], block):
            packed = np.ascontiguousarray(x[:, i:i + block].T).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(packed, format="flt", layout=in_layout)
            frame.sample_rate = sr
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


# ----------------------------------------------------------------------------------------------
# Tags and cover art (mutagen)
# ----------------------------------------------------------------------------------------------

def _tag(path: Path, fmt: Fmt, tags: dict, cover: bytes | None) -> None:
    tags = {k: str(v) for k, v in tags.items() if v is not None}
    if fmt.container in ("mp3", "wav", "aiff"):
        _tag_id3(path, fmt, tags, cover)
    elif fmt.codec == "flac" and fmt.container == "flac":
        _tag_flac(path, tags, cover)
    elif fmt.container == "ogg":
        _tag_ogg(path, fmt, tags, cover)
    elif fmt.container in ("ipod", "mp4"):
        _tag_mp4(path, tags, cover)
    elif fmt.container == "asf":
        _tag_asf(path, tags, cover)
    else:
        raise ValueError(f"write_audio cannot tag {path.suffix!r} files")


def _tag_id3(path: Path, fmt: Fmt, tags: dict, cover: bytes | None) -> None:
    from mutagen import aiff, id3, mp3, wave
    cls = {"mp3": mp3.MP3, "wav": wave.WAVE, "aiff": aiff.AIFF}[fmt.container]
    f = cls(str(path))
    if f.tags is None:
        f.add_tags()
    frames = {"title": id3.TIT2, "artist": id3.TPE1, "album": id3.TALB, "albumartist": id3.TPE2,
              "tracknumber": id3.TRCK, "date": id3.TDRC, "genre": id3.TCON}
    for key, value in tags.items():
        f.tags.add(frames[key](encoding=3, text=[value]))
    if cover:
        f.tags.add(id3.APIC(encoding=3, mime="image/png", type=3, desc="cover", data=cover))
    f.save()


def _flac_picture(cover: bytes):
    from mutagen.flac import Picture
    pic = Picture()
    pic.type, pic.mime, pic.width, pic.height, pic.depth, pic.data = 3, "image/png", 1, 1, 24, cover
    return pic


def _tag_flac(path: Path, tags: dict, cover: bytes | None) -> None:
    from mutagen.flac import FLAC
    f = FLAC(str(path))
    for key, value in tags.items():
        f[key] = value
    if cover:
        f.add_picture(_flac_picture(cover))
    f.save()


def _tag_ogg(path: Path, fmt: Fmt, tags: dict, cover: bytes | None) -> None:
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis
    f = (OggOpus if fmt.codec == "libopus" else OggVorbis)(str(path))
    for key, value in tags.items():
        f[key] = value
    if cover:
        f["metadata_block_picture"] = base64.b64encode(_flac_picture(cover).write()).decode("ascii")
    f.save()


def _tag_mp4(path: Path, tags: dict, cover: bytes | None) -> None:
    from mutagen.mp4 import MP4, MP4Cover
    f = MP4(str(path))
    atoms = {"title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb", "albumartist": "aART",
             "date": "\xa9day", "genre": "\xa9gen"}
    for key, value in tags.items():
        if key == "tracknumber":
            num, _, total = value.partition("/")
            f["trkn"] = [(int(num), int(total or 0))]
        else:
            f[atoms[key]] = [value]
    if cover:
        f["covr"] = [MP4Cover(cover, imageformat=MP4Cover.FORMAT_PNG)]
    f.save()


def _tag_asf(path: Path, tags: dict, cover: bytes | None) -> None:
    from mutagen.asf import ASF, ASFByteArrayAttribute
    f = ASF(str(path))
    names = {"title": "Title", "artist": "Author", "album": "WM/AlbumTitle", "albumartist": "WM/AlbumArtist",
             "tracknumber": "WM/TrackNumber", "date": "WM/Year", "genre": "WM/Genre"}
    for key, value in tags.items():
        f[names[key]] = [value]
    if cover:
        mime = "image/png".encode("utf-16-le") + b"\x00\x00"
        blob = struct.pack("<BI", 3, len(cover)) + mime + b"\x00\x00" + cover
        f["WM/Picture"] = [ASFByteArrayAttribute(blob)]
    f.save()
