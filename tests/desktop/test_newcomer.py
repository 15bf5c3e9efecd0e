"""What a new user hit in the first hour (issue 9, "The app"): each test holds one of those defects."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from core import Track
from desktop.map_view import MapCanvas
from desktop.models import COLUMNS
from desktop.settings import AppSettings
from desktop.settings_dialog import SettingsDialog, describe_model
from tests.desktop.conftest import SONGS


def test_typing_a_model_path_from_slash_never_fails(qtbot, test_model):
    """Point 2: "/" as the first character was a `with_suffix` error and a storm of dialogs."""
    for half_typed in ("/", "~", ".", "..", "/tmp/", "~no-such-user-here/m.pt"):
        ok, text = describe_model(half_typed)
        assert ok is False and text, half_typed
    assert "folder" in describe_model("/")[1]
    dialog = SettingsDialog(AppSettings(), [])
    qtbot.addWidget(dialog)
    dialog.file_radio.setChecked(True)
    dialog.model_edit.clear()
    dialog.model_edit.setFocus()
    typed = str(test_model)
    qtbot.keyClicks(dialog.model_edit, typed)  # an exception in a slot fails the test (pytest-qt)
    assert dialog.model_edit.text() == typed, "no keystroke is swallowed"
    assert describe_model(typed)[0] is True
    assert "test" in dialog.model_info.text() or "vectors" in dialog.model_info.text()


def test_library_table_starts_sorted_by_artist_a_to_z(qtbot):
    """Point 5: the table started sorted by Title Z to A, with no sort indicator."""
    from desktop.library_view import LibraryView

    view = LibraryView()
    qtbot.addWidget(view)
    tracks = [Track(i, f"/m/{i}.mp3", title, artist, album, track_number=n)
              for i, (title, artist, album, n) in enumerate([
                  ("Zebra", "Ann", "B-sides", 2), ("Apple", "Cid", "Alpha", 1), ("Mango", "Ann", "B-sides", 1),
                  ("Kiwi", None, None, None), ("Banana", "bob", "Alpha", 1), ("Cherry", "Ann", "Album", 7)])]
    view.model.set_tracks(tracks)
    shown = [(view.model.track_at(r).artist, view.model.track_at(r).title) for r in range(view.model.rowCount())]
    assert shown == [("Ann", "Cherry"), ("Ann", "Mango"), ("Ann", "Zebra"), ("bob", "Banana"),
                     ("Cid", "Apple"), (None, "Kiwi")], "artist A-Z, then album and track number; unknown last"
    header = view.table.horizontalHeader()
    assert header.sortIndicatorSection() == COLUMNS.index("Artist")
    assert header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    view.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # a click on Title still sorts A-Z
    assert [view.model.track_at(r).title for r in range(3)] == ["Apple", "Banana", "Cherry"]


def test_map_button_count_follows_the_selection_after_a_model_change(make_window, scanned_settings, tmp_path,
                                                                        qtbot):
    """Point 3: after a model change the map was cleared but the button still said "from 12 selected"."""
    from tests.model_factory import make_test_model

    win = make_window(scanned_settings)
    panel = win.map_panel
    with qtbot.waitSignal(panel.layout_ready, timeout=20000):
        win.tabs.setCurrentWidget(panel)
    panel.canvas.select_ids(panel.canvas.ids.tolist(), emit=True)
    assert panel.playlist_button.text() == f"Make playlist from {len(SONGS)} selected"
    # a selection made in the library table updates the count as well
    win.tabs.setCurrentWidget(win.library_view)
    win.library_view.select_ids([int(panel.canvas.ids[0]), int(panel.canvas.ids[1])])
    assert panel.playlist_button.text() == "Make playlist from 2 selected"
    win.tabs.setCurrentWidget(panel)

    other = make_test_model(tmp_path / "other", seed=5, name="other-model")
    new = AppSettings(**{**scanned_settings.__dict__, "model": str(other)})
    with qtbot.waitSignal(win.library_ready, timeout=30000):
        win.apply_settings(new, win.library.folders())
    assert panel.canvas.selected_ids() == []
    assert panel.playlist_button.text() == "Make playlist from selection"
    assert not panel.playlist_button.isEnabled()


def test_map_legend_covers_no_dot(qtbot):
    """Point 4: the legend (top right) covered the dots in that corner."""
    canvas = MapCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(700, 460)
    rng = np.random.default_rng(3)
    xy = rng.uniform(-1, 1, size=(400, 2)).astype(np.float32)
    xy[:4] = [[1, -1], [1, 1], [-1, -1], [-1, 1]]  # the four corners of the layout
    tracks = [Track(i, f"/m/{i}.mp3", f"t{i}", f"Artist with a longish name {i % 10}") for i in range(400)]
    canvas.set_points(np.arange(400), xy, tracks)
    canvas.show()
    qtbot.waitExposed(canvas)
    box = canvas.legend_rect()
    assert box is not None and len(canvas.legend) == 10
    pts = canvas.screen_points()
    size = canvas._point_size()
    grown = box.adjusted(-size, -size, size, size)
    inside = [i for i, (x, y) in enumerate(pts) if grown.contains(QPointF(float(x), float(y)))]
    assert inside == [], f"{len(inside)} dots under the legend"
    assert (pts[:, 0] >= 0).all() and (pts[:, 0] <= canvas.width()).all()
    assert (pts[:, 1] >= 0).all() and (pts[:, 1] <= canvas.height()).all()
    # the layout still uses most of the canvas
    assert pts[:, 0].max() - pts[:, 0].min() > 0.5 * canvas.width()
    QApplication.processEvents()


def test_first_run_offers_only_a_music_folder_that_exists(make_window, settings, tmp_path, qtbot, monkeypatch,
                                                         dialogs):
    """Point 1: "Add ~/Music" was offered when ~/Music did not exist; the scan then said "1 failed"
    and *Failed files…* listed nothing. Only existing folders are offered; a folder that cannot be
    scanned is listed with its reason."""
    from PySide6.QtCore import QStandardPaths

    from desktop.library_view import WelcomePage
    from desktop.scan_panel import FailuresDialog

    music = tmp_path / "Music"
    real = QStandardPaths.writableLocation
    monkeypatch.setattr(QStandardPaths, "writableLocation", staticmethod(
        lambda loc: str(music) if loc == QStandardPaths.StandardLocation.MusicLocation else real(loc)))
    win = make_window(settings)
    welcome = win.library_view.welcome
    assert not welcome.add_button.isVisible(), "no offer of a folder that does not exist"
    assert welcome.other_button.isVisible() and welcome.other_button.text() == "Choose a music folder…"

    win.add_folder(str(music))  # e.g. typed or remembered: refused with the reason, nothing scanned
    assert dialogs.shown[-1] == ("Cannot add folder", f"{music} does not exist or is not a folder.")
    assert win.library.folders() == []

    music.mkdir()
    again = WelcomePage()
    qtbot.addWidget(again)
    assert again.default_folder == str(music) and again.add_button.text() == f"Add {music}"

    # a folder that goes away (an unplugged disk) cannot be scanned: the list says which and why
    gone = tmp_path / "usb-disk"
    gone.mkdir()
    with qtbot.waitSignal(win.scan_done, timeout=60000):
        win.add_folder(str(gone))
    gone.rmdir()
    with qtbot.waitSignal(win.scan_done, timeout=60000) as done:
        win.rescan()
    assert [p for p, _ in done.args[0].failed] == [str(gone)]
    assert [p for p, _ in win.failures] == [str(gone)]
    assert "cannot open the folder" in win.failures[0][1]
    assert win.scan_status.failures_button.isVisible() and win.scan_status.failures_button.text() == "1 failed"
    table = FailuresDialog(win.failures, win).table
    assert table.rowCount() == 1 and table.item(0, 0).text() == str(gone)
    assert "could not be scanned" in welcome.text.text()


def test_play_without_audio_output_says_so_and_errors_name_the_log(make_window, settings, qtbot, dialogs):
    """Point 10: Play did nothing visible without an audio output; "Details are in the log" said
    not where the log is."""
    from desktop.app import log_file
    from desktop.workers import user_message

    problem = "Preview playback is unavailable: no audio output device was found."
    win = make_window(settings, open_library=False, player_backend=lambda: (None, None, problem))
    assert "no audio output" in win.player.title_label.text()
    track = Track(1, "/m/a.mp3", "Morning", "Ann")
    win.play(track)
    assert dialogs.shown[-1][0] == "Cannot play"
    assert problem in dialogs.shown[-1][1] and "Ann - Morning" in dialogs.shown[-1][1]
    win.play(track)  # once told, later attempts say it in the status bar
    assert len(dialogs.shown) == 1
    assert "no audio output" in win.statusBar().currentMessage()

    text = user_message(ValueError("boom"))
    assert "boom" in text and str(log_file()) in text and log_file().name == "cbrec.log"


def _make(win, qtbot, monkeypatch, titles, length, shown=True):
    """Select ``titles`` in the table and make a playlist of ``length`` from them."""
    from PySide6.QtCore import QItemSelectionModel

    from desktop.playlist_dialog import MakePlaylistDialog

    view = win.library_view
    sel = view.table.selectionModel()
    sel.clearSelection()
    for r in range(view.model.rowCount()):
        if view.model.track_at(r).title in titles:
            sel.select(view.model.index(r, 0),
                       QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    monkeypatch.setattr(MakePlaylistDialog, "exec", lambda d: d.length_spin.setValue(length) or 1)
    if shown:
        with qtbot.waitSignal(win.playlist_shown, timeout=20000):
            win.make_playlist()
    else:
        win.make_playlist()
        win.runner.wait(20000)
        QApplication.processEvents()


def test_an_unsaved_playlist_is_never_replaced_silently(make_window, scanned_settings, qtbot, monkeypatch, dialogs):
    """Point 7: making a new playlist silently replaced an unsaved one."""
    from PySide6.QtWidgets import QMessageBox

    win = make_window(scanned_settings)
    panel = win.playlist_panel
    _make(win, qtbot, monkeypatch, {"Morning"}, 4)
    first = [t.id for t in panel.model.tracks()]
    assert panel.model.dirty and not dialogs.shown

    dialogs.answer = QMessageBox.StandardButton.Cancel  # keep it
    _make(win, qtbot, monkeypatch, {"Kick"}, 5, shown=False)
    assert dialogs.shown[-1][0] == "Replace the playlist?" and "unsaved" in dialogs.shown[-1][1]
    assert [t.id for t in panel.model.tracks()] == first

    dialogs.answer = QMessageBox.StandardButton.Save  # save it, then replace it
    _make(win, qtbot, monkeypatch, {"Kick"}, 5)
    saved = win.library.playlists()
    assert len(saved) == 1 and [t.id for t in win.library.load_playlist(saved[0][0]).tracks] == first
    assert panel.model.tracks()[0].title == "Kick"

    dialogs.answer = QMessageBox.StandardButton.Discard  # the user says it may go
    asked = len(dialogs.shown)
    _make(win, qtbot, monkeypatch, {"Static"}, 3)
    assert len(dialogs.shown) == asked + 1 and panel.model.tracks()[0].title == "Static"
    assert len(win.library.playlists()) == 1

    # opening a saved playlist over an unsaved one asks too; a saved one is replaced without a word
    dialogs.answer = QMessageBox.StandardButton.Cancel
    panel._open_chosen()
    assert panel.model.tracks()[0].title == "Static"
    panel.save()
    asked = len(dialogs.shown)
    panel.saved.setCurrentIndex(panel.saved.findData(saved[0][0]))
    panel._open_chosen()
    assert [t.id for t in panel.model.tracks()] == first and len(dialogs.shown) == asked


def test_playlist_similarity_is_a_rank_in_the_library(make_window, scanned_settings, qtbot, monkeypatch):
    """Point 11: every playlist track showed 1.00 or 0.99. Each now shows where it ranks among the
    library's tracks by closeness to the seeds (the playlist's own measure), checked here by brute force."""
    win = make_window(scanned_settings)
    panel, model = win.playlist_panel, win.playlist_panel.model
    with qtbot.waitSignal(panel.ranked, timeout=20000):
        _make(win, qtbot, monkeypatch, {"Morning"}, len(SONGS))
    ids, vectors = win.library.vectors()
    row = {int(t): i for i, t in enumerate(ids)}
    seed = model.tracks()[0]
    assert seed.title == "Morning" and model.index(0, 3).data() == "seed"
    cos = vectors @ vectors[row[seed.id]]
    others = sorted((float(c) for t, c in zip(ids.tolist(), cos, strict=True) if t != seed.id), reverse=True)
    texts = []
    for r in range(1, model.rowCount()):
        track = model.tracks()[r]
        expected = 1 + sum(1 for c in others if c > float(cos[row[track.id]]))
        text = model.index(r, 3).data()
        assert text.endswith(f" of {len(SONGS) - 1}") and int(text.split()[0][:-2]) == expected, text
        assert "closest" in model.index(r, 3).data(Qt.ItemDataRole.ToolTipRole)
        texts.append(text)
    assert len(set(texts)) == len(texts), "distinct tracks show distinct ranks"

    # a saved playlist, reopened (its seeds are the tracks of score 1.0), is ranked the same way
    panel.save()
    model.clear()
    with qtbot.waitSignal(panel.ranked, timeout=20000):
        panel._open_chosen()
    assert model.index(0, 3).data() == "seed" and [model.index(r, 3).data() for r in range(1, model.rowCount())] == texts


def test_a_library_open_elsewhere_is_refused_with_a_clear_message(make_window, scanned_settings, qtbot, dialogs):
    """Point 9: two programs on one library. The window says which program holds it."""
    import os

    from core import Library

    other = Library.open(scanned_settings.library_dir, model=scanned_settings.model, device="cpu", workers=1)
    try:
        win = make_window(scanned_settings, open_library=False)
        with qtbot.waitSignal(win.library_failed, timeout=30000) as failed:
            win.open_library()
        assert "open in another cbrec program" in failed.args[0] and f"process {os.getpid()}" in failed.args[0]
        assert dialogs.shown[-1][0] == "cbrec cannot open the library"
        assert "open in another cbrec program" in win.library_view.welcome.text.text()
        assert win.library is None and not win.add_folder_action.isEnabled()
    finally:
        other.close()
    with qtbot.waitSignal(win.library_ready, timeout=30000):  # once the other program closes it
        win.open_library()
    assert win.library_view.model.total() == len(SONGS)
