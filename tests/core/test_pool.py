"""The isolated pool survives tasks that hang, crash or raise, and reports each one."""
from __future__ import annotations

import time

from core.pool import IsolatedPool


def _run(payloads: list[str], timeout: float = 2.0, workers: int = 2) -> dict[int, object]:
    pool = IsolatedPool("tests.core.pool_tasks:behave", workers=workers, timeout=timeout)
    results = {}
    for result in pool.run(enumerate(payloads)):
        if result is not None:
            results[result.key] = result
    return results


def test_every_task_reported_despite_hang_crash_and_raise():
    payloads = ["ok:a", "hang", "ok:b", "crash", "ok:c", "raise", "ok:d", "ok:e"]
    started = time.monotonic()
    results = _run(payloads, timeout=5.0)   # 2 s was too short for a worker to start on a loaded 2-core VM
    assert time.monotonic() - started < 40
    assert sorted(results) == list(range(len(payloads)))
    assert [results[i].value for i in (0, 2, 4, 6, 7)] == ["a", "b", "c", "d", "e"]
    assert "longer than 5 s" in results[1].reason and not results[1].ok
    assert "crashed" in results[3].reason and not results[3].ok
    assert "bad payload" in results[5].reason and not results[5].ok


def test_cancel_stops_promptly():
    pool = IsolatedPool("tests.core.pool_tasks:behave", workers=2, timeout=60)
    seen = []
    started = time.monotonic()
    for result in pool.run(enumerate(["ok:1"] + ["hang"] * 4), cancelled=lambda: len(seen) >= 1):
        if result is not None:
            seen.append(result)
    assert time.monotonic() - started < 10
    assert [r.value for r in seen] == ["1"]


def test_a_worker_that_died_before_it_was_fed_does_not_break_the_run():
    """Sending to a worker that crashed a moment ago (its socket closed, the pool not yet aware)
    raised BrokenPipeError out of ``run`` and ended the whole scan; now the death is handled as a
    crash: the task at its head fails, the rest go to a fresh worker."""
    pool = IsolatedPool("tests.core.pool_tasks:behave", workers=1, timeout=10)
    pool.start()
    victim = pool._workers[0].process
    victim.kill()
    victim.join(5)
    results = {r.key: r for r in pool.run(enumerate(["ok:a", "ok:b", "ok:c"])) if r is not None}
    assert sorted(results) == [0, 1, 2]
    assert "crashed" in results[0].reason and not results[0].ok
    assert [results[i].value for i in (1, 2)] == ["b", "c"]
