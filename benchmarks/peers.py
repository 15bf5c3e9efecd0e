"""Peer systems measured beside cbrec in the same run: Musly (timbre) and bliss.

Both are optional (``pip install -r benchmarks/requirements.txt``); a peer that is not
installed is reported as missing, never silently skipped. Each analyser runs in ``workers``
processes, like cbrec's own scan, so throughput is compared on the same cores.
"""
from __future__ import annotations

import importlib.util
import multiprocessing as mp
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MUSLY_EXCERPT_S = 30.0


@dataclass
class PeerRun:
    """One peer's analysis of a track list: per-track features (None = failed) and wall time (s)."""

    name: str
    features: list
    seconds: float

    @property
    def ok(self) -> int:
        return sum(f is not None for f in self.features)


def available(name: str) -> bool:
    module = {"musly": "pymusly", "bliss": "bliss_audio"}[name]
    return importlib.util.find_spec(module) is not None


_JUKEBOX = None


def _musly_track(path: str) -> bytes | None:
    global _JUKEBOX
    import pymusly

    if _JUKEBOX is None:
        _JUKEBOX = pymusly.MuslyJukebox("timbre")
    try:  # a 30 s excerpt centred in the track, as Musly's own tools do
        track = _JUKEBOX.track_from_audiofile(path, MUSLY_EXCERPT_S, -MUSLY_EXCERPT_S)
        return bytes(_JUKEBOX.serialize_track(track))
    except Exception:
        return None


def _bliss_vector(path: str) -> np.ndarray | None:
    import bliss_audio

    try:
        return np.asarray(bliss_audio.Song(path).analysis, dtype=np.float64)
    except Exception:
        return None


def _run(name: str, func, paths: Sequence[str], workers: int) -> PeerRun:
    started = time.monotonic()
    with mp.get_context("spawn").Pool(workers) as pool:
        features = pool.map(func, list(paths), chunksize=1)
    return PeerRun(name, features, time.monotonic() - started)


def analyse_musly(paths: Sequence[str], workers: int = 2) -> PeerRun:
    """Musly 'timbre' models of 30 s excerpts (serialised track bytes)."""
    return _run("Musly (timbre, 30 s)", _musly_track, paths, workers)


def analyse_bliss(paths: Sequence[str], workers: int = 2) -> PeerRun:
    """bliss feature vectors (23 descriptors per track)."""
    return _run("bliss", _bliss_vector, paths, workers)


def musly_track_is_finite(feature: bytes) -> bool:
    """Whether a serialised Musly track (big-endian float32 model parameters) holds only finite numbers.

    A silent excerpt gives a degenerate timbre model (NaN/inf); added to a jukebox, it turns every
    distance of every track into NaN (mutual proximity normalises by all tracks).
    """
    usable = len(feature) // 4 * 4
    return bool(np.isfinite(np.frombuffer(feature[:usable], dtype=">f4")).all())


def musly_distances(features: Sequence[bytes]) -> np.ndarray:
    """(n, n) Musly distance matrix (smaller = more similar) from serialised tracks."""
    import pymusly

    box = pymusly.MuslyJukebox("timbre")
    tracks = [box.deserialize_track(f) for f in features]
    box.set_style(tracks[:1000])
    ids = list(range(len(tracks)))
    box.add_tracks(list(zip(ids, tracks, strict=True)))
    pairs = list(zip(ids, tracks, strict=True))
    return np.array([box.compute_similarity(pairs[i], pairs) for i in ids], dtype=np.float64)


def bliss_distances(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """(n, n) Euclidean distances between standardised bliss descriptors."""
    x = np.stack(vectors)
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    sq = (x * x).sum(1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0))
