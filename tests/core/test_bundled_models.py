"""The bundled models: 'fast' (the default, a student distilled from musicnn) and 'best' (musicnn), by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelError
from core.library import resolve_model_path
from core.model import BUNDLED_MODELS, bundled_model_path, default_model_path, load_model, verify_model_files

FIXTURE_CLIP = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "audio" / "Kevin_MacLeod_-_Vibe_Ace.ogg"


def test_fast_is_the_default_and_both_resolve_by_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CBREC_MODEL", raising=False)
    assert resolve_model_path(None) == default_model_path() == bundled_model_path("default")
    assert resolve_model_path("fast") == default_model_path()
    assert resolve_model_path("Best") == bundled_model_path("best")
    monkeypatch.setenv("CBREC_MODEL", "best")
    assert resolve_model_path(None) == bundled_model_path("best")
    # a file that happens to be called "best" in the working folder wins over the bundled name
    monkeypatch.chdir(tmp_path)
    (tmp_path / "best").write_text("")
    assert resolve_model_path("best") == Path("best")
    assert set(BUNDLED_MODELS) == {"fast", "best"}


def test_a_missing_bundled_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.library.bundled_model_path", lambda name: None)
    with pytest.raises(ModelError, match="bundled model 'best' is not in this copy"):
        resolve_model_path("best")


@pytest.mark.parametrize("name", ["default", "best", "musicnn"])
def test_bundled_cards_verify_name_their_backbone_and_tag(name: str) -> None:
    card = verify_model_files(bundled_model_path(name))
    assert len(card.tags) == 50 and "rock" in card.tags and "jazz" in card.tags
    backbone = card.trained_on.get("backbone") or card.trained_on["teacher"]["backbone"]
    assert backbone["package"] == "musicnn" and backbone["licence"] == "ISC"
    assert len(backbone["wheel_sha256"]) == 64 and "Permission to use" in backbone["licence_text"]
    if name != "musicnn":
        assert card.architecture == "fused" and card.trained_on["source_licences"]


@pytest.mark.skipif(not FIXTURE_CLIP.exists(), reason="../shared/fixtures is absent (an end user's clone)")
def test_fast_and_best_agree_on_real_music_tags() -> None:
    """The student inherits musicnn's tag head: on a real jazz-funk clip both rank jazz/electronic-ish tags high."""
    from core.audio import load_windows

    tops = {}
    for name in ("default", "best"):
        embedder = load_model(bundled_model_path(name), device="cpu")
        windows = load_windows(FIXTURE_CLIP, embedder.sample_rate, embedder.window_samples, embedder.n_windows).windows
        vector, tags = embedder.embed_with_tags(windows[None])
        assert np.isfinite(vector).all() and abs(np.linalg.norm(vector) - 1) < 1e-5
        tops[name] = {embedder.tag_names[i] for i in np.argsort(tags[0])[::-1][:5]}
    assert len(tops["default"] & tops["best"]) >= 2, tops
