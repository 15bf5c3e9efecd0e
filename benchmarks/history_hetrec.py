"""The "For you" taste vector on REAL listening data: HetRec 2011 Last.fm-2k play counts (artist level).

A new listener arrives with a history; the item vectors are fixed (in the app they come from
the model). Protocol: 20 % of the users (seed 0) are new listeners and play no part in the
WMF fit that makes the item vectors; each new listener's artists (users with >= 5) are split
80/20, the 80 % are their history, and :func:`core.history.taste.solve_user` (one ALS user step,
c = 1 + α·log(1 + r/ε), exactly what ``lib.for_you`` runs) places them from it. The held-out
20 % are ranked among every artist they have not played: mAP@10, mAP@500 and AUC per listener,
mean (``trainer.evaluate``, as the trainer's evaluation). Against: popularity (#listeners),
the mean of the played items' vectors (Platt 2017 §6.2.1), random vectors, and the reference
where the new listeners' histories are inside the WMF fit (ALS run to convergence).

    python benchmarks/history_hetrec.py [--path ../shared/fixtures/hetrec/user_artists.dat]

Prints one table (markdown).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.wmf_hetrec import DEFAULT, play_counts  # noqa: E402
from core.history.taste import REGULARIZATION, gramian, solve_clusters, solve_user  # noqa: E402
from trainer.evaluate import (  # noqa: E402
    evaluate_item_vectors,
    holdout_split,
    popularity_vectors,
    random_vectors,
    user_vectors_from_items,
)
from trainer.wmf import WMFParams, fit_wmf  # noqa: E402


def one_step_users(history: sp.csr_matrix, items: np.ndarray, alpha: float, epsilon: float, lam: float) -> np.ndarray:
    """Each row of ``history`` (users × items counts) solved against fixed ``items`` (n, f)."""
    gram = gramian(items)
    out = np.zeros((history.shape[0], items.shape[1]), np.float32)
    for u in range(history.shape[0]):
        row = history.getrow(u)
        out[u] = solve_user(items, row.indices, row.data, alpha, epsilon, lam, gram)
    return out


def cluster_scores(history: sp.csr_matrix, items: np.ndarray, k: int, alpha: float, epsilon: float,
                   lam: float) -> np.ndarray:
    """Scores (users, items) of ``k`` taste vectors per listener, as ``for_you(clusters=k)`` takes turns:
    the i-th pick of a vector with weight w comes at time (i + 0.5) / w, so an item's score is
    minus the earliest time any vector reaches it (its rank by that vector, scaled)."""
    gram = gramian(items)
    unit_items = unit(items)
    out = np.zeros((history.shape[0], items.shape[0]), np.float32)
    for u in range(history.shape[0]):
        row = history.getrow(u)
        vectors, weights = solve_clusters(items, row.indices, row.data, k, alpha, epsilon, lam, gram)
        cos = unit_items @ unit(vectors).T                             # (items, k')
        ranks = np.argsort(np.argsort(-cos, axis=0, kind="stable"), axis=0, kind="stable")
        out[u] = -np.min((ranks + 0.5) / weights[None, :], axis=1)
    return out


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", type=Path, default=DEFAULT)
    ap.add_argument("--factors", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=2.0)
    ap.add_argument("--epsilon", type=float, default=1e-6)
    ap.add_argument("--lam", type=float, default=100.0, help="λ of the WMF fit (wmf_hetrec.py's validated choice)")
    ap.add_argument("--user-lams", type=float, nargs="+", default=[1.0, REGULARIZATION, 100.0, 1000.0],
                    help=f"λ of the one-step user solve (each reported; the app uses {REGULARIZATION:g})")
    ap.add_argument("--clusters", type=int, nargs="*", default=[2, 3],
                    help="also several taste vectors per listener (for_you(clusters=k)), with the app's λ")
    ap.add_argument("--new-share", type=float, default=0.2, help="share of users held out as new listeners")
    args = ap.parse_args()
    if not args.path.exists():
        print(f"skipped: {args.path} not found (HetRec fixture absent)")
        return 0
    counts = play_counts(args.path)
    rng = np.random.default_rng(0)
    is_new = rng.random(counts.shape[0]) < args.new_share
    fit_rows, new_rows = counts[~is_new], counts[is_new]
    history, test = holdout_split(new_rows, 0.2, min_items=5, seed=0)
    print(f"HetRec Last.fm-2k: {counts.shape[0]} users × {counts.shape[1]} artists; WMF fit on {fit_rows.shape[0]} "
          f"users; {new_rows.shape[0]} new listeners, {history.nnz} history / {test.nnz} held-out pairs",
          file=sys.stderr)
    params = WMFParams(factors=args.factors, iterations=args.iterations, alpha=args.alpha, epsilon=args.epsilon,
                       regularization=args.lam, seed=0)
    t0 = time.perf_counter()
    items = fit_wmf(fit_rows, params, show_progress=False).item_factors
    fit_s = time.perf_counter() - t0

    def metrics(u: np.ndarray, v: np.ndarray) -> tuple[float, float, float, int]:
        at10 = evaluate_item_vectors(u, v, history, test, k=10, show_progress=False)
        at500 = evaluate_item_vectors(u, v, history, test, k=500, show_progress=False)
        return at10["map"], at500["map"], at500["auc"], at500["users"]

    rows = []
    for vectors, label in ((items, "WMF item factors"), (unit(items), "unit item vectors (as the library stores them)")):
        for lam in args.user_lams:
            t0 = time.perf_counter()
            users = one_step_users(history, vectors, args.alpha, args.epsilon, lam)
            solve_ms = (time.perf_counter() - t0) / history.shape[0] * 1000
            mark = " ← app default λ" if lam == REGULARIZATION else ""
            rows.append((f"one-step user solve, {label}, λ={lam:g} ({solve_ms:.2f} ms/listener){mark}",
                         *metrics(users, vectors)))
    for k in args.clusters:
        t0 = time.perf_counter()
        scores = cluster_scores(history, unit(items), k, args.alpha, args.epsilon, REGULARIZATION)
        solve_ms = (time.perf_counter() - t0) / history.shape[0] * 1000
        # scores as factors: one-hot users × scores-as-items gives back the score matrix
        rows.append((f"{k} taste vectors per listener, unit item vectors, λ={REGULARIZATION:g} ({solve_ms:.2f} ms/listener)",
                     *metrics(np.eye(history.shape[0], dtype=np.float32), np.ascontiguousarray(scores.T))))
    rows.append(("mean of played items' unit vectors (Platt §6.2.1)",
                 *metrics(user_vectors_from_items(history, unit(items)), unit(items))))
    pop_u, pop_v = popularity_vectors(sp.vstack([fit_rows, history]).tocsr())
    rows.append(("popularity (#listeners)", *metrics(pop_u[: history.shape[0]], pop_v)))
    rows.append(("random vectors", *metrics(random_vectors(history.shape[0], args.factors, 1),
                                            random_vectors(counts.shape[1], args.factors, 2))))
    joint = fit_wmf(sp.vstack([fit_rows, history]).tocsr(), params, show_progress=False)
    rows.append(("reference: histories inside the WMF fit (ALS to convergence)",
                 *metrics(joint.user_factors[fit_rows.shape[0]:], joint.item_factors)))

    print(f"WMF item factors: f={args.factors}, α={args.alpha:g}, ε={args.epsilon:g}, λ={args.lam:g}, "
          f"{args.iterations} iterations, fitted in {fit_s:.1f} s on {fit_rows.shape[0]} users")
    width = max(len(r[0]) for r in rows)
    print(f"| {'new listener placed by':<{width}} | mAP@10 | mAP@500 |    AUC | listeners |")
    print(f"|{'-' * (width + 2)}|-------:|--------:|-------:|----------:|")
    for name, m10, m500, auc, users in rows:
        print(f"| {name:<{width}} | {m10:.4f} |  {m500:.4f} | {auc:.4f} | {users:>9} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
