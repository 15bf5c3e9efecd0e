"""Decoded audio frames to mono float32 at a chosen rate: plane views, downmix, resampling.

The sample-level half of :mod:`core.audio` (which opens, seeks and picks windows): no I/O, no
torch. FFmpeg (PyAV) resamples; one resampler per rate and thread serves all the windows of a
file, as building one costs about as much as resampling 3 s of audio through it.
"""
from __future__ import annotations

import threading

import av
import numpy as np

__all__ = ["MonoCollector", "clean", "forget_resamplers"]

_DTYPES = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "s64": np.int64, "flt": np.float32, "dbl": np.float64}


def _planes(frame: av.AudioFrame) -> tuple[str, list[np.ndarray]]:
    """(sample format without the planar suffix, one array per plane) viewing the frame's memory.

    Cheaper than ``frame.to_ndarray()``, which stacks the planes in Python on every frame: with
    Vorbis (a few hundred frames per second of audio) that stacking cost more than decoding.
    """
    name = frame.format.name
    base = name[:-1] if name.endswith("p") else name
    dtype = _DTYPES[base]
    count = frame.samples * (1 if frame.format.is_planar else frame.layout.nb_channels)
    return base, [np.frombuffer(plane, dtype, count) for plane in frame.planes]


def _to_mono(parts: list[list[np.ndarray]], planar: bool, channels: int) -> np.ndarray:
    """Concatenated planes (``parts[i]``: the arrays of plane i) as mono float32 in [-1, 1)."""
    arrays = [np.concatenate(p) if len(p) > 1 else p[0] for p in parts]
    if not planar and channels > 1:  # packed, interleaved: one plane of n * channels values
        arrays = [arrays[0].reshape(-1, channels)[:, c] for c in range(channels)]
    kind = arrays[0].dtype
    total = arrays[0].astype(np.float32)
    for a in arrays[1:]:
        total += a
    scale = 1.0 / len(arrays)
    if kind.kind in "iu":
        info = np.iinfo(kind)
        total -= np.float32(len(arrays) * (int(info.max) + int(info.min) + 1) / 2)
        scale *= 2.0 / (int(info.max) - int(info.min) + 1)
    if scale != 1.0:
        total *= np.float32(scale)
    return total


_RESAMPLERS = threading.local()  # per thread: {(input rate, output rate): av.AudioResampler}


def _resampler(rate: int, sr: int, reuse: bool) -> av.AudioResampler:
    """An FFmpeg resampler from ``rate`` to ``sr`` (float mono); with ``reuse``, this thread's
    cached one. Building one costs about as much as resampling 3 s of audio through it."""
    if not reuse:
        return av.AudioResampler("flt", "mono", sr)
    cache = _RESAMPLERS.__dict__.setdefault("by_rates", {})
    if (rate, sr) not in cache:
        cache[(rate, sr)] = av.AudioResampler("flt", "mono", sr)
    return cache[(rate, sr)]


def forget_resamplers() -> None:
    """Start this thread's next file with fresh resamplers. A reused resampler carries its phase and
    delay line from one span to the next, shifting the next window by a few samples: reused only
    within a file, a file's windows are the same whatever was decoded before it."""
    _RESAMPLERS.__dict__.pop("by_rates", None)


def _forget_resampler(rate: int, sr: int) -> None:
    """Drop the cached resampler (once drained it cannot take more audio)."""
    _RESAMPLERS.__dict__.get("by_rates", {}).pop((rate, sr), None)


class MonoCollector:
    """Collect decoded frames as mono float32 resampled to ``sr``, after dropping ``skip`` seconds.

    Frames are kept as views of their planes and downmixed and resampled in large blocks (a few
    numpy and FFmpeg calls per block rather than per frame); a change of format, layout or rate
    mid-stream closes the block and, for a new rate, starts a new resampler. The skipped audio
    goes through the resampler and is dropped after it, so with ``reuse`` (a span that begins
    with a pre-roll) the thread's resampler serves every window of a file (see
    :func:`forget_resamplers`): what remains in it from the previous window only touches the
    first output samples of the pre-roll, which are dropped.
    """

    _BLOCK = 1 << 18

    def __init__(self, sr: int, skip: float = 0.0, reuse: bool = False) -> None:
        self.sr, self.reuse = sr, reuse
        self.skip = int(round(skip * sr))  # output samples still to drop
        self.key: tuple[str, int, int, bool] | None = None  # (format, channels, rate, planar) of pending frames
        self.resampler: av.AudioResampler | None = None
        self.pending: list[list[np.ndarray]] = []  # per plane: raw decoded arrays, not yet downmixed
        self.out: list[np.ndarray] = []  # mono at sr
        self.pending_n = self.out_n = 0

    def push(self, frame: av.AudioFrame) -> None:
        fmt, planes = _planes(frame)
        key = (fmt, frame.layout.nb_channels, frame.sample_rate, frame.format.is_planar)
        if key != self.key:
            new_rate = self.key is None or key[2] != self.key[2]
            self._flush(drain=self.key is not None and new_rate)
            if new_rate:
                reuse = self.reuse and self.key is None  # only the span's first rate follows a pre-roll
                self.resampler = None if key[2] == self.sr else _resampler(key[2], self.sr, reuse)
            self.key = key
            self.pending = [[] for _ in planes]
        for store, plane in zip(self.pending, planes, strict=True):
            store.append(plane)
        self.pending_n += frame.samples
        if self.pending_n >= self._BLOCK:
            self._flush(drain=False)

    def size(self) -> int:
        """Output samples kept so far (pending ones estimated)."""
        pending = self.pending_n * self.sr // self.key[2] if self.key else 0
        return max(self.out_n + pending - self.skip, 0)

    def _flush(self, drain: bool) -> None:
        """Downmix and resample the pending frames; ``drain`` also empties the resampler's delay line."""
        x = None
        if self.pending_n:
            _, channels, _, planar = self.key
            x = _to_mono(self.pending, planar, channels)
        self.pending, self.pending_n = [[] for _ in self.pending], 0
        if self.resampler is None:
            out = [] if x is None else [x]
        else:
            frames: list[av.AudioFrame] = []
            if x is not None and x.size:
                frame = av.AudioFrame.from_ndarray(x[None], format="flt", layout="mono")
                frame.sample_rate = self.key[2]
                frames = self.resampler.resample(frame)
            if drain:
                frames += self.resampler.resample(None)
                _forget_resampler(self.key[2], self.sr)
            out = [np.frombuffer(f.planes[0], np.float32, f.samples) for f in frames]
        for a in out:
            dropped = min(self.skip, a.size)
            self.skip -= dropped
            if a.size > dropped:
                self.out.append(a[dropped:])
                self.out_n += a.size - dropped

    def result(self, drain: bool = True) -> np.ndarray:
        """All the audio collected; ``drain=False`` skips the resampler's tail (enough was read past the end)."""
        self._flush(drain=drain)
        x = np.concatenate(self.out) if len(self.out) > 1 else (self.out or [np.zeros(0, np.float32)])[0]
        return clean(x)


def clean(x: np.ndarray) -> np.ndarray:
    """float32, finite, clipped to [-1, 1]."""
    x = np.array(x, np.float32)  # a private, writable copy (the input may view decoder memory)
    if not np.isfinite(x).all():
        np.nan_to_num(x, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(x, -1.0, 1.0, out=x)
