"""The playlist panel: a playlist's tracks with similarity, edit, save/reopen, export, open in player."""
from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import CbrecError, Track
from core.playlist import Playlist
from desktop.models import TRACK_ROLE
from desktop.playlist_model import PlaylistModel
from desktop.playlist_ranks import Ranks, seed_ids, similarity_ranks
from desktop.resources import icon
from desktop.workers import user_message

log = logging.getLogger(__name__)

EXPORT_FILTERS = "M3U8 playlist (*.m3u8);;XSPF playlist (*.xspf)"


def safe_filename(name: str) -> str:
    """A file name from a playlist name (no separators or odd characters)."""
    cleaned = re.sub(r"[^\w\- .→]+", "_", name, flags=re.UNICODE).strip(" ._")
    return (cleaned or "playlist")[:80]


class PlaylistPanel(QWidget):
    """Shows and edits the current playlist. ``play_requested`` asks the player to play a track."""

    play_requested = Signal(object)
    message = Signal(str)
    ranked = Signal()  # the similarity column now shows ranks in the library

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library: Any = None
        self.runner: Any = None  # a desktop.workers.TaskRunner: ranks are computed on it
        self._rank_generation = 0
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self.model = PlaylistModel(self)

        title = QLabel("<b>Playlist</b>")
        self.saved = QComboBox(toolTip="Playlists saved in this library")
        self.saved.setMinimumContentsLength(14)
        self.saved.setPlaceholderText("Saved playlists")
        self.open_saved = QToolButton(icon=icon("document-open"), toolTip="Open the chosen saved playlist")
        self.delete_saved = QToolButton(icon=icon("edit-delete"), toolTip="Delete the chosen saved playlist")
        top = QHBoxLayout()
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.saved)
        top.addWidget(self.open_saved)
        top.addWidget(self.delete_saved)

        self.name_edit = QLineEdit(placeholderText="Playlist name")
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.table.setDragEnabled(True)
        self.table.setAcceptDrops(True)
        self.table.setDropIndicatorShown(True)
        self.table.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.empty = QLabel("Select one or more tracks in the library or on the map,\n"
                            "then press <b>Make playlist</b>.".replace("\n", "<br>"))
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.table)

        self.up_button = QToolButton(icon=icon("go-up"), toolTip="Move the selected track up")
        self.down_button = QToolButton(icon=icon("go-down"), toolTip="Move the selected track down")
        self.remove_button = QToolButton(icon=icon("list-remove"), toolTip="Remove the selected tracks (Del)")
        self.save_button = QPushButton(icon("document-save"), "Save")
        self.export_button = QPushButton(icon("document-save-as"), "Export…")
        self.player_button = QPushButton(icon("media-playback-start"), "Open in player")
        self.player_button.setToolTip("Hand the playlist to your default music player")
        buttons = QHBoxLayout()
        for w in (self.up_button, self.down_button, self.remove_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        for w in (self.save_button, self.export_button, self.player_button):
            buttons.addWidget(w)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.name_edit)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)

        self.table.doubleClicked.connect(lambda idx: self.play_requested.emit(idx.data(TRACK_ROLE)))
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(+1))
        self.remove_button.clicked.connect(self.remove_selected)
        QShortcut(QKeySequence.StandardKey.Delete, self.table, self.remove_selected)
        self.save_button.clicked.connect(self.save)
        self.export_button.clicked.connect(self.export_dialog)
        self.player_button.clicked.connect(self.open_in_player)
        self.open_saved.clicked.connect(self._open_chosen)
        self.delete_saved.clicked.connect(self._delete_chosen)
        self.name_edit.textEdited.connect(self._renamed)
        self.model.modelReset.connect(self._refresh)
        self.model.rowsRemoved.connect(self._refresh)
        self._refresh()

    # --- library ------------------------------------------------------------------------------
    def set_library(self, library: Any) -> None:
        self.library = library
        self.refresh_saved()

    def refresh_saved(self) -> None:
        """Reload the list of saved playlists from the library."""
        self.saved.clear()
        if self.library is None:
            self._refresh()
            return
        try:
            saved = self.library.playlists()
        except CbrecError as exc:
            self.message.emit(str(exc))
            saved = []
        for pid, name, created in reversed(saved):  # newest first
            self.saved.addItem(f"{name}  ({created[:10]})", pid)
        if saved:
            current = self.saved.findData(self.model.saved_id)
            self.saved.setCurrentIndex(max(current, 0))
        self._refresh()

    def show_playlist(self, playlist: Playlist, saved_id: int | None = None) -> None:
        """Display a (new or reopened) playlist."""
        self.model.set_playlist(playlist, saved_id)
        self.name_edit.setText(playlist.name)
        self._start_ranking(playlist)

    def _start_ranking(self, playlist: Playlist) -> None:
        """Rank the tracks in the library (in the background when a runner is set)."""
        self._rank_generation += 1
        generation = self._rank_generation
        seeds = seed_ids(playlist.tracks, playlist.scores, playlist.seeds)
        if self.library is None or not seeds:
            return

        def done(ranks: Ranks | None) -> None:
            if generation == self._rank_generation:
                self.model.set_ranks(ranks)
                self.ranked.emit()

        def failed(message: str, exc: BaseException) -> None:
            log.warning("could not rank the playlist's tracks: %s", message)

        if self.runner is not None:
            self.runner.start(similarity_ranks, self.library, list(playlist.tracks), seeds,
                              on_done=done, on_error=failed)
            return
        try:
            done(similarity_ranks(self.library, list(playlist.tracks), seeds))
        except Exception as exc:  # the cosines stay shown
            failed(str(exc), exc)

    def open_saved_playlist(self, playlist_id: int) -> None:
        try:
            playlist = self.library.load_playlist(playlist_id)
        except CbrecError as exc:
            QMessageBox.warning(self, "Cannot open playlist", str(exc))
            return
        self.show_playlist(playlist, saved_id=playlist_id)
        self.message.emit(f"Opened “{playlist.name}” ({len(playlist)} tracks)")

    def confirm_replace(self) -> bool:
        """May the shown playlist be replaced? Yes when it is empty or saved; otherwise ask
        Save / Discard / Cancel (an unsaved playlist is never dropped without a word)."""
        if not self.model.rows or not self.model.dirty:
            return True
        buttons = (QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                   | QMessageBox.StandardButton.Cancel)
        if self.library is None:
            buttons &= ~QMessageBox.StandardButton.Save
        answer = QMessageBox.question(
            self, "Replace the playlist?",
            f"The playlist “{self._name()}” ({len(self.model.rows)} tracks) has unsaved changes. "
            "Save it in the library before it is replaced?", buttons, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save() is not None
        return answer == QMessageBox.StandardButton.Discard

    # --- actions ------------------------------------------------------------------------------
    def save(self) -> int | None:
        """Save in the library (replacing the saved copy this playlist came from). Returns its id."""
        if self.library is None or not self.model.rows:
            return None
        name = self.name_edit.text().strip() or self.model.name or "cbrec playlist"
        self.model.name = name
        try:
            new_id = self.library.save_playlist(self.model.playlist(), name)
            if self.model.saved_id is not None and self.model.saved_id != new_id:
                self.library.delete_playlist(self.model.saved_id)
        except Exception as exc:
            QMessageBox.warning(self, "Cannot save playlist", user_message(exc))
            return None
        self.model.saved_id, self.model.dirty = new_id, False
        self.refresh_saved()
        self.message.emit(f"Saved “{name}” in the library")
        return new_id

    def export_to(self, path: str | Path) -> Path | None:
        """Write the playlist as .m3u8 or .xspf (by suffix); errors become a dialog."""
        path = Path(path)
        if path.suffix.lower() not in (".m3u8", ".m3u", ".xspf"):
            path = path.with_suffix(".m3u8")
        try:
            written = Path(self.model.playlist().write(path) or path)
        except Exception as exc:
            QMessageBox.warning(self, "Cannot export playlist", f"Could not write {path}:\n{user_message(exc)}")
            return None
        self.message.emit(f"Exported {len(self.model.rows)} tracks to {written}")
        return written

    def export_dialog(self) -> None:
        if not self.model.rows:
            return
        music = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MusicLocation)
        start = str(Path(music or Path.home()) / (safe_filename(self._name()) + ".m3u8"))
        path, chosen = QFileDialog.getSaveFileName(self, "Export playlist", start, EXPORT_FILTERS)
        if not path:
            return
        if not Path(path).suffix:
            path += ".xspf" if "xspf" in chosen else ".m3u8"
        self.export_to(path)

    def open_in_player(self) -> Path | None:
        """Export to a temporary .m3u8 and ask the desktop to open it with the default player."""
        if not self.model.rows:
            return None
        folder = Path(tempfile.gettempdir()) / "cbrec-playlists"
        folder.mkdir(parents=True, exist_ok=True)
        path = self.export_to(folder / (safe_filename(self._name()) + ".m3u8"))
        if path is None:
            return None
        if not self.open_url(QUrl.fromLocalFile(str(path))):
            QMessageBox.information(self, "No music player found",
                                    f"No default application opens playlists on this system.\n"
                                    f"The playlist was written to {path}; open it from your player.")
        return path

    def remove_selected(self) -> None:
        rows = [i.row() for i in self.table.selectionModel().selectedRows()]
        self.model.remove_rows(rows)

    def _move(self, delta: int) -> None:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        if len(rows) != 1:
            return
        if self.model.move_row(rows[0], rows[0] + delta):
            self.table.selectRow(rows[0] + delta)

    def _open_chosen(self) -> None:
        pid = self.saved.currentData()
        if pid is not None and self.confirm_replace():
            self.open_saved_playlist(int(pid))

    def _delete_chosen(self) -> None:
        pid = self.saved.currentData()
        if pid is None or self.library is None:
            return
        name = self.saved.currentText()
        answer = QMessageBox.question(self, "Delete playlist", f"Delete the saved playlist {name}?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            self.library.delete_playlist(int(pid))
        except CbrecError as exc:
            QMessageBox.warning(self, "Cannot delete playlist", str(exc))
        if self.model.saved_id == pid:
            self.model.saved_id = None
        self.refresh_saved()

    def _renamed(self, text: str) -> None:
        self.model.name = text.strip()
        self.model.dirty = True

    def _name(self) -> str:
        return self.name_edit.text().strip() or self.model.name or "cbrec playlist"

    def _refresh(self, *args: object) -> None:
        has = bool(self.model.rows)
        self.stack.setCurrentWidget(self.table if has else self.empty)
        for w in (self.up_button, self.down_button, self.remove_button, self.save_button,
                  self.export_button, self.player_button, self.name_edit):
            w.setEnabled(has)
        self.save_button.setEnabled(has and self.library is not None)
        has_saved = self.saved.count() > 0
        for w in (self.saved, self.open_saved, self.delete_saved):
            w.setEnabled(has_saved)

    def next_after(self, track: Track | None) -> Track | None:
        """The playlist track after ``track`` (the first one if ``track`` is not in it)."""
        tracks = self.model.tracks()
        if not tracks:
            return None
        ids = [t.id for t in tracks]
        if track is None or track.id not in ids:
            return tracks[0]
        i = ids.index(track.id) + 1
        return tracks[i] if i < len(tracks) else None
