"""Playlists and paths over a real Annoy index and in-memory sources built from numpy vectors."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.errors import CbrecError, TrackNotFound
from core.index import VectorIndex
from core.playlist import (
    NEAR_DUPLICATE,
    SAME_LENGTH,
    Playlist,
    make_path,
    make_playlist,
    slerp,
)
from core.types import Track

DIM = 16


class FakeLibrary:
    """VectorSource + TrackSource over a list of tracks and their (n, dim) vectors."""

    def __init__(self, tracks: list[Track], vecs: np.ndarray) -> None:
        self.tracks = {t.id: t for t in tracks}
        self.rows = {t.id: i for i, t in enumerate(tracks)}
        self.vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
        self.calls = Counter()

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        self.calls["vectors"] += 1
        return self.vecs[[self.rows[i] for i in ids]]

    def tracks_by_id(self, ids: Sequence[int]) -> dict[int, Track]:
        self.calls["tracks_by_id"] += 1
        return {i: self.tracks[i] for i in ids if i in self.tracks}

    def vec(self, track_id: int) -> np.ndarray:
        return self.vecs[self.rows[track_id]]


SEED, DUP_CASE, DUP_NEAR, PROLIFIC_SEED, UNKNOWN_SEED = 1000, 1001, 1002, 2000, 3000


def build_library(seed: int = 0) -> tuple[list[Track], np.ndarray]:
    """8 clusters of 30 tracks, plus: a seed with a case-variant duplicate (same artist+title,
    close vector) and a near-identical recording (other tags, same length), 40 tracks by one
    artist in one tight cluster, 12 tracks with no artist. Lengths are distinct (1 s apart)
    unless said otherwise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, DIM))
    tracks, vecs = [], []

    def add(track: Track, centre: int, noise: float) -> None:
        tracks.append(replace(track, duration=100.0 + len(tracks)))
        vecs.append(centres[centre] + noise * rng.standard_normal(DIM))

    for c in range(8):
        for k in range(30):
            add(Track(c * 100 + k, f"/m/{c}/{k}.mp3", f"Song {c}-{k}", f"Artist {c}-{k % 6}"), c, 0.35)
    add(Track(SEED, "/m/seed.mp3", "Hello World", "The Band"), 0, 0.2)
    tracks.append(Track(DUP_CASE, "/m/dup.mp3", "HELLO WORLD ", "the band"))
    vecs.append(vecs[-1] + 0.12 * rng.standard_normal(DIM))
    tracks.append(Track(DUP_NEAR, "/m/near.mp3", "Other name", "Other artist", duration=tracks[-2].duration + 0.02))
    vecs.append(vecs[-2] + 0.001 * rng.standard_normal(DIM))
    for k in range(40):
        artist = ["Prolific", "PROLIFIC", "prolific "][k % 3]
        add(Track(PROLIFIC_SEED + k, f"/m/p/{k}.mp3", f"P {k}", artist), 8, 0.15)
    for k in range(12):
        add(Track(UNKNOWN_SEED + k, f"/m/u/{k}.mp3", "Track 01", None), 9, 0.2)
    return tracks, np.asarray(vecs, dtype=np.float32)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeLibrary, VectorIndex]:
    tracks, vecs = build_library()
    lib = FakeLibrary(tracks, vecs)
    path = tmp_path_factory.mktemp("pl") / "v.ann"
    index = VectorIndex.build(path, np.asarray([t.id for t in tracks]), lib.vecs, stamp="t")
    return lib, index


def song_key(t: Track) -> tuple[str, str] | None:
    return (t.artist.strip().casefold(), t.title.strip().casefold()) if t.artist else None


def assert_no_duplicates(lib: FakeLibrary, ids: list[int]) -> None:
    assert len(set(ids)) == len(ids)
    keys = [song_key(lib.tracks[i]) for i in ids if song_key(lib.tracks[i])]
    assert len(set(keys)) == len(keys)
    for k, i in enumerate(ids):
        assert not any(same_recording(lib, i, j) for j in ids[:k])


def same_recording(lib: FakeLibrary, a: int, b: int) -> bool:
    la, lb = lib.tracks[a].duration, lib.tracks[b].duration
    return (la is not None and lb is not None and abs(la - lb) < SAME_LENGTH
            and float(lib.vec(a) @ lib.vec(b)) > NEAR_DUPLICATE)


def group(t: Track) -> str:
    """Whom the artist cap counts a track under: artist, else album artist, else folder."""
    return ((t.artist or "").strip().casefold() or "aa:" + (t.album_artist or "").strip().casefold()
            if (t.artist or t.album_artist) else "dir:" + str(Path(t.path).parent))


def admissible(lib: FakeLibrary, chosen: list[int], t: Track, cap: int | None) -> bool:
    """The playlist rules, restated naively."""
    if t.id in chosen or (song_key(t) and song_key(t) in {song_key(lib.tracks[i]) for i in chosen}):
        return False
    if cap and sum(group(lib.tracks[i]) == group(t) for i in chosen) >= cap:
        return False
    return not any(same_recording(lib, i, t.id) for i in chosen)


def expected_choice(lib: FakeLibrary, seeds: list[int], want: int, cap: int | None) -> set[int]:
    """Brute force over the whole library: seeds take turns picking their most similar track."""
    chosen = list(seeds)
    while len(chosen) < len(seeds) + want:
        before = len(chosen)
        for s in seeds:
            ranked = sorted(lib.tracks, key=lambda i: (-float(lib.vec(i) @ lib.vec(s)), i))
            pick = next((i for i in ranked if admissible(lib, chosen, lib.tracks[i], cap)), None)
            if pick is not None and len(chosen) < len(seeds) + want:
                chosen.append(pick)
        if len(chosen) == before:
            break
    return set(chosen[len(seeds):])


def test_length_seeds_first_and_scores(world: tuple[FakeLibrary, VectorIndex]) -> None:
    lib, index = world
    result = make_playlist([SEED], index, lib, lib, length=25)
    assert len(result) == 25 and result[0] == (SEED, 1.0)
    ids = [i for i, _ in result]
    assert_no_duplicates(lib, ids)
    assert DUP_CASE not in ids and DUP_NEAR not in ids                  # both were top neighbours
    for i, score in result[1:]:
        assert score == pytest.approx(float(lib.vec(i) @ lib.vec(SEED)), abs=1e-5)
    assert set(ids[1:]) == expected_choice(lib, [SEED], 24, None)
    assert lib.calls["tracks_by_id"] <= 2 and lib.calls["vectors"] <= 2   # batched, no per-track calls


def test_a_close_vector_alone_is_not_a_duplicate(tmp_path: Path) -> None:
    """Different tracks can be nearly parallel (half the dev corpus has a neighbour above cosine 0.995
    with the bundled model): they stay in, unless their lengths also match (a copy of the seed)."""
    rng = np.random.default_rng(5)
    base = rng.standard_normal(DIM)
    tracks = [Track(1, "/m/seed.flac", "Seed", "A", duration=200.0),
              Track(2, "/m/other.ogg", "Other", "B", duration=187.0),        # another song, a near-parallel vector
              Track(3, "/m/untimed.ogg", "Untimed", "C"),                    # length unknown
              Track(4, "/m/copy.mp3", "Copy", "D", duration=200.02)]         # the seed re-encoded, retagged
    vecs = np.stack([base, base + 0.01 * rng.standard_normal(DIM), base + 0.01 * rng.standard_normal(DIM),
                     base + 0.01 * rng.standard_normal(DIM)] + [rng.standard_normal(DIM) for _ in range(20)])
    tracks += [Track(10 + k, f"/m/{k}.ogg", f"T{k}", f"E{k}", duration=100.0 + k) for k in range(20)]
    lib = FakeLibrary(tracks, vecs)
    assert min(float(lib.vec(1) @ lib.vec(i)) for i in (2, 3, 4)) > 0.999
    index = VectorIndex.build(tmp_path / "v.ann", np.asarray([t.id for t in tracks]), lib.vecs, stamp="t")
    ids = [i for i, _ in make_playlist([1], index, lib, lib, length=5)]
    assert ids[0] == 1 and {2, 3} <= set(ids) and 4 not in ids


def test_several_seeds_keep_order(world: tuple[FakeLibrary, VectorIndex]) -> None:
    lib, index = world
    seeds = [505, 12, 207]
    result = make_playlist(seeds, index, lib, lib, length=20)
    ids = [i for i, _ in result]
    assert ids[:3] == seeds and [s for _, s in result[:3]] == [1.0] * 3
    assert len(ids) == 20
    assert_no_duplicates(lib, ids)
    assert set(ids[3:]) == expected_choice(lib, seeds, 17, None)
    clusters = Counter(i // 100 for i in ids[3:])
    assert min(clusters[0], clusters[2], clusters[5]) >= 5             # an even mix of the seeds
    s = np.stack([lib.vec(i) for i in seeds])
    for i, score in result[3:]:
        assert score == pytest.approx(float((s @ lib.vec(i)).max()), abs=1e-5)


def test_per_artist_cap(world: tuple[FakeLibrary, VectorIndex]) -> None:
    lib, index = world
    free = make_playlist([PROLIFIC_SEED], index, lib, lib, length=15)
    assert sum(lib.tracks[i].artist.strip().casefold() == "prolific" for i, _ in free) > 2
    capped = make_playlist([PROLIFIC_SEED], index, lib, lib, length=15, max_per_artist=2)
    ids = [i for i, _ in capped]
    assert len(ids) == 15                                               # the pool grew past the artist
    per_artist = Counter(lib.tracks[i].artist.strip().casefold() for i in ids)
    assert per_artist.most_common(1)[0][1] <= 2 and per_artist["prolific"] == 2   # seed counts
    assert set(ids[1:]) == expected_choice(lib, [PROLIFIC_SEED], 14, 2)


def test_unknown_artist_not_title_deduplicated(world: tuple[FakeLibrary, VectorIndex]) -> None:
    lib, index = world
    result = make_playlist([UNKNOWN_SEED], index, lib, lib, length=10)
    unknown = [i for i, _ in result if lib.tracks[i].artist is None]
    assert len(unknown) > 5                                             # all titled "Track 01"


def test_untagged_files_capped_by_album_artist_then_folder(world: tuple[FakeLibrary, VectorIndex]) -> None:
    """Issue 9.16: ``max_per_artist`` held 10 of 25 tracks from one untagged folder."""
    lib, index = world
    capped = make_playlist([UNKNOWN_SEED], index, lib, lib, length=10, max_per_artist=2)
    ids = [i for i, _ in capped]
    assert sum(lib.tracks[i].path.startswith("/m/u/") for i in ids) == 2     # one folder, the seed counts
    assert set(ids[1:]) == expected_choice(lib, [UNKNOWN_SEED], 9, 2)
    # an album artist groups untagged files across folders; the folder groups only what has neither
    tracks = [replace(t, album_artist="Various" if t.id >= UNKNOWN_SEED + 6 else None, path=f"/x/{t.id}/a.mp3")
              if t.id >= UNKNOWN_SEED else t for t in lib.tracks.values()]
    other = FakeLibrary(tracks, np.stack([lib.vec(t.id) for t in tracks]))
    ids = [i for i, _ in make_playlist([UNKNOWN_SEED + 6], index, other, other, length=12, max_per_artist=3)]
    untagged = [other.tracks[i] for i in ids if i >= UNKNOWN_SEED]
    assert sum(t.album_artist == "Various" for t in untagged) == 3
    assert sum(t.album_artist is None for t in untagged) == 6                # each in a folder of its own


def test_deterministic(world: tuple[FakeLibrary, VectorIndex], tmp_path: Path) -> None:
    lib, index = world
    first = make_playlist([SEED, 305], index, lib, lib, length=25, max_per_artist=3)
    again = make_playlist([SEED, 305], index, lib, lib, length=25, max_per_artist=3)
    rebuilt = VectorIndex.build(tmp_path / "r.ann", index.ids, lib.vecs[[lib.rows[i] for i in index.ids]])
    assert first == again == make_playlist([SEED, 305], rebuilt, lib, lib, length=25, max_per_artist=3)


def test_flow_order_is_greedy_chain(world: tuple[FakeLibrary, VectorIndex]) -> None:
    lib, index = world
    ids = [i for i, _ in make_playlist([SEED, 412], index, lib, lib, length=25)]
    previous, remaining = ids[1], list(ids[2:])
    for current in ids[2:]:
        sims = {r: float(lib.vec(previous) @ lib.vec(r)) for r in remaining}
        best = max(sims.values())
        assert sims[current] == pytest.approx(best, abs=1e-6)
        assert current == min(r for r in remaining if sims[r] >= best - 1e-6)
        remaining.remove(current)
        previous = current


def test_small_library(tmp_path: Path) -> None:
    tracks, vecs = build_library()
    keep = [k for k, t in enumerate(tracks) if t.id in (0, 1, 2, 100, 101)]
    lib = FakeLibrary([tracks[k] for k in keep], vecs[keep])
    index = VectorIndex.build(tmp_path / "s.ann", np.asarray([tracks[k].id for k in keep]), lib.vecs)
    result = make_playlist([0], index, lib, lib, length=25)
    assert sorted(i for i, _ in result) == [0, 1, 2, 100, 101] and result[0][0] == 0
    assert make_playlist([0, 1], index, lib, lib, length=1) == [(0, 1.0), (1, 1.0)]
    path = make_path(0, 101, index, lib, lib, length=10)
    assert path[0][0] == 0 and path[-1][0] == 101 and len(path) == 5


def test_index_with_stale_ids_is_tolerated(tmp_path: Path) -> None:
    """Tracks removed from the store since the index was built are skipped, not fatal."""
    tracks, vecs = build_library()
    index = VectorIndex.build(tmp_path / "x.ann", np.asarray([t.id for t in tracks]), vecs)
    lib = FakeLibrary(tracks[::2], vecs[::2])
    ids = [i for i, _ in make_playlist([0], index, lib, lib, length=25)]
    assert len(ids) == 25 and all(i in lib.tracks for i in ids)


def test_errors(world: tuple[FakeLibrary, VectorIndex]) -> None:
    lib, index = world
    with pytest.raises(CbrecError):
        make_playlist([], index, lib, lib)
    with pytest.raises(TrackNotFound):
        make_playlist([999_999], index, lib, lib)
    with pytest.raises(CbrecError):
        make_path(SEED, SEED, index, lib, lib)
    with pytest.raises(ValueError):
        make_path(SEED, 5, index, lib, lib, length=1)
    with pytest.raises(ValueError):
        make_playlist([SEED], index, lib, lib, max_per_artist=0)


def test_path_goes_from_a_to_b(world: tuple[FakeLibrary, VectorIndex]) -> None:
    lib, index = world
    a, b = 3, 705
    path = make_path(a, b, index, lib, lib, length=12)
    ids = [i for i, _ in path]
    assert len(ids) == 12 and ids[0] == a and ids[-1] == b
    assert path[0][1] == path[-1][1] == 1.0
    assert_no_duplicates(lib, ids)
    to_b = np.asarray([float(lib.vec(i) @ lib.vec(b)) for i in ids])
    to_a = np.asarray([float(lib.vec(i) @ lib.vec(a)) for i in ids])
    assert np.mean(np.diff(to_b)) > 0 and np.mean(np.diff(to_a)) < 0
    assert np.corrcoef(np.arange(12), to_b)[0, 1] > 0.8
    assert path == make_path(a, b, index, lib, lib, length=12)


def test_path_respects_artist_cap(world: tuple[FakeLibrary, VectorIndex]) -> None:
    lib, index = world
    path = make_path(PROLIFIC_SEED, PROLIFIC_SEED + 1, index, lib, lib, length=8, max_per_artist=2)
    ids = [i for i, _ in path]
    assert ids[0] == PROLIFIC_SEED and ids[-1] == PROLIFIC_SEED + 1 and len(ids) == 8
    assert sum(lib.tracks[i].artist.strip().casefold() == "prolific" for i in ids) == 2


def test_slerp() -> None:
    rng = np.random.default_rng(1)
    a, b = (v / np.linalg.norm(v) for v in rng.standard_normal((2, DIM)))
    pts = slerp(a, b, np.linspace(0, 1, 6))
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(pts[0], a, atol=1e-6)
    np.testing.assert_allclose(pts[-1], b, atol=1e-6)
    steps = np.einsum("ij,ij->i", pts[:-1], pts[1:])
    np.testing.assert_allclose(steps, steps[0], atol=1e-6)               # equal angles
    opposite = slerp(a, -a, np.asarray([0.5]))
    assert abs(float(opposite[0] @ a)) < 1e-6 and np.isfinite(opposite).all()


def test_playlist_object_writes_by_suffix(tmp_path: Path) -> None:
    tracks = [Track(1, "/m/a b.mp3", "A", "X", duration=61.2), Track(2, "/m/c.mp3", "C")]
    pl = Playlist(tracks, [1.0, 0.8], name="Mix", seeds=tracks[:1])
    assert len(pl) == 2 and list(pl) == tracks and pl.hits()[1].score == 0.8
    out = pl.write(tmp_path / "mix.m3u8")
    assert out.read_text("utf-8").splitlines()[1:3] == ["#EXTINF:61,X - A", "/m/a b.mp3"]
    assert pl.write(str(tmp_path / "mix.xspf")).read_bytes().startswith(b"<?xml")
    with pytest.raises(CbrecError, match=r"\.txt"):
        pl.write(tmp_path / "mix.txt")
