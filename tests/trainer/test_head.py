"""Pretrained backbone + head end to end on a tiny simulated world: a tiny musicnn-architecture
backbone (frozen) -> pooled penultimates of every clip (cached) -> ridge and MLP heads on the WMF
factors -> the Table-2 report scores them on the cold-start songs (no [fit] runs needed)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import trainer.train_stages  # noqa: F401 - registers features ... report and head
from tests.model_factory import make_test_model
from trainer.config import config_from_dict
from trainer.head import fit_linear, fit_mlp, head_label, ridge
from trainer.pipeline import Context, run_pipeline

CONFIG = {
    "name": "tiny-head", "out_dir": "out",
    "simulate": {"enabled": True, "n_users": 60, "seed": 3,
                 "world": {"n_songs": 24, "n_genres": 3, "clip_seconds": 4.0, "bad_rows": 0}},
    "wmf": {"factors": 4, "iterations": 2}, "split": {"min_user_items": 3, "cold_start_fraction": 0.3},
    "head": {"mlp_epochs": 40, "mlp_hidden": 16, "threads": 1},
    "report": {},
}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Context:
    d = tmp_path_factory.mktemp("head")
    backbone = make_test_model(d, "musicnn", name="tiny-musicnn")
    raw = json.loads(json.dumps(CONFIG))
    raw["head"]["backbone"] = str(backbone)
    cfg = config_from_dict(raw, d / "exp.toml")
    run_pipeline(cfg, ["report"], show_progress=False)
    return Context(cfg, cfg.out_path(), show_progress=False)


def test_heads_are_scored_in_the_table2_report(experiment: Context) -> None:
    s = experiment.summary("head")
    f = s["features"]
    assert f["backbone"] == "tiny-musicnn" and f["windows"] == 2 and f["dim"] == 8 and f["sample_rate"] == 16000
    assert f["clips"] >= 20 and f["computed"] == f["clips"] and f["failed"] == 0
    assert s["train_items"] > 5 and s["test_items"] >= 3 and set(s["heads"]) == {"linear", "mlp"}
    pooled = np.load(experiment.dir("head") / "pooled.npy")
    assert pooled.shape == (f["clips"], 8) and np.isfinite(pooled).all() and pooled.std(axis=0).max() > 0
    table = json.loads((experiment.dir("report") / "report.json").read_text())
    rows = table["rows"]
    for kind in ("linear", "mlp"):
        row = rows[head_label("tiny-musicnn", kind)]
        assert 0.0 <= row["mAP@500"] <= 1.0 and 0.0 <= row["AUC"] <= 1.0 and row["users"] > 0
    assert list(rows)[0] == "random" and list(rows)[-1] == "upper bound (WMF factors)"
    assert table["test_items"] == s["test_items"]
    assert "pretrained backbone (tiny-musicnn) + MLP head" in (experiment.out_dir / "report.md").read_text()


def test_rerun_reads_the_backbone_cache(experiment: Context) -> None:
    before = np.load(experiment.dir("head") / "linear" / "predictions.npy")
    run_pipeline(experiment.config, ["head"], force=True, show_progress=False)
    s = json.loads((experiment.dir("head") / "done").read_text())["summary"]
    assert s["features"]["computed"] == 0 and s["features"]["clips"] > 0
    np.testing.assert_allclose(np.load(experiment.dir("head") / "linear" / "predictions.npy"), before, atol=1e-5)


def test_ridge_recovers_a_linear_map_and_folds_the_standardisation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 5.0, (300, 6)).astype(np.float32)
    w_true = rng.normal(size=(6, 3)).astype(np.float32)
    y = x @ w_true + 1.5
    w, b = ridge(x, y, 1e-6)
    np.testing.assert_allclose(w, w_true, atol=1e-3)
    np.testing.assert_allclose(b, 1.5, atol=1e-2)
    head, info = fit_linear(x, y, np.arange(250), np.arange(250, 300), [1e-4, 1e4])
    assert info["alpha"] == 1e-4                       # the small penalty wins on noiseless data
    import torch
    with torch.no_grad():
        pred = head(torch.from_numpy(x)).numpy()       # raw inputs: standardisation is inside the layer
    np.testing.assert_allclose(pred, y, atol=1e-2)


def test_mlp_head_learns_a_nonlinear_map() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 10.0, (400, 4)).astype(np.float32)
    y = np.abs(x[:, :2] / 10.0).astype(np.float32)     # not linear in x
    s = {"seed": 0, "mlp_hidden": 32, "mlp_dropout": 0.0, "mlp_epochs": 300, "mlp_patience": 50,
         "mlp_lr": 0.01, "mlp_weight_decay": 0.0}
    head, info = fit_mlp(x, y, np.arange(300), np.arange(300, 400), s)
    _, lin = fit_linear(x, y, np.arange(300), np.arange(300, 400), [1.0])
    assert info["val_mse"] < 0.25 * lin["val_mse"]      # a linear head cannot fit |x|
    assert 1 <= info["best_epoch"] <= info["epochs"] <= 300


def test_unknown_head_key_is_a_clear_error(tmp_path: Path) -> None:
    from trainer.head import head_settings
    from trainer.pipeline import StageError
    raw = json.loads(json.dumps(CONFIG))
    raw["head"]["ridge_alpha"] = 1.0
    cfg = config_from_dict(raw, tmp_path / "exp.toml")
    with pytest.raises(StageError, match=r"unknown key\(s\) \['ridge_alpha'\] in \[head\]"):
        head_settings(Context(cfg, tmp_path))


def test_exported_backbone_plus_linear_head_is_the_trained_head(experiment: Context, tmp_path: Path) -> None:
    """The app model (musicnn_head) gives, per track, the linear head of the pooled penultimate (the
    window mean commutes with a linear map) and keeps the backbone's tag scores."""
    from core.audio import load_windows
    from core.model import load_model
    from core.model.embedder import l2_normalize
    from trainer.head_export import export_head
    from trainer.train_stages import item_clips
    card, outcome = export_head(experiment, "linear", "bb-head", tmp_path)
    assert outcome == "written" and card.architecture == "musicnn_head" and card.output_dim == 4
    assert card.params["penultimate_dim"] == 8 and card.params["head_hidden"] == 0
    assert "pretrained backbone (tiny-musicnn) + linear head" == card.metrics["reproduction"]["row"]
    assert export_head(experiment, "linear", "bb-head", tmp_path)[1] == "unchanged"
    emb = load_model(tmp_path / "bb-head.pt", device="cpu")
    _, paths = item_clips(experiment)
    wins = np.stack([load_windows(p, emb.sample_rate, emb.window_samples, emb.n_windows).windows for p in paths[:4]])
    preds = np.load(experiment.dir("head") / "linear" / "predictions.npy")[:4]
    np.testing.assert_allclose(emb.embed(wins), l2_normalize(preds), atol=1e-4)
    mlp_card, _ = export_head(experiment, "mlp", "bb-mlp", tmp_path)
    assert mlp_card.params["head_hidden"] == 16
    assert load_model(tmp_path / "bb-mlp.pt", device="cpu").embed(wins).shape == (4, 4)


def test_exported_head_keeps_the_tag_head_on_the_penultimate(tmp_path: Path) -> None:
    import torch

    from core.model import build_net
    backbone = build_net("musicnn", {"n_mels": 32, "timbral_filters": 8, "temporal_filters": 4,
                                     "midend_filters": 8, "output_dim": 8})
    backbone.attach_tag_head(3)
    net = build_net("musicnn_head", {**backbone.params, "penultimate_dim": 8, "output_dim": 4})
    net.attach_tag_head(3)
    net.load_state_dict({**backbone.state_dict(), "factor_head.0.weight": torch.randn(4, 8),
                         "factor_head.0.bias": torch.zeros(4)})
    x = torch.randn(2, 32, 62)
    backbone.eval(), net.eval()
    with torch.no_grad():
        out = net(x)
        torch.testing.assert_close(net.tag_probabilities(out), backbone.tag_probabilities(backbone(x)))
        torch.testing.assert_close(out, net.factor_head(backbone(x)))
