"""LFM-1b ↔ MSD matching and the users × items play-count matrices, on small hand-made worlds."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from trainer.data.badrows import BadRows
from trainer.data.lfm1b import Artists, Tracks, iter_events
from trainer.data.msd import UniqueTracks
from trainer.data.tasteprofile import TripletsChunk
from trainer.data.textio import StrColumn
from trainer.interactions import (
    IdIndexer,
    PairCounter,
    build_interactions,
    build_triplet_interactions,
    dense_lookup,
    interactions_from_chunks,
    track_play_counts,
    triplet_interactions_from_chunks,
)
from trainer.match import match_lfm1b_to_msd, normalise

LES_SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "lfm1b" / "LFM-1b_LEs.sample.txt"


def world() -> tuple[Tracks, Artists, UniqueTracks]:
    """MSD: 5 tracks (two share a key). LFM-1b: case variants, duplicates, tracks outside the MSD."""
    msd = UniqueTracks(
        track_ids=["TR1", "TR2", "TR3", "TR4", "TR5"],
        song_ids=["SO1", "SO2", "SO3", "SO3", "SO5"],
        artists=["The Beatles", "Björk", "Daft Punk", "daft punk ", "Nobody Plays This"],
        titles=["Let It Be", "Jóga", "One More Time", "ONE MORE TIME", "Unheard"],
    )
    artists = Artists(np.array([1, 2, 3, 4, 5], np.int32),
                      StrColumn(pa.array(["the beatles", "BJÖRK", "Daft Punk", "Daft  Punk", "The Beatles"])))
    tracks = Tracks(
        ids=np.array([10, 11, 12, 13, 14, 15, 16, 17, 30], np.int32),
        names=StrColumn(pa.array(["let it be", "LET IT BE ", "Jóga", "one more time", "Around the World",
                                  "Let It Be", "", "jóga", "Let it be"])),
        artist_ids=np.array([1, 1, 2, 3, 3, 5, 1, 4, 99], np.int32),
    )
    return tracks, artists, msd


def test_normalise() -> None:
    assert normalise("  Straße ") == "strasse" and normalise("BJÖRK") == "björk"


def test_match_merges_duplicates_and_case_variants() -> None:
    tracks, artists, msd = world()
    m = match_lfm1b_to_msd(tracks, artists, msd, progress=False)
    lut = m.lfm_track_to_item
    # items in MSD file order: (the beatles, let it be), (björk, jóga), (daft punk, one more time)
    assert m.item_keys == [("the beatles", "let it be"), ("björk", "jóga"), ("daft punk", "one more time")]
    # 10, 11 (same artist, case/space variants) and 15 (another artist id, same name) merge
    assert lut[10] == lut[11] == lut[15] == 0
    assert lut[12] == 1 and lut[13] == 2
    # "Around the World" is not in the MSD; the empty title, "Daft  Punk" (two spaces) and an
    # unknown artist id never match
    assert lut[14] == lut[16] == lut[17] == -1 and len(lut) == 31 and lut[30] == -1
    assert m.item_msd_track_ids == [["TR1"], ["TR2"], ["TR3", "TR4"]]
    assert m.msd_track_to_item == {"TR1": 0, "TR2": 1, "TR3": 2, "TR4": 2}
    assert (m.n_lfm_matched, m.n_lfm_tracks, m.n_msd_matched, m.n_msd_tracks) == (5, 9, 4, 5)
    assert m.lfm_match_rate == pytest.approx(5 / 9) and m.msd_match_rate == pytest.approx(0.8)
    assert m.msd_track_id(2) == "TR3" and "80.0%" in m.summary()


def test_match_without_merge_and_with_extra_tracks() -> None:
    tracks, artists, msd = world()
    m = match_lfm1b_to_msd(tracks, artists, msd, merge_duplicates=False, progress=False)
    lut = m.lfm_track_to_item
    assert len({lut[10], lut[11], lut[15]}) == 3 and m.n_items == 5
    assert m.msd_track_to_item["TR1"] == lut[10]  # the lowest LFM id carries the MSD tracks
    extra = match_lfm1b_to_msd(tracks, artists, msd, extra_lfm_track_ids=[14, 16, 17, 10, 999],
                               progress=False)
    elut = extra.lfm_track_to_item
    assert extra.n_items == 6 and elut[10] == 0  # already matched: unchanged
    assert extra.item_keys[elut[14]] == ("daft punk", "around the world")
    assert extra.item_msd_track_ids[elut[14]] == [] and elut[17] not in (-1, elut[12])
    assert elut[16] >= 3  # an empty title still becomes its own extra item
    assert extra.n_msd_matched == 4


def write_events(path: Path, rows: list[tuple[int, int, int, int, int]]) -> Path:
    path.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def dense_counts(inter) -> dict[tuple[int, int], float]:
    coo = inter.matrix.tocoo()
    return {(int(inter.user_ids[r]), int(c)): float(v) for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)}


def test_build_interactions_matches_brute_force(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    users = np.repeat(rng.choice(10**6, 40, replace=False), rng.integers(1, 400, 40))
    tracks = rng.integers(0, 300, len(users))
    rows = [(int(u), 1, 2, int(t), 1_400_000_000 - i) for i, (u, t) in enumerate(zip(users, tracks, strict=True))]
    path = write_events(tmp_path / "les.txt", rows)
    mapping = {t: t // 3 for t in range(0, 250)}  # 3 tracks per item; tracks >= 250 are not items
    bad = BadRows()
    inter = build_interactions(path, mapping, bad, chunk_rows=200, progress=False)
    expected = Counter((int(u), int(t) // 3) for u, t in zip(users, tracks, strict=True) if t < 250)
    assert dense_counts(inter) == {k: float(v) for k, v in expected.items()}
    assert inter.matrix.shape == (len({u for u, _ in expected}), 84) and inter.matrix.dtype == np.float32
    assert inter.n_events == len(rows) and inter.n_counted == sum(expected.values())
    first_seen = list(dict.fromkeys(int(u) for u, t in zip(users, tracks, strict=True) if t < 250))
    assert inter.user_ids.tolist() == first_seen and bad.count == 0
    assert inter.item_ids.tolist() == list(range(84))


def test_interactions_small_merges_and_shuffled_users() -> None:
    rng = np.random.default_rng(2)
    n = 30_000
    users, tracks = rng.integers(0, 50, n), rng.integers(0, 2_000, n)
    chunks = [_chunk(users[i:i + 1000], tracks[i:i + 1000]) for i in range(0, n, 1000)]
    lut = np.arange(2_000, dtype=np.int32) % 700
    counter = PairCounter(min_merge=500)  # forces many merges
    idx = IdIndexer()
    for c in chunks:
        counter.add(idx(c.user_id), lut[c.track_id])
    m = counter.to_csr(idx.n, 700)
    expected = Counter((int(u), int(t) % 700) for u, t in zip(users, tracks, strict=True))
    got = {(int(idx.ids[r]), int(c)): v for r, c, v in zip(*m.nonzero(), m.data, strict=True)}
    assert got == {k: float(v) for k, v in expected.items()} and m.has_sorted_indices
    inter = interactions_from_chunks(chunks, lut)
    assert inter.matrix.sum() == n and (inter.matrix != m).nnz == 0
    empty = PairCounter().to_csr(2, 3)
    assert empty.shape == (2, 3) and empty.nnz == 0 and empty.indptr.tolist() == [0, 0, 0]


def _chunk(users: np.ndarray, tracks: np.ndarray):
    from trainer.data.lfm1b import EventsChunk
    z = np.zeros(len(users), np.int32)
    return EventsChunk(users.astype(np.int32), z, z, tracks.astype(np.int32), z.astype(np.int64), 1)


def test_id_indexer_dense_and_dict_fallback() -> None:
    dense = IdIndexer()
    assert dense(np.array([7, 3, 7, 5])).tolist() == [0, 1, 0, 2]
    assert dense(np.array([5, 100, 3])).tolist() == [2, 3, 1] and dense.ids.tolist() == [7, 3, 5, 100]
    small = IdIndexer(dense_limit=10)
    assert small(np.array([4, 2, 4])).tolist() == [0, 1, 0]
    assert small(np.array([2**40, 2, 2**40, 9])).tolist() == [2, 1, 2, 3]
    assert small.ids.tolist() == [4, 2, 2**40, 9]


def test_lookup_edges() -> None:
    lut = dense_lookup({5: 0, 2: 1})
    assert lut.tolist() == [-1, -1, 1, -1, -1, 0]
    chunk = _chunk(np.array([1, 1, 2]), np.array([5, 10**6, 2]))  # a track id past the lookup
    inter = interactions_from_chunks([chunk], lut)
    assert inter.matrix.toarray().tolist() == [[1.0, 0.0], [0.0, 1.0]] and inter.n_counted == 2
    with pytest.raises(ValueError, match="does not fit"):
        interactions_from_chunks([chunk], lut, n_items=1)


@pytest.mark.skipif(not LES_SAMPLE.exists(), reason=f"real LFM-1b sample absent: {LES_SAMPLE}")
def test_real_sample_identity_items() -> None:
    chunks = list(iter_events(LES_SAMPLE, BadRows(), progress=False))
    tracks = np.concatenate([c.track_id for c in chunks])
    users = np.concatenate([c.user_id for c in chunks])
    lut = np.full(int(tracks.max()) + 1, -1, np.int32)
    distinct = np.unique(tracks)
    lut[distinct] = np.arange(len(distinct))
    inter = build_interactions(LES_SAMPLE, lut, progress=False)
    assert inter.matrix.shape == (3, 2_277) and inter.matrix.sum() == 10_000
    assert inter.matrix.nnz == len(set(zip(users.tolist(), tracks.tolist(), strict=True)))
    plays = track_play_counts(LES_SAMPLE, progress=False)
    assert plays.sum() == 10_000 and np.count_nonzero(plays) == 2_277


def test_triplet_interactions(tmp_path: Path) -> None:
    p = tmp_path / "triplets.txt"
    p.write_text("u1\tSOA\t3\nu1\tSOB\t1\nu2\tSOA\t2\nu2\tSOC\t4\nu3\tSOC\t1\nu1\tSOA\t2\nbad line\n")
    bad = BadRows()
    inter = build_triplet_interactions(p, bad=bad, progress=False)
    assert inter.user_ids.tolist() == ["u1", "u2", "u3"] and inter.item_ids.tolist() == ["SOA", "SOB", "SOC"]
    assert inter.matrix.toarray().tolist() == [[5, 1, 0], [2, 0, 4], [0, 0, 1]] and bad.count == 1
    mapped = build_triplet_interactions(p, {"SOA": 1, "SOC": 1}, progress=False)
    assert mapped.matrix.toarray().tolist() == [[0, 5], [0, 6], [0, 1]]
    assert mapped.user_ids.tolist() == ["u1", "u2", "u3"] and mapped.n_counted == 12 and mapped.n_events == 13
    chunk = TripletsChunk(StrColumn(pa.array(["x", "y"])), StrColumn(pa.array(["SOB", "SOZ"])),
                          np.array([2, 9], np.int32), 1)
    only = triplet_interactions_from_chunks([chunk], {"SOB": 0})
    assert only.user_ids.tolist() == ["x"] and only.matrix.toarray().tolist() == [[2]]


def test_interactions_check_only_the_fields_they_use(tmp_path: Path) -> None:
    path = tmp_path / "les.txt"
    path.write_text("1\t2\t3\t4\t5\n1\tx\t3\t4\t5\n1\t2\t3\ty\t5\n1\t2\t3\n2\t2\t3\t4\t\n")
    bad = BadRows()
    inter = build_interactions(path, {4: 0}, bad, progress=False)
    # artist "x" and an empty timestamp do not matter for play counts; bad track / column count do
    assert inter.matrix.toarray().tolist() == [[2.0], [1.0]] and bad.lines_for(path) == [3, 4]
    full = BadRows()
    assert sum(len(c) for c in iter_events(path, full, progress=False)) == 1
    assert full.lines_for(path) == [2, 3, 4, 5]
    with pytest.raises(ValueError, match="subset"):
        next(iter_events(path, columns=("nope",)))
