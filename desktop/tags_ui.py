"""Automatic tags in the app: the library table's Tags column, a tag filter, map colouring by tag.

Installed on a main window by one call (:func:`install_tags`). Tags come from a tagged model
(:meth:`core.Library.tags_by_track`), read on a worker when the library opens and after every
scan. With an untagged model the column stays empty and the filter and the map's "Colour by
top tag" are hidden, so nothing offers what the model cannot give.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QSizePolicy, QToolBar

from desktop.map_view import TAG_FIELD
from desktop.models import TAGS_COLUMN

#: Tags shown per track in the table (and that the filter looks at).
SHOWN_TAGS = 3
ALL_TAGS = "All tags"


class TagsUI(QObject):
    """The tag column, filter and map colouring of one main window."""

    loaded = Signal(int)   # tracks with tags, after each refresh

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.filter_combo = QComboBox()
        self.filter_combo.setToolTip("Show only tracks whose tags include this one (tags come from the model)")
        self.filter_combo.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.filter_combo.setMinimumContentsLength(14)
        self.filter_combo.addItem(ALL_TAGS, None)
        self.filter_combo.currentIndexChanged.connect(
            lambda: window.library_view.model.set_tag_filter(self.filter_combo.currentData()))
        self.filter_action = None   # set by install_tags: the combo's place in the toolbar
        window.library_ready.connect(self.refresh)
        window.scan_done.connect(lambda _report: self.refresh())

    def refresh(self) -> None:
        """Reload every track's best tags (on a worker); an untagged model clears them."""
        library = self.window.library
        if library is None:
            return
        if not getattr(library, "tag_names", None):
            self._loaded({})
            return
        self.window.runner.start(library.tags_by_track, SHOWN_TAGS, on_done=self._loaded,
                                 on_error=lambda m, e: self.window.show_message(f"Tags could not be read: {m}"))

    def _loaded(self, tags: dict[int, list[tuple[str, float]]]) -> None:
        model = self.window.library_view.model
        model.set_tags(tags)
        self.window.map_panel.canvas.set_top_tags({tid: t[0][0] for tid, t in tags.items() if t})
        self._fill_filter(model.tag_counts())
        self._offer_map_colouring(bool(tags))
        if self.filter_action is not None:
            self.filter_action.setVisible(bool(tags))
        self.window.library_view.table.setColumnHidden(TAGS_COLUMN, not tags)
        self.loaded.emit(len(tags))

    def _fill_filter(self, counts: list[tuple[str, int]]) -> None:
        """The filter's tags (most frequent first, with counts); the chosen tag stays if still there."""
        chosen = self.filter_combo.currentData()
        combo = self.filter_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(ALL_TAGS, None)
        for name, n in counts:
            combo.addItem(f"{name} ({n})", name)
        index = combo.findData(chosen) if chosen is not None else 0
        combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)
        if index < 0:   # the chosen tag is gone: show everything again
            self.window.library_view.model.set_tag_filter(None)

    def choose_tag(self, tag: str | None) -> None:
        """Filter the table by ``tag`` as if chosen in the combo (None: all tags)."""
        self.filter_combo.setCurrentIndex(max(self.filter_combo.findData(tag) if tag else 0, 0))

    def _offer_map_colouring(self, available: bool) -> None:
        combo = self.window.map_panel.color_combo
        index = combo.findData(TAG_FIELD)
        if available and index < 0:
            combo.addItem("Colour by top tag", TAG_FIELD)
        elif not available and index >= 0:
            if combo.currentIndex() == index:
                combo.setCurrentIndex(0)
            combo.removeItem(index)


def install_tags(window: Any) -> TagsUI:
    """Add the tag filter (toolbar, beside the search box), the Tags column and map colouring."""
    ui = TagsUI(window)
    toolbar = window.findChild(QToolBar, "main-toolbar")
    if toolbar is not None:
        search = next((a for a in toolbar.actions() if toolbar.widgetForAction(a) is window.search), None)
        ui.filter_action = (toolbar.insertWidget(search, ui.filter_combo) if search is not None
                            else toolbar.addWidget(ui.filter_combo))
        ui.filter_action.setVisible(False)
    table = window.library_view.table
    table.setColumnWidth(TAGS_COLUMN, 220)
    table.setColumnHidden(TAGS_COLUMN, True)   # until a tagged model's tags arrive
    return ui
