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
