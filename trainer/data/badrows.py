"""Collect malformed input rows: never fatal, never silent.

Every reader takes a :class:`BadRows` and records each row it had to drop (file, 1-based physical
line number, reason, the raw text truncated). Readers call :meth:`BadRows.warn` when a file is
done, which logs one warning with the count and the first few examples.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from os import PathLike

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BadRow:
    """One dropped row: ``line`` is the 1-based physical line number in ``path``."""

    path: str
    line: int
    reason: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}: {self.text!r}"


def _to_text(raw: bytes | str, limit: int) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="backslashreplace")
    raw = raw.rstrip("\r\n")
    return raw if len(raw) <= limit else raw[:limit] + "…"


class BadRows:
    """Thread-safe tally of dropped rows, with the first ``max_examples`` kept verbatim.

    Example::

        bad = BadRows()
        for chunk in iter_events(path, bad): ...
        print(bad.summary())
    """

    def __init__(self, max_examples: int = 20, max_text: int = 120) -> None:
        self.max_examples = max_examples
        self.max_text = max_text
        self.examples: list[BadRow] = []
        self.by_file: Counter[str] = Counter()
        self.by_reason: Counter[str] = Counter()
        self._warned: Counter[str] = Counter()
        self.deliberate: dict[str, str] = {}
        self._lock = threading.Lock()

    def expect(self, path: str | PathLike[str], why: str) -> None:
        """Say that bad rows in ``path`` are there on purpose (a simulated world's); :meth:`warn` says so."""
        self.deliberate[str(path)] = why

    def add(self, path: str | PathLike[str], line: int, reason: str, raw: bytes | str = "") -> None:
        """Record that ``line`` (1-based) of ``path`` was dropped because of ``reason``."""
        key = str(path)
        with self._lock:
            self.by_file[key] += 1
            self.by_reason[_reason_kind(reason)] += 1
            if len(self.examples) < self.max_examples:
                self.examples.append(BadRow(key, int(line), reason, _to_text(raw, self.max_text)))

    @property
    def count(self) -> int:
        """Total number of bad rows recorded."""
        return sum(self.by_file.values())

    def count_for(self, path: str | PathLike[str]) -> int:
        """Number of bad rows recorded for one file."""
        return self.by_file.get(str(path), 0)

    def lines_for(self, path: str | PathLike[str]) -> list[int]:
        """Line numbers of the *kept examples* for one file (all of them while under the cap)."""
        return [row.line for row in self.examples if row.path == str(path)]

    def summary(self, n_examples: int = 5) -> str:
        """A few lines fit for a log or a terminal: total, per file, per reason, examples."""
        if not self.count:
            return "no bad rows"
        parts = [f"{self.count} bad rows"]
        parts += [f"  {n} in {path}" for path, n in self.by_file.most_common()]
        parts += [f"  {n} × {reason}" for reason, n in self.by_reason.most_common(10)]
        parts += [f"  e.g. {row}" for row in self.examples[:n_examples]]
        return "\n".join(parts)

    def warn(self, path: str | PathLike[str], logger: logging.Logger | None = None,
             n_examples: int = 3) -> int:
        """Log one warning for rows of ``path`` added since the last call; return that number."""
        key = str(path)
        with self._lock:
            new = self.by_file.get(key, 0) - self._warned[key]
            self._warned[key] += new
        if new > 0:
            examples = [str(r) for r in self.examples if r.path == key][:n_examples]
            note = f" (deliberate: {self.deliberate[key]})" if key in self.deliberate else ""
            (logger or log).warning("%d bad rows skipped in %s%s; first: %s", new, key, note,
                                    "; ".join(examples) or "(examples cap reached)")
        return new


def _reason_kind(reason: str) -> str:
    """Group reasons by their text before the first ':' so the tally stays short."""
    return reason.split(":", 1)[0]
