"""Start-up time of the desktop app with a large library: process start -> window shown ->
library open and every track in the table.

    python benchmarks/startup.py                    # 50,000 tracks (and 10,000 for scale)
    python benchmarks/startup.py --tracks 50000 --repeat 3

The library is filled through the core API (``Library.open`` + its store's ``upsert_tracks``)
with synthetic tags and random unit vectors for the model in use (the bundled one, $CBREC_MODEL,
--model, or a freshly initialised test model). Each run is a fresh ``python`` process driving
``desktop.app.create_window``, the same code as the ``cbrec`` command; offscreen unless $DISPLAY
is set. Prints one table (median of the repeats).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ["blue", "night", "river", "echo", "gold", "rain", "fire", "dream", "stone", "light", "north", "glass"]
GENRES = ["Rock", "Jazz", "Folk", "Electronic", "Ambient", "Classical", "Hip-Hop", "Pop"]


def pick_model(arg: str | None, work: Path) -> str:
    if arg or os.environ.get("CBREC_MODEL"):
        return arg or os.environ["CBREC_MODEL"]
    try:
        from core.model import default_model_path

        if default_model_path():
            return str(default_model_path())
    except Exception:
        pass
    from tests.model_factory import make_test_model

    return str(make_test_model(work / "model"))


def populate(library_dir: Path, model: str, n: int, seed: int = 0) -> float:
    """Fill a library with ``n`` synthetic analysed tracks; returns the seconds it took."""
    import numpy as np

    from core import Library
    from core.store import NewTrack

    start = time.monotonic()
    rng = np.random.default_rng(seed)
    lib = Library.open(library_dir, model=model, device="cpu")
    dim = lib.dim
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = rng.integers(0, len(WORDS), size=(n, 2))
    batch = []
    for i in range(n):
        artist = f"Artist {i % 2000:04d}"
        tags = {"title": f"{WORDS[words[i, 0]].title()} {WORDS[words[i, 1]]} {i}", "artist": artist,
                "album": f"Album {i % 6000:04d}", "track_number": i % 12 + 1, "year": 1960 + i % 60,
                "genre": GENRES[i % len(GENRES)], "duration": float(120 + i % 300)}
        batch.append(NewTrack(f"/synthetic/{artist}/{i:06d}.flac", 1000 + i, i, f"fp{i:08d}", tags, vectors[i]))
        if len(batch) == 5000 or i == n - 1:
            with lib.store.transaction() as conn:
                lib.store.upsert_tracks(conn, batch, lib.analysis_version)
            batch = []
    assert len(lib) == n
    lib.close()
    return time.monotonic() - start


CHILD = r"""
import json, sys, time
t_python = time.time()
sys.path.insert(0, {root!r})
from desktop.app import create_window, parse_args
app, win = create_window(parse_args(["--library", {lib!r}, "--model", {model!r}, "--device", "cpu"]))
marks = {{"python": t_python}}
from PySide6.QtCore import QTimer
QTimer.singleShot(0, lambda: marks.setdefault("shown", time.time()))
def ready():
    marks["ready"] = time.time()
    marks["rows"] = win.library_view.model.rowCount()
    win.library_view.table.viewport().repaint()
    marks["painted"] = time.time()
    app.quit()
win.library_ready.connect(ready)
win.library_failed.connect(lambda m: (marks.setdefault("error", m), app.quit()))
QTimer.singleShot(120000, app.quit)
app.exec()
print("MARKS " + json.dumps(marks))
"""


def run_once(library_dir: Path, model: str, config_home: Path) -> dict:
    env = dict(os.environ, XDG_CONFIG_HOME=str(config_home))
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    code = CHILD.format(root=str(ROOT), lib=str(library_dir), model=model)
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("MARKS ")), None)
    if line is None:
        raise SystemExit(f"the app did not report:\n{proc.stdout}\n{proc.stderr[-2000:]}")
    marks = json.loads(line[6:])
    if "error" in marks:
        raise SystemExit(f"the library did not open: {marks['error']}")
    return {"python": marks["python"] - start, "shown": marks["shown"] - start,
            "ready": marks["ready"] - start, "painted": marks["painted"] - start, "rows": marks["rows"]}


def map_times(library_dir: Path, model: str) -> dict:
    """Seconds to the first (PCA) map and to the refined layout, as the map tab computes them."""
    from core import Library
    from desktop.map_panel import _load_and_pca, _neighbors

    lib = Library.open(library_dir, model=model, device="cpu")
    try:
        start = time.monotonic()
        _ids, vectors, _tracks, _xy, _ = _load_and_pca(lib)
        first = time.monotonic() - start
        refined = _neighbors(vectors, __import__("threading").Event())
        return {"map_pca": first, "map_refined": first + (refined[1] if refined else float("nan"))}
    finally:
        lib.close()


def main() -> int:
    p = argparse.ArgumentParser(description="Desktop start-up time with a large library.")
    p.add_argument("--tracks", type=int, nargs="+", default=[10_000, 50_000])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--model")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cbrec-startup-"))
    model = pick_model(args.model, work)
    rows = []
    for n in args.tracks:
        lib_dir = work / f"lib-{n}"
        fill = populate(lib_dir, model, n)
        runs = [run_once(lib_dir, model, work / "config") for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in ("python", "shown", "ready", "painted")}
        assert all(r["rows"] == n for r in runs)
        med.update(map_times(lib_dir, model))
        rows.append((n, fill, med))
    print(f"\ncbrec desktop start-up (median of {args.repeat} fresh processes; seconds since spawn; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, {os.environ.get('QT_QPA_PLATFORM') or 'offscreen'})")
    print(f"{'tracks':>8} | {'populate':>8} | {'python up':>9} | {'window shown':>12} | "
          f"{'library open + rows':>19} | {'table painted':>13} | {'map (PCA)':>9} | {'map refined':>11}")
    print("-+-".join("-" * w for w in (8, 8, 9, 12, 19, 13, 9, 11)))
    for n, fill, m in rows:
        print(f"{n:>8,} | {fill:>8.1f} | {m['python']:>9.2f} | {m['shown']:>12.2f} | {m['ready']:>19.2f} | "
              f"{m['painted']:>13.2f} | {m['map_pca']:>9.2f} | {m['map_refined']:>11.2f}")
    print("(window shown .. table painted: seconds since the process was spawned; map: seconds in the "
          "map's worker, PCA first, then the neighbourhood layout)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
