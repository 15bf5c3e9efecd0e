"""The work done in a decode worker process: read tags and the model's excerpt windows.

Kept free of torch so a worker starts in a fraction of a second and stays small.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from core.audio import load_windows
from core.tags import read_tags


def decode_task(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload``: path, sr, window_samples, n_windows, need_vector -> windows (float16), tags.

    ``windows`` is ``None`` when only the tags were asked for (content already analysed).
    Raises :class:`core.errors.AudioError` with a readable reason when the file is unusable.
    """
    path = payload["path"]
    windows = None
    duration = None
    if payload.get("need_vector", True):
        excerpt = load_windows(path, payload["sr"], payload["window_samples"], payload["n_windows"])
        # float16 halves what crosses the pipe (pickled, copied, unpickled): its 11-bit mantissa
        # is far finer than anything a log-mel spectrogram can show
        windows, duration = excerpt.windows.astype(np.float16), excerpt.duration
    tags = dataclasses.asdict(read_tags(path))
    if not tags.get("duration") and duration:
        tags["duration"] = float(duration)
    return {"windows": windows, "tags": tags}
