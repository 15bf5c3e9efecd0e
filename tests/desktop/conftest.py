"""Fixtures for the desktop tests: offscreen Qt, isolated settings, real audio, a real Library."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
_HOME = Path(tempfile.mkdtemp(prefix="cbrec-desktop-tests-"))
for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
    os.environ[var] = str(_HOME / var.lower())

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from desktop.qt_compat import guard_singletons  # noqa: E402
from tests.audio_factory import write_audio  # noqa: E402

guard_singletons()  # PySide6 6.12 on Python 3.11 leaks None/True references (see desktop.qt_compat)

QCoreApplication.setOrganizationName("cbrec-tests")
QCoreApplication.setApplicationName("cbrec-tests")

# (relative path, kind, seed, artist, title, album): three timbres, a few formats
SONGS = [
    ("ann/morning.mp3", "chord", 1, "Ann", "Morning", "Days"),
    ("ann/noon.flac", "chord", 2, "Ann", "Noon", "Days"),
    ("ann/dusk.ogg", "chord", 3, "Ann", "Dusk", "Days"),
    ("bob/evening.ogg", "chord", 4, "Bob", "Evening", "Nights"),
    ("bob/night.m4a", "chord", 5, "Bob", "Night", "Nights"),
    ("cid/static.opus", "noise", 6, "Cid", "Static", "Weather"),
    ("cid/hiss.wav", "noise", 7, "Cid", "Hiss", "Weather"),
    ("dee/rain.flac", "noise", 8, "Dee", "Rain", "Weather"),
    ("eve/kick.mp3", "drums", 9, "Eve", "Kick", "Kit"),
    ("eve/snare.flac", "drums", 10, "Eve", "Snare", "Kit"),
    ("fay/toms.mp3", "drums", 11, "Fay", "Toms", "Kit"),
    ("fay/hats.ogg", "drums", 12, "Fay", "Hats", "Kit"),
]
BROKEN = "broken/not-audio.mp3"


def make_music(root: Path, songs=SONGS, seconds: float = 4.0, broken: bool = True) -> Path:
    """Write real encoded audio (and one file that is not audio) under ``root``."""
    for rel, kind, seed, artist, title, album in songs:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, seconds=seconds, kind=kind, seed=seed,
                    tags={"artist": artist, "title": title, "album": album, "genre": kind})
    if broken:
        (root / BROKEN).parent.mkdir(parents=True, exist_ok=True)
        (root / BROKEN).write_bytes(b"this is not an mp3 file" * 20)
    return root


@pytest.fixture(scope="session")
def test_model(tmp_path_factory) -> Path:
    from tests.model_factory import make_test_model

    return make_test_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def music_template(tmp_path_factory) -> Path:
    return make_music(tmp_path_factory.mktemp("music-template"))


@pytest.fixture
def music(music_template, tmp_path) -> Path:
    """A private copy of the music folder that a test may change."""
    dest = tmp_path / "music"
    shutil.copytree(music_template, dest)
    return dest


@pytest.fixture(scope="session")
def scanned_template(tmp_path_factory, music_template, test_model) -> tuple[Path, Path]:
    """(library dir, music dir): the template music scanned once through the core API."""
    from core import Library

    root = tmp_path_factory.mktemp("scanned")
    music = root / "music"
    shutil.copytree(music_template, music)
    lib = Library.open(root / "lib", model=test_model, device="cpu", workers=2)
    report = lib.scan([music])
    assert len(report.added) == len(SONGS), report.summary()
    lib.close()
    return root / "lib", music


@pytest.fixture
def settings(tmp_path, test_model):
    from desktop.settings import AppSettings

    return AppSettings(model=str(test_model), device="cpu", workers=1, library_dir=str(tmp_path / "lib"))


@pytest.fixture
def scanned_settings(tmp_path, test_model, scanned_template):
    """Settings of a private copy of the scanned library (its music folder is shared, read-only)."""
    from desktop.settings import AppSettings

    lib_dir, _ = scanned_template
    dest = tmp_path / "lib"
    shutil.copytree(lib_dir, dest)
    return AppSettings(model=str(test_model), device="cpu", workers=1, library_dir=str(dest))


class Dialogs:
    """Records message boxes instead of blocking on them."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str]] = []
        self.answer = QMessageBox.StandardButton.Yes

    def texts(self) -> str:
        return "\n".join(f"{t}: {m}" for t, m in self.shown)


@pytest.fixture(autouse=True)
def dialogs(monkeypatch) -> Dialogs:
    """No modal dialog ever blocks a test; each one shown is recorded in ``dialogs.shown``."""
    rec = Dialogs()

    def static(kind):
        def show(parent, title, text, *a, **k):
            rec.shown.append((title, text))
            return rec.answer if kind == "question" else QMessageBox.StandardButton.Ok
        return show

    for kind in ("warning", "information", "question", "critical"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(static(kind)))

    def exec_(box):
        rec.shown.append((box.windowTitle(), box.text()))
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return rec


@pytest.fixture
def make_window(qtbot, monkeypatch):
    """Build a MainWindow, show it, open its library; closes it after the test."""
    from desktop.main_window import MainWindow

    windows = []

    def make(settings, open_library: bool = True, **kwargs):
        monkeypatch.setattr("desktop.settings.AppSettings.save", lambda self, qs=None: None)
        win = MainWindow(settings, **kwargs)
        qtbot.addWidget(win)
        win.watcher.timer.setInterval(300)
        win.show()
        qtbot.waitExposed(win)
        windows.append(win)
        if open_library:
            with qtbot.waitSignal(win.library_ready, timeout=30000):
                win.open_library()
        return win

    yield make
    for win in windows:
        win.close()
