"""The listener's taste vector: one ALS user step of WMF against fixed item vectors (pure numpy).

Hu, Koren & Volinsky (2008): with item vectors ``Y`` (n, f) fixed, the user vector minimising
``Σ_i c_i (p_i − x·y_i)² + λ‖x‖²`` (p_i = 1 for played items, 0 otherwise) is

    x = (YᵀY + Yᵀ(C − I)Y + λI)⁻¹ Yᵀ C p,      c_i = 1 + α·log(1 + r_i/ε)

— the same confidence the trainer's WMF uses (``trainer.wmf``, defaults α = 2, ε = 1e-6), so a
listener placed here sits in the space the model's vectors were trained to predict.

    >>> x = solve_user(Y, played=np.array([3, 17]), counts=np.array([12.0, 1.0]))
    >>> ranking = np.argsort(-(Y @ x))
"""
from __future__ import annotations

import numpy as np

ALPHA = 2.0
EPSILON = 1e-6
REGULARIZATION = 10.0


def confidence(counts: np.ndarray, alpha: float = ALPHA, epsilon: float = EPSILON) -> np.ndarray:
    """``1 + alpha * log(1 + r / epsilon)`` for play counts ``r`` (k,) ≥ 0, float64."""
    if alpha < 0 or epsilon <= 0:
        raise ValueError(f"need alpha >= 0 and epsilon > 0, got alpha={alpha}, epsilon={epsilon}")
    r = np.asarray(counts, dtype=np.float64)
    return 1.0 + alpha * np.log1p(r / epsilon)


def gramian(item_vectors: np.ndarray) -> np.ndarray:
    """``YᵀY`` (f, f) float64 of item vectors (n, f); compute once, reuse for every listener."""
    y = np.asarray(item_vectors)
    if y.dtype != np.float32:   # float32 input (the store's) stays float32 in BLAS: several times faster
        y = y.astype(np.float64)
    return (y.T @ y).astype(np.float64)


def solve_user(item_vectors: np.ndarray, played: np.ndarray, counts: np.ndarray, alpha: float = ALPHA,
               epsilon: float = EPSILON, regularization: float = REGULARIZATION,
               gram: np.ndarray | None = None) -> np.ndarray:
    """The listener's vector (f,) float64 from plays of rows ``played`` (k,) with ``counts`` (k,).

    ``played`` indexes ``item_vectors`` (n, f); repeated indices are summed first. ``gram``
    is :func:`gramian` of the same ``item_vectors`` (computed here when omitted). Items with
    zero plays may be passed and count as unplayed."""
    played = np.asarray(played, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.float64)
    if played.shape != counts.shape:
        raise ValueError(f"played {played.shape} and counts {counts.shape} differ in shape")
    if len(played):
        played, inverse = np.unique(played, return_inverse=True)
        counts = np.bincount(inverse, weights=counts, minlength=len(played))
        keep = counts > 0
        played, counts = played[keep], counts[keep]
    y = np.asarray(item_vectors, dtype=np.float64)
    f = y.shape[1]
    a = (gramian(y) if gram is None else np.asarray(gram, dtype=np.float64)) + regularization * np.eye(f)
    if not len(played):
        return np.zeros(f)
    c = confidence(counts, alpha, epsilon)
    yp = y[played]
    a += (yp * (c - 1.0)[:, None]).T @ yp
    b = yp.T @ c
    return np.linalg.solve(a, b)


def solve_clusters(item_vectors: np.ndarray, played: np.ndarray, counts: np.ndarray, k: int,
                   alpha: float = ALPHA, epsilon: float = EPSILON, regularization: float = REGULARIZATION,
                   gram: np.ndarray | None = None, iterations: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Several taste vectors: ``(vectors (k', f), weights (k',))`` with k' <= ``k``.

    The played items' unit vectors are grouped by spherical k-means (weighted by confidence,
    deterministic farthest-point start); each group is solved with :func:`solve_user` on its
    own plays, and weighs its share of the total confidence. ``k = 1`` (or too few played items,
    under two per group) is the single vector of :func:`solve_user` with weight 1."""
    played = np.asarray(played, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.float64)
    y = np.asarray(item_vectors, dtype=np.float64)
    gram = gramian(y) if gram is None else gram
    if k <= 1 or len(played) < 2 * k:
        return solve_user(y, played, counts, alpha, epsilon, regularization, gram)[None], np.ones(1)
    c = confidence(counts, alpha, epsilon)
    u = y[played] / np.maximum(np.linalg.norm(y[played], axis=1, keepdims=True), 1e-12)
    centres = [u[int(np.argmax(c))]]
    while len(centres) < k:   # farthest point from the chosen centres, ties to the most played
        nearest = np.max(u @ np.asarray(centres).T, axis=1)
        centres.append(u[int(np.lexsort((-c, nearest))[0])])
    centres = np.asarray(centres)
    for _ in range(iterations):
        label = np.argmax(u @ centres.T, axis=1)
        new = np.stack([(u[label == j] * c[label == j, None]).sum(axis=0) if np.any(label == j) else centres[j]
                        for j in range(k)])
        new /= np.maximum(np.linalg.norm(new, axis=1, keepdims=True), 1e-12)
        if np.allclose(new, centres):
            break
        centres = new
    label = np.argmax(u @ centres.T, axis=1)
    groups = [np.flatnonzero(label == j) for j in range(k) if np.any(label == j)]
    vectors = np.stack([solve_user(y, played[g], counts[g], alpha, epsilon, regularization, gram) for g in groups])
    weights = np.asarray([c[g].sum() for g in groups])
    return vectors, weights / weights.sum()
