"""Recommendation metrics for ANY item vectors: mAP@k (MSD challenge, datasets.md §7) and AUC.

A user's score for item i is ``user_factors[u] · item_vectors[i]``. Items the user heard in
``train`` are removed from the ranking; the user's ``test`` items are the relevant set. So the
same function scores WMF factors, CNN predictions (part 2), random vectors or popularity.

    >>> m = evaluate_item_vectors(user_factors, item_vectors, train_csr, test_csr, k=500)
    >>> m["map"], m["auc"], m["users"]

Splits for the two protocols: :func:`holdout_split` (per user: hide some of each user's items)
and :func:`item_split` + :func:`cold_start_evaluate` (van den Oord 2013 §5.2: the test songs'
factors are not used for training; every user ranks only the test songs).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


def ap_at_k(actual: set | Sequence, predicted: Sequence, k: int = 500) -> float:
    """AP@k of one ranking, literally as datasets.md §7: divided by ``min(len(actual), k)``."""
    actual = set(actual)
    if not actual:
        return 0.0
    hits = score = 0.0
    seen: set = set()
    for i, p in enumerate(list(predicted)[:k]):
        if p in actual and p not in seen:
            hits += 1
            score += hits / (i + 1)
        seen.add(p)
    return score / min(len(actual), k)


def average_precision_rows(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """AP@k per row of a (n_users, k) 0/1 hit matrix (ranked best first), given |relevant| per row."""
    hits = hits[:, :k].astype(np.float64)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    denom = np.minimum(np.asarray(n_relevant, dtype=np.float64), k)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = (precision * hits).sum(axis=1) / denom
    return np.where(denom > 0, ap, 0.0)


def _batch_metrics(scores: np.ndarray, train_rows: sp.csr_matrix, test_rows: sp.csr_matrix,
                   k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AP@k, AUC and an "evaluable" mask for one batch of users; ``scores`` is (b, n_items).

    One row-wise sort serves both metrics: the k-th largest score is the top-k threshold, and
    binary searches of each positive's score give its rank among the candidates (Mann-Whitney).
    """
    b, n_items = scores.shape
    n_train = np.diff(train_rows.indptr)
    n_pos = np.diff(test_rows.indptr)
    scores[np.repeat(np.arange(b), n_train), train_rows.indices] = -np.inf   # heard: not ranked
    sorted_scores = np.sort(scores, axis=1)
    relevant = np.zeros((b, n_items), dtype=bool)
    relevant[np.repeat(np.arange(b), n_pos), test_rows.indices] = True
    ap = _ap_from_threshold(scores, sorted_scores[:, n_items - min(k, n_items)], relevant, n_pos, k)
    auc = np.full(b, np.nan)
    n_neg = n_items - n_train - n_pos
    ok = (n_pos > 0) & (n_neg > 0)
    for r in np.flatnonzero(ok):
        pos = scores[r, test_rows.indices[test_rows.indptr[r]:test_rows.indptr[r + 1]]]
        below = np.searchsorted(sorted_scores[r], pos, side="left") - n_train[r]
        equal = np.searchsorted(sorted_scores[r], pos, side="right") - n_train[r] - below
        # every candidate below a positive is a win, a tie half a win; drop positive-positive pairs
        wins = (below + 0.5 * (equal - 1)).sum() - n_pos[r] * (n_pos[r] - 1) / 2.0
        auc[r] = wins / (n_pos[r] * n_neg[r])
    return ap, auc, ok


def _ap_from_threshold(scores: np.ndarray, threshold: np.ndarray, relevant: np.ndarray,
                       n_pos: np.ndarray, k: int) -> np.ndarray:
    """AP@k per row from the items scoring at least the row's k-th best score (ties: lower id first)."""
    b, n_items = scores.shape
    flat = np.flatnonzero(scores >= threshold[:, None])
    rows, cols = np.divmod(flat, n_items)
    vals = scores.ravel()[flat]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(b))
    rank = np.arange(len(rows)) - starts[rows]                 # 0-based position in the row's ranking
    keep = rank < k
    rows, cols, vals, rank = rows[keep], cols[keep], vals[keep], rank[keep]
    hit = relevant[rows, cols] & np.isfinite(vals)
    cum = np.cumsum(hit)
    row_start_hits = np.concatenate(([0], cum))[np.searchsorted(rows, np.arange(b))]
    hits_so_far = cum - row_start_hits[rows]                 # hits at positions 1..rank+1 of the row
    gain = np.where(hit, hits_so_far / (rank + 1.0), 0.0)
    total = np.bincount(rows, weights=gain, minlength=b)
    denom = np.minimum(n_pos, k).astype(np.float64)
    return np.divide(total, denom, out=np.zeros(b), where=denom > 0)


def evaluate_item_vectors(user_factors: np.ndarray, item_vectors: np.ndarray,
                          train_csr: sp.spmatrix | None, test_csr: sp.spmatrix, k: int = 500,
                          batch_size: int = 256, show_progress: bool = True,
                          desc: str = "evaluate") -> dict[str, float]:
    """Mean AP@k and mean AUC over users that have held-out items.

    ``user_factors`` (n_users, f), ``item_vectors`` (n_items, f); ``train_csr`` and ``test_csr`` are
    users × items (any values; non-zero = heard). ``train_csr=None`` filters nothing (cold start).
    Returns ``{"map", "auc", "users"}`` (``users`` = number of users scored).
    """
    test = sp.csr_matrix(test_csr)
    n_users, n_items = test.shape
    train = sp.csr_matrix((n_users, n_items), dtype=np.float32) if train_csr is None else sp.csr_matrix(train_csr)
    _check_shapes(user_factors, item_vectors, train, test)
    train.eliminate_zeros()
    test = _without(test, train)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if k < 1 or len(users) == 0:
        return {"map": float("nan"), "auc": float("nan"), "users": 0}
    u = np.asarray(user_factors, dtype=np.float32)
    v = np.ascontiguousarray(np.asarray(item_vectors, dtype=np.float32).T)
    aps, aucs = [], []
    bar = tqdm(total=len(users), desc=desc, unit="user", disable=not show_progress, leave=False)
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        ap, auc, ok = _batch_metrics(u[batch] @ v, train[batch], test[batch], k)
        aps.append(ap[ok])
        aucs.append(auc[ok])
        bar.update(len(batch))
    bar.close()
    ap_all, auc_all = np.concatenate(aps), np.concatenate(aucs)
    return {"map": float(ap_all.mean()) if len(ap_all) else float("nan"),
            "auc": float(auc_all.mean()) if len(auc_all) else float("nan"),
            "users": int(len(ap_all))}


def compare_models(models: dict[str, tuple[np.ndarray, np.ndarray]], train_csr: sp.spmatrix | None,
                   test_csr: sp.spmatrix, k: int = 500, show_progress: bool = True) -> dict[str, dict]:
    """:func:`evaluate_item_vectors` for each named (user vectors, item vectors) pair, at k and at 10.

    Returns ``{name: {"mAP@k": …, "mAP@10": …, "AUC": …, "users": …}}`` (a table by model).
    """
    out = {}
    for name, (u, v) in models.items():
        at_k = evaluate_item_vectors(u, v, train_csr, test_csr, k=k, show_progress=show_progress, desc=name)
        at_10 = evaluate_item_vectors(u, v, train_csr, test_csr, k=10, show_progress=False) if k != 10 else at_k
        out[name] = {f"mAP@{k}": at_k["map"], "mAP@10": at_10["map"], "AUC": at_k["auc"], "users": at_k["users"]}
    return out


def _without(test: sp.csr_matrix, train: sp.csr_matrix) -> sp.csr_matrix:
    """``test`` minus the pairs already in ``train`` (a heard item cannot be held out)."""
    test = test.astype(np.float32)
    test.eliminate_zeros()
    overlap = test.multiply(train != 0).tocsr()
    overlap.eliminate_zeros()
    if overlap.nnz:
        log.warning("%d held-out pairs are also in train; they are ignored", overlap.nnz)
        test = (test - overlap).tocsr()
        test.eliminate_zeros()
    test.sort_indices()
    return test


def _check_shapes(u: np.ndarray, v: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix) -> None:
    if train.shape != test.shape:
        raise ValueError(f"train {train.shape} and test {test.shape} matrices differ in shape")
    if u.shape[0] != test.shape[0] or v.shape[0] != test.shape[1] or u.shape[1] != v.shape[1]:
        raise ValueError(f"factors {u.shape} · {v.shape}ᵀ do not fit a {test.shape} users × items matrix")


# --------------------------------------------------------------------------- baselines

def random_vectors(n_items: int, dim: int, seed: int = 0) -> np.ndarray:
    """Random item vectors (n_items, dim), N(0, 1): the chance baseline (AUC ≈ 0.5)."""
    return np.random.default_rng(seed).standard_normal((n_items, dim)).astype(np.float32)


def popularity_vectors(train_csr: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Popularity baseline as vectors: users (n_users, 1) of ones, items (n_items, 1) = #listeners."""
    train = sp.csr_matrix(train_csr)
    listeners = np.asarray((train > 0).sum(axis=0)).ravel().astype(np.float32)
    return np.ones((train.shape[0], 1), dtype=np.float32), listeners[:, None]


def user_vectors_from_items(counts: sp.spmatrix, item_vectors: np.ndarray) -> np.ndarray:
    """Platt 2017 §6.2.1: a user's vector = their play-count row × item vectors, L2-normalised.

    ``counts`` (n_users, n_items), ``item_vectors`` (n_items, f) → (n_users, f) float32.
    """
    u = np.asarray(sp.csr_matrix(counts) @ np.asarray(item_vectors, dtype=np.float32), dtype=np.float32)
    norm = np.linalg.norm(u, axis=1, keepdims=True)
    return u / np.maximum(norm, 1e-12)


# --------------------------------------------------------------------------- splits

def holdout_split(counts: sp.spmatrix, test_fraction: float = 0.2, min_items: int = 2,
                  seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Per-user holdout: hide ``test_fraction`` of each user's items (at least 1, at most n-1).

    Users with fewer than ``min_items`` items stay entirely in train. Returns ``(train, test)``,
    both users × items CSR with the original counts, disjoint, summing to ``counts``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    c = sp.csr_matrix(counts, copy=True)
    c.eliminate_zeros()
    c.sort_indices()
    rng = np.random.default_rng(seed)
    n = np.diff(c.indptr)
    n_test = np.where(n >= max(min_items, 2), np.clip(np.round(n * test_fraction), 1, n - 1), 0)
    key = rng.random(c.nnz)
    # rank each entry within its row by a random key: entries ranked below n_test go to test
    row = np.repeat(np.arange(c.shape[0]), n)
    order = np.lexsort((key, row))
    rank = np.empty(c.nnz, dtype=np.int64)
    rank[order] = np.arange(c.nnz) - np.repeat(c.indptr[:-1], n)
    is_test = rank < np.repeat(n_test, n)
    return _mask(c, ~is_test), _mask(c, is_test)


def _mask(c: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    m = c.copy()
    m.data = np.where(keep, m.data, 0).astype(c.dtype)
    m.eliminate_zeros()
    return m


@dataclass(frozen=True)
class ItemSplit:
    """Cold-start split of item column indices: sorted ``train`` and ``test`` int64 arrays."""

    train: np.ndarray
    test: np.ndarray


def item_split(n_items: int, test_fraction: float = 0.1, seed: int = 0,
               eligible: np.ndarray | None = None) -> ItemSplit:
    """Split items for the cold-start protocol; only ``eligible`` items (bool mask) may go to test.

    Test songs are the ones whose factors the content model never sees in training.
    """
    rng = np.random.default_rng(seed)
    mask = np.ones(n_items, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    candidates = np.flatnonzero(mask)
    n_test = int(round(len(candidates) * test_fraction))
    test = np.sort(rng.choice(candidates, size=n_test, replace=False))
    train = np.setdiff1d(np.arange(n_items), test)
    return ItemSplit(train.astype(np.int64), test.astype(np.int64))


def cold_start_evaluate(user_factors: np.ndarray, test_item_vectors: np.ndarray, counts: sp.spmatrix,
                        split: ItemSplit, k: int = 500, show_progress: bool = True,
                        desc: str = "cold start") -> dict[str, float]:
    """van den Oord 2013 §5.2: rank only the test songs for every user, by ``x_u · ŷ_i``.

    ``test_item_vectors`` (len(split.test), f) are the vectors to judge (predicted, random, or the
    WMF factors themselves for the upper bound); a user's relevant songs are the test songs they played.
    """
    test = sp.csr_matrix(counts)[:, split.test]
    return evaluate_item_vectors(user_factors, test_item_vectors, None, test, k=k,
                                 show_progress=show_progress, desc=desc)
