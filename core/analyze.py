"""Analyse files: decode in isolated worker processes, batch inference, commit as we go.

Each batch of results is written in one transaction, so a scan killed at any moment loses at
most the batch in flight, and the next scan resumes with the files not yet committed.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from core.pool import IsolatedPool, TaskResult
from core.progress import CancelToken, ProgressCallback, ProgressMeter
from core.scan import AnalysisTask
from core.store import NewTrack, Store
from core.types import Track

log = logging.getLogger(__name__)

DECODE_FUNCTION = "core.decode_worker:decode_task"


@dataclass
class AnalysisOutcome:
    """Paths analysed (by kind) and ``(path, reason)`` failures, plus whether it was cancelled."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False


@dataclass
class AnalysisSettings:
    """How to run the analysis: worker processes, per-file time limit (s), batch size."""

    workers: int = 2
    timeout: float = 60.0
    batch_size: int = 16
    flush_seconds: float = 0.5


class _Batcher:
    """Collects decoded files, runs the model on them together and commits them."""

    def __init__(self, store: Store, embedder, outcome: AnalysisOutcome, meter: ProgressMeter,
                 on_tracks: Callable[[list[Track]], None] | None) -> None:
        self.store, self.embedder, self.outcome, self.meter = store, embedder, outcome, meter
        self.on_tracks = on_tracks
        self.done: list[tuple[AnalysisTask, dict]] = []
        self.failed: list[tuple[AnalysisTask, str]] = []
        self.last_flush = time.monotonic()

    def add(self, task: AnalysisTask, result: TaskResult) -> None:
        if result.ok:
            self.done.append((task, result.value))
        else:
            self.failed.append((task, result.reason))

    def __len__(self) -> int:
        return len(self.done) + len(self.failed)

    def flush(self) -> None:
        if not len(self):
            return
        items = self._embed()
        with self.store.transaction() as conn:
            ids = self.store.upsert_tracks(conn, items, self.embedder.version)
            for task, reason in self.failed:
                e = task.entry
                self.store.record_failure(conn, e.path, e.size, e.mtime_ns, reason)
        for task, reason in self.failed:
            self.outcome.failed.append((task.entry.path, reason))
        n = len(self)
        last = (self.done[-1][0] if self.done else self.failed[-1][0]).entry.path
        self.done, self.failed = [], []
        self.last_flush = time.monotonic()
        if self.on_tracks and ids:
            tracks = self.store.tracks_by_id(ids, self.embedder.version)
            self.on_tracks([tracks[i] for i in ids if i in tracks])
        self.meter.advance(n, current=last)

    def _embed(self) -> list[NewTrack]:
        """Run the model over the decoded windows; files whose vector is not finite fail."""
        needing = [(t, v) for t, v in self.done if v["windows"] is not None]
        vectors: dict[str, np.ndarray] = {}
        if needing:
            batch = np.stack([v["windows"] for _, v in needing]).astype(np.float32, copy=False)
            for (task, _), vec in zip(needing, self.embedder.embed(batch), strict=True):
                vectors[task.entry.path] = vec
        items = []
        for task, value in self.done:
            vec = vectors.get(task.entry.path)
            if vec is not None and not np.all(np.isfinite(vec)):
                self.failed.append((task, "the model produced an invalid vector for this audio"))
                continue
            e = task.entry
            items.append(NewTrack(e.path, e.size, e.mtime_ns, task.fingerprint, value["tags"], vec))
            (self.outcome.added if task.kind == "added" else self.outcome.updated).append(e.path)
        return items


@contextmanager
def _inference_threads(workers: int) -> Iterator[None]:
    """Give inference the cores the decode workers leave free (at least one), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) - workers))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def analyse(tasks: Sequence[AnalysisTask], store: Store, embedder, settings: AnalysisSettings,
            progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
            on_tracks: Callable[[list[Track]], None] | None = None) -> AnalysisOutcome:
    """Decode, embed and store ``tasks``; failures are reported per file, never raised."""
    outcome = AnalysisOutcome()
    meter = ProgressMeter("analysing", len(tasks), progress)
    if not tasks:
        return outcome
    cancel = cancel or CancelToken()
    batcher = _Batcher(store, embedder, outcome, meter, on_tracks)
    payloads = ((i, {"path": t.entry.path, "sr": embedder.sample_rate, "window_samples": embedder.window_samples,
                     "n_windows": embedder.n_windows, "need_vector": t.need_vector}) for i, t in enumerate(tasks))
    workers = min(settings.workers, len(tasks))
    pool = IsolatedPool(DECODE_FUNCTION, workers=workers, timeout=settings.timeout)
    with _inference_threads(workers):
        for result in pool.run(payloads, cancelled=lambda: cancel.cancelled):
            if result is not None:
                batcher.add(tasks[result.key], result)
            due = time.monotonic() - batcher.last_flush > settings.flush_seconds
            if len(batcher) >= settings.batch_size or (due and len(batcher)):
                batcher.flush()
        batcher.flush()
    outcome.cancelled = cancel.cancelled and meter.done < len(tasks)
    return outcome
