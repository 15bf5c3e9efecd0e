"""Screenshots of the listening-history features in the real app under Xvfb.

    python tools/screenshot_history.py [--out /tmp/cbrec-shots]   # -> for-you.png, import-report.png

A generated library (as tools/screenshot.py makes it) is scanned, a Last.fm CSV of plays of six
tracks (with a "(Remastered 2011)" variant, two songs not in the library and a broken row) is
imported through the app, and the "For you" action is run with the table sorted by Plays.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshot as S  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/cbrec-shots")
    out = Path(p.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    xvfb = S.start_xvfb()
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    work = Path(tempfile.mkdtemp(prefix="cbrec-shot-h-"))
    os.environ["XDG_CONFIG_HOME"] = str(work / "config")
    try:
        from PySide6.QtCore import Qt

        from desktop.app import create_window, parse_args
        music = work / "Music"
        S.make_library_music(music, 42)
        model = S.pick_model(None, work)
        app, win = create_window(parse_args(["--library", str(work / "library"), "--model", model]))
        win.resize(1400, 860)
        S.wait(app, lambda: win.library is not None, 120, "library")
        reports = []
        win.scan_done.connect(reports.append)
        win.add_folder(str(music))
        S.wait(app, lambda: bool(reports), 600, "scan")
        tracks = win.library.tracks()
        csv = work / "scrobbles.csv"
        rows = ["uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid"]
        t = 1_700_000_000
        liked = [tr for tr in tracks if tr.artist in ("Ann Arbor", "Bob Brass")][:6]
        for k, tr in enumerate(liked):
            for _ in range(12 - 2 * k):
                rows.append(f'{t},"x",{tr.artist},,{tr.album},,{tr.title} (Remastered 2011),')
                t += 400
        rows += [f'{t + 1},"x",Radiohead,,OK Computer,,Airbag,', f'{t + 2},"x",Ann Arbor,,Morning Songs,,Not Here,',
                 'broken row']
        csv.write_text("\n".join(rows) + "\n")
        imported = []
        win.history.imported.connect(imported.append)
        win.history.import_file(str(csv))
        S.wait(app, lambda: bool(imported), 60, "import")
        S.grab(app, win.history.report_dialog, out / "import-report.png")
        win.history.report_dialog.close()
        shown = []
        win.playlist_shown.connect(shown.append)
        win.history.for_you_action.trigger()
        S.wait(app, lambda: bool(shown), 60, "for you")
        win.library_view.table.sortByColumn(5, Qt.SortOrder.DescendingOrder)
        S.grab(app, win, out / "for-you.png")
        print(imported[0].summary())
        print([t.display for t in shown[0].tracks][:10])
        win.close()
    finally:
        if xvfb is not None:
            xvfb.terminate()


if __name__ == "__main__":
    main()
