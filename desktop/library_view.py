"""The library tab: the track table, or a welcome page that offers to add a music folder."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QSize, QStandardPaths, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core import Track
from desktop.models import COLUMNS, TRACK_ROLE, TrackTableModel
from desktop.resources import app_icon

DEFAULT_SORT_COLUMN = COLUMNS.index("Artist")  # A to Z, then album and track number


def music_folder() -> str | None:
    """The user's music folder (QStandardPaths.MusicLocation) if it exists, else None."""
    music = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MusicLocation)
    return music if music and Path(music).is_dir() else None


def default_music_folder() -> str:
    """Where a folder chooser starts: the user's music folder if it exists, or the home folder."""
    return music_folder() or str(Path.home())


class WelcomePage(QWidget):
    """Shown while the library is empty: explains and offers to add the music folder."""

    add_default = Signal(str)
    choose_folder = Signal()
    open_settings = Signal()
    INTRO = ("cbrec listens to your music and finds songs that sound alike.\n"
             "Add the folder where you keep your music; the analysis runs in the background.")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(QSize(96, 96)))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel()
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel(self.INTRO)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        self.default_folder = music_folder()  # offered only when it exists
        self.add_button = QPushButton(f"Add {self.default_folder}")
        self.add_button.setDefault(True)
        self.add_button.setMinimumHeight(36)
        self.other_button = QPushButton("Choose another folder…" if self.default_folder else "Choose a music folder…")
        if not self.default_folder:
            self.other_button.setDefault(True)
            self.other_button.setMinimumHeight(36)
        self.settings_button = QPushButton("Open settings…")
        self.settings_button.setMinimumHeight(36)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        for w in (logo, self.title, self.text):
            layout.addWidget(w)
        layout.addSpacing(12)
        for b in (self.add_button, self.other_button, self.settings_button):
            layout.addWidget(b, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)
        self.add_button.clicked.connect(lambda: self.add_default.emit(self.default_folder))
        self.other_button.clicked.connect(self.choose_folder)
        self.settings_button.clicked.connect(self.open_settings)
        self.set_busy(None)

    def set_busy(self, text: str | None) -> None:
        """The invitation to add a folder (None), or a message without buttons (e.g. while opening)."""
        self.title.setText("<h2>Your library is empty</h2>" if text is None else "<h2>Welcome to cbrec</h2>")
        self.text.setText(self.INTRO if text is None else text)
        self.add_button.setVisible(text is None and self.default_folder is not None)
        self.other_button.setVisible(text is None)
        self.settings_button.setVisible(False)

    def set_error(self, title: str, text: str) -> None:
        """Say why the library cannot be used and offer the settings (e.g. to choose a model)."""
        self.title.setText(f"<h2>{title}</h2>")
        self.text.setText(text)
        self.add_button.setVisible(False)
        self.other_button.setVisible(False)
        self.settings_button.setVisible(True)


class LibraryView(QStackedWidget):
    """Table of tracks (filtered and sorted by its model); the welcome page while empty."""

    activated = Signal(object)           # Track (double-click / Enter)
    selection_changed = Signal(list)     # selected Tracks

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = TrackTableModel(self)
        self.welcome = WelcomePage()
        self.table = QTableView()
        self.table.setModel(self.model)
        # the indicator first: enabling sorting sorts by it (Qt's default is Title, descending)
        self.table.horizontalHeader().setSortIndicator(DEFAULT_SORT_COLUMN, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        vh = self.table.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: fast with 50k
        vh.setDefaultSectionSize(self.fontMetrics().height() + 6)
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(False)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((260, 170, 190, 70, 80)):
            self.table.setColumnWidth(col, width)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.addWidget(self.welcome)
        self.addWidget(self.table)
        self.table.activated.connect(lambda idx: self.activated.emit(idx.data(TRACK_ROLE)))  # double-click, Enter
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.table.selectionModel().selectionChanged.connect(
            lambda *a: self.selection_changed.emit(self.selected_tracks()))
        self.model.modelReset.connect(self._update_page)
        self.model.rowsInserted.connect(self._update_page)
        self.model.rowsRemoved.connect(self._update_page)

    def set_search(self, text: str) -> None:
        self.model.set_search(text)

    def selected_tracks(self) -> list[Track]:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [self.model.track_at(r) for r in rows]

    def select_ids(self, ids: list[int]) -> None:
        """Select the rows of these track ids (e.g. from the map) and scroll to the first."""
        sel = self.table.selectionModel()
        sel.clearSelection()
        first = None
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for tid in ids:
            row = self.model.row_of(tid)
            if row is None:
                continue
            idx = self.model.index(row, 0)
            sel.select(idx, flags)
            first = first or idx
        if first is not None:
            self.table.scrollTo(first)

    def current_or_first(self) -> Track | None:
        tracks = self.selected_tracks()
        if tracks:
            return tracks[0]
        return self.model.track_at(0) if self.model.rowCount() else None

    def _update_page(self, *args: object) -> None:
        self.setCurrentWidget(self.table if self.model.total() else self.welcome)
