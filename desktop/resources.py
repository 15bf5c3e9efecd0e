"""Icon lookup: the application icon from the bundled resources, action icons from the theme."""
from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle

log = logging.getLogger(__name__)

APP_ID = "io.github.cbrec"

# theme name -> QStyle fallback, for platforms without an icon theme
_FALLBACK = {
    "folder-new": QStyle.StandardPixmap.SP_FileDialogNewFolder,
    "view-refresh": QStyle.StandardPixmap.SP_BrowserReload,
    "process-stop": QStyle.StandardPixmap.SP_BrowserStop,
    "media-playback-start": QStyle.StandardPixmap.SP_MediaPlay,
    "media-playback-pause": QStyle.StandardPixmap.SP_MediaPause,
    "media-skip-forward": QStyle.StandardPixmap.SP_MediaSkipForward,
    "document-save": QStyle.StandardPixmap.SP_DialogSaveButton,
    "document-save-as": QStyle.StandardPixmap.SP_DialogSaveButton,
    "document-open": QStyle.StandardPixmap.SP_DialogOpenButton,
    "edit-delete": QStyle.StandardPixmap.SP_TrashIcon,
    "list-remove": QStyle.StandardPixmap.SP_DialogDiscardButton,
    "go-up": QStyle.StandardPixmap.SP_ArrowUp,
    "go-down": QStyle.StandardPixmap.SP_ArrowDown,
    "dialog-warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "applications-multimedia": QStyle.StandardPixmap.SP_MediaVolume,
}


def resource_dir() -> Path:
    """The ``resources`` folder: the installed ``cbrec_resources`` package or the source tree's."""
    try:
        import cbrec_resources  # installed wheel maps resources/ to this package

        return Path(cbrec_resources.__file__).parent
    except ImportError:
        return Path(__file__).resolve().parent.parent / "resources"


def app_icon_path() -> Path:
    """Path of the scalable application icon."""
    return resource_dir() / "icons" / "cbrec.svg"


@cache
def app_icon() -> QIcon:
    """The application icon (empty icon if the file is missing, never an error)."""
    path = app_icon_path()
    if not path.exists():
        log.warning("application icon missing: %s", path)
        return QIcon()
    return QIcon(str(path))


def icon(name: str) -> QIcon:
    """A bundled ``cbrec-*`` icon, or a freedesktop theme icon falling back to the style's pixmap."""
    if name.startswith("cbrec-"):
        path = resource_dir() / "icons" / f"{name}.svg"
        return QIcon(str(path)) if path.exists() else QIcon()
    themed = QIcon.fromTheme(name)
    if not themed.isNull():
        return themed
    app = QApplication.instance()
    if name in _FALLBACK and isinstance(app, QApplication):
        return app.style().standardIcon(_FALLBACK[name])
    return QIcon()
