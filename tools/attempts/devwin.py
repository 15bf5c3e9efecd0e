"""Decode the dev corpus once into log-mel windows of several geometries, for fast offline P@10.

    python tools/attempts/devwin.py [--corpus /tmp/cbrec-dev-corpus] [--out /tmp/cbrec-attempts/devwin.npz]

The windows come from ``core.audio.load_windows`` and the log-mel from the model frontend, exactly
as ``Library.scan`` computes them, so ``offline_p10.py`` reproduces ``benchmarks/quality.py``'s
cbrec figure without a scan (the shipped model: 0.190 offline, 0.189 through quality.py).
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality import read_labels  # noqa: E402
from core.audio import load_windows  # noqa: E402
from core.model.frontend import build_frontend  # noqa: E402

SR = 22050
GEOMETRIES = [(3.0, 4), (4.0, 3), (3.0, 8), (3.0, 6), (2.0, 6)]   # (window seconds, windows per track)


def _decode(path: str) -> list[np.ndarray]:
    return [load_windows(path, SR, int(ws * SR), n).windows for ws, n in GEOMETRIES]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/cbrec-dev-corpus"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/cbrec-attempts/devwin.npz"))
    args = ap.parse_args()
    paths, sources = read_labels(args.corpus)
    with ProcessPoolExecutor(2) as ex:
        decoded = list(ex.map(_decode, paths, chunksize=4))
    frontend = build_frontend({"kind": "logmel", "n_fft": 1024, "hop_length": 512, "n_mels": 128}, SR)
    out = {}
    with torch.inference_mode():
        for g, (ws, n) in enumerate(GEOMETRIES):
            w = np.stack([d[g] for d in decoded]).astype(np.float32)
            m = frontend(torch.from_numpy(w.reshape(-1, w.shape[-1]))).numpy()
            out[f"{ws}x{n}"] = m.reshape(len(paths), n, *m.shape[1:]).astype(np.float16)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, sources=np.array(sources), **out)
    print(args.out, {k: v.shape for k, v in out.items()})


if __name__ == "__main__":
    main()
