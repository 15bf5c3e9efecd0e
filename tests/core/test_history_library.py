"""Listening history on a real scanned library (real audio, SQLite, Annoy, the test CNN): the taste
vector, ``lib.for_you``, plays recorded by the app, and the ``cbrec-lib`` history commands."""
from __future__ import annotations

import time

import numpy as np
import pytest

from core import Library
from core.cli import main as cli_main
from core.errors import CbrecError
from core.history import counts_as_play
from core.history.mix import rank_and_pick
from core.history.taste import confidence, solve_clusters, solve_user
from core.types import Track
from tests.core.conftest import MUSIC

HEADER = "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, music_template, test_model):
    """One scanned library shared by the read-only tests (its folder, model and data folder)."""
    root = tmp_path_factory.mktemp("hist")
    with Library.open(root / "lib", test_model, device="cpu", workers=2) as lib:
        report = lib.scan([music_template])
        assert not report.failed
    return root / "lib", test_model, music_template


@pytest.fixture
def lib(scanned, tmp_path):
    import shutil

    data, model, _ = scanned
    shutil.copytree(data, tmp_path / "lib")
    with Library.open(tmp_path / "lib", model, device="cpu", workers=1) as library:
        yield library


def _scrobbles(path, plays: list[tuple[str, str, int]]) -> None:
    """A Last.fm CSV: ``(artist, title, times)``, one row per play, a minute apart."""
    rows, t = [], 1_700_000_000
    for artist, title, times in plays:
        for _ in range(times):
            rows.append(f'{t},"x",{artist},,,,{title},\n')
            t += 60
    path.write_text(HEADER + "".join(rows), encoding="utf-8")


# ------------------------------------------------------------------------------- the maths
def test_one_step_user_solve_equals_the_weighted_ridge_solution():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(40, 6))
    played, counts = np.array([2, 5, 5, 11]), np.array([3.0, 1.0, 2.0, 40.0])
    x = solve_user(y, played, counts, alpha=2.0, epsilon=0.5, regularization=0.7)
    # brute force: minimise Σ c_i (p_i - x·y_i)² + λ|x|² over all 40 items
    c, p = np.ones(40), np.zeros(40)
    c[[2, 5, 11]] = confidence(np.array([3.0, 3.0, 40.0]), 2.0, 0.5)
    p[[2, 5, 11]] = 1.0
    w = np.sqrt(c)
    a = np.vstack([y * w[:, None], np.sqrt(0.7) * np.eye(6)])
    expected = np.linalg.lstsq(a, np.concatenate([w * p, np.zeros(6)]), rcond=None)[0]
    assert np.allclose(x, expected, atol=1e-8)
    assert confidence(np.array([0.0]))[0] == 1.0
    assert np.allclose(solve_user(y, np.array([], np.int64), np.array([])), 0.0)


def test_confidence_is_the_trainers_wmf_transform():
    import scipy.sparse as sp

    from core.history import taste
    from trainer.wmf import WMFParams
    from trainer.wmf import confidence as trainer_confidence

    counts = np.array([1.0, 2.0, 7.0, 300.0])
    defaults = WMFParams()
    assert (taste.ALPHA, taste.EPSILON) == (defaults.alpha, defaults.epsilon)
    expected = trainer_confidence(sp.csr_matrix(counts[None]), defaults.alpha, defaults.epsilon).toarray()[0]
    assert np.allclose(confidence(counts), expected)


def _cluster_library(n_per: int = 20, dim: int = 16):
    """Two tight clusters of unit vectors (A ids 0.., B ids 100..) and their tracks."""
    rng = np.random.default_rng(0)
    centre_a, centre_b = np.eye(dim)[0], np.eye(dim)[1]
    vecs = np.vstack([centre + 0.2 * rng.normal(size=(n_per, dim)) for centre in (centre_a, centre_b)])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.concatenate([np.arange(n_per), 100 + np.arange(n_per)]).astype(np.int64)
    tracks = {int(i): Track(int(i), f"/m/{i}.flac", f"Song {i}", artist=f"Artist {int(i) % 7}"
                            + ("A" if i < 100 else "B"), duration=100.0 + i) for i in ids}
    return ids, vecs.astype(np.float32), tracks


class _Tracks:
    def __init__(self, tracks):
        self.tracks = tracks

    def tracks_by_id(self, ids):
        return {int(i): self.tracks[int(i)] for i in ids if int(i) in self.tracks}


def test_taste_ranks_the_listened_cluster_first_under_the_rules():
    ids, vecs, tracks = _cluster_library()
    played_rows = np.array([0, 1, 2, 3, 20])          # four A tracks, one B track once
    x = solve_user(vecs, played_rows, np.array([10.0, 8.0, 5.0, 3.0, 1.0]))
    plays = {int(ids[r]): 1.0 for r in played_rows}
    mix = rank_and_pick(ids, vecs, x, plays, _Tracks(tracks), n=8, max_per_artist=2)
    picked = [i for i, _ in mix]
    assert len(picked) == 8 and len(set(picked)) == 8
    assert all(i < 100 for i in picked), picked                      # all from the listened cluster
    assert not set(picked) & set(plays)                              # played tracks left out
    artists = [tracks[i].artist for i in picked]
    assert max(artists.count(a) for a in artists) <= 2               # the artist cap holds
    # the flow: each next track is the nearest remaining one to the previous
    v = {int(i): vecs[k] for k, i in enumerate(ids)}
    for k in range(1, len(picked) - 1):
        rest = picked[k:]
        assert picked[k] == max(rest, key=lambda i: (float(v[picked[k - 1]] @ v[i]), -i))


def test_taste_clusters_share_the_mix_by_how_much_each_is_played():
    ids, vecs, tracks = _cluster_library()
    played_rows = np.array([0, 1, 2, 3, 20, 21])                  # four of A, two of B
    counts = np.array([9.0, 9.0, 9.0, 9.0, 3.0, 3.0])
    one, w1 = solve_clusters(vecs, played_rows, counts, 1)
    two, w2 = solve_clusters(vecs, played_rows, counts, 2)
    assert one.shape == (1, vecs.shape[1]) and w1.tolist() == [1.0]
    assert np.allclose(one[0], solve_user(vecs, played_rows, counts))
    assert two.shape == (2, vecs.shape[1]) and np.isclose(w2.sum(), 1.0)
    a, b = np.argmax(two[:, 0]), np.argmax(two[:, 1])               # one vector per cluster
    assert a != b and w2[a] > 1.8 * w2[b]                             # A is played more (ε = 1e-6: c ≈ binary)
    plays = {int(ids[r]): 1.0 for r in played_rows}
    mix = rank_and_pick(ids, vecs, two, plays, _Tracks(tracks), n=12, weights=w2)
    from_a = sum(i < 100 for i, _ in mix)
    assert len(mix) == 12 and from_a == 8                             # both clusters, by their weights
    single = rank_and_pick(ids, vecs, one[0], plays, _Tracks(tracks), n=12)
    assert sum(i >= 100 for i, _ in single) < 12 - from_a             # one vector follows the heavier cluster
    few, _ = solve_clusters(vecs, played_rows[:3], counts[:3], 2)    # under two plays per cluster: one vector
    assert few.shape[0] == 1


def test_tracks_on_a_missing_drive_stay_out_of_the_mix():
    from dataclasses import replace

    ids, vecs, tracks = _cluster_library()
    x = solve_user(vecs, np.array([0, 1]), np.array([3.0, 3.0]))
    plays = {0: 3.0, 1: 3.0}
    first = rank_and_pick(ids, vecs, x, plays, _Tracks(tracks), n=5)
    gone = first[0][0]
    tracks[gone] = replace(tracks[gone], status="missing")
    again = rank_and_pick(ids, vecs, x, plays, _Tracks(tracks), n=5)
    assert len(again) == 5 and gone not in {i for i, _ in again}


def test_discovery_share_with_played_tracks_included():
    ids, vecs, tracks = _cluster_library()
    heavy = {int(i): 5.0 for i in ids[:15]}           # 15 A tracks played often, 5 A never
    x = solve_user(vecs, np.arange(15), np.full(15, 5.0))
    mix = rank_and_pick(ids, vecs, x, heavy, _Tracks(tracks), n=10, include_played=True, discovery=0.3)
    fresh = [i for i, _ in mix if heavy.get(i, 0) <= 1]
    assert len(mix) == 10 and len(fresh) == 3
    with pytest.raises(ValueError, match="discovery"):
        rank_and_pick(ids, vecs, x, heavy, _Tracks(tracks), discovery=1.5)


def test_a_play_counts_after_30_seconds_or_half_the_track():
    assert counts_as_play(30.0, 300.0) and not counts_as_play(29.9, 300.0)
    assert counts_as_play(3.1, 6.0) and not counts_as_play(2.9, 6.0)
    assert counts_as_play(30.0, None) and not counts_as_play(10.0, None)


# ------------------------------------------------------------------------------- the library
def test_for_you_on_a_scanned_library_leaves_played_tracks_out(lib, tmp_path):
    with pytest.raises(CbrecError, match="no listening history"):
        lib.for_you()
    _scrobbles(tmp_path / "s.csv", [("Ann", "Morning", 12), ("Ann", "Noon (Remastered 2011)", 6),
                                    ("Bob", "Evening", 2), ("Zed", "Elsewhere", 3)])
    report = lib.import_history(tmp_path / "s.csv")
    assert (report.matched, len(report.unmatched)) == (20, 3)
    assert {r for _, r in report.unmatched} == {"no track by 'Zed' in the library"}
    mix = lib.for_you(n=5, max_per_artist=1)
    played = {lib.track(p).id for p in (lib.tracks()) if p.title in ("Morning", "Noon", "Evening")}
    assert mix.name == "For you" and len(mix) == 5
    assert not {t.id for t in mix.tracks} & played
    assert len({t.artist for t in mix.tracks}) == 5                      # max_per_artist=1
    assert mix.scores[0] == max(mix.scores) and all(-1.0 <= s <= 1.0 for s in mix.scores)
    everything = lib.for_you(n=50, include_played=True)       # the rules may drop near-identical synth tracks
    assert 5 < len(everything) <= len(MUSIC) and len({t.id for t in everything.tracks}) == len(everything)
    assert everything.tracks[0].id in played                       # the taste points at what was played
    out = mix.write(tmp_path / "mix.m3u8")
    assert out.read_text(encoding="utf-8").count("\n") >= 5


def test_recency_weighting_turns_the_taste_towards_recent_plays(lib):
    by_title = {t.title: t for t in lib.tracks()}
    now = time.time()
    for k in range(10):                                                # a favourite of two years ago
        lib.record_play(by_title["Morning"], heard=6.0, started_at=now - 730 * 86400 + k)
    lib.record_play(by_title["Static"], heard=6.0, started_at=now - 3600)   # one play an hour ago
    ids, vecs = lib.vectors()
    v = {int(i): vecs[k] for k, i in enumerate(ids)}

    def lean(x):   # how much more the taste points at Static than at Morning
        x = x / np.linalg.norm(x)
        return float(x @ v[by_title["Static"].id] - x @ v[by_title["Morning"].id])

    everything = lib.history.taste().vectors[0]
    recent = lib.history.taste(half_life_days=30).vectors[0]
    assert lean(recent) > lean(everything)
    mix = lib.for_you(n=3, half_life_days=30)
    assert len(mix) == 3 and not {t.title for t in mix.tracks} & {"Morning", "Static"}


def test_the_app_player_plays_are_recorded_and_counted(lib):
    track = lib.tracks()[0]
    assert not lib.record_play(track, heard=1.0)                       # tracks here are 6 s long
    assert lib.record_play(track, heard=4.0, started_at=1_700_000_000.0)
    assert lib.record_play(track.path, heard=6.0, started_at=1_700_000_100.0)
    stats = lib.play_stats()[track.id]
    assert (stats.count, stats.last_played) == (2, 1_700_000_100.0)
    mix = lib.for_you(n=3)
    assert len(mix) == 3 and track.id not in {t.id for t in mix.tracks}


def test_plays_survive_a_rescan_that_moves_the_file(scanned, tmp_path, test_model):
    import shutil

    data, model, template = scanned
    music = tmp_path / "music"
    shutil.copytree(template, music)
    with Library.open(tmp_path / "lib", model, device="cpu", workers=1) as lib:
        lib.scan([music])
        first = lib.track(music / MUSIC[0][0])
        lib.record_play(first, heard=5.0, started_at=1.0)
        (music / MUSIC[0][0]).unlink()
        lib.scan()
        assert first.id not in lib.play_stats()                       # the file is gone
        shutil.copy(template / MUSIC[0][0], music / "back.mp3")
        lib.scan()
        back = lib.track(music / "back.mp3")
        assert lib.play_stats()[back.id].count == 1                    # matched again by artist + title


def test_cli_history_import_top_and_for_you(scanned, tmp_path, capsys):
    import shutil

    data, model, _ = scanned
    shutil.copytree(data, tmp_path / "lib")
    base = ["--library", str(tmp_path / "lib"), "--model", str(model)]
    assert cli_main([*base, "for-you"]) == 2
    assert "no listening history" in capsys.readouterr().err
    _scrobbles(tmp_path / "s.csv", [("Cid", "Static", 4), ("Dee", "Rain", 2), ("Nobody", "Nothing", 1)])
    (tmp_path / "bad.csv").write_bytes(b"\x00\x01binary\x00" * 10)
    code = cli_main([*base, "history", "import", str(tmp_path / "s.csv"), str(tmp_path / "bad.csv"),
                     "--unmatched", str(tmp_path / "unmatched.tsv")])
    out, err = capsys.readouterr()
    assert code == 2 and "binary file" in err
    assert "Last.fm CSV: 6 matched, 1 not in the library, 0 already imported, 0 skipped" in out
    assert "1 artist not in the library" in out
    assert "Nobody – Nothing (line 8): no track by 'Nobody' in the library" in out
    assert "Nobody" in (tmp_path / "unmatched.tsv").read_text(encoding="utf-8")
    assert cli_main([*base, "history", "import", str(tmp_path / "s.csv")]) == 0
    assert "0 matched, 0 not in the library, 7 already imported" in capsys.readouterr().out
    assert cli_main([*base, "history"]) == 0
    out = capsys.readouterr().out
    assert "6 plays of library tracks, 1 of songs not in the library" in out
    assert out.index("4  Cid - Static") < out.index("2  Dee - Rain")
    assert cli_main([*base, "for-you", "-n", "3", "--clusters", "2"]) == 0
    assert len([ln for ln in capsys.readouterr().out.splitlines() if "[" in ln]) == 3
    assert cli_main([*base, "for-you", "-n", "4", "-o", str(tmp_path / "mix.m3u8")]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in (tmp_path / "mix.m3u8").read_text(encoding="utf-8").splitlines() if ln and ln[0] != "#"]
    assert len(lines) == 4 and "Static" not in out and "Rain" not in out
    assert cli_main([*base, "for-you", "--discovery", "2", "--include-played"]) == 2
    assert "discovery" in capsys.readouterr().err
    assert cli_main([*base, "history", "clear", "--source", "spotify"]) == 0
    assert "forgot 0 history entries" in capsys.readouterr().out
    assert cli_main([*base, "history", "clear"]) == 0
    assert "forgot 7 history entries" in capsys.readouterr().out
    assert cli_main([*base, "history"]) == 0
    assert "No listening history yet" in capsys.readouterr().out
