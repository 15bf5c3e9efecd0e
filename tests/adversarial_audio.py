"""The adversarial folder for tests: every awkward file a music library holds, real and generated.

    >>> items = make_adversarial_set(tmp_path / "bad")   # name -> path of every awkward case
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import av
import numpy as np

from tests.audio_factory import write_audio

__all__ = ["make_adversarial_set"]

def _lying_wav(path: Path, seconds: float = 5.0, sr: int = 22050) -> Path:
    """A 16-bit mono WAV holding ``seconds`` of audio whose RIFF and data sizes claim 10 hours."""
    write_audio(path, seconds=seconds, sr=sr, kind="noise", seed=7)
    raw = bytearray(path.read_bytes())
    data_at = raw.find(b"data")
    claimed = 10 * 3600 * sr * 2
    struct.pack_into("<I", raw, data_at + 4, claimed)
    struct.pack_into("<I", raw, 4, data_at + claimed)  # RIFF size = whole file - 8
    path.write_bytes(bytes(raw))
    return path


def _lying_flac(path: Path, seconds: float = 5.0, sr: int = 22050) -> Path:
    """A FLAC holding ``seconds`` of audio whose STREAMINFO claims 10 hours (FFmpeg believes it)."""
    write_audio(path, seconds=seconds, sr=sr, kind="noise", seed=13)
    raw = bytearray(path.read_bytes())
    assert raw[:4] == b"fLaC" and raw[4] & 0x7F == 0  # first block is STREAMINFO
    packed = int.from_bytes(raw[18:26], "big")  # rate(20) channels(3) bits(5) total samples(36)
    packed = (packed & ~((1 << 36) - 1)) | (10 * 3600 * sr)
    raw[18:26] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(raw))
    return path


def _video_only(path: Path) -> Path:
    """A short MPEG-4 video with no audio stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            image = np.full((48, 64, 3), 40 * i, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def _truncated(path: Path, seconds: float, seed: int) -> Path:
    write_audio(path, seconds=seconds, kind="chord", seed=seed)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def make_adversarial_set(folder: Path) -> dict[str, Path]:
    """Fill ``folder`` with good tracks and every awkward case a library meets; returns name -> path.

    Names: good_mp3, good_flac, good_ogg, good_wav, empty_mp3, random_flac, random_m4a,
    truncated_mp3, truncated_flac, text_ogg, fifo_mp3 (POSIX only), dir_mp3, loop_a_mp3,
    loop_b_mp3, dir_link_ancestor, broken_link_flac, non_utf8_wav, multichannel_96k_flac,
    short_clip_wav, silence_flac, lying_header_wav, lying_header_flac, video_only_mp4, big_cover_mp3,
    flac_named_mp3.

    The lying WAV's data size claims 10 hours (FFmpeg clamps it to the file; mutagen believes it);
    the lying FLAC's STREAMINFO claims 10 hours (FFmpeg believes it).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    items: dict[str, Path] = {
        "good_mp3": write_audio(folder / "Artist One - Good Song.mp3", 6, seed=1,
                                tags={"title": "Good Song", "artist": "Artist One"}),
        "good_flac": write_audio(folder / "good.flac", 8, kind="drums", seed=2),
        "good_ogg": write_audio(folder / "good.ogg", 6, kind="noise", seed=3),
        "good_wav": write_audio(folder / "good.wav", 4, kind="sweep", seed=4),
        "truncated_mp3": _truncated(folder / "truncated.mp3", 6, 5),
        "truncated_flac": _truncated(folder / "truncated.flac", 10, 6),
        "non_utf8_wav": write_audio(folder / os.fsdecode(b"caf\xe9 \xff.wav"), 3, seed=8),
        "multichannel_96k_flac": write_audio(folder / "surround_96k.flac", 2, sr=96000, channels=8, seed=9),
        "short_clip_wav": write_audio(folder / "short_clip.wav", 0.3, seed=10),
        "silence_flac": write_audio(folder / "silence.flac", 60, kind="silence"),
        "lying_header_wav": _lying_wav(folder / "lying_header.wav"),
        "lying_header_flac": _lying_flac(folder / "lying_header.flac"),
        "video_only_mp4": _video_only(folder / "video_only.mp4"),
        "big_cover_mp3": write_audio(folder / "big_cover.mp3", 4, seed=11, cover_bytes=5 * 1024 * 1024,
                                     tags={"title": "Big Cover"}),
    }
    liar = write_audio(folder / "really_flac.flac", 4, seed=12)
    items["flac_named_mp3"] = liar.rename(liar.with_suffix(".mp3"))
    empty = folder / "empty.mp3"
    empty.write_bytes(b"")
    items["empty_mp3"] = empty
    for name, suffix in (("random_flac", ".flac"), ("random_m4a", ".m4a")):
        p = folder / f"random{suffix}"
        p.write_bytes(rng.bytes(64 * 1024))
        items[name] = p
    text = folder / "notes.ogg"
    text.write_text("These are liner notes, not audio.\n" * 50, encoding="utf-8")
    items["text_ogg"] = text
    if hasattr(os, "mkfifo"):
        fifo = folder / "pipe.mp3"
        os.mkfifo(fifo)
        items["fifo_mp3"] = fifo
    dir_mp3 = folder / "folder.mp3"
    dir_mp3.mkdir()
    items["dir_mp3"] = dir_mp3
    a, b = folder / "loop_a.mp3", folder / "loop_b.mp3"
    os.symlink(b.name, a)
    os.symlink(a.name, b)
    items["loop_a_mp3"], items["loop_b_mp3"] = a, b
    nested = folder / "nested"
    nested.mkdir()
    up = nested / "up"
    os.symlink("..", up, target_is_directory=True)
    items["dir_link_ancestor"] = up
    broken = folder / "broken.flac"
    os.symlink("does_not_exist.flac", broken)
    items["broken_link_flac"] = broken
    return items
