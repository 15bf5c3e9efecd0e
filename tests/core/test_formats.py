"""What a scan looks at (issue 9, point 15): Musepack, DSD, TAK, Speex, M4B... by name, and audio
under any other name by its content; pictures, text and non-audio bytes are left alone.

The last test runs mutagen's own test-suite files (its sdist's ``tests/data``, fetched with
``pip download``) through a scan; it skips, saying why, when the archive cannot be had.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.formats import fetch_mutagen_data, scan_folder, table
from core import Library
from core.audio import AUDIO_EXTENSIONS
from core.sniff import holds_audio, worth_sniffing
from tests.audio_factory import Fmt, _encode, synth, write_audio

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


def _write(path: Path, container: str, codec: str, sr: int = 44100, seconds: float = 3.0, seed: int = 0) -> Path:
    _encode(path, Fmt(container, codec), synth(seconds, sr, 1, "chord", seed)[None], sr)
    return path


@pytest.fixture(scope="module")
def odd_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("odd")
    write_audio(root / "book.m4a", seconds=3.0, seed=1).rename(root / "book.m4b")        # an audiobook
    _write(root / "lossless.tta", "tta", "tta", seed=2)
    _write(root / "dolby.ac3", "ac3", "ac3", seed=3)
    _write(root / "apple.caf", "caf", "pcm_s16be", seed=4)
    _write(root / "sun.au", "au", "pcm_s16be", seed=5)
    write_audio(root / "renamed.mp3", seconds=3.0, seed=6).rename(root / "renamed.mp3.bak")
    write_audio(root / "noextension.flac", seconds=3.0, seed=7).rename(root / "noextension")
    (root / "broken.mpc").write_bytes(b"MPCK" + bytes(range(256)) * 4)       # Musepack by name, damaged
    (root / "cover.jpg").write_bytes(JPEG_HEAD + bytes(500))
    (root / "notes.txt").write_text("ripped with care\n", encoding="utf-8")
    (root / "random.bin").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)
                                      .tobytes().replace(b"\xff", b"\x00"))
    (root / "song.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x06\x01\xe0" + bytes(64))
    return root


def test_the_new_extensions_are_audio() -> None:
    assert {".mpc", ".dsf", ".dff", ".tak", ".spx", ".m4b", ".tta", ".ac3", ".eac3"} <= AUDIO_EXTENSIONS
    assert not worth_sniffing("cover.JPG") and not worth_sniffing("rip.log") and not worth_sniffing("a.mid")
    assert worth_sniffing("track") and worth_sniffing("song.mp3.bak") and worth_sniffing("x.oggflac")


def test_content_sniffing(odd_folder: Path) -> None:
    for name in ("book.m4b", "lossless.tta", "dolby.ac3", "apple.caf", "sun.au", "renamed.mp3.bak",
                 "noextension", "broken.mpc"):
        assert holds_audio(str(odd_folder / name)), name
    for name in ("cover.jpg", "notes.txt", "random.bin", "song.mid"):
        assert not holds_audio(str(odd_folder / name)), name
    assert not holds_audio(str(odd_folder / "missing"))                       # unreadable: not audio here


def test_scan_takes_new_formats_and_audio_under_other_names(odd_folder: Path, tmp_path: Path, test_model) -> None:
    music = tmp_path / "music"
    shutil.copytree(odd_folder, music)
    with Library.open(tmp_path / "lib", test_model, device="cpu", workers=2) as lib:
        report = lib.scan([music])
        failures = dict(lib.failures())
        analysed = {os.path.basename(t.path) for t in lib.tracks() if t.status == "ok"}
    assert analysed == {"book.m4b", "lossless.tta", "dolby.ac3", "apple.caf", "sun.au", "renamed.mp3.bak",
                        "noextension"}, report.failed
    assert list(failures) == [str(music / "broken.mpc")]
    assert "Cannot decode" in failures[str(music / "broken.mpc")]
    # cover.jpg, notes.txt, random.bin and song.mid are neither tracks nor failures
    assert len(report.added) == 7 and len(report.failed) == 1


@pytest.mark.slow
def test_mutagen_test_files_through_a_scan(tmp_path_factory, test_model) -> None:
    """mutagen 1.48.1's 100 test files: before this change 49 were analysed, 12 failed with a
    reason and 39 were not looked at; now only a picture, a MIDI file and three tag-only APEv2
    files are not looked at, and every other file is analysed or fails with its reason."""
    tmp = tmp_path_factory.mktemp("mutagen")
    sdist = os.environ.get("CBREC_MUTAGEN_SDIST")
    data, why = fetch_mutagen_data(tmp, Path(sdist) if sdist else None)
    if data is None:
        pytest.skip(f"mutagen's test files are not available: {why}")
    result, _ = scan_folder(data, test_model, tmp / "lib")
    print("\n" + table(result))
    counts = {k: len(v) for k, v in result.items()}
    assert sum(counts.values()) == 100
    assert sorted(os.path.basename(p) for p, _ in result["not looked at"]) == [
        "145-invalid-item-count.apev2", "brokentag.apev2", "image.jpg", "oldtag.apev2", "sample.mid"]
    assert all(reason.strip() for _, reason in result["failed"])
    analysed = {os.path.basename(p) for p, _ in result["analysed"]}
    assert {"click.mpc", "sv8_header.mpc", "5644800-2ch-s01-silence.dsf", "5644800-2ch-s01-silence.dff",
            "has-tags.tak", "silence-44-s.tak", "empty.spx", "multiplexed.spx", "ep7.m4b", "ep9.m4b",
            "empty.tta", "silence-44-s.ac3", "silence-44-s.eac3", "empty.oggflac", "no-tags.3g2"} <= analysed
    assert counts["analysed"] >= 60, counts
    assert not any("permission denied" in r for _, r in result["failed"])    # no misleading reasons
