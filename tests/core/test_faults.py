"""Issue 10: nothing is lost when a drive is away, or a file is replaced (real audio, SQLite, Annoy).

Each test reproduces one fault of the issue on a real library: tracks, vectors and saved
playlist entries are counted before and after. Store damage, disk full and read-only libraries
are in ``test_store_faults.py``.
"""
from __future__ import annotations

import os
import shutil
import sqlite3

import numpy as np
import pytest

from core import Library
from core.cli import main as cli_main
from core.playlist import Playlist
from tests.audio_factory import write_audio
from tests.core.conftest import MUSIC

N = len(MUSIC)


@pytest.fixture
def lib(tmp_path, test_model):
    with Library.open(tmp_path / "lib", test_model, device="cpu", workers=2) as library:
        yield library


def counts(lib: Library, pid: int) -> tuple[int, int, int, int]:
    """(tracks, vectors, playlist entries, playlist entries shown missing)."""
    saved = lib.load_playlist(pid)
    return (len(lib), len(lib.vectors()[0]), len(saved.tracks), sum(t.status == "missing" for t in saved.tracks))


def save_all(lib: Library) -> int:
    tracks = sorted(lib.tracks(), key=lambda t: t.path)
    return lib.save_playlist(Playlist(tracks=tracks, scores=[1.0] * len(tracks), name="all"), "all")


def test_missing_music_folder_keeps_tracks_vectors_and_playlist(lib, music, test_model, capsys):
    lib.scan([music])
    pid = save_all(lib)
    order = [t.path for t in lib.load_playlist(pid).tracks]
    assert counts(lib, pid) == (N, N, N, 0)

    away = music.with_name("music_away")
    os.rename(music, away)                               # the drive is unplugged
    report = lib.scan()
    assert report.removed == [] and len(report.unavailable) == N
    assert "kept as missing" in report.summary()
    assert counts(lib, pid) == (N, N, N, N)              # nothing lost, all shown missing
    assert {t.status for t in lib.tracks()} == {"missing"}
    assert lib.similar(lib.tracks()[0], n=3)             # the vectors still answer queries
    lib.close()
    assert cli_main(["--library", str(lib.root), "--model", str(test_model), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == N and all("\tmissing\t" in line for line in lines)

    os.rename(away, music)                               # plugged in again
    with Library.open(lib.root, test_model, device="cpu", workers=2) as again:
        report = again.scan()
        assert report.removed == [] and report.added == [] and report.unavailable == []
        assert counts(again, pid) == (N, N, N, 0)
        assert [t.path for t in again.load_playlist(pid).tracks] == order
        assert {t.status for t in again.tracks()} == {"ok"}


def test_link_to_a_folder_on_a_drive_that_is_away_keeps_its_tracks(lib, music, tmp_path):
    drive = tmp_path / "drive"
    shutil.move(str(music / "drums"), str(drive / "drums"))
    os.symlink(drive / "drums", music / "drums")          # ~/Music/drums -> /media/drive/drums
    lib.scan([music])
    pid = save_all(lib)
    os.rename(drive, tmp_path / "drive_away")
    report = lib.scan()
    assert report.removed == [] and sorted(report.unavailable) == sorted(
        str(music / rel) for rel, *_ in MUSIC if rel.startswith("drums/"))
    assert counts(lib, pid) == (N, N, N, 3)
    os.rename(tmp_path / "drive_away", drive)
    assert lib.scan().unavailable == [] and counts(lib, pid) == (N, N, N, 0)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 folder anyway (run as a normal user)")
def test_unreadable_subfolder_keeps_its_tracks(lib, music):
    lib.scan([music])
    pid = save_all(lib)
    os.chmod(music / "noise", 0)
    try:
        report = lib.scan()
        assert report.removed == [] and len(report.unavailable) == 3
        assert counts(lib, pid) == (N, N, N, 3)
    finally:
        os.chmod(music / "noise", 0o755)
    assert lib.scan().unavailable == [] and counts(lib, pid) == (N, N, N, 0)


def test_deleted_file_stays_in_playlists_and_gets_its_place_back(lib, music, tmp_path):
    lib.scan([music])
    pid = save_all(lib)
    order = [t.path for t in lib.load_playlist(pid).tracks]
    gone = music / "chords/a3.ogg"
    shutil.move(str(gone), str(tmp_path / "a3.ogg"))
    report = lib.scan()
    assert report.removed == [str(gone)]                  # its folder was read: really deleted
    assert counts(lib, pid) == (N - 1, N - 1, N, 1)
    saved = lib.load_playlist(pid)
    missing = [t for t in saved.tracks if t.status == "missing"]
    assert [t.path for t in missing] == [str(gone)] and missing[0].title == "Evening"
    assert [t.path for t in saved.tracks] == order        # the entry keeps its place
    assert lib.load_playlist(pid).write(tmp_path / "out.m3u8").read_text().count(str(gone)) == 1

    shutil.move(str(tmp_path / "a3.ogg"), str(gone))      # back again
    assert lib.scan().added == [str(gone)]
    assert counts(lib, pid) == (N, N, N, 0)
    assert [t.path for t in lib.load_playlist(pid).tracks] == order


def test_returning_file_under_another_name_is_relinked_by_content(lib, music, tmp_path):
    lib.scan([music])
    pid = save_all(lib)
    shutil.move(str(music / "noise/n2.wav"), str(tmp_path / "n2.wav"))
    lib.scan()
    shutil.move(str(tmp_path / "n2.wav"), str(music / "noise/renamed.wav"))
    lib.scan()
    paths = [t.path for t in lib.load_playlist(pid).tracks]
    assert str(music / "noise/renamed.wav") in paths and counts(lib, pid) == (N, N, N, 0)


def _true_neighbours(lib: Library, tid: int, n: int) -> list[tuple[int, float]]:
    ids, vecs = lib.vectors()
    query = vecs[list(ids).index(tid)]
    cos = vecs @ query
    order = [i for i in np.argsort(-cos) if ids[i] != tid][:n]
    return [(int(ids[i]), float(cos[i])) for i in order]


def test_index_of_a_later_store_is_not_used_after_restoring_an_older_copy(lib, music, tmp_path, test_model):
    lib.scan([music])
    lib.similar(lib.tracks()[0], n=5)                     # index built at this state
    lib.close()
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(lib.root / "library.sqlite3", backup)
    extra = music / "extra"
    extra.mkdir()
    for i in range(4):
        write_audio(extra / f"x{i}.flac", seconds=5.0, kind="sweep", seed=50 + i)
    with Library.open(lib.root, test_model, device="cpu", workers=2) as later:
        later.scan()
        assert len(later.index()) == N + 4
        later_generation = later.store.generation()
    shutil.rmtree(extra)
    for suffix in ("-wal", "-shm"):
        (lib.root / f"library.sqlite3{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, lib.root / "library.sqlite3")     # restore the older store
    with Library.open(lib.root, test_model, device="cpu", workers=2) as restored:
        while restored.store.generation() < later_generation:  # "rescan to the same generation"
            with restored.store.transaction():
                pass
        assert restored.store.generation() == later_generation
        assert len(restored.index()) == N
        tid = restored.tracks()[0].id
        hits = restored.similar(tid, n=5)
        truth = _true_neighbours(restored, tid, 5)
        assert [h.track.id for h in hits] == [i for i, _ in truth]
        assert [h.score for h in hits] == pytest.approx([c for _, c in truth], abs=1e-4)


def test_recreated_store_gets_a_new_id_and_a_fresh_index(lib, music, test_model):
    lib.scan([music])
    first = lib.store.stamp()
    lib.index()
    lib.close()
    for name in ("library.sqlite3", "library.sqlite3-wal", "library.sqlite3-shm"):
        (lib.root / name).unlink(missing_ok=True)
    keep = sorted(music.rglob("*.*"))[:4]
    for path in sorted(music.rglob("*.*"))[4:]:
        path.unlink()
    with Library.open(lib.root, test_model, device="cpu", workers=2) as fresh:
        fresh.scan([music])
        assert fresh.store.stamp().split(":")[0] != first.split(":")[0]
        assert len(fresh.index()) == len(keep) == len(fresh)


def test_file_replaced_with_same_size_and_mtime_is_analysed_again(lib, music, tmp_path):
    lib.scan([music])
    target = music / "noise/n2.wav"
    before = lib.vectors()
    old_vec = before[1][list(before[0]).index(lib.track(target).id)]
    st = target.stat()
    other = write_audio(tmp_path / "other.wav", seconds=6.0, kind="chord", seed=77,
                        tags={"artist": "Cid", "title": "Hiss", "album": "Noise"})
    data = other.read_bytes()
    assert len(data) == st.st_size, "the replacement must have the same size for this test"
    target.write_bytes(data)                              # a different song, same size ...
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old mtime restored
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    report = lib.scan()
    assert report.updated == [str(target)]
    ids, vecs = lib.vectors()
    assert len(ids) == N == len(lib)                      # and no orphan vector is left behind
    new_vec = vecs[list(ids).index(lib.track(target).id)]
    assert not np.allclose(new_vec, old_vec, atol=1e-4)
    with sqlite3.connect(lib.root / "library.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == N


def test_updated_file_leaves_no_orphan_vector(lib, music):
    lib.scan([music])
    write_audio(music / "drums/d1.mp3", seconds=4.0, kind="sweep", seed=99, tags={"title": "New"})
    assert lib.scan().updated == [str(music / "drums/d1.mp3")]
    with sqlite3.connect(lib.root / "library.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == N == len(lib)


def test_list_prints_one_line_per_track_even_with_a_newline_in_a_name(tmp_path, test_model, music, capsys):
    odd = music / "chords" / "two\nlines.flac"
    shutil.copy(music / "chords/a2.flac", odd)
    lib_dir = tmp_path / "lib"
    assert cli_main(["--library", str(lib_dir), "--model", str(test_model), "scan", "-q", str(music)]) == 0
    capsys.readouterr()
    assert cli_main(["--library", str(lib_dir), "--model", str(test_model), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == N + 1 and any("two\\nlines.flac" in line for line in lines)


def test_output_file_name_of_255_bytes_can_be_written(lib, music, tmp_path, test_model, capsys):
    lib.scan([music])
    lib.close()
    for length in (229, 255):
        out = tmp_path / ("é" * ((length - 5) // 2) + "x" * ((length - 5) % 2) + ".m3u8")
        assert len(os.fsencode(out.name)) == length
        code = cli_main(["--library", str(lib.root), "--model", str(test_model), "playlist",
                         str(music / "chords/a1.mp3"), "--length", "3", "-o", str(out)])
        assert code == 0, capsys.readouterr().err
        assert out.read_text(encoding="utf-8").startswith("#EXTM3U")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_files_that_cannot_be_read_are_kept_in_failures(lib, music, tmp_path):
    os.symlink(tmp_path / "nowhere.flac", music / "chords" / "dangling.flac")
    os.mkfifo(music / "noise" / "pipe.wav")
    report = lib.scan([music])
    failed = dict(report.failed)
    assert "broken symbolic link" in failed[str(music / "chords/dangling.flac")]
    kept = dict(lib.failures())
    assert set(failed) <= set(kept)                          # printed during the scan and kept
    assert dict(lib.scan().failed).keys() >= failed.keys()   # and still there the next time
    assert set(dict(lib.failures())) >= set(failed)


def test_empty_music_folder_is_a_drive_that_is_not_mounted(lib, music, tmp_path):
    lib.scan([music])
    pid = save_all(lib)
    for sub in ("chords", "noise", "drums"):                 # the mount point stays, empty
        shutil.move(str(music / sub), str(tmp_path / sub))
    report = lib.scan()
    assert report.removed == [] and len(report.unavailable) == N
    assert counts(lib, pid) == (N, N, N, N)
    for sub in ("chords", "noise", "drums"):
        shutil.move(str(tmp_path / sub), str(music / sub))
    assert lib.scan().returned and counts(lib, pid) == (N, N, N, 0)
