"""A simulated listener on the dev corpus: does "For you" draw from the sources they play?

The corpus (``labels.tsv``: ``path TAB source TAB duration``; the source is the game whose
soundtrack a track is) is scanned into a fresh library with the bundled model (or ``--library``
reuses one). Each trial picks two sources at random; the listener plays ``--per-source`` random
tracks of each (1-20 plays each) and, as noise, ``--noise`` tracks of other sources once, all
through ``Library.record_play`` (the app's own path). ``lib.for_you(n)`` (played tracks left
out) is then measured by the share of its tracks from the two sources, against the share a
random draw of unplayed tracks would have (exact expectation), over ``--trials`` trials.

    python benchmarks/history_devcorpus.py [--corpus /tmp/cbrec-dev-corpus] [--trials 30] [-n 25]

Prints one table (markdown).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import read_labels  # noqa: E402
from core import Library  # noqa: E402


def trial(lib: Library, ids_by_source: dict[str, list[int]], rng: np.random.Generator, args) -> tuple[float, float]:
    """One simulated listener: ``(share of the mix from their two sources, random expectation)``."""
    lib.store.conn.execute("DELETE FROM plays")
    sources = sorted(ids_by_source)
    a, b = rng.choice(len(sources), 2, replace=False)
    liked = {sources[a], sources[b]}
    played: set[int] = set()
    t = 1_700_000_000.0
    for s in liked:
        for tid in rng.choice(ids_by_source[s], min(args.per_source, len(ids_by_source[s]) - 1), replace=False):
            for _ in range(int(rng.integers(1, 21))):
                lib.record_play(int(tid), heard=60.0, started_at=t)
                t += 300
            played.add(int(tid))
    others = [i for s in sources if s not in liked for i in ids_by_source[s]]
    for tid in rng.choice(others, args.noise, replace=False):
        lib.record_play(int(tid), heard=60.0, started_at=t)
        t += 300
        played.add(int(tid))
    mix = lib.for_you(n=args.n, max_per_artist=args.max_per_artist)
    source_of = {i: s for s, ids in ids_by_source.items() for i in ids}
    share = float(np.mean([source_of.get(tr.id) in liked for tr in mix.tracks])) if len(mix) else 0.0
    unplayed = [i for i in source_of if i not in played]
    expected = float(np.mean([source_of[i] in liked for i in unplayed]))
    return share, expected


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/cbrec-dev-corpus"))
    ap.add_argument("--library", type=Path, help="an existing library folder to reuse (scanned over the corpus)")
    ap.add_argument("--model", default=None, help="model file (default: the bundled model)")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("-n", type=int, default=25)
    ap.add_argument("--per-source", type=int, default=6, help="tracks played from each of the two sources")
    ap.add_argument("--noise", type=int, default=2, help="tracks of other sources played once")
    ap.add_argument("--max-per-artist", type=int)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (args.corpus / "labels.tsv").exists():
        print(f"skipped: {args.corpus / 'labels.tsv'} not found (build the dev corpus first)")
        return 0
    paths, sources = read_labels(args.corpus)
    folder = args.library or Path(tempfile.mkdtemp(prefix="cbrec-history-bench-"))
    with Library.open(folder, args.model, device="cpu") as lib:
        t0 = time.perf_counter()
        report = lib.scan([args.corpus / "library"])
        print(f"scan: {report.summary()} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        analysed = {t.path: t.id for t in lib.tracks() if t.status == "ok"}
        ids_by_source: dict[str, list[int]] = {}
        for p, s in zip(paths, sources, strict=True):
            if p in analysed:
                ids_by_source.setdefault(s, []).append(analysed[p])
        rng = np.random.default_rng(args.seed)
        results = np.array([trial(lib, ids_by_source, rng, args) for _ in range(args.trials)])
    share, expected = results[:, 0], results[:, 1]
    print(f"dev corpus: {sum(map(len, ids_by_source.values()))} analysed tracks, {len(ids_by_source)} sources; "
          f"{args.trials} listeners, each {args.per_source} tracks of two sources (1-20 plays) + {args.noise} "
          f"others once; mix of {args.n}, played tracks left out, max per artist {args.max_per_artist}")
    print("| mix | share from the listener's two sources (mean ± sd) | min | max |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| For you (taste vector) | {share.mean():.3f} ± {share.std():.3f} | {share.min():.2f} | {share.max():.2f} |")
    print(f"| random unplayed tracks (expected) | {expected.mean():.3f} ± {expected.std():.3f} | "
          f"{expected.min():.2f} | {expected.max():.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
