"""The history in the real app (offscreen): plays recorded by the player, the Plays / Last played
columns, the history import from the Library menu and the "For you" mix."""
from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.models import COLUMNS, LAST_PLAYED_COLUMN, PLAYS_COLUMN

HEADER = "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"


def _silent_backend():
    from PySide6.QtMultimedia import QMediaPlayer

    return QMediaPlayer(), None, ""


def _menu_texts(win, title: str) -> list[str]:
    for action in win.menuBar().actions():
        if action.text().replace("&", "") == title:
            return [a.text() for a in action.menu().actions()]
    return []


def _row(win, title: str) -> int:
    model = win.library_view.model
    return next(r for r in range(model.rowCount()) if model.track_at(r).title == title)


def test_playing_in_the_app_records_a_play_after_half_the_track(make_window, scanned_settings, qtbot):
    win = make_window(scanned_settings, player_backend=_silent_backend)
    model = win.library_view.model
    assert COLUMNS[PLAYS_COLUMN] == "Plays" and COLUMNS[LAST_PLAYED_COLUMN] == "Last played"
    row = _row(win, "Morning")
    track = model.track_at(row)
    assert model.index(row, PLAYS_COLUMN).data() == ""
    with qtbot.waitSignal(win.history.tracker.counted, timeout=15000) as counted:
        win.play(track)                                   # 4 s long: counts after 2 s heard
    assert counted.args[0] == track and 2.0 <= counted.args[1] < 3.5
    qtbot.waitUntil(lambda: model.index(_row(win, "Morning"), PLAYS_COLUMN).data() == "1", timeout=10000)
    assert model.index(_row(win, "Morning"), LAST_PLAYED_COLUMN).data()[:2] == "20"
    stats = win.library.play_stats()[track.id]
    assert stats.count == 1
    win.player.stop()
    # a seek is not listening: jumping to the end of another track does not count it
    other = model.track_at(_row(win, "Kick"))
    win.history.tracker.start(other)
    win.history.tracker.position(0)
    win.history.tracker.position(3900)
    assert win.history.tracker.heard == 0.0 and other.id not in win.library.play_stats()


def test_import_from_the_library_menu_shows_the_report_and_the_counts(make_window, scanned_settings, qtbot,
                                                                      tmp_path):
    win = make_window(scanned_settings)
    assert "Import listening history…" in _menu_texts(win, "Library")
    assert "For you" in _menu_texts(win, "Playlist")
    path = tmp_path / "scrobbles.csv"
    path.write_text(HEADER + '1700000000,"x",Cid,,,,Static,\n1700000100,"x",Cid,,,,Static,\n'
                    '1700000200,"x",Dee,,,,Rain (Remastered),\n1700000300,"x",Zed,,,,Gone,\nbroken\n',
                    encoding="utf-8")
    with qtbot.waitSignal(win.history.imported, timeout=15000) as done:
        win.history.import_file(str(path))
    report = done.args[0]
    assert (report.matched, len(report.unmatched), len(report.skipped)) == (3, 1, 1)
    dialog = win.history.report_dialog
    assert dialog.isVisible() and dialog.summary.text().startswith("Last.fm CSV: 3 matched")
    assert dialog.table.rowCount() == 2
    assert dialog.table.item(0, 2).text() == "no track by 'Zed' in the library"
    dialog.close()
    model = win.library_view.model
    qtbot.waitUntil(lambda: model.index(_row(win, "Static"), PLAYS_COLUMN).data() == "2", timeout=10000)
    # sorting by Plays (descending) puts the most played first
    win.library_view.table.sortByColumn(PLAYS_COLUMN, Qt.SortOrder.DescendingOrder)
    assert [model.track_at(r).title for r in range(2)] == ["Static", "Rain"]


def test_for_you_fills_the_playlist_panel(make_window, scanned_settings, qtbot, dialogs, tmp_path):
    win = make_window(scanned_settings)
    win.history.make_for_you()
    qtbot.waitUntil(lambda: any(t == "For you" for t, _ in dialogs.shown), timeout=10000)
    assert "no listening history" in dialogs.texts()
    win.library.import_history(_write(tmp_path, [("Eve", "Kick"), ("Eve", "Snare"), ("Fay", "Toms")]))
    with qtbot.waitSignal(win.playlist_shown, timeout=15000) as shown:
        win.history.for_you_action.trigger()
    mix = shown.args[0]
    assert mix.name == "For you" and 0 < len(mix.tracks) <= 25
    assert not {t.title for t in mix.tracks} & {"Kick", "Snare", "Toms"}
    assert [t.id for t in win.playlist_panel.model.tracks()] == [t.id for t in mix.tracks]


def _write(tmp_path, songs):
    path = tmp_path / "s.csv"
    path.write_text(HEADER + "".join(f'{1700000000 + 60 * i},"x",{a},,,,{t},\n' for i, (a, t) in enumerate(songs)),
                    encoding="utf-8")
    return path
