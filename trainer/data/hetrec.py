"""HetRec 2011 Last.fm-2k readers (``user_artists.dat``: real user × artist play counts).

TAB-separated with a header ``userID artistID weight``; the distributed file has CRLF line ends
and no final newline. Research, non-commercial data.
"""
from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

import numpy as np

from trainer.data.badrows import BadRows
from trainer.data.tsv import Col, header_cols, read_table


@dataclass(frozen=True)
class UserArtists:
    """``user_ids``, ``artist_ids`` (n,) int32 and ``weights`` (n,) int64 play counts."""

    user_ids: np.ndarray
    artist_ids: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)


def read_user_artists(path: str | PathLike[str], bad: BadRows | None = None) -> UserArtists:
    """Read ``user_artists.dat``; rows with missing, non-numeric or negative fields are bad rows."""
    bad = bad if bad is not None else BadRows()
    cols = header_cols(path, (Col("userID"), Col("artistID"), Col("weight", "int64")))
    t = read_table(path, cols, bad, skip_lines=1, progress=False)
    return UserArtists(t.column("userID").to_numpy(), t.column("artistID").to_numpy(),
                       t.column("weight").to_numpy())


@dataclass(frozen=True)
class TagAssignments:
    """``user_ids``, ``artist_ids``, ``tag_ids`` (n,) int32: who gave which tag to which artist."""

    user_ids: np.ndarray
    artist_ids: np.ndarray
    tag_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)


def read_tag_assignments(path: str | PathLike[str], bad: BadRows | None = None) -> TagAssignments:
    """Read ``user_taggedartists.dat`` (``userID artistID tagID day month year``, header line);
    rows with missing, non-numeric or negative ids are bad rows. The date columns are not kept."""
    bad = bad if bad is not None else BadRows()
    cols = header_cols(path, (Col("userID"), Col("artistID"), Col("tagID")))
    t = read_table(path, cols, bad, skip_lines=1, progress=False)
    return TagAssignments(t.column("userID").to_numpy(), t.column("artistID").to_numpy(),
                          t.column("tagID").to_numpy())


def read_tag_names(path: str | PathLike[str], bad: BadRows | None = None) -> dict[int, str]:
    """Read ``tags.dat`` (``tagID tagValue``, header line) into ``{tag id: name}``.

    The distributed file is ISO-8859-1, not UTF-8 (UTF-8 is tried first, per line); lines without
    a numeric id and a name are bad rows.
    """
    bad = bad if bad is not None else BadRows()
    names: dict[int, str] = {}
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.rstrip(b"\r\n")
            if number == 1 or not line:
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text = line.decode("latin-1")
            tag_id, sep, name = text.partition("\t")
            if not sep or not tag_id.strip().isdigit() or not name.strip():
                bad.add(path, number, "expected 'tagID<TAB>tagValue'", raw)
                continue
            names[int(tag_id)] = name.strip()
    return names
