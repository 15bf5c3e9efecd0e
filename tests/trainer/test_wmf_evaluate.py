"""WMF confidence, ranking metrics against brute-force references, splits, and WMF on real HetRec data."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

from trainer.data.hetrec import read_user_artists
from trainer.data.lastfm_tags import TagPairs
from trainer.evaluate import (
    ap_at_k,
    average_precision_rows,
    cold_start_evaluate,
    evaluate_item_vectors,
    holdout_split,
    item_split,
    popularity_vectors,
    random_vectors,
    user_vectors_from_items,
)
from trainer.tagproxy import tag_auc, top_tags
from trainer.wmf import WMFParams, confidence, fit_wmf, load_factors, save_factors

HETREC = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "hetrec" / "user_artists.dat"


# --------------------------------------------------------------------------- confidence

def test_confidence_matches_datasets_md_section5() -> None:
    c = confidence(sp.csr_matrix(np.array([[1.0, 0.0, 10.0]])), alpha=2.0, epsilon=1e-6)
    assert c.nnz == 2                                       # unplayed pairs stay implicit (c = 1)
    assert c.data[0] == pytest.approx(28.63, abs=0.01)      # 1 + 2·ln(1 + 1e6)
    assert c.data[1] == pytest.approx(1 + 2 * math.log1p(10 / 1e-6), rel=1e-6)
    c2 = confidence(sp.csr_matrix(np.array([[4.0]])), alpha=0.5, epsilon=2.0)
    assert c2.data[0] == pytest.approx(1 + 0.5 * math.log(3.0), rel=1e-6)


def test_confidence_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        confidence(sp.csr_matrix(np.ones((1, 1))), alpha=1.0, epsilon=0.0)


# --------------------------------------------------------------------------- AP@k

def test_ap_at_k_hand_examples() -> None:
    assert ap_at_k({1, 2}, [1, 2, 3]) == pytest.approx(1.0)
    assert ap_at_k({2}, [1, 2, 3]) == pytest.approx(0.5)
    assert ap_at_k({1, 3}, [1, 2, 3]) == pytest.approx((1 + 2 / 3) / 2)
    assert ap_at_k({9}, [1, 2, 3]) == 0.0
    # the normaliser is min(|relevant|, k): 3 relevant, k = 2, both slots hit -> 1.0
    assert ap_at_k({1, 2, 3}, [1, 2, 3], k=2) == pytest.approx(1.0)


def _reference_ap(actual: set, predicted: list, k: int) -> float:
    """datasets.md §7, written out independently."""
    hits, score = 0, 0.0
    for i, p in enumerate(predicted[:k]):
        if p in actual and p not in predicted[:i]:
            hits += 1
            score += hits / (i + 1)
    return score / min(len(actual), k) if actual else 0.0


def test_average_precision_rows_matches_reference() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        n, k = int(rng.integers(5, 40)), int(rng.integers(1, 30))
        actual = set(rng.choice(n, size=int(rng.integers(1, n)), replace=False).tolist())
        ranking = rng.permutation(n).tolist()
        hits = np.array([[p in actual for p in ranking[:k]]])
        got = average_precision_rows(hits, np.array([len(actual)]), k)[0]
        assert got == pytest.approx(_reference_ap(actual, ranking, k))
        assert ap_at_k(actual, ranking, k) == pytest.approx(_reference_ap(actual, ranking, k))


def _brute_force(u: np.ndarray, v: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix,
                 ks: tuple[int, ...]) -> tuple[dict[int, float], float, int]:
    """Per-user loops: candidate list, stable sort, reference AP; sklearn for the AUC."""
    aps: dict[int, list[float]] = {k: [] for k in ks}
    aucs = []
    for user in range(train.shape[0]):
        pos = set(test[user].indices.tolist())
        heard = set(train[user].indices.tolist())
        if not pos:
            continue
        cands = [i for i in range(v.shape[0]) if i not in heard]
        s = v[cands] @ u[user]
        ranking = [cands[j] for j in np.argsort(-s, kind="stable")]
        for k in ks:
            aps[k].append(_reference_ap(pos, ranking, k))
        aucs.append(roc_auc_score([c in pos for c in cands], s))
    return {k: float(np.mean(a)) for k, a in aps.items()}, float(np.mean(aucs)), len(aucs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluate_matches_brute_force_and_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items, f = 40, 120, 6
    counts = sp.random(n_users, n_items, density=0.15, random_state=seed, format="csr") * 10
    train, test = holdout_split(counts, test_fraction=0.3, seed=seed)
    u = rng.standard_normal((n_users, f)).astype(np.float32)
    v = rng.standard_normal((n_items, f)).astype(np.float32)
    ks = (1, 5, 50, 500)
    ref_map, ref_auc, ref_users = _brute_force(u, v, train, test, ks)
    for k in ks:
        got = evaluate_item_vectors(u, v, train, test, k=k, batch_size=7, show_progress=False)
        assert got["users"] == ref_users
        assert got["map"] == pytest.approx(ref_map[k], rel=1e-6)
        assert got["auc"] == pytest.approx(ref_auc, rel=1e-6)


def test_auc_counts_ties_as_half_like_sklearn() -> None:
    train = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0]]))
    test = sp.csr_matrix(np.array([[0, 1, 0, 1, 0, 0]]))
    item_scores = np.array([[9.0], [2.0], [2.0], [1.0], [1.0], [3.0]], dtype=np.float32)
    got = evaluate_item_vectors(np.ones((1, 1), np.float32), item_scores, train, test, show_progress=False)
    ref = roc_auc_score([1, 0, 1, 0, 0], [2.0, 2.0, 1.0, 1.0, 3.0])
    assert got["auc"] == pytest.approx(ref)


def test_random_baseline_is_near_chance() -> None:
    counts = sp.random(300, 400, density=0.05, random_state=3, format="csr")
    train, test = holdout_split(counts, 0.3, seed=3)
    u = random_vectors(300, 16, seed=4)
    got = evaluate_item_vectors(u, random_vectors(400, 16, seed=5), train, test, show_progress=False)
    assert got["auc"] == pytest.approx(0.5, abs=0.03)
    assert got["map"] < 0.1


# --------------------------------------------------------------------------- splits

def test_holdout_split_is_disjoint_and_complete() -> None:
    counts = sp.random(50, 80, density=0.2, random_state=0, format="csr")
    counts.data = np.ceil(counts.data * 5)
    train, test = holdout_split(counts, 0.25, min_items=3, seed=0)
    assert abs(train + test - counts).sum() == 0
    assert train.multiply(test).nnz == 0
    n = np.diff(counts.indptr)
    n_test, n_train = np.diff(test.indptr), np.diff(train.indptr)
    assert np.all(n_test[n < 3] == 0)
    assert np.all(n_train[n >= 3] >= 1) and np.all(n_test[n >= 3] >= 1)


def test_item_split_and_cold_start_upper_bound_beats_random() -> None:
    counts, true_u, true_v = _planted(200, 300, 8, seed=7)
    split = item_split(300, 0.2, seed=0)
    assert len(np.intersect1d(split.train, split.test)) == 0 and len(split.test) == 60
    upper = cold_start_evaluate(true_u, true_v[split.test], counts, split, show_progress=False)
    rand = cold_start_evaluate(true_u, random_vectors(60, 8, 1), counts, split, show_progress=False)
    assert upper["auc"] > rand["auc"] + 0.2


def test_user_vectors_from_items_are_unit_length() -> None:
    counts = sp.csr_matrix(np.array([[1, 2, 0], [0, 0, 3]], dtype=np.float32))
    u = user_vectors_from_items(counts, np.eye(3, dtype=np.float32))
    assert np.allclose(np.linalg.norm(u, axis=1), 1.0)
    assert np.allclose(u[1], [0, 0, 1])


def _planted(n_users: int, n_items: int, f: int, seed: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Play counts drawn from a planted low-rank taste model plus popularity."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n_users, f)).astype(np.float32)
    v = rng.standard_normal((n_items, f)).astype(np.float32)
    logits = u @ v.T + np.log(rng.pareto(1.5, n_items) + 0.1)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    plays = np.stack([rng.multinomial(int(rng.integers(20, 80)), row) for row in p])
    return sp.csr_matrix(plays.astype(np.float32)), u, v


# --------------------------------------------------------------------------- WMF + tags

def test_wmf_recovers_planted_tastes_and_roundtrips(tmp_path: Path) -> None:
    counts, _, true_v = _planted(300, 200, 8, seed=11)
    train, test = holdout_split(counts, 0.2, seed=0)
    params = WMFParams(factors=8, iterations=10, regularization=1.0, seed=0)
    fac = fit_wmf(train, params, show_progress=False)
    assert fac.user_factors.shape == (300, 8) and fac.item_factors.shape == (200, 8)
    wmf = evaluate_item_vectors(fac.user_factors, fac.item_factors, train, test, show_progress=False)
    pop = evaluate_item_vectors(*popularity_vectors(train), train, test, show_progress=False)
    assert wmf["auc"] > pop["auc"] and wmf["map"] > pop["map"]
    again = fit_wmf(train, params, show_progress=False)
    assert np.allclose(again.item_factors, fac.item_factors, atol=1e-4)      # seeded
    save_factors(tmp_path, fac, np.arange(300), np.arange(200) + 5, params)
    loaded, uids, iids = load_factors(tmp_path)
    assert np.array_equal(loaded.item_factors, fac.item_factors) and iids[0] == 5
    # tag proxy: tags that follow the true item tastes are predictable from the learned factors
    labels = (true_v[:, :4] > 0.8)
    res = tag_auc(fac.item_factors, labels, [f"t{i}" for i in range(4)], test_fraction=0.3, seed=0)
    assert res["mean_auc"] > 0.6 and res["n_tags"] >= 1


def test_top_tags_keeps_the_most_frequent_positive_tags() -> None:
    pairs = TagPairs(track_ids=["TRA", "TRB", "TRC", "TRX"], tags=["rock", "pop", "jazz"],
                     track_idx=np.array([0, 0, 1, 1, 2, 3, 3], np.int32),
                     tag_idx=np.array([0, 1, 0, 2, 2, 1, 2], np.int32),
                     values=np.array([100, 20, 80, 60, 51, 90, 90], np.float32))
    names, labels = top_tags(pairs, ["TRA", "TRB", "TRC", None], n=2, threshold=50.0)
    assert names == ["jazz", "rock"]                        # 2 positives each; TRX is no item
    assert labels.tolist() == [[False, True], [True, True], [True, False], [False, False]]


def _read_hetrec(path: Path) -> sp.csr_matrix:
    ua = read_user_artists(path)
    _, u_idx = np.unique(ua.user_ids, return_inverse=True)
    _, i_idx = np.unique(ua.artist_ids, return_inverse=True)
    return sp.csr_matrix((ua.weights.astype(np.float32), (u_idx, i_idx)))


@pytest.mark.skipif(not HETREC.exists(), reason=f"real HetRec play counts not found at {HETREC}")
def test_wmf_beats_popularity_on_real_hetrec_playcounts() -> None:
    counts = _read_hetrec(HETREC)
    train, test = holdout_split(counts, 0.2, min_items=5, seed=0)
    fac = fit_wmf(train, WMFParams(factors=32, iterations=10, regularization=1.0, seed=0), show_progress=False)
    wmf = evaluate_item_vectors(fac.user_factors, fac.item_factors, train, test, k=10, show_progress=False)
    pop = evaluate_item_vectors(*popularity_vectors(train), train, test, k=10, show_progress=False)
    assert wmf["users"] == pop["users"] > 1500
    assert wmf["map"] > pop["map"] * 1.2
    assert wmf["auc"] > pop["auc"]
