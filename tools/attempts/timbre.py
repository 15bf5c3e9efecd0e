"""Gaussian timbre model (Mandel & Ellis 2005, the "timbre" method behind Musly): MFCC mean and full
covariance per track, symmetrised KL divergence, optional mutual proximity (Schnitzer et al. 2012)."""
from __future__ import annotations

import numpy as np
from scipy.fft import dct


def mfcc(logmel: np.ndarray, n: int = 20) -> np.ndarray:
    """(..., frames, mels) log-mel -> (..., frames, n) MFCCs (orthonormal DCT-II)."""
    return dct(logmel, type=2, norm="ortho", axis=-1)[..., :n]


def gaussian(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frames, d) -> mean (d,), covariance (d, d) with a small ridge."""
    return frames.mean(0), np.cov(frames.T) + 1e-6 * np.eye(frames.shape[1])


def skl_matrix(mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """(n, n) symmetrised KL divergences between Gaussians ``mu`` (n, d), ``cov`` (n, d, d)."""
    n, d = mu.shape
    inv = np.linalg.inv(cov)
    out = np.zeros((n, n))
    for i in range(n):
        trace = np.einsum("nij,ji->n", inv, cov[i]) + np.einsum("ij,nji->n", inv[i], cov)
        dm = mu - mu[i]
        out[i] = 0.5 * (trace + np.einsum("ni,nij,nj->n", dm, inv + inv[i][None], dm)) - d
    return out


def mutual_proximity(dist: np.ndarray) -> np.ndarray:
    """(n, n) similarity: the share of other items k farther from both i and j than i is from j."""
    n = len(dist)
    sim = np.zeros_like(dist)
    for i in range(n):
        sim[i] = ((dist[i][None, :] > dist[i][:, None]) & (dist > dist[i][:, None])).sum(1) / (n - 2)
    np.fill_diagonal(sim, 1.0)
    return sim
