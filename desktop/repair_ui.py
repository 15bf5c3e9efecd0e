"""Repair a damaged library from the app: the salvage ``cbrec-lib repair`` does (issue 10).

When the library cannot be opened because its database is damaged, the error box offers
*Repair library*: :func:`core.repair.repair_store` copies what SQLite can still read (folders,
tracks and their analysis, playlists, listening history) into a fresh database, keeps the
damaged file aside, and the library opens again; its first scan re-adds what was lost.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox

REPAIR_TEXT = "Repair library"


def library_database(window: Any) -> Path:
    """The database file of the library the window's settings name."""
    from core.library import default_library_dir

    folder = window.settings.open_kwargs().get("path")
    return (Path(folder).expanduser() if folder else default_library_dir()) / "library.sqlite3"


def offer_repair(window: Any, box: QMessageBox) -> None:
    """Show ``box`` (the damage message) with a *Repair library* button; repair if it is chosen."""
    box.setInformativeText("cbrec can salvage what the file still holds (folders, analysed tracks, playlists, "
                           "listening history) into a fresh library; the damaged file is kept aside, and the next "
                           "scan re-adds the rest.")
    repair = box.addButton(REPAIR_TEXT, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.exec()
    if box.clickedButton() is repair:
        repair_library(window)


def repair_library(window: Any) -> None:
    """Salvage the damaged database in the background, then open the library again."""
    from core.repair import repair_store

    window.statusBar().showMessage("Repairing the library…")

    def repaired(report: Any) -> None:
        window.show_message(report.summary())
        window.open_library()

    window.runner.start(repair_store, library_database(window), True, on_done=repaired,
                        on_error=window._library_error)
