"""Issue 10 in the app: a damaged library is named in one sentence and repaired from the error box;
tracks whose folder cannot be read are shown as missing, not dropped."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QMessageBox

from desktop.repair_ui import REPAIR_TEXT
from tests.desktop.conftest import SONGS


def _damage_tracks(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        page = conn.execute("SELECT pageno FROM dbstat WHERE name = 'tracks' ORDER BY pageno").fetchone()[0]
    with open(db, "r+b") as f:
        f.seek((page - 1) * 4096)
        f.write(np.random.default_rng(0).bytes(4096))


def test_damaged_library_is_offered_a_repair_and_opens_again(make_window, scanned_settings, dialogs, qtbot,
                                                            monkeypatch):
    db = Path(scanned_settings.library_dir) / "library.sqlite3"
    _damage_tracks(db)

    def click_repair(box: QMessageBox) -> int:
        dialogs.shown.append((box.windowTitle(), box.text()))
        next(b for b in box.buttons() if b.text() == REPAIR_TEXT).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", click_repair)
    win = make_window(scanned_settings, open_library=False)
    with qtbot.waitSignal(win.library_ready, timeout=180000):  # generous: a loaded 2-core machine
        win.open_library()                                  # fails, offers repair, repairs, opens again
    assert "is damaged" in dialogs.texts() and "Traceback" not in dialogs.texts()
    assert len([p for p in db.parent.glob("library.sqlite3.damaged-*") if not p.name.endswith(("-wal", "-shm"))]) == 1
    qtbot.waitUntil(lambda: win.library_view.model.total() == len(SONGS), timeout=180000)  # its scan re-adds them


def test_tracks_of_a_folder_that_is_away_are_shown_missing(make_window, scanned_settings, scanned_template, qtbot,
                                                           tmp_path):
    from core import Library

    _, shared_music = scanned_template
    music = tmp_path / "music"
    os.symlink(shared_music, music)                        # the library's folder, through a link ...
    win = make_window(scanned_settings, open_library=False)
    lib = Library.open(scanned_settings.library_dir, scanned_settings.model, device="cpu", workers=1)
    lib.remove_folder(str(shared_music))
    lib.scan([music])
    lib.close()
    os.unlink(music)                                       # ... that goes away (a drive unplugged)
    with qtbot.waitSignal(win.library_ready, timeout=60000):
        win.open_library()
    model = win.library_view.model

    def statuses() -> set[str]:
        return {model.index(r, 4).data() for r in range(model.rowCount())}

    qtbot.waitUntil(lambda: statuses() == {"missing"}, timeout=60000)  # after the scan at opening
    assert model.total() == len(SONGS)
