"""Content network architectures, by name.

Every architecture implements :class:`ContentNet` (frontend output -> ``(batch, output_dim)``)
and has a plain-data ``default_config()``; the trainer and the app build them by name:

    >>> net = build_net("dieleman2014", {"output_dim": 50})
    >>> net.output_dim
    50
"""
from __future__ import annotations

from typing import Any

from core.errors import ModelError
from core.model.nets_base import ContentNet
from core.model.nets_fused import Fused
from core.model.nets_musicnn import MusiCNN, MusiCNNHead
from core.model.nets_pairwise import ZhaoPu2018
from core.model.nets_spectral import Dieleman2014, VdO2013
from core.model.nets_waveform import SampleCNN2017

__all__ = ["ARCHITECTURES", "ContentNet", "Dieleman2014", "Fused", "MusiCNN", "MusiCNNHead", "SampleCNN2017", "VdO2013", "ZhaoPu2018", "build_net"]

ARCHITECTURES: dict[str, type[ContentNet]] = {
    cls.architecture: cls for cls in (VdO2013, Dieleman2014, SampleCNN2017, MusiCNN, MusiCNNHead, ZhaoPu2018, Fused)
}


def build_net(architecture: str, params: dict[str, Any]) -> ContentNet:
    """A freshly initialised network; ``params`` overrides the architecture's default params.

    Raises :class:`ModelError` for an unknown architecture, parameter name or invalid value.
    """
    cls = ARCHITECTURES.get(architecture)
    if cls is None:
        raise ModelError(
            f"Unknown model architecture {architecture!r}; this version of cbrec knows "
            f"{', '.join(sorted(ARCHITECTURES))}. Update cbrec or use a model made for it."
        )
    try:
        return cls(params)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ModelError(f"Invalid parameters for architecture {architecture!r}: {exc}.") from exc
