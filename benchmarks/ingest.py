"""Benchmark: LFM-1b listening-event ingestion (``iter_events`` + ``build_interactions``).

Generates (once, cached under /tmp) an LFM-1b-format ``LEs`` file: grouped by user, timestamps
newest first, power-law track popularity over 32 M track ids (popular tracks tend to have small
ids, as in LFM-1b), artist/album ids derived from the track. Then times, each in a fresh child process so peak RSS is per step:

1. ``iter_events`` alone (parse only),
2. ``iter_events`` + ``build_interactions`` with a realistic item mapping (the ~660 k most
   popular tracks plus 5 % of the rest are items, as after MSD matching).

Prints one table. ``seconds`` is wall time and ``cpu_s`` user+system CPU time of the step (the
two differ when the machine is shared or when pyarrow uses both cores).

    python benchmarks/ingest.py                 # 100 M events (~3.6 GB file under /tmp)
    python benchmarks/ingest.py --events 5e6    # quick run
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import resource
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

N_TRACKS = 32_291_134
N_ARTISTS = 3_190_371
N_ALBUMS = 15_991_038
N_ITEMS_TOP = 660_000
EVENTS_PER_USER = 9_000  # LFM-1b: 1.09 G events / 120 k users
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)


def format_lines(cols: list[np.ndarray]) -> bytes:
    """TAB-separated decimal text of non-negative int columns, one line per row, vectorised."""
    ndig = [1 + np.searchsorted(_POW10, c, side="right") for c in cols]
    line_len = sum(ndig) + len(cols)
    starts = np.zeros(len(line_len), dtype=np.int64)
    np.cumsum(line_len[:-1], out=starts[1:])
    out = np.empty(int(line_len.sum()), dtype=np.uint8)
    pos = starts
    for c, (values, nd) in enumerate(zip(cols, ndig, strict=True)):
        end = pos + nd
        v = values.astype(np.int64)
        for k in range(int(nd.max())):
            rows = slice(None) if k < nd.min() else nd > k
            out[(end - 1 - k)[rows]] = 48 + (v[rows] % 10)
            v = v // 10
        out[end] = 9 if c < len(cols) - 1 else 10
        pos = end + 1
    return out.tobytes()


def _track_of_rank(rng: np.random.Generator) -> np.ndarray:
    """Popularity rank -> track id, a permutation where popular tracks tend to have small ids
    (LFM-1b numbers items as its crawl first meets them) but with a lot of scatter."""
    noisy_rank = np.arange(1, N_TRACKS + 1) * rng.lognormal(0.0, 2.0, N_TRACKS)
    track_of_rank = np.empty(N_TRACKS, dtype=np.int32)
    track_of_rank[np.argsort(noisy_rank)] = np.arange(N_TRACKS, dtype=np.int32)
    return track_of_rank


def generate(path: Path, n_events: int, seed: int = 0) -> None:
    """Write ``n_events`` LFM-1b-format listening events to ``path`` (atomically)."""
    rng = np.random.default_rng(seed)
    track_of_rank = _track_of_rank(np.random.default_rng(seed + 1))
    tmp = path.with_suffix(".part")
    user, written = 31_435_741, 0
    with open(tmp, "wb") as f, tqdm(total=n_events, unit="ev", desc="generate") as bar:
        while written < n_events:
            sizes = rng.lognormal(np.log(EVENTS_PER_USER) - 0.5, 1.0, 600).astype(np.int64) + 1
            sizes = sizes[np.cumsum(sizes) <= n_events - written]
            if len(sizes) == 0:
                sizes = np.array([n_events - written])
            n = int(sizes.sum())
            users = np.repeat(user + np.cumsum(rng.integers(1, 400, len(sizes))), sizes)
            user = int(users[-1])
            # log-uniform rank = power law with exponent ~1 over the 32 M tracks
            ranks = np.exp(rng.random(n) * np.log(N_TRACKS)).astype(np.int64) - 1
            tracks = track_of_rank[np.minimum(ranks, N_TRACKS - 1)].astype(np.int64)
            artists = (tracks * N_ARTISTS // N_TRACKS + tracks % 7) % N_ARTISTS
            albums = (tracks * N_ALBUMS // N_TRACKS + tracks % 3) % N_ALBUMS
            # newest first within a user: start time minus the running sum of gaps
            starts = np.cumsum(sizes) - sizes
            gaps = np.cumsum(rng.integers(60, 900, n))
            ago = gaps - np.repeat(gaps[starts], sizes)
            newest = np.repeat(rng.integers(1_300_000_000, 1_420_000_000, len(sizes)), sizes)
            f.write(format_lines([users, artists, albums, tracks, newest - ago]))
            written += n
            bar.update(n)
    os.replace(tmp, path)


def item_mapping(seed: int = 0) -> np.ndarray:
    """Dense track -> item lookup: the most popular tracks plus 5 % of the rest are items."""
    track_of_rank = _track_of_rank(np.random.default_rng(seed + 1))
    rng = np.random.default_rng(seed + 2)
    is_item = rng.random(N_TRACKS) < 0.05
    is_item[track_of_rank[:N_ITEMS_TOP]] = True
    lut = np.full(N_TRACKS, -1, dtype=np.int32)
    items = np.flatnonzero(is_item)
    lut[items] = rng.permutation(len(items)).astype(np.int32)
    return lut


def _step(kind: str, path: str, conn) -> None:  # runs in a child process
    from trainer.data.badrows import BadRows
    from trainer.data.lfm1b import iter_events
    from trainer.interactions import build_interactions

    lut = item_mapping() if kind == "build" else None
    bad = BadRows()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    extra = ""
    if kind == "parse":
        n = sum(len(c) for c in iter_events(path, bad))
    else:
        inter = build_interactions(path, lut, bad)
        n = inter.n_events
        extra = f"{inter.matrix.shape[0]}×{inter.matrix.shape[1]}, nnz {inter.matrix.nnz:,}"
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    conn.send((n, wall, cpu, r1.ru_maxrss / 1024, bad.count, extra))


def run_step(kind: str, path: Path) -> tuple:
    """Run one timed step in a fresh process; (events, wall s, cpu s, peak RSS MiB, bad, note)."""
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_step, args=(kind, str(path), child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=float, default=100e6, help="events in the generated file")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/cbrec-bench"), help="cache folder")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    n = int(args.events)
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"LFM-1b_LEs.synthetic.{n}.txt"
    if not path.exists():
        proc = mp.get_context("fork").Process(target=generate, args=(path, n))
        proc.start()
        proc.join()
    size = path.stat().st_size
    rows = [("iter_events", *run_step("parse", path)),
            ("iter_events + build_interactions", *run_step("build", path))]
    print(f"\nfile {path} ({size / 1e9:.2f} GB, {size / n:.1f} B/event); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    head = f"{'step':34s} {'events':>13s} {'seconds':>8s} {'cpu_s':>8s} {'events/s':>11s} " \
           f"{'peak RSS MiB':>12s} {'bad rows':>8s}  matrix"
    print(head)
    print("-" * len(head))
    for name, events, wall, cpu, rss, n_bad, extra in rows:
        print(f"{name:34s} {events:13,d} {wall:8.1f} {cpu:8.1f} {events / wall:11,.0f} "
              f"{rss:12,.0f} {n_bad:8d}  {extra}")


if __name__ == "__main__":
    main()
