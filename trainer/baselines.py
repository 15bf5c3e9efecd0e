"""The bag-of-words baseline of van den Oord et al. 2013 §4.1, and MFCC statistics.

    13 MFCCs + first and second differences (39 per frame, 1024/512 at 22050 Hz)
    -> k-means dictionary -> per-song word counts -> PCA keeping 95 % of the variance
    -> linear regression to the latent factors.

The MFCCs are the DCT-II of the stored log-mel frames (the model's own ``log(1 + C*mel)``
compression, 128 bands), so the baseline reads the same feature store as the networks.

    >>> bow = BagOfWords(n_clusters=500).fit(store, train_rows, train_targets)
    >>> bow.predict(store, test_rows)            # (n, f)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.fft import dct
from tqdm.auto import tqdm

from trainer.features import FeatureStore

log = logging.getLogger(__name__)


def mfcc(logmel: np.ndarray, n_mfcc: int = 13) -> np.ndarray:
    """``(n_mels, frames)`` log-mel -> ``(n_mfcc, frames)`` cepstra (orthonormal DCT-II over bands)."""
    return dct(np.asarray(logmel, dtype=np.float32), type=2, axis=0, norm="ortho")[:n_mfcc]


def with_deltas(c: np.ndarray) -> np.ndarray:
    """``(d, frames)`` -> ``(3d, frames)``: the coefficients, their first and second differences."""
    d1 = np.gradient(c, axis=1) if c.shape[1] > 1 else np.zeros_like(c)
    d2 = np.gradient(d1, axis=1) if c.shape[1] > 1 else np.zeros_like(c)
    return np.concatenate([c, d1, d2], axis=0)


def mfcc_mean_std(logmel: np.ndarray, n_mfcc: int = 13) -> np.ndarray:
    """``(n_mels, frames)`` -> ``(2 * n_mfcc,)``: mean and standard deviation of each MFCC over time."""
    c = mfcc(logmel, n_mfcc)
    return np.concatenate([c.mean(axis=1), c.std(axis=1)])


def song_frames(store: FeatureStore, row: int, n_mfcc: int = 13) -> np.ndarray:
    """``(frames, 3 * n_mfcc)`` MFCC + delta frames of one stored clip."""
    if store.spec.kind != "logmel":
        raise ValueError("the bag-of-words baseline needs a log-mel feature store")
    return with_deltas(mfcc(store.crop(row, 0, store.steps), n_mfcc)).T


@dataclass
class BagOfWords:
    """vdO §4.1. ``n_clusters`` words (the paper: 4000 for 9,330 songs; scale it with the data),
    k-means fitted on at most ``max_fit_frames`` frames, PCA keeping ``pca_variance``."""

    n_clusters: int = 4000
    pca_variance: float = 0.95
    n_mfcc: int = 13
    max_fit_frames: int = 200_000
    seed: int = 0
    models: dict = field(default_factory=dict)

    def _frames(self, store: FeatureStore, rows: np.ndarray, show_progress: bool) -> list[np.ndarray]:
        return [song_frames(store, int(r), self.n_mfcc)
                for r in tqdm(rows, desc="MFCC frames", unit="song", disable=not show_progress, leave=False)]

    def _bags(self, frames: list[np.ndarray]) -> np.ndarray:
        km, mu, sd = self.models["kmeans"], self.models["mu"], self.models["sd"]
        bags = np.zeros((len(frames), km.n_clusters), dtype=np.float32)
        for i, f in enumerate(frames):
            bags[i] = np.bincount(km.predict((f - mu) / sd), minlength=km.n_clusters)
        return bags

    def fit(self, store: FeatureStore, rows: np.ndarray, targets: np.ndarray,
            show_progress: bool = True) -> BagOfWords:
        """Learn dictionary, PCA and regression on the training songs ``rows`` with ``targets`` (n, f)."""
        from sklearn.cluster import MiniBatchKMeans
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LinearRegression

        frames = self._frames(store, rows, show_progress)
        allf = np.concatenate(frames)
        rng = np.random.default_rng(self.seed)
        sample = allf[rng.choice(len(allf), size=min(len(allf), self.max_fit_frames), replace=False)]
        self.models["mu"], self.models["sd"] = sample.mean(axis=0), sample.std(axis=0) + 1e-6
        k = min(self.n_clusters, len(sample))
        log.info("k-means: %d words on %d of %d frames", k, len(sample), len(allf))
        km = MiniBatchKMeans(n_clusters=k, random_state=self.seed, batch_size=4096, n_init=1,
                             max_iter=50).fit((sample - self.models["mu"]) / self.models["sd"])
        self.models["kmeans"] = km
        bags = self._bags(frames)
        pca = PCA(n_components=self.pca_variance, svd_solver="full", random_state=self.seed).fit(bags)
        self.models["pca"] = pca
        self.models["regression"] = LinearRegression().fit(pca.transform(bags), targets)
        log.info("bag of words: %d words, PCA keeps %d components", k, pca.n_components_)
        return self

    def predict(self, store: FeatureStore, rows: np.ndarray, show_progress: bool = True) -> np.ndarray:
        """``(len(rows), f)`` predicted factors."""
        bags = self._bags(self._frames(store, rows, show_progress))
        return self.models["regression"].predict(self.models["pca"].transform(bags)).astype(np.float32)

    def summary(self) -> dict[str, int | float]:
        return {"words": int(self.models["kmeans"].n_clusters),
                "pca_components": int(self.models["pca"].n_components_),
                "pca_variance": self.pca_variance}
