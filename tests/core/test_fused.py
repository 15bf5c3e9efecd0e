"""The ``fused`` architecture: an inner network's vector beside a timbre summary, fixed statistics."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.model import ModelCard, load_model, save_model
from core.model.nets_fused import Fused

INNER = {"architecture": "dieleman2014",
         "params": {"n_mels": 16, "channels": [8, 8], "pools": [4], "dense": [16], "output_dim": 6}}


def _fused(weight: float = 0.3) -> Fused:
    torch.manual_seed(0)
    return Fused({"inner": INNER, "timbre_weight": weight, "n_mels": 16, "output_dim": 6 + 32})


def test_window_output_is_inner_then_band_mean_and_std() -> None:
    net = _fused().eval()
    x = torch.randn(3, 16, 40)
    out = net(x)
    assert out.shape == (3, 38)
    torch.testing.assert_close(out[:, :6], net.inner(x))
    torch.testing.assert_close(out[:, 6:22], x.mean(2))
    torch.testing.assert_close(out[:, 22:], x.std(2))


def test_pooling_weights_unit_parts_with_fixed_statistics() -> None:
    net = _fused(0.25).eval()
    raw = torch.randn(40, 38)
    owner = torch.arange(40) // 4
    net.set_statistics(raw, owner)
    track_means = raw.reshape(10, 4, 38).mean(1)
    torch.testing.assert_close(net.center, F.normalize(track_means[:, :6], dim=1).mean(0))
    torch.testing.assert_close(net.stats_mean, track_means[:, 6:].mean(0))
    pooled = net.pool_windows(raw.reshape(10, 4, 38))
    torch.testing.assert_close(pooled[:, :6].norm(dim=1), torch.full((10,), 0.75))
    torch.testing.assert_close(pooled[:, 6:].norm(dim=1), torch.full((10,), 0.25))
    # a track's vector depends on its own windows only, not on the others in the batch
    torch.testing.assert_close(net.pool_windows(raw.reshape(10, 4, 38)[:1]), pooled[:1])


def test_tag_head_ignores_timbre_and_model_round_trips(tmp_path: Path) -> None:
    net = _fused()
    head = net.attach_tag_head(3)
    assert torch.count_nonzero(head.weight[:, 6:]) == 0
    net.set_statistics(torch.randn(8, 38).abs(), torch.arange(8) // 2)
    card = ModelCard(name="f", architecture="fused", params=dict(net.params), sample_rate=16000,
                     frontend={"kind": "logmel", "n_fft": 512, "hop_length": 256, "n_mels": 16},
                     window_seconds=1.0, n_windows=2, output_dim=38, tags=["a", "b", "c"])
    save_model(net, card, tmp_path / "f")
    embedder = load_model(tmp_path / "f.pt", device="cpu")
    torch.testing.assert_close(embedder.net.center, net.center)
    rng = np.random.default_rng(0)
    vectors, tags = embedder.embed_with_tags((0.1 * rng.standard_normal((2, 2, 16000))).astype(np.float32))
    assert vectors.shape == (2, 38) and tags.shape == (2, 3)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
