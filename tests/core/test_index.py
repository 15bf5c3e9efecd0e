"""VectorIndex on real Annoy files: round trip vs. brute force, atomic builds, corruption."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import core.index as index_mod
from core.index import IndexUnavailable, VectorIndex, open_index, sidecar_path

DIM = 24


def clustered(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """(n, dim) float32 unit vectors around 20 random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim))
    x = centres[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def track_ids(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * 7 + 3          # not 0..n-1: the mapping matters


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    path = tmp_path / "idx" / "vectors.ann"
    ids, vecs = track_ids(1500), clustered(1500)
    VectorIndex.build(path, ids, vecs, stamp="v1")
    return path, ids, vecs


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_round_trip_matches_brute_force(built: tuple[Path, np.ndarray, np.ndarray]) -> None:
    path, ids, vecs = built
    index = VectorIndex.load(path, DIM, "v1")
    assert len(index) == 1500 and index.dim == DIM and index.ids.dtype == np.int64
    queries = clustered(50, seed=1)
    recall = 0.0
    for q in queries:
        got_ids, got_scores = index.query(q, 10)
        assert got_ids.dtype == np.int64 and got_scores.dtype == np.float32
        assert np.all(np.diff(got_scores) <= 1e-6)                      # best first
        exact = vecs @ q
        truth = ids[np.argsort(-exact)[:10]]
        recall += len(set(got_ids.tolist()) & set(truth.tolist())) / 10
        rows = (got_ids - 3) // 7
        np.testing.assert_allclose(got_scores, exact[rows], atol=1e-4)  # cosine, not distance
    assert recall / len(queries) >= 0.95


def test_query_own_vector_finds_itself(built: tuple[Path, np.ndarray, np.ndarray]) -> None:
    path, ids, vecs = built
    index = VectorIndex.load(path, DIM)
    got, scores = index.query(vecs[42], 1)
    assert got.tolist() == [ids[42]] and scores[0] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError):
        index.query(vecs[42][:5], 3)
    assert len(index.query(vecs[0], 0)[0]) == 0


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_indexes(tmp_path: Path, n: int) -> None:
    path = tmp_path / "tiny.ann"
    VectorIndex.build(path, track_ids(n), clustered(n) if n else np.empty((0, DIM), np.float32), stamp="s")
    index = VectorIndex.load(path, DIM, "s")
    got, scores = index.query(clustered(1, seed=5)[0], 5)
    assert len(index) == n and got.tolist() == track_ids(n).tolist() and len(scores) == n


def test_build_is_reproducible(tmp_path: Path) -> None:
    ids, vecs = track_ids(300), clustered(300)
    VectorIndex.build(tmp_path / "a.ann", ids, vecs)
    VectorIndex.build(tmp_path / "b.ann", ids, vecs)
    assert (tmp_path / "a.ann").read_bytes() == (tmp_path / "b.ann").read_bytes()


def test_load_refuses_wrong_dim_stamp_and_missing(built: tuple[Path, np.ndarray, np.ndarray]) -> None:
    path, _, _ = built
    with pytest.raises(IndexUnavailable, match="dimension"):
        VectorIndex.load(path, DIM + 1, "v1")
    with pytest.raises(IndexUnavailable, match="stale"):
        VectorIndex.load(path, DIM, "v2")
    with pytest.raises(IndexUnavailable):
        VectorIndex.load(path.with_name("other.ann"), DIM)


def test_invalid_input_leaves_old_index(built: tuple[Path, np.ndarray, np.ndarray]) -> None:
    path, ids, vecs = built
    before = path.read_bytes()
    bad = vecs.copy()
    bad[10, 3] = np.nan
    with pytest.raises(ValueError):
        VectorIndex.build(path, ids, bad, stamp="v2")
    with pytest.raises(ValueError):
        VectorIndex.build(path, ids[:5], vecs, stamp="v2")
    assert path.read_bytes() == before
    assert VectorIndex.load(path, DIM, "v1").query(vecs[0], 1)[0][0] == ids[0]


def test_failure_midway_keeps_old_index(built: tuple[Path, np.ndarray, np.ndarray],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The new .ann is already written to its temporary name when writing the sidecar fails."""
    path, ids, vecs = built

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_mod, "_write_sidecar", fail)
    with pytest.raises(OSError):
        VectorIndex.build(path, ids[:100], clustered(100, seed=9), stamp="v2")
    index = VectorIndex.load(path, DIM, "v1")
    assert len(index) == 1500 and index.query(vecs[7], 1)[0][0] == ids[7]
    assert leftovers(path.parent) == []


def _corrupt_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for k in range(len(data) // 3, len(data) // 3 + 64):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))


def _corrupt_garbage_same_size(path: Path) -> None:
    path.write_bytes(np.random.default_rng(3).bytes(path.stat().st_size))


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"not an annoy index at all")


def _corrupt_empty(path: Path) -> None:
    path.write_bytes(b"")


def _remove_ann(path: Path) -> None:
    path.unlink()


def _remove_sidecar(path: Path) -> None:
    sidecar_path(path).unlink()


def _garbage_sidecar(path: Path) -> None:
    sidecar_path(path).write_bytes(b"PK\x03\x04 garbage")


def _truncate_sidecar(path: Path) -> None:
    side = sidecar_path(path)
    side.write_bytes(side.read_bytes()[:200])


CORRUPTIONS = [_corrupt_truncate, _corrupt_flip, _corrupt_garbage_same_size, _corrupt_garbage,
               _corrupt_empty, _remove_ann, _remove_sidecar, _garbage_sidecar, _truncate_sidecar]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__.strip("_"))
def test_open_index_rebuilds_bad_files(built: tuple[Path, np.ndarray, np.ndarray], corrupt) -> None:
    path, ids, vecs = built
    corrupt(path)
    with pytest.raises(IndexUnavailable):
        VectorIndex.load(path, DIM, "v1")
    calls = []

    def load_vectors() -> tuple[np.ndarray, np.ndarray]:
        calls.append(1)
        return ids, vecs

    index = open_index(path, DIM, "v1", load_vectors)
    assert calls == [1] and len(index) == 1500
    assert index.query(vecs[3], 1)[0][0] == ids[3]
    assert VectorIndex.load(path, DIM, "v1").stamp == "v1"             # the rebuild was written
    assert leftovers(path.parent) == []


def test_open_index_keeps_valid_and_rebuilds_stale(built: tuple[Path, np.ndarray, np.ndarray]) -> None:
    path, ids, vecs = built
    new_ids, new_vecs = track_ids(200), clustered(200, seed=4)
    calls = []

    def load_vectors() -> tuple[np.ndarray, np.ndarray]:
        calls.append(1)
        return new_ids, new_vecs

    assert len(open_index(path, DIM, "v1", load_vectors)) == 1500 and calls == []
    index = open_index(path, DIM, "v2", load_vectors)
    assert calls == [1] and len(index) == 200 and index.stamp == "v2"
    assert index.query(new_vecs[5], 1)[0][0] == new_ids[5]


def test_open_index_falls_back_to_memory_when_unwritable(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ids, vecs = track_ids(100), clustered(100)

    def refuse(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    index = open_index(tmp_path / "ro.ann", DIM, "v1", lambda: (ids, vecs))
    assert index.path is None and index.query(vecs[9], 1)[0][0] == ids[9]
    assert leftovers(tmp_path) == []
