"""History imports on real-shaped files built here: Last.fm CSV (both layouts), ListenBrainz, Spotify,
Rhythmbox and Strawberry; malformed rows, mixed encodings, duplicate imports; real SQLite."""
from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from core.errors import CbrecError
from core.history import History
from core.history.match import Matcher, artist_key, title_key
from core.store import NewTrack, Store

LIB = [  # path, artist, title, album, duration
    ("/m/beatles/let_it_be.flac", "The Beatles", "Let It Be", "Let It Be", 243.0),
    ("/m/beatles/past/let_it_be.mp3", "The Beatles", "Let It Be", "Past Masters", 230.0),
    ("/m/beyonce/halo.mp3", "Beyoncé", "Halo", "I Am... Sasha Fierce", 261.0),
    ("/m/bjork/joga.flac", "Björk", "Jóga", "Homogenic", 305.0),
    ("/m/daft punk/get_lucky.ogg", "Daft Punk", "Get Lucky", "Random Access Memories", 369.0),
    ("/m/Sigur Rós/01 Hoppípolla.ogg", "Sigur Rós", "Hoppípolla", "Takk...", 268.0),
    ("/m/acdc/back_in_black.mp3", "AC/DC", "Back in Black", "Back in Black", 255.0),
]
DIM = 8


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "library.sqlite3")
    rng = np.random.default_rng(0)
    items = [NewTrack(p, 1, 1, f"fp{i}", {"artist": a, "title": t, "album": al, "duration": d},
                      rng.normal(size=DIM).astype(np.float32)) for i, (p, a, t, al, d) in enumerate(LIB)]
    with s.transaction() as conn:
        s.upsert_tracks(conn, items, "v1")
    yield s
    s.close()


@pytest.fixture
def history(store) -> History:
    return History(store, "v1", DIM)


def tid(store: Store, path: str) -> int:
    return store.track_id_for_path(path)


def plays(store: Store) -> list[tuple]:
    return store.conn.execute("SELECT source, track_id, count, artist, title FROM plays ORDER BY id").fetchall()


# ------------------------------------------------------------------------------- matching
def test_normalised_keys_fold_case_accents_feat_and_version_notes():
    assert title_key("Let It Be (Remastered 2009)") == title_key("let it be - 2009 Remaster") == "let it be"
    assert title_key("Get Lucky (feat. Pharrell Williams) [Radio Edit]") == "get lucky"
    assert title_key("Get Lucky feat. Pharrell") == "get lucky"
    assert title_key("Hoppípolla") == title_key("HOPPIPOLLA")
    assert title_key("Remix (Live)") == "remix live"        # live and remixes stay other songs
    assert artist_key("The Beatles") == artist_key("beatles") == "beatles"
    assert artist_key("AC/DC") == artist_key("ac-dc") == artist_key("AC DC")
    assert artist_key("Simon & Garfunkel") == artist_key("Simon and Garfunkel")
    assert title_key("!!!") == "!!!"                          # all punctuation: kept rather than empty


def test_matcher_breaks_ties_by_album_then_id_and_explains_misses(store):
    m = Matcher(store.tracks("v1"))
    first, second = tid(store, LIB[0][0]), tid(store, LIB[1][0])
    assert m.match("Beatles", "Let It Be", "Past Masters (Remastered)") == (second, "")
    assert m.match("The Beatles", "Let It Be", None) == (min(first, second), "")
    assert m.match("Daft Punk feat. Pharrell Williams", "Get Lucky - Radio Edit")[0] == tid(store, LIB[4][0])
    assert m.match("Björk & Thom Yorke", "Jóga")[0] == tid(store, LIB[3][0])       # first credited artist
    assert m.match("Nobody", "Song") == (None, "no track by 'Nobody' in the library")
    assert m.match("Björk", "Army of Me")[1] == "'Björk' is in the library, but no track titled 'Army of Me'"
    assert m.match(None, "Halo") == (None, "no artist")
    uri = "file://" + quote(LIB[5][0])
    assert m.match("Wrong", "Tags", location=uri)[0] == tid(store, LIB[5][0])     # the file wins


# ------------------------------------------------------------------------------- Last.fm CSV
def _lastfm_full(tmp_path: Path) -> Path:
    lines = [
        "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid",
        '1700000000,"14 Nov 2023, 22:13",The Beatles,b10bbbfc,Let It Be,,Let It Be (Remastered 2009),',
        '1700000300,"14 Nov 2023, 22:18",Daft Punk feat. Pharrell Williams,,Random Access Memories,,'
        "Get Lucky (feat. Pharrell Williams),",
        '1700000600,"14 Nov 2023, 22:23",Nobody Known,,Album,,Unknown Song,',
        "1700000900,broken row with too few columns",
        '1700001200,"14 Nov 2023, 22:33",,,Album,,No Artist Here,',
        'soon,"not a date",Björk,,Homogenic,,Jóga,',
        '1700001500,"14 Nov 2023, 22:38",Björk,,Homogenic,,Jóga,',
    ]
    text = "\r\n".join(lines).encode("utf-8")
    # one line written by a Windows spreadsheet: Windows-1252 in an otherwise UTF-8 file
    text += '\r\n1700001800,"14 Nov 2023, 22:43",Beyoncé,,I Am... Sasha Fierce,,Halo,\r\n'.encode("cp1252")
    path = tmp_path / "scrobbles.csv"
    path.write_bytes(text)
    return path


def test_lastfm_full_layout_matches_reports_and_reimports_nothing(store, history, tmp_path):
    path = _lastfm_full(tmp_path)
    report = history.import_file(path)
    assert report.format == "Last.fm CSV"
    assert report.matched == 4, report
    assert report.unmatched == [("Nobody Known – Unknown Song (line 4)", "no track by 'Nobody Known' in the library")]
    reasons = dict(report.skipped)
    assert reasons["line 5: 1700000900,broken row with too few columns"] == "expected 8 columns, found 2"
    assert "no artist" in reasons.values()
    assert any(r.startswith("no readable play time") for r in reasons.values())
    stats = history.stats()
    assert stats[tid(store, LIB[2][0])].count == 1                      # the Windows-1252 "Beyoncé" line
    assert stats[tid(store, LIB[0][0])].last_played == 1700000000
    again = history.import_file(path)
    assert (again.matched, again.duplicates, len(again.unmatched)) == (0, 5, 0)
    assert len(plays(store)) == 5                                       # the unmatched play is kept too


def test_lastfm_plain_layout_without_header_and_utf16(store, history, tmp_path):
    rows = ['Björk,Homogenic,Jóga,31 Jan 2021 13:45', '"AC/DC","Back in Black","Back in Black",31 Jan 2021 13:50',
            'Sigur Rós,"Takk...",Hoppípolla,31 Jan 2021 13:56', 'Beyoncé,,Halo,']
    path = tmp_path / "lastfm-to-csv.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-16")
    report = history.import_file(path)
    assert (report.format, report.matched, report.unmatched) == ("Last.fm CSV", 3, [])
    assert report.skipped == [("line 4: Beyoncé,,Halo,", "no readable play time (empty)")]
    played = store.conn.execute("SELECT played_at FROM plays WHERE title = 'Jóga'").fetchone()[0]
    assert played == 1612100700.0                                       # 2021-01-31 13:45 UTC


# ------------------------------------------------------------------------------- ListenBrainz
def _listen(ts: int, artist: str, title: str, release: str | None = None) -> dict:
    return {"listened_at": ts, "recording_msid": f"m{ts}",
            "track_metadata": {"artist_name": artist, "track_name": title, "release_name": release,
                               "additional_info": {"duration_ms": 243000, "submission_client": "test"}}}


def test_listenbrainz_jsonl_with_bad_lines_and_cross_source_duplicates(store, history, tmp_path):
    history.import_file(_lastfm_full(tmp_path))
    lines = [json.dumps(_listen(1700000000, "The Beatles", "Let It Be", "Let It Be")),   # also in Last.fm
             json.dumps(_listen(1700100000, "Sigur Rós", "Hoppípolla", "Takk...")),
             '{"listened_at": 1700100300, "track_metadata": {"artist_name": "Björk", "track_na',
             json.dumps({"listened_at": 1700100600, "track_metadata": {"track_name": "No artist"}}),
             json.dumps(_listen(1700100900, "Unknown Band", "Unknown Song"))]
    path = tmp_path / "listens.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = history.import_file(path)
    assert (report.format, report.matched, report.duplicates) == ("ListenBrainz", 1, 1)
    assert [r for _, r in report.skipped] == ["not valid JSON (Unterminated string starting at)", "no artist"]
    assert report.unmatched[0][1] == "no track by 'Unknown Band' in the library"
    assert history.import_file(path).duplicates == 3


def test_listenbrainz_json_array_and_zip_export(store, history, tmp_path):
    path = tmp_path / "listens.json"
    # a pretty-printed array, one listen per line; the second line was saved as Windows-1252
    path.write_bytes(b"[\n" + json.dumps(_listen(1600000000, "Sigur Rós", "Hoppípolla"), ensure_ascii=False)
                     .encode("utf-8") + b",\n" + json.dumps(_listen(1600000300, "Björk", "Jóga"),
                                                           ensure_ascii=False).encode("cp1252") + b"\n]\n")
    report = history.import_file(path)
    assert (report.format, report.matched, report.unmatched) == ("ListenBrainz", 2, [])
    archive = tmp_path / "listenbrainz_user.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("user.json", json.dumps({"user_name": "me"}))
        z.writestr("listens/2023/11.jsonl", json.dumps(_listen(1700000000, "AC/DC", "Back in Black")) + "\n"
                   + json.dumps(_listen(1600000000, "Sigur Rós", "Hoppípolla")) + "\n")
    report = history.import_file(archive)
    assert (report.format, report.matched, report.duplicates) == ("ListenBrainz (ZIP)", 1, 1)


# ------------------------------------------------------------------------------- Spotify
def test_spotify_extended_history_skips_short_plays_and_podcasts(store, history, tmp_path):
    def stream(ts, ms, title, artist, album):
        return {"ts": ts, "platform": "android", "ms_played": ms, "conn_country": "SE",
                "master_metadata_track_name": title, "master_metadata_album_artist_name": artist,
                "master_metadata_album_album_name": album, "spotify_track_uri": "spotify:track:x",
                "episode_name": None, "episode_show_name": None, "reason_start": "trackdone",
                "reason_end": "trackdone", "shuffle": False, "skipped": False, "offline": False}
    records = [stream("2023-06-01T10:04:03Z", 243000, "Let It Be - Remastered 2009", "The Beatles", "Let It Be"),
               stream("2023-06-01T10:05:00Z", 12000, "Halo", "Beyoncé", "I Am... Sasha Fierce"),
               {**stream("2023-06-01T11:00:00Z", 1800000, None, None, None), "episode_name": "Ep. 12",
                "episode_show_name": "A Podcast"},
               stream("2023-06-01T11:10:00Z", 45000, "Jóga", "Björk", "Homogenic"),
               stream("not a time", 45000, "Jóga", "Björk", "Homogenic"),
               stream("2023-06-01T11:20:00Z", 90000, "Hyperballad", "Björk", "Post")]
    path = tmp_path / "Streaming_History_Audio_2023_0.json"
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    report = history.import_file(path)
    assert (report.format, report.matched) == ("Spotify streaming history", 2)
    assert [r for _, r in report.skipped] == ["played 12 s, under 30 s", "a podcast episode or audiobook, not a song",
                                              "no readable time (ts)"]
    assert report.unmatched == [("Björk – Hyperballad (record 6)",
                                 "'Björk' is in the library, but no track titled 'Hyperballad'")]
    start = store.conn.execute("SELECT played_at, seconds FROM plays WHERE title LIKE 'Let It Be%'").fetchone()
    assert start == (1685613843.0 - 243.0, 243.0)                       # Spotify stamps the end
    assert history.import_file(path).duplicates == 3
    archive = tmp_path / "my_spotify_data.zip"      # the download: audio and video histories, other files
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf", b"%PDF")
        z.writestr("Spotify Extended Streaming History/Streaming_History_Audio_2023.json",
                   json.dumps(records + [stream("2023-07-01T10:00:00Z", 200000, "Halo", "Beyoncé", "I Am")]))
        z.writestr("Spotify Extended Streaming History/Streaming_History_Video_2023.json",
                   json.dumps([{"ts": "2023-07-01T10:00:00Z", "ms_played": 90000, "episode_name": "A video"}]))
    report = history.import_file(archive)
    assert (report.format, report.matched, report.duplicates, len(report.skipped)) == \
        ("Spotify streaming history (ZIP)", 1, 3, 3)


# ------------------------------------------------------------------------------- players
def _rhythmdb(entries: list[str], tail: str = "</rhythmdb>\n") -> str:
    return '<?xml version="1.0" standalone="yes"?>\n<rhythmdb version="2.0">\n' + "\n".join(entries) + "\n" + tail


def _rb_entry(path: str, artist: str, title: str, count: int | str | None, last: int = 1690000000) -> str:
    extra = "" if count is None else f"<play-count>{count}</play-count><last-played>{last}</last-played>"
    return (f'<entry type="song"><title>{title}</title><genre>Rock</genre><artist>{artist}</artist>'
            f"<album>Album</album><duration>200</duration><location>file://{quote(path)}</location>{extra}"
            "<media-type>audio/mpeg</media-type></entry>")


def test_rhythmbox_counts_match_by_location_and_update_on_reimport(store, history, tmp_path):
    entries = [_rb_entry(LIB[5][0], "Sigur Ros (mis-tagged)", "Hoppipolla?", 7),
               _rb_entry("/elsewhere/joga.mp3", "Björk", "Jóga", 3),
               _rb_entry("/elsewhere/never.mp3", "Björk", "Never played", None),
               _rb_entry("/elsewhere/zero.mp3", "Björk", "Zero", 0),
               _rb_entry("/elsewhere/bad.mp3", "Björk", "Bad count", "lots"),
               '<entry type="iradio"><title>Radio</title><location>http://radio</location></entry>']
    path = tmp_path / "rhythmdb.xml"
    path.write_text(_rhythmdb(entries), encoding="utf-8")
    report = history.import_file(path)
    assert (report.format, report.matched, report.unmatched) == ("Rhythmbox", 2, [])
    assert report.skipped == [("entry 5: Björk – Bad count", "unreadable play-count 'lots'")]
    assert history.stats()[tid(store, LIB[5][0])].count == 7
    again = history.import_file(path)
    assert (again.matched, again.duplicates) == (0, 2)
    entries[0] = _rb_entry(LIB[5][0], "Sigur Rós", "Hoppípolla", 9)
    path.write_text(_rhythmdb(entries), encoding="utf-8")
    third = history.import_file(path)
    assert (third.updated, third.duplicates) == (1, 1)
    assert history.stats()[tid(store, LIB[5][0])].count == 9                  # replaced, not added


def test_rhythmbox_truncated_xml_keeps_entries_before_the_break(history, tmp_path):
    path = tmp_path / "rhythmdb.xml"
    path.write_text(_rhythmdb([_rb_entry("/x/halo.mp3", "Beyoncé", "Halo", 2)], tail='<entry type="song"><tit'))
    report = history.import_file(path)
    assert report.matched == 1
    assert len(report.skipped) == 1 and "the XML is broken here" in report.skipped[0][1]


def test_strawberry_database_read_only(store, history, tmp_path):
    path = tmp_path / "strawberry.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE songs (title TEXT, album TEXT, artist TEXT, albumartist TEXT, length INTEGER,"
               " url BLOB, playcount INTEGER NOT NULL DEFAULT 0, lastplayed INTEGER DEFAULT -1)")
    db.executemany("INSERT INTO songs VALUES (?,?,?,?,?,?,?,?)", [
        ("Back in Black", "Back in Black", "AC/DC", "AC/DC", 255 * 10**9, b"file:///x/bib.mp3", 4, 1690000000),
        ("Halo", "I Am", "Beyoncé", "", 261 * 10**9, b"file:///x/halo.mp3", 0, -1),
        ("Other", "Other", "Unknown", "", 100 * 10**9, b"file:///x/other.mp3", 2, 1690000100)])
    db.commit()
    db.close()
    report = history.import_file(path)
    assert (report.format, report.matched) == ("Strawberry/Clementine database", 1)
    assert report.unmatched[0][1] == "no track by 'Unknown' in the library"
    assert history.stats()[tid(store, LIB[6][0])].count == 4
    assert history.import_file(path).duplicates == 2
    db = sqlite3.connect(path)                   # a song without a file: keyed by artist + title + album
    db.execute("INSERT INTO songs VALUES ('Jóga', 'Homogenic', 'Björk', '', 305000000000, '', 3, 1690000200)")
    db.commit()
    assert history.import_file(path).matched == 1
    db.execute("UPDATE songs SET playcount = 5, lastplayed = 1690000900 WHERE title = 'Jóga'")
    db.commit()
    db.close()
    report = history.import_file(path)
    assert (report.updated, report.matched, report.duplicates) == (1, 0, 2)
    assert history.stats()[tid(store, LIB[3][0])].count == 5              # replaced, not added


# ------------------------------------------------------------------------------- files that are none of these
def test_unsupported_and_missing_files_are_clear_errors(history, tmp_path):
    with pytest.raises(CbrecError, match="Cannot read"):
        history.import_file(tmp_path / "missing.csv")
    binary = tmp_path / "song.mp3"
    binary.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)))
    with pytest.raises(CbrecError, match="binary file, not a listening-history export"):
        history.import_file(binary)
    xml = tmp_path / "other.xml"
    xml.write_text("<?xml version='1.0'?><plist></plist>")
    with pytest.raises(CbrecError, match="not a Rhythmbox"):
        history.import_file(xml)
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"name": "x"}]))
    report = history.import_file(other)
    assert report.skipped[0][1] == "neither a ListenBrainz listen nor a Spotify stream"


def test_unmatched_plays_match_after_the_track_arrives(store, history, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"
                    '1700000000,"x",Radiohead,,OK Computer,,Airbag,\n')
    assert len(history.import_file(path).unmatched) == 1
    with store.transaction() as conn:
        store.upsert_tracks(conn, [NewTrack("/m/radiohead/airbag.mp3", 1, 1, "fpR",
                                            {"artist": "Radiohead", "title": "Airbag"}, np.ones(DIM, np.float32))],
                            "v1")
    assert history.stats()[tid(store, "/m/radiohead/airbag.mp3")].count == 1


def test_recency_weighting_halves_a_play_per_half_life(store, history):
    first, second = tid(store, LIB[2][0]), tid(store, LIB[3][0])
    now = 1_700_000_000.0
    history.log.record(first, 60.0, started_at=now - 30 * 86400)      # a month ago
    history.log.record(second, 60.0, started_at=now)                  # just now
    assert history.log.weighted_counts() == {first: 1.0, second: 1.0}
    weighted = history.log.weighted_counts(half_life_days=30, now=now)
    assert weighted[first] == pytest.approx(0.5) and weighted[second] == pytest.approx(1.0)
    assert not history.log.record(first, 10.0, duration=300.0)          # under 30 s: not a play
