"""The map tab: computes the 2-D layout off the UI thread and shows it on a :class:`MapCanvas`.

The PCA layout appears at once; the neighbourhood layout replaces it when ready (a few
seconds for 10,000 tracks). A newer request supersedes an older one still running.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core import Track
from desktop.map_layout import neighbor_layout, pca_layout
from desktop.map_view import COLOR_FIELDS, MapCanvas
from desktop.resources import icon
from desktop.workers import TaskRunner

log = logging.getLogger(__name__)


class MapPanel(QWidget):
    """Colour chooser, status line, "Make playlist from selection", and the canvas."""

    make_playlist = Signal(list)     # selected track ids
    layout_ready = Signal(str)       # "pca" or "neighbors"

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.canvas = MapCanvas(self)
        self.color_combo = QComboBox()
        for f in COLOR_FIELDS:
            self.color_combo.addItem(f"Colour by {f}", f)
        self.status = QLabel("")
        self.playlist_button = QPushButton(icon("cbrec-playlist"), "Make playlist from selection")
        self.playlist_button.setEnabled(False)
        self.playlist_button.setToolTip("Drag a rectangle on the map to select tracks, then make a playlist")
        self.reset_button = QPushButton("Reset view")
        bar = QHBoxLayout()
        bar.addWidget(self.color_combo)
        bar.addWidget(self.status, 1)
        bar.addWidget(self.reset_button)
        bar.addWidget(self.playlist_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)
        hint = QLabel("Drag to select · right-drag to pan · wheel to zoom · double-click to play")
        hint.setEnabled(False)
        layout.addWidget(hint)

        self.color_combo.currentIndexChanged.connect(
            lambda: self.canvas.set_color_field(self.color_combo.currentData()))
        self.canvas.marked.connect(self._selection_changed)
        self.playlist_button.clicked.connect(lambda: self.make_playlist.emit(self.canvas.selected_ids()))
        self.reset_button.clicked.connect(self.canvas.reset_view)
        self.library: Any = None
        self.snapshot: Callable[[], dict[int, Track]] | None = None  # tracks by id, taken on the UI thread
        self.stale = True
        self.method = ""
        self._generation = 0
        self._cancel: threading.Event | None = None

    def set_library(self, library: Any) -> None:
        """A (re)opened library: its layout is computed again, and nothing stays selected."""
        self.library = library
        self.stale = True
        self.canvas.select_ids([])

    def refresh(self) -> None:
        """Recompute the layout from the library's vectors (in the background)."""
        if self.library is None:
            return
        self.stale = False
        self._generation += 1
        generation = self._generation
        if self._cancel is not None:
            self._cancel.set()
        cancel = threading.Event()
        self._cancel = cancel
        self.status.setText("Computing the map…")
        tracks = self.snapshot() if self.snapshot is not None else None
        self.runner.start(_load_and_pca, self.library, tracks,
                          on_done=lambda r: self._on_pca(generation, cancel, r),
                          on_error=lambda msg, exc: self._on_error(generation, msg))

    def _on_pca(self, generation: int, cancel: threading.Event, result: tuple) -> None:
        if generation != self._generation:
            return
        ids, vectors, tracks, xy, seconds = result
        if not len(ids):
            self.canvas.set_points(ids, xy, [])
            self.canvas.set_placeholder("The map appears once tracks are analysed.")
            self.status.setText("No analysed tracks yet")
            return
        self.canvas.set_points(ids, xy, tracks)
        self.method = "pca"
        self.status.setText(f"{len(ids):,} tracks · PCA layout, refining…")
        self.layout_ready.emit("pca")
        self.runner.start(_neighbors, vectors, cancel,
                          on_done=lambda r: self._on_neighbors(generation, ids, tracks, r),
                          on_error=lambda msg, exc: self._on_error(generation, msg))

    def _on_neighbors(self, generation: int, ids: np.ndarray, tracks: list, result: tuple | None) -> None:
        if generation != self._generation or result is None:
            return
        xy, seconds = result
        self.canvas.set_points(ids, xy, tracks)
        self.method = "neighbors"
        self.status.setText(f"{len(ids):,} tracks · neighbourhood layout ({seconds:.1f} s)")
        self.layout_ready.emit("neighbors")

    def _on_error(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self.status.setText(f"The map could not be computed: {message}")

    def _selection_changed(self, count: int) -> None:
        """The button tells how many tracks are selected on the map now (never a stale count)."""
        self.playlist_button.setEnabled(count > 0)
        self.playlist_button.setText(f"Make playlist from {count} selected" if count
                                     else "Make playlist from selection")

    def stop(self) -> None:
        """Ask a running layout to stop (on quit)."""
        if self._cancel is not None:
            self._cancel.set()


def _load_and_pca(library: Any, by_id: dict[int, Track] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list[Track | None], np.ndarray, float]:
    """Worker: read ids + vectors (and the tracks unless given), and make the PCA layout."""
    start = time.monotonic()
    ids, vectors = library.vectors()
    if by_id is None:
        by_id = {t.id: t for t in library.tracks()}
    tracks = [by_id.get(int(i)) for i in ids]
    return ids, vectors, tracks, pca_layout(vectors), time.monotonic() - start


def _neighbors(vectors: np.ndarray, cancel: threading.Event) -> tuple[np.ndarray, float] | None:
    start = time.monotonic()
    xy = neighbor_layout(vectors, cancelled=cancel.is_set)
    return None if xy is None else (xy, time.monotonic() - start)
