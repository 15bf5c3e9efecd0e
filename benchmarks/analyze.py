"""Analysis throughput, memory, rescan and query latency of cbrec, with Musly and bliss beside it.

    python benchmarks/analyze.py [--corpus /tmp/cbrec-dev-corpus [MORE ...]] [--model M.pt] [--peers musly,bliss]

Needs the dev corpus (``../shared/tools/build_dev_corpus.sh``) and, for the peers,
``pip install -r benchmarks/requirements.txt``. Prints one table. Targets (issue 2): ≥ 25
tracks/s on 2 CPU cores, peak RSS < 1.5 GB, ``similar`` < 10 ms and ``playlist(25)`` < 50 ms at
100k vectors, rescan of an unchanged 10k-file library < 10 s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import peers  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants, read from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as fh:
                rss[int(entry)] = int(fh.read().split()[1]) * PAGE
            parents[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {pid}, [pid]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(p, 0) for p in tree)


def run_measured(cmd: list[str]) -> tuple[dict, int]:
    """Run ``cmd`` (which prints one JSON line last); return its JSON and the peak tree RSS."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, _ = proc.communicate()
    thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {' '.join(cmd)}")
    return json.loads(out.strip().splitlines()[-1]), peak[0]


def child_scan(library: str, model: str, folders: list[str], workers: int) -> None:
    """(child process) scan ``folders`` into a fresh library, then rescan it unchanged.

    Also reports when the first vectors were committed (after the workers started, torch was
    imported and the network loaded) and the rate over the second half of the files: the rate a
    large library sees once start-up is paid (commits trail decoding by a few batches at most).
    """
    from core import Library

    first_commit: list[float] = []
    half_done: list[tuple[float, int]] = []

    def on_progress(p) -> None:
        if p.phase != "analysing" or not p.done:
            return
        now = time.monotonic() - started
        if not first_commit:
            first_commit.append(now)
        if not half_done and p.done >= p.total / 2:
            half_done.append((now, p.done))

    with Library.open(library, model, device="cpu", workers=workers) as lib:
        started = time.monotonic()
        report = lib.scan(folders, progress=on_progress)
        first = time.monotonic() - started
        started = time.monotonic()
        again = lib.scan(folders)
        rescan = time.monotonic() - started
    t_half, n_half = half_done[0] if half_done else (first, 0)
    print(json.dumps({"analysed": len(report.added), "failed": len(report.failed), "seconds": first,
                      "first_commit_seconds": first_commit[0] if first_commit else first,
                      "steady_rate": (len(report.added) - n_half) / max(first - t_half, 1e-9),
                      "rescan_seconds": rescan, "rescan_unchanged": again.unchanged}))


def untrained_model(folder: Path) -> Path:
    """The default architecture, freshly initialised: same cost as trained weights (speed only)."""
    from core.model import ARCHITECTURES, ModelCard, build_net, save_model

    cfg = ARCHITECTURES["dieleman2014"].default_config()
    card = ModelCard.from_config("untrained-speed-probe", "dieleman2014", cfg)
    save_model(build_net("dieleman2014", cfg["params"]), card, folder / "probe.pt")
    return folder / "probe.pt"


def synthetic_library(root: Path, model: str, n: int, dim: int, seed: int = 0):
    """A library whose store holds ``n`` tracks with clustered unit vectors (no audio)."""
    from core import Library
    from core.store import NewTrack

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(n // 200, 1), dim))
    vecs = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.normal(size=(n, dim))
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    lib = Library.open(root, model, device="cpu")
    items = [NewTrack(f"/synthetic/{i:06d}.mp3", 1000 + i, i, f"fp{i}",
                      {"title": f"Song {i}", "artist": f"Artist {i % 5000}", "duration": 200.0}, vecs[i])
             for i in range(n)]
    with lib.store.transaction() as conn:
        lib.store.upsert_tracks(conn, items, lib.analysis_version)
    return lib


def bench_latency(model: str, n: int, tmp: Path) -> dict:
    from core.model import load_model

    dim = load_model(model, device="cpu").dim
    lib = synthetic_library(tmp / "latency", model, n, dim)
    started = time.monotonic()
    lib.index()
    build = time.monotonic() - started
    rng = np.random.default_rng(1)
    ids = [int(i) for i in rng.choice(lib.vectors()[0], 250, replace=False)]
    sim, pl = [], []
    for tid in ids[:200]:
        t = time.perf_counter()
        lib.similar(tid, n=10)
        sim.append(time.perf_counter() - t)
    for tid in ids[200:]:
        t = time.perf_counter()
        lib.playlist([tid], length=25)
        pl.append(time.perf_counter() - t)
    lib.close()
    return {"index_build_s": build, "similar_ms": 1000 * float(np.median(sim)),
            "similar_p95_ms": 1000 * float(np.percentile(sim, 95)),
            "playlist_ms": 1000 * float(np.median(pl)), "playlist_p95_ms": 1000 * float(np.percentile(pl, 95))}


def bench_rescan_10k(model: str, source: Path, tmp: Path, n: int = 10_000) -> float:
    """Seconds to rescan an unchanged library of ``n`` files (hard links of one real track)."""
    from core import Library
    from core.scan import fingerprint
    from core.store import NewTrack
    from core.tagging import save_tag_names, save_tag_scores

    folder = tmp / "tenk"
    folder.mkdir()
    for i in range(n):
        sub = folder / f"album{i // 100:03d}"
        sub.mkdir(exist_ok=True)
        os.link(source, sub / f"track{i:05d}{source.suffix}")
    lib = Library.open(tmp / "tenk-lib", model, device="cpu")
    lib.add_folder(folder)
    vec = np.ones(lib.dim, np.float32) / np.sqrt(lib.dim)
    items = []
    for path in sorted(folder.rglob(f"*{source.suffix}")):
        st = path.stat()
        items.append(NewTrack(str(path), st.st_size, st.st_mtime_ns, fingerprint(str(path), st.st_size),
                              {"title": path.stem}, vec, st.st_ctime_ns, st.st_ino))
    with lib.store.transaction() as conn:
        lib.store.upsert_tracks(conn, items, lib.analysis_version)
        if lib.card.tags:  # a tagged model's analysis is complete only with its tag scores
            scores = np.full(len(lib.card.tags), 0.5, np.float32)
            save_tag_names(conn, lib.analysis_version, lib.card.tags)
            save_tag_scores(conn, lib.analysis_version, {item.fingerprint: scores for item in items}.items())
    started = time.monotonic()
    report = lib.scan()
    seconds = time.monotonic() - started
    assert report.unchanged == n and not report.added, report.summary()
    lib.close()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", nargs="+", default=["/tmp/cbrec-dev-corpus"],
                    help="one or more corpus folders (each with a library/ inside)")
    ap.add_argument("--model", help="model .pt (default: the bundled model; --untrained for speed only)")
    ap.add_argument("--untrained", action="store_true", help="time a freshly initialised default model")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--peers", default="musly,bliss")
    ap.add_argument("--latency-n", type=int, default=100_000)
    ap.add_argument("--child-scan", nargs="+", metavar="LIB MODEL FOLDER", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_scan:
        return child_scan(args.child_scan[0], args.child_scan[1], args.child_scan[2:], args.workers)

    tmp = Path(tempfile.mkdtemp(prefix="cbrec-bench-"))
    try:
        run_benchmarks(args, tmp)
    finally:  # the 10k rescan makes 10,000 hard links to one corpus file: never leave them behind
        shutil.rmtree(tmp, ignore_errors=True)


def run_benchmarks(args: argparse.Namespace, tmp: Path) -> None:
    """Every measurement, then the table."""
    from core.model import default_model_path

    model = args.model or (str(untrained_model(tmp)) if args.untrained else str(default_model_path() or ""))
    if not model:
        raise SystemExit("no bundled model: pass --model or --untrained")
    folders = [Path(c) / "library" for c in args.corpus]
    paths = sorted(str(p) for folder in folders for p in folder.rglob("*") if p.is_file())
    if not paths:
        raise SystemExit(f"no corpus at {folders[0]}: run ../shared/tools/build_dev_corpus.sh")

    scan, peak = run_measured([sys.executable, __file__, "--workers", str(args.workers),
                               "--child-scan", str(tmp / "lib"), model, *map(str, folders)])
    rate = scan["analysed"] / scan["seconds"]
    rows = [("cbrec scan (CPU)", scan["analysed"], scan["seconds"], rate, 1.0, peak)]
    for name in [p for p in args.peers.split(",") if p]:
        if not peers.available(name):
            rows.append((f"{name}: NOT INSTALLED (pip install -r benchmarks/requirements.txt)", 0, 0, 0, 0, 0))
            continue
        run, peer_peak = run_measured([sys.executable, "-c", _PEER_CHILD, name, str(args.workers), *paths])
        prate = run["ok"] / run["seconds"]
        rows.append((run["name"], run["ok"], run["seconds"],
                     prate, rate / prate if prate else float("inf"), peer_peak))
    latency = bench_latency(model, args.latency_n, tmp)
    rescan10k = bench_rescan_10k(model, Path(paths[0]), tmp)

    print(f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
          f", workers={args.workers}, model={Path(model).name}")
    print(f"{'system':<40} {'tracks':>6} {'seconds':>8} {'tracks/s':>9} {'cbrec x':>8} {'peak RSS':>9}")
    for name, n, secs, r, ratio, rss in rows:
        print(f"{name:<40} {n:>6} {secs:>8.1f} {r:>9.2f} {ratio:>8.2f} {rss / 2**20:>7.0f}MB")
    print(f"cbrec: first vectors committed after {scan['first_commit_seconds']:.1f} s (workers start, torch"
          f" import, model load); second half of the files at {scan['steady_rate']:.2f} tracks/s")
    print(f"rescan unchanged ({scan['rescan_unchanged']} corpus files): {scan['rescan_seconds']:.2f} s;"
          f" 10,000 files: {rescan10k:.2f} s")
    print(f"{args.latency_n:,} vectors: index build {latency['index_build_s']:.1f} s, similar {latency['similar_ms']:.2f}"
          f" ms (p95 {latency['similar_p95_ms']:.2f}), playlist(25) {latency['playlist_ms']:.1f} ms"
          f" (p95 {latency['playlist_p95_ms']:.1f})")


_PEER_CHILD = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from benchmarks import peers
name, workers, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
run = (peers.analyse_musly if name == "musly" else peers.analyse_bliss)(paths, workers)
print(json.dumps({{"name": run.name, "ok": run.ok, "seconds": run.seconds}}))
"""


if __name__ == "__main__":
    main()
