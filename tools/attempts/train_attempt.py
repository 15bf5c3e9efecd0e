"""Train one attempt in the bundled model's world, with optional prototype terms not in the trainer.

    python tools/attempts/train_attempt.py NAME [--teacher none|song|crop] [--timbre-weight W]
        [--teacher-tau T] [--train-fraction F] [FIT_KEY=TOML_VALUE ...]        e.g. instance_weight=1.0 select_on='"total"'

Reads trainer/experiments/bundled.toml and its finished world (features, split, WMF) in its
out_dir; writes the run to /tmp/cbrec-attempts/NAME (best.pt, card_config.json, predictions).
``--teacher song``: a soft-contrastive term whose target neighbourhood is the Gaussian timbre
model's (timbre.py, KL + mutual proximity) over the training songs' whole clips; ``crop``: the
same from each batch's own crops (KL only). ``architecture="dstats"`` picks proto_net.DStats.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tomllib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.fft import dct

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import proto_net  # noqa: E402,F401
import timbre  # noqa: E402

import trainer.fit as fit_module  # noqa: E402
import trainer.objectives as objectives  # noqa: E402
import trainer.train_stages as stages  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.fit import FitSettings  # noqa: E402
from trainer.pipeline import Context  # noqa: E402

OUT = Path("/tmp/cbrec-attempts")


class AttemptContext(Context):
    """The bundled world's stages, but runs written to OUT."""

    def dir(self, stage: str) -> Path:
        return OUT if stage == "fit" else self.out_dir / stage


def soft_contrastive(pred: torch.Tensor, target_sim: torch.Tensor, mask: torch.Tensor, tau: float,
                     teacher_tau: float) -> torch.Tensor:
    """Cross-entropy from softmax(target_sim / teacher_tau) to softmax(cos(pred) / tau), ``mask`` left out."""
    p = F.normalize(pred.float(), dim=1)
    log_q = F.log_softmax((p @ p.T / tau).masked_fill(mask, -1e9), dim=1)
    w = F.softmax((target_sim / teacher_tau).masked_fill(mask, -1e9), dim=1)
    return -(w * log_q.masked_fill(mask, 0.0)).sum(1).mean()


def song_teacher(ctx: Context, s: FitSettings) -> torch.Tensor:
    """Mutual-proximity similarity of the train+val songs' whole-clip MFCC Gaussians, in ``col`` order."""
    store, row_items = stages.open_store(ctx, s.architecture)
    rows = stages.training_rows(ctx, store, row_items, s.val_fraction, s.seed)
    used = np.concatenate([rows["train"], rows["val"]])
    g = [timbre.gaussian(timbre.mfcc(np.asarray(store.crop(r, 0, store.steps), dtype=np.float64).T)) for r in used]
    dist = timbre.skl_matrix(np.array([a for a, _ in g]), np.array([b for _, b in g]))
    return torch.tensor(timbre.mutual_proximity(dist), dtype=torch.float32)


def crop_teacher(x: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(b, b) negative symmetrised KL of the crops' MFCC Gaussians, scaled by its median."""
    m = torch.einsum("dk,bkt->btd", basis, x.float())
    mu = m.mean(1)
    c = m - mu[:, None]
    cov = c.transpose(1, 2) @ c / (m.shape[1] - 1) + 1e-4 * torch.eye(basis.shape[0])
    inv = torch.linalg.inv(cov)
    tr = torch.einsum("jab,iba->ij", inv, cov)
    dm = mu[:, None, :] - mu[None, :, :]
    q = torch.einsum("ijd,ide,ije->ij", dm, inv, dm)
    dist = 0.5 * (tr + tr.T + q + q.T) - basis.shape[0]
    return -dist / dist.median()


def add_teacher_term(kind: str, weight: float, teacher_tau: float, ctx: Context, s: FitSettings) -> None:
    """Wrap Objective.__call__ (and build_net, to see each batch's input) with the teacher term."""
    song_sim = song_teacher(ctx, s) if kind == "song" else None
    basis = torch.tensor(dct(np.eye(128), type=2, norm="ortho", axis=0)[:20], dtype=torch.float32)
    seen: dict[str, torch.Tensor] = {}
    build, call = fit_module.build_net, objectives.Objective.__call__

    def build_watched(arch: str, params: dict) -> torch.nn.Module:
        net = build(arch, params)
        net.register_forward_pre_hook(lambda _m, a: seen.__setitem__("x", a[0].detach()))
        return net

    def call_with_teacher(self, pred, target, items, groups=None):
        loss, parts = call(self, pred, target, items, groups)
        if kind == "song":
            term = soft_contrastive(pred, song_sim[items][:, items], items[:, None] == items[None, :],
                                    s.similarity_tau, teacher_tau)
        elif seen["x"].shape[0] != pred.shape[0]:      # validation: predictions averaged per song
            return loss, parts
        else:
            x = seen["x"]
            term = soft_contrastive(pred, crop_teacher(x, basis), torch.eye(len(pred), dtype=torch.bool),
                                    s.similarity_tau, teacher_tau)
        parts["timbre"] = float(term.detach())
        return loss + weight * term, parts

    fit_module.build_net = build_watched
    objectives.Objective.__call__ = call_with_teacher


def keep_share_of_training_songs(share: float, seed: int) -> None:
    """Wrap training_rows so that only a seeded random ``share`` of the training rows is used."""
    rows_of = stages.training_rows

    def fewer(*a, **k):
        rows = rows_of(*a, **k)
        train = rows["train"]
        pick = np.random.default_rng(seed + 100).permutation(len(train))[:max(1, round(share * len(train)))]
        return {**rows, "train": np.sort(train[pick])}

    stages.training_rows = fewer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("settings", nargs="*", help="FitSettings overrides, KEY=TOML_VALUE")
    ap.add_argument("--teacher", choices=("none", "song", "crop"), default="none")
    ap.add_argument("--timbre-weight", type=float, default=1.0)
    ap.add_argument("--teacher-tau", type=float, default=0.05)
    ap.add_argument("--train-fraction", type=float, default=1.0,
                    help="train on this random share of the training songs (a learning-curve point)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    over = {k: tomllib.loads(f"v = {v}")["v"] for k, v in (a.split("=", 1) for a in args.settings)}
    cfg = load_config(ROOT / "trainer" / "experiments" / "bundled.toml")
    s = FitSettings.from_dict({**{k: v for k, v in cfg.extra["fit"].items() if k != "runs"}, **over})
    ctx = AttemptContext(cfg, cfg.out_path(), show_progress=False)
    if args.train_fraction < 1.0:
        keep_share_of_training_songs(args.train_fraction, s.seed)
    if args.teacher != "none":
        add_teacher_term(args.teacher, args.timbre_weight, args.teacher_tau, ctx, s)
    r = stages._fit_one(ctx, args.name, s)
    print(args.name, json.dumps({k: r[k] for k in ("epochs", "best_epoch", "seconds")}))


if __name__ == "__main__":
    main()
