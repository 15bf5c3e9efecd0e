"""Part 2 end to end on a tiny simulated world: features -> fit (MSE, WPE, all three architectures)
-> baseline -> report -> export -> ``Library.open(model=exported)``; resume; objectives; loader."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import trainer.train_stages  # noqa: F401 - registers the part-2 stages
from trainer.config import config_from_dict
from trainer.dataset import CropDataset, GroupBatchSampler, make_loader
from trainer.export import export_model
from trainer.features import FeatureSpec, FeatureStore, extract_features
from trainer.fit import FitSettings, Split, fit
from trainer.objectives import Objective, WPEData, group_loss, instance_loss, similarity_loss, wpe_loss
from trainer.pipeline import Context, run_pipeline

TINY_DIELEMAN = {"channels": [6, 6, 6, 6], "dense": [12]}
CONFIG = {
    "name": "tiny-training", "out_dir": "out",
    "simulate": {"enabled": True, "n_users": 40, "seed": 1,
                 "world": {"n_songs": 16, "n_genres": 2, "clip_seconds": 4.0, "bad_rows": 0}},
    "wmf": {"factors": 6, "iterations": 4}, "split": {"min_user_items": 3, "cold_start_fraction": 0.3},
    "features": {"clip_seconds": 4.0, "workers": 1, "shard_size": 8},
    "fit": {"architecture": "dieleman2014", "params": TINY_DIELEMAN, "window_seconds": 3.0, "epochs": 2,
            "batch_size": 4, "crops": 2, "similarity_weight": 0.5, "threads": 1,
            "runs": {"mse": {"objective": "mse"}, "wpe": {"objective": "wpe", "normalise_targets": False},
                     "vdo": {"architecture": "vdo2013", "params": {"channels": [6, 6], "dense": [12]},
                             "window_seconds": 0.0, "epochs": 1},
                     "sample": {"architecture": "samplecnn2017", "window_seconds": 0.0, "epochs": 1,
                                "params": {"width_multiplier": 0.02}}}},
    "baseline": {"n_clusters": 8}, "report": {},
}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Context:
    d = tmp_path_factory.mktemp("train")
    cfg = config_from_dict(json.loads(json.dumps(CONFIG)), d / "exp.toml")
    run_pipeline(cfg, ["report"], show_progress=False)
    return Context(cfg, cfg.out_path(), show_progress=False)


def test_report_has_every_system(experiment: Context) -> None:
    table = json.loads((experiment.dir("report") / "report.json").read_text())
    names = list(table["rows"])
    assert names[0] == "random" and names[-1] == "upper bound (WMF factors)"
    assert "linear regression (bag of words)" in names
    assert sum(n.startswith("CNN") for n in names) == 4
    for m in table["rows"].values():
        assert 0.0 <= m["AUC"] <= 1.0 and 0.0 <= m["mAP@500"] <= 1.0 and m["users"] > 0
    assert "| upper bound (WMF factors) |" in (experiment.out_dir / "report.md").read_text()


def test_both_objectives_trained(experiment: Context) -> None:
    runs = experiment.summary("fit")
    assert runs["mse"]["objective"] == "mse" and runs["wpe"]["objective"] == "wpe"
    for name in runs:
        lines = (experiment.dir("fit") / name / "metrics.jsonl").read_text().splitlines()
        assert np.isfinite(json.loads(lines[-1])["val_loss"])
        preds = np.load(experiment.dir("fit") / name / "predictions.npy")
        assert np.isfinite(preds).all() and preds.shape[1] == 6


def test_export_then_library_opens_it(experiment: Context, tmp_path: Path) -> None:
    from core import Library
    card = export_model(experiment, "mse", "tiny", tmp_path / "models", {"quality": {"p10": 0.5}})
    saved = json.loads((tmp_path / "models" / "tiny.json").read_text())
    assert saved["analysis_version"] == card.analysis_version and saved["metrics"]["quality"] == {"p10": 0.5}
    assert saved["training"]["gpu"] is False and saved["trained_on"]["items"]["train"] > 0
    assert "reproduction" in saved["metrics"]
    audio = experiment.dir("simulate") / "world" / "audio"
    with Library.open(tmp_path / "lib", tmp_path / "models" / "tiny.pt", device="cpu", workers=1) as lib:
        report = lib.scan([audio])
        assert len(report.added) >= 10 and not report.failed
        hits = lib.similar(lib.tracks()[0], n=3)
        assert len(hits) == 3


def test_fit_resumes_from_checkpoint(experiment: Context, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = FeatureStore(Path(json.loads((experiment.dir("features") / "stores.json").read_text())
                              [FeatureSpec.for_architecture("dieleman2014", 4.0).key()]["folder"]))
    rows = np.flatnonzero(store.ok)[:8]
    y = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    train, val = Split(rows[:6], y[:6], np.arange(6)), Split(rows[6:], y[6:], np.arange(2))
    s = FitSettings(params=TINY_DIELEMAN, window_seconds=3.0, epochs=1, batch_size=3, threads=1)
    first = fit(s, store, train, val, tmp_path / "ckpt", tmp_path / "a", show_progress=False)
    assert first.summary["epochs"] == 1
    s.epochs = 2
    with caplog.at_level(logging.INFO, logger="trainer.fit"):
        second = fit(s, store, train, val, tmp_path / "ckpt", tmp_path / "b", show_progress=False)
    assert "resumed" in caplog.text and second.summary["epochs"] == 2
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 2


def test_features_resume_missing_shard(experiment: Context) -> None:
    folder = Path(json.loads((experiment.dir("features") / "stores.json").read_text())
                  [FeatureSpec.for_architecture("dieleman2014", 4.0).key()]["folder"])
    store = FeatureStore(folder)
    paths, before = store.paths, store.crop(1, 0, 20).copy()
    kept = folder / "shard-00000.npy"
    stamp = kept.stat().st_mtime_ns
    (folder / "shard-00001.npy").unlink()
    extract_features(paths, store.spec, folder, workers=1, shard_size=8, show_progress=False)
    assert kept.stat().st_mtime_ns == stamp and (folder / "shard-00001.npy").exists()
    np.testing.assert_array_equal(FeatureStore(folder).crop(1, 0, 20), before)


def test_wpe_matches_the_dense_formula() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 3)).astype(np.float32)
    counts = sp.random(7, 5, density=0.4, random_state=1, format="csr", dtype=np.float32) * 5
    conf = counts.copy()
    conf.data = 1.0 + 2.0 * np.log1p(conf.data / 1e-6)
    pred = torch.from_numpy(rng.standard_normal((3, 3)).astype(np.float32))
    items = torch.tensor([0, 2, 4])
    got = wpe_loss(pred, items, WPEData.build(x, conf))
    c = np.where(conf.toarray() > 0, conf.toarray(), 1.0)[:, [0, 2, 4]]
    p = (counts.toarray() > 0).astype(np.float32)[:, [0, 2, 4]]
    want = (c * (p - x @ pred.numpy().T) ** 2).sum(axis=0).mean() / 7
    assert float(got) == pytest.approx(want, rel=1e-4)


def test_objective_parts_and_similarity_prefers_matching_structure() -> None:
    t = torch.nn.functional.normalize(torch.randn(6, 4), dim=1)
    assert similarity_loss(t, t) < similarity_loss(torch.randn(6, 4), t)
    loss, parts = Objective("mse", similarity_weight=1.0)(t, t, torch.arange(6))
    assert parts["mse"] == pytest.approx(0.0, abs=1e-6) and "similarity" in parts
    items = torch.tensor([0, 0, 1, 1, 2, 2])
    grouped = torch.nn.functional.normalize(torch.eye(3)[items] + 0.01 * torch.randn(6, 3), dim=1)
    assert instance_loss(grouped, items) < 0.01 < instance_loss(torch.randn(6, 3), items)
    loss, parts = Objective("mse", instance_weight=1.0)(grouped, grouped, items)
    assert set(parts) == {"mse", "instance"}
    songs, artists = torch.arange(6), torch.tensor([0, 0, 1, 1, 2, 2])
    by_artist = torch.nn.functional.normalize(torch.eye(3)[artists] + 0.01 * torch.randn(6, 3), dim=1)
    assert group_loss(by_artist, songs, artists) < group_loss(torch.randn(6, 3), songs, artists)
    with pytest.raises(ValueError):
        Objective("wpe")


def test_crops_are_seeded_and_loader_batches(experiment: Context) -> None:
    store = FeatureStore(Path(json.loads((experiment.dir("features") / "stores.json").read_text())
                              [FeatureSpec.for_architecture("dieleman2014", 4.0).key()]["folder"]))
    rows = np.flatnonzero(store.ok)[:6]
    ds = CropDataset(store, rows, np.zeros((6, 3), np.float32), window_steps=50, crops=2, seed=3)
    a, b = ds[1][0], ds[1][0]
    assert a.shape == (2, 128, 50) and torch.equal(a, b)
    x, y, k = next(iter(make_loader(ds, batch_size=4, seed=0)))
    assert x.shape == (4, 2, 128, 50) and y.shape == (4, 3) and k.shape == (4,)


def test_group_batches_pair_songs_of_one_group() -> None:
    groups = np.repeat(np.arange(10), 3)
    sampler = GroupBatchSampler(groups, batch_size=8, per_group=2, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3
    for b in batches:
        assert len(b) == 8 and all(np.sum(groups[b] == g) == 2 for g in np.unique(groups[b]))
