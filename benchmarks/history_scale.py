"""History at scale: importing a large Last.fm export, importing it again, and "For you" on a big library.

A library of ``--tracks`` tracks (tags and random unit vectors written straight into a real
store, as a scan would leave them, keyed by the bundled model's analysis version) and a
Last.fm CSV of ``--scrobbles`` plays (``--matched`` of them of library songs, written with the
variants exports use: other case, "The", "(Remastered 2011)", "feat."); then timed:
``lib.import_history`` (first time, then again: everything a duplicate), ``lib.play_stats()``
and ``lib.for_you(25)`` (cold, then warm), with peak RSS.

    python benchmarks/history_scale.py [--tracks 50000] [--scrobbles 200000]

Prints one table (markdown).
"""
from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import Library  # noqa: E402
from core.store import NewTrack  # noqa: E402


def build_library(lib: Library, n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """``n`` tracks of ``n // 10`` artists in the store; returns their (artist, title, album)."""
    rng = np.random.default_rng(seed)
    songs, items = [], []
    for i in range(n):
        artist, title, album = f"The Band {i // 10}", f"Song number {i}", f"Album {i // 10}"
        vec = rng.normal(size=lib.dim).astype(np.float32)
        items.append(NewTrack(f"/music/{i // 10}/{i}.flac", 1, 1, f"fp{i}",
                              {"artist": artist, "title": title, "album": album, "duration": 200.0 + i % 100},
                              vec / np.linalg.norm(vec)))
        songs.append((artist, title, album))
    with lib.store.transaction() as conn:
        lib.store.upsert_tracks(conn, items, lib.analysis_version)
    return songs


def write_scrobbles(path: Path, songs: list[tuple[str, str, str]], n: int, matched: float, seed: int = 0) -> None:
    rnd = random.Random(seed)
    variants = [lambda a, t: (a, t), lambda a, t: (a.upper(), t.lower()),
                lambda a, t: (a.removeprefix("The "), f"{t} (Remastered 2011)"),
                lambda a, t: (f"{a} feat. Someone", t)]
    popular = songs[: max(1, len(songs) // 5)]   # most plays go to a fifth of the library
    with open(path, "w", encoding="utf-8") as f:
        f.write("uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n")
        for k in range(n):
            if rnd.random() < matched:
                artist, title, album = rnd.choice(popular if rnd.random() < 0.8 else songs)
                artist, title = rnd.choice(variants)(artist, title)
            else:
                artist, title, album = f"Unknown {rnd.randrange(5000)}", f"Other song {rnd.randrange(10**6)}", ""
            f.write(f'{1_600_000_000 + 37 * k},"x","{artist}",,"{album}",,"{title}",\n')


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=50_000)
    ap.add_argument("--scrobbles", type=int, default=200_000)
    ap.add_argument("--matched", type=float, default=0.8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cbrec-history-scale-") as tmp:
        with Library.open(Path(tmp) / "lib", device="cpu") as lib:
            songs = build_library(lib, args.tracks)
            csv_path = Path(tmp) / "scrobbles.csv"
            write_scrobbles(csv_path, songs, args.scrobbles, args.matched)
            first, t_import = timed(lambda: lib.import_history(csv_path))
            again, t_again = timed(lambda: lib.import_history(csv_path))
            stats, t_stats = timed(lib.play_stats)
            mix, t_cold = timed(lambda: lib.for_you(25))
            _, t_warm = timed(lambda: lib.for_you(25))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.tracks:,} tracks, {args.scrobbles:,} scrobbles ({args.matched:.0%} of library songs, in "
          f"export variants); first import: {first.summary()}; again: {again.summary()}")
    print("| step | seconds | rate |")
    print("| --- | ---: | ---: |")
    print(f"| import {args.scrobbles:,} scrobbles | {t_import:.2f} | {args.scrobbles / t_import:,.0f} rows/s |")
    print(f"| import the same file again (all duplicates) | {t_again:.2f} | {args.scrobbles / t_again:,.0f} rows/s |")
    print(f"| play_stats ({len(stats):,} played tracks) | {t_stats:.3f} | |")
    print(f"| for_you(25), first call | {t_cold:.3f} | |")
    print(f"| for_you(25), again | {t_warm:.3f} | |")
    print(f"\npeak RSS {rss:.0f} MB; mix of {len(mix)} tracks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
