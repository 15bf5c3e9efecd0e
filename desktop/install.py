"""Install the freedesktop menu entry, icon and AppStream metainfo for the current user.

    cbrec --install-desktop-entry      # or: python -m desktop --install-desktop-entry

Writes under ``$XDG_DATA_HOME`` (default ``~/.local/share``): ``applications/io.github.cbrec.desktop``,
``icons/hicolor/scalable/apps/io.github.cbrec.svg`` and ``metainfo/io.github.cbrec.metainfo.xml``.
When ``cbrec`` is not on ``PATH`` (e.g. installed in a virtualenv), ``Exec=`` gets its full path.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from desktop.resources import APP_ID, app_icon_path, resource_dir

log = logging.getLogger(__name__)


def packaging_dir() -> Path:
    """The ``packaging`` folder of the source tree (desktop file + metainfo templates)."""
    return resource_dir().parent / "packaging"


def desktop_entry_text() -> str:
    """The bundled desktop entry, or a built-in copy when installed without the source tree."""
    path = packaging_dir() / f"{APP_ID}.desktop"
    if path.exists():
        return path.read_text(encoding="utf-8")
    return ("[Desktop Entry]\nType=Application\nName=cbrec\nGenericName=Music Recommender\n"
            "Comment=Find songs in your music library that sound alike\nExec=cbrec %F\n"
            f"Icon={APP_ID}\nTerminal=false\nCategories=AudioVideo;Audio;Player;\n"
            f"StartupWMClass=cbrec\n")


def resolve_exec() -> str:
    """The command for ``Exec=``: ``cbrec`` if on PATH, else the full path of this launcher."""
    found = shutil.which("cbrec")
    if found:
        return "cbrec" if os.path.dirname(found) in os.environ.get("PATH", "").split(os.pathsep) else found
    beside = Path(sys.executable).parent / "cbrec"
    if beside.exists():
        return str(beside)
    return f"{sys.executable} -m desktop"


def install_desktop_entry(data_home: str | Path | None = None) -> list[Path]:
    """Install the entry, icon and metainfo; returns the files written."""
    base = Path(data_home or os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    exec_cmd = resolve_exec()
    lines = []
    for line in desktop_entry_text().splitlines():
        if line.startswith("Exec="):
            args = line.split(None, 1)[1] if " " in line else ""
            line = f"Exec={exec_cmd} {args}".rstrip()
        elif line.startswith("TryExec="):
            line = f"TryExec={exec_cmd.split()[0]}"  # the menu hides entries whose TryExec is not found
        lines.append(line)
    written = []
    entry = base / "applications" / f"{APP_ID}.desktop"
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written.append(entry)
    icon_src = app_icon_path()
    if icon_src.exists():
        icon_dst = base / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
        icon_dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(icon_src, icon_dst)
        written.append(icon_dst)
    meta_src = packaging_dir() / f"{APP_ID}.metainfo.xml"
    if meta_src.exists():
        meta_dst = base / "metainfo" / meta_src.name
        meta_dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(meta_src, meta_dst)
        written.append(meta_dst)
    for tool, arg in (("update-desktop-database", entry.parent), ("gtk-update-icon-cache", base / "icons" / "hicolor")):
        if shutil.which(tool):
            subprocess.run([tool, "-q", str(arg)] if tool == "gtk-update-icon-cache" else [tool, str(arg)],
                           check=False, capture_output=True)
    return written
