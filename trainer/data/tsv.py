"""Fast, exact TAB-separated-file reading: pyarrow on big byte blocks, Python only where rows are bad.

A file is read in blocks of whole lines (``block_bytes``, default 32 MiB). Each block is parsed by
``pyarrow.csv`` (C++, no quoting, ``null_values=[]`` so nothing silently becomes null). A block is
*clean* when pyarrow raised nothing, called no invalid-row handler, holds no empty line and gave
exactly one row per ``\\n``: then row ``i`` is line ``first_line + i``. Otherwise the block is cut
into smaller pieces and re-parsed, down to pieces of ``_PY_BYTES`` that are parsed line by line in
Python, so every bad row is reported with its exact 1-based physical line number and a reason.
CRLF line ends, a missing final newline and ``.bz2``/``.gz`` files are handled.
"""
from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from trainer.data.badrows import BadRows
from trainer.data.textio import Span, iter_blocks, prefetched, read_first_line

log = logging.getLogger(__name__)

Kind = Literal["int32", "int64", "str", "timestamp", "skip"]
_ARROW: dict[str, pa.DataType] = {"int32": pa.int32(), "int64": pa.int64(), "str": pa.string(),
                                   "timestamp": pa.timestamp("us"), "skip": pa.string()}
_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_INT_RE = re.compile(rb" *(-?[0-9]+) *")
_PY_BYTES = 64 * 1024  # pieces at most this big are parsed line by line
_SUB_BYTES = 4 << 20  # one pyarrow call per sub-block: a bad line re-parses only its sub-block
_FANOUT = 64  # a dirty sub-block is cut into this many pieces, each parsed again
LINE = "_line"  # name of the optional line-number column


@dataclass(frozen=True)
class Col:
    """One TAB-separated column: its name, its type and, for integers, the smallest valid value."""

    name: str
    kind: Kind = "int32"
    min_value: int | None = 0


# --------------------------------------------------------------------------- block parsing
def parse_block(block: Span | bytes, first_line: int, cols: Sequence[Col], path: str | PathLike[str],
                bad: BadRows, with_lines: bool = False) -> tuple[pa.Table, int]:
    """Parse whole lines of TAB-separated text into a table of the non-``skip`` columns.

    Returns the table and the number of lines in ``block``. Bad rows are dropped and recorded in
    ``bad``; ``with_lines`` adds an int64 ``_line`` column (1-based line numbers). The block is
    parsed in sub-blocks of ``_SUB_BYTES`` so that a bad line costs a re-parse of its sub-block
    only.
    """
    span = block if isinstance(block, Span) else Span(block)
    if len(span) <= _SUB_BYTES:
        return _parse_span(span, first_line, cols, path, bad, with_lines)
    return _parse_pieces(span.split(_SUB_BYTES), first_line, cols, path, bad, with_lines)


def _parse_pieces(pieces: Iterator[Span], first_line: int, cols: Sequence[Col],
                  path: str | PathLike[str], bad: BadRows, with_lines: bool) -> tuple[pa.Table, int]:
    tables, line = [], first_line
    for piece in pieces:
        table, n_lines = _parse_span(piece, line, cols, path, bad, with_lines)
        tables.append(table)
        line += n_lines
    return pa.concat_tables(tables), line - first_line


def _parse_span(span: Span, first_line: int, cols: Sequence[Col], path: str | PathLike[str],
                bad: BadRows, with_lines: bool) -> tuple[pa.Table, int]:
    table = _arrow_clean(span, cols)
    if table is None:
        return _parse_dirty(span, first_line, cols, path, bad, with_lines), span.count_lines()
    n_lines = table.num_rows  # clean: row i is line first_line + i
    keep = _check_minimums(table, span, first_line, cols, path, bad)
    if keep is not None:
        table = table.filter(pa.array(keep))
    if with_lines:
        lines = np.arange(first_line, first_line + n_lines, dtype=np.int64)
        table = table.append_column(LINE, pa.array(lines if keep is None else lines[keep]))
    return table, n_lines


def _arrow_clean(span: Span, cols: Sequence[Col]) -> pa.Table | None:
    """pyarrow's parse of ``span``, or None when any line of it is not clean."""
    if all(c.kind in ("str", "skip") for c in cols) and (
            span.buf[span.start:span.start + 2].startswith((b"\n", b"\r\n"))
            or span.find(b"\n\n") >= 0 or span.find(b"\n\r\n") >= 0):
        return None  # pyarrow turns an empty line into a row of empty strings
    flagged: list[bool] = []

    def on_invalid(_row: object) -> str:
        flagged.append(True)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(span.view()),
            read_options=pacsv.ReadOptions(column_names=[c.name for c in cols], use_threads=True,
                                           block_size=1 << 20),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False,
                                             ignore_empty_lines=False, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c.name: _ARROW[c.kind] for c in cols}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False,
                include_columns=[c.name for c in cols if c.kind != "skip"]))
    except pa.ArrowInvalid:
        return None
    if flagged or (span.find(b"\r") >= 0 and span.count_lines() != table.num_rows):
        return None
    return table


def _check_minimums(table: pa.Table, span: Span, first_line: int, cols: Sequence[Col],
                    path: str | PathLike[str], bad: BadRows) -> np.ndarray | None:
    """Record rows whose integer fields are below their column's ``min_value`` (e.g. negative ids);
    return the mask of rows to keep, or None to keep all."""
    keep: np.ndarray | None = None
    for c in cols:
        if c.kind not in ("int32", "int64") or c.min_value is None or table.num_rows == 0:
            continue
        column = table.column(c.name)
        if pc.min(column).as_py() >= c.min_value:
            continue
        values = column.to_numpy()
        low = values < c.min_value
        raw_lines = span.tobytes().split(b"\n")
        for i in np.flatnonzero(low):
            bad.add(path, first_line + int(i), f"{c.name} below {c.min_value}: {values[i]}", raw_lines[i])
        keep = ~low if keep is None else keep & ~low
    return keep


def _parse_dirty(span: Span, first_line: int, cols: Sequence[Col], path: str | PathLike[str],
                 bad: BadRows, with_lines: bool) -> pa.Table:
    """Cut a span with bad lines into ``_FANOUT`` pieces: clean ones go to pyarrow, the others are
    cut again, down to ``_PY_BYTES`` pieces parsed line by line."""
    if len(span) <= _PY_BYTES:
        return _parse_python(span.tobytes(), first_line, cols, path, bad, with_lines)
    pieces = list(span.split(max(len(span) // _FANOUT, _PY_BYTES // 2)))
    if len(pieces) == 1:  # one very long line
        return _parse_python(span.tobytes(), first_line, cols, path, bad, with_lines)
    return _parse_pieces(iter(pieces), first_line, cols, path, bad, with_lines)[0]


def _parse_python(block: bytes, first_line: int, cols: Sequence[Col], path: str | PathLike[str],
                  bad: BadRows, with_lines: bool) -> pa.Table:
    """Line-by-line parse of a small piece: the exact reference for what a good row is."""
    keep = [c for c in cols if c.kind != "skip"]
    out: dict[str, list] = {c.name: [] for c in keep}
    lines: list[int] = []
    for i, raw in enumerate(block.split(b"\n")[:-1]):
        values = _parse_line(raw[:-1] if raw.endswith(b"\r") else raw, cols)
        if isinstance(values, str):
            bad.add(path, first_line + i, values, raw)
            continue
        for c, v in zip(keep, values, strict=True):
            out[c.name].append(v)
        lines.append(first_line + i)
    arrays = [pa.array(out[c.name], type=_ARROW[c.kind]) for c in keep]
    table = pa.table(arrays, names=[c.name for c in keep])
    return table.append_column(LINE, pa.array(lines, pa.int64())) if with_lines else table


def _parse_line(line: bytes, cols: Sequence[Col]) -> list | str:
    """The converted values of one line, or the reason it is bad."""
    if not line:
        return "empty line"
    fields = line.split(b"\t")
    if len(fields) != len(cols):
        return f"wrong column count: expected {len(cols)} TAB-separated fields, found {len(fields)}"
    values = []
    for c, f in zip(cols, fields, strict=True):
        if c.kind == "skip":
            continue
        value = _convert(f, c)
        if isinstance(value, _Bad):
            return value.reason
        values.append(value)
    return values


@dataclass(frozen=True)
class _Bad:
    reason: str


def _convert(field: bytes, c: Col) -> int | str | datetime | _Bad:
    if c.kind == "str":
        try:
            return field.decode("utf-8")
        except UnicodeDecodeError:
            return _Bad(f"invalid UTF-8 in {c.name}")
    if c.kind == "timestamp":
        return _parse_time(field, c)
    m = _INT_RE.fullmatch(field)
    if m is None:
        return _Bad(f"{c.name} is not an integer" if field.strip() else f"empty {c.name}")
    value = int(m.group(1))
    lo, hi = _RANGE[c.kind]
    if not lo <= value <= hi:
        return _Bad(f"{c.name} out of {c.kind} range: {value}")
    if c.min_value is not None and value < c.min_value:
        return _Bad(f"{c.name} below {c.min_value}: {value}")
    return value


def _parse_time(field: bytes, c: Col) -> datetime | _Bad:
    try:
        t = datetime.fromisoformat(field.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return _Bad(f"{c.name} is not an ISO date-time")
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


# --------------------------------------------------------------------------- whole files
def iter_tables(path: str | PathLike[str], cols: Sequence[Col], bad: BadRows, *, skip_lines: int = 0,
                block_bytes: int = 32 << 20, with_lines: bool = False, progress: bool = True,
                prefetch: bool = True) -> Iterator[tuple[int, pa.Table]]:
    """Yield ``(first_line, table)`` per block of ``path`` (bounded memory); warn about bad rows at
    the end. ``first_line`` is the 1-based line number where the block starts.

    With ``prefetch`` a background thread reads and parses the next block while the caller works
    on the current one (pyarrow and most numpy code release the GIL).
    """
    blocks = iter_blocks(path, block_bytes, skip_lines, progress)
    parsed = _parse_all(blocks, skip_lines + 1, cols, path, bad, with_lines)
    yield from (prefetched(parsed) if prefetch else parsed)
    bad.warn(path, log)


def _parse_all(blocks: Iterator[Span], line: int, cols: Sequence[Col], path: str | PathLike[str],
               bad: BadRows, with_lines: bool) -> Iterator[tuple[int, pa.Table]]:
    with contextlib.closing(blocks):  # type: ignore[type-var]
        for block in blocks:
            table, n_lines = parse_block(block, line, cols, path, bad, with_lines)
            yield line, table
            line += n_lines


def read_table(path: str | PathLike[str], cols: Sequence[Col], bad: BadRows, **kwargs) -> pa.Table:
    """All of ``path`` as one table (for files that fit in memory); see :func:`iter_tables`."""
    tables = [t for _, t in iter_tables(path, cols, bad, **kwargs)]
    if not tables:
        keep = [c for c in cols if c.kind != "skip"]
        schema = pa.schema([(c.name, _ARROW[c.kind]) for c in keep])
        if kwargs.get("with_lines"):
            schema = schema.append(pa.field(LINE, pa.int64()))
        return schema.empty_table()
    return pa.concat_tables(tables)


def header_cols(path: str | PathLike[str], wanted: Sequence[Col]) -> list[Col]:
    """Columns in the order of the file's header line; unknown ones are skipped.

    Raises ValueError naming the file when a wanted column is missing from the header.
    """
    names = [n.strip() for n in read_first_line(path).split("\t")]
    by_name = {c.name: c for c in wanted}
    missing = [c.name for c in wanted if c.name not in names]
    if missing:
        raise ValueError(f"{path}: header {names!r} lacks column(s) {missing}; "
                         f"is this the right file? Expected columns {list(by_name)}")
    return [by_name.get(n, Col(n, "skip")) for n in names]
