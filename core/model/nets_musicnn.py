"""musicnn (Pons & Serra 2019): the MSD_musicnn tagging network, re-implemented in PyTorch.

Pons, J. & Serra, X. (2019). "musicnn: pre-trained convolutional neural networks for music audio
tagging". Late-breaking/demo, ISMIR 2019. The original (TensorFlow 1, ISC licence, Music
Technology Group, Universitat Pompeu Fabra) is the PyPI package ``musicnn``; this module is an
independent implementation of the same graph, so that its published weights (converted by
``tools/convert_musicnn.py``) give the same numbers.

Input: ``(batch, 96 mel bands, 187 frames)`` of ``log10(10000 * mel + 1)`` (frontend
``{"kind": "logmel", "log10": true, "power_float16": true, ...}``, 16 kHz, n_fft 512, hop 256).

* front end: batch norm over the whole input (one channel), then musically motivated filters:
  two *timbral* convolutions (7 frames x 38 and 7 x 67 mel bands, 204 filters each, time
  zero-padded to keep 187 frames) and three *temporal* ones (128, 64, 32 frames x 1 band, 51
  filters, TF "same" padding); each ReLU -> batch norm -> max over frequency. Concatenated: 561
  channels per frame.
* mid end: three 1-D convolutions over time (7 frames, 64 filters, ReLU -> batch norm), the last
  two residual; dense connection: front end + all three outputs, 753 channels per frame.
* back end: max and mean over time, interleaved per channel (1506 values, TF's flatten order),
  batch norm, dense 1506 -> 200 with ReLU, batch norm: the *penultimate* layer, this network's
  output. The last dense layer (200 -> 50 Last.fm tags) is the generic tag head
  (:meth:`ContentNet.attach_tag_head`); its sigmoid is musicnn's taggram.

Every batch norm has TF's epsilon, 0.001; dropout (training only in the original) is left out.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.model.nets_base import ContentNet

#: TF's ``tf.compat.v1.layers.batch_normalization`` epsilon (PyTorch's default is 1e-5).
BN_EPS = 1e-3
SAMPLE_RATE = 16000
HOP_LENGTH = 256
N_FFT = 512
#: Frames per window, as musicnn cuts patches: ``librosa.time_to_frames(3 s) + 1``.
WINDOW_FRAMES = 187
#: Samples per window that give exactly 187 centred frames: ``(187 - 1) * 256`` (2.976 s).
WINDOW_SAMPLES = (WINDOW_FRAMES - 1) * HOP_LENGTH


def musicnn_frontend(n_mels: int = 96) -> dict[str, Any]:
    """The frontend spec musicnn reads: librosa's mel power rounded to float16, then log10(10000 x + 1)."""
    return {"kind": "logmel", "n_fft": N_FFT, "hop_length": HOP_LENGTH, "n_mels": n_mels,
            "compression": 10_000.0, "log10": True, "power_float16": True}


class _ConvBN(nn.Module):
    """Conv2d -> ReLU -> BatchNorm2d (musicnn's order: the norm after the activation)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel)
        self.bn = nn.BatchNorm2d(out_ch, eps=BN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(F.relu(self.conv(x)))


class _Conv1dBN(nn.Module):
    """Conv1d over time (zero-padded to keep the length) -> ReLU -> BatchNorm1d."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm1d(out_ch, eps=BN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(F.relu(self.conv(x)))


class MusiCNN(ContentNet):
    """Pons & Serra 2019's musicnn (the ``MSD_musicnn`` configuration by default).

    ``forward``: ``(batch, n_mels, frames)`` -> ``(batch, 200)`` penultimate features (batch-normed
    ReLU outputs; not L2-normalised). Any number of frames >= 1 works (the paper's windows are
    187); the tag head gives the 50 tag logits. Parameters: ``timbral_filters`` (204),
    ``temporal_filters`` (51), ``midend_filters`` (64; 512 in musicnn's "big" variant) and
    ``output_dim`` (the penultimate width, 200; 500 "big"), ``dropout`` (before the penultimate dense
    layer, training only; musicnn trained with 0.5 there, the default here is 0 for fine-tuning).
    """

    architecture = "musicnn"
    input_kind = "logmel"
    #: Two windows per forward pass: from four up, the timbral maps (9 MB a window) spill the cache
    #: and a window costs 80 ms instead of 49 ms of one CPU thread.
    cpu_batch_samples = 2 ** 17

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        p = self.params
        n_mels, timbral, temporal, mid = p["n_mels"], p["timbral_filters"], p["temporal_filters"], p["midend_filters"]
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        #: Timbral filters span 40 % and 70 % of the mel bands (38 and 67 of 96), 7 frames.
        self.timbral = nn.ModuleList(_ConvBN(1, timbral, (int(share * n_mels), 7)) for share in (0.4, 0.7))
        self.temporal = nn.ModuleList(_ConvBN(1, temporal, (1, length)) for length in (128, 64, 32))
        front = 2 * timbral + 3 * temporal
        self.midend = nn.ModuleList([_Conv1dBN(front, mid, 7), _Conv1dBN(mid, mid, 7), _Conv1dBN(mid, mid, 7)])
        pooled = 2 * (front + 3 * mid)
        self.pool_bn = nn.BatchNorm1d(pooled, eps=BN_EPS)
        self.drop = nn.Dropout(p["dropout"])
        #: Width of the penultimate layer (output_dim; a MusiCNNHead's factor head follows it).
        self.penultimate_dim = int(p.get("penultimate_dim") or self.output_dim)
        self.dense = nn.Linear(pooled, self.penultimate_dim)
        self.dense_bn = nn.BatchNorm1d(self.penultimate_dim, eps=BN_EPS)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """MSD_musicnn: 96 mel bands at 16 kHz, windows of 187 frames, 8 spread over the track."""
        params = {"n_mels": 96, "timbral_filters": 204, "temporal_filters": 51, "midend_filters": 64,
                  "output_dim": 200, "dropout": 0.0}
        return {"params": params, "sample_rate": SAMPLE_RATE, "frontend": musicnn_frontend(params["n_mels"]),
                "window_seconds": WINDOW_SAMPLES / SAMPLE_RATE, "n_windows": 8}

    def front_end(self, x: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` -> ``(batch, 561, frames)``: timbral and temporal features."""
        h = self.input_bn(x.unsqueeze(1))                       # (batch, 1, n_mels, frames)
        feats = []
        for block in self.timbral:                              # time padded 3 + 3, frequency valid
            feats.append(block(F.pad(h, (3, 3))).amax(dim=2))
        for block in self.temporal:                             # TF "same": (k - 1) // 2 before, the rest after
            k = block.conv.kernel_size[1]
            feats.append(block(F.pad(h, ((k - 1) // 2, k // 2))).amax(dim=2))
        return torch.cat(feats, dim=1)

    def attach_tag_head(self, n_tags: int) -> nn.Linear:
        """A ``Linear(penultimate width, n_tags)`` tag head (musicnn's last layer)."""
        self.tag_head = nn.Linear(self.penultimate_dim, int(n_tags))
        return self.tag_head

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` log-mel -> ``(batch, output_dim)`` penultimate features."""
        return self.penultimate(x)

    def penultimate(self, x: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` log-mel -> ``(batch, penultimate width)`` penultimate features."""
        if x.dim() != 3 or x.shape[1] != self.params["n_mels"]:
            raise ValueError(f"musicnn expects (batch, {self.params['n_mels']}, frames) input, got {tuple(x.shape)}")
        front = self.front_end(x)
        m1 = self.midend[0](front)
        m2 = self.midend[1](m1) + m1
        m3 = self.midend[2](m2) + m2
        feats = torch.cat([front, m1, m2, m3], dim=1)           # (batch, 753, frames): dense connection
        pooled = torch.stack([feats.amax(dim=2), feats.mean(dim=2)], dim=2).flatten(1)  # [max_c, mean_c, ...]
        return self.dense_bn(F.relu(self.dense(self.drop(self.pool_bn(pooled)))))


class MusiCNNHead(MusiCNN):
    """musicnn + a *factor head*: the pretrained backbone with a head from its penultimate to latent
    factors (``cbrec-train export-head``, trained by the ``head`` stage, :mod:`trainer.head`).

    Parameters: musicnn's, plus ``penultimate_dim`` (the backbone's penultimate width, 200) and
    ``head_hidden`` (0: one linear layer; > 0: ``Linear -> ReLU -> Dropout(0) -> Linear``, the
    layout of the trainer's MLP head); ``output_dim`` is the number of factors. ``forward`` gives
    the factors; the tag head (musicnn's 50 tags) still reads the penultimate, that of the last
    ``forward`` call (as :class:`core.model.Embedder` calls them: forward, then the tags).
    """

    architecture = "musicnn_head"

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        p = self.params
        hidden, pen = int(p["head_hidden"]), self.penultimate_dim
        layers = [nn.Linear(pen, self.output_dim)] if not hidden else \
            [nn.Linear(pen, hidden), nn.ReLU(), nn.Dropout(0.0), nn.Linear(hidden, self.output_dim)]
        self.factor_head = nn.Sequential(*layers)
        self._penultimate: Tensor | None = None

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """MSD_musicnn's geometry; a linear head from the 200-d penultimate to 40 factors."""
        config = MusiCNN.default_config()
        config["params"].update({"penultimate_dim": 200, "head_hidden": 0, "output_dim": 40})
        return config

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, n_mels, frames)`` -> ``(batch, output_dim)`` factors (the penultimate is kept for the tags)."""
        pen = self.penultimate(x)
        self._penultimate = pen
        return self.factor_head(pen)

    def tag_probabilities(self, raw: Tensor) -> Tensor | None:
        """Tag scores of the penultimate computed by the ``forward`` call that gave ``raw``."""
        if self.tag_head is None:
            return None
        pen = self._penultimate
        if pen is None or pen.shape[0] != raw.shape[0]:
            raise ValueError("musicnn_head: call forward on the batch before tag_probabilities")
        return torch.sigmoid(self.tag_head(pen))
