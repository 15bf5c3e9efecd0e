"""Scanning, the ``Library``'s first concern: walk the folders, plan against the store, analyse.

:class:`LibraryScanning` is mixed into :class:`core.library.Library`; it uses the library's
``store``, ``card``, ``settings``, ``analysis_version``, ``dim`` and ``embedder``.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from core import scan as scanning
from core import tagging
from core.analyze import analyse, decode_pool
from core.pool import IsolatedPool
from core.progress import CancelToken, ProgressCallback
from core.types import ScanReport, Track

if TYPE_CHECKING:
    from core.analyze import AnalysisSettings
    from core.model.card import ModelCard
    from core.store import Store

log = logging.getLogger("core.library")


class LibraryScanning:
    """``scan`` and the music folders it remembers; files that failed and why."""

    store: Store
    card: ModelCard
    settings: AnalysisSettings
    analysis_version: str
    dim: int
    embedder: object

    def scan(self, folders: Sequence[str | os.PathLike] | None = None, progress: ProgressCallback | None = None,
             cancel: CancelToken | None = None, on_tracks: Callable[[list[Track]], None] | None = None,
             exclude: Sequence[str] = ()) -> ScanReport:
        """Bring the library up to date with ``folders`` (default: the library's folders).

        New folders are remembered. Unchanged files are skipped, moved files keep their
        analysis, deleted files leave the library, and every file that cannot be analysed is
        listed in ``report.failed`` with a reason; the scan itself does not raise for files."""
        started = time.monotonic()
        roots = [os.path.abspath(os.path.expanduser(os.fspath(f))) for f in (folders or self.folders())]
        exclude = [os.path.expanduser(p) for p in exclude]   # "~/Music/Podcasts" as well as a glob
        known_folders = set(self.store.folders())
        # a new folder means analysis is coming: start the decode workers now, so they import
        # their modules while the folders are walked (a rescan of known folders, usually
        # unchanged, starts them only if the plan has work)
        pool = decode_pool(self.settings) if any(r not in known_folders for r in roots) else None
        if pool is not None:
            pool.start()
        try:
            return self._scan(roots, known_folders, started, progress, cancel, on_tracks, exclude, pool)
        except BaseException:
            if pool is not None:
                pool.close(now=True)
            raise

    def _scan(self, roots: list[str], known_folders: set[str], started: float,
              progress: ProgressCallback | None, cancel: CancelToken | None,
              on_tracks: Callable[[list[Track]], None] | None, exclude: Sequence[str],
              pool: IsolatedPool | None) -> ScanReport:
        """The body of :meth:`scan`; ``pool`` is started decode workers or None."""
        for root in roots:
            # a new folder is remembered only if it exists: a mistyped path is reported (failed,
            # kept in failures()) but not scanned again and again
            if root not in known_folders and os.path.isdir(root):
                self.store.add_folder(root)
        unreadable: set[str] = set()
        entries, walk_failed = scanning.walk(roots, exclude, unreadable)
        for path in self.store.drop_bad_vectors(self.analysis_version, self.dim):
            log.warning("%s: its stored vector was damaged; analysing it again", path)
        analysed = self.store.fingerprints_with_vectors(self.analysis_version)
        if self.card.tags:  # a tagged model's analysis is complete only with the tag scores
            analysed &= tagging.fingerprints_with_tags(self.store, self.analysis_version)
        plan = scanning.plan(entries, walk_failed, roots, self.store.file_states(), self.store.failure_states(),
                             analysed, unreadable=unreadable)
        self._apply_file_changes(plan)
        # the network loads on the inference thread while the first files decode; a library
        # with nothing to analyse never loads it
        outcome = analyse(plan.tasks, self.store, self.card, lambda: self.embedder, self.settings, progress,
                          cancel, on_tracks, pool=pool)
        return ScanReport(added=outcome.added, updated=outcome.updated + [e.path for e in plan.touched],
                          moved=[(old, e.path) for old, e in plan.moved], removed=plan.removed,
                          unavailable=plan.unavailable, returned=plan.returned,
                          failed=plan.failed + plan.still_failing + outcome.failed,
                          unchanged=plan.unchanged, cancelled=outcome.cancelled,
                          seconds=time.monotonic() - started)

    def _apply_file_changes(self, plan: scanning.ScanPlan) -> None:
        """Commit moves, removals, metadata-only changes and forgotten failures before decoding,
        and keep what failed before decoding (folders that cannot be opened, broken links,
        unreadable files) in :meth:`failures`; size 0 and mtime 0 make the next scan retry them."""
        if not (plan.moved or plan.removed or plan.touched or plan.forgotten_failures or plan.failed
                or plan.unavailable or plan.returned or plan.restamped):
            return
        with self.store.transaction() as conn:
            for old, entry in plan.moved:
                self.store.move_track(conn, old, entry.path, entry.size, entry.mtime_ns, entry.ctime_ns, entry.inode)
            for entry in plan.touched + plan.restamped:
                self.store.update_file_state(conn, entry.path, entry.size, entry.mtime_ns, entry.ctime_ns,
                                             entry.inode)
            # a folder that cannot be read keeps its tracks, marked missing until it is back
            self.store.set_available(conn, plan.unavailable, False)
            self.store.set_available(conn, plan.returned, True)
            self.store.remove_paths(conn, plan.removed)
            self.store.remove_failures(conn, plan.forgotten_failures)
            for path, reason in plan.failed:
                self.store.record_failure(conn, path, 0, 0, reason)

    def folders(self) -> list[str]:
        return self.store.folders()

    def add_folder(self, path: str | os.PathLike) -> None:
        self.store.add_folder(os.path.abspath(os.path.expanduser(os.fspath(path))))

    def remove_folder(self, path: str | os.PathLike) -> None:
        """Forget a folder; its tracks leave the library at once."""
        root = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self.store.remove_folder(root)
        others = self.store.folders()
        doomed = [p for p in self.store.file_states() if scanning.is_under(p, [root]) and not scanning.is_under(p, others)]
        with self.store.transaction() as conn:
            self.store.remove_paths(conn, doomed)

    def failures(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of every file that could not be analysed."""
        return self.store.failures()
