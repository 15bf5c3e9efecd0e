"""Simulated world in the real formats, read back by the real readers; the whole stage chain via the CLI."""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainer.cli import main
from trainer.config import ConfigError, config_from_dict, example_toml, load_config
from trainer.data.badrows import BadRows
from trainer.data.lastfm_tags import read_lastfm_tags_db
from trainer.data.lfm1b import iter_events, read_albums, read_artists, read_tracks, read_users
from trainer.data.msd import clip_path, read_track_metadata_db, read_unique_artists, read_unique_tracks
from trainer.data.simulate import load_world, simulate_world
from trainer.data.tasteprofile import iter_triplets
from trainer.pipeline import read_marker, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_AUDIO = ROOT / ".." / "shared" / "fixtures" / "audio"
TINY = {"n_songs": 30, "n_genres": 3, "clip_seconds": 2.0, "bad_rows": 6}

CONFIG = """
name = "tiny"
out_dir = "out"
[simulate]
enabled = true
n_users = 60
seed = 3
[simulate.world]
n_songs = 24
n_genres = 3
clip_seconds = 2.0
bad_rows = 6
[wmf]
factors = 8
iterations = 6
[split]
min_user_items = 3
cold_start_fraction = 0.2
[evaluate]
tag_top_n = 10
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "trainer.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole chain, run once through the CLI in a subprocess."""
    d = tmp_path_factory.mktemp("exp")
    (d / "exp.toml").write_text(CONFIG, encoding="utf-8")
    proc = _cli("-q", "run", "exp.toml", cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return d


@pytest.fixture(scope="module")
def world_dir(experiment: Path) -> Path:
    return experiment / "out" / "simulate" / "world"


# --------------------------------------------------------------------------- the world, read back

def test_lfm1b_files_read_back_with_the_readers(world_dir: Path) -> None:
    world, lfm, bad = load_world(world_dir), world_dir / "lfm1b", BadRows()
    tracks = read_tracks(lfm / "LFM-1b_tracks.txt", bad, progress=False)
    artists = read_artists(lfm / "LFM-1b_artists.txt", bad, progress=False)
    albums = read_albums(lfm / "LFM-1b_albums.txt", bad, progress=False)
    users = read_users(lfm / "LFM-1b_users.txt", bad)
    assert bad.count == 0
    assert len(tracks) == world["counts"]["lfm_tracks"] and len(users) == world["counts"]["users"]
    assert set(tracks.artist_ids.tolist()) <= set(artists.ids.tolist())
    assert set(albums.artist_ids.tolist()) <= set(artists.ids.tolist())
    chunks = list(iter_events(lfm / "LFM-1b_LEs.txt", bad, progress=False))
    user_col = np.concatenate([c.user_id for c in chunks])
    times = np.concatenate([c.timestamp for c in chunks])
    assert len(user_col) == world["counts"]["events"]
    assert bad.count == world["counts"]["bad_rows"] == 6
    assert sorted(bad.lines_for(lfm / "LFM-1b_LEs.txt")) == world["bad_lines"]
    starts = np.flatnonzero(np.r_[True, user_col[1:] != user_col[:-1]])
    assert len(starts) == len(np.unique(user_col))                          # grouped by user
    same_user = user_col[1:] == user_col[:-1]
    assert np.all(times[1:][same_user] <= times[:-1][same_user])            # newest first
    # the realistic noise is there: duplicates, case variants, tracks outside the MSD
    songs = world["songs"]
    assert any(len(s["lfm_track_ids"]) > 1 for s in songs)
    assert any(t != s["title"] and t.lower() == s["title"].lower() for s in songs for t in s["lfm_titles"])
    assert any(s["lfm_track_ids"] and not s["in_msd"] for s in songs)


def test_msd_files_clips_and_tags_read_back(world_dir: Path) -> None:
    world, msd = load_world(world_dir), world_dir / "msd"
    ut = read_unique_tracks(msd / "unique_tracks.txt", progress=False)
    ua = read_unique_artists(msd / "unique_artists.txt", progress=False)
    assert len(ut) == world["counts"]["msd_tracks"] and set(ua.track_ids) <= set(ut.track_ids)
    with sqlite3.connect(msd / "track_metadata.db") as db:
        cols = [r[1] for r in db.execute("PRAGMA table_info(songs)")]
    assert cols == ["track_id", "title", "song_id", "release", "artist_id", "artist_mbid", "artist_name",
                    "duration", "artist_familiarity", "artist_hotttnesss", "year", "track_7digitalid",
                    "shs_perf", "shs_work"]
    seven = read_track_metadata_db(msd / "track_metadata.db")
    assert set(seven) == set(ut.track_ids)
    from core.audio import load
    for tid in ut.track_ids[:3]:
        clip = clip_path(world_dir / "audio", seven[tid])
        assert clip.exists() and clip.name == f"{seven[tid]}.clip.mp3"
        x = load(clip, sr=22050)
        assert abs(len(x) / 22050 - 2.0) < 0.2 and np.abs(x).max() > 0.05
    pairs = read_lastfm_tags_db(msd / "lastfm_tags.db")
    assert len(pairs.track_ids) == world["counts"]["tagged_tracks"] and set(pairs.track_ids) <= set(ut.track_ids)
    assert set(world["genres"]) <= set(pairs.tags)
    json_files = list((msd / "lastfm_train").rglob("TR*.json"))
    doc = json.loads(json_files[0].read_text())
    assert json_files[0].parent.name == doc["track_id"][4] and {"tags", "similars", "timestamp"} <= doc.keys()
    assert sum(c.counts.sum() for c in iter_triplets(msd / "train_triplets.txt", progress=False)) > 0


def test_latent_vectors_are_learnable_from_the_clips(world_dir: Path) -> None:
    """Ridge regression from log-mel statistics of the DECODED clips predicts the true item vectors
    (cross-validated) much better than the mean vector: the content → factor problem is learnable."""
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_predict

    from core.audio import load
    from trainer.data.simulate_audio import log_mel_stats
    songs = [s for s in load_world(world_dir)["songs"] if s["has_audio"]]
    x = np.stack([log_mel_stats(load(world_dir / "audio" / s["clip"], sr=22050)) for s in songs])
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    y = np.array([s["latent"] for s in songs])

    def mean_cosine(model: object) -> float:
        p = cross_val_predict(model, x, y, cv=4)
        return float(np.mean((p * y).sum(1) / np.linalg.norm(p, axis=1) / np.linalg.norm(y, axis=1)))
    assert mean_cosine(Ridge(alpha=10.0)) > mean_cosine(DummyRegressor()) + 0.1


def test_simulation_is_deterministic_by_seed(tmp_path: Path) -> None:
    a = simulate_world(tmp_path / "a", n_users=15, seed=7, show_progress=False, **{**TINY, "n_songs": 8, "clip_seconds": 0.5})
    b = simulate_world(tmp_path / "b", n_users=15, seed=7, show_progress=False, **{**TINY, "n_songs": 8, "clip_seconds": 0.5})
    c = simulate_world(tmp_path / "c", n_users=15, seed=8, show_progress=False, **{**TINY, "n_songs": 8, "clip_seconds": 0.5})
    assert a == b and a["songs"] != c["songs"]
    for rel in ("lfm1b/LFM-1b_LEs.txt", "lfm1b/LFM-1b_tracks.txt", "msd/unique_tracks.txt", "world.json"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    clip = a["songs"][0]["clip"]
    assert (tmp_path / "a" / "audio" / clip).read_bytes() == (tmp_path / "b" / "audio" / clip).read_bytes()


@pytest.mark.skipif(not FIXTURE_AUDIO.exists(), reason=f"fixture audio not found at {FIXTURE_AUDIO}")
def test_simulation_from_a_labelled_library(tmp_path: Path) -> None:
    files = sorted(p.name for p in FIXTURE_AUDIO.glob("*.ogg"))
    labels = tmp_path / "labels.tsv"
    labels.write_text("".join(f"{f}\t{'orchestra' if 'Fairy' in f or 'Hungarian' in f else 'other'}\t60\n"
                              for f in files), encoding="utf-8")
    world = simulate_world(tmp_path / "w", audio_library=FIXTURE_AUDIO, labels_tsv=labels, n_users=10, seed=0,
                           show_progress=False, clip_seconds=1.0)
    assert world["genres"] == ["orchestra", "other"]
    with_audio = [s for s in world["songs"] if s["has_audio"]]
    assert len(with_audio) == len(files) and all(Path(s["source_path"]).exists() for s in with_audio)
    assert all((tmp_path / "w" / "audio" / s["clip"]).stat().st_size > 1000 for s in with_audio)


# --------------------------------------------------------------------------- the stage chain

def test_pipeline_results_match_the_world(experiment: Path, world_dir: Path) -> None:
    world = load_world(world_dir)
    res = json.loads((experiment / "out" / "results.json").read_text())
    st = {k: v["summary"] for k, v in res["stages"].items()}
    assert list(st) == ["simulate", "match", "interactions", "split", "wmf", "evaluate"]
    # every LFM-1b track of an MSD song matches (case-insensitive), nothing else does
    assert st["match"]["lfm_tracks_matched"] == world["counts"]["lfm_tracks_in_msd"]
    assert st["match"]["lfm_match_rate"] == pytest.approx(
        world["counts"]["lfm_tracks_in_msd"] / world["counts"]["lfm_tracks"], abs=1e-4)
    assert st["match"]["items"] == world["counts"]["msd_tracks_in_lfm"]     # duplicates merged
    # every line is either read or reported; the interactions reader may parse only user + track,
    # so it must drop at least the lines with a wrong field count, at most every bad line
    inter, n_bad = st["interactions"], world["counts"]["bad_rows"]
    assert inter["events_read"] + inter["bad_rows"] == world["counts"]["events"] + n_bad
    structural = sum(k in ("missing field", "extra field") for k in world["bad_kinds"])
    assert structural <= inter["bad_rows"] <= n_bad
    msd_plays = sum(s["plays"] for s in world["songs"] if s["in_msd"])
    assert inter["plays"] == inter["events_counted"]
    assert msd_plays <= inter["plays"] <= msd_plays + (n_bad - inter["bad_rows"])
    hold = st["evaluate"]["holdout"]
    assert hold["WMF"]["AUC"] > hold["random"]["AUC"] + 0.05
    assert hold["simulated true tastes"]["AUC"] > hold["popularity"]["AUC"]
    assert 0.3 < hold["random"]["AUC"] < 0.7
    assert st["evaluate"]["tags"]["models"]["WMF factors"]["tags"] >= 1
    out = experiment / "out"
    for name in ("summary.md", "config.toml", "config.resolved.json", "wmf/item_factors.npy", "split/item_split.npz"):
        assert (out / name).exists(), name
    assert "lfm_match_rate" in (out / "summary.md").read_text()
    assert np.load(out / "wmf" / "item_factors.npy").shape == (st["match"]["items"], 8)


def test_second_run_skips_and_force_reruns_downstream(experiment: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = experiment / "out"
    before = {s: read_marker(out / s)["run_id"] for s in ("simulate", "match", "wmf", "evaluate")}
    with caplog.at_level(logging.INFO, logger="trainer.pipeline"):
        assert main(["run", str(experiment / "exp.toml")]) == 0
    assert caplog.text.count("up to date, skipped") == 6
    assert {s: read_marker(out / s)["run_id"] for s in before} == before
    cfg = load_config(experiment / "exp.toml")
    run_pipeline(cfg, ["wmf"], force=True, show_progress=False)
    assert read_marker(out / "wmf")["run_id"] != before["wmf"]
    assert read_marker(out / "match")["run_id"] == before["match"]
    run_pipeline(cfg, show_progress=False)                                 # evaluate read the old wmf
    assert read_marker(out / "evaluate")["run_id"] != before["evaluate"]


def test_taste_profile_source_on_the_same_world(experiment: Path, world_dir: Path, tmp_path: Path) -> None:
    cfg = config_from_dict({"out_dir": str(tmp_path / "tp"), "data": {"source": "taste_profile",
                            "triplets": str(world_dir / "msd" / "train_triplets.txt"), "msd_dir": str(world_dir / "msd")},
                            "wmf": {"factors": 4, "iterations": 3}, "split": {"min_user_items": 3}, "evaluate": {"tag_top_n": 5}})
    res = run_pipeline(cfg, show_progress=False)["stages"]
    world = load_world(world_dir)
    assert res["interactions"]["summary"]["plays"] == sum(s["plays"] for s in world["songs"] if s["in_msd"])
    assert res["evaluate"]["summary"]["holdout"]["WMF"]["users"] > 0


# --------------------------------------------------------------------------- CLI and configuration

def test_cli_help_explains_the_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proc = _cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for word in ("simulate", "match", "interactions", "wmf", "evaluate", "run", "mAP@500", "done"):
        assert word in proc.stdout
    with pytest.raises(SystemExit) as exit_info:
        main(["wmf", "--help"])
    assert exit_info.value.code == 0 and "--force" in capsys.readouterr().out


def test_cli_errors_are_messages_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = _cli("run", "nope.toml", cwd=tmp_path)
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "bad.toml").write_text("[wmf]\nfactorz = 3\n", encoding="utf-8")
    assert main(["run", str(tmp_path / "bad.toml")]) == 2
    assert "factorz" in capsys.readouterr().err
    (tmp_path / "real.toml").write_text('[data]\nlfm1b_dir = "no/such"\nmsd_dir = "nope"\n', encoding="utf-8")
    assert main(["-q", "match", str(tmp_path / "real.toml")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err


def test_config_validation_and_templates(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="factors"):
        config_from_dict({"simulate": {"enabled": True}, "wmf": {"factors": "many"}})
    with pytest.raises(ConfigError, match="lfm1b_dir"):
        config_from_dict({})
    for sim in (True, False):
        p = tmp_path / f"t{sim}.toml"
        p.write_text(example_toml(simulate=sim), encoding="utf-8")
        if sim:
            cfg = load_config(p, ["wmf.factors=12", "simulate.world.n_songs=9"])
            assert cfg.wmf.factors == 12 and cfg.simulate.world["n_songs"] == 9
            assert cfg.out_path() == (tmp_path / "runs" / "experiment").resolve()
        else:
            with pytest.raises(ConfigError):
                load_config(p, ["data.lfm1b_dir=''"])


def test_world_has_colistening_similars_in_the_lastfm_layout(world_dir: Path) -> None:
    from trainer.data.lastfm_similars import read_similars
    bad = BadRows()
    pairs = read_similars(world_dir / "msd" / "lastfm_train", bad)
    assert bad.count == 0 and len(pairs) > 0
    assert pairs.scores.min() > 0 and pairs.scores.max() == pytest.approx(1.0)
    tracks = set(read_unique_tracks(world_dir / "msd" / "unique_tracks.txt").track_ids)
    assert set(pairs.source_ids) <= tracks and set(pairs.target_ids) <= tracks
    assert all(s != t for s, t in zip(pairs.source_ids, pairs.target_ids, strict=True))
