"""core.model: architectures, frontend, model files (save/load/verify) and the Embedder. Real torch."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import ModelError
from core.model import (
    ARCHITECTURES,
    Embedder,
    LogMel,
    ModelCard,
    build_frontend,
    build_net,
    default_model_path,
    l2_normalize,
    load_model,
    resolve_device,
    save_model,
)
from core.model.checkpoint import load_net
from core.model.frontend import mel_filterbank
from tests.model_factory import make_test_model, tiny_config

ARCHS = sorted(ARCHITECTURES)
#: ``fused`` wraps an already trained network beside a weightless timbre summary: it is never trained
#: as a whole (tests/core/test_fused.py covers it); the inner networks are trained above.
TRAINABLE = [arch for arch in ARCHS if arch != "fused"]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Torch's spinning thread pool is very slow on a shared 2-core machine; use one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _audio(n_tracks: int, n_windows: int, n_samples: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal((n_tracks, n_windows, n_samples))).astype(np.float32)


def _card_json(pt: Path) -> Path:
    return pt.with_suffix(".json")


# --- frontend -------------------------------------------------------------------------------

def test_mel_filterbank_matches_librosa_reference() -> None:
    """Reference: librosa 0.11 ``librosa.filters.mel`` (Slaney scale and norm), summarised per row in
    ``data/librosa_mel_reference.json`` (made once with librosa; cbrec does not depend on it)."""
    reference = json.loads((Path(__file__).parent / "data" / "librosa_mel_reference.json").read_text())
    for config in reference["configs"]:
        fb = mel_filterbank(config["sr"], config["n_fft"], config["n_mels"]).astype(np.float64)
        assert fb.shape == (config["n_mels"], config["n_fft"] // 2 + 1)
        np.testing.assert_allclose(fb.sum(1), config["row_sums"], atol=1e-7)
        np.testing.assert_allclose(fb.max(1), config["row_peak_values"], atol=1e-7)
        assert fb.argmax(1).tolist() == config["row_peak_bins"]
        assert (fb > 0).sum(1).tolist() == config["row_nonzero_bins"]


def test_logmel_is_log1p_of_filterbank_times_power_spectrum() -> None:
    wave = torch.from_numpy(_audio(1, 3, 22050)[0])
    ours = LogMel(sample_rate=22050, n_fft=1024, hop_length=512, n_mels=64)(wave)
    spec = torch.stft(wave, 1024, 512, window=torch.hann_window(1024), center=True, pad_mode="reflect",
                      return_complex=True).abs().square()
    mel = torch.from_numpy(mel_filterbank(22050, 1024, 64)) @ spec
    assert ours.shape == (3, 64, 22050 // 512 + 1)
    torch.testing.assert_close(ours, torch.log1p(1e4 * mel), atol=1e-4, rtol=1e-4)


def test_logmel_of_silence_is_zero_and_waveform_frontend_adds_channel() -> None:
    assert torch.count_nonzero(build_frontend({"kind": "logmel", "n_mels": 32}, 16000)(torch.zeros(2, 8000))) == 0
    assert build_frontend({"kind": "waveform"}, 16000)(torch.zeros(2, 100)).shape == (2, 1, 100)
    with pytest.raises(ModelError, match="Unknown frontend kind"):
        build_frontend({"kind": "cqt"}, 16000)
    with pytest.raises(ModelError, match="unknown parameter"):
        build_frontend({"kind": "logmel", "n_bins": 3}, 16000)


# --- architectures --------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_default_config_maps_windows_to_output_dim(arch: str) -> None:
    config = ARCHITECTURES[arch].default_config()
    card = ModelCard.from_config("t", arch, config)
    net = build_net(arch, config["params"]).eval()
    frontend = build_frontend(card.frontend, card.sample_rate)
    assert net.architecture == arch and net.input_kind == card.frontend["kind"]
    with torch.inference_mode():
        out = net(frontend(torch.from_numpy(_audio(1, 2, card.window_samples)[0])))
    assert out.shape == (2, net.output_dim) == (2, card.output_dim)
    assert torch.isfinite(out).all()


def test_samplecnn_default_window_is_3_to_the_10() -> None:
    card = ModelCard.from_config("t", "samplecnn2017", ARCHITECTURES["samplecnn2017"].default_config())
    assert card.window_samples == 59049


@pytest.mark.parametrize("arch", TRAINABLE)
def test_tiny_training_steps_reduce_mse(arch: str) -> None:
    torch.manual_seed(0)
    _, config, _ = tiny_config(arch, dropout=0.0)
    card = ModelCard.from_config("t", arch, config)
    net = build_net(arch, card.params).train()
    x = build_frontend(card.frontend, card.sample_rate)(torch.from_numpy(_audio(1, 4, card.window_samples)[0]))
    target = torch.nn.functional.normalize(torch.randn(4, net.output_dim), dim=1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = torch.nn.functional.mse_loss(net(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < 0.7 * losses[0]


def test_build_net_rejects_unknown_architecture_and_parameter() -> None:
    with pytest.raises(ModelError, match="Unknown model architecture 'resnet'.*dieleman2014"):
        build_net("resnet", {})
    with pytest.raises(ModelError, match="no parameter.*n_filters"):
        build_net("dieleman2014", {"n_filters": 3})
    assert build_net("dieleman2014", {"output_dim": 50}).output_dim == 50


def test_too_short_window_gives_a_clear_error() -> None:
    net = build_net("dieleman2014", {})
    with pytest.raises(ValueError, match="too short"):
        net(torch.zeros(1, 128, 20))


# --- save / load ----------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_round_trip_gives_identical_finite_unit_embeddings(tmp_path: Path, arch: str) -> None:
    pt = make_test_model(tmp_path, arch)
    net, card = load_net(pt)
    emb = load_model(pt, device="cpu")
    windows = _audio(3, card.n_windows, card.window_samples)
    vectors = emb.embed(windows)
    assert vectors.shape == (3, emb.dim) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(load_model(pt.with_suffix(".json"), device="cpu").embed(windows), vectors)
    np.testing.assert_array_equal(load_model(pt.with_suffix(""), device="cpu").embed(windows), vectors)
    np.testing.assert_allclose(emb.embed_one(windows[1]), vectors[1], atol=1e-6)
    assert emb.version == card.analysis_version and len(emb.version) == 16
    assert (emb.sample_rate, emb.window_samples, emb.n_windows) == (card.sample_rate, card.window_samples, card.n_windows)


def test_embed_averages_window_predictions_then_normalises(tmp_path: Path) -> None:
    emb = load_model(make_test_model(tmp_path), device="cpu")
    windows = _audio(2, 3, emb.window_samples)
    with torch.inference_mode():
        raw = emb.net(emb.frontend(torch.from_numpy(windows.reshape(6, -1)))).numpy().reshape(2, 3, -1)
    expected = raw.mean(axis=1) / np.linalg.norm(raw.mean(axis=1), axis=1, keepdims=True)
    np.testing.assert_allclose(emb.embed(windows), expected, atol=1e-5)
    emb.max_batch_windows = 1  # chunked inference gives the same vectors
    np.testing.assert_allclose(emb.embed(windows), expected, atol=1e-5)
    assert emb.embed(np.zeros((0, 3, emb.window_samples), np.float32)).shape == (0, emb.dim)
    with pytest.raises(ValueError, match="expected windows of shape"):
        emb.embed(np.zeros((2, 3, emb.window_samples + 1), np.float32))


def test_analysis_version_follows_weights_and_audio_fields_only(tmp_path: Path) -> None:
    _, config, _ = tiny_config("dieleman2014")
    card = ModelCard.from_config("m", "dieleman2014", config)
    torch.manual_seed(0)
    net = build_net("dieleman2014", card.params)
    v1 = save_model(net, card, tmp_path / "a").analysis_version
    assert save_model(net, card, tmp_path / "b").analysis_version == v1
    assert save_model(net, ModelCard(**{**card.to_dict(), "metrics": {"auc": 0.7}}), tmp_path / "c").analysis_version == v1
    assert save_model(net, ModelCard(**{**card.to_dict(), "n_windows": 5}), tmp_path / "d").analysis_version != v1
    with torch.no_grad():
        net.out.bias.add_(1e-3)
    changed = save_model(net, card, tmp_path / "e")
    assert changed.analysis_version != v1
    assert load_model(tmp_path / "e.pt", device="cpu").version == changed.analysis_version


def test_save_model_writes_card_fields(tmp_path: Path) -> None:
    pt = make_test_model(tmp_path, training={"device": "cpu", "seconds": 1.5, "epochs": 1})
    data = json.loads(pt.with_suffix(".json").read_text())
    assert data["architecture"] == "dieleman2014" and data["training"]["epochs"] == 1
    assert data["created"] and len(data["analysis_version"]) == 16
    assert data["params"]["kernel_size"] == 4  # params are stored complete, defaults included
    assert ModelCard.from_dict(data).to_dict() == data
    assert not list(tmp_path.glob(".*.tmp"))


def test_save_model_refuses_card_that_contradicts_network(tmp_path: Path) -> None:
    _, config, _ = tiny_config("dieleman2014")
    card = ModelCard.from_config("m", "dieleman2014", config)
    with pytest.raises(ModelError, match="vdo2013"):
        save_model(build_net("vdo2013", {}), card, tmp_path / "m")
    with pytest.raises(ModelError, match="disagree.*channels"):
        save_model(build_net("dieleman2014", {**card.params, "channels": [4, 4]}), card, tmp_path / "m")


# --- load failures --------------------------------------------------------------------------

def test_missing_files_raise_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nothing\.json does not exist"):
        load_model(tmp_path / "nothing.pt")
    pt = make_test_model(tmp_path)
    pt.unlink()
    with pytest.raises(ModelError, match=r"weights .*\.pt do not exist"):
        load_model(pt)


def test_corrupted_weights_raise_model_error(tmp_path: Path) -> None:
    pt = make_test_model(tmp_path)
    data = pt.read_bytes()
    pt.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="damaged or not a PyTorch file"):
        load_model(pt)
    pt.write_bytes(b"not a model at all" * 10)
    with pytest.raises(ModelError, match="damaged or not a PyTorch file"):
        load_model(pt)


def test_flipped_byte_or_replaced_weights_fail_the_hash(tmp_path: Path) -> None:
    pt = make_test_model(tmp_path)
    data = bytearray(pt.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the tensor data: the file still parses
    pt.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="changed after it was saved"):
        load_model(pt)
    data[len(data) // 2] ^= 0xFF
    pt.write_bytes(bytes(data))
    net, card = load_net(pt)
    with torch.no_grad():
        net.out.weight.mul_(2.0)
    torch.save(net.state_dict(), pt)  # same architecture, different weights, card untouched
    with pytest.raises(ModelError, match="changed after it was saved"):
        load_model(pt)


def test_unknown_architecture_in_card_raises_model_error(tmp_path: Path) -> None:
    pt = make_test_model(tmp_path)
    data = json.loads(_card_json(pt).read_text())
    data["architecture"] = "transformer9000"
    _card_json(pt).write_text(json.dumps(data))
    with pytest.raises(ModelError, match="transformer9000.*knows"):
        load_model(pt)


@pytest.mark.parametrize("edit", [
    lambda d: d.pop("sample_rate"),
    lambda d: d.update(n_windows="three"),
    lambda d: d.update(frontend={"kind": "waveform"}),
])
def test_invalid_card_raises_model_error(tmp_path: Path, edit) -> None:
    pt = make_test_model(tmp_path)
    data = json.loads(_card_json(pt).read_text())
    edit(data)
    _card_json(pt).write_text(json.dumps(data))
    with pytest.raises(ModelError, match=str(_card_json(pt).name)):
        load_model(pt)


def test_card_that_is_not_json_raises_model_error(tmp_path: Path) -> None:
    pt = make_test_model(tmp_path)
    _card_json(pt).write_text("{ not json")
    with pytest.raises(ModelError, match="cannot be read"):
        load_model(pt)


def test_weights_not_matching_card_raise_model_error(tmp_path: Path) -> None:
    pt = make_test_model(tmp_path)
    other = build_net("dieleman2014", {**load_net(pt)[1].params, "channels": [8, 12]})
    torch.save(other.state_dict(), pt)
    with pytest.raises(ModelError, match="do not match the architecture"):
        load_model(pt)


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_weights_only_refuses_pickled_objects(tmp_path: Path) -> None:
    pt = make_test_model(tmp_path)
    marker = tmp_path / "code-ran"
    state = load_net(pt)[0].state_dict()
    state["payload"] = _RunsCodeWhenUnpickled(marker)
    torch.save(state, pt)
    with pytest.raises(ModelError, match="refuses to load"):
        load_model(pt)
    assert not marker.exists()


# --- inference edge cases, devices, bundled model -------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_silence_gives_finite_unit_vectors(tmp_path: Path, arch: str) -> None:
    emb = load_model(make_test_model(tmp_path, arch), device="cpu")
    vectors = emb.embed(np.zeros((2, emb.n_windows, emb.window_samples), np.float32))
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_l2_normalize_replaces_zero_and_nan_rows_with_fixed_unit_vector() -> None:
    out = l2_normalize(np.array([[0.0, 0.0, 0.0, 0.0], [np.nan, 0.0, 0.0, 0.0], [3.0, 4.0, 0.0, 0.0]]))
    np.testing.assert_allclose(out[0], 0.5)
    np.testing.assert_allclose(out[1], 0.5)
    np.testing.assert_allclose(out[2], [0.6, 0.8, 0.0, 0.0], atol=1e-7)


def test_device_resolution_and_cpu_override(tmp_path: Path) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ModelError, match="Unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            resolve_device("cuda")
    emb = load_model(make_test_model(tmp_path), device="cpu")
    assert emb.device.type == "cpu"
    assert all(p.device.type == "cpu" for p in emb.net.parameters())
    assert not emb.net.training


def test_embedder_wraps_an_in_memory_network() -> None:
    _, config, _ = tiny_config("vdo2013")
    card = ModelCard.from_config("m", "vdo2013", config)
    emb = Embedder(build_net("vdo2013", card.params), card, "cpu")
    assert emb.embed(_audio(2, 2, card.window_samples)).shape == (2, card.output_dim)


def test_default_model_path_is_none_or_an_existing_card() -> None:
    path = default_model_path()
    assert path is None or (path.is_file() and path.suffix == ".json")


# --- tag heads ------------------------------------------------------------------------------

def test_tag_head_saves_loads_and_scores_tracks(tmp_path: Path) -> None:
    names = ["rock", "jazz", "ambient"]
    embedder = load_model(make_test_model(tmp_path, tags=names), device="cpu")
    assert embedder.tag_names == names and embedder.card.tags == names
    windows = _audio(3, embedder.n_windows, embedder.window_samples)
    vectors, tags = embedder.embed_with_tags(windows)
    np.testing.assert_array_equal(vectors, embedder.embed(windows))
    assert tags.shape == (3, 3) and tags.dtype == np.float32
    assert np.all((tags > 0) & (tags < 1))
    # a track's scores are the mean of its windows' sigmoid scores
    raw = embedder.net(embedder.frontend(torch.from_numpy(windows[0])))
    expected = torch.sigmoid(embedder.net.tag_head(raw)).mean(0).detach().numpy()
    np.testing.assert_allclose(tags[0], expected, rtol=1e-5, atol=1e-6)


def test_model_without_tags_returns_none_and_card_must_match_head(tmp_path: Path) -> None:
    embedder = load_model(make_test_model(tmp_path), device="cpu")
    vectors, tags = embedder.embed_with_tags(_audio(2, embedder.n_windows, embedder.window_samples))
    assert tags is None and vectors.shape == (2, embedder.dim) and embedder.tag_names == []
    net, card = load_net(make_test_model(tmp_path, name="tagged", tags=["a", "b"]))
    card.tags = ["a"]
    with pytest.raises(ModelError, match="names 1 tag"):
        save_model(net, card, tmp_path / "bad")
