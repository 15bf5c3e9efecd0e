"""Tag-prediction proxy for the quality of item vectors (Platt 2017 ch. 5; van den Oord 2013 §5.1).

A logistic regression per tag maps item vectors to the top-n Last.fm tags (a tag is positive
when its Last.fm value is above 50, datasets.md §2.9); the score is the mean per-tag ROC AUC on
held-out items. Works on any vectors: WMF factors, CNN predictions, random vectors.

    >>> names, labels = top_tags(read_lastfm_tags_db("lastfm_tags.db"), item_msd_track_ids, n=50)
    >>> tag_auc(item_factors, labels, names)["mean_auc"]
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from trainer.data.lastfm_tags import POSITIVE_ABOVE, TagPairs, tag_matrix

log = logging.getLogger(__name__)


def top_tags(pairs: TagPairs, item_track_ids: Sequence[str | None], n: int = 50,
             threshold: float = POSITIVE_ABOVE) -> tuple[list[str], np.ndarray]:
    """The ``n`` tags positive on most items, and the labels (n_items, n_tags) bool.

    ``pairs`` come from :func:`trainer.data.lastfm_tags.read_lastfm_tags_db`; item i is the MSD
    track ``item_track_ids[i]`` (None: no MSD track, no tags). Ties in frequency go by tag name.
    """
    row_of = {t: i for i, t in enumerate(item_track_ids) if t is not None}
    track_row = np.array([row_of.get(t, -1) for t in pairs.track_ids], dtype=np.int64)
    rows = track_row[pairs.track_idx] if len(pairs) else np.zeros(0, np.int64)
    positive = (rows >= 0) & (pairs.values > threshold)
    counts = np.bincount(pairs.tag_idx[positive], minlength=len(pairs.tags))
    order = sorted(np.flatnonzero(counts).tolist(), key=lambda j: (-counts[j], pairs.tags[j]))
    names = [pairs.tags[j] for j in order[:n]]
    keys = [t if t is not None else "" for t in item_track_ids]
    return names, tag_matrix(pairs, keys, names, threshold)


def tag_auc(item_vectors: np.ndarray, labels: np.ndarray, tag_names: list[str],
            test_fraction: float = 0.2, seed: int = 0, c: float = 1.0, only_tagged: bool = True,
            show_progress: bool = True) -> dict:
    """Mean per-tag test AUC of logistic regressions ``item_vectors`` (n, f) → ``labels`` (n, t).

    Items are split at random (``test_fraction`` to test); with ``only_tagged`` only items with at
    least one positive tag take part, like the MSD tag split. Tags with one class in train or test
    are skipped. Returns ``{"mean_auc", "per_tag", "n_tags", "n_train", "n_test"}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    x, y = np.asarray(item_vectors, dtype=np.float64), np.asarray(labels, dtype=bool)
    if x.shape[0] != y.shape[0] or y.shape[1] != len(tag_names):
        raise ValueError(f"vectors {x.shape}, labels {y.shape} and {len(tag_names)} tag names disagree")
    rows = np.flatnonzero(y.any(axis=1)) if only_tagged else np.arange(len(x))
    rng = np.random.default_rng(seed)
    rows = rng.permutation(rows)
    n_test = int(round(len(rows) * test_fraction))
    test, train = rows[:n_test], rows[n_test:]
    result = {"mean_auc": float("nan"), "per_tag": {}, "n_tags": 0, "n_train": len(train), "n_test": len(test)}
    if len(train) < 2 or len(test) < 2:
        log.warning("tag proxy: too few tagged items (%d) to split", len(rows))
        return result
    scaler = StandardScaler().fit(x[train])
    xtr, xte = scaler.transform(x[train]), scaler.transform(x[test])
    per_tag: dict[str, float] = {}
    for j in tqdm(range(len(tag_names)), desc="tag proxy", unit="tag", disable=not show_progress, leave=False):
        ytr, yte = y[train, j], y[test, j]
        if ytr.min() == ytr.max() or yte.min() == yte.max():
            continue
        with warnings.catch_warnings(), threadpool_limits(1, "blas"):   # small fits: threads only cost
            warnings.simplefilter("ignore")
            model = LogisticRegression(C=c, max_iter=1000).fit(xtr, ytr)
        per_tag[tag_names[j]] = float(roc_auc_score(yte, model.decision_function(xte)))
    result["per_tag"] = per_tag
    result["n_tags"] = len(per_tag)
    if per_tag:
        result["mean_auc"] = float(np.mean(list(per_tag.values())))
    return result


def tag_proxy(tags_db: Path, item_track_ids: Sequence[str | None], vectors: dict[str, np.ndarray], n: int = 50,
              test_fraction: float = 0.2, seed: int = 0, show_progress: bool = True) -> dict:
    """Top-``n`` tags of ``lastfm_tags.db`` over the items, then :func:`tag_auc` for each named
    set of item vectors (n_items, f). Returns ``{"top_tags", "items_tagged", "models": {name: ...}}``."""
    from trainer.data.lastfm_tags import read_lastfm_tags_db

    names, labels = top_tags(read_lastfm_tags_db(tags_db), item_track_ids, n=n)
    models = {}
    for name, vecs in vectors.items():
        r = tag_auc(vecs, labels, names, test_fraction, seed, show_progress=show_progress)
        models[name] = {"AUC": r["mean_auc"], "tags": r["n_tags"], "test items": r["n_test"]}
    return {"top_tags": names, "items_tagged": int(labels.any(axis=1).sum()), "models": models}
