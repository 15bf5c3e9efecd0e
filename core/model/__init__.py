"""Content models: frontends, network architectures, model files and inference.

    >>> from core.model import load_model, default_model_path
    >>> embedder = load_model(default_model_path())        # CUDA when present, else CPU
    >>> vectors = embedder.embed(windows)                  # (n_tracks, n_windows, samples) -> (n_tracks, dim)

Names resolve lazily: the model card helpers (``ModelCard``, ``read_card``,
``verify_model_files``, ``default_model_path``) need no torch; the rest imports it on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ModelCard": "core.model.card",
    "analysis_version": "core.model.card",
    "default_model_path": "core.model.card",
    "bundled_model_path": "core.model.card",
    "BUNDLED_MODELS": "core.model.card",
    "model_paths": "core.model.card",
    "read_card": "core.model.card",
    "verify_model_files": "core.model.card",
    "load_model": "core.model.checkpoint",
    "load_net": "core.model.checkpoint",
    "resolve_device": "core.model.checkpoint",
    "save_model": "core.model.checkpoint",
    "Embedder": "core.model.embedder",
    "l2_normalize": "core.model.embedder",
    "LogMel": "core.model.frontend",
    "build_frontend": "core.model.frontend",
    "ARCHITECTURES": "core.model.nets",
    "ContentNet": "core.model.nets",
    "build_net": "core.model.nets",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core.model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
