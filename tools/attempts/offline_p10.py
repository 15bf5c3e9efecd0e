"""Macro P@10 by source on the dev corpus for trained runs, from ``devwin.py``'s windows.

    python tools/attempts/offline_p10.py RUN_DIR [RUN_DIR ...]      (folders with best.pt + card_config.json)
    python tools/attempts/offline_p10.py --random 3                  (untrained networks, 3 seeds)
    python tools/attempts/offline_p10.py --handcrafted                (log-mel/MFCC statistics, Gaussian + KL)
    python tools/attempts/offline_p10.py --postprocess RUN_DIR        (centring, z-scores, whitening, CSLS)

Each track's window predictions are averaged and L2-normalised, neighbours by cosine, as
``Library.similar`` does (Annoy is exact at this size).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import proto_net  # noqa: E402,F401  (registers the "dstats" prototype architecture)

from benchmarks.quality import neighbours_from_scores, precision_at_k  # noqa: E402
from core.model.nets import build_net  # noqa: E402

KEYS = ("3.0x4", "3.0x6", "3.0x8", "4.0x3")


def p10(vectors: np.ndarray, sources: list[str]) -> float:
    """Macro P@10 of cosine neighbours."""
    x = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return precision_at_k(neighbours_from_scores(x @ x.T, True), sources)[0]


def embed(net: torch.nn.Module, windows: np.ndarray) -> np.ndarray:
    """(tracks, windows, mels, frames) log-mel -> (tracks, dim) window-averaged predictions."""
    m = torch.from_numpy(windows.astype(np.float32))
    with torch.inference_mode():
        out = torch.cat([net(c) for c in m.flatten(0, 1).split(256)])
    return out.reshape(m.shape[0], m.shape[1], -1).mean(1).numpy()


def load_run(run: Path) -> torch.nn.Module:
    cfg = json.loads((run / "card_config.json").read_text(encoding="utf-8"))
    net = build_net(cfg["architecture"], cfg["params"])
    net.load_state_dict(torch.load(run / "best.pt", weights_only=True))
    return net.eval()


def random_net(seed: int, windows: np.ndarray) -> torch.nn.Module:
    """An untrained dieleman2014 whose input batch-norm holds the corpus's band statistics."""
    torch.manual_seed(seed)
    net = build_net("dieleman2014", {}).eval()
    m = torch.from_numpy(windows.astype(np.float32)).flatten(0, 1)
    net.input_norm.running_mean[:] = m.mean((0, 2))
    net.input_norm.running_var[:] = m.var((0, 2))
    return net


def postprocess(vectors: np.ndarray, sources: list[str]) -> dict[str, float]:
    """P@10 of library-level rescalings of the vectors: does the similarity, not the model, fall short?"""
    x = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    centred = x - x.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    cos = x @ x.T
    np.fill_diagonal(cos, -np.inf)
    r = np.sort(cos, 1)[:, -10:].mean(1)                       # CSLS hub reduction (Conneau et al. 2018)
    csls = precision_at_k(neighbours_from_scores(2 * cos - r[:, None] - r[None, :], True), sources)[0]
    return {"raw": p10(x, sources), "centred": p10(centred, sources),
            "z-scores": p10(centred / x.std(0), sources),
            **{f"whitened {k}": p10(centred @ vt[:k].T / s[:k], sources) for k in (10, 40)}, "CSLS": csls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--windows", type=Path, default=Path("/tmp/cbrec-attempts/devwin.npz"))
    ap.add_argument("--random", type=int, default=0, help="evaluate this many untrained networks")
    ap.add_argument("--handcrafted", action="store_true")
    ap.add_argument("--postprocess", type=Path, help="a run whose 4x3 s vectors to rescale")
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = np.load(args.windows)
    sources = list(data["sources"])
    for run in args.runs:
        net = load_run(run)
        print(run.name.ljust(24), " ".join(f"{k}={p10(embed(net, data[k]), sources):.3f}" for k in KEYS), flush=True)
    for seed in range(args.random):
        print(f"untrained seed {seed}".ljust(24),
              " ".join(f"{k}={p10(embed(random_net(seed, data[k]), data[k]), sources):.3f}" for k in KEYS))
    if args.postprocess:
        vectors = embed(load_run(args.postprocess), data["3.0x4"])
        print(" ".join(f"{k}={v:.3f}" for k, v in postprocess(vectors, sources).items()))
    if args.handcrafted:
        import handcrafted
        handcrafted.report(data, sources, p10)


if __name__ == "__main__":
    main()
