"""M3U8 and XSPF export, checked by parsing what was written."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlparse

import pytest

from core.errors import CbrecError
from core.export import file_uri, write_m3u8, write_playlist, write_xspf
from core.types import Track

NS = {"x": "http://xspf.org/ns/0/"}
WEIRD_NAMES = [
    "plain.mp3",
    "with space.mp3",
    "#hash and ?query.mp3",
    "100% & more.mp3",
    "<tag> \"quoted\" 'single'.flac",
    "emoji \U0001f3b5 caf\u00e9 \u65e5\u672c.ogg",
    os.fsdecode(b"latin1 caf\xe9 \xe0.mp3"),            # not UTF-8: str with surrogate escapes
    "semi;colon=eq+plus,comma~tilde.mp3",
]


def weird_tracks(folder: Path) -> list[Track]:
    base = os.fsdecode(os.fsencode(str(folder / "Music dir #1")))
    return [Track(i, os.path.join(base, name), f"Title {i} <&>", f"Artist & Co {i}", album="A \"B\" & C",
                  track_number=i + 1, duration=60.5 + i)
            for i, name in enumerate(WEIRD_NAMES)]


def test_m3u8_lines(tmp_path: Path) -> None:
    tracks = [
        Track(1, "/music/a b/Song.mp3", "Song", "Band", duration=181.6),
        Track(2, "/music/Untagged.flac", "Untagged"),                       # no artist, no duration
        Track(3, "/music/caf\u00e9 \U0001f3b5.ogg", "Line\nbreak", "\u00c9dith", duration=0.4),
    ]
    out = write_m3u8(tracks, tmp_path / "list.m3u8")
    raw = out.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")
    lines = raw.decode("utf-8").split("\n")[:-1]
    assert lines == [
        "#EXTM3U",
        "#EXTINF:182,Band - Song", "/music/a b/Song.mp3",
        "#EXTINF:-1,Untagged", "/music/Untagged.flac",
        "#EXTINF:0,\u00c9dith - Line break", "/music/caf\u00e9 \U0001f3b5.ogg",
    ]


def test_m3u8_makes_paths_absolute_and_keeps_non_utf8_names(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    latin1 = os.fsdecode(b"/music/caf\xe9.mp3")
    out = write_m3u8([Track(1, "rel/x.mp3", "X"), Track(2, latin1, "Y")], tmp_path / "l.m3u")
    lines = out.read_bytes().decode("utf-8").split("\n")         # still valid UTF-8
    assert lines[2] == str(tmp_path / "rel" / "x.mp3")
    uri = urlparse(lines[4])
    assert uri.scheme == "file" and unquote_to_bytes(uri.path) == b"/music/caf\xe9.mp3"


def parse_xspf(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://xspf.org/ns/0/}playlist" and root.get("version") == "1"
    return root


def test_xspf_round_trips_weird_file_names(tmp_path: Path) -> None:
    tracks = weird_tracks(tmp_path)
    out = write_xspf(tracks, tmp_path / "mix.xspf", title="Mix <1> & \u00e9")
    assert out.read_bytes().startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = parse_xspf(out)
    assert root.findtext("x:title", namespaces=NS) == "Mix <1> & \u00e9"
    elements = root.findall("x:trackList/x:track", NS)
    assert len(elements) == len(tracks)
    for element, track in zip(elements, tracks, strict=True):
        location = element.findtext("x:location", namespaces=NS)
        assert location.isascii() and " " not in location
        uri = urlparse(location)
        assert uri.scheme == "file" and uri.netloc == "" and not uri.fragment and not uri.query
        assert unquote_to_bytes(uri.path) == os.fsencode(track.path)
        assert element.findtext("x:title", namespaces=NS) == track.title
        assert element.findtext("x:creator", namespaces=NS) == track.artist
        assert element.findtext("x:album", namespaces=NS) == track.album
        assert element.findtext("x:trackNum", namespaces=NS) == str(track.track_number)
        assert element.findtext("x:duration", namespaces=NS) == str(round(track.duration * 1000))
        assert [c.tag.split("}")[1] for c in element] == ["location", "title", "creator", "album",
                                                          "trackNum", "duration"]


def test_xspf_omits_unknown_fields_and_cleans_text(tmp_path: Path) -> None:
    tracks = [Track(1, "/m/x.mp3", "Bell\x07 \udce9", None)]
    root = parse_xspf(write_xspf(tracks, tmp_path / "x.xspf"))
    (element,) = root.findall("x:trackList/x:track", NS)
    assert [c.tag.split("}")[1] for c in element] == ["location", "title"]
    assert element.findtext("x:title", namespaces=NS) == "Bell\ufffd \ufffd"


def test_file_uri_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert unquote_to_bytes(urlparse(file_uri("a b.mp3")).path) == os.fsencode(str(tmp_path / "a b.mp3"))


def test_write_playlist_by_suffix_and_atomic(tmp_path: Path) -> None:
    tracks = weird_tracks(tmp_path)[:2]
    target = tmp_path / "Mix.XSPF"
    target.write_text("old content")
    assert write_playlist(tracks, target, title="T") == target
    assert parse_xspf(target).findtext("x:title", namespaces=NS) == "T"
    assert write_playlist(tracks, str(tmp_path / "m.m3u8")).read_text("utf-8").startswith("#EXTM3U\n")
    with pytest.raises(CbrecError, match="m3u8"):
        write_playlist(tracks, tmp_path / "m.pls")
    with pytest.raises(CbrecError, match="writable"):
        write_playlist(tracks, tmp_path / "missing" / "m.m3u8")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
