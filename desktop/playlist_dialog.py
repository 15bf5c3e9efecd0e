"""The "Make playlist" dialog: similar-to-seeds or a path from track A to track B."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core import Track


@dataclass
class PlaylistRequest:
    """What to build: ``mode`` "similar" (from ``seeds``) or "path" (``start`` → ``end``)."""

    mode: str
    seeds: list[Track]
    length: int = 25
    max_per_artist: int | None = None
    start: Track | None = None
    end: Track | None = None

    def build(self, library: object):
        """Run the request against a Library (call off the UI thread)."""
        if self.mode == "path":
            return library.path(self.start, self.end, length=self.length,
                                max_per_artist=self.max_per_artist)
        return library.playlist(self.seeds, length=self.length, max_per_artist=self.max_per_artist)


class MakePlaylistDialog(QDialog):
    """Asks for length, artist limit and mode; :meth:`request` returns the answer."""

    def __init__(self, seeds: Sequence[Track], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Make playlist")
        self.setMinimumWidth(420)
        self.seeds = list(seeds)
        names = ", ".join(t.display for t in self.seeds[:3]) + ("…" if len(self.seeds) > 3 else "")
        intro = QLabel(f"From {len(self.seeds)} seed track(s): {names}")
        intro.setWordWrap(True)

        self.similar_radio = QRadioButton("Tracks similar to the selection")
        self.path_radio = QRadioButton("A path from one track to another")
        group = QButtonGroup(self)
        group.addButton(self.similar_radio)
        group.addButton(self.path_radio)
        self.similar_radio.setChecked(True)
        self.path_radio.setEnabled(len(self.seeds) >= 2)
        if len(self.seeds) < 2:
            self.path_radio.setToolTip("Select two or more tracks to make a path")

        self.start_combo, self.end_combo = QComboBox(), QComboBox()
        for combo in (self.start_combo, self.end_combo):
            for t in self.seeds:
                combo.addItem(t.display, t.id)
        if len(self.seeds) >= 2:
            self.end_combo.setCurrentIndex(len(self.seeds) - 1)

        self.length_spin = QSpinBox(minimum=2, maximum=1000, value=25, suffix=" tracks")
        self.max_artist_spin = QSpinBox(minimum=0, maximum=100, value=2)
        self.max_artist_spin.setSpecialValueText("no limit")
        self.max_artist_spin.setToolTip("At most this many tracks by one artist (0: no limit)")

        form = QFormLayout()
        form.addRow("Length:", self.length_spin)
        form.addRow("At most per artist:", self.max_artist_spin)
        form.addRow("From:", self.start_combo)
        form.addRow("To:", self.end_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Make playlist")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.similar_radio)
        layout.addWidget(self.path_radio)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.path_radio.toggled.connect(self._mode_changed)
        self._mode_changed(False)

    def set_mode(self, mode: str) -> None:
        (self.path_radio if mode == "path" else self.similar_radio).setChecked(True)

    def _mode_changed(self, path: bool) -> None:
        self.start_combo.setEnabled(path)
        self.end_combo.setEnabled(path)
        if path and self.length_spin.value() == 25:
            self.length_spin.setValue(10)
        elif not path and self.length_spin.value() == 10:
            self.length_spin.setValue(25)

    def request(self) -> PlaylistRequest:
        """The choices made, as a request."""
        limit = self.max_artist_spin.value() or None
        if self.path_radio.isChecked():
            by_id = {t.id: t for t in self.seeds}
            return PlaylistRequest("path", self.seeds, self.length_spin.value(), limit,
                                   by_id[self.start_combo.currentData()], by_id[self.end_combo.currentData()])
        return PlaylistRequest("similar", self.seeds, self.length_spin.value(), limit)
