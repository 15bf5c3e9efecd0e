"""Real-data figures on HetRec 2011 Last.fm-2k (1,892 users, 17,632 artists, real plays and tags).

1. Platt 2017 ch. 5, factor-quality proxy: WMF artist factors (all plays) -> one logistic regression
   per tag to the artists' 50 most frequent real tags (an artist has a tag when any user gave it)
   -> mean test ROC AUC (trainer.tagproxy.tag_auc: 80/20 split of the tagged artists), for several
   factor sizes and confidence scales alpha. Random vectors are the chance row.
2. van den Oord 2013 §5.2, cold start at artist level with a real content signal: WMF on all plays
   (as the paper: the factors of every song come from the usage data); 10 % of the tagged
   artists are held out; their factors are predicted from their tag profile (log(1 + users who
   gave each of the 1,000 commonest tags), L2-normalised) by ridge regression and by an MLP
   (torch, 256 ReLU, dropout 0.2, Adam, weight decay 1e-5), both fit on the other artists'
   factors (ridge penalty chosen on a validation part, MLP epochs by early stopping on one); every
   user ranks only the held-out artists by x_u . y_i: mAP@500 (datasets.md §7) and AUC, against
   random vectors and the upper bound (the held-out artists' true WMF factors).

    python benchmarks/hetrec_figures.py [--dir ../shared/fixtures/hetrec]

Prints two markdown tables (stdout); progress goes to stderr.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.data.hetrec import read_tag_assignments, read_tag_names, read_user_artists  # noqa: E402
from trainer.evaluate import cold_start_evaluate, item_split, random_vectors  # noqa: E402
from trainer.tagproxy import tag_auc  # noqa: E402
from trainer.wmf import WMFParams, fit_wmf  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "hetrec"


def load(folder: Path) -> tuple[sp.csr_matrix, sp.csr_matrix, list[str]]:
    """``(plays users x artists, tag counts artists x tags, tag names)``; artists = those with plays."""
    ua = read_user_artists(folder / "user_artists.dat")
    ta = read_tag_assignments(folder / "user_taggedartists.dat")
    names = read_tag_names(folder / "tags.dat")
    users, u = np.unique(ua.user_ids, return_inverse=True)
    artists, a = np.unique(ua.artist_ids, return_inverse=True)
    plays = sp.csr_matrix((ua.weights.astype(np.float32), (u, a)), shape=(len(users), len(artists)))
    tag_ids, t = np.unique(ta.tag_ids, return_inverse=True)
    col = np.searchsorted(artists, ta.artist_ids)
    known = (col < len(artists)) & (artists[np.minimum(col, len(artists) - 1)] == ta.artist_ids)
    tags = sp.csr_matrix((np.ones(known.sum(), np.float32), (col[known], t[known])),
                         shape=(len(artists), len(tag_ids)))
    tags.sum_duplicates()                        # users who gave the tag to the artist
    return plays, tags, [names.get(int(i), str(i)) for i in tag_ids]


def top_tag_labels(tags: sp.csr_matrix, names: list[str], n: int = 50) -> tuple[list[str], np.ndarray]:
    """The ``n`` tags given to most artists and the (artists, n) bool labels."""
    given = (tags > 0).astype(np.int32)
    order = np.argsort(-np.asarray(given.sum(axis=0)).ravel(), kind="stable")[:n]
    return [names[j] for j in order], given[:, order].toarray().astype(bool)


def tag_profile(tags: sp.csr_matrix, vocab: int = 1000) -> np.ndarray:
    """``log1p`` counts of the ``vocab`` commonest tags per artist, L2-normalised rows (float32)."""
    order = np.argsort(-np.asarray((tags > 0).sum(axis=0)).ravel(), kind="stable")[:vocab]
    x = tags[:, order].toarray().astype(np.float32)
    x = np.log1p(x)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def factor_quality(plays: sp.csr_matrix, labels: np.ndarray, names: list[str], sizes: list[int],
                   alphas: list[float], args: argparse.Namespace) -> list[tuple[str, float, int, int]]:
    rows = []
    for f in sizes:
        for alpha in alphas:
            t0 = time.perf_counter()
            fac = fit_wmf(plays, WMFParams(factors=f, alpha=alpha, epsilon=args.epsilon, regularization=args.lam,
                                           iterations=args.iterations, seed=0), show_progress=False)
            r = tag_auc(fac.item_factors, labels, names, seed=0, show_progress=False)
            rows.append((f"WMF f={f}, α={alpha:g}", r["mean_auc"], r["n_tags"], r["n_test"]))
            print(f"  f={f} α={alpha:g}: AUC {r['mean_auc']:.4f} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    r = tag_auc(random_vectors(plays.shape[1], max(sizes), 3), labels, names, seed=0, show_progress=False)
    rows.append((f"random vectors (d={max(sizes)})", r["mean_auc"], r["n_tags"], r["n_test"]))
    return rows


def _ridge(xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray) -> tuple[object, float]:
    from sklearn.linear_model import Ridge
    best = min((float(((Ridge(alpha=a).fit(xtr, ytr).predict(xva) - yva) ** 2).mean()), a)
               for a in (0.01, 0.1, 1.0, 10.0))
    return Ridge(alpha=best[1]), best[1]


class _TorchMLP:
    """Tag profile -> 256 ReLU -> dropout -> factors, Adam on MSE, early stopping on a validation part."""

    def __init__(self, weight_decay: float, seed: int = 0) -> None:
        self.weight_decay, self.seed, self.net = weight_decay, seed, None

    def fit(self, x: np.ndarray, y: np.ndarray, patience: int = 4, max_epochs: int = 40) -> _TorchMLP:
        import torch
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        perm = rng.permutation(len(x))
        val, tr = perm[:len(x) // 10], perm[len(x) // 10:]
        xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 256), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                  torch.nn.Linear(256, y.shape[1]))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=self.weight_decay)
        best, best_state, bad = np.inf, None, 0
        for _ in range(max_epochs):
            net.train()
            order = rng.permutation(tr)
            for start in range(0, len(tr), 256):
                b = torch.from_numpy(order[start:start + 256])
                loss = ((net(xt[b]) - yt[b]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                v = float(((net(xt[val]) - yt[val]) ** 2).mean())
            if v < best - 1e-7:
                best, bad, best_state = v, 0, {k: t.clone() for k, t in net.state_dict().items()}
            else:
                bad += 1
                if bad >= patience:
                    break
        net.load_state_dict(best_state)
        self.net = net.eval()
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        import torch
        with torch.no_grad():
            return self.net(torch.from_numpy(x.astype(np.float32))).numpy()


def _mlp(xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray) -> tuple[object, float]:
    """One setting (weight decay 1e-5); early stopping on its own validation part decides the epochs."""
    return _TorchMLP(1e-5), 1e-5


def cold_start(plays: sp.csr_matrix, tags: sp.csr_matrix, args: argparse.Namespace) -> list[tuple]:
    fac = fit_wmf(plays, WMFParams(factors=args.cold_factors, alpha=args.cold_alpha, epsilon=args.epsilon,
                                   regularization=args.lam, iterations=args.iterations, seed=0), show_progress=False)
    x = tag_profile(tags, args.vocab)
    tagged = np.asarray(tags.sum(axis=1)).ravel() > 0
    split = item_split(plays.shape[1], 0.1, seed=args.seed, eligible=tagged)
    train = np.setdiff1d(np.flatnonzero(tagged), split.test)          # regression: tagged artists only
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(train)
    n_val = len(perm) // 10
    val, fit_rows = perm[:n_val], perm[n_val:]
    y = fac.item_factors
    rows = [("random vectors", random_vectors(len(split.test), y.shape[1], 4), "")]
    for label, choose in (("linear regression (ridge) on tag profile", _ridge), ("MLP (256 ReLU, dropout 0.2) on tag profile", _mlp)):
        t0 = time.perf_counter()
        model, reg = choose(x[fit_rows], y[fit_rows], x[val], y[val])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x[train], y[train])
        rows.append((label, model.predict(x[split.test]).astype(np.float32), f"reg {reg:g}"))
        print(f"  {label}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    rows.append(("upper bound (true WMF factors)", y[split.test], ""))
    out = []
    for name, vecs, note in rows:
        m = cold_start_evaluate(fac.user_factors, vecs, plays, split, k=500, show_progress=False)
        out.append((name, m["map"], m["auc"], m["users"], note))
    return out, len(split.test), len(train)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=DEFAULT)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40, 80])
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.5, 2.0, 8.0])
    ap.add_argument("--epsilon", type=float, default=1e-6)
    ap.add_argument("--lam", type=float, default=10.0, help="WMF λ")
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--cold-factors", type=int, default=40)
    ap.add_argument("--cold-alpha", type=float, default=2.0)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("proxy", "cold"), help="print one of the two tables")
    args = ap.parse_args()
    if not (args.dir / "user_artists.dat").exists():
        print(f"skipped: {args.dir} has no HetRec files")
        return 0
    plays, tags, names = load(args.dir)
    top, labels = top_tag_labels(tags, names, 50)
    print(f"HetRec Last.fm-2k: {plays.shape[0]} users x {plays.shape[1]} artists, {plays.nnz} play counts, "
          f"{int(tags.sum())} tag assignments on played artists, {int(labels.any(axis=1).sum())} artists with a "
          f"top-50 tag (ε={args.epsilon:g}, λ={args.lam:g}, {args.iterations} ALS iterations)")
    if args.only != "cold":
        _print_proxy(plays, labels, top, args)
    if args.only != "proxy":
        _print_cold(plays, tags, args)
    return 0


def _print_proxy(plays: sp.csr_matrix, labels: np.ndarray, top: list[str], args: argparse.Namespace) -> None:
    print("\nFactor-quality proxy (Platt ch. 5): mean test AUC of 50 per-tag logistic regressions on artist vectors\n")
    print("| artist vectors | mean AUC (top-50 tags) | tags | test artists |")
    print("|---|---:|---:|---:|")
    for name, auc, n_tags, n_test in factor_quality(plays, labels, top, args.sizes, args.alphas, args):
        print(f"| {name} | {auc:.4f} | {n_tags} | {n_test} |")


def _print_cold(plays: sp.csr_matrix, tags: sp.csr_matrix, args: argparse.Namespace) -> None:
    rows, n_test, n_train = cold_start(plays, tags, args)
    print(f"\nCold start (van den Oord §5.2 at artist level): {n_test} held-out tagged artists, regression fit on "
          f"{n_train}; WMF f={args.cold_factors}, α={args.cold_alpha:g}; users rank only the held-out artists\n")
    print("| model | mAP@500 | AUC | users | note |")
    print("|---|---:|---:|---:|---|")
    for name, m, auc, users, note in rows:
        print(f"| {name} | {m:.4f} | {auc:.4f} | {users} | {note} |")


if __name__ == "__main__":
    raise SystemExit(main())
