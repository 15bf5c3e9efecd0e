"""Scan progress in the status bar (files done / total, rate, ETA, cancel) and the failures list."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import Progress
from desktop.resources import icon

_PHASES = {"scan": "Looking for files", "walk": "Looking for files", "analyse": "Analysing",
           "analyze": "Analysing", "analysing": "Analysing", "index": "Updating the index"}


def format_eta(seconds: float | None) -> str:
    """``about 2 min left`` style text; empty when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def progress_text(p: Progress) -> str:
    """One line for a progress report: phase, done / total files, rate, ETA."""
    phase = _PHASES.get(p.phase, p.phase.capitalize() if p.phase else "Scanning")
    parts = [f"{phase}: {p.done:,} / {p.total:,} files"]
    if p.rate > 0:
        parts.append(f"{p.rate:.1f} files/s")
    eta = format_eta(p.eta)
    if eta and p.done < p.total:
        parts.append(eta)
    return " · ".join(parts)


class ScanStatus(QWidget):
    """Status-bar widget: a label, a progress bar, Cancel, and a link to the failed files."""

    cancel_requested = Signal()
    show_failures = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton(icon("process-stop"), "Cancel")
        self.cancel_button.setToolTip("Stop scanning; tracks analysed so far are kept")
        self.failures_button = QPushButton(icon("dialog-warning"), "")
        self.failures_button.setFlat(True)
        self.failures_button.setToolTip("Show the files that could not be analysed, with the reasons")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        layout.addWidget(self.failures_button)
        self.cancel_button.clicked.connect(self._cancel)
        self.failures_button.clicked.connect(self.show_failures)
        self.set_running(False)
        self.set_failures(0)

    def set_running(self, running: bool) -> None:
        self.bar.setVisible(running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.label.setVisible(running or bool(self.label.text()))
        if running:
            self.label.setText("Starting scan…")
            self.bar.setRange(0, 0)  # busy until the first report

    def set_progress(self, p: Progress) -> None:
        self.label.setText(progress_text(p))
        if p.total > 0:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
            self.bar.setFormat(f"{p.done:,} / {p.total:,}")
        self.label.setToolTip(p.current or "")

    def set_message(self, text: str) -> None:
        self.label.setText(text)
        self.label.setVisible(bool(text))

    def set_failures(self, count: int) -> None:
        self.failures_button.setVisible(count > 0)
        self.failures_button.setText(f"{count} failed")

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.label.setText("Cancelling… (analysed tracks are kept)")
        self.cancel_requested.emit()


class FailuresDialog(QDialog):
    """A table of files that could not be analysed, with the reason for each."""

    def __init__(self, failures: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Files that could not be analysed")
        self.resize(820, 400)
        intro = QLabel(f"{len(failures):,} file(s) could not be analysed. They are retried when they change.")
        self.table = QTableWidget(len(failures), 2)
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        for row, (path, reason) in enumerate(failures):
            for col, text in enumerate((path, reason)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, col, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(0, 380)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
