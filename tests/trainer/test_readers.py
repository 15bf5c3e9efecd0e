"""Dataset readers: the real fixtures, and generated edge cases for every format."""
from __future__ import annotations

import bz2
import json
import logging
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest

from trainer.data import hetrec, lastfm_tags, lfm1b, lfm2b, msd, tasteprofile
from trainer.data.badrows import BadRows

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
LES_SAMPLE = FIXTURES / "lfm1b" / "LFM-1b_LEs.sample.txt"
HETREC = FIXTURES / "hetrec" / "user_artists.dat"


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def bad_lines(bad: BadRows, path: Path) -> list[int]:
    return sorted(bad.lines_for(path))


def events(path: Path, **kw) -> tuple[np.ndarray, BadRows]:
    bad = BadRows(max_examples=1000)
    chunks = list(lfm1b.iter_events(path, bad, progress=False, **kw))
    cols = [np.concatenate([getattr(c, f) for c in chunks]) if chunks else np.zeros(0, np.int64)
            for f in ("user_id", "artist_id", "album_id", "track_id", "timestamp")]
    return np.stack(cols, axis=1), bad


# --------------------------------------------------------------------------- real fixtures
@pytest.mark.skipif(not LES_SAMPLE.exists(), reason=f"real LFM-1b sample absent: {LES_SAMPLE}")
@pytest.mark.parametrize("chunk_rows", [1_000_000, 300])
def test_lfm1b_sample_counts(chunk_rows: int) -> None:
    rows, bad = events(LES_SAMPLE, chunk_rows=chunk_rows)
    assert bad.count == 0
    assert len(rows) == 10_000
    assert len(np.unique(rows[:, 0])) == 3
    assert len(np.unique(rows[:, 3])) == 2_277
    assert rows[0].tolist() == [31435741, 2, 4, 4, 1385212642]
    text = LES_SAMPLE.read_text().splitlines()
    assert rows[-1].tolist() == [int(x) for x in text[-1].split("\t")]


@pytest.mark.skipif(not LES_SAMPLE.exists(), reason=f"real LFM-1b sample absent: {LES_SAMPLE}")
def test_lfm1b_sample_chunks_carry_first_line() -> None:
    chunks = list(lfm1b.iter_events(LES_SAMPLE, BadRows(), chunk_rows=300, progress=False))
    assert len(chunks) > 10
    line = 1
    for c in chunks:
        assert c.first_line == line
        line += len(c)
    assert line == 10_001


@pytest.mark.skipif(not HETREC.exists(), reason=f"real HetRec fixture absent: {HETREC}")
def test_hetrec_user_artists() -> None:
    bad = BadRows()
    ua = hetrec.read_user_artists(HETREC, bad)  # CRLF line ends, no final newline
    assert bad.count == 0
    assert len(ua) == 92_834
    assert len(np.unique(ua.user_ids)) == 1_892
    assert len(np.unique(ua.artist_ids)) == 17_632
    assert (ua.user_ids[0], ua.artist_ids[0], ua.weights[0]) == (2, 51, 13883)
    assert (ua.user_ids[-1], ua.artist_ids[-1], ua.weights[-1]) == (2100, 18730, 263)


def test_hetrec_bad_rows(tmp_path: Path) -> None:
    p = write(tmp_path / "ua.dat", "userID\tartistID\tweight\r\n2\t51\t10\r\n2\tx\t3\r\n3\t4\r\n5\t6\t7")
    bad = BadRows()
    ua = hetrec.read_user_artists(p, bad)
    assert ua.weights.tolist() == [10, 7]
    assert bad_lines(bad, p) == [3, 4]


# --------------------------------------------------------------------------- LFM-1b edge cases
def test_events_bad_rows_have_exact_line_numbers(tmp_path: Path) -> None:
    lines = ["1\t2\t3\t4\t100", "1\t2\t3\t4", "1\tx\t3\t4\t100", "1\t2\t\t4\t100", "",
             "1\t-2\t3\t4\t100", "1\t2\t3\t4\t100\t9", "1\t3000000000\t3\t4\t100", "7\t8\t9\t10\t11"]
    p = write(tmp_path / "les.txt", "\n".join(lines))  # no final newline
    rows, bad = events(p)
    assert rows.tolist() == [[1, 2, 3, 4, 100], [7, 8, 9, 10, 11]]
    assert bad_lines(bad, p) == [2, 3, 4, 5, 6, 7, 8]
    reasons = {r.line: r.reason for r in bad.examples}
    assert reasons[2].startswith("wrong column count") and reasons[5] == "empty line"
    assert "not an integer" in reasons[3] and "empty" in reasons[4]
    assert "below 0" in reasons[6] and "out of int32 range" in reasons[8]


def test_events_crlf_and_clean_negative(tmp_path: Path) -> None:
    p = write(tmp_path / "crlf.txt", "1\t2\t3\t4\t5\r\n6\t7\t8\t9\t10\r\n")
    rows, bad = events(p)
    assert rows.tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]] and bad.count == 0
    # a negative id parses fine in pyarrow's fast path but is still a bad row, with its line
    p = write(tmp_path / "neg.txt", "1\t2\t3\t4\t5\n1\t2\t3\t-4\t5\n1\t2\t3\t4\t6\n")
    rows, bad = events(p)
    assert rows[:, 4].tolist() == [5, 6] and bad_lines(bad, p) == [2]


@pytest.mark.parametrize("chunk_rows,sub_bytes", [(5_000, None), (1_000_000, 256 * 1024)])
def test_events_large_file_bad_lines_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   chunk_rows: int, sub_bytes: int | None) -> None:
    if sub_bytes is not None:  # one big block, parsed in sub-blocks
        monkeypatch.setattr("trainer.data.tsv._SUB_BYTES", sub_bytes)
    rng = np.random.default_rng(0)
    n = 120_000
    good = rng.integers(0, 10**7, size=(n, 5))
    text = ["\t".join(map(str, r)) for r in good.tolist()]
    bad_at = sorted(rng.choice(n, 25, replace=False).tolist())
    for i in bad_at:
        text[i] = text[i].replace("\t", "\t#", 1)
    p = write(tmp_path / "big.txt", "\n".join(text) + "\n")
    rows, bad = events(p, chunk_rows=chunk_rows)  # dirty (sub-)blocks: pieces, then Python
    keep = np.ones(n, bool)
    keep[bad_at] = False
    np.testing.assert_array_equal(rows, good[keep])
    assert bad_lines(bad, p) == [i + 1 for i in bad_at]


def test_lfm1b_tracks_artists_albums(tmp_path: Path) -> None:
    t = write(tmp_path / "tracks.txt", "1\tHello World\t10\n2\t\t10\n3\tA\tB\t10\n4\t  spaced  \t11\r\n"
                                       "5\tbad\xff\t3\n".encode("latin-1"))
    bad = BadRows()
    tracks = lfm1b.read_tracks(t, bad, progress=False)
    assert tracks.ids.tolist() == [1, 2, 4] and tracks.artist_ids.tolist() == [10, 10, 11]
    assert list(tracks.names) == ["Hello World", "", "  spaced  "]
    assert tracks.names.take(np.array([2, 0])) == ["  spaced  ", "Hello World"]
    assert bad_lines(bad, t) == [3, 5]
    a = write(tmp_path / "artists.txt", "10\tThe Beatles\n11\t\n12\n")
    artists = lfm1b.read_artists(a, bad, progress=False)
    assert artists.name_lookup() == {10: "The Beatles", 11: ""} and bad_lines(bad, a) == [3]
    al = write(tmp_path / "albums.txt", "5\tAbbey Road\t10\n6\tx\ty\n")
    albums = lfm1b.read_albums(al, bad, progress=False)
    assert albums.ids.tolist() == [5] and albums.names[0] == "Abbey Road" and bad_lines(bad, al) == [2]


def test_lfm1b_users(tmp_path: Path) -> None:
    header = "user_id\tcountry\tage\tgender\tplaycount\tregistered_unixtime\n"
    rows = ["1\tUS\t25\tm\t100\t1100000000", "2\t\t-1\tn\t5\t1200000000", "3\tDE\t\tf\t7\t1",
            "4\tUK\t30\tx\t1\t1", "5\tAT\tabc\tm\t1\t1", "6\tFR\t20\t\t2\t3"]
    p = write(tmp_path / "users.txt", header + "\n".join(rows) + "\n")
    bad = BadRows()
    u = lfm1b.read_users(p, bad)
    assert u.ids.tolist() == [1, 2, 3, 6]
    assert u.country == ["US", "", "DE", "FR"] and u.age.tolist() == [25, -1, -1, 20]
    assert u.gender == ["m", "n", "f", "n"] and u.playcount.tolist() == [100, 5, 7, 2]
    assert u.registered.tolist() == [1100000000, 1200000000, 1, 3]
    assert bad_lines(bad, p) == [5, 6]  # header is line 1
    q = write(tmp_path / "noheader.txt", "\n".join(rows[:2]) + "\n")
    assert lfm1b.read_users(q).ids.tolist() == [1, 2]


# --------------------------------------------------------------------------- LFM-2b (bz2)
def bz(path: Path, text: str) -> Path:
    path.write_bytes(bz2.compress(text.encode()))
    return path


def test_lfm2b_counts_and_events(tmp_path: Path) -> None:
    c = bz(tmp_path / "listening-counts.tsv.bz2", "user_id\ttrack_id\tcount\n1\t2\t3\n1\tx\t3\n4\t5\t0\n6\t7\t8\n")
    bad = BadRows()
    chunks = list(lfm2b.iter_listening_counts(c, bad, progress=False))
    assert np.concatenate([ch.count for ch in chunks]).tolist() == [3, 8]
    assert bad_lines(bad, c) == [3, 4]
    e = bz(tmp_path / "listening-events.tsv.bz2", "user_id\ttrack_id\talbum_id\ttimestamp\n"
           "1\t2\t3\t2013-01-01 00:00:10\n1\t2\t3\tnot a date\n4\t5\t6\t1970-01-01 00:01:00\n")
    ev = list(lfm2b.iter_listening_events(e, bad, progress=False))
    assert np.concatenate([x.timestamp for x in ev]).tolist() == [1356998410, 60]
    assert bad_lines(bad, e) == [3]
    ei = bz(tmp_path / "le-int.tsv.bz2", "timestamp\tuser_id\ttrack_id\talbum_id\n1356998410\t1\t2\t3\n")
    ev = list(lfm2b.iter_listening_events(ei, progress=False))
    assert ev[0].timestamp.tolist() == [1356998410] and ev[0].album_id.tolist() == [3]


def test_lfm2b_names_and_headers(tmp_path: Path) -> None:
    t = bz(tmp_path / "tracks.tsv.bz2", 'track_id\tartist_name\ttrack_name\n1\t"Weird Al" Yankovic\t'
           'Eat It\n2\tA\t"Quoted\tTab"\n3\tB\t\n')
    bad = BadRows()
    tracks = lfm2b.read_tracks(t, bad, progress=False)
    assert tracks.ids.tolist() == [1, 3] and tracks.artist_names[0] == '"Weird Al" Yankovic'
    assert list(tracks.names) == ["Eat It", ""] and bad_lines(bad, t) == [3]
    a = bz(tmp_path / "artists.tsv.bz2", "artist_name\tartist_id\nThe Band\t9\n")  # reordered
    assert lfm2b.read_artists(a).ids.tolist() == [9]
    al = bz(tmp_path / "albums.tsv.bz2", "album_id\talbum_name\tartist_name\n4\tX Y\tZ\n")
    assert lfm2b.read_albums(al).artist_names[0] == "Z"
    u = bz(tmp_path / "users.tsv.bz2", "user_id\tcountry\tage\tgender\tcreation_time\n"
           "1\tUS\t\tm\t2012-01-01\n2\tDE\t33\tf\t2013-01-01\n3\t\tzz\tn\t\n")
    users = lfm2b.read_users(u, bad)
    assert users.ids.tolist() == [1, 2] and users.age.tolist() == [-1, 33] and bad_lines(bad, u) == [4]
    wrong = bz(tmp_path / "wrong.tsv.bz2", "user\ttrack\n1\t2\n")
    with pytest.raises(ValueError, match="lacks column"):
        list(lfm2b.iter_listening_counts(wrong))


# --------------------------------------------------------------------------- MSD
def test_msd_unique_tracks_and_artists(tmp_path: Path) -> None:
    p = write(tmp_path / "unique_tracks.txt",
              "TRMMMYQ128F932D901<SEP>SOQMMHC12AB0180CB8<SEP>Faster Pussy cat<SEP>Silent Night\r\n"
              "TRA<SEP>SOB<SEP>Artist<SEP>Title <SEP> with sep\n"
              "TRX<SEP>SOY<SEP>only three\n"
              "XX<SEP>SOB<SEP>a<SEP>b\n"
              "TRC<SEP>SOD<SEP><SEP>")
    bad = BadRows()
    ut = msd.read_unique_tracks(p, bad, progress=False)
    assert ut.track_ids == ["TRMMMYQ128F932D901", "TRA", "TRC"]
    assert ut.titles == ["Silent Night", "Title <SEP> with sep", ""] and ut.artists[2] == ""
    assert bad_lines(bad, p) == [3, 4]
    a = write(tmp_path / "unique_artists.txt",
              "AR002UA1187B9A637D<SEP>7752a11c<SEP>TRMUOZE12903CDF721<SEP>The Bristols\n"
              "AR006821187FB5192B<SEP><SEP>TRMZLJF128F4269EAC<SEP>Choir of King's College_ Cambridge\n")
    ua = msd.read_unique_artists(a, bad, progress=False)
    assert ua.mbids == ["7752a11c", ""] and ua.names[1].startswith("Choir")


def test_msd_track_metadata_db_and_clip_path(tmp_path: Path) -> None:
    db = tmp_path / "track_metadata.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE songs (track_id text PRIMARY KEY, title text, song_id text, "
                    "release text, artist_id text, artist_mbid text, artist_name text, duration real, "
                    "artist_familiarity real, artist_hotttnesss real, year int, track_7digitalid int, "
                    "shs_perf int, shs_work int)")
        con.executemany("INSERT INTO songs (track_id, title, artist_name, duration, track_7digitalid) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [("TRA", "t1", "a1", 200.5, 6010476), ("TRB", "t2", "a2", 1.0, None),
                         ("TRC", "t3", "a3", 2.0, -1)])
    assert msd.read_track_metadata_db(db) == {"TRA": 6010476}
    assert msd.read_track_metadata(db, ("title", "duration"))["TRB"] == ("t2", 1.0)
    with pytest.raises(ValueError, match="unknown songs column"):
        msd.read_track_metadata(db, ("nope",))
    assert msd.clip_path("/clips", 6010476) == Path("/clips/6/0/6010476.clip.mp3")
    assert msd.clip_path("/clips/", 95) == Path("/clips/9/5/95.clip.mp3")
    assert msd.clip_path("/r", "TRAAAAW128F429D538", "{root}/{d2}/{d3}/{d4}/{id}.mp3") == \
        Path("/r/A/A/A/TRAAAAW128F429D538.mp3")


# --------------------------------------------------------------------------- Taste Profile
def test_triplets(tmp_path: Path) -> None:
    u = "b80344d063b5ccb3212f76538f3d9e43d87dca9e"
    p = write(tmp_path / "train_triplets.txt",
              f"{u}\tSOAKIMP12A8C130995\t1\n{u}\tSOBBMDR12A8C13253B\t2\r\n{u}\tSOX\t0\n"
              f"{u}\tSOX\tmany\n{u}\tSOX\n\n{u}\tSOZ\t5")
    bad = BadRows()
    chunks = list(tasteprofile.iter_triplets(p, bad, progress=False))
    assert [s for c in chunks for s in c.songs] == ["SOAKIMP12A8C130995", "SOBBMDR12A8C13253B", "SOZ"]
    assert np.concatenate([c.counts for c in chunks]).tolist() == [1, 2, 5]
    assert bad_lines(bad, p) == [3, 4, 5, 6]


def test_song_to_tracks_mismatches_kaggle(tmp_path: Path) -> None:
    s2t = write(tmp_path / "s2t.txt", "SOAAAAA12AB0180CB8\tTRAAAAA128F932D901\tTRBBBBB128F932D901\n"
                                      "SOCCCCC12AB0180CB8\n" "junk line\n" "SODDDDD12AB0180CB8\tTRDDDDD128F932D901\r\n")
    bad = BadRows()
    pairs = tasteprofile.read_song_to_tracks(s2t, bad, progress=False)
    assert pairs == [("SOAAAAA12AB0180CB8", "TRAAAAA128F932D901"), ("SOAAAAA12AB0180CB8", "TRBBBBB128F932D901"),
                     ("SODDDDD12AB0180CB8", "TRDDDDD128F932D901")]
    assert bad_lines(bad, s2t) == [3]
    mm = write(tmp_path / "sid_mismatches.txt",
               "ERROR: <SOUMNSI12AB0182807 TRMMGKQ128F9325E10> Digital Underground  -  The Way We Swing"
               "  !=  Linkwood  -  Whats up with the Underground\n"
               "ERROR: <SOAAAAA12AB0180CB8 TRBBBBB128F932D901> a  -  b  !=  c  -  d\n"
               "garbage\n")
    mismatches = tasteprofile.read_sid_mismatches(mm, bad)
    assert mismatches == {("SOUMNSI12AB0182807", "TRMMGKQ128F9325E10"), ("SOAAAAA12AB0180CB8", "TRBBBBB128F932D901")}
    assert bad_lines(bad, mm) == [3]
    m = tasteprofile.MISMATCH_LINE_RE.match(mm.read_text().splitlines()[0])
    assert m is not None and m.group(3) == "Digital Underground" and m.group(6) == "Whats up with the Underground"
    acc = write(tmp_path / "accepted.txt", "< SOUMNSI12AB0182807 > oops\n"
                                           "<SOAAAAA12AB0180CB8 TRBBBBB128F932D901> a  -  b  !=  c  -  d\n")
    accepted = tasteprofile.read_sid_mismatches(acc, bad)
    assert accepted == {("SOAAAAA12AB0180CB8", "TRBBBBB128F932D901")}
    kept = tasteprofile.filter_mismatches(pairs + [("SOUMNSI12AB0182807", "TRMMGKQ128F9325E10")],
                                          mismatches, accepted)
    assert kept == pairs
    assert tasteprofile.song_items(kept) == {"SOAAAAA12AB0180CB8": 0, "SODDDDD12AB0180CB8": 1}
    users = write(tmp_path / "kaggle_users.txt", "u1\nu2\n\nu 3\nu4")
    assert tasteprofile.read_kaggle_users(users, bad) == ["u1", "u2", "u4"] and bad_lines(bad, users) == [3, 4]
    songs = write(tmp_path / "kaggle_songs.txt", "SOAAADD12AB018A9DD 1\nSOAAADE12A6D4F80CC 2\nSOX\t3\n")
    assert tasteprofile.read_kaggle_songs(songs, bad) == {"SOAAADD12AB018A9DD": 1, "SOAAADE12A6D4F80CC": 2}
    assert bad_lines(bad, songs) == [3]


# --------------------------------------------------------------------------- Last.fm tags
def test_lastfm_tags_db_and_matrix(tmp_path: Path) -> None:
    db = tmp_path / "lastfm_tags.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE tags (tag TEXT)")
        con.execute("CREATE TABLE tids (tid TEXT)")
        con.execute("CREATE TABLE tid_tag (tid INT, tag INT, val FLOAT)")
        con.executemany("INSERT INTO tags VALUES (?)", [("rock",), ("Hip-Hop",), ("hip-hop",)])
        con.executemany("INSERT INTO tids VALUES (?)", [("TRA",), ("TRB",)])
        con.executemany("INSERT INTO tid_tag VALUES (?, ?, ?)",
                        [(1, 1, 100.0), (1, 2, 50.0), (2, 2, 51.0), (2, 3, 90.0), (9, 1, 80.0)])
    pairs = lastfm_tags.read_lastfm_tags_db(db)
    assert len(pairs) == 4 and pairs.tags_of("TRA") == {"rock": 100.0, "Hip-Hop": 50.0}
    y = lastfm_tags.tag_matrix(pairs, ["TRB", "TRA", "TRZ"])
    assert y.shape == (3, 50)
    rock, hiphop = lastfm_tags.TOP50_TAGS.index("rock"), lastfm_tags.TOP50_TAGS.index("Hip-Hop")
    assert np.argwhere(y).tolist() == [[0, hiphop], [1, rock]]  # val > 50 only, exact tag names


def test_lastfm_json_folder_and_zip(tmp_path: Path) -> None:
    doc = {"artist": "A", "title": "T", "track_id": "TRAAAAW128F429D538",
           "timestamp": "2011-08-16 01:34:38.887856", "tags": [["rock", "100"], ["pop", 7]],
           "similars": [["TRB", 0.5]]}
    p = lastfm_tags.json_path(tmp_path / "lastfm_train", doc["track_id"])
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps(doc))
    assert p.relative_to(tmp_path).as_posix() == "lastfm_train/A/A/A/TRAAAAW128F429D538.json"
    write(p.parent / "TRBROKEN.json", "{not json")
    bad = BadRows()
    tracks = list(lastfm_tags.iter_lastfm_json(tmp_path / "lastfm_train", bad))
    assert [t.tags for t in tracks] == [[("rock", 100.0), ("pop", 7.0)]] and bad.count == 1
    z = tmp_path / "lastfm_test.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("lastfm_test/A/A/A/TRAAAAW128F429D538.json", json.dumps(doc))
    assert [t.similars for t in lastfm_tags.iter_lastfm_json(z)] == [[("TRB", 0.5)]]


def test_msd_split(tmp_path: Path) -> None:
    write(tmp_path / "test_x_msd_id.txt", "TRAADIN128F931D672\nTRB\n")
    write(tmp_path / "test_x_7d_id.txt", "6010476\n95\n")
    write(tmp_path / "test_x_filename.txt", "6/0/6010476.npy\n9/5/95.npy\n")
    y = np.zeros((2, 50), dtype=bool)
    y[1, 3] = True
    np.save(tmp_path / "test_y.npy", y)
    split = lastfm_tags.read_msd_split(tmp_path, "test")
    assert split.msd_ids == ["TRAADIN128F931D672", "TRB"] and split.ids_7d.tolist() == [6010476, 95]
    assert split.labels is not None and split.labels[1, 3]
    write(tmp_path / "valid_x_msd_id.txt", "TRA\n")
    write(tmp_path / "valid_x_7d_id.txt", "1\n2\n")
    write(tmp_path / "valid_x_filename.txt", "a\n")
    with pytest.raises(ValueError, match="not line-aligned"):
        lastfm_tags.read_msd_split(tmp_path, "valid")


# --------------------------------------------------------------------------- BadRows
def test_badrows_summary_and_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = write(tmp_path / "les.txt", "1\t2\t3\t4\t5\nbroken line\n")
    bad = BadRows()
    with caplog.at_level(logging.WARNING):
        events_rows = [len(c) for c in lfm1b.iter_events(p, bad, progress=False)]
    assert events_rows == [1] and bad.count == 1 and bad.count_for(p) == 1
    assert "1 bad rows skipped" in caplog.text and "les.txt:2" in caplog.text
    assert "wrong column count" in bad.summary() and bad.warn(p) == 0  # already reported
    long = BadRows(max_examples=1, max_text=5)
    long.add("f", 1, "r: x", "abcdefghij")
    long.add("f", 2, "r: y", "z")
    assert long.count == 2 and long.examples[0].text == "abcde…" and long.by_reason["r"] == 2


def test_blocks_reuse_buffer_without_corrupting_strings(tmp_path: Path) -> None:
    from trainer.data.tsv import Col, read_table

    rows = [f"{i}\tname {i} {'x' * (i % 7)}\t{i % 5}" for i in range(3000)]
    p = write(tmp_path / "names.txt", "\n".join(rows))
    bad = BadRows()
    t = read_table(p, (Col("id"), Col("name", "str"), Col("artist")), bad, block_bytes=4096, progress=False)
    assert t.column("name").num_chunks > 10  # many blocks through one reused buffer
    assert t.column("name").to_pylist() == [r.split("\t")[1] for r in rows] and bad.count == 0
    assert t.column("id").to_pylist() == list(range(3000))
