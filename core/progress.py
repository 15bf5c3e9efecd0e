"""Progress reports and cancellation tokens shared by every long operation."""
from __future__ import annotations

import threading
import time
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
    """Turns item counts into :class:`Progress` reports with a smoothed rate and ETA."""

    def __init__(self, phase: str, total: int, callback: ProgressCallback | None,
                 min_interval: float = 0.1) -> None:
        self.phase, self.total, self.callback = phase, total, callback
        self.done = 0
        self._start = time.monotonic()
        self._last_emit = 0.0
        self._min_interval = min_interval

    def advance(self, n: int = 1, current: str = "", force: bool = False) -> None:
        self.done += n
        now = time.monotonic()
        if self.callback is None:
            return
        if not force and self.done < self.total and now - self._last_emit < self._min_interval:
            return
        self._last_emit = now
        self.callback(self.snapshot(current))

    def snapshot(self, current: str = "") -> Progress:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self.done / elapsed
        remaining = max(self.total - self.done, 0)
        eta = remaining / rate if rate > 0 else None
        return Progress(self.phase, self.done, self.total, rate, eta, current)
