"""Progress reports and cancellation tokens shared by every long operation."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """A snapshot of a long operation: ``done`` of ``total`` items, ``rate`` items/s, ``eta`` s."""

    phase: str
    done: int
    total: int
    rate: float = 0.0
    eta: float | None = None
    current: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """Thread-safe flag a caller sets to ask a long operation to stop at the next file."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class ProgressMeter:
    """Turns item counts into :class:`Progress` reports with a steady-state rate and ETA.

    The rate leaves out the start-up (worker processes starting, the model loading: seconds in
    which nothing finishes) and follows the last ``window`` seconds, so the ETA is neither
    inflated at the start (it said "49 s left" at 47/238 of a scan that took 29.7 s in all)
    nor stuck on an old pace. No ETA until the pace has been seen for ``min_span`` seconds."""

    def __init__(self, phase: str, total: int, callback: ProgressCallback | None,
                 min_interval: float = 0.1, window: float = 15.0, min_span: float = 1.0) -> None:
        self.phase, self.total, self.callback = phase, total, callback
        self.done = 0
        self._start = time.monotonic()
        self._last_emit = 0.0
        self._min_interval = min_interval
        self._window, self._min_span = window, min_span
        self._samples: deque[tuple[float, int]] = deque()  # (time, done) since the first item finished

    def advance(self, n: int = 1, current: str = "", force: bool = False) -> None:
        self.done += n
        now = time.monotonic()
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()  # keep one sample at or before the window's start
        if self.callback is None:
            return
        if not force and self.done < self.total and now - self._last_emit < self._min_interval:
            return
        self._last_emit = now
        self.callback(self.snapshot(current))

    def snapshot(self, current: str = "") -> Progress:
        now = time.monotonic()
        remaining = max(self.total - self.done, 0)
        if self._samples and now - self._samples[0][0] >= self._min_span:
            since, done_then = self._samples[0]
            rate = (self.done - done_then) / (now - since)
            eta = remaining / rate if rate > 0 else None
        else:  # the pace is not known yet: the average so far (start-up included), no ETA
            rate = self.done / max(now - self._start, 1e-9)
            eta = 0.0 if not remaining and self.done else None
        return Progress(self.phase, self.done, self.total, rate, eta, current)
