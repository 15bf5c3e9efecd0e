"""Zhao & Pu's pairwise model end to end on a tiny simulated world: similars -> pairs split by song
-> siamese CNN -> balanced test accuracy -> the tower exported as an app model the Library opens."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import trainer.pairwise  # noqa: F401 - registers the stage
from trainer.cli import build_parser
from trainer.config import config_from_dict
from trainer.pairwise import export_tower, pair_weights, split_pairs
from trainer.pipeline import Context, run_pipeline

CONFIG = {
    "name": "tiny-pairwise", "out_dir": "out",
    "simulate": {"enabled": True, "n_users": 60, "seed": 2,
                 "world": {"n_songs": 24, "n_genres": 3, "clip_seconds": 4.0, "bad_rows": 0}},
    "wmf": {"factors": 4, "iterations": 2}, "split": {"min_user_items": 3},
    "features": {"clip_seconds": 4.0, "workers": 1, "shard_size": 8},
    "pairwise": {"params": {"channels": [4, 4, 4]}, "window_seconds": 3.0, "epochs": 2, "batch_size": 16,
                 "test_fraction": 0.4, "threads": 1},
}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Context:
    d = tmp_path_factory.mktemp("pairwise")
    cfg = config_from_dict(json.loads(json.dumps(CONFIG)), d / "exp.toml")
    run_pipeline(cfg, ["pairwise"], show_progress=False)
    return Context(cfg, cfg.out_path(), show_progress=False)


def test_pairwise_trains_and_tests_on_unheard_songs(experiment: Context) -> None:
    s = experiment.summary("pairwise")
    assert s["pairs"] > 50 and s["train_pairs"] > 0 and s["balanced_test_pairs"] >= 2
    assert 0.0 <= s["test_accuracy"] <= 1.0 and s["epochs"] == 2 and s["bad_similars"] == 0
    assert (experiment.dir("pairwise") / "tower.pt").exists()
    assert "Pairwise similarity (Zhao & Pu)" in (experiment.out_dir / "summary.md").read_text()


def test_split_is_by_song_and_test_is_balanced() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 30, 400), rng.integers(0, 30, 400)
    keep = a != b
    t = {"a": a[keep], "b": b[keep], "score": rng.random(keep.sum()).astype(np.float32) ** 3,
         "test_song": np.arange(30) < 10}
    s = {"seed": 0, "threshold": 0.5, "val_fraction": 0.1}
    parts = split_pairs(t, s)
    test_songs = set(np.flatnonzero(t["test_song"]).tolist())
    for k in parts["test"]:
        assert t["a"][k] in test_songs and t["b"][k] in test_songs
    for k in np.concatenate([parts["train"], parts["val"]]):
        assert t["a"][k] not in test_songs and t["b"][k] not in test_songs
    y = t["score"][parts["test"]] >= 0.5
    assert y.sum() * 2 == len(y) and len(y) > 0


def test_class_and_sample_weights_favour_the_rare_class() -> None:
    scores = np.array([0.1] * 9 + [0.9], dtype=np.float32)
    labels = scores >= 0.5
    w = pair_weights(scores, labels, {"weighting": "class", "class_weight": 0.0})
    assert w[-1] == pytest.approx(9.0) and w[0] == 1.0
    w = pair_weights(scores, labels, {"weighting": "sample", "kde_bandwidth": 0.2})
    assert w[-1] > 5 * w[0] and w.mean() == pytest.approx(1.0)


def test_exported_tower_is_an_app_model(experiment: Context, tmp_path: Path) -> None:
    from core import Library
    export_tower(experiment, "pairs", tmp_path, {"quality": {"p10": 0.1}})
    card = json.loads((tmp_path / "pairs.json").read_text())
    assert card["architecture"] == "zhaopu2018" and "test_accuracy" in card["metrics"]
    audio = experiment.dir("simulate") / "world" / "audio"
    with Library.open(tmp_path / "lib", tmp_path / "pairs.pt", device="cpu", workers=1) as lib:
        report = lib.scan([audio])
        assert len(report.added) >= 10 and not report.failed
        assert len(lib.similar(lib.tracks()[0], n=3)) == 3
    # a different model is never overwritten without force (issue 9, point 18, for export-pairwise too)
    other = json.loads((tmp_path / "pairs.json").read_text())
    (tmp_path / "pairs.pt").write_bytes(b"another model")
    with pytest.raises(Exception, match="force"):
        export_tower(experiment, "pairs", tmp_path, {})
    assert (tmp_path / "pairs.pt").read_bytes() == b"another model"
    export_tower(experiment, "pairs", tmp_path, {}, force=True)
    assert json.loads((tmp_path / "pairs.json").read_text())["analysis_version"] == other["analysis_version"]


def test_cli_lists_the_stage_and_the_export() -> None:
    text = build_parser().format_help()
    assert "pairwise" in text and "export-pairwise" in text and "kkbox" in text
