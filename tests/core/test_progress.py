"""ProgressMeter: the ETA of a scan follows its steady pace, not its start-up (issue 9, point 8)."""
from __future__ import annotations

import pytest

from core import progress as progress_module
from core.progress import ProgressMeter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(monkeypatch, total: int, startup: float, batch: int, per_item: float, slow_after: int | None = None):
    """Simulate a scan: ``startup`` s with nothing done (workers start, the model loads), then
    batches of ``batch`` items at ``per_item`` s each (twice as slow after ``slow_after`` items).
    Returns (done, reported ETA, true time left) at every report."""
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    reports = []
    meter = ProgressMeter("analysing", total, reports.append, min_interval=0.0)
    assert meter.snapshot().eta is None  # nothing known at the start
    clock.now += startup
    times = []
    done = 0
    while done < total:
        n = min(batch, total - done)
        pace = per_item * (2 if slow_after is not None and done >= slow_after else 1)
        clock.now += n * pace if done else 0.0  # the first batch was decoded during start-up
        done += n
        meter.advance(n)
        times.append(clock.now)
    end = clock.now
    return [(r.done, r.eta, end - t) for r, t in zip(reports, times, strict=True)]


def test_eta_leaves_out_the_start_up(monkeypatch):
    # the trial: 238 files, 29.7 s in all; the old meter said "49 s left" at 47/238
    rows = _run(monkeypatch, total=238, startup=7.0, batch=8, per_item=0.095)
    first = rows[0]
    assert first[1] is None, "no ETA from a single batch"
    for done, eta, left in rows:
        if done >= 40 and left > 2:
            assert eta is not None and abs(eta - left) <= 0.15 * left + 0.5, (done, eta, left)
    at_47 = next((d, e, left) for d, e, left in rows if d >= 47)
    assert at_47[1] < 25, f"at {at_47[0]}/238: {at_47[1]:.1f} s left reported, {at_47[2]:.1f} s true"


def test_eta_follows_a_change_of_pace(monkeypatch):
    rows = _run(monkeypatch, total=600, startup=3.0, batch=10, per_item=0.05, slow_after=200)
    late = [(d, e, left) for d, e, left in rows if d >= 400 and left > 3]
    assert late
    for done, eta, left in late:  # 15 s after the slow-down the window has the new pace
        assert eta == pytest.approx(left, rel=0.2), (done, eta, left)


def test_rate_and_eta_at_the_end(monkeypatch):
    rows = _run(monkeypatch, total=30, startup=1.0, batch=5, per_item=0.2)
    assert rows[-1][0] == 30 and rows[-1][1] == 0.0
