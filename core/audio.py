"""Decode any audio file to mono float32 at a chosen rate, and choose excerpt windows across a track.

PyAV (its bundled FFmpeg) does all decoding, so MP3, FLAC, Vorbis, Opus, AAC, ALAC, WAV, AIFF,
WMA, Musepack, DSD, TAK, Speex, TTA and AC-3 need no system packages. This module must stay light (no torch): it runs in decode workers.

    >>> ex = load_windows("song.mp3", sr=22050, window_samples=3 * 22050, n_windows=4)
    >>> ex.windows.shape            # (4, 66150) float32, mono, finite
    >>> x = load("song.mp3", sr=16000, offset=30.0, duration=10.0)   # (160000,)

Every failure raises ``AudioError`` with a sentence fit to show a person.
"""
from __future__ import annotations

import errno
import logging
import math
import os
import stat
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass

import av
import av.error
import numpy as np

from core.errors import AudioError
from core.pcm import MonoCollector, forget_resamplers

__all__ = ["AUDIO_EXTENSIONS", "AudioInfo", "Excerpt", "probe", "window_starts", "load_windows", "load"]

log = logging.getLogger(__name__)

#: Files scanned by name (other files are scanned when their content is audio: core.sniff).
AUDIO_EXTENSIONS: frozenset[str] = frozenset({
    ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".alac", ".wav", ".wave",
    ".aif", ".aiff", ".aifc", ".wma", ".wv", ".ape", ".mka", ".webm",
    ".m4b", ".mpc", ".mp+", ".mpp", ".dsf", ".dff", ".tak", ".spx", ".tta", ".ac3", ".eac3", ".caf",
    ".amr", ".au",
})

#: Most audio decoded in one pass when the container's length cannot be trusted (seconds).
MAX_SEQUENTIAL_SECONDS = 600.0
#: Tracks up to this many times the total window length are decoded in one pass, not seeked.
_SEQUENTIAL_FACTOR = 2.0
#: A seek that lands further than this before its target counts as failed (seconds).
_MAX_SEEK_SLACK = 120.0
#: Undecodable packets tolerated in one pass before the file is called damaged.
_MAX_BAD_PACKETS = 64

#: Seconds decoded before a window's start after a seek, so the decoder has settled when it begins.
_PREROLL_SECONDS = 0.1
#: Output samples decoded past a span's end so the resampler's delay line need not be drained.
_RESAMPLER_MARGIN = 256

_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError, MemoryError, UnicodeError)


@dataclass(frozen=True)
class AudioInfo:
    """What the container says: duration in seconds (None if unknown), native rate and channels."""

    duration: float | None
    sample_rate: int
    channels: int
    codec: str
    container: str


@dataclass(frozen=True)
class Excerpt:
    """Excerpt windows of one track.

    windows: (n_windows, window_samples) float32, mono, finite, at the requested ``sr``.
    duration: seconds of audio actually present (best estimate). info: the container's view.
    """

    windows: np.ndarray
    duration: float
    info: AudioInfo


class _SeekFailed(Exception):
    """A seek landed far from its target; the caller decodes sequentially instead."""


class _Unreadable(Exception):
    """Decoding failed for a reason that needs no more detail; ``_converting`` adds the file name."""


# --- Public API --------------------------------------------------------------------------------

def probe(path: str | os.PathLike) -> AudioInfo:
    """Read the container header of ``path``: duration, rate, channels, codec. Raises AudioError."""
    with _opened(path) as (container, stream):
        return _info(container, stream)


def window_starts(duration: float, window_seconds: float, n_windows: int) -> list[float]:
    """Start times (s) of ``n_windows`` windows spread over a ``duration``-second track.

    Window i is centred in the i-th of n equal segments, clamped to [0, duration - window_seconds];
    a track shorter than one window gives starts of 0.

    >>> window_starts(180.0, 3.0, 4)
    [21.0, 66.0, 111.0, 156.0]
    """
    if n_windows <= 0:
        return []
    last = duration - window_seconds
    if not math.isfinite(duration) or last <= 0:
        return [0.0] * n_windows
    segment = duration / n_windows
    return [min(max((i + 0.5) * segment - window_seconds / 2, 0.0), last) for i in range(n_windows)]


def load_windows(path: str | os.PathLike, sr: int, window_samples: int, n_windows: int) -> Excerpt:
    """Decode ``n_windows`` windows of ``window_samples`` samples spread across the track.

    Long tracks are read by seeking to each window and decoding only about its length. Short
    tracks, tracks of unknown length and tracks whose header lies about their length are decoded
    in one pass (at most ``MAX_SEQUENTIAL_SECONDS``) and the windows taken from what exists. A track
    shorter than a window is repeated to fill it; a window running past the end is zero-padded.
    Raises AudioError.
    """
    if sr <= 0 or window_samples <= 0 or n_windows <= 0:
        raise ValueError("sr, window_samples and n_windows must be positive")
    forget_resamplers()
    with _opened(path, fast_seek=True) as (container, stream):
        info = _info(container, stream)
        with _converting(path):
            windows, duration = _windows(container, stream, info, sr, window_samples, n_windows)
    return Excerpt(windows=windows, duration=duration, info=info)


def load(path: str | os.PathLike, sr: int, offset: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Decode ``duration`` seconds (None: to the end) from ``offset`` as mono float32 at ``sr``: (n,).

    Returns fewer samples (possibly none) when the track ends first. Raises AudioError.
    """
    if sr <= 0:
        raise ValueError("sr must be positive")
    n_out = None if duration is None else max(int(round(duration * sr)), 0)
    forget_resamplers()
    with _opened(path) as (container, stream), _converting(path):
        audio = _decode_span(container, stream, sr, max(offset, 0.0), n_out, seek=offset > 0)
        if audio.size == 0 and offset <= 0 and n_out != 0:
            raise AudioError(_message(path, "no audio could be decoded"))
    return audio


# --- Opening files, and turning failures into sentences ----------------------------------------

def _display(path: str | os.PathLike) -> str:
    """The path as printable text, even when the name is not valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "replace")


def _message(path: str | os.PathLike, reason: str) -> str:
    """The sentence shown to a person: which file, what went wrong."""
    return f"Cannot decode '{_display(path)}': {reason}."


def _check_file(path: str | os.PathLike) -> str:
    """Return the path as str if it names a non-empty regular file, else raise AudioError.

    Uses ``os.stat`` only, so a FIFO is never opened (that would block).
    """
    name = os.fsdecode(os.fspath(path))
    try:
        st = os.stat(name)
    except FileNotFoundError:
        reason = "broken symbolic link (its target does not exist)" if os.path.islink(name) else "file not found"
        raise AudioError(_message(name, reason)) from None
    except PermissionError:
        raise AudioError(_message(name, "permission denied")) from None
    except OSError as exc:
        reason = "symbolic link loop" if exc.errno == errno.ELOOP else f"cannot read the file ({exc.strerror})"
        raise AudioError(_message(name, reason)) from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(_message(name, "it is a folder, not an audio file"))
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(_message(name, "not a regular file (a pipe, device or socket)"))
    if st.st_size == 0:
        raise AudioError(_message(name, "empty file (0 bytes)"))
    return name


def _reason(exc: BaseException) -> str:
    """A short sentence for an exception raised while opening or decoding."""
    if isinstance(exc, av.error.FFmpegError) and exc.errno == errno.EPERM:
        # FFmpeg's generic failure (-1, a failed seek in a damaged file), not the file's permissions
        return "the file is damaged or truncated: the decoder could not find its way in it"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode it"
    if isinstance(exc, av.error.FFmpegError):
        detail = (exc.strerror or "").strip().rstrip(".").lower() or type(exc).__name__
    else:
        detail = str(exc).strip().rstrip(".") or type(exc).__name__
    return f"the file is damaged or truncated: {detail[:120]}"


@contextmanager
def _converting(path: str | os.PathLike) -> Iterator[None]:
    """Turn any decoder exception raised inside the block into AudioError."""
    try:
        yield
    except AudioError:
        raise
    except _Unreadable as exc:
        raise AudioError(_message(path, str(exc))) from exc
    except _AV_ERRORS as exc:
        raise AudioError(_message(path, _reason(exc))) from exc


@contextmanager
def _opened(path: str | os.PathLike,
            fast_seek: bool = False) -> Iterator[tuple[av.container.InputContainer, av.AudioStream]]:
    """Open ``path`` and yield (container, first audio stream); always closes the container.

    ``fast_seek`` lets MP3 seek by its TOC or bitrate instead of reading every packet up to the
    target: much cheaper, but positions can be off by up to about 1% of the time sought.
    """
    name = _check_file(path)
    options = {"fflags": "+fastseek"} if fast_seek else {}
    try:
        container = av.open(name, metadata_errors="ignore", container_options=options)
    except (av.error.InvalidDataError, av.error.EOFError, EOFError):
        raise AudioError(_message(name, "not an audio file: the format was not recognised")) from None
    except _AV_ERRORS as exc:
        raise AudioError(_message(name, _reason(exc))) from exc
    try:
        if not container.streams.audio:
            raise AudioError(_message(name, "no audio stream in the file"))
        yield container, container.streams.audio[0]
    finally:
        container.close()


def _info(container: av.container.InputContainer, stream: av.AudioStream) -> AudioInfo:
    ctx = stream.codec_context
    duration = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        duration = None
    return AudioInfo(duration=duration, sample_rate=int(ctx.sample_rate or 0), channels=int(ctx.channels or 0),
                     codec=ctx.name or "unknown", container=container.format.name or "unknown")


# --- Decoding ----------------------------------------------------------------------------------

def _frames(container: av.container.InputContainer, stream: av.AudioStream,
            skip_until: int | None = None) -> Iterator[av.AudioFrame]:
    """Decoded frames from the current position; skips a few corrupt packets, stops at unreadable data.

    Packets that end before ``skip_until`` (in the stream's time base) are read but not decoded:
    a coarse seek (an MP3 table of contents lands up to a second or two early) then costs only
    demuxing up to the target.
    """
    bad = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except (av.error.InvalidDataError, av.error.EOFError, EOFError) as exc:
            log.debug("demuxing stopped early: %s", exc)  # a truncated file ends here
            return
        if skip_until is not None and packet.pts is not None and packet.duration \
                and packet.pts + packet.duration <= skip_until:
            continue
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            bad += 1
            if bad > _MAX_BAD_PACKETS:
                raise _Unreadable(f"the file is damaged: too many corrupt packets ({exc.strerror})") from exc
            continue
        yield from frames


def _decode_span(container: av.container.InputContainer, stream: av.AudioStream, sr: int, start: float,
                 n_out: int | None, seek: bool, max_slack: float | None = None) -> np.ndarray:
    """Mono float32 at ``sr`` from ``start`` seconds: ``n_out`` samples (None: to the end), fewer at EOF.

    With ``seek`` the container seeks to the keyframe before ``start`` (less a short pre-roll),
    packets before the pre-roll are skipped undecoded, and samples before ``start`` are dropped
    using the first frame's timestamp; a landing more than ``max_slack`` s early raises
    _SeekFailed. Without ``seek`` decoding starts where the container stands (the beginning).
    """
    offset = float(stream.start_time * stream.time_base) if stream.start_time and stream.time_base else 0.0
    target = None  # where decoding should begin, in the stream's time base
    if seek:
        # land a little early (codecs with overlapping frames need one frame of pre-roll) and
        # forget the previous window: otherwise its last frame bleeds into this one
        target = int((max(start - _PREROLL_SECONDS, 0.0) + offset) / stream.time_base)
        container.seek(target, stream=stream)
        stream.codec_context.flush_buffers()
    mono: MonoCollector | None = None
    complete = False  # decoded to the end of the stream (so the resampler's tail is wanted)
    with closing(_frames(container, stream, skip_until=target)) as frames:
        for frame in frames:
            if mono is None:
                landed = (frame.time - offset) if (seek and frame.time is not None) else (start if seek else 0.0)
                if max_slack is not None and start - landed > max_slack:
                    raise _SeekFailed(f"seek to {start:.1f}s landed at {landed:.1f}s")
                mono = MonoCollector(sr, skip=max(start - landed, 0.0), reuse=seek)
            mono.push(frame)
            if n_out is not None and mono.size() >= n_out + _RESAMPLER_MARGIN:
                break
        else:
            complete = True
    x = mono.result(drain=complete) if mono is not None else np.zeros(0, np.float32)
    return x if n_out is None else x[:n_out]


def _fit(x: np.ndarray, n: int, tile: bool) -> np.ndarray:
    """Exactly ``n`` samples: cut, or fill by repeating (``tile``) or with zeros."""
    if x.size >= n:
        return x[:n]
    if tile and x.size:
        return np.resize(x, n).astype(np.float32, copy=False)
    return np.concatenate([x, np.zeros(n - x.size, np.float32)])


def _windows(container: av.container.InputContainer, stream: av.AudioStream, info: AudioInfo, sr: int,
             window_samples: int, n_windows: int) -> tuple[np.ndarray, float]:
    """(windows, duration): seek per window when the track is long, else one pass."""
    window_s = window_samples / sr
    duration = info.duration
    if duration is None or duration <= _SEQUENTIAL_FACTOR * n_windows * window_s:
        return _windows_sequential(container, stream, sr, window_samples, n_windows, rewind=False)
    out = np.empty((n_windows, window_samples), np.float32)
    for i, start in enumerate(window_starts(duration, window_s, n_windows)):
        try:
            x = _decode_span(container, stream, sr, start, window_samples, seek=True, max_slack=_MAX_SEEK_SLACK)
            if x.size < window_samples // 2:
                raise _SeekFailed(f"little or no audio at {start:.1f}s of a claimed {duration:.1f}s")
        except _SeekFailed as exc:  # a wrong length in the header, or a format that seeks badly
            log.debug("%s: %s; decoding in one pass", _display(container.name), exc)
            return _windows_sequential(container, stream, sr, window_samples, n_windows, rewind=True)
        out[i] = _fit(x, window_samples, tile=False)
    return out, duration


def _windows_sequential(container: av.container.InputContainer, stream: av.AudioStream, sr: int,
                        window_samples: int, n_windows: int, rewind: bool) -> tuple[np.ndarray, float]:
    """Decode from the start (at most MAX_SEQUENTIAL_SECONDS) and cut the windows from that."""
    if rewind:
        container.seek(0)
        stream.codec_context.flush_buffers()
    audio = _decode_span(container, stream, sr, 0.0, int(MAX_SEQUENTIAL_SECONDS * sr), seek=False)
    if audio.size == 0:
        raise _Unreadable("no audio could be decoded")
    duration = audio.size / sr
    out = np.empty((n_windows, window_samples), np.float32)
    for i, start in enumerate(window_starts(duration, window_samples / sr, n_windows)):
        first = int(round(start * sr))
        out[i] = _fit(audio[first:first + window_samples], window_samples, tile=True)
    return out, duration
