"""Tag-prediction proxy for the quality of item vectors (Platt 2017 ch. 5; van den Oord 2013 §5.1).

A logistic regression per tag maps item vectors to the top-n Last.fm tags (a tag is positive
when its Last.fm value is above 50, datasets.md §2.9); the score is the mean per-tag ROC AUC on
held-out items. Works on any vectors: WMF factors, CNN predictions, random vectors.

    >>> names, labels = top_tags(tags_by_item, n_items=len(item_ids), n=50)
    >>> tag_auc(item_factors, labels, names)["mean_auc"]
"""
from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

POSITIVE_ABOVE = 50.0


def top_tags(tags_by_item: Mapping[int, Iterable[tuple[str, float]]], n_items: int, n: int = 50,
             threshold: float = POSITIVE_ABOVE) -> tuple[list[str], np.ndarray]:
    """The ``n`` tags positive on most items, and the label matrix (n_items, n_tags) bool.

    ``tags_by_item`` maps an item row index to its ``(tag, value)`` pairs; ``value > threshold``
    makes the tag positive. Ties in frequency are broken by tag name, so the order is stable.
    """
    positive: dict[int, set[str]] = {}
    counts: Counter[str] = Counter()
    for item, pairs in tags_by_item.items():
        if not 0 <= item < n_items:
            raise ValueError(f"item index {item} outside 0..{n_items - 1}")
        pos = {tag for tag, val in pairs if float(val) > threshold}
        positive[item] = pos
        counts.update(pos)
    names = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]
    column = {t: j for j, t in enumerate(names)}
    labels = np.zeros((n_items, len(names)), dtype=bool)
    for item, pos in positive.items():
        for tag in pos & column.keys():
            labels[item, column[tag]] = True
    return names, labels


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = LogisticRegression(C=c, max_iter=1000).fit(xtr, ytr)
        per_tag[tag_names[j]] = float(roc_auc_score(yte, model.decision_function(xte)))
    result["per_tag"] = per_tag
    result["n_tags"] = len(per_tag)
    if per_tag:
        result["mean_auc"] = float(np.mean(list(per_tag.values())))
    return result
