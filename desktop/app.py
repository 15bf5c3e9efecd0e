"""``cbrec``: start the desktop app (or install its menu entry).

    cbrec                            # open the main window
    cbrec --library ~/cbrec-lib      # a library folder other than the default
    cbrec --model mine.pt            # a model from `cbrec-train export` for this run
    cbrec --install-desktop-entry    # add cbrec to the desktop menu for this user

The window appears before the library is opened (opening loads torch and the model), so the
first paint happens in well under two seconds.
"""
from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("desktop")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cbrec", description="Find songs in your music library that sound alike.")
    p.add_argument("--library", metavar="DIR", help="library data folder (default: $CBREC_DATA_DIR or the user data folder)")
    p.add_argument("--model", metavar="PT", help="model file (.pt with its .json card) for this run")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="device for the model, for this run")
    p.add_argument("--install-desktop-entry", action="store_true",
                   help="install the menu entry, icon and metainfo for the current user, then exit")
    p.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    p.add_argument("files", nargs="*", metavar="FOLDER", help="music folders to add to the library")
    return p.parse_args(argv)


def log_file() -> Path:
    """Where the app writes its log (next to the QSettings of the user)."""
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".cache" / "cbrec") / "cbrec.log"


def setup_logging(verbose: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    try:
        path = log_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    except OSError:
        pass
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def install_excepthook() -> None:
    """Unexpected errors are logged with their traceback and shown as a plain message.

    One dialog at a time, and the same message at most once a minute: an error in a paint
    handler must not become a storm of dialogs."""
    import time

    state = {"showing": False, "last": ("", 0.0)}

    def hook(kind: type[BaseException], exc: BaseException, tb: object) -> None:
        log.error("unexpected error:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        from PySide6.QtWidgets import QApplication, QMessageBox

        text = str(exc) or kind.__name__
        message, when = state["last"]
        if QApplication.instance() is None or state["showing"] or (text == message and time.monotonic() - when < 60):
            return
        state["showing"], state["last"] = True, (text, time.monotonic())
        try:
            QMessageBox.warning(None, "cbrec: something went wrong",
                                f"{text}\n\nThe details are in the log: {log_file()}")
        finally:
            state["showing"] = False

    sys.excepthook = hook


def create_window(args: argparse.Namespace):
    """Make the QApplication and the main window (shown; the library opens right after)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.qt_compat import guard_singletons
    from desktop.resources import app_icon

    guard_singletons()  # before any Qt call volume: PySide6 6.12 + Python 3.11 would abort
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("cbrec")
    app.setOrganizationName("cbrec")
    app.setApplicationDisplayName("cbrec")
    app.setDesktopFileName("io.github.cbrec")
    app.setWindowIcon(app_icon())
    setup_logging(args.verbose)
    install_excepthook()

    from desktop.main_window import MainWindow
    from desktop.settings import AppSettings

    settings = AppSettings.load()
    overrides = {"library_dir": args.library, "model": args.model, "device": args.device}
    for name, value in overrides.items():
        if value:
            setattr(settings, name, value)
    settings.transient = frozenset(name for name, value in overrides.items() if value)
    window = MainWindow(settings)
    window.show()
    folders = [str(Path(f).resolve()) for f in args.files if Path(f).is_dir()]
    if folders:  # "Open with cbrec" on a folder: add it once the library is open
        def add_folders() -> None:
            window.library_ready.disconnect(add_folders)
            for folder in folders:
                if folder not in window.library.folders():
                    window.add_folder(folder)
        window.library_ready.connect(add_folders)
    QTimer.singleShot(0, window.open_library)
    return app, window


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cbrec`` command."""
    args = parse_args(argv)
    if args.install_desktop_entry:
        from desktop.install import install_desktop_entry

        for path in install_desktop_entry():
            print(f"installed {path}")
        print("cbrec is now in your applications menu.")
        return 0
    app, _window = create_window(args)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
