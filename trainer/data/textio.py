"""Byte-level file access shared by the readers: whole-line blocks, text lines, string columns.

``iter_blocks`` reads a (possibly ``.bz2``/``.gz``) file in big blocks of whole lines through one
reused buffer (no per-block copies); ``iter_lines`` decodes small files line by line;
``StrColumn`` keeps millions of names as Arrow bytes; ``prefetched`` runs a producer one step ahead
in a thread.
"""
from __future__ import annotations

import bz2
import contextlib
import gzip
import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from trainer.data.badrows import BadRows

log = logging.getLogger(__name__)
T = TypeVar("T")


def open_binary(path: str | PathLike[str]) -> BinaryIO:
    """Open ``path`` for binary reading, decompressing ``.bz2`` and ``.gz`` on the fly."""
    p = str(path)
    if p.endswith(".bz2"):
        return bz2.open(p, "rb")  # type: ignore[return-value]
    if p.endswith(".gz"):
        return gzip.open(p, "rb")  # type: ignore[return-value]
    return open(p, "rb")


def read_first_line(path: str | PathLike[str]) -> str:
    """The first line of a (possibly compressed) file, without its line end."""
    with open_binary(path) as f:
        return f.readline().decode("utf-8", errors="replace").rstrip("\r\n").lstrip("\ufeff")

# --------------------------------------------------------------------------- block reading
class Span:
    """Bytes ``buf[start:end]`` without copying them: whole lines, each ending in ``\\n``."""

    __slots__ = ("buf", "start", "end")

    def __init__(self, buf: bytes | bytearray, start: int = 0, end: int | None = None) -> None:
        self.buf, self.start, self.end = buf, start, len(buf) if end is None else end

    def __len__(self) -> int:
        return self.end - self.start

    def find(self, pattern: bytes, offset: int = 0) -> int:
        """Position of ``pattern`` relative to ``start`` (searching from ``offset``), or -1."""
        i = self.buf.find(pattern, self.start + offset, self.end)
        return i - self.start if i >= 0 else -1

    def count_lines(self) -> int:
        return self.buf.count(b"\n", self.start, self.end)

    def view(self) -> memoryview:
        return memoryview(self.buf)[self.start:self.end]

    def tobytes(self) -> bytes:
        return bytes(self.buf[self.start:self.end])

    def split(self, size: int) -> Iterator[Span]:
        """Consecutive sub-spans of whole lines, each about ``size`` bytes (the last may be less)."""
        pos = 0
        while pos < len(self):
            cut = self.find(b"\n", min(pos + size, len(self)) - 1) + 1 or len(self)
            yield Span(self.buf, self.start + pos, self.start + cut)
            pos = cut


def iter_blocks(path: str | PathLike[str], block_bytes: int, skip_lines: int = 0,
                progress: bool = True, desc: str | None = None) -> Iterator[Span]:
    """Yield runs of whole lines, each ending in ``\\n``, after the first ``skip_lines`` lines.

    Blocks are spans of one reused buffer: each is valid only until the next one is asked for.
    A last line without newline gets one.
    """
    size = Path(path).stat().st_size
    with open(path, "rb") as raw, _wrap(raw, path) as f, tqdm(
            total=size, unit="B", unit_scale=True, desc=desc or Path(path).name,
            disable=not progress, leave=False) as bar:
        for _ in range(skip_lines):
            f.readline()
        buf, filled, done = bytearray(block_bytes), 0, raw.tell()
        while True:
            n = f.readinto(memoryview(buf)[filled:])
            bar.update(raw.tell() - done)
            done = raw.tell()
            filled += n
            if n and filled < len(buf):
                continue  # short read (decompressors): fill the buffer first
            if not n:  # end of file
                if filled:
                    yield Span(bytes(buf[:filled]) + (b"" if buf[filled - 1] == 10 else b"\n"))
                return
            cut = buf.rfind(b"\n", 0, filled) + 1
            if cut == 0:  # a line longer than the buffer: grow (a copy: old spans may live on)
                buf = buf + bytearray(len(buf))
                continue
            yield Span(buf, 0, cut)
            buf[: filled - cut] = buf[cut:filled]
            filled -= cut


def _wrap(raw: BinaryIO, path: str | PathLike[str]) -> BinaryIO:
    p = str(path)
    if p.endswith(".bz2"):
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if p.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return contextlib.nullcontext(raw)  # type: ignore[return-value]


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run ``items`` in a thread, ``depth`` results ahead; exceptions reach the caller."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    break
            else:
                put(end)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)
        finally:
            items.close()  # type: ignore[attr-defined]

    thread = threading.Thread(target=work, name="tsv-prefetch", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()

# --------------------------------------------------------------------------- text columns
class StrColumn(Sequence[str]):
    """A read-only sequence of strings over an Arrow array: 32 M names cost Arrow bytes, not
    Python objects, until they are indexed."""

    def __init__(self, array: pa.Array | pa.ChunkedArray) -> None:
        if isinstance(array, pa.ChunkedArray):  # large_string: > 2 GiB of text stays one array
            array = array.cast(pa.large_string()) if array.num_chunks > 1 else array
            array = array.combine_chunks()
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return self.array[index].to_pylist()
        return self.array[index].as_py()

    def take(self, indices: np.ndarray) -> list[str]:
        """The strings at ``indices`` (int array) as a list."""
        return self.array.take(pa.array(np.asarray(indices, dtype=np.int64))).to_pylist()

    def to_list(self) -> list[str]:
        return self.array.to_pylist()


def iter_lines(path: str | PathLike[str], bad: BadRows, skip_lines: int = 0,
               progress: bool = True) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` of a UTF-8 text file without line ends; undecodable lines are
    recorded in ``bad`` and skipped. For small or irregular files (MSD ``<SEP>``, mismatches)."""
    line = skip_lines + 1
    for block in iter_blocks(path, 8 << 20, skip_lines, progress):
        for raw in block.tobytes().split(b"\n")[:-1]:
            try:
                yield line, raw.decode("utf-8").removesuffix("\r")
            except UnicodeDecodeError:
                bad.add(path, line, "invalid UTF-8", raw)
            line += 1
    bad.warn(path, log)


def read_id_list(path: str | PathLike[str], bad: BadRows | None = None, what: str = "id") -> list[str]:
    """One ``what`` (an id, a user id...) per line; blank lines and lines with spaces are bad rows."""
    bad = bad if bad is not None else BadRows()
    out = []
    for line_no, line in iter_lines(path, bad, progress=False):
        value = line.strip()
        if not value or any(ch.isspace() for ch in value):
            bad.add(path, line_no, f"not a single {what}", line)
            continue
        out.append(value)
    bad.warn(path, log)
    return out
