"""Can the playlist rules tell a re-encoded copy of a track from a different song?

    python benchmarks/duplicates.py [--corpus /tmp/cbrec-dev-corpus] [--model resources/models/default.pt]
                                    [--sample 40] [--workers 2]

Re-encodes ``--sample`` corpus tracks three ways with the ``ffmpeg`` command (MP3 128 kbit/s,
Vorbis q3, AAC 96 kbit/s, tags dropped), scans originals and copies into one fresh ``Library``,
then reports how far the copies' vectors and lengths stray from their originals, and for each
rule the share of copies it catches against the share of corpus tracks that have a *different*
corpus track it would wrongly call the same recording. The playlist rule
(``core.playlist``: cosine > NEAR_DUPLICATE and lengths within SAME_LENGTH) is the last row.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import read_labels  # noqa: E402
from core import Library  # noqa: E402
from core.playlist import NEAR_DUPLICATE, SAME_LENGTH  # noqa: E402

ENCODINGS = {"mp3": ["-b:a", "128k"], "ogg": ["-c:a", "libvorbis", "-q:a", "3"], "m4a": ["-c:a", "aac", "-b:a", "96k"]}


def reencode(paths: list[str], out: Path) -> dict[str, str]:
    """``{copy path: original path}`` for every encoding of every path."""
    copies = {}
    for k, src in enumerate(paths):
        for ext, args in ENCODINGS.items():
            dst = out / f"{k:03d}.{ext}"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, "-map_metadata", "-1", "-vn", *args, str(dst)],
                           check=True)
            copies[str(dst.resolve())] = src
    return copies


def rule_rows(cos_copy: np.ndarray, dlen_copy: np.ndarray, cos: np.ndarray, dlen: np.ndarray) -> list[tuple]:
    """(rule, copies caught, tracks with a different track flagged) for cosine-only and cosine+length rules."""
    rows = []
    for t in (0.99, 0.995, 0.999, 0.9999):
        rows.append((f"cosine > {t}", np.mean(cos_copy > t), np.mean((cos > t).any(1))))
    for t in (0.95, NEAR_DUPLICATE):
        rows.append((f"cosine > {t} and lengths within {SAME_LENGTH} s", np.mean((cos_copy > t) & (dlen_copy < SAME_LENGTH)),
                     np.mean(((cos > t) & (dlen < SAME_LENGTH)).any(1))))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/cbrec-dev-corpus"))
    ap.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "resources" / "models" / "default.pt"))
    ap.add_argument("--sample", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("needs the ffmpeg command (apt-get install ffmpeg) to re-encode the copies")
    paths, _ = read_labels(args.corpus)
    sample = [paths[i] for i in sorted(np.random.default_rng(0).choice(len(paths), args.sample, replace=False))]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "copies").mkdir()
        copies = reencode(sample, Path(tmp) / "copies")
        with Library.open(Path(tmp) / "lib", args.model, device="cpu", workers=args.workers) as lib:
            lib.scan([str(args.corpus / "library"), str(Path(tmp) / "copies")])
            ids, vecs = lib.vectors()
            row = {int(i): k for k, i in enumerate(ids)}
            by_path = {t.path: t for t in lib.tracks()}
    vec = {p: vecs[row[t.id]] for p, t in by_path.items()}
    length = {p: t.duration for p, t in by_path.items()}
    cos_copy = np.array([float(vec[c] @ vec[o]) for c, o in copies.items()])
    dlen_copy = np.array([abs(length[c] - length[o]) for c, o in copies.items()])
    x = np.stack([vec[p] for p in paths])
    lens = np.array([length[p] for p in paths], dtype=np.float64)
    cos = x @ x.T
    np.fill_diagonal(cos, -1.0)
    dlen = np.abs(lens[:, None] - lens[None, :])
    print(f"{len(copies)} copies of {len(sample)} tracks; {len(paths)} corpus tracks ({args.corpus})")
    print(f"copies vs originals: cosine min {cos_copy.min():.4f}, 1st percentile {np.percentile(cos_copy, 1):.4f}, "
          f"median {np.median(cos_copy):.5f}; length difference max {dlen_copy.max():.3f} s")
    print(f"corpus: mean of the unit vectors has length {np.linalg.norm(x.mean(0)):.2f}; "
          f"median cosine to the nearest other track {np.median(cos.max(1)):.4f}\n")
    print("| rule | copies caught | tracks with a different track flagged |\n|---|---:|---:|")
    for name, caught, wrong in rule_rows(cos_copy, dlen_copy, cos, dlen):
        print(f"| {name} | {100 * caught:.1f} % | {100 * wrong:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
