"""The embedding tower of Zhao & Pu's pairwise (siamese) song-similarity CNN.

The paper down-scales the first 60 s of a song's spectrogram to a 40 x 120 image, then applies
three 2-D convolutions with sigmoid activations, each followed by 2 x 2 max-pooling (the first
kernel 5 x 10, wide in time; the others 2 x 2), and flattens the result (``h_final``); two such
towers with shared weights feed the pair classifier (``trainer.pairwise``). Here the image is
the log-mel window (after a batch-norm over the mel bands, as in the other log-mel nets) resized
to ``image`` by adaptive average pooling, and a linear layer maps the flattened maps to
``output_dim``: the vector the app indexes.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.model.nets_base import ContentNet

SAMPLE_RATE = 22050
HOP_LENGTH = 512


class ZhaoPu2018(ContentNet):
    """Log-mel window -> 40 x 120 image -> 3 x (conv, sigmoid, 2 x 2 max-pool) -> linear embedding."""

    architecture = "zhaopu2018"
    input_kind = "logmel"

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        p = self.params
        if len(p["channels"]) != len(p["kernels"]):
            raise ValueError("channels and kernels must have one entry per conv layer")
        self.input_norm = nn.BatchNorm1d(p["n_mels"])
        layers: list[nn.Module] = []
        in_ch = 1
        h, w = p["image"]
        for out_ch, (kh, kw) in zip(p["channels"], p["kernels"], strict=True):
            layers += [nn.Conv2d(in_ch, out_ch, (kh, kw)), nn.Sigmoid(), nn.MaxPool2d(2)]
            h, w = (h - kh + 1) // 2, (w - kw + 1) // 2
            if h < 1 or w < 1:
                raise ValueError(f"image {p['image']} is too small for kernels {p['kernels']}")
            in_ch = out_ch
        self.convs = nn.Sequential(*layers)
        self.flat = in_ch * h * w
        self.out = nn.Linear(self.flat, self.output_dim)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """The whole 30 s clip as one window (the paper: 60 s), 128 mel bands (the shared log-mel store)."""
        params = {"n_mels": 128, "image": [40, 120], "channels": [16, 32, 32],
                  "kernels": [[5, 10], [2, 2], [2, 2]], "output_dim": 64, "l2_output": False}
        frontend = {"kind": "logmel", "n_fft": 1024, "hop_length": HOP_LENGTH, "n_mels": params["n_mels"]}
        return {"params": params, "sample_rate": SAMPLE_RATE, "frontend": frontend,
                "window_seconds": 30.0, "n_windows": 1}

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` log-mel -> ``(batch, output_dim)``."""
        img = F.adaptive_avg_pool2d(self.input_norm(x).unsqueeze(1), tuple(self.params["image"]))
        return self.finish(self.out(torch.flatten(self.convs(img), 1)))
