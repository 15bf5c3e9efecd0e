"""Prototype architecture for the attempts: dieleman2014 plus the window's log-mel mean/std per band."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from core.model import nets
from core.model.nets_spectral import Dieleman2014, _check_frames, _dense_stack


class DStats(Dieleman2014):
    """Dieleman2014 + the window's (batch-normalised) log-mel mean/std per band beside the conv pooling."""

    architecture = "dstats"

    def __init__(self, params: dict) -> None:
        super().__init__(params)
        p = self.params
        self.dense, width = _dense_stack(3 * p["channels"][-1] + 2 * p["n_mels"], p["dense"], p["dropout"])
        self.out = nn.Linear(width, self.output_dim)
        self.stat_norm = nn.BatchNorm1d(2 * p["n_mels"])

    def forward(self, x: Tensor) -> Tensor:
        _check_frames(self, x)
        z = self.input_norm(x)
        h = self.convs(z)
        stats = self.stat_norm(torch.cat([z.mean(dim=2), z.std(dim=2)], dim=1))
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2), h.square().mean(dim=2).add(1e-8).sqrt(), stats], dim=1)
        return self.finish(self.out(self.dense(pooled)))


nets.ARCHITECTURES.setdefault(DStats.architecture, DStats)
