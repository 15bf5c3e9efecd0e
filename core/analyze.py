"""Analyse files: decode in isolated worker processes, batch inference, commit as we go.

Each batch of results is written in one transaction, so a scan killed at any moment loses only
the batches not yet committed (the one being collected and those queued for the model: seconds
of work), and the next scan resumes with the files not yet committed.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.model.card import ModelCard
from core.pool import IsolatedPool, TaskResult
from core.progress import CancelToken, ProgressCallback, ProgressMeter
from core.scan import AnalysisTask
from core.store import NewTrack, Store
from core.tagging import save_tag_names, save_tag_scores
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


@dataclass
class _Batch:
    """Decoded files waiting for their vectors, and the failures that travel with them."""

    done: list[tuple[AnalysisTask, dict]]
    failed: list[tuple[AnalysisTask, str]]
    vectors: Future | None = None  # -> {path: (vector, tag scores or None)} from the inference thread


class _Batcher:
    """Collects decoded files, runs the model on them together and commits them.

    Inference runs on a background thread: while the model works on one batch the scan thread
    keeps reading decoded files from the workers (which otherwise stall with a finished result
    they cannot hand over). The first job on that thread loads the network, so importing torch
    overlaps the first decoding. At most ``max_in_flight`` batches wait for the model; batches
    are committed in order, and everything that touches SQLite or calls back stays on the scan
    thread.
    """

    def __init__(self, store: Store, version: str, load_embedder: Callable[[], Any], outcome: AnalysisOutcome,
                 meter: ProgressMeter, on_tracks: Callable[[list[Track]], None] | None, threads: int = 1,
                 max_in_flight: int = 8) -> None:
        self.store, self.version = store, version
        self.outcome, self.meter = outcome, meter
        self.on_tracks, self.threads, self.max_in_flight = on_tracks, threads, max_in_flight
        self.current = _Batch([], [])
        self.in_flight: deque[_Batch] = deque()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="cbrec-inference")
        self.loaded = self.executor.submit(self._load, load_embedder)
        self.last_flush = time.monotonic()

    def add(self, task: AnalysisTask, result: TaskResult) -> None:
        if result.ok:
            self.current.done.append((task, result.value))
        else:
            self.current.failed.append((task, result.reason))

    def __len__(self) -> int:
        return len(self.current.done) + len(self.current.failed)

    def flush(self) -> None:
        """Send the collected files to the model; commit the batches it has finished."""
        if len(self):
            batch, self.current = self.current, _Batch([], [])
            needing = [(t, v["windows"]) for t, v in batch.done if v["windows"] is not None]
            if needing:
                batch.vectors = self.executor.submit(self._vectors, needing)
            self.in_flight.append(batch)
            self.last_flush = time.monotonic()
        self.commit_ready()

    def commit_ready(self, wait_all: bool = False) -> None:
        """Commit finished batches in order; wait for the oldest while too many are queued (or,
        with ``wait_all``, until none is left)."""
        while self.in_flight:
            head = self.in_flight[0]
            waiting = head.vectors is not None and not head.vectors.done()
            if waiting and not wait_all and len(self.in_flight) <= self.max_in_flight:
                return
            self.in_flight.popleft()
            self._commit(head, head.vectors.result() if head.vectors is not None else {})

    def finish(self) -> None:
        """Commit everything collected or in flight (waits for the model)."""
        self.flush()
        self.commit_ready(wait_all=True)

    def shutdown(self) -> None:
        """Stop the inference thread (after its current batch)."""
        self.executor.shutdown(wait=True, cancel_futures=True)

    def _load(self, load_embedder: Callable[[], Any]) -> Any:
        """(inference thread, first job) load the network and set this thread's torch threads."""
        embedder = load_embedder()
        import torch

        torch.set_num_threads(self.threads)  # the thread count is per thread with OpenMP: set it here
        return embedder

    def _vectors(self, needing: list[tuple[AnalysisTask, np.ndarray]]) -> dict[str, tuple]:
        """(inference thread) the model's vector and tag scores (None: an untagged model) per file, by path."""
        embedder = self.loaded.result()
        batch = np.stack([w for _, w in needing]).astype(np.float32, copy=False)
        vectors, tags = embedder.embed_with_tags(batch)
        return {task.entry.path: (vectors[i], None if tags is None else tags[i])
                for i, (task, _) in enumerate(needing)}

    def _commit(self, batch: _Batch, vectors: dict[str, tuple]) -> None:
        items = self._items(batch, vectors)
        tag_rows = [(item.fingerprint, vectors[item.path][1]) for item in items
                    if item.vector is not None and vectors[item.path][1] is not None]
        with self.store.transaction() as conn:
            ids = self.store.upsert_tracks(conn, items, self.version)
            if tag_rows:  # the model has run (its tag names are known) and is a tagged one
                save_tag_names(conn, self.version, self.loaded.result().tag_names)
                save_tag_scores(conn, self.version, tag_rows)
            for task, reason in batch.failed:
                e = task.entry
                self.store.record_failure(conn, e.path, e.size, e.mtime_ns, reason)
        for task, reason in batch.failed:
            self.outcome.failed.append((task.entry.path, reason))
        n = len(batch.done) + len(batch.failed)
        last = (batch.done[-1][0] if batch.done else batch.failed[-1][0]).entry.path
        if self.on_tracks and ids:
            tracks = self.store.tracks_by_id(ids, self.version)
            self.on_tracks([tracks[i] for i in ids if i in tracks])
        self.meter.advance(n, current=last)

    def _items(self, batch: _Batch, vectors: dict[str, tuple]) -> list[NewTrack]:
        """Rows to store; files whose vector is not finite move to ``batch.failed``."""
        items = []
        for task, value in batch.done:
            vec = vectors.get(task.entry.path, (None, None))[0]
            if vec is not None and not np.all(np.isfinite(vec)):
                batch.failed.append((task, "the model produced an invalid vector for this audio"))
                continue
            e = task.entry
            items.append(NewTrack(e.path, e.size, e.mtime_ns, task.fingerprint, value["tags"], vec,
                                  ctime_ns=e.ctime_ns or None, inode=e.inode or None))
            (self.outcome.added if task.kind == "added" else self.outcome.updated).append(e.path)
        return items


def _inference_thread_count(workers: int) -> int:
    """The cores the decode workers leave free (at least one)."""
    return max(1, (os.cpu_count() or 1) - workers)


def decode_pool(settings: AnalysisSettings, workers: int | None = None) -> IsolatedPool:
    """The isolated decode workers ``analyse`` uses (not started)."""
    return IsolatedPool(DECODE_FUNCTION, workers=workers or settings.workers, timeout=settings.timeout)


def analyse(tasks: Sequence[AnalysisTask], store: Store, card: ModelCard, load_embedder: Callable[[], Any],
            settings: AnalysisSettings, progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None,
            on_tracks: Callable[[list[Track]], None] | None = None,
            pool: IsolatedPool | None = None) -> AnalysisOutcome:
    """Decode, embed and store ``tasks``; failures are reported per file, never raised.

    ``card`` gives the audio the model reads and the version its vectors are stored under;
    ``load_embedder()`` returns the loaded :class:`core.model.Embedder` and is first called on
    the inference thread, so loading the network overlaps the first decoding. ``pool``: decode
    workers already started by the caller (:func:`decode_pool`); closed here either way.
    """
    outcome = AnalysisOutcome()
    meter = ProgressMeter("analysing", len(tasks), progress)
    if not tasks:
        if pool is not None:
            pool.close(now=True)
        return outcome
    cancel = cancel or CancelToken()
    if progress is not None:  # say at once how much there is: the model loads before the first file is done
        progress(meter.snapshot())
    payloads = ((i, {"path": t.entry.path, "sr": card.sample_rate, "window_samples": card.window_samples,
                     "n_windows": card.n_windows, "need_vector": t.need_vector}) for i, t in enumerate(tasks))
    workers = min(settings.workers, len(tasks)) if pool is None else pool.n_workers
    pool = pool or decode_pool(settings, workers)
    batcher = _Batcher(store, card.analysis_version, load_embedder, outcome, meter, on_tracks,
                       threads=_inference_thread_count(workers))
    try:
        for result in pool.run(payloads, cancelled=lambda: cancel.cancelled):
            if result is not None:
                batcher.add(tasks[result.key], result)
            due = time.monotonic() - batcher.last_flush > settings.flush_seconds
            if len(batcher) >= settings.batch_size or due:
                batcher.flush()
        batcher.finish()
    finally:
        batcher.shutdown()
    outcome.cancelled = cancel.cancelled and meter.done < len(tasks)
    return outcome
