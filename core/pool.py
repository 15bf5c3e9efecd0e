"""A process pool that survives its tasks: a task that crashes or hangs its worker fails alone.

``concurrent.futures`` cannot kill one hung worker, and a segfault in a native decoder breaks
the whole executor. Here every worker is a plain spawned process fed over its own pipe; the
parent watches each task's deadline and each worker's liveness, kills and replaces a worker
that hangs or dies, and reports that task as failed with a sentence a person can read.

Workers are started as ``python -m core.pool`` rather than by ``multiprocessing``'s spawn, which
re-imports the parent's ``__main__`` in every child: a user's script without an
``if __name__ == "__main__"`` guard would fail every file, and the desktop app's workers would
each import Qt.
"""
from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class TaskResult:
    """Outcome of one task: ``ok`` with ``value``, or not ok with a readable ``reason``."""

    key: Any
    ok: bool
    value: Any = None
    reason: str = ""


def _resolve(func_path: str) -> Callable[[Any], Any]:
    module, _, name = func_path.partition(":")
    return getattr(importlib.import_module(module), name)


def _worker_main(func_path: str, conn: Connection) -> None:  # runs in the child process
    func = _resolve(func_path)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        key, payload = message
        try:
            reply = (key, True, func(payload))
        except Exception as exc:  # the task's own failure, reported, never fatal
            reason = str(exc) or type(exc).__name__
            if not getattr(exc, "user_facing", False) and type(exc).__name__ != "AudioError":
                reason = f"unexpected error ({type(exc).__name__}: {reason})"
            reply = (key, False, reason)
        try:
            conn.send(reply)
        except OSError:  # the parent is gone: nobody to report to
            return


class _Process:
    """A worker interpreter (``python -m core.pool FUNC FD``) with the parts of
    ``multiprocessing.Process`` the pool uses: ``sentinel``, ``is_alive``, ``kill``, ``join``."""

    def __init__(self, func_path: str, child: socket.socket) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        fd = child.fileno()
        self._popen = subprocess.Popen([sys.executable, "-m", "core.pool", func_path, str(fd)],
                                       pass_fds=(fd,), env=env, stdin=subprocess.DEVNULL)
        self.sentinel = _pidfd(self._popen.pid)

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll()

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def kill(self) -> None:
        if self.is_alive():
            self._popen.send_signal(signal.SIGKILL)

    def join(self, timeout: float | None = None) -> None:
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return
        if self.sentinel is not None:
            os.close(self.sentinel)
            self.sentinel = None


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` ends (Linux >= 5.3), else None: the
    worker's socket then reports its end, as it closes when the process exits."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


@dataclass
class _Worker:
    process: _Process
    conn: Connection
    inflight: deque = field(default_factory=deque)   # (key, payload) in the order sent
    started: float = 0.0                              # when the head task began


def _send(worker: _Worker, item: tuple[Any, Any]) -> None:
    """Send a task already in ``worker.inflight``. A worker that died a moment ago (its socket is
    closed, its end not yet seen) cannot take it: the task stays in flight, and the death is
    reported as a crash of the task at its head when the pool next looks (``_collect``)."""
    try:
        worker.conn.send(item)
    except OSError as exc:  # BrokenPipeError, ConnectionResetError
        log.debug("worker %s is gone (%s); its death is handled as a crash", worker.process, exc)


class IsolatedPool:
    """Run ``func_path`` ("module:function") over payloads in ``workers`` spawned processes."""

    def __init__(self, func_path: str, workers: int = 2, timeout: float = 60.0, depth: int = 2) -> None:
        self.func_path, self.n_workers, self.timeout, self.depth = func_path, max(1, workers), timeout, depth
        self._workers: list[_Worker] = []

    def _spawn(self) -> _Worker:
        parent, child = socket.socketpair()
        try:
            proc = _Process(self.func_path, child)
        finally:
            child.close()
        return _Worker(proc, Connection(parent.detach()))

    def start(self) -> None:
        """Start the workers now (``run`` does it otherwise): they take a few tenths of a second
        to import their modules, which can overlap the caller's own preparation."""
        if not self._workers:
            self._workers = [self._spawn() for _ in range(self.n_workers)]

    def run(self, tasks: Iterable[tuple[Any, Any]], cancelled: Callable[[], bool] = lambda: False,
            heartbeat: float = 0.2) -> Iterator[TaskResult | None]:
        """Yield a :class:`TaskResult` per task (in completion order) and ``None`` every
        ``heartbeat`` seconds while waiting, so the caller can flush work or notice cancellation."""
        pending = iter(tasks)
        exhausted = False
        self.start()
        try:
            while True:
                if cancelled():
                    return
                exhausted = self._feed(pending, exhausted)
                busy = [w for w in self._workers if w.inflight]
                if not busy and exhausted:
                    return
                sentinels = [w.process.sentinel for w in busy if w.process.sentinel is not None]
                ready = wait([w.conn for w in busy] + sentinels, timeout=heartbeat)
                produced = False
                for worker in busy:
                    for result in self._collect(worker, ready):
                        produced = True
                        yield result
                if not produced:
                    yield None
        finally:
            self.close()

    def _feed(self, pending: Iterator, exhausted: bool) -> bool:
        for worker in self._workers:
            while not exhausted and len(worker.inflight) < self.depth:
                try:
                    key, payload = next(pending)
                except StopIteration:
                    return True
                if not worker.inflight:
                    worker.started = time.monotonic()
                worker.inflight.append((key, payload))
                _send(worker, (key, payload))
        return exhausted

    def _collect(self, worker: _Worker, ready: list) -> Iterator[TaskResult]:
        if worker.conn in ready:
            try:
                key, ok, value = worker.conn.recv()
            except (EOFError, OSError):
                pass  # the process died mid-message; handled as a crash below
            else:
                worker.inflight.popleft()
                worker.started = time.monotonic()
                yield TaskResult(key, ok, value if ok else None, "" if ok else value)
                return
        if not worker.process.is_alive():
            worker.process.join(0.1)
            yield self._fail_head(worker, f"the decoder crashed on this file (exit code {worker.process.exitcode})")
        elif time.monotonic() - worker.started > self.timeout:
            yield self._fail_head(worker, f"decoding took longer than {self.timeout:.0f} s and was stopped")

    def _fail_head(self, worker: _Worker, reason: str) -> TaskResult:
        """Fail the task at the head of ``worker``, replace the process, resend the rest."""
        key, _ = worker.inflight.popleft()
        log.warning("task %r failed: %s", key, reason)
        rest = list(worker.inflight)
        self._kill(worker)
        fresh = self._spawn()
        self._workers[self._workers.index(worker)] = fresh
        fresh.started = time.monotonic()
        for item in rest:
            fresh.inflight.append(item)
            _send(fresh, item)
        return TaskResult(key, False, None, reason)

    @staticmethod
    def _kill(worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(2)
        worker.conn.close()

    def close(self, now: bool = False) -> None:
        """Stop every worker (``now``: kill them, for workers that never got work); safe to call twice."""
        if now:
            for worker in self._workers:
                self._kill(worker)
            self._workers = []
            return
        for worker in self._workers:
            try:
                if worker.process.is_alive():
                    worker.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 1.0
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1)
            worker.conn.close()
        self._workers = []


if __name__ == "__main__":  # a worker: python -m core.pool MODULE:FUNCTION FD
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole process group; the parent decides
    _worker_main(sys.argv[1], Connection(int(sys.argv[2])))
