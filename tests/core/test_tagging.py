"""Automatic tags: stored per (content, analysis version), ranked, on real decoded audio, CLI."""
from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from core import Library, tagging
from core.cli import main as cli_main
from core.errors import CbrecError
from core.store import _MIGRATIONS, SCHEMA_VERSION, NewTrack, Store
from tests.core.conftest import MUSIC
from tests.model_factory import make_test_model

TAGS = ["rock", "jazz", "ambient", "electronic", "folk", "metal"]


@pytest.fixture(scope="module")
def tagged_model(tmp_path_factory):
    return make_test_model(tmp_path_factory.mktemp("tagged"), name="test-tagged", tags=TAGS)


def _item(path: str, fp: str) -> NewTrack:
    return NewTrack(path, 10, 20, fp, {"title": path.rsplit("/", 1)[-1]}, np.array([1, 0, 0, 0], np.float32))


def test_tag_scores_round_trip_per_version_and_leave_with_their_tracks(tmp_path):
    store = Store(tmp_path / "lib.sqlite3")
    with store.transaction() as conn:
        ids = store.upsert_tracks(conn, [_item("/m/a.mp3", "fa"), _item("/m/b.mp3", "fb")], "v1")
        tagging.save_tag_names(conn, "v1", ["rock", "jazz", "pop"])
        tagging.save_tag_scores(conn, "v1", [("fa", np.array([0.2, 0.9, 0.5])),
                                             ("fb", np.array([np.nan, 2.0, -1.0]))])
    assert tagging.tag_names(store, "v1") == ["rock", "jazz", "pop"]
    assert tagging.tag_names(store, "v2") == [] and tagging.scores_for(store, ids, "v2") == {}
    got = tagging.scores_for(store, ids, "v1")
    assert np.allclose(got[ids[0]], [0.2, 0.9, 0.5]) and got[ids[0]].dtype == np.float32
    assert np.array_equal(got[ids[1]], np.array([0.0, 1.0, 0.0], np.float32))   # cleaned into [0, 1]
    assert tagging.top_tags_by_track(store, "v1", n=2) == {
        ids[0]: [("jazz", pytest.approx(0.9)), ("pop", pytest.approx(0.5))],
        ids[1]: [("jazz", 1.0), ("rock", 0.0)]}
    with store.transaction() as conn:
        store.remove_paths(conn, ["/m/a.mp3"])
    assert tagging.fingerprints_with_tags(store, "v1") == {"fb"}


def test_top_tags_and_mix_names():
    names = ["rock", "jazz", "pop"]
    assert tagging.top_tags(names, np.array([0.2, 0.7, 0.7]), n=2) == [("jazz", pytest.approx(0.7)),
                                                                     ("pop", pytest.approx(0.7))]
    assert tagging.top_tags(names, np.array([0.2, 0.7]), n=2) == []            # scores of another vocabulary
    assert tagging.mix_name("Noon", [("jazz", 0.7), ("piano", 0.4)]) == "Jazz & piano mix: Noon"
    assert tagging.mix_name("Noon", [("jazz", 0.7), ("piano", 0.05)], 2) == "Jazz mix: Noon + 2 more"
    assert tagging.mix_name("Noon", [], 1) == "Mix: Noon + 1 more"


def _schema_2_library(db) -> None:
    """A library database exactly as cbrec wrote it before tags (schema 2), with one track."""
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for version in (1, 2):
        conn.executescript(_MIGRATIONS[version])
    conn.execute("INSERT INTO meta VALUES ('schema_version', '2'), ('generation', '5')")
    conn.execute("INSERT INTO tracks (path, size, mtime_ns, fingerprint, title, added_at)"
                 " VALUES (?, 1, 2, 'fp', 'Old', 0)", (b"/m/old.mp3",))
    conn.execute("INSERT INTO vectors VALUES ('fp', 'v0', ?)", (np.ones(4, np.float32).tobytes(),))
    conn.commit()
    conn.close()


def test_migration_from_a_library_without_tags(tmp_path):
    _schema_2_library(tmp_path / "lib.sqlite3")
    store = Store(tmp_path / "lib.sqlite3")
    assert store.schema_version() == SCHEMA_VERSION >= 3
    assert [t.title for t in store.tracks("v0")] == ["Old"] and store.tracks("v0")[0].status == "ok"
    assert store.generation() == 5
    assert tagging.tag_names(store, "v0") == [] and tagging.top_tags_by_track(store, "v0") == {}


def test_library_tags_on_real_audio_match_an_on_the_fly_analysis(tmp_path, music, tagged_model):
    with Library.open(tmp_path / "lib", tagged_model, device="cpu", workers=2) as lib:
        report = lib.scan([music])
        assert report.failed == [] and lib.tag_names == TAGS
        by_track = lib.tags_by_track(n=3)
        assert len(by_track) == len(MUSIC)
        for track in lib.tracks():
            tags = lib.tags(track, n=3)
            assert by_track[track.id] == tags and len(tags) == 3
            assert {name for name, _ in tags} <= set(TAGS)
            scores = [s for _, s in tags]
            assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
        assert len(lib.tags(music / "chords/a1.mp3", n=99)) == len(TAGS)
        # tracks differ: their full score vectors are not all the same
        full = {tuple(round(s, 6) for _, s in sorted(lib.tags(t, n=99))) for t in lib.tracks()}
        assert len(full) > 1
        # a file outside the library is analysed now, and scores as the stored analysis did
        outside = tmp_path / "elsewhere.flac"
        shutil.copy(music / "chords/a2.flac", outside)
        stored, fresh = lib.tags(music / "chords/a2.flac"), lib.tags(outside)
        assert [n for n, _ in fresh] == [n for n, _ in stored]
        assert np.allclose([s for _, s in fresh], [s for _, s in stored], atol=1e-5)
        # playlists are named after the seed's best tags
        seed = lib.track(music / "drums/d1.mp3")
        best = lib.tags(seed, n=1)[0][0]
        assert lib.playlist(seed, length=4).name == tagging.mix_name("Kick", lib.tags(seed, n=2))
        assert lib.playlist(seed, length=4).name.lower().startswith(best)


def test_an_analysis_without_tag_scores_is_redone_by_a_tagged_model(tmp_path, music, tagged_model):
    with Library.open(tmp_path / "lib", tagged_model, device="cpu", workers=2) as lib:
        lib.scan([music])
        before = lib.tags(music / "noise/n1.opus")
        with lib.store.transaction() as conn:
            conn.execute("DELETE FROM tag_scores")     # as if analysed by a cbrec that stored no tags
        with pytest.raises(CbrecError, match="no tag scores yet"):
            lib.tags(music / "noise/n1.opus")
        report = lib.scan()
        assert len(report.updated) == len(MUSIC) and report.failed == []
        assert lib.tags(music / "noise/n1.opus") == before


def test_an_untagged_model_gives_no_tags(tmp_path, music, test_model):
    with Library.open(tmp_path / "lib", test_model, device="cpu", workers=2) as lib:
        lib.scan([music])
        assert lib.tag_names == [] and lib.tags_by_track() == {}
        assert lib.tags(music / "chords/a1.mp3") == []
        assert lib.playlist(music / "chords/a1.mp3", length=3).name == "Mix: Morning"
        assert tagging.tag_names(lib.store, lib.analysis_version) == []


def test_cli_tags(tmp_path, music, tagged_model, test_model, capsys):
    base = ["--library", str(tmp_path / "lib"), "--model", str(tagged_model)]
    assert cli_main([*base, "scan", "-q", str(music)]) == 0
    capsys.readouterr()
    assert cli_main([*base, "tags", str(music / "drums/d2.flac"), "-n", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.split()[1] in TAGS for line in lines)
    scores = [float(line.split()[0]) for line in lines]
    assert scores == sorted(scores, reverse=True)
    outside = tmp_path / "new.mp3"
    shutil.copy(music / "drums/d1.mp3", outside)
    assert cli_main([*base, "tags", str(outside), "-n", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert cli_main([*base, "tags", str(tmp_path / "missing.mp3")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cbrec-lib: ") and "Traceback" not in err
    untagged = ["--library", str(tmp_path / "lib2"), "--model", str(test_model)]
    assert cli_main([*untagged, "tags", str(outside)]) == 2
    assert "predicts no tags" in capsys.readouterr().err


def test_tag_benchmark_ground_truth_helpers(tmp_path):
    from benchmarks.tags import agreement, attribution_tags

    txt = tmp_path / "Hungarian_Dance_5.txt"
    txt.write_text("Hungarian Dance by the Strings.\nFrom the Jazz_Sampler; mostly Blues and Dorian scale\n")
    vocabulary = ["rock", "dance", "jazz", "blues", "hard rock"]
    assert attribution_tags(txt, vocabulary) == ["jazz", "blues"]      # "Dance" is the title's word, not a tag
    ranked = [("jazz", 0.9), ("rock", 0.5), ("blues", 0.4), ("dance", 0.1), ("hard rock", 0.0)]
    a = agreement(ranked, ["jazz", "blues"], n=2)
    assert a["ranks"] == [1, 3] and a["hit"] == [True, False]
    assert a["auc"] == pytest.approx(1 - 1 / 6)                        # one of six pairs misordered
