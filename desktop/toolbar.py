"""The main window's actions, toolbar (with the search box) and menus."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLineEdit, QMainWindow, QSizePolicy, QWidget

from desktop.resources import icon

# name -> (text, icon, shortcut, tooltip)
ACTIONS: dict[str, tuple[str, str, Any, str]] = {
    "add_folder": ("Add folder…", "folder-new", QKeySequence.StandardKey.Open,
                   "Add a music folder to the library and analyse it"),
    "rescan": ("Rescan", "view-refresh", QKeySequence.StandardKey.Refresh,
               "Look for new, changed, moved and deleted files"),
    "playlist": ("Make playlist", "cbrec-playlist", "Ctrl+P", "Make a playlist from the selected tracks"),
    "failures": ("Failed files…", "dialog-warning", None, "Show the files that could not be analysed"),
    "settings": ("Settings…", "cbrec-settings", QKeySequence.StandardKey.Preferences,
                 "Music folders, exclusions, model, device"),
    "quit": ("Quit", "application-exit", QKeySequence.StandardKey.Quit, "Quit cbrec"),
}
TOOLBAR = ("add_folder", "rescan", "playlist", "settings")
LIBRARY_MENU = ("add_folder", "rescan", "failures", "settings", None, "quit")


def build_actions(window: QMainWindow, slots: dict[str, Callable[[], Any]]) -> tuple[dict[str, QAction], QLineEdit]:
    """Create the actions (wired to ``slots``), the toolbar and the menus; returns them and the search box."""
    actions: dict[str, QAction] = {}
    for name, (text, icon_name, shortcut, tip) in ACTIONS.items():
        action = QAction(icon(icon_name), text, window)
        action.triggered.connect(slots[name])
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.setToolTip(tip)
        actions[name] = action

    search = QLineEdit(placeholderText="Search title, artist, album…", clearButtonEnabled=True)
    search.setMaximumWidth(320)
    search.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    bar = window.addToolBar("Main")
    bar.setObjectName("main-toolbar")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for name in TOOLBAR:
        bar.addAction(actions[name])
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    bar.addWidget(spacer)
    bar.addWidget(search)

    menu = window.menuBar().addMenu("&Library")
    for name in LIBRARY_MENU:
        if name is None:
            menu.addSeparator()
        else:
            menu.addAction(actions[name])
    window.menuBar().addMenu("&Playlist").addAction(actions["playlist"])
    return actions, search
