"""Networks over log-mel spectrograms: van den Oord et al. 2013 and Dieleman 2014.

Both convolve over time only: the mel bands are the input channels of 1-D convolutions, so a
filter spans the whole spectrum and slides along frames. Both start with a batch-norm over the
mel bands (learned input standardisation, saved with the weights), so the log-mel scale needs
no hand-tuned normalisation.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from core.model.nets_base import ContentNet

SAMPLE_RATE = 22050
HOP_LENGTH = 512


def _logmel_config(params: dict[str, Any], window_seconds: float, n_windows: int) -> dict[str, Any]:
    """Config for a log-mel net at 22050 Hz, n_fft 1024, hop 512 (van den Oord et al. §4.2)."""
    frontend = {"kind": "logmel", "n_fft": 1024, "hop_length": HOP_LENGTH, "n_mels": params["n_mels"]}
    return {"params": params, "sample_rate": SAMPLE_RATE, "frontend": frontend,
            "window_seconds": window_seconds, "n_windows": n_windows}


def _conv_stack(in_ch: int, channels: list[int], kernel: int, pools: list[int],
                batch_norm: bool) -> nn.Sequential:
    """Conv1d(kernel) [+ BN] + ReLU per entry of ``channels``, max-pool ``pools[i]`` after layer i."""
    layers: list[nn.Module] = []
    for i, out_ch in enumerate(channels):
        layers.append(nn.Conv1d(in_ch, out_ch, kernel, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(out_ch))
        layers.append(nn.ReLU(inplace=True))
        if i < len(pools) and pools[i] > 1:
            layers.append(nn.MaxPool1d(pools[i]))
        in_ch = out_ch
    return nn.Sequential(*layers)


def min_window_frames(params: dict[str, Any]) -> int:
    """Fewest log-mel frames a window needs to pass the conv stack of ``params`` (valid convs)."""
    need = 1
    for i in reversed(range(len(params["channels"]))):
        if i < len(params["pools"]):
            need *= params["pools"][i]
        need += params["kernel_size"] - 1
    return need


def _check_frames(net: ContentNet, x: Tensor) -> None:
    """Raise ValueError when ``x`` (batch, n_mels, frames) is too short for ``net``'s conv stack."""
    need = min_window_frames(net.params)
    if x.shape[-1] < need:
        raise ValueError(f"{net.architecture}: a window of {x.shape[-1]} frames is too short; "
                         f"this configuration needs at least {need} frames.")


def _dense_stack(in_features: int, units: list[int], dropout: float) -> tuple[nn.Sequential, int]:
    """Linear + ReLU (+ dropout) per entry of ``units``; returns the stack and its width."""
    layers: list[nn.Module] = []
    for width in units:
        layers += [nn.Linear(in_features, width), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = width
    return nn.Sequential(*layers), in_features


class VdO2013(ContentNet):
    """van den Oord, Dieleman & Schrauwen 2013, §4.2: conv layers over time alternating with
    max-pooling, then dense layers, on 3 s log-mel windows (128 bands, n_fft 1024, hop 512).

    Input ``(batch, n_mels, frames)``; output ``(batch, output_dim)``. The conv output is pooled
    to ``time_steps`` frames before the dense layers (an adaptive max-pool that is the identity
    for the default 3 s window, 130 frames -> 14), so other window lengths still fit. The
    paper found dropout did not help, so it defaults to 0. Predictions are averaged over a
    track's windows by the :class:`~core.model.embedder.Embedder`, as in the paper.
    """

    architecture = "vdo2013"
    input_kind = "logmel"

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        p = self.params
        self.input_norm = nn.BatchNorm1d(p["n_mels"])
        self.convs = _conv_stack(p["n_mels"], p["channels"], p["kernel_size"], p["pools"], p["batch_norm"])
        self.to_steps = nn.AdaptiveMaxPool1d(p["time_steps"])
        self.dense, width = _dense_stack(p["channels"][-1] * p["time_steps"], p["dense"], p["dropout"])
        self.out = nn.Linear(width, self.output_dim)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """3 s windows, 4 per track; two conv layers of 128 filters (width 4), one dense layer."""
        params = {"n_mels": 128, "channels": [128, 128], "kernel_size": 4, "pools": [4, 2],
                  "time_steps": 14, "dense": [256], "dropout": 0.0, "batch_norm": True,
                  "output_dim": 40, "l2_output": False}
        return _logmel_config(params, window_seconds=3.0, n_windows=4)

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` log-mel -> ``(batch, output_dim)``."""
        _check_frames(self, x)
        h = self.to_steps(self.convs(self.input_norm(x)))
        return self.finish(self.out(self.dense(torch.flatten(h, 1))))


class Dieleman2014(ContentNet):
    """Dieleman 2014 (Spotify): 1-D time convolutions (filter width 4; max-pool 4 after the first
    layer, 2 after the others), global temporal pooling that concatenates mean, max and L2 norm
    over time, dense ReLU layers with dropout, linear output.

    Input ``(batch, n_mels, frames)``; output ``(batch, output_dim)``. The L2 statistic is the
    root mean square over frames (the L2 norm divided by sqrt(frames)) so its scale does not
    depend on the window length. The paper's full size is 256-512 channels and two dense
    layers of 2048 units; the default here is smaller so one track (3 windows of 4 s, frontend
    included) costs about 9 ms of one CPU thread. ``batch_norm`` adds batch normalisation
    after each conv.
    """

    architecture = "dieleman2014"
    input_kind = "logmel"

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        p = self.params
        self.input_norm = nn.BatchNorm1d(p["n_mels"])
        self.convs = _conv_stack(p["n_mels"], p["channels"], p["kernel_size"], p["pools"], p["batch_norm"])
        self.dense, width = _dense_stack(3 * p["channels"][-1], p["dense"], p["dropout"])
        self.out = nn.Linear(width, self.output_dim)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """4 s windows, 3 per track; four conv layers (64-128 channels), two dense layers of 256."""
        params = {"n_mels": 128, "channels": [64, 128, 128, 128], "kernel_size": 4, "pools": [4, 2, 2],
                  "dense": [256, 256], "dropout": 0.5, "batch_norm": True,
                  "output_dim": 40, "l2_output": False}
        return _logmel_config(params, window_seconds=4.0, n_windows=3)

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` log-mel -> ``(batch, output_dim)``."""
        _check_frames(self, x)
        h = self.convs(self.input_norm(x))
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2), h.square().mean(dim=2).add(1e-8).sqrt()], dim=1)
        return self.finish(self.out(self.dense(pooled)))

