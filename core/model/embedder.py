"""Inference: audio windows in, one unit-length vector per track out (numpy in and out).

    >>> emb = load_model(default_model_path(), device="cpu")
    >>> windows = np.zeros((8, emb.n_windows, emb.window_samples), np.float32)
    >>> emb.embed(windows).shape
    (8, 40)
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from core.model.checkpoint import ModelCard, resolve_device
from core.model.frontend import build_frontend
from core.model.nets import ContentNet

log = logging.getLogger(__name__)

#: Norm below which a prediction counts as zero and is replaced by :func:`fallback_vector`.
ZERO_NORM = 1e-12
#: Audio samples per forward pass on a GPU (on CPU, the network's ``cpu_batch_samples``).
GPU_BATCH_SAMPLES = 2 ** 23


def fallback_vector(dim: int) -> np.ndarray:
    """The fixed unit vector given to a track whose prediction is zero: all ``1/sqrt(dim)``."""
    return np.full(dim, 1.0 / np.sqrt(dim), dtype=np.float32)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """``(n, dim)`` -> ``(n, dim)`` float32 rows of unit length, always finite.

    Non-finite entries become 0; a row whose norm is below ``ZERO_NORM`` becomes
    :func:`fallback_vector`, so silence or a degenerate model never yields NaN.
    """
    v = np.nan_to_num(np.asarray(vectors, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    zero = norms[:, 0] < ZERO_NORM
    out = v / np.where(norms < ZERO_NORM, 1.0, norms)
    out[zero] = fallback_vector(v.shape[1])
    return out.astype(np.float32)


class Embedder:
    """A loaded model ready for inference: ``embed`` maps tracks' windows to vectors.

    ``version`` is the card's ``analysis_version`` (key vectors by it), ``dim`` the vector
    length, ``sample_rate`` (Hz), ``window_samples`` and ``n_windows`` the geometry the audio
    decoder must produce. Runs in eval mode under ``torch.inference_mode()`` on ``device``
    (``"auto"``: CUDA when present, else CPU). Not thread-safe; torch's thread count is the
    caller's choice (``torch.set_num_threads``).
    """

    def __init__(self, net: ContentNet, card: ModelCard, device: str | torch.device = "auto") -> None:
        self.card = card
        self.device = resolve_device(device)
        self.version = card.analysis_version
        self.dim = int(card.output_dim)
        self.sample_rate = int(card.sample_rate)
        self.window_samples = card.window_samples
        self.n_windows = int(card.n_windows)
        self.net = net.to(self.device).eval()
        self.frontend = build_frontend(card.frontend, card.sample_rate).to(self.device).eval()
        budget = GPU_BATCH_SAMPLES if self.device.type == "cuda" else net.cpu_batch_samples
        #: Windows per forward pass: bounds memory and, on CPU, keeps batches cache-sized.
        self.max_batch_windows = max(1, budget // self.window_samples)

    def __repr__(self) -> str:
        return (f"Embedder({self.card.name!r}, {self.card.architecture}, version={self.version}, "
                f"dim={self.dim}, device={self.device})")

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """``(n_tracks, n_windows, window_samples)`` float32 mono audio -> ``(n_tracks, dim)`` float32.

        Each track's window predictions are pooled by the network (``ContentNet.pool_windows``: their
        mean, unless the architecture pools otherwise), then L2-normalised (:func:`l2_normalize`:
        finite, unit length; a zero prediction becomes :func:`fallback_vector`). Any number of
        windows >= 1 per track is accepted; ``window_samples`` must match the model.
        """
        return self._embed(windows, with_tags=False)[0]

    @property
    def tag_names(self) -> list[str]:
        """The names of the tag scores :meth:`embed_with_tags` returns (empty: the model has no tags)."""
        return list(self.card.tags) if self.net.tag_head is not None else []

    def embed_with_tags(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Like :meth:`embed`, plus ``(n_tracks, n_tags)`` float32 tag scores in [0, 1] (None without tags).

        A track's tag scores are the mean over its windows of each window's sigmoid scores (as
        musicnn's taggram is averaged), in the order of :attr:`tag_names`.
        """
        return self._embed(windows, with_tags=True)

    def _embed(self, windows: np.ndarray, with_tags: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Track vectors and, when asked and the model has a tag head, track tag scores."""
        x = self._check(windows)
        n_tracks, n_win, n_samples = x.shape
        n_tags = len(self.tag_names) if with_tags else 0
        if n_tracks == 0:
            return np.zeros((0, self.dim), np.float32), (np.zeros((0, n_tags), np.float32) if n_tags else None)
        preds, tags = self._predict(x.reshape(n_tracks * n_win, n_samples), with_tags)
        vectors = self._track_vectors(preds.reshape(n_tracks, n_win, self.dim))
        if tags is None:
            return vectors, None
        return vectors, tags.reshape(n_tracks, n_win, -1).mean(axis=1).astype(np.float32)

    def embed_one(self, windows: np.ndarray) -> np.ndarray:
        """``(n_windows, window_samples)`` -> ``(dim,)`` float32 unit vector."""
        return self.embed(np.asarray(windows)[None])[0]

    def _track_vectors(self, preds: np.ndarray) -> np.ndarray:
        """``(n_tracks, n_windows, dim)`` raw window outputs -> unit track vectors (the net's pooling)."""
        with torch.inference_mode():
            pooled = self.net.pool_windows(torch.from_numpy(preds).to(self.device)).float().cpu().numpy()
        return l2_normalize(pooled)

    def _check(self, windows: np.ndarray) -> np.ndarray:
        """Windows as float32 ``(n_tracks, n_windows, window_samples)`` with non-finite samples zeroed."""
        x = np.asarray(windows, dtype=np.float32)
        if x.ndim != 3 or x.shape[1] < 1 or x.shape[2] != self.window_samples:
            raise ValueError(f"expected windows of shape (n_tracks, n_windows, {self.window_samples}), "
                             f"got {x.shape}")
        if not np.isfinite(x).all():  # checked first: the decoder's output is already clean
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        return x

    def _predict(self, flat: np.ndarray, with_tags: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """``(n, window_samples)`` -> ``(n, dim)`` raw predictions and, when asked and the model has a
        tag head, ``(n, n_tags)`` tag scores; in chunks of ``max_batch_windows``."""
        out, tag_out = [], []
        with torch.inference_mode():
            for start in range(0, len(flat), self.max_batch_windows):
                wave = torch.from_numpy(flat[start:start + self.max_batch_windows]).to(self.device)
                raw = self.net(self.frontend(wave))
                out.append(raw.float().cpu().numpy())
                tags = self.net.tag_probabilities(raw) if with_tags else None
                if tags is not None:
                    tag_out.append(tags.float().cpu().numpy())
        return np.concatenate(out), (np.concatenate(tag_out) if tag_out else None)
