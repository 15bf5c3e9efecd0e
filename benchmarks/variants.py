"""Model variants side by side on the dev corpus: same-source P@10 of each model, without scanning.

    python benchmarks/variants.py MODEL.pt[=LABEL] [...] [--corpus /tmp/cbrec-dev-corpus]
                                  [--windows 8,4,3] [--cache /tmp/cbrec-variants]

For every model and window count, the corpus is decoded with ``core.audio.load_windows`` in the
model's geometry (as ``Library.scan`` decodes it; cached per geometry), embedded with the model's
own ``Embedder`` and scored by macro precision@10 of cosine neighbours by source, as
``benchmarks/quality.py`` scores a scanned library. Each row is printed twice: raw vectors and
*centred* ones (the library's mean vector subtracted before normalising: a library-level
statistic, computed on the library being indexed, no training data). Also prints ms per track of
inference, CPU time of one thread (decoding excluded; ``benchmarks/analyze.py`` measures the whole scan).
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import neighbours_from_scores, precision_at_k, read_labels  # noqa: E402


def _decode(job: tuple[str, int, int, int]) -> np.ndarray:
    from core.audio import load_windows

    path, sr, samples, n = job
    return load_windows(path, sr, samples, n).windows.astype(np.float32)


def corpus_windows(paths: list[str], sr: int, samples: int, n: int, cache: Path, workers: int) -> np.ndarray:
    """``(n_tracks, n, samples)`` windows of the corpus, decoded once per geometry."""
    file = cache / f"win_{sr}_{samples}_{n}_{len(paths)}.npy"
    if file.exists():
        return np.load(file)
    with ProcessPoolExecutor(workers) as pool:
        windows = np.stack(list(pool.map(_decode, [(p, sr, samples, n) for p in paths], chunksize=4)))
    cache.mkdir(parents=True, exist_ok=True)
    np.save(file, windows.astype(np.float16))
    return windows


def embeddings(embedder, windows: np.ndarray, cache: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's track vectors and tag scores for ``windows``, cached by model version and geometry."""
    if cache.exists():
        found = np.load(cache)
        return found["vectors"], (found["tags"] if "tags" in found else None)
    vectors, tags = embedder.embed_with_tags(windows)
    np.savez(cache, vectors=vectors, **({"tags": tags} if tags is not None else {}))
    return vectors, tags


def p10(vectors: np.ndarray, sources: list[str]) -> float:
    """Macro P@10 of cosine neighbours."""
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return precision_at_k(neighbours_from_scores(v @ v.T, larger_is_closer=True), sources)[0]


def centred(vectors: np.ndarray) -> np.ndarray:
    """Unit vectors minus their mean (the library-level centring the index can apply)."""
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return v - v.mean(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="PATH[=LABEL]")
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/cbrec-dev-corpus"))
    ap.add_argument("--windows", default="", help="window counts to try, e.g. 8,4 (default: each card's)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/cbrec-variants"))
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    import torch

    from core.model import load_model

    paths, sources = read_labels(args.corpus)
    print(f"{len(paths)} tracks, {len(set(sources))} sources, corpus {args.corpus}", flush=True)
    print("| model | windows | P@10 raw | P@10 centred | tags P@10 | ms/track (1 thread CPU) |", flush=True)
    print("| --- | ---: | ---: | ---: | ---: | ---: |", flush=True)
    for spec in args.models:
        path, _, label = spec.partition("=")
        embedder = load_model(path, device="cpu")
        counts = [int(n) for n in args.windows.split(",") if n] or [embedder.n_windows]
        for n in counts:
            windows = corpus_windows(paths, embedder.sample_rate, embedder.window_samples, n, args.cache, args.workers)
            torch.set_num_threads(1)   # one thread: on a loaded machine two spin at every barrier
            started = time.thread_time()
            embedder.embed_with_tags(windows[:8])
            ms = (time.thread_time() - started) * 1000 / 8   # CPU time of this thread: robust to a loaded machine
            vectors, tags = embeddings(embedder, windows, args.cache / f"emb_{embedder.version}_{n}_{len(paths)}.npz")
            tag_p10 = f"{p10(tags, sources):.3f}" if tags is not None else "-"
            print(f"| {label or Path(path).stem} | {n} | {p10(vectors, sources):.3f} | "
                  f"{p10(centred(vectors), sources):.3f} | {tag_p10} | {ms:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
