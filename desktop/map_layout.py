"""2-D layouts of the track vectors for the map (numpy only, no Qt).

Two steps, so the map appears at once and sharpens a few seconds later:

1. :func:`pca_layout`: PCA to 2-D (a few ms for 10,000 tracks).
2. :func:`neighbor_layout`: PCA to 30-D, a k-nearest-neighbour graph, then a UMAP-style
   force layout (attraction along graph edges, repulsion from random samples, fully vectorised
   epochs). t-SNE, as in van den Oord et al. (2013), Figure 1, would be the textbook choice,
   but ``sklearn.manifold.TSNE`` took 13 s for 2,000 points on the 2 shared cores we measured
   on (about 70 s extrapolated for 10,000, and over 3 minutes for a full 10,000-point run that
   we stopped); this layout takes 4-8 s for 10,000 there (depending on the load) and keeps
   the same local structure (neighbours stay neighbours, clusters separate).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

_A, _B = 1.577, 0.895  # UMAP's curve for min_dist = 0.1: q(d) = 1 / (1 + a d^(2b))
_INIT_SCALE = 2.0       # spread of the PCA start: small enough that the attraction can gather the clusters


def _pca(x: np.ndarray, dims: int) -> np.ndarray:
    """Project rows of ``x`` (n, d) onto their first ``dims`` principal axes -> (n, dims)."""
    centred = x - x.mean(axis=0, keepdims=True)
    dims = max(1, min(dims, *centred.shape))
    # economy SVD of the (d, d) covariance is cheap for d ~ 32-256
    cov = centred.T @ centred
    vals, vecs = np.linalg.eigh(cov.astype(np.float64))
    axes = vecs[:, np.argsort(vals)[::-1][:dims]]
    out = (centred @ axes).astype(np.float32)
    if out.shape[1] < dims:
        out = np.pad(out, ((0, 0), (0, dims - out.shape[1])))
    return out


def _normalise(xy: np.ndarray) -> np.ndarray:
    """Centre and scale a layout to unit standard deviation (the map rescales anyway)."""
    xy = xy - xy.mean(axis=0, keepdims=True)
    scale = float(xy.std()) or 1.0
    return (xy / scale).astype(np.float32)


def pca_layout(vectors: np.ndarray) -> np.ndarray:
    """(n, dim) vectors -> (n, 2) float32 PCA layout. Fine for any n, including 0-2."""
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if n < 3:
        return np.array([[i, 0.0] for i in range(n)], np.float32)
    return _normalise(_pca(vectors, 2))


def knn(x: np.ndarray, k: int, chunk: int = 1024, exact_up_to: int = 12_000) -> np.ndarray:
    """Indexes (n, k) of each row's ``k`` nearest other rows (Euclidean).

    Chunked brute force up to ``exact_up_to`` rows; above, an Annoy forest (approximate, but
    the quadratic cost of brute force is what made 50,000 tracks take over a minute)."""
    n = len(x)
    if n > exact_up_to:
        return _knn_annoy(x, k)
    sq = np.einsum("ij,ij->i", x, x)
    out = np.empty((n, k), np.int64)
    for start in range(0, n, chunk):
        block = x[start:start + chunk]
        d2 = sq[start:start + chunk, None] + sq[None, :] - 2.0 * (block @ x.T)
        d2[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf  # not itself
        part = np.argpartition(d2, k, axis=1)[:, :k]
        order = np.take_along_axis(d2, part, axis=1).argsort(axis=1)
        out[start:start + chunk] = np.take_along_axis(part, order, axis=1)
    return out


def _knn_annoy(x: np.ndarray, k: int, n_trees: int = 12) -> np.ndarray:
    from annoy import AnnoyIndex

    index = AnnoyIndex(x.shape[1], "euclidean")
    for i, row in enumerate(x.tolist()):
        index.add_item(i, row)
    index.build(n_trees, n_jobs=1)
    out = np.empty((len(x), k), np.int64)
    for i in range(len(x)):
        found = [j for j in index.get_nns_by_item(i, k + 1) if j != i][:k]
        while len(found) < k:  # tiny or degenerate data: pad with the last neighbour
            found.append(found[-1] if found else (i + 1) % len(x))
        out[i] = found
    return out


def neighbor_layout(vectors: np.ndarray, n_neighbors: int = 10, epochs: int | None = None,
                    seed: int = 0, cancelled: Callable[[], bool] = lambda: False) -> np.ndarray | None:
    """(n, dim) vectors -> (n, 2) float32 neighbourhood-preserving layout, or None if cancelled.

    ``epochs`` defaults to 200 up to 2,000 points, 120 up to 10,000 and fewer above (cost is
    linear in n·epochs; the layout has settled well before).
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n <= n_neighbors + 2:
        return pca_layout(vectors)
    rng = np.random.default_rng(seed)
    reduced = _pca(vectors, 30)
    k = min(n_neighbors, n - 1)
    head = np.repeat(np.arange(n), k)
    tail = knn(reduced, k).ravel()
    if cancelled():
        return None
    y = _normalise(reduced[:, :2]) * _INIT_SCALE
    epochs = epochs or (200 if n <= 2_000 else 120 if n <= 10_000 else max(60, int(120 * 10_000 / n)))
    n_neg = 8                      # repulsion samples per point and epoch
    neg_weight = k * 5 / n_neg     # as UMAP's 5 negatives per edge
    heads_neg = np.repeat(np.arange(n), n_neg)
    for epoch in range(epochs):
        if epoch % 10 == 0 and cancelled():
            return None
        lr = 1.0 - epoch / epochs
        step = np.zeros_like(y)
        # attraction along edges
        diff = y[head] - y[tail]
        d2 = np.einsum("ij,ij->i", diff, diff)
        with np.errstate(divide="ignore", invalid="ignore"):
            coef = (-2 * _A * _B * np.power(d2, _B - 1)) / (_A * np.power(d2, _B) + 1)
        coef[~np.isfinite(coef)] = 0.0
        grad = np.clip(coef[:, None] * diff, -4, 4) * lr
        for c in (0, 1):
            step[:, c] += np.bincount(head, grad[:, c], minlength=n) - np.bincount(tail, grad[:, c], minlength=n)
        # repulsion from random points
        tails_neg = rng.integers(0, n, len(heads_neg))
        diff = y[heads_neg] - y[tails_neg]
        d2 = np.einsum("ij,ij->i", diff, diff)
        coef = 2 * _B / ((0.001 + d2) * (_A * np.power(d2, _B) + 1))
        grad = np.clip(coef[:, None] * diff, -4, 4) * (lr * neg_weight)
        for c in (0, 1):
            step[:, c] += np.bincount(heads_neg, grad[:, c], minlength=n)
        y += step / (2 * k)
    return _normalise(y)
