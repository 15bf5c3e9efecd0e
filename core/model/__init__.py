"""Content models: frontends, network architectures, model files and inference.

    >>> from core.model import load_model, default_model_path
    >>> embedder = load_model(default_model_path())        # CUDA when present, else CPU
    >>> vectors = embedder.embed(windows)                  # (n_tracks, n_windows, samples) -> (n_tracks, dim)

Importing this package imports torch; ``core.audio`` and friends do not need it.
"""
from __future__ import annotations

from core.model.checkpoint import (
    ModelCard,
    default_model_path,
    load_model,
    resolve_device,
    save_model,
)
from core.model.embedder import Embedder, l2_normalize
from core.model.frontend import LogMel, build_frontend
from core.model.nets import ARCHITECTURES, ContentNet, build_net

__all__ = [
    "ARCHITECTURES", "ContentNet", "Embedder", "LogMel", "ModelCard",
    "build_frontend", "build_net", "default_model_path", "l2_normalize", "load_model",
    "resolve_device", "save_model",
]
