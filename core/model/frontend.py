"""Input frontends: turn a batch of mono audio windows into what a network reads.

A frontend has no trained weights (it is rebuilt from the model card, never saved with the
weights) and is pure signal code: no I/O.

    >>> fe = build_frontend({"kind": "logmel", "n_mels": 128}, sample_rate=22050)
    >>> fe(torch.zeros(2, 66150)).shape          # 3 s at 22050 Hz
    torch.Size([2, 128, 130])
"""
from __future__ import annotations

import torch
import torchaudio
from torch import Tensor

from core.errors import ModelError

FRONTEND_KINDS = ("logmel", "waveform")


class LogMel(torch.nn.Module):
    """Log-compressed mel power spectrogram, ``log(1 + compression * mel)``.

    ``forward``: ``(batch, samples)`` float32 audio in [-1, 1] -> ``(batch, n_mels, frames)``
    with ``frames = samples // hop_length + 1`` (centred, reflect-padded Hann frames). Silence
    maps to exactly 0, so the output is always finite. The mel power equals
    ``torchaudio.transforms.MelSpectrogram(..., norm="slaney", mel_scale="slaney")`` (librosa's
    defaults) but is computed without its transposes and complex ``abs``, about 2.5 times as fast
    on CPU. Parameter names follow librosa (``n_fft``, ``hop_length``, ``n_mels``).
    """

    def __init__(
        self,
        sample_rate: int = 22050,
        n_fft: int = 1024,
        hop_length: int = 512,
        n_mels: int = 128,
        f_min: float = 0.0,
        f_max: float | None = None,
        compression: float = 10_000.0,
    ) -> None:
        super().__init__()
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.n_mels = int(n_mels)
        self.compression = float(compression)
        fb = torchaudio.functional.melscale_fbanks(
            self.n_fft // 2 + 1, float(f_min), float(f_max or sample_rate / 2), self.n_mels,
            int(sample_rate), norm="slaney", mel_scale="slaney",
        )  # (n_freqs, n_mels)
        self.register_buffer("fb_t", fb.T.contiguous(), persistent=False)   # (n_mels, n_freqs)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, wave: Tensor) -> Tensor:
        """``(batch, samples)`` -> ``(batch, n_mels, frames)`` float32."""
        # torch.stft(center=True, pad_mode="reflect") spelled out: framing with unfold and a batched
        # rfft gives the same numbers about 20 % faster on CPU, and the spectrum comes out
        # frames-major, so its power is a contiguous elementwise op and the mel projection one matmul
        pad = self.n_fft // 2
        padded = torch.nn.functional.pad(wave.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.fft.rfft(padded.unfold(-1, self.n_fft, self.hop_length) * self.window)  # (batch, frames, n_freqs)
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(power, self.fb_t.T)                         # (batch, frames, n_mels)
        return torch.log1p(self.compression * mel).transpose(-1, -2).contiguous()


class Waveform(torch.nn.Module):
    """Identity frontend for raw-waveform networks: ``(batch, samples)`` -> ``(batch, 1, samples)``."""

    def forward(self, wave: Tensor) -> Tensor:
        """Add the channel axis."""
        return wave.unsqueeze(1)


def logmel_frames(n_samples: int, hop_length: int) -> int:
    """Frames a centred STFT with ``hop_length`` yields for ``n_samples`` samples."""
    return n_samples // hop_length + 1


def build_frontend(spec: dict, sample_rate: int) -> torch.nn.Module:
    """Build the frontend a model card describes.

    ``spec`` is ``{"kind": "logmel", "n_fft": ..., "hop_length": ..., "n_mels": ..., "f_min": ...,
    "f_max": ..., "compression": ...}`` (all but ``kind`` optional) or ``{"kind": "waveform"}``.
    Raises :class:`ModelError` for an unknown kind or parameter.
    """
    options = dict(spec)
    kind = options.pop("kind", None)
    if kind == "waveform":
        if options:
            raise ModelError(f"The waveform frontend takes no parameters, but got {sorted(options)}.")
        return Waveform()
    if kind == "logmel":
        try:
            return LogMel(sample_rate=sample_rate, **options)
        except TypeError as exc:
            raise ModelError(f"The log-mel frontend got an unknown parameter: {exc}.") from exc
    raise ModelError(
        f"Unknown frontend kind {kind!r}; expected one of {', '.join(FRONTEND_KINDS)}."
    )
