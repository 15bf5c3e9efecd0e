"""Weighted matrix factorisation (Hu et al. 2008; van den Oord et al. 2013 eq. 1-3) on play counts.

The confidence is built here, exactly as benanne/wmf does it (datasets.md §5):

    c_ui = 1 + α·log(1 + r_ui/ε)   on played pairs,   c_ui = 1 elsewhere,   p_ui = 1[r_ui > 0]

and handed to ``implicit.als.AlternatingLeastSquares`` with ``alpha=1.0``: implicit 0.7 reads each
stored value as the confidence itself and would *multiply* it by its own alpha (datasets.md §6).

    >>> counts = sp.csr_matrix(np.array([[3, 0], [0, 1]], dtype=np.float32))   # users × items
    >>> factors = fit_wmf(counts, WMFParams(factors=2, iterations=2), show_progress=False)
    >>> factors.user_factors.shape, factors.item_factors.shape
    ((2, 2), (2, 2))
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)

USER_FACTORS = "user_factors.npy"
ITEM_FACTORS = "item_factors.npy"
USER_IDS = "user_ids.npy"
ITEM_IDS = "item_ids.npy"
PARAMS = "wmf.json"


@dataclass(frozen=True)
class WMFParams:
    """Hyper-parameters of one WMF fit.

    ``alpha`` and ``epsilon`` shape the confidence (defaults of benanne/wmf and Platt 2017),
    ``regularization`` is λ of eq. 3, ``use_gpu=None`` means "when implicit has CUDA".
    """

    factors: int = 40
    alpha: float = 2.0
    epsilon: float = 1e-6
    regularization: float = 10.0
    iterations: int = 15
    seed: int = 0
    use_gpu: bool | None = None
    num_threads: int = 0


@dataclass
class Factors:
    """Result of a fit: ``user_factors`` (n_users, f) and ``item_factors`` (n_items, f), float32."""

    user_factors: np.ndarray
    item_factors: np.ndarray


def confidence(counts: sp.spmatrix, alpha: float, epsilon: float) -> sp.csr_matrix:
    """Confidence matrix C (users × items, CSR float32): ``1 + α·log1p(r/ε)`` on stored entries.

    Entries with r <= 0 are dropped (p_ui = 0, so they carry confidence 1 implicitly).
    """
    if alpha < 0 or epsilon <= 0:
        raise ValueError(f"need alpha >= 0 and epsilon > 0, got alpha={alpha}, epsilon={epsilon}")
    c = sp.csr_matrix(counts, dtype=np.float64, copy=True)
    c.sum_duplicates()
    c.data[c.data < 0] = 0.0
    c.eliminate_zeros()
    c.data = 1.0 + alpha * np.log1p(c.data / epsilon)
    c.sort_indices()
    return c.astype(np.float32)


def gpu_available() -> bool:
    """True when implicit was built with CUDA and found a device."""
    try:
        import implicit.gpu
    except ImportError:  # pragma: no cover - implicit is a hard dependency
        return False
    return bool(implicit.gpu.HAS_CUDA)


def fit_wmf(counts: sp.spmatrix, params: WMFParams, show_progress: bool = True) -> Factors:
    """Fit WMF on a users × items play-count matrix; returns float32 factors on the CPU.

    implicit shows its own tqdm bar (one step per ALS iteration, with rate and ETA).
    """
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    user_items = confidence(counts, params.alpha, params.epsilon)
    use_gpu = gpu_available() if params.use_gpu is None else params.use_gpu
    log.info("WMF: %d users × %d items, %d plays, %d factors, %d iterations, λ=%g, %s",
             user_items.shape[0], user_items.shape[1], user_items.nnz, params.factors,
             params.iterations, params.regularization, "GPU" if use_gpu else "CPU")
    # implicit's CPU solver is multi-threaded itself; a BLAS thread pool on top only slows it down.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=params.factors, regularization=params.regularization, alpha=1.0,
            dtype=np.float32, use_gpu=use_gpu, iterations=params.iterations,
            num_threads=params.num_threads, random_state=params.seed)
        model.fit(user_items, show_progress=show_progress)
    if use_gpu:
        model = model.to_cpu()
    return Factors(np.ascontiguousarray(model.user_factors, dtype=np.float32),
                   np.ascontiguousarray(model.item_factors, dtype=np.float32))


def save_factors(out_dir: Path, factors: Factors, user_ids: np.ndarray, item_ids: np.ndarray,
                 params: WMFParams) -> None:
    """Write ``user_factors.npy``, ``item_factors.npy``, ``user_ids.npy``, ``item_ids.npy``, ``wmf.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if len(user_ids) != len(factors.user_factors) or len(item_ids) != len(factors.item_factors):
        raise ValueError("ids and factors disagree in length")
    for name, arr in ((USER_FACTORS, factors.user_factors), (ITEM_FACTORS, factors.item_factors),
                      (USER_IDS, np.asarray(user_ids)), (ITEM_IDS, np.asarray(item_ids))):
        _save_npy_atomic(out_dir / name, arr)
    (out_dir / PARAMS).write_text(json.dumps(asdict(params), indent=2) + "\n", encoding="utf-8")


def load_factors(out_dir: Path) -> tuple[Factors, np.ndarray, np.ndarray]:
    """Read what :func:`save_factors` wrote: ``(factors, user_ids, item_ids)``."""
    f = Factors(np.load(out_dir / USER_FACTORS), np.load(out_dir / ITEM_FACTORS))
    return f, np.load(out_dir / USER_IDS, allow_pickle=False), np.load(out_dir / ITEM_IDS, allow_pickle=False)


def _save_npy_atomic(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)
    os.replace(tmp, path)
