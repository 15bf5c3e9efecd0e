"""Speed-up of `fit` from 1 to N processes (DistributedDataParallel, gloo on CPU / NCCL on GPUs).

A synthetic log-mel store (random "songs", written directly: the benchmark measures training, not
decoding) and random unit targets; the same settings and global batch on every run. Each run is
timed by `fit` itself (wall seconds of its epochs, validation included); the table also shows the
last epoch's validation loss, which should agree between runs (same global batch -> same result).

    python benchmarks/ddp_speedup.py                          # 1 vs 2 processes, 1 thread each
    python benchmarks/ddp_speedup.py --procs 1 2 4 --threads 2 --items 512 --device cpu

On GPUs use one process per GPU (``--device cuda``); NCCL refuses two ranks on one GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_store(folder: Path, n: int, clip_seconds: float, shard_size: int = 64) -> None:
    """Random log-mel rows of the dieleman2014 geometry, written as a feature store."""
    from trainer.features import FeatureSpec
    spec = FeatureSpec.for_architecture("dieleman2014", clip_seconds)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps({"spec": asdict(spec), "shard_size": shard_size, "n_rows": n}))
    rng = np.random.default_rng(0)
    for k in range(0, n, shard_size):
        rows = min(shard_size, n - k)
        np.save(folder / f"shard-{k // shard_size:05d}.npy",
                rng.gamma(2.0, 0.5, size=(rows, spec.channels, spec.steps())).astype(np.float16))
    (folder / "rows.json").write_text(json.dumps({"paths": [f"s{i}" for i in range(n)], "failed": {}}))


def _settings(args: argparse.Namespace):
    from trainer.fit import FitSettings
    return FitSettings(params={"channels": args.channels, "dense": [args.dense]}, window_seconds=3.0,
                       epochs=args.epochs, batch_size=args.batch_size, crops=1, threads=args.threads,
                       device=args.device, schedule="constant", warmup_epochs=0, select_on="last",
                       patience=99, amp=False)


def _splits(n: int):
    from trainer.fit import Split
    y = np.random.default_rng(1).standard_normal((n, 40)).astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    n_val = max(n // 10, 2)
    return (Split(np.arange(n - n_val), y[:n - n_val], np.arange(n - n_val)),
            Split(np.arange(n - n_val, n), y[n - n_val:], np.arange(n_val)))


def _worker(rank: int, world: int, port: int, store: str, out: str, args: argparse.Namespace) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    from trainer import distributed as dd
    from trainer.features import FeatureStore
    from trainer.fit import fit
    dd.init_from_env()
    train, val = _splits(args.items)
    t0 = time.perf_counter()
    result = fit(_settings(args), FeatureStore(Path(store)), train, val, Path(out) / "ck", Path(out) / "run",
                 show_progress=False)
    if rank == 0:
        (Path(out) / "summary.json").write_text(json.dumps({**result.summary, "wall": time.perf_counter() - t0}))
    dd.shutdown()


def run(procs: int, store: Path, out: Path, args: argparse.Namespace) -> dict:
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if procs == 1:
        _worker(0, 1, port, str(store), str(out), args)
    else:
        mp.spawn(_worker, args=(procs, port, str(store), str(out), args), nprocs=procs, join=True)
    summary = json.loads((out / "summary.json").read_text())
    last = json.loads((out / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    return {**summary, "val_loss": last["val_loss"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--items", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32, help="global batch")
    ap.add_argument("--channels", type=int, nargs="+", default=[32, 32, 32, 32])
    ap.add_argument("--dense", type=int, default=128)
    ap.add_argument("--clip-seconds", type=float, default=6.0)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ddp-bench-") as tmp:
        store = Path(tmp) / "store"
        make_store(store, args.items, args.clip_seconds)
        rows = []
        for p in args.procs:
            r = run(p, store, Path(tmp) / f"p{p}", args)
            rows.append((p, r))
            print(f"  {p} process(es): {r['seconds']:.1f} s for {r['epochs']} epochs", file=sys.stderr)
    base = rows[0][1]["seconds"]
    train_items = args.items - max(args.items // 10, 2)
    print(f"fit: {train_items} training items x {args.epochs} epochs, global batch {args.batch_size}, "
          f"{args.threads} thread(s) per process, device {args.device}, host CPUs {os.cpu_count()}")
    print("| processes | seconds (fit's epochs) | items/s | speed-up | last val loss |")
    print("|---:|---:|---:|---:|---:|")
    for p, r in rows:
        print(f"| {p} | {r['seconds']:.1f} | {train_items * r['epochs'] / r['seconds']:.1f} | "
              f"{base / r['seconds']:.2f} | {r['val_loss']:.6f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
