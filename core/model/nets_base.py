"""The one interface every content network implements (like ``implicit``'s base model)."""
from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from core.errors import ModelError


class ContentNet(torch.nn.Module):
    """Predicts a track's latent factor vector from one excerpt window.

    ``forward``: the frontend's output for a batch of windows -> ``(batch, output_dim)`` raw
    predictions (not averaged over windows, not normalised unless the architecture's
    ``l2_output`` parameter says so). ``input_kind`` names the frontend it reads:
    ``"logmel"`` gives ``(batch, n_mels, frames)``, ``"waveform"`` gives ``(batch, 1, samples)``.
    ``params`` holds every hyper-parameter (defaults filled in), as written to the model card.

    A network may carry a *tag head*: a linear layer from its raw per-window output to tag logits
    (musicnn's last layer, or the same layer re-used by a student distilled to musicnn's
    penultimate). Its names are the card's ``tags``; :meth:`tag_probabilities` applies it.
    """

    architecture: ClassVar[str]
    input_kind: ClassVar[str]
    #: Audio samples per forward pass that ran fastest on one CPU thread (cache-sized batches).
    cpu_batch_samples: ClassVar[int] = 2 ** 20
    output_dim: int

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__()
        self.params = resolve_params(type(self), params)
        self.output_dim = int(self.params["output_dim"])
        self.tag_head: torch.nn.Linear | None = None

    def attach_tag_head(self, n_tags: int) -> torch.nn.Linear:
        """Add a ``Linear(output_dim, n_tags)`` tag head (saved and loaded with the weights)."""
        self.tag_head = torch.nn.Linear(self.output_dim, int(n_tags))
        return self.tag_head

    def pool_windows(self, raw: Tensor) -> Tensor:
        """``(n_tracks, n_windows, output_dim)`` raw window outputs -> ``(n_tracks, output_dim)`` track
        vectors before L2 normalisation; the papers' mean over windows unless an architecture says more."""
        return raw.mean(dim=1)

    def tag_probabilities(self, raw: Tensor) -> Tensor | None:
        """``(batch, output_dim)`` raw outputs -> ``(batch, n_tags)`` sigmoid tag scores, or None without a head."""
        return None if self.tag_head is None else torch.sigmoid(self.tag_head(raw))

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """Plain-data config: ``{"params", "sample_rate", "frontend", "window_seconds", "n_windows"}``."""
        raise NotImplementedError

    def finish(self, x: Tensor) -> Tensor:
        """Apply the optional unit-length output (Platt 2017) to ``(batch, output_dim)``."""
        return F.normalize(x, dim=1, eps=1e-8) if self.params.get("l2_output") else x


def resolve_params(cls: type[ContentNet], params: dict[str, Any]) -> dict[str, Any]:
    """Defaults of ``cls`` overlaid with ``params``; unknown keys raise :class:`ModelError`."""
    defaults = cls.default_config()["params"]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ModelError(
            f"Architecture {cls.architecture!r} has no parameter(s) {', '.join(unknown)}; "
            f"known parameters: {', '.join(sorted(defaults))}."
        )
    return {**defaults, **params}


def scaled(width: int, multiplier: float) -> int:
    """A channel count scaled by ``multiplier``, at least 4."""
    return max(4, int(round(width * multiplier)))
