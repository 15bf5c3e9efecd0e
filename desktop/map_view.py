"""The map canvas: one point per track, painted in one pass per colour (no item per point).

Wheel zooms, right or middle drag pans, left drag selects with a rubber band, a click selects
the nearest point, hovering shows the track, double-click plays it.
"""
from __future__ import annotations

import colorsys
from collections import Counter
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF, QTransform, QWheelEvent
from PySide6.QtWidgets import QRubberBand, QToolTip, QWidget

from core import Track

COLOR_FIELDS = ("artist", "album", "genre")
TAG_FIELD = "tag"   # colour by each track's best automatic tag (a tagged model: set_top_tags)
OTHER = QColor("#9aa0a6")
LEGEND_ROWS = 10
_PICK_PIXELS = 8.0


def category_color(rank: int) -> QColor:
    """A distinct, readable colour for the ``rank``-th most frequent category (golden-ratio hues)."""
    hue = (0.61 + rank * 0.618034) % 1.0
    sat = 0.70 if rank % 2 == 0 else 0.55
    val = 0.85 if rank % 3 else 0.70
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return QColor.fromRgbF(r, g, b)


class MapCanvas(QWidget):
    """Scatter plot of a 2-D layout. ``selection_changed`` carries the selected track ids."""

    selection_changed = Signal(list)   # a selection the user made on the map
    marked = Signal(int)               # how many points are selected now, however that changed
    activated = Signal(object)  # Track (double-click)
    hovered = Signal(object)    # Track or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.ids = np.zeros(0, np.int64)
        self.xy = np.zeros((0, 2), np.float32)
        self.tracks: list[Track | None] = []
        self.color_field = "artist"
        self.top_tags: dict[int, str] = {}   # track id -> its best tag
        self.placeholder = "The map appears once tracks are analysed."
        self.selected: np.ndarray = np.zeros(0, np.int64)   # indexes into ids
        self.hover: int | None = None
        self.legend: list[tuple[str, QColor, int]] = []
        self._groups: list[tuple[QColor, np.ndarray]] = []       # colour, point indexes
        self._polys: list[tuple[QColor, QPolygonF]] = []          # in widget pixels, cached
        self._poly_key: tuple = ()
        self._zoom, self._pan = 1.0, QPointF(0, 0)
        self._press: QPoint | None = None
        self._panning = False
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self)

    # --- data -------------------------------------------------------------------------------
    def set_points(self, ids: np.ndarray, xy: np.ndarray, tracks: Sequence[Track | None],
                   keep_view: bool = False) -> None:
        """Show ``xy`` (n, 2) for track ``ids`` (n,); ``tracks`` gives the metadata per point."""
        old_sel = set(self.ids[self.selected].tolist()) if len(self.selected) else set()
        self.ids = np.asarray(ids, np.int64)
        self.xy = np.asarray(xy, np.float32).reshape(-1, 2)
        self.tracks = list(tracks)
        self._set_selected(np.array([i for i, t in enumerate(self.ids.tolist()) if t in old_sel], np.int64))
        self.hover = None
        if not keep_view:
            self._zoom, self._pan = 1.0, QPointF(0, 0)
        self._regroup()
        self.update()

    def set_top_tags(self, top: dict[int, str]) -> None:
        """Each track's best tag (``track id → tag``), for colouring by :data:`TAG_FIELD`."""
        self.top_tags = dict(top)
        if self.color_field == TAG_FIELD:
            self._regroup()
            self.update()

    def set_color_field(self, field: str) -> None:
        """Colour points by ``artist``, ``album``, ``genre`` or best ``tag``."""
        if field in (*COLOR_FIELDS, TAG_FIELD) and field != self.color_field:
            self.color_field = field
            self._regroup()
            self.update()

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.update()

    def select_ids(self, ids: Sequence[int], emit: bool = False) -> None:
        """Mark tracks as selected (e.g. from the library table)."""
        wanted = set(ids)
        self._set_selected(np.array([i for i, t in enumerate(self.ids.tolist()) if t in wanted], np.int64))
        self.update()
        if emit:
            self.selection_changed.emit(self.selected_ids())

    def selected_ids(self) -> list[int]:
        return self.ids[self.selected].tolist()

    def _set_selected(self, indexes: np.ndarray) -> None:
        """The one place the selection changes, so that ``marked`` always tells its size."""
        self.selected = indexes.astype(np.int64)
        self.marked.emit(len(self.selected))

    def _label(self, track: Track | None) -> str:
        if self.color_field == TAG_FIELD:
            return (self.top_tags.get(track.id) if track is not None else None) or "(unknown)"
        value = getattr(track, self.color_field, None) if track is not None else None
        return value or "(unknown)"

    def _regroup(self) -> None:
        labels = [self._label(t) for t in self.tracks]
        counts = Counter(labels)
        colours: dict[str, QColor] = {}
        for rank, (label, _) in enumerate(counts.most_common()):
            colours[label] = OTHER if label == "(unknown)" else category_color(rank)
        self.legend = [(label, colours[label], n) for label, n in counts.most_common(LEGEND_ROWS)]
        by_colour: dict[str, list[int]] = {}
        for i, label in enumerate(labels):
            by_colour.setdefault(label, []).append(i)
        # most frequent last, so small groups are not hidden under big ones... and grey first
        order = sorted(by_colour, key=lambda lb: (lb != "(unknown)", -counts[lb]))
        self._groups = [(colours[lb], np.asarray(by_colour[lb], np.int64)) for lb in order]
        self._poly_key = ()

    # --- geometry ---------------------------------------------------------------------------
    def _transform(self) -> QTransform:
        """Data coordinates -> widget pixels (fit the layout, then zoom and pan)."""
        t = QTransform()
        if not len(self.xy):
            return t
        lo, hi = self.xy.min(axis=0), self.xy.max(axis=0)
        span = np.maximum(hi - lo, 1e-6)
        margin = 24.0
        width = self.width() - self._legend_room()
        w, h = max(width - 2 * margin, 1.0), max(self.height() - 2 * margin, 1.0)
        scale = min(w / span[0], h / span[1]) * self._zoom
        cx, cy = (lo + hi) / 2
        t.translate(width / 2 + self._pan.x(), self.height() / 2 + self._pan.y())
        t.scale(scale, scale)
        t.translate(-float(cx), -float(cy))
        return t

    def legend_rect(self) -> QRectF | None:
        """Where the legend is drawn (top right), or None when there is none."""
        if not self.legend:
            return None
        fm = self.fontMetrics()
        row_h = fm.height() + 2
        width = min(240, max(fm.horizontalAdvance(f"{label} ({n})") for label, _, n in self.legend) + 28)
        return QRectF(self.width() - width - 10, 10, width, row_h * len(self.legend) + 8)

    def _legend_room(self) -> float:
        """Pixels kept free on the right for the legend, so that it covers no point at the
        default view; none when the canvas is too narrow to spare them (the legend then overlaps)."""
        box = self.legend_rect()
        if box is None:
            return 0.0
        room = box.width() + 10
        return room if self.width() - room >= 240 else 0.0

    def screen_points(self) -> np.ndarray:
        """(n, 2) widget coordinates of every point."""
        t = self._transform()
        return self.xy * np.float32(t.m11()) + np.array([t.dx(), t.dy()], np.float32)

    def point_at(self, pos: QPointF) -> int | None:
        """Index of the point nearest to ``pos`` within a few pixels, or None."""
        if not len(self.xy):
            return None
        pts = self.screen_points()
        d2 = ((pts - np.array([pos.x(), pos.y()], np.float32)) ** 2).sum(axis=1)
        i = int(np.argmin(d2))
        return i if d2[i] <= _PICK_PIXELS ** 2 else None

    def points_in(self, rect: QRect) -> np.ndarray:
        """Indexes of points inside a widget rectangle."""
        pts = self.screen_points()
        r = QRectF(rect).normalized()
        mask = ((pts[:, 0] >= r.left()) & (pts[:, 0] <= r.right())
                & (pts[:, 1] >= r.top()) & (pts[:, 1] <= r.bottom()))
        return np.nonzero(mask)[0]

    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    # --- painting ---------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().base())
        if not len(self.xy):
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing, len(self.xy) <= 20_000)
        size = self._point_size()
        pts = self.screen_points()
        for colour, poly in self._polygons(pts):
            pen = QPen(colour, size)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            p.setPen(pen)
            p.drawPoints(poly)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if len(self.selected):
            p.setPen(QPen(self.palette().highlight().color(), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            for x, y in pts[self.selected[:5000]]:
                p.drawEllipse(QPointF(float(x), float(y)), size + 2, size + 2)
        if self.hover is not None and self.hover < len(pts):
            x, y = pts[self.hover]
            p.setPen(QPen(self.palette().text().color(), 2))
            p.drawEllipse(QPointF(float(x), float(y)), size + 4, size + 4)
        self._paint_legend(p)

    def _point_size(self) -> float:
        n = len(self.xy)
        return 7.0 if n < 500 else 5.0 if n < 5_000 else 4.0 if n < 20_000 else 3.0

    def _polygons(self, pts: np.ndarray) -> list[tuple[QColor, QPolygonF]]:
        """Per-colour point lists in widget pixels, rebuilt only when the view changes."""
        key = (self._zoom, self._pan.x(), self._pan.y(), self.width(), self.height(), id(self.xy), len(self._groups),
               id(self._groups))
        if key != self._poly_key:
            self._polys = [(colour, QPolygonF([QPointF(x, y) for x, y in pts[idx].tolist()]))
                           for colour, idx in self._groups]
            self._poly_key = key
        return self._polys

    def _paint_legend(self, p: QPainter) -> None:
        if not self.legend:
            return
        p.setFont(self.font())
        fm = self.fontMetrics()
        row_h = fm.height() + 2
        box = self.legend_rect()
        width = box.width()
        bg = QColor(self.palette().window().color())
        bg.setAlpha(215)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(bg)
        p.drawRoundedRect(box, 6, 6)
        for row, (label, colour, n) in enumerate(self.legend):
            y = box.top() + 4 + row * row_h
            p.setBrush(colour)
            p.drawEllipse(QPointF(box.left() + 10, y + row_h / 2), 4, 4)
            p.setPen(self.palette().text().color())
            text = fm.elidedText(f"{label} ({n})", Qt.TextElideMode.ElideRight, int(width - 26))
            p.drawText(QRectF(box.left() + 20, y, width - 24, row_h), Qt.AlignmentFlag.AlignVCenter, text)
            p.setPen(Qt.PenStyle.NoPen)

    # --- mouse ------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._press = event.position().toPoint()
        self._panning = event.button() in (Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton)
        if event.button() == Qt.MouseButton.LeftButton:
            self._band.setGeometry(QRect(self._press, QSize()))
            self._band.show()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._press is not None and self._panning:
            delta = pos.toPoint() - self._press
            self._pan += QPointF(delta)
            self._press = pos.toPoint()
            self.update()
            return
        if self._press is not None and self._band.isVisible():
            self._band.setGeometry(QRect(self._press, pos.toPoint()).normalized())
            return
        hit = self.point_at(pos)
        if hit != self.hover:
            self.hover = hit
            self.update()
            track = self.tracks[hit] if hit is not None else None
            self.hovered.emit(track)
            if track is not None:
                extra = " · ".join(x for x in (track.album, track.genre) if x)
                QToolTip.showText(event.globalPosition().toPoint(),
                                  track.display + (f"\n{extra}" if extra else ""), self)
            else:
                QToolTip.hideText()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._press is None:
            return
        start, self._press = self._press, None
        if self._panning:
            self._panning = False
            return
        self._band.hide()
        end = event.position().toPoint()
        if (end - start).manhattanLength() > 4:
            chosen = self.points_in(QRect(start, end))
        else:
            hit = self.point_at(event.position())
            chosen = np.array([hit] if hit is not None else [], np.int64)
        if event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
            chosen = np.union1d(self.selected, chosen)
        self._set_selected(chosen)
        self.update()
        self.selection_changed.emit(self.selected_ids())

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        hit = self.point_at(event.position())
        if hit is not None and self.tracks[hit] is not None:
            self.activated.emit(self.tracks[hit])

    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = 1.25 ** (event.angleDelta().y() / 120)
        new_zoom = min(max(self._zoom * factor, 0.5), 200.0)
        factor = new_zoom / self._zoom
        centre = QPointF((self.width() - self._legend_room()) / 2, self.height() / 2) + self._pan
        self._pan += (event.position() - centre) * (1 - factor)
        self._zoom = new_zoom
        self.update()

    def reset_view(self) -> None:
        self._zoom, self._pan = 1.0, QPointF(0, 0)
        self.update()
