"""Can the data loader keep a GPU fed? Samples (windows) per second of the loader alone, beside
what one training step of the network consumes on this machine.

    python benchmarks/loader.py --store /tmp/cbrec-train/bundled/cache/features/logmel-22050-... \
        [--architecture dieleman2014] [--window-seconds 4] [--batch-size 32] [--crops 2] [--workers 0,1,2]

The loader reads random crops from the memory-mapped feature shards (``trainer.dataset``). The
training-step row runs forward + backward + AdamW on random input of the same shape (CUDA when
present, else CPU): the loader must deliver more samples/s than that to keep the device busy.
Prints one table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model import ARCHITECTURES, build_net, resolve_device  # noqa: E402
from trainer.dataset import CropDataset, loader_throughput, make_loader, window_steps  # noqa: E402
from trainer.features import FeatureStore  # noqa: E402


def train_step_rate(architecture: str, channels: int, steps: int, batch: int, device: torch.device,
                    n_steps: int = 10) -> float:
    """Windows per second through forward + backward + optimiser step of ``architecture``."""
    net = build_net(architecture, {}).to(device).train()
    opt = torch.optim.AdamW(net.parameters())
    x = torch.randn(batch, channels, steps, device=device)
    for i in range(n_steps + 2):
        if i == 2:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        loss = net(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n_steps * batch / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True, help="a feature store folder (cache/features/<spec>)")
    ap.add_argument("--architecture", default="dieleman2014", choices=sorted(ARCHITECTURES))
    ap.add_argument("--window-seconds", type=float, default=0.0, help="0 = the architecture's default")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--crops", type=int, default=2)
    ap.add_argument("--workers", default="0,1,2", help="loader worker counts to try")
    ap.add_argument("--batches", type=int, default=40)
    args = ap.parse_args(argv)
    store = FeatureStore(args.store)
    seconds = args.window_seconds or ARCHITECTURES[args.architecture].default_config()["window_seconds"]
    window = window_steps(store, seconds)
    rows = np.flatnonzero(store.ok)
    ds = CropDataset(store, rows, np.zeros((len(rows), 1), np.float32), window, args.crops, seed=0)
    print(f"store {args.store}: {len(rows)} tracks x {store.steps} steps; windows of {window} steps "
          f"({seconds:g} s), batches of {args.batch_size} tracks x {args.crops} crops\n")
    print("| what | samples/s | notes |\n|---|---:|---|")
    for w in (int(v) for v in args.workers.split(",")):
        loader = make_loader(ds, args.batch_size, num_workers=w, seed=0)
        r = loader_throughput(loader, max_batches=args.batches)
        print(f"| loader, {w} worker(s) | {r['samples_per_s']:.0f} | {r['batches']} batches in {r['seconds']:.2f} s |")
    device = resolve_device("auto")
    rate = train_step_rate(args.architecture, store.channels, window, args.batch_size * args.crops, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"| {args.architecture} training step ({name}) | {rate:.0f} | forward + backward + AdamW |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
