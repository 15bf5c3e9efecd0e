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
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import read_labels  # noqa: E402
from core import Library  # noqa: E402
from core.history.mix import rank_and_pick  # noqa: E402
from core.history.taste import REGULARIZATION  # noqa: E402


def trial(lib: Library, ids_by_source: dict[str, list[int]], rng: np.random.Generator, args) -> dict[str, float]:
    """One simulated listener: ``{mix: share of it from the listener's two sources}``."""
    lib.store.conn.execute("DELETE FROM plays")
    sources = sorted(ids_by_source)
    a, b = rng.choice(len(sources), 2, replace=False)
    liked = {sources[a], sources[b]}
    played: set[int] = set()
    t = 1_700_000_000.0
    for s in sorted(liked):            # sorted: a set of str iterates in a per-process order
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
    source_of = {i: s for s, ids in ids_by_source.items() for i in ids}

    def share(track_ids: list[int]) -> float:
        return float(np.mean([source_of.get(i) in liked for i in track_ids])) if track_ids else 0.0

    shares = {"For you (taste vector, one ALS user step)":
              share([t.id for t in lib.for_you(n=args.n, max_per_artist=args.max_per_artist).tracks])}
    for k in args.clusters:
        mix = lib.for_you(n=args.n, max_per_artist=args.max_per_artist, clusters=k)
        shares[f"For you, {k} taste vectors (clusters=k)"] = share([t.id for t in mix.tracks])
    taste = lib.history.taste()
    ids, vecs, plays = taste.item_ids, taste.item_vectors, taste.plays
    for lam in args.lams:   # the same mix with another λ of the user solve (the app uses REGULARIZATION)
        x = lib.history.taste(regularization=lam).vectors[0]
        picked = rank_and_pick(ids, vecs, x, plays, lib._view(), args.n, max_per_artist=args.max_per_artist)
        shares[f"For you, λ={lam:g} instead of {REGULARIZATION:g}"] = share([i for i, _ in picked])
    # the same ranking and rules from the plays' count-weighted mean vector (Platt 2017 §6.2.1)
    rows = np.flatnonzero(np.isin(ids, list(plays)))
    mean = (vecs[rows] * np.asarray([plays[int(ids[r])] for r in rows])[:, None]).sum(axis=0)
    picked = rank_and_pick(ids, vecs, mean, plays, lib._view(), args.n, max_per_artist=args.max_per_artist)
    shares["same rules, mean of the played vectors (Platt)"] = share([i for i, _ in picked])
    # Zhao & Pu: a seed playlist from the five most played tracks (seeds and played tracks left out)
    top = [t for t, _ in lib.history.log.top_tracks(5)]
    seeded = lib.playlist(top, length=args.n + len(played), max_per_artist=args.max_per_artist)
    shares["seed playlist of the 5 most played"] = share([t.id for t in seeded.tracks if t.id not in played][: args.n])
    unplayed = [i for i in source_of if i not in played]
    shares["random unplayed tracks (expected)"] = float(np.mean([source_of[i] in liked for i in unplayed]))
    # the best any mix of n unplayed tracks could do (the two sources may have fewer than n left)
    shares["ceiling (all unplayed tracks of the two sources, up to n)"] = min(
        1.0, sum(source_of[i] in liked for i in unplayed) / args.n)
    return shares

def oracle_vectors(lib: Library, ids_by_source: dict[str, list[int]], noise: float, seed: int = 0) -> None:
    """Overwrite the stored vectors with source one-hots plus noise (the library must be a copy)."""
    rng = np.random.default_rng(seed)
    fingerprints = dict(lib.store.conn.execute("SELECT id, fingerprint FROM tracks"))
    with lib.store.transaction() as conn:
        for k, source in enumerate(sorted(ids_by_source)):
            for tid in ids_by_source[source]:
                v = rng.normal(0.0, noise, lib.dim)
                v[k % lib.dim] += 1.0
                conn.execute("UPDATE vectors SET vector = ? WHERE fingerprint = ? AND version = ?",
                             ((v / np.linalg.norm(v)).astype(np.float32).tobytes(), fingerprints[tid],
                              lib.analysis_version))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/cbrec-dev-corpus"))
    ap.add_argument("--library", type=Path, help="an existing library folder to reuse (scanned over the corpus)")
    ap.add_argument("--model", default=None, help="model file (default: the bundled model)")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("-n", type=int, default=25)
    ap.add_argument("--per-source", type=int, default=6, help="tracks played from each of the two sources")
    ap.add_argument("--noise", type=int, default=2, help="tracks of other sources played once")
    ap.add_argument("--max-per-artist", type=int)
    ap.add_argument("--clusters", type=int, nargs="*", default=[2, 3], help="also for_you(clusters=k) for these k")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lams", type=float, nargs="*", default=[100.0, 1000.0], help="also these λ of the user solve")
    ap.add_argument("--oracle", type=float, metavar="NOISE",
                    help="check of the pipeline: replace the vectors (in a copy of the library) by a one-hot of "
                         "the track's source plus N(0, NOISE²) noise; the share should approach the ceiling")
    args = ap.parse_args()
    if not (args.corpus / "labels.tsv").exists():
        print(f"skipped: {args.corpus / 'labels.tsv'} not found (build the dev corpus first)")
        return 0
    paths, sources = read_labels(args.corpus)
    folder = args.library or Path(tempfile.mkdtemp(prefix="cbrec-history-bench-"))
    if args.oracle is not None and args.library:   # never overwrite the vectors of a library passed in
        folder = Path(tempfile.mkdtemp(prefix="cbrec-history-oracle-")) / "lib"
        shutil.copytree(args.library, folder)
    with Library.open(folder, args.model, device="cpu") as lib:
        t0 = time.perf_counter()
        report = lib.scan([args.corpus / "library"])
        print(f"scan: {report.summary()} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        analysed = {t.path: t.id for t in lib.tracks() if t.status == "ok"}
        ids_by_source: dict[str, list[int]] = {}
        for p, s in zip(paths, sources, strict=True):
            if p in analysed:
                ids_by_source.setdefault(s, []).append(analysed[p])
        if args.oracle is not None:
            oracle_vectors(lib, ids_by_source, args.oracle)
        rng = np.random.default_rng(args.seed)
        results = [trial(lib, ids_by_source, rng, args) for _ in range(args.trials)]
    print(f"dev corpus: {sum(map(len, ids_by_source.values()))} analysed tracks, {len(ids_by_source)} sources; "
          f"{args.trials} listeners, each {args.per_source} tracks of two sources (1-20 plays) + {args.noise} "
          f"others once; mix of {args.n}, played tracks left out, max per artist {args.max_per_artist}")
    print("| mix | share from the listener's two sources (mean ± sd) | min | max |")
    print("| --- | ---: | ---: | ---: |")
    for name in results[0]:
        v = np.array([r[name] for r in results])
        print(f"| {name} | {v.mean():.3f} ± {v.std():.3f} | {v.min():.2f} | {v.max():.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
