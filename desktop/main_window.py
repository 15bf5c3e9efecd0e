"""The main window: library table / map tabs, playlist panel, player bar, scan status.

The window is shown before the library opens (model loading imports torch): the library is
opened on a worker thread and the views fill in when it is ready. Views stay thin: the item
models hold the data, workers do the long jobs, this class wires them together.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core import ModelError, ScanReport, Track
from core.lock import LibraryInUse
from core.storefaults import StoreDamaged
from desktop.about import install_about
from desktop.history_ui import install_history
from desktop.library_view import LibraryView, default_music_folder
from desktop.map_panel import MapPanel
from desktop.player import PlayerBar
from desktop.playlist_dialog import MakePlaylistDialog, PlaylistRequest
from desktop.playlist_view import PlaylistPanel
from desktop.repair_ui import offer_repair
from desktop.resources import app_icon, icon
from desktop.scan_panel import FailuresDialog, ScanStatus
from desktop.settings import AppSettings
from desktop.settings_dialog import SettingsDialog
from desktop.tags_ui import install_tags
from desktop.toolbar import build_actions
from desktop.watcher import FolderWatcher, list_tree
from desktop.workers import ScanController, TaskRunner

log = logging.getLogger(__name__)


def open_library(settings: AppSettings) -> tuple[Any, list[Track]]:
    """Worker: open the Library from the settings and read its tracks."""
    from core import Library

    library = Library.open(**settings.open_kwargs())
    try:
        return library, library.tracks()
    except BaseException:  # e.g. a damaged library: let go of it (and of its lock) for the repair
        library.close()
        raise


class MainWindow(QMainWindow):
    """cbrec's main window. ``library_ready`` fires when the library is open and shown."""

    library_ready = Signal()
    library_failed = Signal(str)
    scan_done = Signal(object)       # ScanReport
    playlist_shown = Signal(object)  # Playlist

    def __init__(self, settings: AppSettings | None = None,
                 opener: Callable[[AppSettings], tuple[Any, list[Track]]] = open_library,
                 player_backend: Callable | None = None) -> None:
        super().__init__()
        self.settings = settings or AppSettings.load()
        self.opener = opener
        self.library: Any = None
        self.failures: list[tuple[str, str]] = []
        self._told_no_playback = False
        self.runner = TaskRunner(self)
        self.scans = ScanController(self)
        self.watcher = FolderWatcher(self)
        self.setWindowTitle("cbrec")
        self.setWindowIcon(app_icon())
        self.resize(1280, 780)

        self.library_view = LibraryView()
        self.map_panel = MapPanel(self.runner)
        self.playlist_panel = PlaylistPanel()
        self.player = PlayerBar(backend=player_backend) if player_backend else PlayerBar()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.library_view, icon("applications-multimedia"), "Library")
        self.tabs.addTab(self.map_panel, icon("cbrec-map"), "Map")
        splitter = QSplitter()
        splitter.addWidget(self.tabs)
        splitter.addWidget(self.playlist_panel)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([780, 500])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(splitter, 1)
        lay.addWidget(self.player)
        self.setCentralWidget(central)

        self.scan_status = ScanStatus()
        self.model_label = QLabel()
        self.statusBar().addPermanentWidget(self.scan_status)
        self.statusBar().addPermanentWidget(self.model_label)
        self._build_actions()
        self._connect()
        self.history = install_history(self)  # plays, history import, "For you" (issue 12)
        install_about(self, lambda: getattr(self.library, "card", None))
        self.tags = install_tags(self)  # Tags column, tag filter, map colouring by tag (issue 11)
        self._set_library_actions(False)
        self.library_view.welcome.set_busy("Opening the library…")

    # --- construction -------------------------------------------------------------------------
    def _build_actions(self) -> None:
        actions, self.search = build_actions(self, {
            "add_folder": self.choose_folder, "rescan": self.rescan, "playlist": lambda: self.make_playlist(),
            "failures": self.show_failures, "settings": self.show_settings, "quit": self.close})
        self.add_folder_action, self.rescan_action = actions["add_folder"], actions["rescan"]
        self.playlist_action, self.failures_action = actions["playlist"], actions["failures"]
        self.settings_action, self.quit_action = actions["settings"], actions["quit"]
        play = QAction(icon("media-playback-start"), "Play", self)
        play.triggered.connect(lambda: self.play(next(iter(self.library_view.selected_tracks()), None)))
        self.library_view.table.addActions([play, self.playlist_action])  # the table's context menu

    def _connect(self) -> None:
        self._search_timer = QTimer(self, singleShot=True, interval=150)
        self.search.textChanged.connect(lambda: self._search_timer.start())
        self._search_timer.timeout.connect(lambda: self.library_view.set_search(self.search.text()))
        self.library_view.welcome.add_default.connect(self.add_folder)
        self.library_view.welcome.choose_folder.connect(self.choose_folder)
        self.library_view.welcome.open_settings.connect(self.show_settings)
        self.library_view.activated.connect(self.play)
        self.library_view.selection_changed.connect(self._selection_changed)
        self.map_panel.canvas.activated.connect(self.play)
        self.map_panel.canvas.selection_changed.connect(self.library_view.select_ids)
        self.map_panel.make_playlist.connect(self._playlist_from_ids)
        self.playlist_panel.runner = self.runner
        self.playlist_panel.play_requested.connect(self.play)
        self.playlist_panel.message.connect(self.show_message)
        self.player.message.connect(self.show_message)
        self.player.next_track = self._next_track
        self.map_panel.snapshot = self.library_view.model.by_id
        self.tabs.currentChanged.connect(self._tab_changed)
        self.scans.progress.connect(self.scan_status.set_progress)
        self.scans.tracks.connect(self.library_view.model.upsert)
        self.scans.tracks.connect(lambda tracks: self._update_title())
        self.scans.finished.connect(self._scan_finished)
        self.scans.failed.connect(self._scan_failed)
        self.scans.running_changed.connect(self._scan_running)
        self.scan_status.cancel_requested.connect(self.cancel_scan)
        self.scan_status.show_failures.connect(self.show_failures)
        self.watcher.changed.connect(self.start_scan)

    # --- library --------------------------------------------------------------------------------
    def open_library(self) -> None:
        """Open the library in the background; the window stays usable meanwhile."""
        self.statusBar().showMessage("Opening the library…")
        self.runner.start(self.opener, self.settings, on_done=self._library_opened, on_error=self._library_error)

    def _library_opened(self, result: tuple[Any, list[Track]]) -> None:
        self.library, tracks = result
        self.library_view.model.set_tracks(tracks)
        self.library_view.welcome.set_busy(None)
        self.playlist_panel.set_library(self.library)
        self.map_panel.set_library(self.library)
        card = getattr(self.library, "model_card", None)
        self.model_label.setText(f"Model: {card.name}" if card else "")
        self.failures = self.library.failures()
        self.scan_status.set_failures(len(self.failures))
        self._set_library_actions(True)
        self._update_title()
        self.statusBar().showMessage(f"{len(tracks):,} tracks", 4000)
        folders = self.library.folders()
        self._watch(folders)
        if folders:  # pick up what changed while the app was closed
            self.start_scan(folders)
        if self.tabs.currentWidget() is self.map_panel:
            self.map_panel.refresh()
        self.library_ready.emit()

    def _library_error(self, message: str, exc: BaseException) -> None:
        title = "Choose a model" if isinstance(exc, ModelError) else "The library could not be opened"
        self.library_view.welcome.set_error(title, message)
        self.statusBar().showMessage("The library could not be opened")
        self.library_failed.emit(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "cbrec cannot open the library", message, parent=self)
        if isinstance(exc, LibraryInUse):  # another program has it: offer to try again once it is closed
            retry = box.addButton("Try again", QMessageBox.ButtonRole.AcceptRole)
            box.addButton(QMessageBox.StandardButton.Close)
            box.exec()
            if box.clickedButton() is retry:
                self.open_library()
            return
        if isinstance(exc, ModelError):
            box.setInformativeText("Choose a model file (.pt with its .json card) in Settings.")
            settings_button = box.addButton("Open settings…", QMessageBox.ButtonRole.AcceptRole)
            box.addButton(QMessageBox.StandardButton.Close)
            box.exec()
            if box.clickedButton() is settings_button:
                self.show_settings()
            return
        if isinstance(exc, StoreDamaged):  # offer to salvage it into a fresh library (issue 10)
            offer_repair(self, box)
            return
        box.exec()

    def _set_library_actions(self, enabled: bool) -> None:
        for a in (self.add_folder_action, self.rescan_action, self.playlist_action, self.failures_action):
            a.setEnabled(enabled)
        for b in (self.library_view.welcome.add_button, self.library_view.welcome.other_button):
            b.setEnabled(enabled)

    def _update_title(self) -> None:
        n = self.library_view.model.total()
        self.setWindowTitle(f"cbrec — {n:,} tracks" if n else "cbrec")

    def _watch(self, folders: list[str]) -> None:
        self.watcher.set_roots(folders)
        if folders:
            self.runner.start(list_tree, folders, self.settings.is_excluded,
                              on_done=lambda tree: self.watcher.set_tree(*tree))

    # --- folders and scans ------------------------------------------------------------------------
    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a music folder", default_music_folder())
        if path:
            self.add_folder(path)

    def add_folder(self, path: str) -> None:
        """Remember a music folder, watch it and scan it."""
        if self.library is None:
            return
        if not os.path.isdir(path):
            QMessageBox.warning(self, "Cannot add folder", f"{path} does not exist or is not a folder.")
            return
        try:
            self.library.add_folder(path)
        except Exception as exc:
            QMessageBox.warning(self, "Cannot add folder", f"{path} cannot be added: {exc}")
            return
        self._watch(self.library.folders())
        self.start_scan([path])

    def rescan(self) -> None:
        if self.library is not None and self.library.folders():
            self.start_scan(self.library.folders())

    def start_scan(self, folders: list[str]) -> None:
        """Incremental scan of ``folders`` on the scan thread (queued if one runs)."""
        if self.library is None or not folders:
            return
        if not self.scans.start(self.library, folders, self.settings.exclusions):
            self.show_message("A scan is running; the folders are scanned next")

    def cancel_scan(self) -> None:
        self.scans.cancel()

    def _scan_running(self, running: bool) -> None:
        self.scan_status.set_running(running)
        self.rescan_action.setEnabled(not running and self.library is not None)

    def _scan_finished(self, report: ScanReport) -> None:
        self.scan_status.set_message(report.summary())
        if self.library is None:  # the library was closed (e.g. reopened with another model)
            return
        self.failures = self._all_failures(report)
        self.scan_status.set_failures(len(self.failures))
        changed = (report.added or report.updated or report.moved or report.removed or report.unavailable
                   or report.returned)  # tracks whose folder went away (or came back) change status
        if not self.library_view.model.total() and not changed and not report.cancelled:
            self.library_view.welcome.text.setText(
                "\n".join(f"{path} could not be scanned: {reason}." for path, reason in report.failed[:3])
                if report.failed else "No audio files were found there. Add the folder where you keep your music.")
        if changed:
            self._reload_tracks()
            self.map_panel.stale = True
            if self.tabs.currentWidget() is self.map_panel:
                self.map_panel.refresh()
            self._watch(self.library.folders())
        self.scan_done.emit(report)

    def _all_failures(self, report: ScanReport) -> list[tuple[str, str]]:
        """The library's failed files plus what this scan could not read (a folder that could
        not be opened is not a file the library keeps), so *Failed files…* lists every failure."""
        stored = self.library.failures()
        known = {path for path, _ in stored}
        return stored + [(path, reason) for path, reason in report.failed if path not in known]

    def _scan_failed(self, message: str) -> None:
        self.scan_status.set_message("Scan failed")
        QMessageBox.warning(self, "Scan failed", message)

    def _reload_tracks(self) -> None:
        self.runner.start(self.library.tracks, on_done=self._tracks_reloaded,
                          on_error=lambda m, e: self.show_message(m))

    def _tracks_reloaded(self, tracks: list[Track]) -> None:
        self.library_view.model.sync(tracks)
        self._update_title()

    def show_failures(self) -> None:
        FailuresDialog(self.failures, self).exec()

    # --- playlists ------------------------------------------------------------------------------
    def make_playlist(self, seeds: list[Track] | None = None) -> None:
        """Ask for playlist options for ``seeds`` (default: the selected tracks), then build it."""
        seeds = seeds if seeds is not None else self.library_view.selected_tracks()
        seeds = [t for t in seeds if t is not None and t.status == "ok"]
        if not seeds:
            QMessageBox.information(self, "Make playlist", "Select one or more analysed tracks first "
                                    "(in the library, or with a rectangle on the map).")
            return
        dialog = MakePlaylistDialog(seeds, self)
        if dialog.exec() and self.playlist_panel.confirm_replace():
            self.build_playlist(dialog.request())

    def build_playlist(self, request: PlaylistRequest) -> None:
        """Build the playlist on a worker thread and show it."""
        if self.library is None:
            return
        self.show_message("Making the playlist…")
        self.runner.start(request.build, self.library, on_done=self._playlist_built,
                          on_error=lambda msg, exc: QMessageBox.warning(self, "Cannot make playlist", msg))

    def _playlist_built(self, playlist: Any) -> None:
        self.playlist_panel.show_playlist(playlist)
        self.show_message(f"{playlist.name}: {len(playlist.tracks)} tracks")
        self.playlist_shown.emit(playlist)

    def _playlist_from_ids(self, ids: list[int]) -> None:
        model = self.library_view.model
        self.make_playlist([t for t in (model.track_by_id(i) for i in ids) if t is not None])

    # --- playback -------------------------------------------------------------------------------
    def play(self, track: Track | None) -> None:
        """Preview ``track``; without an audio output, say so (a dialog the first time)."""
        if track is None:
            return
        if self.player.available:
            self.player.play(track)
            return
        if self._told_no_playback:
            self.show_message(self.player.problem)
            return
        self._told_no_playback = True
        QMessageBox.information(self, "Cannot play", f"{self.player.problem}\n\n“{track.display}” was not played. "
                                "Export the playlist or use “Open in player” to hear it in another program.")

    def _next_track(self, current: Track | None) -> Track | None:
        in_playlist = current is not None and any(t.id == current.id for t in self.playlist_panel.model.tracks())
        if in_playlist or current is None and self.playlist_panel.model.rows:
            return self.playlist_panel.next_after(current)
        model = self.library_view.model
        row = model.row_of(current.id) if current is not None else None
        if row is None:
            return self.library_view.current_or_first()
        return model.track_at(row + 1) if row + 1 < model.rowCount() else None

    # --- settings -------------------------------------------------------------------------------
    def show_settings(self) -> None:
        folders = self.library.folders() if self.library is not None else []
        dialog = SettingsDialog(self.settings, folders, self)
        if dialog.exec():
            self.apply_settings(dialog.new_settings(), dialog.folders())

    def apply_settings(self, new: AppSettings, folders: list[str]) -> None:
        """Store settings; reopen the library when the model, device or workers changed."""
        old, self.settings = self.settings, new
        new.save()
        if self.library is None or (new.model, new.device, new.workers) != (old.model, old.device, old.workers):
            if new.model != old.model:
                self.show_message("Model changed: the library will be analysed again with the new model")
            self._close_library()
            self.open_library()  # the scan after opening re-analyses with the new model
            return
        current = self.library.folders()
        for f in current:
            if f not in folders:
                self.library.remove_folder(f)
        added = [f for f in folders if f not in current]
        for f in added:
            self.library.add_folder(f)
        if len(folders) != len(current) or added:
            self._reload_tracks()
            self._watch(self.library.folders())
        self.start_scan(added if new.exclusions == old.exclusions else self.library.folders())

    def _close_library(self) -> None:
        self.scans.cancel()
        self.scans.wait(15000)
        self.player.stop()
        self.map_panel.stop()
        self.runner.wait(15000)
        if self.library is not None:
            self.library.close()
        self.library = None
        self._set_library_actions(False)

    # --- misc -----------------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _selection_changed(self, tracks: list[Track]) -> None:
        if self.tabs.currentWidget() is not self.map_panel:
            self.map_panel.canvas.select_ids([t.id for t in tracks])

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.map_panel and self.map_panel.stale:
            self.map_panel.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._close_library()
        super().closeEvent(event)
