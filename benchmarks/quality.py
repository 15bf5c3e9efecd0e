"""Similarity quality on held-out sources: do a track's 10 nearest neighbours come from its source?

    python benchmarks/quality.py [--corpus /tmp/cbrec-dev-corpus] [--model resources/models/default.pt=bundled]
                                 [--model other.pt=label ...] [--workers 2] [--out quality.md] [--json q.json]

For every track of the corpus (``labels.tsv``: ``path TAB source TAB duration``), precision@10 is
the fraction of its 10 neighbours that share its source (the game whose soundtrack it is);
"macro" averages it per source, then over sources. Systems, in one run on the same tracks:

- each ``--model``: a fresh ``Library`` scanned over the corpus, neighbours from ``Library.similar``
  (the app's own path: decoding, windows, model, Annoy index); its scan speed is reported too;
- MFCC mean/std: 13 MFCCs (DCT of the model's log-mel, 128 bands, 22050 Hz) of the centred 30 s,
  mean and standard deviation per coefficient, standardised over the corpus, cosine similarity;
- Musly (``pymusly``, "timbre" method, 30 s excerpts; distances, smaller = more similar; checked
  on a pair of identical tracks before use).

Prints one table (system, P@10 macro, P@10 micro, relative to Musly; for cbrec also its playlists:
the share of a seed's 10 picks from its source, and of its 10 nearest the playlist keeps) and
writes it as markdown.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import peers  # noqa: E402

K = 10


def read_labels(corpus: Path) -> tuple[list[str], list[str]]:
    """Absolute paths and sources of the corpus tracks, in ``labels.tsv`` order."""
    paths, sources = [], []
    for line in (corpus / "labels.tsv").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0]:
            paths.append(str((corpus / "library" / parts[0]).resolve()))
            sources.append(parts[1])
    return paths, sources


def precision_at_k(neighbours: list[list[int]], sources: list[str]) -> tuple[float, float, dict[str, float]]:
    """``(macro, micro, per source)`` precision@K of neighbour lists (indices into ``sources``)."""
    per_query = np.array([np.mean([sources[j] == sources[i] for j in nb[:K]]) if nb else 0.0
                          for i, nb in enumerate(neighbours)])
    per_source = {s: float(per_query[[i for i, t in enumerate(sources) if t == s]].mean()) for s in sorted(set(sources))}
    return float(np.mean(list(per_source.values()))), float(per_query.mean()), per_source


def neighbours_from_scores(scores: np.ndarray, larger_is_closer: bool) -> list[list[int]]:
    """Top-K other items per row of a (n, n) similarity or distance matrix."""
    s = np.array(scores, dtype=np.float64)
    s = -s if larger_is_closer else s
    np.fill_diagonal(s, np.inf)
    return [np.argsort(row, kind="stable")[:K].tolist() for row in s]


def cbrec_neighbours(model: str, paths: list[str], sources: list[str], corpus: Path,
                     workers: int) -> tuple[list[list[int]], dict]:
    """Scan the corpus into a fresh library with ``model``; ``Library.similar`` for every track, and
    a playlist of K picks from every track: the share of picks from the seed's source (micro) and
    the share of its K nearest neighbours the playlist keeps (its rules drop only duplicates)."""
    from core import Library

    index = {p: i for i, p in enumerate(paths)}
    with tempfile.TemporaryDirectory() as tmp, Library.open(tmp, model, device="cpu", workers=workers) as lib:
        t0 = time.monotonic()
        report = lib.scan([str(corpus / "library")])
        seconds = time.monotonic() - t0
        by_path = {t.path: t for t in lib.tracks()}
        out, same, kept = [], [], []
        for p in paths:
            hits = lib.similar(by_path[p], n=K) if p in by_path else []
            out.append([index[h.track.path] for h in hits if h.track.path in index])
            if p in by_path:                                   # a playlist of K picks from this seed
                picks = [h.track.path for h in lib.playlist(by_path[p], length=K + 1).hits()[1:]]
                same.append(np.mean([sources[index[q]] == sources[index[p]] for q in picks if q in index]))
                kept.append(len({h.track.path for h in hits} & set(picks)) / max(len(hits), 1))
        info = {"analysed": len(report.added), "failed": len(report.failed), "scan_seconds": round(seconds, 1),
                "tracks_per_s": round(len(report.added) / max(seconds, 1e-9), 1),
                "playlist_same_source": round(float(np.mean(same)), 3) if same else None,
                "playlist_keeps_nearest": round(float(np.mean(kept)), 3) if kept else None,
                "analysis_version": lib.analysis_version}
    return out, info


def _mfcc_stats(path: str) -> np.ndarray | None:
    from trainer.baselines import mfcc_mean_std
    from trainer.features import FeatureSpec, clip_audio, encode
    spec = FeatureSpec.for_architecture("dieleman2014", clip_seconds=30.0)
    try:
        return mfcc_mean_std(encode(clip_audio(path, spec), spec).astype(np.float32))
    except Exception:  # noqa: BLE001 - a failed track is reported, not fatal
        return None


def mfcc_scores(paths: list[str], workers: int) -> tuple[np.ndarray, int]:
    """(n, n) cosine similarities of standardised MFCC mean/std vectors; failures get zeros."""
    with mp.get_context("spawn").Pool(workers) as pool:
        feats = pool.map(_mfcc_stats, paths, chunksize=4)
    failed = sum(f is None for f in feats)
    x = np.stack([f if f is not None else np.zeros(26) for f in feats])
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    return x @ x.T, failed


def musly_scores(paths: list[str], workers: int) -> tuple[np.ndarray, int, dict]:
    """Musly distances (n, n); failed tracks get +inf; plus the identical-pair check."""
    run = peers.analyse_musly(paths + paths[:1], workers)
    feats = run.features
    degenerate = [paths[i] for i, f in enumerate(feats[:len(paths)]) if f is not None and not peers.musly_track_is_finite(f)]
    if degenerate:  # Musly's own model of these excerpts is NaN (silence): they fail, as a decode error would
        print(f"Musly: {len(degenerate)} track(s) with a degenerate (non-finite) timbre model, counted as failed: "
              f"{', '.join(Path(p).name for p in degenerate[:5])}", file=sys.stderr)
    feats = [f if f is not None and peers.musly_track_is_finite(f) else None for f in feats]
    ok = [i for i, f in enumerate(feats) if f is not None]
    dist = np.full((len(feats), len(feats)), np.inf)
    dist[np.ix_(ok, ok)] = peers.musly_distances([feats[i] for i in ok])
    if not np.isfinite(dist[np.ix_(ok, ok)]).all():
        raise SystemExit("Musly returned NaN or infinite distances between analysed tracks; its P@10 would be "
                         "meaningless, so this run stops here.")
    n = len(paths)
    twin = dist[0, n]                                   # track 0 against its identical copy
    others = np.delete(dist[0, :n], 0)
    check = {"identical_pair_distance": float(twin), "nearest_other_distance": float(others.min()),
             "identical_is_nearest": bool(twin <= others.min()), "seconds": round(run.seconds, 1)}
    if not check["identical_is_nearest"]:
        raise SystemExit(f"Musly check failed: identical files are not nearest ({check}); are these distances?")
    return dist[:n, :n], n - sum(f is not None for f in feats[:n]), check


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/cbrec-dev-corpus"))
    ap.add_argument("--model", action="append", default=[], help="PATH[=LABEL]; repeatable")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-musly", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("quality.md"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    paths, sources = read_labels(args.corpus)
    models = args.model or [str(Path(__file__).resolve().parents[1] / "resources" / "models" / "default.pt") + "=bundled"]
    rows: dict[str, dict] = {}
    for spec in models:
        path, _, label = spec.partition("=")
        nb, info = cbrec_neighbours(path, paths, sources, args.corpus, args.workers)
        rows[f"cbrec: {label or Path(path).stem}"] = {"neighbours": nb, **info}
        print(f"{label or path}: {info}", file=sys.stderr)
    sims, failed = mfcc_scores(paths, args.workers)
    rows["MFCC mean/std (13 MFCC, 30 s, cosine)"] = {"neighbours": neighbours_from_scores(sims, True), "failed": failed}
    musly_check = None
    if not args.no_musly and peers.available("musly"):
        dist, failed, musly_check = musly_scores(paths, args.workers)
        rows["Musly (timbre, 30 s)"] = {"neighbours": neighbours_from_scores(dist, False), "failed": failed}
    return report(rows, sources, args, musly_check)


def report(rows: dict[str, dict], sources: list[str], args: argparse.Namespace, musly_check: dict | None) -> int:
    """Print and write the table; returns 0."""
    musly = next((k for k in rows if k.startswith("Musly")), None)
    for r in rows.values():
        r["macro"], r["micro"], r["per_source"] = precision_at_k(r.pop("neighbours"), sources)
    base = rows[musly]["macro"] if musly else None
    lines = [f"Precision@{K} of same-source neighbours, {len(sources)} tracks, {len(set(sources))} sources "
             f"({args.corpus}); macro = mean over sources.", "",
             f"| system | P@{K} macro | P@{K} micro | vs Musly (macro) | notes |", "|---|---:|---:|---:|---|"]
    for name, r in rows.items():
        rel = f"{100 * (r['macro'] / base - 1):+.1f} %" if base else "n/a"
        notes = f"{r['failed']} failed"
        if "tracks_per_s" in r:
            notes = (f"{r['tracks_per_s']} tracks/s scan, {notes}; playlist({K} picks): "
                     f"{r['playlist_same_source']:.3f} from the seed's source, keeps "
                     f"{100 * r['playlist_keeps_nearest']:.0f} % of its {K} nearest")
        lines.append(f"| {name} | {r['macro']:.3f} | {r['micro']:.3f} | {rel} | {notes} |")
    if musly_check:
        lines += ["", f"Musly check: identical-file distance {musly_check['identical_pair_distance']:.4g} "
                      f"< nearest other {musly_check['nearest_other_distance']:.4g} (smaller = more similar)."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({"quality": {"k": K, "corpus": str(args.corpus), "systems": rows,
                                                     "musly_check": musly_check}}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
