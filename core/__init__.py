"""cbrec engine: scan a music library, predict each track's latent factors from audio, query them.

Importing ``core`` is cheap: torch and the rest load only when a name that needs them is used
(worker processes that only decode audio import ``core.audio`` without paying for torch).

    >>> from core import Library
    >>> lib = Library.open()
    >>> report = lib.scan(["~/Music"])
    >>> lib.playlist([lib.tracks()[0]], length=25).write("mix.m3u8")
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Library", "Track", "Hit", "Playlist", "ScanReport", "Progress", "CancelToken",
    "CbrecError", "AudioError", "ModelError", "LibraryError", "TrackNotFound",
]

_LAZY = {
    "Library": "core.library",
    "Playlist": "core.playlist",
    "Track": "core.types",
    "Hit": "core.types",
    "ScanReport": "core.types",
    "Progress": "core.progress",
    "CancelToken": "core.progress",
    "CbrecError": "core.errors",
    "AudioError": "core.errors",
    "ModelError": "core.errors",
    "LibraryError": "core.errors",
    "TrackNotFound": "core.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
