"""Watches the music folders and asks for an incremental scan after changes settle (debounced).

QFileSystemWatcher is not recursive, so every sub-folder is watched (the tree is listed on a
worker thread). Folder events cover new, deleted, renamed and moved files and most tag editors
(which write a new file and rename it); audio files themselves are watched too, up to a cap,
so in-place edits are seen. The scan that follows skips unchanged files by size + mtime.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

log = logging.getLogger(__name__)

MAX_DIRS = 20_000
MAX_FILES = 20_000


def list_tree(roots: Sequence[str], excluded: Callable[[str], bool] = lambda p: False,
              max_dirs: int = MAX_DIRS, max_files: int = MAX_FILES) -> tuple[list[str], list[str]]:
    """(folders, audio files) under ``roots``, capped; runs on a worker thread."""
    try:
        from core.scan import AUDIO_EXTENSIONS
    except ImportError:  # pragma: no cover - older core
        AUDIO_EXTENSIONS = {".mp3", ".flac", ".ogg", ".opus", ".m4a", ".wav", ".aiff", ".wma"}
    dirs: list[str] = []
    files: list[str] = []
    for root in roots:
        for folder, subdirs, names in os.walk(root):
            if excluded(folder):
                subdirs[:] = []
                continue
            dirs.append(folder)
            if len(files) < max_files:
                files.extend(os.path.join(folder, n) for n in names
                             if os.path.splitext(n)[1].lower() in AUDIO_EXTENSIONS)
            if len(dirs) >= max_dirs:
                log.warning("watching only the first %d folders under %s", max_dirs, root)
                return dirs, files[:max_files]
    return dirs, files[:max_files]


class FolderWatcher(QObject):
    """Emits ``changed(roots)`` ``delay_ms`` after the last file-system event under ``roots``."""

    changed = Signal(list)

    def __init__(self, parent: QObject | None = None, delay_ms: int = 1500) -> None:
        super().__init__(parent)
        self.roots: list[str] = []
        self.watcher = QFileSystemWatcher(self)
        self.timer = QTimer(self, singleShot=True, interval=delay_ms)
        self.pending: set[str] = set()
        self.watcher.directoryChanged.connect(self._on_event)
        self.watcher.fileChanged.connect(self._on_event)
        self.timer.timeout.connect(self._fire)

    def set_roots(self, roots: Sequence[str]) -> None:
        """Watch these folders now (call :meth:`set_tree` with their full listing afterwards).

        Paths already watched under the new roots stay watched, so no event is lost while the
        new listing is made."""
        self.roots = [os.path.abspath(r) for r in roots]
        keep = [p for p in self.watcher.directories() + self.watcher.files() if self._root_of(p)]
        self.set_tree(self.roots + keep, [])

    def set_tree(self, dirs: Sequence[str], files: Sequence[str]) -> None:
        """Make the watched paths exactly ``dirs`` + ``files`` (from :func:`list_tree`)."""
        wanted = {p for p in list(dirs) + list(files) if self._root_of(p)}
        old = set(self.watcher.directories()) | set(self.watcher.files())
        stale = sorted(old - wanted)
        if stale:
            self.watcher.removePaths(stale)
        new = sorted(p for p in wanted - old if os.path.exists(p))
        if new:
            failed = self.watcher.addPaths(new)
            if failed:
                log.info("could not watch %d paths (system limit?)", len(failed))

    def watched_count(self) -> int:
        return len(self.watcher.directories()) + len(self.watcher.files())

    def _root_of(self, path: str) -> str | None:
        for root in self.roots:
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                return root
        return None

    def _on_event(self, path: str) -> None:
        root = self._root_of(os.path.abspath(path))
        if root is None:
            return
        self.pending.add(root)
        self.timer.start()  # restart: fire once things are quiet

    def _fire(self) -> None:
        roots, self.pending = sorted(self.pending), set()
        if roots:
            log.info("changes under %s: incremental scan", ", ".join(roots))
            self.changed.emit(roots)
