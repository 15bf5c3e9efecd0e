"""core.tags on real tagged files: every format, file-name fallback, broken tags, odd names."""
from __future__ import annotations

import os
import threading

import pytest

from core.tags import TrackTags, read_tags
from tests.adversarial_audio import make_adversarial_set
from tests.audio_factory import write_audio

TAGS = {"title": "Blue in Green", "artist": "Miles Davis", "album": "Kind of Blue",
        "albumartist": "Miles Davis Sextet", "tracknumber": "3/5", "date": "1959-08-17", "genre": "Jazz"}
EXPECTED = TrackTags(title="Blue in Green", artist="Miles Davis", album="Kind of Blue",
                     album_artist="Miles Davis Sextet", track_number=3, year=1959, genre="Jazz", duration=None)
TAGGABLE = [".mp3", ".flac", ".ogg", ".opus", ".m4a", ".alac.m4a", ".wav", ".aiff", ".wma"]


def read_quickly(path, seconds: float = 10.0) -> TrackTags:
    """read_tags in a daemon thread, failing the test instead of hanging (FIFOs must not block)."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(tags=read_tags(path)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"read_tags({path!r}) did not return within {seconds} s"
    assert "tags" in box, "read_tags raised"
    return box["tags"]


def without_duration(tags: TrackTags) -> TrackTags:
    return TrackTags(**{**tags.__dict__, "duration": None})


@pytest.mark.parametrize("suffix", TAGGABLE)
def test_tags_round_trip_in_every_format(tmp_path, suffix):
    path = write_audio(tmp_path / f"untitled{suffix}", 2.0, tags=TAGS, cover_bytes=2000)
    tags = read_tags(path)
    assert without_duration(tags) == EXPECTED
    assert tags.duration == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize(("name", "title", "artist", "track"), [
    ("Nina Simone - Sinnerman.flac", "Sinnerman", "Nina Simone", None),
    ("07 - Nina Simone - Sinnerman.flac", "Sinnerman", "Nina Simone", 7),
    ("03 - Sinnerman.flac", "Sinnerman", None, 3),
    ("03. Sinnerman.flac", "Sinnerman", None, 3),
    ("99 Luftballons.flac", "99 Luftballons", None, None),
    ("Kevin_MacLeod_-_Vibe_Ace.flac", "Vibe Ace", "Kevin MacLeod", None),
    ("AC-DC - Back in Black.flac", "Back in Black", "AC-DC", None),
    ("  plain name  .flac", "plain name", None, None),
])
def test_untagged_files_fall_back_to_the_file_name(tmp_path, name, title, artist, track):
    tags = read_tags(write_audio(tmp_path / name, 1.0))
    assert (tags.title, tags.artist, tags.track_number, tags.album) == (title, artist, track, None)
    assert tags.duration == pytest.approx(1.0, abs=0.05)


def test_missing_title_uses_the_name_but_keeps_other_tags(tmp_path):
    path = write_audio(tmp_path / "Someone - Song Name.mp3", 1.0, tags={"artist": "Real Artist", "album": "LP"})
    tags = read_tags(path)
    assert (tags.title, tags.artist, tags.album) == ("Song Name", "Real Artist", "LP")


def test_text_is_cleaned_and_numbers_parsed(tmp_path):
    raw = {"title": "  Padded\x00\x00 ", "artist": "   ", "album": "\x00", "tracknumber": "A1",
           "date": "2004-05-01T10:00", "genre": "(17)"}
    tags = read_tags(write_audio(tmp_path / "Name Artist - Name Title.wav", 1.0, tags=raw))  # plain ID3 frames
    assert tags.title == "Padded"
    assert (tags.artist, tags.album, tags.track_number, tags.year) == (None, None, None, 2004)
    assert tags.genre == "Rock"  # ID3v1 genre number 17
    free_form = write_audio(tmp_path / "x.flac", 1.0, tags={"date": "ca. 1975 (reissue 2001)", "tracknumber": "12"})
    assert (read_tags(free_form).year, read_tags(free_form).track_number) == (1975, 12)


def test_broken_tags_never_raise(tmp_path):
    good = write_audio(tmp_path / "good.mp3", 1.0, tags={"title": "Fine"}).read_bytes()
    garbage_id3 = tmp_path / "Band - Garbled Header.mp3"
    garbage_id3.write_bytes(b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + os.urandom(300) + good[2000:])
    truncated_flac = tmp_path / "Band - Cut Short.flac"
    truncated_flac.write_bytes(write_audio(tmp_path / "whole.flac", 1.0, tags=TAGS).read_bytes()[:60])
    random_m4a = tmp_path / "Band - Noise Bytes.m4a"
    random_m4a.write_bytes(os.urandom(4096))
    for path, title in ((garbage_id3, "Garbled Header"), (truncated_flac, "Cut Short"), (random_m4a, "Noise Bytes")):
        tags = read_quickly(path)
        assert (tags.title, tags.artist) == (title, "Band")


def test_every_adversarial_item_gives_tags(tmp_path):
    items = make_adversarial_set(tmp_path / "bad")
    results = {name: read_quickly(path) for name, path in items.items()}
    assert all(isinstance(t, TrackTags) and t.title for t in results.values())
    assert results["good_mp3"].title == "Good Song" and results["good_mp3"].artist == "Artist One"
    assert results["empty_mp3"].title == "empty" and results["empty_mp3"].duration is None
    if "fifo_mp3" in results:
        assert results["fifo_mp3"].title == "pipe"
    assert results["big_cover_mp3"].title == "Big Cover"


def test_non_utf8_file_names(tmp_path):
    untagged = write_audio(tmp_path / os.fsdecode(b"Caf\xe9 Tacuba - Ojal\xe1 \xff.wav"), 1.0)
    tags = read_tags(untagged)
    assert (tags.artist, tags.title) == ("Café Tacuba", "Ojalá ÿ")  # read as cp1252
    tags.title.encode("utf-8")  # printable, storable text: no lone surrogates
    tagged = write_audio(tmp_path / os.fsdecode(b"\xff\xfe odd.flac"), 1.0, tags={"title": "Proper"})
    assert read_tags(tagged).title == "Proper"
    assert read_tags(os.fsencode(tagged)).title == "Proper"  # bytes paths work too


def test_missing_paths_and_folders(tmp_path):
    assert read_tags(tmp_path / "Gone - Away.mp3") == TrackTags("Away", "Gone", None, None, None, None, None, None)
    folder = tmp_path / "Some Folder"
    folder.mkdir()
    assert read_tags(folder).title == "Some Folder"
