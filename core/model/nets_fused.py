"""A learned vector fused with a timbre summary: ``fused`` wraps any log-mel network.

Per window, the wrapped (*inner*) network's output is concatenated with the window's log-mel mean
and standard deviation per band (a timbre summary, like the MFCC statistics Musly and bliss build
on). Per track, :meth:`Fused.pool_windows` averages the windows, then

    vector = [w * unit(unit(inner) - center),  (1 - w) * unit((stats - stats_mean) / stats_std)]

``center`` (the mean unit vector of the inner network) and ``stats_mean`` / ``stats_std`` are
fixed statistics of a training corpus, saved with the weights (``set_statistics``), so a track's
vector does not depend on the rest of the library. ``timbre_weight`` (w's complement) is chosen by
measurement. A tag head, if any, reads the inner part of the raw window output (its weights on the
timbre part are zero), so the inner network's tags are unchanged.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from core.model.nets_base import ContentNet


class Fused(ContentNet):
    """``(batch, n_mels, frames)`` log-mel -> ``(batch, inner_dim + 2 * n_mels)`` raw window output."""

    architecture = "fused"
    input_kind = "logmel"

    def __init__(self, params: dict[str, Any]) -> None:
        from core.model.nets import build_net  # nets imports this module

        params = dict(params)
        inner = params.get("inner") or self.default_config()["params"]["inner"]
        self.inner_dim = int(inner["params"]["output_dim"])
        n_mels = int(inner["params"].get("n_mels", params.get("n_mels", 96)))
        params["output_dim"] = self.inner_dim + 2 * n_mels
        params["n_mels"] = n_mels
        super().__init__(params)
        self.inner = build_net(inner["architecture"], inner["params"])
        self.cpu_batch_samples = self.inner.cpu_batch_samples
        self.register_buffer("center", torch.zeros(self.inner_dim))
        self.register_buffer("stats_mean", torch.zeros(2 * n_mels))
        self.register_buffer("stats_std", torch.ones(2 * n_mels))

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """A dieleman2014 inner network on musicnn's 96-band 16 kHz log-mel, 8 windows of 2.976 s."""
        from core.model.nets_spectral import Dieleman2014

        inner = Dieleman2014.default_config()["params"] | {"n_mels": 96, "output_dim": 200}
        params = {"inner": {"architecture": "dieleman2014", "params": inner}, "timbre_weight": 0.3,
                  "n_mels": 96, "output_dim": 200 + 2 * 96}
        return {"params": params, "sample_rate": 16000, "window_seconds": 2.976, "n_windows": 8,
                "frontend": {"kind": "logmel", "n_fft": 512, "hop_length": 256, "n_mels": 96}}

    def forward(self, x: Tensor) -> Tensor:
        """Inner output and the window's log-mel mean and standard deviation per band."""
        return torch.cat([self.inner(x), x.mean(dim=2), x.std(dim=2)], dim=1)

    def pool_windows(self, raw: Tensor) -> Tensor:
        """``(n_tracks, n_windows, output_dim)`` -> ``(n_tracks, output_dim)`` fused track vectors."""
        mean = raw.mean(dim=1)
        learned = F.normalize(F.normalize(mean[:, :self.inner_dim], dim=1, eps=1e-8) - self.center, dim=1, eps=1e-8)
        timbre = F.normalize((mean[:, self.inner_dim:] - self.stats_mean) / self.stats_std, dim=1, eps=1e-8)
        w = float(self.params["timbre_weight"])
        return torch.cat([(1 - w) * learned, w * timbre], dim=1)

    def set_statistics(self, raw_windows: Tensor, owner: Tensor) -> None:
        """Fix ``center`` and the timbre statistics from a training corpus' raw window outputs.

        ``raw_windows``: ``(n, output_dim)`` outputs of :meth:`forward`; ``owner``: ``(n,)`` track index
        of each window. ``center`` is the mean unit track vector of the inner part; the timbre
        statistics are the mean and standard deviation of the track-averaged log-mel statistics.
        """
        tracks = torch.unique(owner)
        means = torch.stack([raw_windows[owner == t].mean(0) for t in tracks])
        self.center.copy_(F.normalize(means[:, :self.inner_dim], dim=1, eps=1e-8).mean(0))
        self.stats_mean.copy_(means[:, self.inner_dim:].mean(0))
        self.stats_std.copy_(means[:, self.inner_dim:].std(0).clamp_min(1e-6))

    def attach_tag_head(self, n_tags: int) -> torch.nn.Linear:
        """A tag head over the whole raw output whose timbre weights start (and, if copied, stay) zero."""
        head = super().attach_tag_head(n_tags)
        with torch.no_grad():
            head.weight[:, self.inner_dim:] = 0.0
        return head
