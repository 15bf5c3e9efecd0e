"""Wrap a trained log-mel model into a ``fused`` one (learned vector + timbre summary), with its
fixed statistics taken from a training corpus.

    cbrec-train fuse --model resources/models/musicnn.pt --corpus /tmp/cbrec-extra-corpus/labels.tsv \\
        --timbre-weight 0.3 --out models/best

See :mod:`core.model.nets_fused` for what the fused vector is. ``distill --timbre-weight`` uses
:func:`fuse_net` on its student directly.
"""
from __future__ import annotations

import argparse
import copy
import logging
from pathlib import Path

import numpy as np
import torch

from core.errors import CbrecError
from core.model import ModelCard, build_frontend, load_net, save_model
from core.model.nets import ARCHITECTURES
from core.model.nets_base import ContentNet
from core.model.nets_fused import Fused

log = logging.getLogger("trainer.fuse")


def fuse_net(inner: ContentNet, card: ModelCard, windows: np.ndarray, owner: np.ndarray,
             timbre_weight: float, batch: int = 64) -> tuple[Fused, ModelCard]:
    """A :class:`Fused` model around ``inner`` (weights copied), statistics fixed on ``windows``.

    ``windows``: ``(n, window_samples)`` audio of the training corpus in ``card``'s geometry;
    ``owner``: ``(n,)`` the track each window belongs to. The inner model's tag head, if any, is
    carried over (zero weights on the timbre part), so tags are unchanged.
    """
    if ARCHITECTURES[card.architecture].input_kind != "logmel" or card.frontend.get("kind") != "logmel":
        raise CbrecError(f"Only log-mel models can be fused; {card.name} reads {card.frontend.get('kind')!r}.")
    if not 0.0 <= timbre_weight < 1.0:
        raise CbrecError("--timbre-weight must be in [0, 1).")
    n_mels = int(card.frontend.get("n_mels", 128))
    # check_card already holds the card's frontend and the network to the same n_mels
    params = {"inner": {"architecture": card.architecture, "params": dict(inner.params)},
              "timbre_weight": float(timbre_weight), "n_mels": n_mels, "output_dim": card.output_dim + 2 * n_mels}
    fused = Fused(params)
    inner_state = {k: v for k, v in inner.state_dict().items() if not k.startswith("tag_head.")}
    fused.inner.load_state_dict(inner_state, strict=True)
    frontend = build_frontend(card.frontend, card.sample_rate).eval()
    fused.eval()
    raw = []
    with torch.inference_mode():
        for start in range(0, len(windows), batch):
            wave = torch.from_numpy(np.asarray(windows[start:start + batch], dtype=np.float32))
            raw.append(fused(frontend(wave)))
    fused.set_statistics(torch.cat(raw), torch.from_numpy(np.asarray(owner)))
    if inner.tag_head is not None:
        head = fused.attach_tag_head(inner.tag_head.out_features)
        with torch.no_grad():
            head.weight[:, :card.output_dim] = inner.tag_head.weight
            head.bias.copy_(inner.tag_head.bias)
    new_card = copy.deepcopy(card)
    new_card.architecture, new_card.params, new_card.output_dim = "fused", dict(fused.params), fused.output_dim
    new_card.analysis_version = new_card.created = ""
    new_card.trained_on = dict(card.trained_on) | {
        "fused": {"inner": card.name, "inner_version": card.analysis_version, "timbre_weight": timbre_weight,
                  "statistics_from": f"{len(np.unique(owner))} tracks, {len(windows)} windows of the training corpus"}}
    return fused, new_card


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``cbrec-train fuse`` options."""
    p.add_argument("--model", type=Path, required=True, help="the log-mel model to wrap (.pt or .json)")
    p.add_argument("--corpus", type=Path, action="append", required=True,
                   help="labels.tsv or a folder of audio for the statistics; repeatable")
    p.add_argument("--out", type=Path, required=True, help="<out>.pt + <out>.json to write")
    p.add_argument("--timbre-weight", type=float, default=0.3)
    p.add_argument("--windows-per-track", type=int, default=4, help="windows per corpus track for the statistics")
    p.add_argument("--n-windows", type=int, help="windows per track when the app analyses (default: the model's)")
    p.add_argument("--name", help="model name (default: the file name)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``cbrec-train fuse``."""
    from trainer.distill import corpus_files, decode_windows

    if args.out.with_suffix(".pt").exists():
        raise CbrecError(f"{args.out.with_suffix('.pt')} exists; choose another --out (models are never overwritten).")
    inner, card = load_net(args.model)
    files = corpus_files(list(args.corpus))
    windows, owner = decode_windows(files, card.sample_rate, card.window_samples, args.windows_per_track, args.workers)
    fused, new_card = fuse_net(inner, card, windows, owner, args.timbre_weight)
    new_card.name = args.name or args.out.stem
    if args.n_windows:
        new_card.n_windows = int(args.n_windows)
    saved = save_model(fused, new_card, args.out)
    print(f"{args.out.with_suffix('.pt')}: fused {card.name} + timbre (weight {args.timbre_weight}), "
          f"{saved.output_dim}-d, version {saved.analysis_version}")
    return 0
