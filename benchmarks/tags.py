"""Automatic tag quality: each clip's top tags from a tagged model, and agreement with real tags where any exist.

    python benchmarks/tags.py [--model resources/models/musicnn.pt] [--fixtures ../shared/fixtures/audio]
                              [--corpus /tmp/cbrec-dev-corpus] [-n 5] [--workers 2] [--json tags.json]

Every folder is scanned into a fresh ``Library`` (the app's own path: decoding, windows, model,
tag scores stored), then ``Library.tags`` gives each file's best tags, printed for a human check.

Ground truth, where real tags exist (each clip's expected tags are printed with where they came from):

- **genre tag**: the genre written in the file's own tags (as cbrec reads them), when it is one
  of the model's tags (e.g. "Folk", "Jazz", "Electronic"; "Classical" or "Soundtrack" are not);
- **attribution**: the words of a clip's ``.txt`` attribution file that are tags of the model
  (e.g. "Jazz_Sampler" → jazz, "mostly Blues and Dorian scale" → blues);
- **Last.fm (HetRec)**: the real Last.fm user tags of the composer an attribution names
  (``../shared/fixtures/hetrec``: Tchaikovsky, Brahms), those that are tags of the model. These
  are artist-level tags applied to one recording: indicative, not exact.

For each expected tag: its rank among the model's tags for that clip (1 = best; chance is the
middle), whether it is in the top ``n``, and the clip's ROC-AUC of expected versus other tags.
With a handful of clips this is a sanity check, not a measurement of tagging accuracy (musicnn's
own evaluation is on the MSD test split, which is not available here).

The dev corpus has sources (the game a soundtrack comes from) and few genre tags: the files whose
genre tag is one of the model's tags are scored as above; every file's tags are printed, with each
source's most frequent top tags, and the **consistency** of the tags is
measured as same-source precision@10 of the tag-score vectors (cosine; macro over sources),
beside chance (a random ordering). That says whether tags separate the sources, not whether
they are right.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
K = 10
#: Composers named by the attribution files, as HetRec's artists.dat spells them.
COMPOSERS = {"Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy": "Pyotr Ilyich Tchaikovsky",
             "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra)": "Johannes Brahms"}


def scan_tags(folder: Path, model: str, workers: int, n_all: int) -> tuple[dict[str, list], dict[str, str], dict]:
    """Scan ``folder`` into a fresh library; every file's tags (all of them, best first) and the genre
    in its own tags (when it has one), by path."""
    from core import Library

    with tempfile.TemporaryDirectory() as tmp, Library.open(tmp, model, device="cpu", workers=workers) as lib:
        if not lib.tag_names:
            sys.exit(f"the model {model} predicts no tags (its card lists none): choose a tagged model")
        t0 = time.monotonic()
        report = lib.scan([str(folder)])
        seconds = time.monotonic() - t0
        tags = {t.path: lib.tags(t, n=n_all) for t in lib.tracks() if t.status == "ok"}
        genres = {t.path: t.genre for t in lib.tracks() if t.genre}
        info = {"analysed": len(report.added), "failed": [f"{p}: {r}" for p, r in report.failed],
                "scan_seconds": round(seconds, 1)}
    return tags, genres, info


def genre_tags(genre: str | None, vocabulary: list[str]) -> list[str]:
    """The model's tag that a file's genre tag names exactly (case-insensitive), if any."""
    return [t for t in vocabulary if genre and t.lower() == genre.strip().lower()]


def print_agreement(rows: list[dict], vocabulary: list[str], n: int) -> None:
    """One table row: clips with real tags, expected tags, mean rank, hit@n and ROC-AUC (with chance)."""
    print(f"\n| clips with real tags | expected tags | mean rank (chance) | in top {n} (chance) | mean ROC-AUC |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    if not rows:
        print("| 0 | 0 | - | - | - |")
        return
    ranks = [r for a in rows for r in a["ranks"]]
    hits = [h for a in rows for h in a["hit"]]
    v = len(vocabulary)
    print(f"| {len(rows)} | {len(ranks)} | {np.mean(ranks):.1f} ({(v + 1) / 2:.1f}) | "
          f"{np.mean(hits):.2f} ({n / v:.2f}) | {np.mean([a['auc'] for a in rows]):.3f} |")


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def attribution_tags(txt: Path, vocabulary: list[str]) -> list[str]:
    """Tags of the model that the attribution text names as whole words (case-insensitive), leaving
    out the words of the clip's own title (its file name): "Dance" in "Hungarian Dance" is a form,
    not the dance genre."""
    title = set(_words(txt.stem))
    words = " " + " ".join(w for w in _words(txt.read_text(encoding="utf-8", errors="replace"))
                           if w not in title) + " "
    return [t for t in vocabulary if f" {' '.join(_words(t))} " in words]


def hetrec_tags(hetrec: Path, artist: str, vocabulary: list[str]) -> dict[str, int]:
    """The model's tags among ``artist``'s real Last.fm tags in HetRec, with how many users gave each."""
    ids = [line.split("\t")[0] for line in (hetrec / "artists.dat").read_text(encoding="utf-8").splitlines()[1:]
           if line.split("\t")[1:2] == [artist]]
    names = {}
    for line in (hetrec / "tags.dat").read_bytes().decode("latin-1").splitlines()[1:]:
        tid, _, name = line.partition("\t")
        names[tid] = name.strip().lower()
    lower = {t.lower(): t for t in vocabulary}
    counts: Counter = Counter()
    for line in (hetrec / "user_taggedartists.dat").read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1] in ids and names.get(parts[2]) in lower:
            counts[lower[names[parts[2]]]] += 1
    return dict(counts)


def agreement(ranked: list[tuple[str, float]], expected: list[str], n: int) -> dict:
    """Ranks of the expected tags in ``ranked`` (all tags, best first), hit@n and ROC-AUC."""
    order = [name for name, _ in ranked]
    ranks = [order.index(t) + 1 for t in expected]
    m, total = len(expected), len(order)
    # AUC = share of (expected, other) pairs ordered right
    above = sum(sum(1 for r2 in range(1, r) if order[r2 - 1] not in expected) for r in ranks)
    auc = 1.0 - above / (m * (total - m))
    return {"ranks": ranks, "hit": [r <= n for r in ranks], "auc": auc}


def evaluate_fixtures(args: argparse.Namespace) -> dict:
    tags, genres, info = scan_tags(args.fixtures, args.model, args.workers, n_all=1000)
    print(f"\n## Fixture clips ({args.fixtures}): {info['analysed']} analysed in {info['scan_seconds']} s")
    vocabulary = [name for name, _ in next(iter(tags.values()))] if tags else []
    rows, results = [], {}
    for path in sorted(tags):
        stem = Path(path).name.split(".")[0]
        print(f"{Path(path).name}: " + ", ".join(f"{t} {s:.2f}" for t, s in tags[path][:args.n]))
        plain = str(Path(path).parent / f"{stem}.ogg")
        if path != plain and plain in tags:   # Vibe_Ace.hq.ogg: the same recording, counted once
            print(f"    (the same recording as {Path(plain).name}: not counted twice)")
            continue
        truth: dict[str, str] = {t: f"genre tag {genres[path]!r}" for t in genre_tags(genres.get(path), vocabulary)}
        txt = Path(path).parent / f"{stem}.txt"
        if txt.is_file():
            truth.update({t: "attribution" for t in attribution_tags(txt, vocabulary) if t not in truth})
        hetrec = SHARED / "fixtures" / "hetrec"
        if stem in COMPOSERS and (hetrec / "artists.dat").is_file():
            for t, users in hetrec_tags(hetrec, COMPOSERS[stem], vocabulary).items():
                truth.setdefault(t, f"Last.fm tag of {COMPOSERS[stem]} ({users} users, HetRec)")
        if truth:
            a = agreement(tags[path], list(truth), args.n)
            rows.append(a)
            results[Path(path).name] = {"expected": truth, **a}
            for (t, src), r in zip(truth.items(), a["ranks"], strict=True):
                print(f"    expected {t!r} ({src}): rank {r} of {len(vocabulary)}")
    print_agreement(rows, vocabulary, args.n)
    return {"scan": info, "clips": results, "tags": {Path(p).name: t[:args.n] for p, t in tags.items()}}


def evaluate_corpus(args: argparse.Namespace) -> dict:
    labels = args.corpus / "labels.tsv"
    if not labels.is_file():
        print(f"\n(no dev corpus: {labels} is absent; build it with ../shared/tools/build_dev_corpus.sh)")
        return {}
    source_of = {}
    for line in labels.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0]:
            source_of[str((args.corpus / "library" / parts[0]).resolve())] = parts[1]
    tags, genres, info = scan_tags(args.corpus / "library", args.model, args.workers, n_all=1000)
    print(f"\n## Dev corpus ({args.corpus}): {info['analysed']} analysed in {info['scan_seconds']} s, "
          f"{len(info['failed'])} failed; printed for a human check")
    paths = [p for p in sorted(tags) if p in source_of]
    for p in paths:
        print(f"{source_of[p]}\t{Path(p).name}\t" + ", ".join(f"{t} {s:.2f}" for t, s in tags[p][:args.n]))
    sources = [source_of[p] for p in paths]
    names = [t for t, _ in tags[paths[0]]]
    rows = []
    for p in paths:
        expected = genre_tags(genres.get(p), names)
        if expected:
            rows.append(agreement(tags[p], expected, args.n))
            print(f"    {Path(p).name}: genre tag {genres[p]!r} -> rank {rows[-1]['ranks'][0]} of {len(names)}")
    print(f"Files whose genre tag is one of the model's tags: {len(rows)} "
          f"(genre tags present: {len(genres)} of {len(paths)})")
    print_agreement(rows, names, args.n)
    print("\n| source | tracks | most frequent top-3 tags (tracks) |\n| --- | ---: | --- |")
    for s in sorted(set(sources)):
        c = Counter(t for p in paths if source_of[p] == s for t, _ in tags[p][:3])
        print(f"| {s} | {sources.count(s)} | " + ", ".join(f"{t} ({k})" for t, k in c.most_common(4)) + " |")
    names = sorted(names)  # a fixed order for the score vectors
    mat = np.array([[dict(tags[p])[t] for t in names] for p in paths], np.float64)
    unit = mat / np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    per_query = [np.mean([sources[j] == sources[i] for j in np.argsort(-sim[i], kind="stable")[:K]])
                 for i in range(len(paths))]
    chance = [(sources.count(sources[i]) - 1) / (len(paths) - 1) for i in range(len(paths))]
    macro = {s: (np.mean([q for q, t in zip(per_query, sources, strict=True) if t == s]),
                 np.mean([c for c, t in zip(chance, sources, strict=True) if t == s])) for s in set(sources)}
    p_macro = float(np.mean([v[0] for v in macro.values()]))
    c_macro = float(np.mean([v[1] for v in macro.values()]))
    print(f"\nTag consistency: same-source P@{K} (macro) of the {len(names)} tag scores (cosine): "
          f"{p_macro:.3f} (chance {c_macro:.3f})")
    return {"scan": info, "p_at_10_macro": p_macro, "chance_macro": c_macro, "genre_rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "resources" / "models" / "musicnn.pt"))
    ap.add_argument("--fixtures", type=Path, default=SHARED / "fixtures" / "audio")
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/cbrec-dev-corpus"))
    ap.add_argument("--no-corpus", action="store_true", help="only the fixture clips")
    ap.add_argument("-n", type=int, default=5, help="top tags shown (and the hit@n cut-off)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    results = {"model": args.model}
    if args.fixtures.is_dir():
        results["fixtures"] = evaluate_fixtures(args)
    else:
        print(f"(no fixture clips at {args.fixtures}: skipped)")
    if not args.no_corpus:
        results["corpus"] = evaluate_corpus(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
