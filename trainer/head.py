"""``[head]``: a pretrained backbone, frozen, and heads fitted to the WMF item factors.

The "pretrained backbone + head" row of the Table-2 reproduction (issue 11, part 3). For every
item clip of the experiment the backbone (by default the bundled musicnn port,
``resources/models/musicnn.pt``) gives its raw penultimate for each of the card's windows (decoded
with :func:`core.audio.load_windows` at the backbone's sample rate); a clip's *pooled* vector is
their mean. On the training items two heads learn to map the pooled vector to the item factors
(unit length unless ``normalise_targets = false``, like the baseline and the MSE runs):

* ``linear``: ridge regression on standardised inputs, the penalty chosen among ``ridge_alphas`` by
  a ``ridge_folds``-fold cross-validation over the training + validation items (0: on the
  validation items alone), then refitted on all of them (as the bag of words is);
* ``mlp``: ``Linear -> ReLU -> Dropout -> Linear`` trained full-batch with Adam on MSE, the
  epoch of lowest validation loss kept.

The backbone's per-window penultimates are cached under ``<out_dir>/cache/head/<backbone
version>-w<windows>/`` (resumable; a re-run of the stage decodes nothing), the pooled vectors of
the rows are also written to ``<out_dir>/head/pooled.npy``. Each head's folder
(``<out_dir>/head/<linear|mlp>/``) holds ``predictions.npy`` + ``row_items.npy`` + ``*_rows.npy``
like a fit run, which :mod:`trainer.report` scores on the same cold-start songs, and ``head.pt``
(the head as plain layers on the raw penultimate, standardisation folded in) for
:mod:`trainer.head_export`.

    [head]
    backbone = "resources/models/musicnn.pt"   # default: the bundled musicnn
    heads = ["linear", "mlp"]
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from trainer.config import EXTRA_SECTIONS
from trainer.pipeline import Context, Stage, StageError, register

log = logging.getLogger(__name__)

REPO_MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"
HEAD_KEYS: dict[str, Any] = {
    "backbone": "", "n_windows": 0, "threads": 1, "heads": ["linear", "mlp"], "val_fraction": 0.1, "seed": 0,
    "normalise_targets": True, "ridge_folds": 5,
    "ridge_alphas": [0.1, 1.0, 10.0, 100.0, 1000.0, 3000.0, 10000.0, 30000.0, 100000.0, 1000000.0],
    "mlp_hidden": 256, "mlp_dropout": 0.3, "mlp_epochs": 400, "mlp_patience": 40, "mlp_lr": 0.001,
    "mlp_weight_decay": 0.001,
}
HEAD_KINDS = ("linear", "mlp")
EXTRA_SECTIONS.add("head")


def head_settings(ctx: Context) -> dict[str, Any]:
    """``[head]`` overlaid on :data:`HEAD_KEYS`; unknown keys and heads are a StageError."""
    given = ctx.config.extra.get("head", {})
    unknown = sorted(set(given) - set(HEAD_KEYS))
    if unknown:
        raise StageError(f"unknown key(s) {unknown} in [head]; known keys: {sorted(HEAD_KEYS)}")
    s = {**HEAD_KEYS, **given}
    bad = [h for h in s["heads"] if h not in HEAD_KINDS]
    if bad or not s["heads"]:
        raise StageError(f"[head] heads must name some of {list(HEAD_KINDS)}, not {s['heads']}")
    return s


def backbone_path(ctx: Context) -> Path:
    """The backbone model file ``[head] backbone`` names (relative to the experiment file), default musicnn."""
    given = head_settings(ctx)["backbone"]
    path = ctx.config.resolve(given, "head.backbone") if given else REPO_MODELS / "musicnn.pt"
    if not path.exists():
        raise StageError(f"no backbone model at {path}; set [head] backbone to a cbrec model (.pt + .json)")
    return path


# --------------------------------------------------------------------------- backbone features
def _save_cache(path: Path, paths: list[str], windows: np.ndarray, ok: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, paths=np.asarray(paths, dtype=str), windows=windows, ok=ok)
    os.replace(tmp, path)


def backbone_windows(clips: list[str], model: Path, cache_root: Path, n_windows: int = 0, threads: int = 1,
                     show_progress: bool = False) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Frozen backbone outputs of each clip's windows: ``(n, windows, dim)`` float32 and an ok mask (n,).

    Cached in ``cache_root/<analysis version>-w<windows>/windows.npz`` by clip path (saved every
    16 clips, so an interrupted run resumes); a clip that does not decode is not ok (zeros)."""
    from tqdm.auto import tqdm

    from core.audio import load_windows
    from core.errors import AudioError
    from core.model import load_model
    emb = load_model(model, device="cpu")
    n_win = int(n_windows or emb.n_windows)
    folder = cache_root / f"{emb.version}-w{n_win}"
    folder.mkdir(parents=True, exist_ok=True)
    cache_file = folder / "windows.npz"
    known: dict[str, tuple[np.ndarray, bool]] = {}
    if cache_file.exists():
        with np.load(cache_file) as z:
            known = {p: (w, bool(o)) for p, w, o in zip(z["paths"].tolist(), z["windows"], z["ok"], strict=True)}
    todo = [p for p in clips if p not in known]
    t0, failed = time.perf_counter(), 0
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        for k, p in enumerate(tqdm(todo, desc="backbone", unit="clip", disable=not show_progress, leave=False)):
            try:
                wins = load_windows(p, emb.sample_rate, emb.window_samples, n_win).windows
                with torch.inference_mode():           # the backbone's cache-sized batches (musicnn: 2 windows)
                    raw = np.concatenate([emb.net(emb.frontend(torch.from_numpy(np.ascontiguousarray(
                        wins[i:i + emb.max_batch_windows])))).float().numpy()
                        for i in range(0, len(wins), emb.max_batch_windows)])
                known[p] = (raw.astype(np.float32), bool(np.isfinite(raw).all()))
            except AudioError as exc:
                log.warning("backbone: %s", exc)
                known[p] = (np.zeros((n_win, emb.dim), np.float32), False)
                failed += 1
            if (k + 1) % 16 == 0 or k + 1 == len(todo):
                names = list(known)
                _save_cache(cache_file, names, np.stack([known[q][0] for q in names]),
                            np.array([known[q][1] for q in names]))
    finally:
        torch.set_num_threads(old_threads)
    windows = np.stack([known[p][0] for p in clips]) if clips else np.zeros((0, n_win, emb.dim), np.float32)
    ok = np.array([known[p][1] for p in clips], dtype=bool)
    info = {"backbone": emb.card.name, "backbone_version": emb.version, "windows": n_win,
            "window_seconds": round(emb.window_samples / emb.sample_rate, 3), "sample_rate": emb.sample_rate,
            "dim": emb.dim, "clips": len(clips), "computed": len(todo), "failed": failed,
            "seconds": round(time.perf_counter() - t0, 1), "cache": str(cache_file)}
    return windows, ok, info


# --------------------------------------------------------------------------- heads
def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (floored) standard deviation per column of ``x``."""
    return x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``(W (d, f), b (f,))`` minimising ``|x W + b - y|^2 + alpha |W|^2`` (intercept not penalised)."""
    xm, ym = x.mean(axis=0), y.mean(axis=0)
    xc = (x - xm).astype(np.float64)
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - ym))
    return w.astype(np.float32), (ym - xm @ w).astype(np.float32)


def fit_linear(x: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray,
               alphas: list[float], folds: int = 0, seed: int = 0) -> tuple[nn.Sequential, dict[str, Any]]:
    """Ridge head: alpha by validation MSE (``folds`` > 1: mean MSE of a k-fold cross-validation over
    train + val, steadier than a few validation songs), refitted on train + val; a Linear on the raw input."""
    mu, sd = standardiser(x[np.concatenate([train, val])])
    z = (x - mu) / sd
    if folds > 1:
        pool = np.random.default_rng(seed).permutation(np.concatenate([train, val]))
        splits = [(np.setdiff1d(pool, part), part) for part in np.array_split(pool, folds)]
    else:
        splits = [(train, val)] if len(val) else []
    scores = {}
    for a in alphas:
        errs = []
        for tr, va in splits:
            w, b = ridge(z[tr], y[tr], float(a))
            errs.append(float(((z[va] @ w + b - y[va]) ** 2).sum(axis=1).mean()))
        scores[float(a)] = float(np.mean(errs)) if errs else 0.0
    best = min(scores, key=scores.get)
    w, b = ridge(z[np.concatenate([train, val])], y[np.concatenate([train, val])], best)
    layer = nn.Linear(x.shape[1], y.shape[1])
    with torch.no_grad():                        # standardisation folded in: (x - mu) / sd @ w + b
        layer.weight.copy_(torch.from_numpy((w / sd[:, None]).T.astype(np.float32)))
        layer.bias.copy_(torch.from_numpy((b - (mu / sd) @ w).astype(np.float32)))
    return nn.Sequential(layer), {"alpha": best, "val_mse_by_alpha": scores, "val_mse": scores[best],
                                  "folds": max(int(folds), 1) if len(splits) else 0}


def fit_mlp(x: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray, s: dict[str, Any]
            ) -> tuple[nn.Sequential, dict[str, Any]]:
    """MLP head (full-batch Adam on MSE, best validation epoch kept); standardisation folded into layer 1."""
    mu, sd = standardiser(x[train])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)      # tiny full-batch steps: a spinning thread pool only costs time on a busy machine
    try:
        net, info = _train_mlp(((x - mu) / sd).astype(np.float32), y, train, val, s)
    finally:
        torch.set_num_threads(threads)
    first = net[0]
    with torch.no_grad():                        # W ((x - mu) / sd) + b == (W / sd) x + (b - W (mu / sd))
        sd_t, mu_t = torch.from_numpy(sd.astype(np.float32)), torch.from_numpy(mu.astype(np.float32))
        first.bias.sub_(first.weight @ (mu_t / sd_t))
        first.weight.div_(sd_t)
    return net.eval(), info


def _train_mlp(z: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray, s: dict[str, Any]
               ) -> tuple[nn.Sequential, dict[str, Any]]:
    """Full-batch Adam on MSE over standardised inputs ``z``; the weights of the best validation epoch."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(s["seed"]))
        net = nn.Sequential(nn.Linear(z.shape[1], int(s["mlp_hidden"])), nn.ReLU(), nn.Dropout(float(s["mlp_dropout"])),
                            nn.Linear(int(s["mlp_hidden"]), y.shape[1]))
        opt = torch.optim.Adam(net.parameters(), lr=float(s["mlp_lr"]), weight_decay=float(s["mlp_weight_decay"]))
        zt, yt = torch.from_numpy(z), torch.from_numpy(y.astype(np.float32))
        tr, va = torch.from_numpy(train), torch.from_numpy(val if len(val) else train)
        best, best_state, best_epoch, epoch = np.inf, None, 0, 0
        for epoch in range(1, int(s["mlp_epochs"]) + 1):
            net.train()
            opt.zero_grad()
            loss = ((net(zt[tr]) - yt[tr]) ** 2).sum(dim=1).mean()
            loss.backward()
            opt.step()
            net.eval()
            with torch.no_grad():
                v = float(((net(zt[va]) - yt[va]) ** 2).sum(dim=1).mean())
            if v < best:
                best, best_epoch = v, epoch
                best_state = {k: t.clone() for k, t in net.state_dict().items()}
            elif epoch - best_epoch >= int(s["mlp_patience"]):
                break
    net.load_state_dict(best_state)
    return net, {"val_mse": best, "best_epoch": best_epoch, "epochs": epoch, "hidden": int(s["mlp_hidden"])}


def apply_head(head: nn.Module, x: np.ndarray) -> np.ndarray:
    """``(n, d)`` raw pooled penultimates -> ``(n, f)`` predicted factors."""
    with torch.no_grad():
        return head.eval()(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


def head_label(backbone: str, kind: str) -> str:
    """The Table-2 row name of a head: ``pretrained backbone (musicnn) + linear head``."""
    return f"pretrained backbone ({backbone}) + {'linear' if kind == 'linear' else 'MLP'} head"


# --------------------------------------------------------------------------- the stage
def _run_head(ctx: Context) -> dict[str, Any]:
    from trainer.train_stages import _targets, item_clips, training_rows
    s = head_settings(ctx)
    model = backbone_path(ctx)
    items, paths = item_clips(ctx)
    if not len(items):
        raise StageError("no audio clips found for the items; the head stage needs the clips")
    windows, ok, info = backbone_windows(paths, model, ctx.out_dir / "cache" / "head", int(s["n_windows"]),
                                         int(s["threads"]), ctx.show_progress)
    pooled = windows.mean(axis=1)
    out = ctx.dir("head")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "pooled.npy", pooled)
    np.save(out / "row_items.npy", items)
    rows = training_rows(ctx, SimpleNamespace(ok=ok), items, float(s["val_fraction"]), int(s["seed"]))
    y_all, _ = _targets(ctx, bool(s["normalise_targets"]))
    y = y_all[items]
    if len(rows["train"]) < 2:
        raise StageError(f"only {len(rows['train'])} training items with backbone features; need at least 2")
    heads: dict[str, Any] = {}
    for kind in s["heads"]:
        t0 = time.perf_counter()
        if kind == "linear":
            head, summary = fit_linear(pooled, y, rows["train"], rows["val"], list(s["ridge_alphas"]),
                                       int(s["ridge_folds"]), int(s["seed"]))
        else:
            head, summary = fit_mlp(pooled, y, rows["train"], rows["val"], s)
        folder = out / kind
        folder.mkdir(exist_ok=True)
        preds = np.zeros((len(items), y.shape[1]), np.float32)
        preds[ok] = apply_head(head, pooled[ok])
        np.save(folder / "predictions.npy", preds)
        np.save(folder / "row_items.npy", items)
        for part, r in rows.items():
            np.save(folder / f"{part}_rows.npy", r)
        torch.save(head.state_dict(), folder / "head.pt")
        meta = {"kind": kind, "layers": [[m.in_features, m.out_features] for m in head if isinstance(m, nn.Linear)],
                "label": head_label(info["backbone"], kind), "backbone": str(model),
                "backbone_version": info["backbone_version"], "normalise_targets": bool(s["normalise_targets"])}
        (folder / "head.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        heads[kind] = {**summary, "label": meta["label"], "seconds": round(time.perf_counter() - t0, 2)}
        log.info("%s: %s", meta["label"], {k: v for k, v in summary.items() if k != "val_mse_by_alpha"})
    return {"features": info, "train_items": len(rows["train"]), "val_items": len(rows["val"]),
            "test_items": len(rows["test"]), "heads": heads}


def head_systems(ctx: Context) -> dict[str, Path]:
    """``{Table-2 label: head folder}`` of the finished head stage (empty when [head] is absent)."""
    if "head" not in ctx.config.extra:
        return {}
    return {h["label"]: ctx.dir("head") / kind for kind, h in ctx.summary("head")["heads"].items()}


register(Stage("head", _run_head, needs=("match", "split", "wmf"), sections=("head",),
               inputs=lambda ctx: [backbone_path(ctx)], enabled=lambda cfg: "head" in cfg.extra,
               help="pretrained backbone (frozen musicnn) + linear / MLP heads fitted to the item factors"))
