"""Playlists from the window: from a seed, path mode, edit, save and reopen, export, open in player."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt

from desktop.playlist_dialog import MakePlaylistDialog
from tests.desktop.conftest import SONGS


def _select_titles(win, titles):
    view = win.library_view
    sel = view.table.selectionModel()
    sel.clearSelection()
    for r in range(view.model.rowCount()):
        if view.model.track_at(r).title in titles:
            sel.select(view.model.index(r, 0),
                       QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    return view.selected_tracks()


def _accept_dialog(monkeypatch, configure):
    """Make MakePlaylistDialog.exec apply ``configure(dialog)`` and accept."""
    def exec_(dialog):
        configure(dialog)
        return 1

    monkeypatch.setattr(MakePlaylistDialog, "exec", exec_)


def test_make_playlist_from_a_seed(make_window, scanned_settings, qtbot, monkeypatch):
    win = make_window(scanned_settings)
    assert win.library_view.model.rowCount() == len(SONGS)
    seeds = _select_titles(win, {"Morning"})
    assert [t.title for t in seeds] == ["Morning"]

    def configure(d):
        assert d.similar_radio.isChecked() and not d.path_radio.isEnabled()
        d.length_spin.setValue(6)
        d.max_artist_spin.setValue(1)

    _accept_dialog(monkeypatch, configure)
    with qtbot.waitSignal(win.playlist_shown, timeout=20000) as shown:
        win.playlist_action.trigger()
    playlist = shown.args[0]
    panel = win.playlist_panel
    model = panel.model
    assert panel.stack.currentWidget() is panel.table
    assert 3 <= model.rowCount() <= 6  # near-duplicates of a random test model may be skipped
    assert model.index(0, 1).data() == "Morning" and model.index(0, 3).data() in ("1.00", "seed")
    artists = [model.index(r, 2).data() for r in range(model.rowCount())]
    assert len(set(artists)) == len(artists), "at most one track per artist"
    scores = [score for _, score in model.rows]
    assert all(-1.0 <= s <= 1.0 for s in scores)
    assert panel.name_edit.text() == playlist.name


def test_path_mode_goes_from_a_to_b(make_window, scanned_settings, qtbot, monkeypatch):
    win = make_window(scanned_settings)
    _select_titles(win, {"Morning", "Kick"})

    def configure(d):
        assert d.path_radio.isEnabled()
        d.set_mode("path")
        d.start_combo.setCurrentIndex(d.start_combo.findText("Ann - Morning"))
        d.end_combo.setCurrentIndex(d.end_combo.findText("Eve - Kick"))
        d.length_spin.setValue(5)

    _accept_dialog(monkeypatch, configure)
    with qtbot.waitSignal(win.playlist_shown, timeout=20000):
        win.make_playlist()
    tracks = win.playlist_panel.model.tracks()
    assert len(tracks) == 5
    assert (tracks[0].title, tracks[-1].title) == ("Morning", "Kick")


def test_edit_save_reopen_export_and_open_in_player(make_window, scanned_settings, qtbot, monkeypatch, tmp_path,
                                                    dialogs):
    win = make_window(scanned_settings)
    seeds = _select_titles(win, {"Static"})
    _accept_dialog(monkeypatch, lambda d: d.length_spin.setValue(8))
    with qtbot.waitSignal(win.playlist_shown, timeout=20000):
        win.make_playlist(seeds)
    panel = win.playlist_panel
    model = panel.model
    before = model.tracks()

    # remove the 3rd track, move the 2nd down with the button
    panel.table.selectRow(2)
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    panel.table.selectRow(1)
    qtbot.mouseClick(panel.down_button, Qt.MouseButton.LeftButton)
    expected = [before[0], before[3], before[1]] + before[4:]
    assert [t.id for t in model.tracks()] == [t.id for t in expected]
    assert model.index(2, 0).data() == "3", "row numbers follow the order"

    # save under a new name, then reopen from the saved list
    panel.name_edit.setText("Static evening")
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    saved = win.library.playlists()
    assert [name for _, name, _ in saved] == ["Static evening"]
    model.clear()
    assert panel.saved.count() == 1
    qtbot.mouseClick(panel.open_saved, Qt.MouseButton.LeftButton)
    assert [t.id for t in model.tracks()] == [t.id for t in expected]
    assert panel.name_edit.text() == "Static evening"

    # saving again replaces the saved copy instead of adding one
    panel.table.selectRow(0)
    panel.remove_selected()
    panel.save()
    assert len(win.library.playlists()) == 1
    assert len(win.library.load_playlist(win.library.playlists()[0][0]).tracks) == len(expected) - 1

    # export to both formats
    m3u = panel.export_to(tmp_path / "out.m3u8")
    text = Path(m3u).read_text(encoding="utf-8")
    assert text.startswith("#EXTM3U") and model.tracks()[0].path in text
    xspf = Path(panel.export_to(tmp_path / "out.xspf")).read_text(encoding="utf-8")
    assert "<playlist" in xspf and "<location>" in xspf
    assert not dialogs.shown

    # "Open in player" hands a temporary .m3u8 to the desktop
    opened = []
    panel.open_url = lambda url: opened.append(url) or True
    qtbot.mouseClick(panel.player_button, Qt.MouseButton.LeftButton)
    assert len(opened) == 1 and opened[0].isLocalFile()
    path = Path(opened[0].toLocalFile())
    assert path.suffix == ".m3u8" and path.exists()
    # no default player: a clear message instead
    panel.open_url = lambda url: False
    panel.open_in_player()
    assert "No music player found" in dialogs.texts()


def test_make_playlist_without_selection_explains(make_window, scanned_settings, dialogs):
    win = make_window(scanned_settings)
    win.library_view.table.clearSelection()
    win.make_playlist()
    assert "Select one or more analysed tracks" in dialogs.texts()
