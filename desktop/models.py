"""Item models of the library table: one row per track, no widget per row.

Sorting happens in the source model with Python's ``list.sort`` on precomputed keys (fast for
50,000 rows); the proxy only filters, with one Python call per row against a precomputed
lower-case search text.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from core import Track

COLUMNS = ("Title", "Artist", "Album", "Duration", "Status")
TRACK_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex


def format_duration(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration in seconds; empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _status_text(track: Track) -> str:
    return {"ok": "analysed", "failed": "failed", "pending": "pending"}.get(track.status, track.status)


def _sort_key(track: Track, column: int) -> tuple:
    if column == 3:
        return (track.duration is None, track.duration or 0.0)
    value = (track.title, track.artist, track.album, None, _status_text(track))[column]
    return (not value, (value or "").casefold())


class TrackTableModel(QAbstractTableModel):
    """The library's tracks as a table (title, artist, album, duration, status)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._tracks: list[Track] = []
        self._search: list[str] = []
        self._row_of: dict[int, int] = {}
        self._sort: tuple[int, Qt.SortOrder] | None = None

    # --- read -------------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._tracks)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        track = self._tracks[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return track.title
            if col == 1:
                return track.artist or ""
            if col == 2:
                return track.album or ""
            if col == 3:
                return format_duration(track.duration)
            return _status_text(track)
        if role == TRACK_ROLE:
            return track
        if role == ID_ROLE:
            return track.id
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{track.path}\n{track.error}" if track.error else track.path
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col == 4 and track.status == "failed":
            return QBrush(QColor("#c0392b"))
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def track_at(self, row: int) -> Track:
        """The track shown in source row ``row``."""
        return self._tracks[row]

    def tracks(self) -> list[Track]:
        """All tracks, in the current order."""
        return list(self._tracks)

    def row_of(self, track_id: int) -> int | None:
        """Source row of a track id, or None."""
        return self._row_of.get(track_id)

    def search_text(self, row: int) -> str:
        """Lower-case text that the search box matches against."""
        return self._search[row]

    # --- write ------------------------------------------------------------------------------
    def set_tracks(self, tracks: Iterable[Track]) -> None:
        """Replace every row (one model reset)."""
        self.beginResetModel()
        self._tracks = list(tracks)
        if self._sort is not None:
            self._sort_list(*self._sort)
        self._reindex()
        self.endResetModel()

    def upsert(self, tracks: Sequence[Track]) -> None:
        """Update rows of known ids in place and append new ones (keeps the sort if any)."""
        new: list[Track] = []
        for track in tracks:
            row = self._row_of.get(track.id)
            if row is None:
                new.append(track)
                continue
            self._tracks[row] = track
            self._search[row] = self._text(track)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        if new:
            start = len(self._tracks)
            self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
            for i, track in enumerate(new, start):
                self._tracks.append(track)
                self._search.append(self._text(track))
                self._row_of[track.id] = i
            self.endInsertRows()
            if self._sort is not None:
                self.sort(*self._sort)

    def remove_ids(self, ids: Iterable[int]) -> None:
        """Drop the rows of these track ids."""
        rows = sorted((self._row_of[i] for i in ids if i in self._row_of), reverse=True)
        for row in rows:  # contiguous runs would be faster; removals are rare and small
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._tracks[row]
            del self._search[row]
            self.endRemoveRows()
        if rows:
            self._reindex()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort rows by a column, keeping selections (persistent indexes) on their tracks."""
        if not 0 <= column < len(COLUMNS):
            return
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        ids = [self._tracks[p.row()].id if p.isValid() else None for p in persistent]
        self._sort_list(column, order)
        self._reindex()
        new = [self.index(self._row_of[i], p.column()) if i is not None else QModelIndex()
               for i, p in zip(ids, persistent, strict=True)]
        self.changePersistentIndexList(persistent, new)
        self.layoutChanged.emit()

    # --- helpers ----------------------------------------------------------------------------
    def _sort_list(self, column: int, order: Qt.SortOrder) -> None:
        self._tracks.sort(key=lambda t: _sort_key(t, column),
                          reverse=order == Qt.SortOrder.DescendingOrder)

    def _reindex(self) -> None:
        self._search = [self._text(t) for t in self._tracks]
        self._row_of = {t.id: i for i, t in enumerate(self._tracks)}

    @staticmethod
    def _text(track: Track) -> str:
        return " ".join(p for p in (track.title, track.artist, track.album, track.genre, track.path) if p).casefold()


class TrackFilterProxy(QSortFilterProxyModel):
    """Filters the table by the search box (every word must match); sorting goes to the source."""

    def __init__(self, source: TrackTableModel, parent: Any = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []
        self.setSourceModel(source)
        self.setDynamicSortFilter(False)

    @property
    def tracks_model(self) -> TrackTableModel:
        return self.sourceModel()  # type: ignore[return-value]

    def set_search(self, text: str) -> None:
        """Show only rows whose title/artist/album/genre/path contain every word of ``text``."""
        words = text.casefold().split()
        if words == self._words:
            return
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            self._words = words
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._words = words
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        if not self._words:
            return True
        text = self.tracks_model.search_text(source_row)
        return all(w in text for w in self._words)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Delegate to the source model (Python key sort instead of per-pair ``lessThan``)."""
        self.tracks_model.sort(column, order)

    def track_at(self, proxy_row: int) -> Track:
        """Track at a row of this (filtered) model."""
        return self.tracks_model.track_at(self.mapToSource(self.index(proxy_row, 0)).row())
