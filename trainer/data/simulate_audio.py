"""Audio for the simulated world: genre-styled synthesis, log-mel descriptors, MP3 clips via PyAV.

Pure signal code (numpy) except :func:`write_mp3` and :func:`load_excerpt`, which do file I/O.

    >>> style = genre_styles(4, np.random.default_rng(0))[1]
    >>> x = synthesize(style, np.random.default_rng(1), seconds=5.0, sr=22050)   # (110250,) float32
    >>> log_mel_stats(x, sr=22050).shape                                        # (2 * n_mels,)
    (64,)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SR = 22050


@dataclass(frozen=True)
class GenreStyle:
    """Timbre and rhythm of one synthetic genre; songs vary around it.

    ``root_hz`` centre pitch, ``brightness`` harmonic roll-off exponent (small = bright),
    ``note_rate`` notes per second, ``chord`` notes sounding together, ``noise`` level of a
    band-passed noise bed centred at ``noise_hz``, ``beat`` level of percussive clicks,
    ``decay`` note decay rate (1/s).
    """

    root_hz: float
    brightness: float
    note_rate: float
    chord: int
    noise: float
    noise_hz: float
    beat: float
    decay: float


def genre_styles(n: int, rng: np.random.Generator) -> list[GenreStyle]:
    """``n`` clearly different genre styles: pitch, brightness and tempo spread across genres."""
    roots = np.geomspace(90.0, 700.0, n) if n > 1 else np.array([220.0])
    order = rng.permutation(n)
    styles = []
    for g in range(n):
        r = order[g] / max(n - 1, 1)                      # a second, shuffled axis of variation
        styles.append(GenreStyle(
            root_hz=float(roots[g]), brightness=float(0.6 + 2.4 * r), note_rate=float(rng.uniform(1.0, 7.0)),
            chord=int(rng.integers(1, 4)), noise=float(rng.uniform(0.0, 0.4)),
            noise_hz=float(rng.uniform(300.0, 6000.0)), beat=float(rng.uniform(0.0, 0.6)),
            decay=float(rng.uniform(0.5, 6.0))))
    return styles


_SCALE = np.array([0, 2, 3, 5, 7, 8, 10, 12, 14, 15])   # semitones, a minor-ish scale over 1.3 octaves


def synthesize(style: GenreStyle, rng: np.random.Generator, seconds: float, sr: int = SR) -> np.ndarray:
    """A song-like mono signal (n,) float32 in [-1, 1]: notes/chords, a noise bed and clicks.

    Each song draws its own root, tempo and brightness around the genre's values.
    """
    n = int(round(seconds * sr))
    root = style.root_hz * 2.0 ** (rng.normal(0.0, 2.0) / 12.0)
    rate = style.note_rate * rng.uniform(0.8, 1.25)
    bright = max(0.3, style.brightness * rng.uniform(0.8, 1.25))
    out = np.zeros(n, dtype=np.float64)
    step = int(sr / rate)
    table = _wavetable(bright)
    for start in range(0, n, step):
        length = min(step * 2, n - start, int(sr * 7.0 / style.decay) + 1)   # until -60 dB
        t = np.arange(length) / sr
        env = np.exp(-style.decay * t) * np.minimum(1.0, t * 200.0)
        for semis in rng.choice(_SCALE, size=style.chord, replace=False):
            out[start:start + length] += env * _tone(table, root * 2.0 ** (semis / 12.0), t, sr)
    if style.noise > 0:
        out += style.noise * _band_noise(n, style.noise_hz, rng, sr) * np.abs(out).max(initial=1e-9)
    if style.beat > 0:
        out += style.beat * _clicks(n, rate, rng, sr) * np.abs(out).max(initial=1e-9)
    return (0.8 * out / max(np.abs(out).max(initial=0.0), 1e-9)).astype(np.float32)


_TABLE_SIZE = 4096


def _wavetable(brightness: float, n_harmonics: int = 12) -> np.ndarray:
    """One period (_TABLE_SIZE,) of a harmonic tone with amplitudes k^-brightness."""
    phase = np.arange(_TABLE_SIZE) / _TABLE_SIZE
    k = np.arange(1, n_harmonics + 1)[:, None]
    return (k ** -brightness * np.sin(2 * np.pi * k * phase)).sum(axis=0)


def _tone(table: np.ndarray, f0: float, t: np.ndarray, sr: int) -> np.ndarray:
    """The wavetable played at ``f0`` Hz over times ``t`` (s); f0 is capped so harmonics stay audible."""
    f0 = min(f0, 0.4 * sr / 4)
    idx = (np.mod(f0 * t, 1.0) * _TABLE_SIZE).astype(np.int64)
    return table[idx]


def _band_noise(n: int, centre_hz: float, rng: np.random.Generator, sr: int) -> np.ndarray:
    """White noise band-passed around ``centre_hz`` (one octave wide) by FFT masking, unit peak."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    spec *= np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / centre_hz) / 0.5) ** 2)
    x = np.fft.irfft(spec, n)
    return x / max(np.abs(x).max(initial=0.0), 1e-9)


def _clicks(n: int, rate: float, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Short decaying noise bursts on a beat grid at ``rate`` per second."""
    x = np.zeros(n)
    burst = rng.standard_normal(int(0.03 * sr)) * np.exp(-np.arange(int(0.03 * sr)) / (0.005 * sr))
    for start in range(0, n - len(burst), max(int(sr / rate), 1)):
        x[start:start + len(burst)] += burst
    return x / max(np.abs(x).max(initial=0.0), 1e-9)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 30.0, fmax: float | None = None) -> np.ndarray:
    """Triangular HTK-mel filters (n_mels, n_fft // 2 + 1)."""
    fmax = fmax or sr / 2.0
    mel = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
    edges = 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - freqs) / np.maximum(hi - mid, 1e-9)
    return np.maximum(0.0, np.minimum(up, down))


def _hz_to_mel(f: float) -> float:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def log_mel_stats(x: np.ndarray, sr: int = SR, n_mels: int = 32, n_fft: int = 1024,
                  hop_length: int = 512) -> np.ndarray:
    """Mean and standard deviation over time of the log-mel spectrogram: (2 * n_mels,) float64."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    n_frames = 1 + (len(x) - n_fft) // hop_length
    idx = np.arange(n_fft)[None, :] + hop_length * np.arange(n_frames)[:, None]
    power = np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft), axis=1)) ** 2      # (frames, bins)
    logmel = np.log(power @ mel_filterbank(sr, n_fft, n_mels).T + 1e-8)        # (frames, n_mels)
    return np.concatenate([logmel.mean(axis=0), logmel.std(axis=0)])


def write_mp3(x: np.ndarray, path: Path, sr: int = SR, bit_rate: int = 64000) -> None:
    """Encode mono float32 samples (n,) in [-1, 1] as an MP3 file with PyAV (libmp3lame)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with av.open(str(tmp), mode="w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=sr, layout="mono", options={"compression_level": "9"})
        stream.bit_rate = bit_rate
        samples = np.ascontiguousarray(np.clip(x, -1.0, 1.0), dtype=np.float32)
        frame_size = 1152 * 8
        for start in range(0, len(samples), frame_size):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + frame_size], format="fltp", layout="mono")
            frame.sample_rate = sr
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.replace(path)


def load_excerpt(path: Path, seconds: float, sr: int = SR) -> tuple[np.ndarray, float]:
    """Decode ``seconds`` of audio from the middle of a file: (samples (n,) float32, track duration s).

    Uses :mod:`core.audio` (PyAV); a file shorter than ``seconds`` gives all of it.
    """
    from core import audio

    duration = audio.probe(path).duration or 0.0
    offset = max(0.0, (duration - seconds) / 2.0)
    x = audio.load(path, sr=sr, offset=offset, duration=seconds)
    return np.asarray(x, dtype=np.float32), float(duration or len(x) / sr)
