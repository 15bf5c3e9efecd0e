"""Shared fixtures for core tests: a small real music folder and a freshly initialised model."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.audio_factory import write_audio
from tests.model_factory import make_test_model

# (relative path, synth kind, seed, artist, title): three timbres, several formats
MUSIC = [
    ("chords/a1.mp3", "chord", 1, "Ann", "Morning"),
    ("chords/a2.flac", "chord", 2, "Ann", "Noon"),
    ("chords/a3.ogg", "chord", 3, "Bob", "Evening"),
    ("chords/a4.m4a", "chord", 4, "Bob", "Night"),
    ("noise/n1.opus", "noise", 5, "Cid", "Static"),
    ("noise/n2.wav", "noise", 6, "Cid", "Hiss"),
    ("noise/n3.aiff", "noise", 7, "Dee", "Rain"),
    ("drums/d1.mp3", "drums", 8, "Eve", "Kick"),
    ("drums/d2.flac", "drums", 9, "Eve", "Snare"),
    ("drums/d3.wma", "drums", 10, "Fay", "Toms"),
]


@pytest.fixture(scope="session")
def test_model(tmp_path_factory) -> Path:
    return make_test_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def music_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("music-template")
    for rel, kind, seed, artist, title in MUSIC:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_audio(root / rel, seconds=6.0, kind=kind, seed=seed,
                    tags={"artist": artist, "title": title, "album": kind.title()})
    return root


@pytest.fixture
def music(music_template, tmp_path) -> Path:
    """A private copy of the music folder that a test may change."""
    import shutil

    dest = tmp_path / "music"
    shutil.copytree(music_template, dest)
    return dest
