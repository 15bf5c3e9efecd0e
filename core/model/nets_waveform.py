"""Raw-waveform network: Lee et al.'s sample-level CNN as used by Platt 2017."""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from core.model.nets_base import ContentNet, scaled

WINDOW_SAMPLES = 3 ** 10   # 59049: nine pool-3 blocks after a stride-3 conv reduce it to 1
PLATT_SAMPLE_RATE = 16000


def _block(in_ch: int, out_ch: int, kernel: int, pool: int) -> nn.Sequential:
    """Conv1d(kernel, same padding) + BN + ReLU (+ max-pool ``pool``)."""
    layers: list[nn.Module] = [nn.Conv1d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
                               nn.BatchNorm1d(out_ch), nn.ReLU(inplace=True)]
    if pool > 1:
        layers.append(nn.MaxPool1d(pool))
    return nn.Sequential(*layers)


class SampleCNN2017(ContentNet):
    """Sample-level CNN ("3^9 model", Lee et al. 2017; Platt 2017 for latent factors).

    Input ``(batch, 1, samples)`` raw audio, 59049 = 3^10 samples by default; output
    ``(batch, output_dim)``. A stride-3 conv of width 3, then one block per entry of
    ``widths`` (conv 3 + BN + ReLU + max-pool 3), a 1x1 conv of ``final_channels``, a max over
    whatever time steps remain (exactly one for 3^10 samples and nine blocks), dropout and a
    dense output. ``l2_output`` (default on, as Platt found necessary) makes the output unit
    length. All channel counts are scaled by ``width_multiplier`` (Lee et al.: 1.0).
    """

    architecture = "samplecnn2017"
    input_kind = "waveform"
    cpu_batch_samples = 2 ** 19   # its activations are large: smaller batches stay in cache

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        p = self.params
        m = float(p["width_multiplier"])
        first = scaled(p["first_channels"], m)
        layers: list[nn.Module] = [nn.Conv1d(1, first, 3, stride=3, bias=False),
                                   nn.BatchNorm1d(first), nn.ReLU(inplace=True)]
        in_ch = first
        for width in p["widths"]:
            layers.append(_block(in_ch, scaled(width, m), 3, 3))
            in_ch = scaled(width, m)
        final = scaled(p["final_channels"], m)
        layers.append(_block(in_ch, final, 1, 1))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(p["dropout"])
        self.out = nn.Linear(final, self.output_dim)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """16 kHz (Platt 2017), 3 windows of 59049 samples (3.69 s), channels at a quarter width."""
        params = {"first_channels": 128, "widths": [128, 128, 256, 256, 256, 256, 256, 256, 512],
                  "final_channels": 512, "width_multiplier": 0.25, "dropout": 0.5,
                  "output_dim": 40, "l2_output": True}
        return {"params": params, "sample_rate": PLATT_SAMPLE_RATE, "frontend": {"kind": "waveform"},
                "window_seconds": WINDOW_SAMPLES / PLATT_SAMPLE_RATE, "n_windows": 3}

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, 1, samples)`` waveform -> ``(batch, output_dim)``."""
        need = 3 ** (len(self.params["widths"]) + 1)
        if x.shape[-1] < need:
            raise ValueError(f"samplecnn2017: a window of {x.shape[-1]} samples is too short; "
                             f"this configuration needs at least {need} samples.")
        h = self.features(x).amax(dim=2)
        return self.finish(self.out(self.dropout(h)))
