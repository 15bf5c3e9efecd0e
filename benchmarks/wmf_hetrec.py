"""WMF on REAL play counts (HetRec 2011 Last.fm-2k user_artists.dat) against popularity and random.

Protocol: per-user holdout of 20 % of each user's artists (users with >= 5 artists), training
artists filtered from the ranking, mAP@10 / mAP@500 (datasets.md §7) and AUC per user, mean.
λ is chosen on a validation holdout carved out of the training part, never on the test part.

    python benchmarks/wmf_hetrec.py [--path ../shared/fixtures/hetrec/user_artists.dat]

Prints one table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.data.hetrec import read_user_artists  # noqa: E402
from trainer.evaluate import evaluate_item_vectors, holdout_split, popularity_vectors, random_vectors  # noqa: E402
from trainer.wmf import WMFParams, fit_wmf  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "hetrec" / "user_artists.dat"


def play_counts(path: Path) -> sp.csr_matrix:
    """``user_artists.dat`` (read by :mod:`trainer.data.hetrec`) → users × artists play counts, CSR float32."""
    ua = read_user_artists(path)
    _, u = np.unique(ua.user_ids, return_inverse=True)
    _, i = np.unique(ua.artist_ids, return_inverse=True)
    return sp.csr_matrix((ua.weights.astype(np.float32), (u, i)))


def metrics(u: np.ndarray, v: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix) -> tuple[float, float, float, int]:
    at10 = evaluate_item_vectors(u, v, train, test, k=10, show_progress=False)
    at500 = evaluate_item_vectors(u, v, train, test, k=500, show_progress=False)
    return at10["map"], at500["map"], at10["auc"], at10["users"]


def choose_lambda(train: sp.csr_matrix, base: WMFParams, grid: list[float]) -> float:
    """λ with the best validation mAP@10 (validation = holdout of the training part)."""
    fit_part, val = holdout_split(train, 0.2, min_items=5, seed=1)
    best, best_map = grid[0], -1.0
    for lam in grid:
        fac = fit_wmf(fit_part, WMFParams(**{**base.__dict__, "regularization": lam}), show_progress=False)
        m = evaluate_item_vectors(fac.user_factors, fac.item_factors, fit_part, val, k=10, show_progress=False)
        print(f"  validation λ={lam:<6g} mAP@10={m['map']:.4f} AUC={m['auc']:.4f}", file=sys.stderr)
        if m["map"] > best_map:
            best, best_map = lam, m["map"]
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", type=Path, default=DEFAULT)
    ap.add_argument("--factors", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=2.0)
    ap.add_argument("--epsilon", type=float, default=1e-6)
    ap.add_argument("--lambdas", type=float, nargs="+", default=[1.0, 10.0, 100.0])
    args = ap.parse_args()
    if not args.path.exists():
        print(f"skipped: {args.path} not found (HetRec fixture absent)")
        return 0
    counts = play_counts(args.path)
    train, test = holdout_split(counts, 0.2, min_items=5, seed=0)
    print(f"HetRec Last.fm-2k: {counts.shape[0]} users × {counts.shape[1]} artists, {counts.nnz} play counts; "
          f"test pairs {test.nnz}", file=sys.stderr)
    base = WMFParams(factors=args.factors, iterations=args.iterations, alpha=args.alpha, epsilon=args.epsilon, seed=0)
    lam = choose_lambda(train, base, args.lambdas)
    t0 = time.perf_counter()
    fac = fit_wmf(train, WMFParams(**{**base.__dict__, "regularization": lam}), show_progress=False)
    fit_s = time.perf_counter() - t0
    rows = [
        (f"WMF (f={args.factors}, α={args.alpha:g}, ε={args.epsilon:g}, λ={lam:g}, {args.iterations} it, {fit_s:.1f} s)",
         *metrics(fac.user_factors, fac.item_factors, train, test)),
        ("popularity (#listeners in train)", *metrics(*popularity_vectors(train), train, test)),
        ("random vectors", *metrics(random_vectors(counts.shape[0], args.factors, 1),
                                    random_vectors(counts.shape[1], args.factors, 2), train, test)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'model':<{width}} | mAP@10 | mAP@500 |    AUC | users |")
    print(f"|{'-' * (width + 2)}|-------:|--------:|-------:|------:|")
    for name, m10, m500, auc, users in rows:
        print(f"| {name:<{width}} | {m10:.4f} |  {m500:.4f} | {auc:.4f} | {users:>5} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
