"""The installed environment is the pinned set, and that set runs the bundled model end to end."""
from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = {}
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^;\s]+)", spec.strip())
        assert match, f"{spec!r} is not an exact pin (name==version)"
        pins[match.group(1)] = match.group(2)
    return pins


def test_every_dependency_is_pinned_and_installed_at_its_pin() -> None:
    for name, pinned in _pins().items():
        installed = version(name).split("+")[0]   # 2.13.0+cpu is the CPU build of 2.13.0
        assert installed == pinned, f"{name}: installed {version(name)}, pyproject pins {pinned}"


def test_pinned_set_runs_the_bundled_model() -> None:
    from core.model import default_model_path, load_model

    embedder = load_model(default_model_path(), device="cpu")
    card = embedder.card
    rng = np.random.default_rng(0)
    windows = 0.1 * rng.standard_normal((2, card.n_windows, int(card.window_seconds * card.sample_rate)))
    vectors = embedder.embed(windows.astype(np.float32))
    assert vectors.shape == (2, embedder.dim)
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
