"""Tiny, freshly initialised models for tests that need a model file but no bundled one.

    >>> pt = make_test_model(tmp_path)                       # dieleman2014, 2 x 1 s windows at 22050 Hz
    >>> lib = Library.open(db, model=pt)
    >>> pt = make_test_model(tmp_path, "samplecnn2017", n_windows=1, output_dim=8)
    >>> pt = make_test_model(tmp_path, tags=["rock", "jazz", "ambient"])   # with a tag head
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from core.model import ARCHITECTURES, ModelCard, build_net, save_model

#: Small widths per architecture: inference of one track costs well under a millisecond.
TINY: dict[str, dict[str, Any]] = {
    "dieleman2014": {
        "params": {"n_mels": 32, "channels": [8, 8], "pools": [4], "dense": [16], "output_dim": 16},
        "window_seconds": 1.0, "n_windows": 2,
    },
    "vdo2013": {
        "params": {"n_mels": 32, "channels": [8, 8], "pools": [4, 2], "time_steps": 3, "dense": [16],
                   "output_dim": 16},
        "window_seconds": 1.0, "n_windows": 2,
    },
    "samplecnn2017": {
        "params": {"width_multiplier": 1 / 16, "output_dim": 16},
        "n_windows": 2,
    },
    "musicnn": {
        "params": {"n_mels": 32, "timbral_filters": 8, "temporal_filters": 4, "midend_filters": 8,
                   "output_dim": 8},
        "window_seconds": 1.0, "n_windows": 2,
    },
    "zhaopu2018": {
        "params": {"n_mels": 32, "image": [20, 30], "channels": [4, 8, 8], "kernels": [[3, 3], [2, 2], [2, 2]],
                   "output_dim": 16},
        "window_seconds": 2.0, "n_windows": 1,
    },
    "fused": {
        "params": {"inner": {"architecture": "dieleman2014",
                             "params": {"n_mels": 32, "channels": [8, 8], "pools": [4], "dense": [16],
                                        "output_dim": 16}},
                   "n_mels": 32, "output_dim": 16 + 2 * 32},
        "window_seconds": 1.0, "n_windows": 2,
    },
    "musicnn_head": {
        "params": {"n_mels": 32, "timbral_filters": 8, "temporal_filters": 4, "midend_filters": 8,
                   "penultimate_dim": 8, "head_hidden": 6, "output_dim": 4},
        "window_seconds": 1.0, "n_windows": 2,
    },
}

_CARD_KEYS = {"name", "sample_rate", "frontend", "window_seconds", "n_windows", "trained_on", "metrics", "training"}


def tiny_config(architecture: str = "dieleman2014", **overrides: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(name, config, extra)`` of a tiny model; see :func:`make_test_model` for ``overrides``."""
    config = copy.deepcopy(ARCHITECTURES[architecture].default_config())
    tiny = copy.deepcopy(TINY[architecture])
    config["params"].update(tiny.pop("params"))
    config.update(tiny)
    name = overrides.pop("name", f"test-{architecture}")
    config["params"].update(overrides.pop("params", {}))
    extra = {}
    for key, value in overrides.items():
        if key in ("trained_on", "metrics", "training"):
            extra[key] = value
        elif key in _CARD_KEYS:
            config[key] = value
        elif key == "dropout" and "dropout" not in config["params"]:
            continue  # an architecture without dropout (zhaopu2018, fused) trains without it anyway
        else:
            config["params"][key] = value
    if config["frontend"]["kind"] == "logmel":
        frontend_mels = overrides.get("frontend", {}).get("n_mels")
        if frontend_mels is not None and "n_mels" not in overrides:
            config["params"]["n_mels"] = frontend_mels
        config["frontend"]["n_mels"] = config["params"]["n_mels"]
    return name, config, extra


def make_test_model(tmp_path: Path, architecture: str = "dieleman2014", **overrides: Any) -> Path:
    """Save a seeded, freshly initialised tiny model under ``tmp_path``; return its ``.pt`` path.

    ``overrides``: ``name``, ``seed`` (default 0), card fields (``sample_rate``, ``window_seconds``,
    ``n_windows``, ``frontend``, ``trained_on``, ``metrics``, ``training``), ``params`` (a dict)
    or any single network parameter (``output_dim=8``, ``channels=[4, 4]``...). The card's
    frontend ``n_mels`` follows the network's. ``tags`` (a list of names) adds a random tag head.
    """
    seed = int(overrides.pop("seed", 0))
    tags = list(overrides.pop("tags", []))
    name, config, extra = tiny_config(architecture, **overrides)
    card = ModelCard.from_config(name, architecture, config, tags=tags, **extra)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_net(architecture, card.params)
        if tags:
            net.attach_tag_head(len(tags))
    save_model(net, card, Path(tmp_path) / f"{name}.pt")
    return Path(tmp_path) / f"{name}.pt"
