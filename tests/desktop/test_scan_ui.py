"""First run, adding a folder, scanning with progress, failures, cancel, watched folders."""
from __future__ import annotations

import os
import shutil
import time

from PySide6.QtCore import Qt

from core import ScanReport
from desktop.scan_panel import FailuresDialog
from tests.desktop.conftest import BROKEN, SONGS, make_music


def test_first_run_offers_music_folder_then_scans_it(make_window, settings, music, qtbot, monkeypatch):
    monkeypatch.setattr("desktop.library_view.music_folder", lambda: str(music))  # the user's Music exists
    started = time.monotonic()
    win = make_window(settings)
    assert time.monotonic() - started < 30  # window + library open (torch import included)
    view = win.library_view
    assert view.currentWidget() is view.welcome, "an empty library shows the welcome page"
    assert view.welcome.add_button.isVisible() and view.welcome.add_button.isEnabled()
    assert view.welcome.add_button.text() == f"Add {music}"

    progress, batches = [], []
    win.scans.progress.connect(progress.append)
    win.scans.tracks.connect(batches.append)
    with qtbot.waitSignal(win.scan_done, timeout=60000) as done:
        qtbot.mouseClick(view.welcome.add_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: win.scan_status.cancel_button.isVisible(), timeout=5000)
    report: ScanReport = done.args[0]

    assert len(report.added) == len(SONGS), report.summary()
    assert view.currentWidget() is view.table
    assert view.model.rowCount() == len(SONGS)
    assert batches and sum(len(b) for b in batches) >= len(SONGS), "tracks appear as they are analysed"
    last = progress[-1]
    assert (last.done, last.total) == (len(SONGS) + 1, len(SONGS) + 1)  # the broken file counts
    assert win.library.folders() == [str(music)]
    assert "files" in win.scan_status.label.text() or "added" in win.scan_status.label.text()
    assert not win.scan_status.cancel_button.isVisible()
    assert win.windowTitle() == f"cbrec — {len(SONGS)} tracks"

    # the file that is not audio is listed with its reason
    assert [p for p, _ in win.failures] == [os.path.join(str(music), BROKEN)]
    assert win.scan_status.failures_button.isVisible()
    dialog = FailuresDialog(win.failures, win)
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 1).text()

    # rows show tags, sorting works, search filters
    titles = {view.model.track_at(r).title for r in range(view.model.rowCount())}
    assert titles == {s[4] for s in SONGS}
    view.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    shown = [view.model.index(r, 0).data() for r in range(view.model.rowCount())]
    assert shown == sorted(shown, key=str.casefold)
    win.search.setText("weather")
    qtbot.waitUntil(lambda: view.model.rowCount() == 3, timeout=3000)
    win.search.setText("")
    qtbot.waitUntil(lambda: view.model.rowCount() == len(SONGS), timeout=3000)


def test_cancel_stops_quickly_and_keeps_analysed_tracks(make_window, settings, tmp_path, qtbot):
    # enough work that the scan cannot finish before the click lands (24 files once did, in 0.75 s)
    many = [(f"x/{i:03d}.flac", ("chord", "noise", "drums")[i % 3], 100 + i, f"A{i % 4}", f"Song {i}", "Alb")
            for i in range(160)]
    music = make_music(tmp_path / "many", many, seconds=3.0, broken=False)
    settings.workers = 1
    win = make_window(settings)
    first_batch = []
    win.scans.tracks.connect(first_batch.append)
    with qtbot.waitSignal(win.scan_done, timeout=60000) as done:
        win.add_folder(str(music))
        qtbot.waitUntil(lambda: bool(first_batch), timeout=30000)
        cancelled_at = time.monotonic()
        qtbot.mouseClick(win.scan_status.cancel_button, Qt.MouseButton.LeftButton)
        assert "Cancelling" in win.scan_status.label.text()
    stopped_after = time.monotonic() - cancelled_at
    print(f"cancel: scan ended {stopped_after:.2f} s after the click")
    report: ScanReport = done.args[0]
    assert report.cancelled
    assert stopped_after < 2.0, f"cancel took {stopped_after:.2f} s"
    kept = len(win.library.tracks())
    assert 0 < kept < len(many)
    qtbot.waitUntil(lambda: win.library_view.model.rowCount() == kept, timeout=5000)


def test_watched_folder_picks_up_new_and_deleted_files(make_window, settings, music, qtbot):
    win = make_window(settings)
    with qtbot.waitSignal(win.scan_done, timeout=60000):
        win.add_folder(str(music))
    qtbot.waitUntil(lambda: win.watcher.watched_count() > 1, timeout=5000)
    model = win.library_view.model
    n = model.rowCount()

    # a new file in a new sub-folder, while running (written elsewhere, then moved in at once,
    # as a file manager or tagger does: a half-written file is not what this test is about)
    from tests.audio_factory import write_audio

    staging = music.parent / "staging"
    (staging / "new").mkdir(parents=True)
    write_audio(staging / "new" / "fresh.flac", seconds=3.0, kind="chord", seed=77,
                tags={"artist": "Gil", "title": "Fresh"})
    new_dir = music / "new"
    with qtbot.waitSignal(win.scan_done, timeout=60000) as done:
        shutil.move(str(staging / "new"), str(new_dir))
    assert done.args[0].added == [str(new_dir / "fresh.flac")]
    qtbot.waitUntil(lambda: model.rowCount() == n + 1, timeout=5000)

    # a tag edited in place (only the file changes, not its folder) updates the row
    import mutagen

    edited = mutagen.File(str(music / "ann" / "noon.flac"), easy=True)
    edited["title"] = "High Noon"
    with qtbot.waitSignal(win.scan_done, timeout=60000) as done:
        edited.save()
    assert done.args[0].updated == [str(music / "ann" / "noon.flac")]
    qtbot.waitUntil(lambda: any(model.track_at(r).title == "High Noon" for r in range(model.rowCount())),
                    timeout=5000)

    # a move keeps the track; a deletion removes it
    shutil.move(str(music / "ann" / "dusk.ogg"), str(music / "bob" / "dusk.ogg"))
    with qtbot.waitSignal(win.scan_done, timeout=60000) as done:
        (music / "eve" / "kick.mp3").unlink()
    report = done.args[0]
    if not report.removed:  # the two events may land in two scans
        with qtbot.waitSignal(win.scan_done, timeout=10000) as done2:
            pass
        report = done2.args[0]
    assert str(music / "eve" / "kick.mp3") in report.removed or any(
        str(music / "eve" / "kick.mp3") in r for r in report.removed)
    qtbot.waitUntil(lambda: model.rowCount() == n, timeout=5000)
    paths = {model.track_at(r).path for r in range(model.rowCount())}
    assert str(music / "bob" / "dusk.ogg") in paths and str(music / "ann" / "dusk.ogg") not in paths
