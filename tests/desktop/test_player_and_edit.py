"""Preview playback through real QtMultimedia (silent output) and drag-and-drop reordering."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QModelIndex, Qt

from core import Track
from core.playlist import Playlist
from desktop.playlist_model import PlaylistModel


def _silent_backend():
    """A real QMediaPlayer with no audio output: it decodes and advances, nothing is heard."""
    from PySide6.QtMultimedia import QMediaPlayer

    return QMediaPlayer(), None, ""


def test_play_pause_seek_next_with_real_media(make_window, scanned_settings, qtbot):
    from PySide6.QtMultimedia import QMediaPlayer

    win = make_window(scanned_settings, player_backend=_silent_backend)
    player = win.player
    assert player.available and player.isEnabled()
    view = win.library_view
    rect = view.table.visualRect(view.model.index(0, 0))
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    first = view.model.track_at(0)
    assert player.current == first and player.title_label.text() == first.display
    qtbot.waitUntil(lambda: player.player.position() > 200, timeout=10000)
    assert player.seek.maximum() > 3000, "the duration reaches the seek bar"

    player.toggle()  # pause
    qtbot.waitUntil(lambda: player.player.playbackState() == QMediaPlayer.PlaybackState.PausedState, timeout=3000)
    player.seek_to(2500)
    qtbot.waitUntil(lambda: abs(player.player.position() - 2500) < 300, timeout=3000)
    player.toggle()  # play again
    qtbot.waitUntil(lambda: player.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState, timeout=3000)

    qtbot.mouseClick(player.next_button, Qt.MouseButton.LeftButton)
    assert player.current == view.model.track_at(1), "next follows the library order"
    # at the end of a track the next one starts by itself (without an audio device Qt never
    # reports EndOfMedia, so the status is delivered by hand here)
    player._on_media_status(QMediaPlayer.MediaStatus.EndOfMedia)
    assert player.current == view.model.track_at(2)
    player.stop()


def _track(i: int, artist: str = "A") -> Track:
    return Track(i, f"/m/{i}.mp3", f"T{i}", artist)


def test_drag_and_drop_reorders_the_playlist():
    model = PlaylistModel()
    model.set_playlist(Playlist([_track(i) for i in range(5)], [1.0, 0.9, 0.8, 0.7, 0.6], "p"))
    model.dirty = False
    mime = model.mimeData([model.index(0, 0), model.index(1, 0)])
    assert isinstance(mime, QMimeData)
    # drop rows 0-1 before row 4
    assert model.dropMimeData(mime, Qt.DropAction.MoveAction, 4, 0, QModelIndex()) is False
    assert [t.id for t in model.tracks()] == [2, 3, 0, 1, 4]
    assert [s for _, s in model.rows] == [0.8, 0.7, 1.0, 0.9, 0.6], "scores travel with their tracks"
    assert model.dirty
    # drop on the end (row -1, no parent) and onto an item (parent = that row)
    model.dropMimeData(model.mimeData([model.index(0, 0)]), Qt.DropAction.MoveAction, -1, -1, QModelIndex())
    assert [t.id for t in model.tracks()] == [3, 0, 1, 4, 2]
    model.dropMimeData(model.mimeData([model.index(4, 0)]), Qt.DropAction.MoveAction, -1, -1, model.index(0, 0))
    assert [t.id for t in model.tracks()] == [2, 3, 0, 1, 4]
    assert model.move_row(0, 4) and [t.id for t in model.tracks()] == [3, 0, 1, 4, 2]
    assert not model.move_row(0, 9)
    assert model.playlist().name == "p" and len(model.playlist().tracks) == 5
