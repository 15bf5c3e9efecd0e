"""Screenshots of automatic tags on real music (issue 11): library table with the Tags column, a tag
filter, and the map coloured by top tag. Run from /work/main:

    .venv/bin/python tools/screenshot_tags.py [--model resources/models/musicnn.pt] [--per-source 6] [--out docs/screenshots]

Music: the shared fixture clips plus a few tracks per source of the dev corpus (copied to a temp dir).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
from screenshot import grab, start_xvfb, wait  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "resources/models/musicnn.pt"))
    ap.add_argument("--per-source", type=int, default=6)
    ap.add_argument("--out", default="/tmp/cbrec-notes/shots")
    args = ap.parse_args()
    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="cbrec-tagshot-"))
    music = work / "Music"
    fixtures = ROOT.parent / "shared/fixtures/audio"
    (music / "fixtures").mkdir(parents=True)
    for f in fixtures.glob("*.ogg"):
        if ".hq." not in f.name:
            shutil.copy(f, music / "fixtures" / f.name)
    corpus = Path("/tmp/cbrec-dev-corpus")
    taken: dict[str, int] = {}
    for line in (corpus / "labels.tsv").read_text().splitlines():
        rel, source = line.split("\t")[:2]
        if taken.get(source, 0) < args.per_source:
            taken[source] = taken.get(source, 0) + 1
            dest = music / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(corpus / "library" / rel, dest)
    os.environ["XDG_CONFIG_HOME"] = str(work / "config")
    from core import Library

    t0 = time.monotonic()
    with Library.open(work / "library", args.model, device="cpu", workers=2) as lib:
        report = lib.scan([music])
        print("pre-scan:", report.summary(), f"{time.monotonic() - t0:.0f} s")
    xvfb = start_xvfb()
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    try:
        from PySide6.QtCore import Qt

        from desktop.app import create_window, parse_args
        from desktop.map_view import TAG_FIELD
        from desktop.models import TAGS_COLUMN

        app, win = create_window(parse_args(["--library", str(work / "library"), "--model", args.model]))
        win.resize(1500, 880)
        loaded = []
        win.tags.loaded.connect(loaded.append)
        wait(app, lambda: bool(loaded) and loaded[-1] > 0, 300, "the tags")
        wait(app, lambda: not win.scans.running if hasattr(win.scans, "running") else True, 120, "the rescan")
        table = win.library_view.table
        table.sortByColumn(TAGS_COLUMN, Qt.SortOrder.AscendingOrder)
        table.setColumnWidth(TAGS_COLUMN, 300)
        for col in (5, 6):
            table.setColumnHidden(col, True)   # play columns: empty in a fresh library
        grab(app, win, out / "tags-table.png")
        combo = win.tags.filter_combo
        combo.setCurrentIndex(combo.findData("jazz") if combo.findData("jazz") > 0 else 1)
        grab(app, win, out / "tags-filter.png")
        combo.setCurrentIndex(0)
        ready = []
        win.map_panel.layout_ready.connect(ready.append)
        win.tabs.setCurrentWidget(win.map_panel)
        wait(app, lambda: "neighbors" in ready, 300, "the map layout")
        pc = win.map_panel.color_combo
        pc.setCurrentIndex(pc.findData(TAG_FIELD))
        grab(app, win, out / "tags-map.png")
        print("legend:", [(label, n) for label, _, n in win.map_panel.canvas.legend])
        print("filter:", [combo.itemText(i) for i in range(combo.count())])
        win.close()
    finally:
        if xvfb is not None:
            xvfb.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
