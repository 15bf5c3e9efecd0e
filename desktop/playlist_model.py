"""Item model of one playlist: tracks with their similarity, editable order (drag or buttons)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QByteArray, QMimeData, QModelIndex, QPersistentModelIndex, Qt

from core import Track
from core.playlist import Playlist
from desktop.models import TRACK_ROLE, format_duration
from desktop.playlist_ranks import Ranks, describe

PL_COLUMNS = ("#", "Title", "Artist", "Similarity", "Duration")
_MIME = "application/x-cbrec-playlist-rows"

_Index = QModelIndex | QPersistentModelIndex


class PlaylistModel(QAbstractTableModel):
    """Rows of ``(track, score)``; ``dirty`` turns true on any edit since the last save."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[Track, float]] = []
        self.name = ""
        self.seeds: list[Track] = []
        self.saved_id: int | None = None
        self.dirty = False
        self.ranks: Ranks | None = None  # where each track ranks in the library (see playlist_ranks)

    # --- content ------------------------------------------------------------------------------
    def set_playlist(self, playlist: Playlist, saved_id: int | None = None) -> None:
        self.beginResetModel()
        self.rows = list(zip(playlist.tracks, playlist.scores, strict=False))
        self.name = playlist.name
        self.seeds = list(getattr(playlist, "seeds", []) or [])
        self.saved_id = saved_id
        self.dirty = saved_id is None
        self.ranks = None
        self.endResetModel()

    def set_ranks(self, ranks: Ranks | None) -> None:
        """Show each track's similarity as its rank in the library (computed off the UI thread)."""
        self.ranks = ranks
        if self.rows:
            self.dataChanged.emit(self.index(0, 3), self.index(len(self.rows) - 1, 3))

    def clear(self) -> None:
        self.beginResetModel()
        self.rows, self.name, self.seeds, self.saved_id, self.dirty = [], "", [], None, False
        self.ranks = None
        self.endResetModel()

    def playlist(self) -> Playlist:
        """The playlist as edited now."""
        return Playlist(tracks=[t for t, _ in self.rows], scores=[s for _, s in self.rows],
                        name=self.name or "cbrec playlist", seeds=list(self.seeds))

    def tracks(self) -> list[Track]:
        return [t for t, _ in self.rows]

    # --- edits --------------------------------------------------------------------------------
    def remove_rows(self, rows: Sequence[int]) -> None:
        for row in sorted(set(rows), reverse=True):
            if 0 <= row < len(self.rows):
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.rows[row]
                self.endRemoveRows()
                self.dirty = True
        self._renumber()

    def move_row(self, row: int, to: int) -> bool:
        """Move one row so that it ends at index ``to``; True if it moved."""
        if not (0 <= row < len(self.rows) and 0 <= to < len(self.rows)) or row == to:
            return False
        dest = to + 1 if to > row else to  # Qt's destination is "before this row" in old numbering
        self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), dest)
        self.rows.insert(to, self.rows.pop(row))
        self.endMoveRows()
        self.dirty = True
        self._renumber()
        return True

    def _renumber(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 0))

    # --- Qt model -----------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(PL_COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        track, score = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 3:
                return self.similarity_text(track, score)
            return (str(index.row() + 1), track.title, track.artist or "", "",
                    format_duration(track.duration))[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 3:
                return describe(self.ranks, track, score)[1]
            return track.path
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (0, 3, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == TRACK_ROLE:
            return track
        return None

    def similarity_text(self, track: Track, score: float) -> str:
        """"seed", "3rd of 1,204" (its rank in the library), or the cosine until ranks are known."""
        return describe(self.ranks, track, score)[0]

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return PL_COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole and section == 3:
            return "How close each track is to the seeds: 1st = the closest track of your whole library"
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base | Qt.ItemFlag.ItemIsDropEnabled

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes})
        mime.setData(_MIME, QByteArray(",".join(map(str, rows)).encode()))
        return mime

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int,
                     parent: _Index) -> bool:
        if action != Qt.DropAction.MoveAction or not data.hasFormat(_MIME):
            return False
        rows = [int(r) for r in bytes(data.data(_MIME).data()).decode().split(",") if r]
        if not rows:
            return False
        target = row if row >= 0 else (parent.row() if parent.isValid() else len(self.rows))
        moving = [self.rows[r] for r in rows]
        self.beginResetModel()
        kept = [item for i, item in enumerate(self.rows) if i not in set(rows)]
        target -= sum(1 for r in rows if r < target)
        self.rows = kept[:target] + moving + kept[target:]
        self.endResetModel()
        self.dirty = True
        return False  # we moved the rows ourselves: the view must not remove the originals
