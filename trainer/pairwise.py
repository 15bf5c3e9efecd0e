"""Zhao & Pu's pairwise model: a siamese CNN says whether two songs are similar (Last.fm similars).

Two log-mel windows go through one embedding tower (:class:`core.model.ZhaoPu2018`, shared
weights); the pair is ``[h1, h2, h1 . h2]`` (the two flattened embeddings and their dot product,
as in the paper), then dense 100 (sigmoid) -> dense 30 (ReLU) -> one logit, binary cross-entropy.
The target is 1 when the Last.fm similarity score is >= ``threshold`` (0.5). The listed pairs are
mostly dissimilar (9:1 in the paper), so the loss is weighted: ``class`` weights (positives count
``class_weight`` times, default n_neg / n_pos; the paper: 10) or ``sample`` weights (1 / the
kernel-density estimate of the score, bandwidth 0.2). Songs, not pairs, are split: test pairs
join two test songs, so the model has never heard them; the test set is balanced by dropping
majority-class pairs at random, and accuracy there is the headline number (chance = 0.5).

    [pairwise]
    threshold = 0.5
    weighting = "class"     # "class", "sample" or "none"
    epochs = 20

The stage saves the tower (``tower.pt``) and its card config; ``cbrec-train export-pairwise``
writes it as an app model with a card, to be compared on ``benchmarks/quality.py``.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

import trainer.train_stages  # noqa: F401 - the features stage first: stage order is registration order
from trainer.config import EXTRA_SECTIONS
from trainer.pipeline import Context, Stage, StageError, register

log = logging.getLogger(__name__)

ARCH = "zhaopu2018"
KEYS: dict[str, Any] = {"threshold": 0.5, "weighting": "class", "class_weight": 0.0, "kde_bandwidth": 0.2,
                        "test_fraction": 0.2, "val_fraction": 0.1, "random_negatives": 0.0, "similars": "",
                        "params": {}, "window_seconds": 0.0, "epochs": 20, "patience": 5, "batch_size": 32,
                        "lr": 1e-3, "weight_decay": 0.0, "seed": 0, "threads": 0, "device": "auto"}
EXTRA_SECTIONS.add("pairwise")


class PairNet(nn.Module):
    """Siamese pair classifier around a shared embedding ``tower``."""

    def __init__(self, tower: nn.Module) -> None:
        super().__init__()
        self.tower = tower
        d = tower.output_dim
        self.head = nn.Sequential(nn.Linear(2 * d + 1, 100), nn.Sigmoid(), nn.Linear(100, 30), nn.ReLU(),
                                  nn.Linear(30, 1))

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Windows ``(batch, n_mels, frames)`` of the two songs -> ``(batch,)`` logits of "similar"."""
        ha, hb = self.tower(a), self.tower(b)
        return self.head(torch.cat([ha, hb, (ha * hb).sum(dim=1, keepdim=True)], dim=1)).squeeze(1)


def settings(ctx: Context) -> dict[str, Any]:
    given = ctx.config.extra.get("pairwise", {})
    unknown = sorted(set(given) - set(KEYS))
    if unknown:
        raise StageError(f"unknown key(s) {unknown} in [pairwise]; known keys: {sorted(KEYS)}")
    s = {**KEYS, **given}
    if s["weighting"] not in ("class", "sample", "none"):
        raise StageError("[pairwise] weighting must be 'class', 'sample' or 'none'")
    return s


# --------------------------------------------------------------------------- pairs
def pair_table(ctx: Context, s: dict[str, Any], row_items: np.ndarray, ok: np.ndarray) -> dict[str, np.ndarray]:
    """Unordered song pairs among store rows: ``a``, ``b`` (rows) and ``score``, plus a ``test``
    mask of songs; random unlisted pairs (score 0) when ``random_negatives`` > 0."""
    from trainer.data.badrows import BadRows
    from trainer.data.lastfm_similars import read_similars
    from trainer.data_stages import data_paths
    source = ctx.config.resolve(s["similars"]) if s["similars"] else None
    if source is None:
        msd = data_paths(ctx)["msd_dir"]
        source = msd / "lastfm_train" if msd is not None else None
    if source is None or not source.exists():
        raise StageError(f"no Last.fm similars at {source}; set [pairwise] similars (a lastfm_train folder or zip)")
    bad = BadRows()
    pairs = read_similars(source, bad)
    tracks = np.load(ctx.dir("match") / "item_tracks.npy").tolist()
    row_of = {tracks[i]: r for r, i in enumerate(row_items.tolist()) if ok[r]}
    best: dict[tuple[int, int], float] = {}
    for src, dst, v in zip(pairs.source_ids, pairs.target_ids, pairs.scores.tolist(), strict=True):
        if src in row_of and dst in row_of and src != dst:
            key = tuple(sorted((row_of[src], row_of[dst])))
            best[key] = max(best.get(key, 0.0), v)
    if not best:
        raise StageError(f"none of the {len(pairs)} similar pairs in {source} joins two songs with audio features")
    rng = np.random.default_rng(s["seed"])
    keys = sorted(best)
    extra = int(round(len(keys) * float(s["random_negatives"])))
    songs = np.array(sorted({r for k in keys for r in k}))
    listed = set(keys)
    tries = 0
    while extra > 0 and tries < 20 * extra + 100:
        a, b = (int(x) for x in rng.choice(songs, 2, replace=False))
        key = (min(a, b), max(a, b))
        tries += 1
        if key not in listed:
            listed.add(key)
            best[key] = 0.0
            keys.append(key)
            extra -= 1
    ab = np.array(keys, dtype=np.int64)
    test_songs = np.zeros(len(row_items), dtype=bool)
    test_songs[rng.choice(songs, int(round(len(songs) * s["test_fraction"])), replace=False)] = True
    return {"a": ab[:, 0], "b": ab[:, 1], "score": np.array([best[k] for k in keys], np.float32),
            "test_song": test_songs, "bad_similars": np.array(bad.count)}


def split_pairs(t: dict[str, np.ndarray], s: dict[str, Any]) -> dict[str, np.ndarray]:
    """Pair indices for ``train`` / ``val`` (both songs train songs) and a balanced ``test`` (both test songs)."""
    rng = np.random.default_rng(s["seed"] + 1)
    ta, tb = t["test_song"][t["a"]], t["test_song"][t["b"]]
    train_pool, test_pool = np.flatnonzero(~ta & ~tb), np.flatnonzero(ta & tb)
    label = t["score"] >= s["threshold"]
    pos, neg = test_pool[label[test_pool]], test_pool[~label[test_pool]]
    n = min(len(pos), len(neg))
    test = np.sort(np.concatenate([rng.choice(pos, n, replace=False), rng.choice(neg, n, replace=False)]))
    perm = rng.permutation(train_pool)
    n_val = int(round(len(perm) * s["val_fraction"])) if len(perm) > 10 else 0
    return {"train": np.sort(perm[n_val:]), "val": np.sort(perm[:n_val]), "test": test}


def pair_weights(scores: np.ndarray, labels: np.ndarray, s: dict[str, Any]) -> np.ndarray:
    """Per-pair loss weights: class weights, 1 / KDE density of the score, or ones (mean 1 for samples)."""
    if s["weighting"] == "class":
        n_pos, n_neg = int(labels.sum()), int((~labels).sum())
        w_pos = float(s["class_weight"]) or (n_neg / max(n_pos, 1))
        return np.where(labels, w_pos, 1.0).astype(np.float32)
    if s["weighting"] == "sample":
        bw = float(s["kde_bandwidth"])
        diff = (scores[:, None] - scores[None, :]) / bw if len(scores) <= 4000 else None
        if diff is None:
            grid = np.linspace(0, 1, 201)
            dens_grid = np.exp(-0.5 * ((grid[:, None] - scores[None, :]) / bw) ** 2).mean(axis=1)
            density = np.interp(scores, grid, dens_grid)
        else:
            density = np.exp(-0.5 * diff ** 2).mean(axis=1)
        w = 1.0 / np.maximum(density, 1e-6)
        return (w / w.mean()).astype(np.float32)
    return np.ones(len(scores), dtype=np.float32)


# --------------------------------------------------------------------------- training
def _windows(store: Any, rows: np.ndarray, window: int, rng: np.random.Generator | None) -> Tensor:
    """One window per row: random start when ``rng`` is given, else the centre."""
    last = max(store.steps - window, 0)
    starts = rng.integers(0, last + 1, size=len(rows)) if rng is not None else np.full(len(rows), last // 2)
    return torch.from_numpy(np.stack([store.crop(int(r), int(st), window) for r, st in zip(rows, starts, strict=True)]))


def _scores(net: PairNet, store: Any, t: dict[str, np.ndarray], idx: np.ndarray, window: int,
            device: torch.device) -> np.ndarray:
    net.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(idx), 64):
            k = idx[start:start + 64]
            out.append(torch.sigmoid(net(_windows(store, t["a"][k], window, None).to(device),
                                         _windows(store, t["b"][k], window, None).to(device))).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _metrics(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score
    pred = p >= 0.5
    m = {"accuracy": float((pred == y).mean()) if len(y) else float("nan"),
         "sensitivity": float(pred[y].mean()) if y.any() else float("nan"),
         "specificity": float((~pred[~y]).mean()) if (~y).any() else float("nan"), "pairs": int(len(y))}
    m["auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
    return m


def train_pairwise(ctx: Context) -> dict[str, Any]:
    """The ``pairwise`` stage: build pairs, train, keep the best epoch (validation loss), test."""
    from core.model import build_net, resolve_device
    from trainer.dataset import window_steps
    from trainer.train_stages import open_store
    s = settings(ctx)
    torch.manual_seed(s["seed"])
    if s["threads"]:
        torch.set_num_threads(int(s["threads"]))
    store, row_items = open_store(ctx, ARCH)
    t = pair_table(ctx, s, row_items, store.ok)
    parts = split_pairs(t, s)
    if len(parts["train"]) < 2 or len(parts["test"]) < 2:
        raise StageError(f"too few pairs: {len(parts['train'])} for training, {len(parts['test'])} balanced test pairs")
    label = t["score"] >= s["threshold"]
    weights = pair_weights(t["score"][parts["train"]], label[parts["train"]], s)
    cfg = build_net(ARCH, {}).default_config()
    params = {**cfg["params"], **s["params"]}
    cfg["params"] = params
    cfg["window_seconds"] = float(s["window_seconds"]) or cfg["window_seconds"]
    window = window_steps(store, cfg["window_seconds"])
    device = resolve_device(s["device"])
    net = PairNet(build_net(ARCH, params)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    out = ctx.dir("pairwise")
    rng = np.random.default_rng(s["seed"] + 2)
    best, best_epoch, bad_epochs, t0, history = np.inf, 0, 0, time.monotonic(), []
    val_idx = parts["val"] if len(parts["val"]) else parts["train"]
    bce = nn.BCEWithLogitsLoss(reduction="none")
    for epoch in range(int(s["epochs"])):
        net.train()
        order = rng.permutation(len(parts["train"]))
        total = 0.0
        batches = range(0, len(order), int(s["batch_size"]))
        for start in tqdm(batches, desc=f"pairwise {epoch + 1}/{s['epochs']}", disable=not ctx.show_progress, leave=False):
            pos = order[start:start + int(s["batch_size"])]
            if len(pos) < 2:
                continue
            k = parts["train"][pos]
            xa, xb = _windows(store, t["a"][k], window, rng), _windows(store, t["b"][k], window, rng)
            logits = net(xa.to(device), xb.to(device))
            y = torch.from_numpy(label[k].astype(np.float32)).to(device)
            loss = (bce(logits, y) * torch.from_numpy(weights[pos]).to(device)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(pos)
        p_val = _scores(net, store, t, val_idx, window, device)
        y_val = label[val_idx]
        w_val = pair_weights(t["score"][val_idx], y_val, s)
        eps = 1e-6
        val_loss = float(-(w_val * (y_val * np.log(p_val + eps) + (~y_val) * np.log(1 - p_val + eps))).mean())
        history.append({"epoch": epoch + 1, "train_loss": total / len(order), "val_loss": val_loss,
                        "val_accuracy": _metrics(p_val, y_val)["accuracy"]})
        log.info("pairwise epoch %d: train loss %.4f, val loss %.4f", epoch + 1, history[-1]["train_loss"], val_loss)
        if val_loss < best - 1e-6:
            best, best_epoch, bad_epochs = val_loss, epoch + 1, 0
            torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, out / "pairnet.pt")
        else:
            bad_epochs += 1
            if bad_epochs >= int(s["patience"]):
                break
    net.load_state_dict(torch.load(out / "pairnet.pt", map_location=device, weights_only=True))
    torch.save({k: v.cpu() for k, v in net.tower.state_dict().items()}, out / "tower.pt")
    (out / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history), encoding="utf-8")
    (out / "card_config.json").write_text(json.dumps({"architecture": ARCH, **cfg}, indent=1) + "\n", encoding="utf-8")
    scored = dict(parts)                     # training accuracy on at most 1,000 of its pairs (cost)
    if len(scored["train"]) > 1000:
        scored["train"] = np.sort(np.random.default_rng(s["seed"] + 3).choice(scored["train"], 1000, replace=False))
    result = {name: _metrics(_scores(net, store, t, scored[name], window, device), label[scored[name]])
              for name in ("train", "val", "test") if len(scored[name])}
    n_pos = int(label[parts["train"]].sum())
    summary = {"pairs": int(len(t["a"])), "train_pairs": int(len(parts["train"])), "val_pairs": int(len(parts["val"])),
               "balanced_test_pairs": int(len(parts["test"])), "test_songs": int(t["test_song"].sum()),
               "train_negatives_per_positive": round((len(parts["train"]) - n_pos) / max(n_pos, 1), 2),
               "weighting": s["weighting"], "epochs": len(history), "best_epoch": best_epoch,
               "seconds": round(time.monotonic() - t0, 1), "device": str(device),
               "bad_similars": int(t["bad_similars"]), **{f"{k}_{m}": v for k, r in result.items() for m, v in r.items()
                                                          if m != "pairs"}}
    summary["tables"] = {"Pairwise similarity (Zhao & Pu)": [["siamese CNN, balanced test set (chance 0.5)", {
        "accuracy": summary.get("test_accuracy"), "AUC": summary.get("test_auc"),
        "sensitivity": summary.get("test_sensitivity"), "specificity": summary.get("test_specificity"),
        "pairs": summary["balanced_test_pairs"]}]]}
    return summary


# --------------------------------------------------------------------------- export
def export_tower(ctx: Context, name: str, out_dir: Path, extra_metrics: dict[str, Any] | None = None,
                 force: bool = False) -> Any:
    """Write ``out_dir/<name>.pt`` + ``.json`` (card) from the pairwise stage's tower; a different
    model already there is replaced only with ``force`` (trainer.export.save_model_safely)."""
    from core.model import ModelCard, build_net
    from trainer.export import save_model_safely
    summary = ctx.summary("pairwise")
    folder = ctx.dir("pairwise")
    cfg = json.loads((folder / "card_config.json").read_text(encoding="utf-8"))
    arch = cfg.pop("architecture")
    net = build_net(arch, cfg["params"])
    net.load_state_dict(torch.load(folder / "tower.pt", map_location="cpu", weights_only=True))
    trained_on = {"experiment": ctx.config.name, "out_dir": str(ctx.out_dir), "task": "Last.fm similar pairs",
                  "pairs": {"train": summary["train_pairs"], "validation": summary["val_pairs"],
                            "balanced_test": summary["balanced_test_pairs"]}}
    metrics = {k: summary[k] for k in ("test_accuracy", "test_auc", "test_sensitivity", "test_specificity") if k in summary}
    metrics.update(extra_metrics or {})
    training = {"device": summary["device"], "gpu": summary["device"].startswith("cuda"), "seconds": summary["seconds"],
                "epochs": summary["epochs"], "best_epoch": summary["best_epoch"], "settings": settings(ctx)}
    card = ModelCard.from_config(name, arch, cfg, trained_on=trained_on, metrics=metrics, training=training)
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_model_safely(net.eval(), card, out_dir, name, force)[0]


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    from trainer.export import add_export_arguments
    add_export_arguments(p, " (with a finished [pairwise] stage)")
    p.add_argument("--name", default="pairwise", help="model name: <dir>/<name>.pt + .json")


def run_export(args: argparse.Namespace) -> int:
    from trainer.export import open_export
    ctx, extra, out_dir = open_export(args)
    card = export_tower(ctx, args.name, out_dir, extra, force=args.force)
    print(f"wrote {out_dir / (args.name + '.pt')} and {out_dir / (args.name + '.json')} "
          f"(analysis version {card.analysis_version})")
    return 0


register(Stage("pairwise", train_pairwise, needs=("features", "match"), sections=("pairwise",),
               enabled=lambda cfg: "pairwise" in cfg.extra,
               help="Zhao & Pu: siamese CNN on Last.fm similar pairs (balanced test accuracy); "
                    "its tower exports with `export-pairwise`"))
