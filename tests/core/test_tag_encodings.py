"""Tags written in Latin-1 / CP1252 read as players read them (issue 9, point 6).

Each file is a real encoded file tagged by mutagen; the tag bytes are then replaced, at equal
length, by what an old tagger wrote (Latin-1 where the format says UTF-8, UTF-8 in a frame
marked Latin-1, CP1252 punctuation), so the files are exactly what such taggers leave behind.
"""
from __future__ import annotations

from pathlib import Path

import mutagen
import pytest
from mutagen.apev2 import APEv2
from mutagen.id3 import ID3, TIT2, TPE1

from core.tags import read_tags
from core.tagtext import decode_text, lenient_text
from tests.audio_factory import write_audio

TITLE = "Vogue à l'âme"
LATIN1 = TITLE.encode("latin-1")          # 13 bytes
UTF8 = TITLE.encode("utf-8")              # 15 bytes
SAME_LENGTH_AS_LATIN1 = "Vogue Q l'Qme"
SAME_LENGTH_AS_UTF8 = "Vogue QQ l'QQme"


def _patch(path: Path, placeholder: str, raw: bytes) -> Path:
    data = path.read_bytes()
    old = placeholder.encode("ascii")
    assert len(old) == len(raw) and data.count(old) == 1, (path, data.count(old))
    path.write_bytes(data.replace(old, raw))
    return path


def _id3(path: Path, version: int, encoding: int, title: str, artist: str | None = None) -> Path:
    tags = ID3()
    tags.add(TIT2(encoding=encoding, text=title))
    if artist:
        tags.add(TPE1(encoding=3, text=artist))
    tags.save(path, v2_version=version)
    return path


@pytest.mark.parametrize("suffix", [".flac", ".ogg", ".opus"])
def test_latin1_vorbis_comments(tmp_path, suffix):
    path = write_audio(tmp_path / f"x{suffix}", 1.0, tags={"title": SAME_LENGTH_AS_LATIN1, "artist": "Artiste"})
    _patch(path, SAME_LENGTH_AS_LATIN1, LATIN1)
    assert mutagen.File(path, easy=True)["title"] == ["Vogue \ufffd l'\ufffdme"], "what mutagen shows alone"
    tags = read_tags(path)
    assert (tags.title, tags.artist) == (TITLE, "Artiste")


def test_id3_frame_marked_utf8_holding_latin1_is_not_dropped(tmp_path):
    path = _id3(write_audio(tmp_path / "x.mp3", 1.0), 4, 3, SAME_LENGTH_AS_LATIN1, artist="Artiste")
    _patch(path, SAME_LENGTH_AS_LATIN1, LATIN1)
    assert "TIT2" not in ID3(path), "mutagen alone drops the frame (the title became the file name)"
    assert (read_tags(path).title, read_tags(path).artist) == (TITLE, "Artiste")


@pytest.mark.parametrize("version", [3, 4])
def test_id3_frame_marked_latin1_holding_utf8_or_cp1252(tmp_path, version):
    path = _id3(write_audio(tmp_path / "utf8.mp3", 1.0), version, 0, SAME_LENGTH_AS_UTF8)
    _patch(path, SAME_LENGTH_AS_UTF8, UTF8)
    assert ID3(path)["TIT2"].text == ["Vogue Ã\xa0 l'Ã¢me"], "mutagen alone shows mojibake"
    assert read_tags(path).title == TITLE
    cp1252 = _id3(write_audio(tmp_path / "cp.mp3", 1.0), version, 0, "DonQt stop")
    _patch(cp1252, "DonQt stop", b"Don\x92t stop")
    assert read_tags(cp1252).title == "Don\u2019t stop"
    plain = _id3(write_audio(tmp_path / "plain.mp3", 1.0), version, 0, TITLE)  # real Latin-1 stays Latin-1
    assert read_tags(plain).title == TITLE


def test_mp4_text_atom_holding_latin1(tmp_path):
    path = write_audio(tmp_path / "x.m4a", 1.0, tags={"title": SAME_LENGTH_AS_LATIN1, "artist": "Artiste"})
    _patch(path, SAME_LENGTH_AS_LATIN1, LATIN1)
    assert "\xa9nam" not in mutagen.File(path).tags, "mutagen alone sets the atom aside"
    assert (read_tags(path).title, read_tags(path).artist) == (TITLE, "Artiste")


def test_apev2_item_holding_latin1(tmp_path):
    path = _wavpack(tmp_path / "x.wv")
    ape = APEv2()
    ape["Title"] = SAME_LENGTH_AS_LATIN1
    ape["Artist"] = "Artiste"
    ape.save(path)
    _patch(path, SAME_LENGTH_AS_LATIN1, LATIN1)
    assert (read_tags(path).title, read_tags(path).artist) == (TITLE, "Artiste")


def _wavpack(path: Path) -> Path:
    """A real WavPack file (PyAV's encoder), untagged."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="wv") as out:
        stream = out.add_stream("wavpack", rate=22050, layout="mono")
        samples = (0.2 * np.sin(np.arange(22050) * 2 * np.pi * 440 / 22050) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16p", layout="mono")
        frame.sample_rate = 22050
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_decode_text_and_its_scope(tmp_path):
    assert decode_text(UTF8) == TITLE and decode_text(LATIN1) == TITLE
    assert decode_text(b"Don\x92t") == "Don\u2019t"
    assert decode_text(b"\x81\x8d") == "\x81\x8d"  # undefined in CP1252: Latin-1
    path = write_audio(tmp_path / "x.flac", 1.0, tags={"title": SAME_LENGTH_AS_LATIN1})
    _patch(path, SAME_LENGTH_AS_LATIN1, LATIN1)
    with lenient_text():
        assert mutagen.File(path)["title"] == [TITLE]
    assert mutagen.File(path)["title"] == ["Vogue \ufffd l'\ufffdme"], "outside the block mutagen is unchanged"


def test_latin1_tags_reach_the_store_and_the_exports(tmp_path, test_model):
    """Scanned into a real library: the store, the playlist and its M3U8/XSPF export all say it."""
    from core import Library

    music = tmp_path / "music"
    music.mkdir()
    path = write_audio(music / "song.flac", 3.0, tags={"title": SAME_LENGTH_AS_LATIN1, "artist": "Artiste"})
    _patch(path, SAME_LENGTH_AS_LATIN1, LATIN1)
    write_audio(music / "other.flac", 3.0, kind="noise", tags={"title": "Other", "artist": "Someone"})
    with Library.open(tmp_path / "lib", model=test_model, device="cpu", workers=1) as lib:
        report = lib.scan([music])
        assert len(report.added) == 2, report.summary()
        track = lib.track(path)
        assert track.title == TITLE
        playlist = lib.playlist([track], length=2)
        m3u = playlist.write(tmp_path / "out.m3u8")
        assert f"Artiste - {TITLE}" in Path(m3u).read_text(encoding="utf-8")
        xspf = playlist.write(tmp_path / "out.xspf")
        assert f"<title>{TITLE}</title>" in Path(xspf).read_text(encoding="utf-8").replace("&apos;", "'")
