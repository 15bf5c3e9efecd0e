"""Long work off the UI thread: a generic background task, and the scan worker.

Results come back to the UI thread through queued signals; a worker never touches a widget.
"""
from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, Slot

from core import CancelToken, CbrecError, Progress, ScanReport

log = logging.getLogger(__name__)


def user_message(exc: BaseException) -> str:
    """A message fit to show a person: cbrec errors verbatim, others with their type named."""
    if isinstance(exc, CbrecError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    from desktop.app import log_file

    text = str(exc) or exc.__class__.__name__
    return f"Unexpected error: {text}. The details are in the log: {log_file()}"


class _TaskSignals(QObject):
    done = Signal(object)
    failed = Signal(str, object)


class Task(QRunnable):
    """Runs ``fn(*args)`` on a pool thread; emits ``done(result)`` or ``failed(message, exc)``."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python keeps the reference (see TaskRunner)
        self.fn, self.args = fn, args
        self.signals = _TaskSignals()

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except Exception as exc:  # every failure becomes a message, never a crash
            if not isinstance(exc, CbrecError):
                log.error("background task %s failed:\n%s", getattr(self.fn, "__name__", self.fn),
                          traceback.format_exc())
            self.signals.failed.emit(user_message(exc), exc)
        else:
            self.signals.done.emit(result)


class TaskRunner(QObject):
    """Starts :class:`Task`s on a private pool and keeps them alive until they report."""

    def __init__(self, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._live: set[Task] = set()

    def start(self, fn: Callable[..., Any], *args: Any,
              on_done: Callable[[Any], None] | None = None,
              on_error: Callable[[str, BaseException], None] | None = None) -> Task:
        """Run ``fn(*args)`` in the background; callbacks run on the UI thread."""
        task = Task(fn, *args)
        self._live.add(task)

        def finish_ok(result: Any) -> None:
            self._live.discard(task)
            if on_done:
                on_done(result)

        def finish_err(message: str, exc: BaseException) -> None:
            self._live.discard(task)
            if on_error:
                on_error(message, exc)

        task.signals.done.connect(finish_ok)
        task.signals.failed.connect(finish_err)
        self.pool.start(task)
        return task

    def busy(self) -> bool:
        return bool(self._live)

    def wait(self, msecs: int = 30000) -> bool:
        """Block until every task finished (used on quit)."""
        return self.pool.waitForDone(msecs)


class ScanWorker(QObject):
    """Runs ``lib.scan`` in its own QThread and reports progress, new tracks and the result."""

    progress = Signal(object)   # Progress
    tracks = Signal(object)     # list[Track], after each committed batch
    finished = Signal(object)   # ScanReport
    failed = Signal(str)

    def __init__(self, library: Any, folders: Sequence[str], exclusions: Sequence[str] = ()) -> None:
        super().__init__()
        self.library = library
        self.folders = list(folders)
        self.exclusions = list(exclusions)
        self.token = CancelToken()

    def cancel(self) -> None:
        """Ask the scan to stop at the next file; what is done is kept."""
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    @Slot()
    def run(self) -> None:
        kwargs: dict[str, Any] = {"progress": self._on_progress, "cancel": self.token,
                                  "on_tracks": self._on_tracks}
        if self.exclusions and _accepts(self.library.scan, "exclude"):
            kwargs["exclude"] = self.exclusions
        try:
            report = self.library.scan(self.folders, **kwargs)
        except Exception as exc:
            if not isinstance(exc, CbrecError):
                log.error("scan failed:\n%s", traceback.format_exc())
            self.failed.emit(user_message(exc))
            return
        self.finished.emit(report if report is not None else ScanReport(cancelled=self.cancelled))

    def _on_progress(self, progress: Progress) -> None:
        self.progress.emit(progress)

    def _on_tracks(self, tracks: list) -> None:
        self.tracks.emit(list(tracks))


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class ScanController(QObject):
    """Owns one scan at a time: its thread, its worker, queued follow-up folders."""

    progress = Signal(object)
    tracks = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: ScanWorker | None = None
        self._queued: list[str] = []
        self._queued_args: tuple[Any, list[str]] | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, library: Any, folders: Sequence[str], exclusions: Sequence[str] = ()) -> bool:
        """Start scanning ``folders``; if a scan runs, queue them for right after. True if started."""
        if self.running:
            for f in folders:
                if f not in self._queued:
                    self._queued.append(f)
            self._queued_args = (library, list(exclusions))
            return False
        worker = ScanWorker(library, folders, exclusions)
        thread = QThread()
        thread.setObjectName("cbrec-scan")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self.progress)
        worker.tracks.connect(self.tracks)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self._thread, self._worker = thread, worker
        thread.start()
        self.running_changed.emit(True)
        return True

    def cancel(self) -> None:
        """Cancel the running scan and drop queued ones."""
        self._queued.clear()
        if self._worker is not None:
            self._worker.cancel()

    def wait(self, msecs: int = 10000) -> bool:
        """Block until the scan thread ended (after :meth:`cancel`, on quit)."""
        return self._thread.wait(msecs) if self._thread is not None else True

    def _teardown(self) -> None:
        thread = self._thread
        self._thread, self._worker = None, None
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()
        self.running_changed.emit(False)

    def _on_finished(self, report: ScanReport) -> None:
        self._teardown()
        self.finished.emit(report)
        self._start_queued()

    def _on_failed(self, message: str) -> None:
        self._teardown()
        self.failed.emit(message)
        self._start_queued()

    def _start_queued(self) -> None:
        if self._queued and self._queued_args is not None:
            folders, self._queued = self._queued, []
            library, exclusions = self._queued_args
            self.start(library, folders, exclusions)
