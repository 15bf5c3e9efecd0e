"""Listening history in the app: plays recorded by the player, the history import, the "For you" mix.

:func:`install_history` adds to a :class:`~desktop.main_window.MainWindow`:

* *Library ▸ Import listening history…* (Last.fm CSV, ListenBrainz, Spotify, Rhythmbox,
  Strawberry/Clementine), run on a worker, then a report of what matched and what did not, why;
* *For you* (toolbar and Playlist menu): the library ranked by the taste vector, in the playlist panel;
* the Plays and Last played columns of the library table, kept current;
* :class:`PlayTracker`: a track played in the app counts once it has been heard for 30 s or half
  its length (position advanced while playing; seeking does not count), as scrobblers do.

Everything stays in the library's database; nothing is sent anywhere.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core import Track
from core.history.log import counts_as_play
from desktop.models import LAST_PLAYED_COLUMN, PLAYS_COLUMN
from desktop.resources import icon

FILE_FILTER = ("Listening history (*.csv *.json *.jsonl *.zip *.xml *.db *.sqlite);;"
               "Last.fm CSV (*.csv);;ListenBrainz / Spotify (*.json *.jsonl *.zip);;"
               "Rhythmbox (rhythmdb.xml);;Strawberry / Clementine (*.db);;All files (*)")
MAX_REPORT_ROWS = 5000
MAX_STEP_MS = 2500   # a position jump larger than this is a seek, not listening


class PlayTracker(QObject):
    """Counts how long the current track has really been heard; calls ``record(track, heard, started)`` once
    per play when it reaches the threshold (30 s or half the track)."""

    counted = Signal(object, float)   # track, seconds heard

    def __init__(self, bar: Any, record: Callable[[Track, float, float], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.record = record
        self.track: Track | None = None
        self.heard = 0.0
        self.started = 0.0
        self._last_ms: int | None = None
        self._done = True
        bar.now_playing.connect(self.start)
        if bar.player is not None:
            bar.player.positionChanged.connect(self.position)

    def start(self, track: Track | None) -> None:
        """A new play of ``track`` begins (from the start)."""
        self.track, self.heard, self.started = track, 0.0, time.time()
        self._last_ms, self._done = None, track is None

    def position(self, ms: int) -> None:
        """The player's position moved to ``ms``: small forward steps are listening time."""
        last, self._last_ms = self._last_ms, int(ms)
        if self._done or self.track is None or last is None:
            return
        step = int(ms) - last
        if 0 < step <= MAX_STEP_MS:
            self.heard += step / 1000.0
        if counts_as_play(self.heard, self.track.duration):
            self._done = True
            self.record(self.track, self.heard, self.started)
            self.counted.emit(self.track, self.heard)


class ImportReportDialog(QDialog):
    """The result of a history import: the summary, then every entry not imported and why."""

    def __init__(self, report: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Listening history imported")
        self.resize(820, 480)
        lay = QVBoxLayout(self)
        self.summary = QLabel(report.summary())
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        rows = [("not in the library", e, r) for e, r in report.unmatched] + \
               [("skipped", e, r) for e, r in report.skipped]
        self.table = QTableWidget(min(len(rows), MAX_REPORT_ROWS), 3)
        self.table.setHorizontalHeaderLabels(["", "Entry", "Reason"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, row in enumerate(rows[:MAX_REPORT_ROWS]):
            for j, text in enumerate(row):
                self.table.setItem(i, j, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        if rows:
            more = f" (the first {MAX_REPORT_ROWS:,} shown)" if len(rows) > MAX_REPORT_ROWS else ""
            lay.addWidget(QLabel(f"{len(rows):,} entries were not imported as plays of library tracks{more}. "
                                 "Entries not in the library are kept: a later scan may find their tracks."))
            lay.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)


class HistoryUI(QObject):
    """The history actions of one main window (created by :func:`install_history`)."""

    imported = Signal(object)   # ImportReport
    stats_updated = Signal()

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.import_action = QAction(icon("document-import"), "Import listening history…", window)
        self.import_action.setToolTip("Import plays from Last.fm, ListenBrainz, Spotify, Rhythmbox or Strawberry "
                                      "(kept in the library; nothing leaves this computer)")
        self.for_you_action = QAction(icon("cbrec-for-you"), "For you", window)
        self.for_you_action.setToolTip("A mix from what you listen to: your taste, tracks you have not played yet")
        self.import_action.triggered.connect(lambda: self.choose_import())
        self.for_you_action.triggered.connect(lambda: self.make_for_you())
        self.tracker = PlayTracker(window.player, self._record, self)
        self.set_enabled(False)
        window.library_ready.connect(self._library_ready)
        window.scan_done.connect(lambda _report: self.refresh_stats())

    def set_enabled(self, enabled: bool) -> None:
        for a in (self.import_action, self.for_you_action):
            a.setEnabled(enabled)

    def _library_ready(self) -> None:
        self.set_enabled(True)
        self.refresh_stats()

    # --- play counts ------------------------------------------------------------------------
    def refresh_stats(self) -> None:
        """Reload play counts and last-played times into the library table (on a worker)."""
        library = self.window.library
        if library is not None:
            self.window.runner.start(library.play_stats, on_done=self._stats_loaded,
                                     on_error=lambda m, e: self.window.show_message(m))

    def _stats_loaded(self, stats: dict) -> None:
        self.window.library_view.model.set_play_stats(stats)
        self.stats_updated.emit()

    def _record(self, track: Track, heard: float, started: float) -> None:
        library = self.window.library
        if library is not None:
            self.window.runner.start(library.record_play, track.id, heard, started,
                                     on_done=lambda _ok: self.refresh_stats(),
                                     on_error=lambda m, e: self.window.show_message(f"The play was not recorded: {m}"))

    # --- import -----------------------------------------------------------------------------
    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import listening history", "", FILE_FILTER)
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> None:
        """Import ``path`` on a worker; show the report (or why the file cannot be read)."""
        library = self.window.library
        if library is None:
            return
        self.window.show_message(f"Importing {path}…")
        self.window.runner.start(library.import_history, path, on_done=self._imported,
                                 on_error=lambda m, e: QMessageBox.warning(self.window, "Cannot import", m))

    def _imported(self, report: Any) -> None:
        self.window.show_message(report.summary())
        self.refresh_stats()
        self.imported.emit(report)
        self.report_dialog = ImportReportDialog(report, self.window)
        self.report_dialog.open()

    # --- For you ------------------------------------------------------------------------------
    def make_for_you(self, n: int = 25) -> None:
        """Build the "For you" mix on a worker and show it in the playlist panel."""
        library = self.window.library
        if library is None or not self.window.playlist_panel.confirm_replace():
            return
        self.window.show_message("Making your mix…")
        self.window.runner.start(library.for_you, n, on_done=self._for_you_built,
                                 on_error=lambda m, e: QMessageBox.information(self.window, "For you", m))

    def _for_you_built(self, mix: Any) -> None:
        if not mix.tracks:
            QMessageBox.information(self.window, "For you", "Every analysed track has been played already: "
                                    "add music, or make a playlist from tracks you like.")
            return
        self.window._playlist_built(mix)


def install_history(window: Any) -> HistoryUI:
    """Add the history actions, menus, table columns and play tracking to a main window."""
    ui = HistoryUI(window)
    bar = window.menuBar()
    for action in bar.actions():
        title = action.text().replace("&", "")
        if title == "Library":
            action.menu().insertAction(window.failures_action, ui.import_action)
        elif title == "Playlist":
            action.menu().addAction(ui.for_you_action)
    toolbar = window.findChild(QToolBar, "main-toolbar")
    if toolbar is not None:
        toolbar.insertAction(window.settings_action, ui.for_you_action)
    table = window.library_view.table
    table.setColumnWidth(PLAYS_COLUMN, 50)
    table.setColumnWidth(LAST_PLAYED_COLUMN, 120)
    return ui
