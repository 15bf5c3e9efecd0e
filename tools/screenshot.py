"""Start the real app under Xvfb with a small generated library and save screenshots.

    python tools/screenshot.py                 # -> /tmp/cbrec-shots/main.png, map.png, welcome.png
    python tools/screenshot.py --out DIR --tracks 60 --model my.pt

Needs Xvfb (apt-get install xvfb) unless $DISPLAY is set. Uses the bundled model, $CBREC_MODEL
or --model when one exists, else a freshly initialised test model (vectors are then arbitrary,
but every part of the window is exercised).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARTISTS = [("Ann Arbor", "chord", "Morning Songs", "Folk"), ("Bob Brass", "chord", "Evenings", "Jazz"),
           ("Cid Crackle", "noise", "Weather Reports", "Ambient"), ("Dee Drone", "noise", "Rain", "Ambient"),
           ("Eve Eight", "drums", "Kit", "Electronic"), ("Fay Fours", "drums", "Breaks", "Electronic"),
           ("Gil Glide", "sweep", "Rising", "Experimental")]
TITLES = ["Blue Hour", "Riverside", "Paper Moon", "Slow Train", "Lanterns", "Northbound", "Glass", "Embers",
          "Low Tide", "Satellite", "Orchard", "Static Bloom"]


def start_xvfb() -> subprocess.Popen | None:
    """Start Xvfb on a free display and point DISPLAY at it (None if DISPLAY is already set)."""
    if os.environ.get("DISPLAY"):
        return None
    if not shutil.which("Xvfb"):
        sys.exit("Xvfb is not installed: apt-get install xvfb (or set DISPLAY)")
    for n in range(99, 140):
        if not Path(f"/tmp/.X{n}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.environ["DISPLAY"] = f":{n}"
            time.sleep(1.0)
            if proc.poll() is None:
                return proc
    sys.exit("could not start Xvfb")


def make_library_music(folder: Path, n_tracks: int) -> None:
    from tests.audio_factory import write_audio

    for i in range(n_tracks):
        artist, kind, album, genre = ARTISTS[i % len(ARTISTS)]
        title = f"{TITLES[(i // len(ARTISTS)) % len(TITLES)]}" + (f" {i // (len(ARTISTS) * len(TITLES)) + 2}"
                                                                   if i >= len(ARTISTS) * len(TITLES) else "")
        ext = (".mp3", ".flac", ".ogg")[i % 3]
        path = folder / artist / f"{i:02d} {title}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, seconds=8.0, kind=kind, seed=1000 + i,
                    tags={"artist": artist, "title": title, "album": album, "genre": genre,
                          "tracknumber": str(i // len(ARTISTS) + 1)})


def pick_model(arg: str | None, work: Path) -> str:
    if arg:
        return arg
    if os.environ.get("CBREC_MODEL"):
        return os.environ["CBREC_MODEL"]
    try:
        from core.model import default_model_path

        bundled = default_model_path()
        if bundled:
            return str(bundled)
    except Exception:
        pass
    from tests.model_factory import make_test_model

    print("no bundled model: using a freshly initialised test model")
    return str(make_test_model(work / "model"))


def wait(app, condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/cbrec-shots")
    p.add_argument("--tracks", type=int, default=56)
    p.add_argument("--model")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    xvfb = start_xvfb()
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    work = Path(tempfile.mkdtemp(prefix="cbrec-shot-"))
    os.environ["XDG_CONFIG_HOME"] = str(work / "config")  # do not touch the user's settings
    try:
        return shoot(work, out, args)
    finally:
        if xvfb is not None:
            xvfb.terminate()


def shoot(work: Path, out: Path, args: argparse.Namespace) -> int:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    from desktop.app import create_window, parse_args
    from desktop.playlist_dialog import PlaylistRequest

    music = work / "Music"
    make_library_music(music, args.tracks)
    model = pick_model(args.model, work)

    # the same start-up as the `cbrec` command (QApplication, logging, window shown, library opened)
    app, win = create_window(parse_args(["--library", str(work / "library"), "--model", model]))
    win.resize(1400, 860)
    wait(app, lambda: win.library is not None, 120, "the library to open")
    win.library_view.welcome.default_folder = str(music)
    win.library_view.welcome.add_button.setText(f"Add {music}")
    win.library_view.welcome.set_busy(None)  # the offer is shown only for a folder that exists
    wait(app, lambda: win.library_view.isVisible(), 5, "the window")
    grab(app, win, out / "welcome.png")

    reports = []
    win.scan_done.connect(reports.append)
    win.library_view.welcome.add_button.click()
    wait(app, lambda: win.scan_status.bar.isVisible() and win.scan_status.bar.value() > 0, 120, "scan progress")
    grab(app, win, out / "scanning.png")
    wait(app, lambda: bool(reports), 600, "the scan")
    print("scan:", reports[-1].summary())

    model_ = win.library_view.model
    win.library_view.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    seed = model_.track_at(0)
    win.library_view.select_ids([seed.id])
    shown = []
    win.playlist_shown.connect(shown.append)
    win.build_playlist(PlaylistRequest("similar", [seed], length=15, max_per_artist=3))
    wait(app, lambda: bool(shown), 60, "the playlist")
    win.playlist_panel.table.selectRow(2)
    grab(app, win, out / "main.png")

    ready = []
    win.map_panel.layout_ready.connect(ready.append)
    win.tabs.setCurrentWidget(win.map_panel)
    wait(app, lambda: "neighbors" in ready, 120, "the map layout")
    canvas = win.map_panel.canvas
    pts = canvas.screen_points()
    canvas.select_ids(canvas.ids[: max(1, len(canvas.ids) // 8)].tolist(), emit=True)
    target = QPointF(*pts[len(pts) // 2])  # hover a point: its tooltip shows in the shot
    move = QMouseEvent(QMouseEvent.Type.MouseMove, target, canvas.mapToGlobal(target), Qt.MouseButton.NoButton,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    canvas.mouseMoveEvent(move)
    grab(app, win, out / "map.png")
    win.close()
    print("screenshots in", out)
    return 0


def grab(app, win, path: Path) -> None:
    """Save what the X server shows of the window (falls back to rendering the widget)."""
    for _ in range(30):
        app.processEvents()
        time.sleep(0.02)
    pixmap = app.primaryScreen().grabWindow(win.winId())
    if pixmap.isNull() or pixmap.width() < 10:
        pixmap = win.grab()
    pixmap.save(str(path))
    print("saved", path)


if __name__ == "__main__":
    sys.exit(main())
