"""musicnn (architecture 'musicnn', resources/models/musicnn.*) against the original TensorFlow graph.

The reference outputs in ``data/musicnn_reference.npz`` were computed once with musicnn 0.1.0's own
graph by ``tools/musicnn_reference.py`` (a throwaway TF venv); see that script for what they are.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import ModelError
from core.model import ModelCard, build_frontend, build_net, load_model, load_net
from core.model.nets_musicnn import WINDOW_FRAMES, WINDOW_SAMPLES, MusiCNN, musicnn_frontend

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "resources" / "models" / "musicnn"
REFERENCE = Path(__file__).parent / "data" / "musicnn_reference.npz"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF_TOOL = _tool("musicnn_reference")


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def shipped() -> MusiCNN:
    net, _ = load_net(MODEL)
    return net


def _inputs(ref: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The reference inputs as our layout ``(batch, 96 bands, 187 frames)``."""
    sets = {"synthetic": REF_TOOL.synthetic_inputs(), "audio": REF_TOOL.log_compress(ref["mel_power_f16"])}
    return {k: torch.from_numpy(v).transpose(1, 2).contiguous() for k, v in sets.items()}


def _run(net: MusiCNN, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    with torch.inference_mode():
        pen = net(x)
        return pen.numpy(), net.tag_probabilities(pen).numpy()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_reference_fixture_is_small_and_complete(ref) -> None:
    assert REFERENCE.stat().st_size < 200_000
    assert ref["audio_pcm16"].shape == (WINDOW_SAMPLES,) and ref["mel_power_f16"].shape == (2, WINDOW_FRAMES, 96)
    for name in ("synthetic", "audio"):
        n = 3 if name == "synthetic" else 2
        for suffix in ("", "_f16w"):
            assert ref[f"{name}_penultimate{suffix}"].shape == (n, 200)
            assert ref[f"{name}_taggram{suffix}"].shape == (n, 50)


def test_shipped_network_matches_tf_graph_with_the_same_weights(ref, shipped) -> None:
    """The architecture itself: our net with the stored (float16) weights vs musicnn's graph run with
    the checkpoint rounded the same way, on synthetic inputs and real music (float32 precision)."""
    for name, x in _inputs(ref).items():
        pen, tags = _run(shipped, x)
        np.testing.assert_allclose(pen, ref[f"{name}_penultimate_f16w"], rtol=0, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(tags, ref[f"{name}_taggram_f16w"], rtol=0, atol=1e-5, err_msg=name)


def test_shipped_weights_stay_close_to_the_original_float32_checkpoint(ref, shipped) -> None:
    """float16 storage costs less than 1e-4 of cosine on the penultimate and < 0.005 on any tag score."""
    for name, x in _inputs(ref).items():
        pen, tags = _run(shipped, x)
        assert _cosines(pen, ref[f"{name}_penultimate"]).min() >= 0.9999, name
        assert np.abs(tags - ref[f"{name}_taggram"]).max() < 5e-3, name
    assert all(p.dtype == torch.float32 for p in shipped.parameters())


def test_frontend_matches_musicnn_preprocessing_on_real_audio(ref) -> None:
    """librosa mel power (reflect-padded centred frames) -> float16 -> log10(10000 x + 1) in float32.
    Where librosa's and our float32 power straddle a float16 rounding boundary one value moves by
    one float16 step, so a few of the 17,952 values may differ by up to ~1e-3."""
    audio = torch.from_numpy(ref["audio_pcm16"].astype(np.float32) / 32768.0)
    ours = build_frontend(musicnn_frontend(), 16000)(audio[None])[0].numpy()
    want = REF_TOOL.log_compress(ref["mel_power_f16"][0]).T
    assert ours.shape == want.shape == (96, WINDOW_FRAMES)
    err = np.abs(ours - want)
    assert err.max() < 1e-3 and (err > 1e-5).mean() < 0.005


def test_embedder_on_real_audio_matches_tf_graph(ref) -> None:
    """End to end (audio window -> our frontend -> net -> tag head) through load_model."""
    embedder = load_model(MODEL, device="cpu")
    audio = ref["audio_pcm16"].astype(np.float32) / 32768.0
    vectors, tags = embedder.embed_with_tags(audio[None, None])
    want = ref["audio_penultimate_f16w"][0]
    assert float(vectors[0] @ (want / np.linalg.norm(want))) > 0.99999
    assert np.abs(tags[0] - ref["audio_taggram_f16w"][0]).max() < 1e-4
    assert np.abs(tags[0] - ref["audio_taggram"][0]).max() < 5e-3


def test_card_geometry_tags_and_provenance() -> None:
    embedder = load_model(MODEL, device="cpu")
    card = embedder.card
    assert card.architecture == "musicnn" and card.output_dim == embedder.dim == 200
    assert card.sample_rate == 16000 and card.n_windows == 8
    assert embedder.window_samples == WINDOW_SAMPLES
    assert embedder.frontend(torch.zeros(1, WINDOW_SAMPLES)).shape == (1, 96, WINDOW_FRAMES)
    convert = _tool("convert_musicnn")
    assert embedder.tag_names == convert.MSD_LABELS and len(set(embedder.tag_names)) == 50
    source = card.trained_on["backbone"]
    assert source["package"] == "musicnn" and source["version"] == "0.1.0"
    assert source["wheel_sha256"] == convert.WHEEL_SHA256
    assert source["licence"] == "ISC" and "Permission to use, copy, modify" in source["licence_text"]
    assert "Pons" in source["attribution"] and "Serra" in source["attribution"]
    windows = np.random.default_rng(0).uniform(-0.5, 0.5, (3, 2, WINDOW_SAMPLES)).astype(np.float32)
    vectors, tags = embedder.embed_with_tags(windows)
    assert vectors.shape == (3, 200) and tags.shape == (3, 50)
    assert np.isfinite(tags).all() and (tags >= 0).all() and (tags <= 1).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_card_json_is_the_default_musicnn_config() -> None:
    data = json.loads(MODEL.with_suffix(".json").read_text())
    card = ModelCard.from_dict(data)
    config = MusiCNN.default_config()
    assert card.params == config["params"] and card.frontend == config["frontend"]
    assert card.window_seconds == pytest.approx(WINDOW_SAMPLES / 16000)


def test_frontend_stays_finite_past_float16_range() -> None:
    fe = build_frontend(musicnn_frontend(), 16000)
    loud = torch.sign(torch.randn(1, WINDOW_SAMPLES, generator=torch.Generator().manual_seed(0))) * 1e4
    assert torch.isfinite(fe(loud)).all()


def test_any_window_length_runs_and_bad_input_is_refused() -> None:
    net = build_net("musicnn", {"timbral_filters": 8, "temporal_filters": 4, "midend_filters": 8,
                                "output_dim": 16}).eval()
    with torch.inference_mode():
        for frames in (1, 50, 400):
            out = net(torch.rand(2, 96, frames))
            assert out.shape == (2, 16) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="96"):
        net(torch.rand(2, 128, 187))
    with pytest.raises(ModelError, match="no parameter"):
        build_net("musicnn", {"channels": [8]})
