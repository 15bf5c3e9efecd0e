"""The map: layout off the UI thread, points coloured by artist, hover, click, rubber band, playlist."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent

from desktop.map_layout import neighbor_layout, pca_layout
from desktop.playlist_dialog import MakePlaylistDialog
from tests.desktop.conftest import SONGS


def test_map_is_shown_and_seeds_a_playlist(make_window, scanned_settings, qtbot, monkeypatch):
    win = make_window(scanned_settings)
    panel = win.map_panel
    with qtbot.waitSignal(panel.layout_ready, timeout=20000, check_params_cb=lambda m: m == "neighbors"):
        win.tabs.setCurrentWidget(panel)
    canvas = panel.canvas
    assert len(canvas.ids) == len(SONGS)
    assert {label for label, _, _ in canvas.legend} == {s[3] for s in SONGS}
    qtbot.waitExposed(canvas)
    image = canvas.grab().toImage()
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
    assert len(colours) > 5, "points in several colours are painted"

    # colour by album / genre regroups the legend
    panel.color_combo.setCurrentIndex(panel.color_combo.findData("album"))
    assert {label for label, _, _ in canvas.legend} == {s[5] for s in SONGS}

    # hover and click on a point
    pts = canvas.screen_points()
    x, y = (int(round(v)) for v in pts[0])
    qtbot.mouseMove(canvas, QPoint(x, y))
    qtbot.waitUntil(lambda: canvas.hover is not None, timeout=2000)
    with qtbot.waitSignal(canvas.selection_changed) as sel:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    assert len(sel.args[0]) == 1
    clicked = sel.args[0][0]
    assert [t.id for t in win.library_view.selected_tracks()] == [clicked], "the table follows the map"

    # rubber band over the whole canvas selects everything and enables the playlist button
    with qtbot.waitSignal(canvas.selection_changed) as sel:
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(2, 2))
        qtbot.mouseMove(canvas, QPoint(canvas.width() // 2, canvas.height() // 2))
        qtbot.mouseMove(canvas, QPoint(canvas.width() - 2, canvas.height() - 2))
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(canvas.width() - 2, canvas.height() - 2))
    assert sorted(sel.args[0]) == sorted(canvas.ids.tolist())
    assert panel.playlist_button.isEnabled()

    seeds_seen = []

    def exec_(dialog):
        seeds_seen.extend(dialog.seeds)
        dialog.length_spin.setValue(len(SONGS))
        return 1

    monkeypatch.setattr(MakePlaylistDialog, "exec", exec_)
    with qtbot.waitSignal(win.playlist_shown, timeout=20000):
        qtbot.mouseClick(panel.playlist_button, Qt.MouseButton.LeftButton)
    assert len(seeds_seen) == len(SONGS)
    assert win.playlist_panel.model.rowCount() > 0

    # zoom in around the first point: it stays under the cursor
    before = canvas.screen_points()[0].copy()
    wheel = QWheelEvent(QPointF(*before), canvas.mapToGlobal(QPointF(*before)), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    canvas.wheelEvent(wheel)
    assert np.allclose(canvas.screen_points()[0], before, atol=1.0)
    assert canvas.point_at(QPointF(*before)) == 0
    canvas.reset_view()


def test_map_placeholder_for_an_empty_library(make_window, settings, qtbot):
    win = make_window(settings)
    win.tabs.setCurrentWidget(win.map_panel)
    qtbot.waitUntil(lambda: win.map_panel.status.text() == "No analysed tracks yet", timeout=10000)
    assert "appears once tracks are analysed" in win.map_panel.canvas.placeholder
    assert not win.map_panel.canvas.grab().isNull()  # painting an empty canvas works


def test_layouts_keep_neighbours_together():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(6, 32))
    labels = rng.integers(0, 6, 600)
    vectors = centres[labels] + 0.2 * rng.normal(size=(600, 32))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for xy in (pca_layout(vectors), neighbor_layout(vectors.astype(np.float32), epochs=60)):
        assert xy.shape == (600, 2) and np.isfinite(xy).all()
        # nearest 2-D neighbour shares the cluster for most points
        d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        agree = (labels[d.argmin(1)] == labels).mean()
        assert agree > 0.9, agree
    assert pca_layout(np.zeros((0, 8))).shape == (0, 2)
    assert pca_layout(np.ones((2, 8))).shape == (2, 2)
    assert neighbor_layout(np.ones((5, 8), np.float32)).shape == (5, 2)
    assert neighbor_layout(vectors.astype(np.float32), cancelled=lambda: True) is None
