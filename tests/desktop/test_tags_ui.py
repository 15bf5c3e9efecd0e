"""Automatic tags in the app: Tags column, tag filter and map colouring, with a tagged model (and without)."""
from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt

from desktop.map_view import TAG_FIELD
from desktop.models import TAGS_COLUMN
from desktop.settings import AppSettings
from tests.desktop.conftest import SONGS

TAGS = ["rock", "jazz", "ambient", "electronic", "folk", "metal", "piano", "beautiful"]


@pytest.fixture(scope="module")
def tagged_model(tmp_path_factory):
    from tests.model_factory import make_test_model

    return make_test_model(tmp_path_factory.mktemp("tagged"), name="test-tagged", tags=TAGS)


@pytest.fixture(scope="module")
def tagged_template(tmp_path_factory, music_template, tagged_model):
    """A library of the test songs analysed by the tagged model (scanned once)."""
    from core import Library

    root = tmp_path_factory.mktemp("tagged-lib")
    shutil.copytree(music_template, root / "music")
    with Library.open(root / "lib", model=tagged_model, device="cpu", workers=2) as lib:
        assert len(lib.scan([root / "music"]).added) == len(SONGS)
    return root / "lib"


@pytest.fixture
def tagged_settings(tmp_path, tagged_model, tagged_template):
    shutil.copytree(tagged_template, tmp_path / "lib")
    return AppSettings(model=str(tagged_model), device="cpu", workers=1, library_dir=str(tmp_path / "lib"))


def _open(make_window, settings, qtbot):
    win = make_window(settings, open_library=False)
    with qtbot.waitSignal(win.tags.loaded, timeout=30000):
        with qtbot.waitSignal(win.library_ready, timeout=30000):
            win.open_library()
    return win


def _shown_tags(model, row):
    text = model.index(row, TAGS_COLUMN).data()
    return [t for t in text.split(", ") if t]


def test_tags_column_and_filter_show_the_libraries_tags(make_window, tagged_settings, qtbot):
    win = _open(make_window, tagged_settings, qtbot)
    model, table, lib = win.library_view.model, win.library_view.table, win.library
    assert model.headerData(TAGS_COLUMN, Qt.Orientation.Horizontal) == "Tags"
    assert not table.isColumnHidden(TAGS_COLUMN)
    assert model.rowCount() == len(SONGS)
    for row in range(model.rowCount()):
        track = model.track_at(row)
        expected = lib.tags(track, n=3)
        assert _shown_tags(model, row) == [name for name, _ in expected]          # what the store says
        tip = model.index(row, TAGS_COLUMN).data(Qt.ItemDataRole.ToolTipRole)
        assert tip.splitlines()[0] == f"{expected[0][0]}: {expected[0][1]:.2f}"

    # the filter lists the shown tags, most frequent first, and keeps exactly the tracks showing one
    combo = win.tags.filter_combo
    assert win.tags.filter_action.isVisible() and combo.itemText(0) == "All tags"
    counts = [(combo.itemData(i), int(combo.itemText(i).rsplit("(", 1)[1][:-1])) for i in range(1, combo.count())]
    assert counts and [n for _, n in counts] == sorted((n for _, n in counts), reverse=True)
    assert sum(n for _, n in counts) == 3 * len(SONGS)
    for tag, n in counts:
        combo.setCurrentIndex(combo.findData(tag))
        assert model.rowCount() == n
        assert all(tag in _shown_tags(model, r) for r in range(model.rowCount()))
    # filter and search combine; "All tags" shows everything again
    tag, n = counts[0]
    win.tags.choose_tag(tag)
    win.library_view.set_search("ann")
    assert all(tag in _shown_tags(model, r) and model.track_at(r).artist == "Ann" for r in range(model.rowCount()))
    win.library_view.set_search("")
    assert model.rowCount() == n
    win.tags.choose_tag(None)
    assert model.rowCount() == len(SONGS)

    # sorting by the Tags column groups tracks by their best tag
    model.sort(TAGS_COLUMN, Qt.SortOrder.AscendingOrder)
    firsts = [_shown_tags(model, r)[0] for r in range(model.rowCount())]
    assert firsts == sorted(firsts, key=str.casefold)


def test_map_colours_points_by_top_tag(make_window, tagged_settings, qtbot):
    win = _open(make_window, tagged_settings, qtbot)
    panel, canvas = win.map_panel, win.map_panel.canvas
    with qtbot.waitSignal(panel.layout_ready, timeout=20000, check_params_cb=lambda m: m == "neighbors"):
        win.tabs.setCurrentWidget(panel)
    index = panel.color_combo.findData(TAG_FIELD)
    assert index >= 0 and panel.color_combo.itemText(index) == "Colour by top tag"
    panel.color_combo.setCurrentIndex(index)
    best = {t.id: win.library.tags(t, n=1)[0][0] for t in win.library.tracks()}
    legend = {label: n for label, _, n in canvas.legend}
    expected: dict[str, int] = {}
    for tag in best.values():
        expected[tag] = expected.get(tag, 0) + 1
    assert legend == expected                       # every group is a top tag, with its track count
    assert len({colour.name() for _, colour, _ in canvas.legend}) == len(legend)
    qtbot.waitExposed(canvas)
    image = canvas.grab().toImage()
    painted = {image.pixelColor(x, y).name() for x in range(0, image.width(), 2) for y in range(0, image.height(), 2)}
    assert {colour.name() for _, colour, _ in canvas.legend} <= painted


def test_a_scan_brings_tags_to_a_new_library(make_window, tmp_path, tagged_model, music, qtbot):
    settings = AppSettings(model=str(tagged_model), device="cpu", workers=1, library_dir=str(tmp_path / "new"))
    win = make_window(settings)
    assert win.library_view.table.isColumnHidden(TAGS_COLUMN)        # nothing analysed yet
    with qtbot.waitSignal(win.tags.loaded, timeout=60000, check_params_cb=lambda n: n == len(SONGS)):
        win.add_folder(str(music))
    assert not win.library_view.table.isColumnHidden(TAGS_COLUMN)
    assert all(len(_shown_tags(win.library_view.model, r)) == 3 for r in range(win.library_view.model.rowCount()))


def test_an_untagged_model_hides_tags(make_window, scanned_settings, qtbot):
    win = _open(make_window, scanned_settings, qtbot)
    assert win.library_view.table.isColumnHidden(TAGS_COLUMN)
    assert not win.tags.filter_action.isVisible()
    assert win.map_panel.color_combo.findData(TAG_FIELD) < 0
    assert all(_shown_tags(win.library_view.model, r) == [] for r in range(win.library_view.model.rowCount()))
