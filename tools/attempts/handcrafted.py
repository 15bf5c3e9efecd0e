"""Hand-crafted similarity on the same windows as the networks: how far plain statistics get."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from timbre import gaussian, mfcc, mutual_proximity, skl_matrix

from benchmarks.quality import neighbours_from_scores, precision_at_k


def _frames(windows: np.ndarray) -> np.ndarray:
    """(tracks, windows, mels, frames) -> (tracks, all frames, mels), float64."""
    w = windows.astype(np.float64)
    return w.transpose(0, 1, 3, 2).reshape(w.shape[0], -1, w.shape[2])


def _standardised(features: np.ndarray) -> np.ndarray:
    return (features - features.mean(0)) / (features.std(0) + 1e-9)


def report(data: np.lib.npyio.NpzFile, sources: list[str], p10: Callable[[np.ndarray, list[str]], float]) -> None:
    """Print P@10 of mean/std statistics (cosine) and of the Gaussian model (KL, then mutual proximity)."""
    for key in ("3.0x4", "3.0x8"):
        x = _frames(data[key])
        logmel = _standardised(np.concatenate([x.mean(1), x.std(1)], 1))
        m13 = mfcc(x, 13)
        mf = _standardised(np.concatenate([m13.mean(1), m13.std(1)], 1))
        row = [f"log-mel mean/std {p10(logmel, sources):.3f}", f"MFCC-13 mean/std {p10(mf, sources):.3f}"]
        for d in (20, 25):
            g = [gaussian(t) for t in mfcc(x, d)]
            dist = skl_matrix(np.array([a for a, _ in g]), np.array([b for _, b in g]))
            kl = precision_at_k(neighbours_from_scores(dist, False), sources)[0]
            mp = precision_at_k(neighbours_from_scores(mutual_proximity(dist), True), sources)[0]
            row.append(f"Gaussian MFCC-{d} KL {kl:.3f} +MP {mp:.3f}")
        print(key, " | ".join(row), flush=True)
