"""Benchmark: LFM-1b listening-event ingestion (``iter_events`` + ``build_interactions``).

Generates (once, cached under /tmp) an LFM-1b-format ``LEs`` file: grouped by user, timestamps
newest first, power-law track popularity over 32 M track ids (popular tracks tend to have small
ids, as in LFM-1b), artist/album ids derived from the track. Then times, each in a fresh child process so peak RSS is per step:

1. ``iter_events`` alone (parse only),
2. ``iter_events`` + ``build_interactions`` with a realistic item mapping (the ~660 k most
   popular tracks plus 5 % of the rest are items, as after MSD matching).

Prints one table. ``seconds`` is wall time and ``cpu_s`` user+system CPU time of the step (the
two differ when the machine is shared or when pyarrow uses both cores).

    python benchmarks/ingest.py                 # 100 M events (~3.7 GB file under /tmp)
    python benchmarks/ingest.py --events 5e6    # quick run

``--bad-rows`` malformed lines (default 100) are inserted at known places; the table says how
many the reader reported and whether all their line numbers are right (``lines ok``).
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


def generate(path: Path, n_events: int, n_bad: int = 0, seed: int = 0) -> None:
    """Write ``n_events`` LFM-1b-format listening events to ``path`` (atomically), with ``n_bad``
    malformed lines spread among them; their 1-based line numbers go to ``<path>.bad_lines``."""
    rng = np.random.default_rng(seed)
    track_of_rank = _track_of_rank(np.random.default_rng(seed + 1))
    tmp = path.with_suffix(".part")
    user, written, lines, bad_lines = 31_435_741, 0, 0, []
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
            data = format_lines([users, artists, albums, tracks, newest - ago])
            k = round(n_bad * (written + n) / n_events) - len(bad_lines)
            data, at = _insert_bad_lines(data, k, rng)
            bad_lines += (lines + at).tolist()
            f.write(data)
            written += n
            lines += n + k
            bar.update(n)
    Path(f"{path}.bad_lines").write_text("".join(f"{i}\n" for i in bad_lines))
    os.replace(tmp, path)


_BAD_VARIANTS = (
    lambda u, t: f"{u}\t1\t1\t{t}",                  # a column missing
    lambda u, t: f"{u}\t1\t1\tx{t}\t1300000000",      # a non-numeric track id
    lambda u, t: "",                                   # an empty line
    lambda u, t: f"-{u}\t1\t1\t{t}\t1300000000",      # a negative user id
    lambda u, t: f"{u}\t1\t1\t{t}\t1300000000\t7",    # an extra column
)


def _insert_bad_lines(data: bytes, k: int, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """Insert ``k`` malformed lines between the lines of ``data``; return the new text and the
    1-based line numbers (within it) of the inserted lines."""
    if k <= 0:
        return data, np.zeros(0, dtype=np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.frombuffer(data, np.uint8) == 10)[:-1] + 1))
    before = np.sort(rng.choice(len(starts), k, replace=False))
    pieces, prev = [], 0
    for j, i in enumerate(before.tolist()):
        pieces.append(data[prev:starts[i]])
        u, t = rng.integers(1, 10**7, 2)
        pieces.append(_BAD_VARIANTS[j % len(_BAD_VARIANTS)](u, t).encode() + b"\n")
        prev = starts[i]
    pieces.append(data[prev:])
    return b"".join(pieces), before + np.arange(k) + 1


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
    bad = BadRows(max_examples=10_000)
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
    expected = {int(x) for x in Path(f"{path}.bad_lines").read_text().split()}
    lines_ok = all(row.line in expected for row in bad.examples)
    conn.send((n, wall, cpu, r1.ru_maxrss / 1024, bad.count, lines_ok, extra))


def run_step(kind: str, path: Path) -> tuple:
    """Run one timed step in a fresh process: (events, wall s, cpu s, peak RSS MiB, bad rows,
    whether every reported line number is one of the inserted bad lines, note)."""
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_step, args=(kind, str(path), child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=float, default=100e6, help="events in the generated file")
    ap.add_argument("--bad-rows", type=int, default=100, help="malformed lines to insert")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/cbrec-bench"), help="cache folder")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    n = int(args.events)
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"LFM-1b_LEs.synthetic.{n}.bad{args.bad_rows}.txt"
    if not path.exists():
        proc = mp.get_context("fork").Process(target=generate, args=(path, n, args.bad_rows))
        proc.start()
        proc.join()
    size = path.stat().st_size
    rows = [("iter_events (all 5 fields)", *run_step("parse", path)),
            ("iter_events + build_interactions", *run_step("build", path))]
    print(f"\nfile {path} ({size / 1e9:.2f} GB, {size / n:.1f} B/event, {args.bad_rows} bad lines "
          f"inserted); {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    head = (f"{'step':34s} {'events':>13s} {'seconds':>8s} {'cpu_s':>8s} {'events/s':>11s} "
            f"{'events/cpu_s':>12s} {'peak RSS MiB':>12s} {'bad rows':>8s} {'lines ok':>8s}  matrix")
    print(head)
    print("-" * len(head))
    for name, events, wall, cpu, rss, n_bad, lines_ok, extra in rows:
        print(f"{name:34s} {events:13,d} {wall:8.1f} {cpu:8.1f} {events / wall:11,.0f} "
              f"{events / cpu:12,.0f} {rss:12,.0f} {n_bad:8d} {str(lines_ok):>8s}  {extra}")


if __name__ == "__main__":
    main()
