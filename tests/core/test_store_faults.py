"""Issue 10: a damaged store, a full disk and a read-only library (real SQLite, audio and Annoy).

Every fault ends in one sentence that names it (never a traceback, never a hint for another
fault) and loses nothing: tracks, vectors and saved playlist entries are counted after.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from core import Library
from core.cli import main as cli_main
from core.errors import LibraryError
from core.playlist import Playlist
from core.repair import repair_store
from core.storefaults import DiskFull, ReadOnlyLibrary, StoreDamaged
from tests.audio_factory import write_audio
from tests.core.conftest import MUSIC

N = len(MUSIC)


def scanned(root: Path, model: Path, music: Path) -> int:
    """Scan ``music`` into a library at ``root``, save a playlist of every track; its id."""
    with Library.open(root, model, device="cpu", workers=2) as lib:
        lib.scan([music])
        tracks = sorted(lib.tracks(), key=lambda t: t.path)
        return lib.save_playlist(Playlist(tracks=tracks, scores=[1.0] * N, name="all"), "all")


def cli(capsys, root: Path, model: Path, *args: str) -> tuple[int, str, str]:
    code = cli_main(["--library", str(root), "--model", str(model), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def table_pages(db: Path, table: str) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ?", (table,))]


def test_random_bytes_in_the_store_are_reported_and_repaired(tmp_path, test_model, music, capsys):
    root = tmp_path / "lib"
    pid = scanned(root, test_model, music)
    db = root / "library.sqlite3"
    page = table_pages(db, "tracks")[0]
    with open(db, "r+b") as f:                               # 4 KB of random bytes over the tracks
        f.seek((page - 1) * 4096)
        f.write(np.random.default_rng(0).bytes(4096))
    for command in (["list"], ["playlist", str(music / "chords/a1.mp3")], ["scan", "-q"]):
        code, out, err = cli(capsys, root, test_model, *command)
        assert code == 2 and "Traceback" not in err, (command, err)
        assert "is damaged" in err and "cbrec-lib repair" in err and "writable" not in err
        assert len(err.strip().splitlines()) == 1

    code, out, err = cli(capsys, root, test_model, "repair", "-q")
    assert code == 0, err
    assert "Salvaged" in out and "damaged file is kept as" in out
    kept = [p for p in root.glob("library.sqlite3.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and kept[0].stat().st_size > 0     # the damaged file is kept aside
    with Library.open(root, test_model, device="cpu", workers=2) as lib:
        assert len(lib) == N and len(lib.vectors()[0]) == N
        saved = lib.load_playlist(pid)                      # the playlist survived the damage
        assert len(saved.tracks) == N and all(t.status == "ok" for t in saved.tracks)
        assert lib.folders() == [str(music)]
        assert len(lib.similar(saved.tracks[0], n=3)) == 3
    code, out, _ = cli(capsys, root, test_model, "repair")
    assert code == 0 and "not damaged" in out


def test_store_with_a_garbled_header_or_truncated_says_damaged(tmp_path, test_model, music, capsys):
    root = tmp_path / "lib"
    scanned(root, test_model, music)
    db = root / "library.sqlite3"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])                   # truncated
    code, _, err = cli(capsys, root, test_model, "list")
    assert code == 2 and "is damaged" in err and "writable" not in err, err
    db.write_bytes(np.random.default_rng(1).bytes(4096) + data[4096:])   # header overwritten
    with pytest.raises(StoreDamaged, match="is damaged"):
        Library.open(root, test_model, device="cpu")
    report = repair_store(db)
    assert report.damaged_copy is not None and report.damaged_copy.exists()
    with Library.open(root, test_model, device="cpu", workers=2) as lib:   # a fresh store, usable
        assert len(lib) == 0


def test_bad_vector_rows_are_skipped_and_analysed_again(tmp_path, test_model, music):
    root = tmp_path / "lib"
    scanned(root, test_model, music)
    with Library.open(root, test_model, device="cpu", workers=2) as lib:
        nan_track, short_track = lib.track(music / "chords/a2.flac"), lib.track(music / "noise/n1.opus")
        version, dim = lib.analysis_version, lib.dim
    with sqlite3.connect(root / "library.sqlite3") as conn:   # rows integrity_check accepts
        fp = dict(conn.execute("SELECT id, fingerprint FROM tracks").fetchall())
        conn.execute("UPDATE vectors SET vector = ? WHERE fingerprint = ? AND version = ?",
                     (np.full(dim, np.nan, np.float32).tobytes(), fp[nan_track.id], version))
        conn.execute("UPDATE vectors SET vector = ? WHERE fingerprint = ? AND version = ?",
                     (b"\x00" * 7, fp[short_track.id], version))
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Library.open(root, test_model, device="cpu", workers=2) as lib:
        hits = lib.similar(music / "drums/d1.mp3", n=N)
        assert len(hits) == N - 3 and all(np.isfinite(h.score) for h in hits)   # all but the 2 bad + itself
        assert len(lib.playlist([music / "drums/d1.mp3"], length=5).tracks) == 5
        report = lib.scan()                                  # the next scan analyses them again
        assert sorted(report.updated) == sorted([nan_track.path, short_track.path]), report
        ids, vecs = lib.vectors()
        assert len(ids) == N and np.isfinite(vecs).all()
        assert len(lib.similar(music / "drums/d1.mp3", n=N)) == N - 1


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


def _unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_disk_full_is_named_and_loses_nothing(tmp_path, test_model, music, capsys):
    disk = tmp_path / "small-disk"
    if not _mount_tmpfs(disk, "3m"):
        pytest.skip("a small tmpfs cannot be mounted here (needs root and mount rights)")
    try:
        root = disk / "lib"
        pid = scanned(root, test_model, music)
        filler = disk / "filler"
        try:                                                 # fill the disk to the last page
            with open(filler, "wb", buffering=0) as f:
                while True:
                    f.write(b"\0" * 4096)
        except OSError:
            pass
        full = filler.stat().st_size
        more = tmp_path / "more"
        more.mkdir()
        for i in range(12):
            write_audio(more / f"m{i}.flac", seconds=3.0, kind="sweep", seed=60 + i)
        os.truncate(filler, full - 64 * 1024)               # 64 KB left: the scan fills it while committing
        with Library.open(root, test_model, device="cpu", workers=2) as lib:
            assert lib.store.read_only is None
            with pytest.raises(DiskFull, match=f"The disk holding {root} is full"):
                lib.scan([more])
        try:                                                 # and full to the last page again
            with open(filler, "ab", buffering=0) as f:
                while True:
                    f.write(b"\0" * 4096)
        except OSError:
            pass
        code, out, err = cli(capsys, root, test_model, "scan", "-q", str(more))
        assert code == 2 and "Traceback" not in err and "rollback" not in err.lower(), err
        assert err.startswith(f"cbrec-lib: The disk holding {root} is full") and "nothing was lost" in err
        code, out, err = cli(capsys, root, test_model, "list")       # reading still works
        assert code == 0, err
        assert len(out.splitlines()) >= N
        filler.unlink()
        with Library.open(root, test_model, device="cpu", workers=2) as lib:
            assert len(lib.load_playlist(pid).tracks) == N and len(lib) >= N
            lib.scan([more])
            assert len(lib) == N + 12 and len(lib.vectors()[0]) == N + 12
    finally:
        _unmount(disk)


def _make_read_only(folder: Path) -> bool:
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return True
    return subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True).returncode == 0


def test_read_only_library_answers_every_query_that_writes_nothing(tmp_path, test_model, music, capsys):
    share = tmp_path / "share"
    mounted = _mount_tmpfs(share, "16m")
    if os.geteuid() == 0 and not mounted:
        pytest.skip("as root a folder is never read-only, and a read-only tmpfs cannot be mounted here")
    try:
        root = share / "lib"
        pid = scanned(root, test_model, music)
        if not _make_read_only(share):
            pytest.skip("cannot make the library read-only here")
        assert not os.access(root, os.W_OK) or os.statvfs(root).f_flag & os.ST_RDONLY
        for command in (["list"], ["similar", str(music / "chords/a1.mp3"), "-n", "3"],
                        ["playlist", str(music / "chords/a1.mp3"), "--length", "4"], ["playlists"],
                        ["path", str(music / "chords/a1.mp3"), str(music / "drums/d2.flac"), "--length", "4"],
                        ["export", "all", str(tmp_path / "all.m3u8")], ["failures"]):
            code, out, err = cli(capsys, root, test_model, *command)
            assert code == 0, (command, err)
        with Library.open(root, test_model, device="cpu", workers=2) as lib:
            assert lib.store.read_only is not None
            assert len(lib) == N and len(lib.load_playlist(pid).tracks) == N
            assert lib.scan().added == []                    # nothing changed: nothing to write
            (tmp_path / "more").mkdir()
            more = write_audio(tmp_path / "more" / "new.flac", seconds=4.0, kind="sweep", seed=5)
            with pytest.raises(ReadOnlyLibrary, match="read-only"):
                lib.scan([more.parent])
            with pytest.raises(LibraryError, match="read-only"):
                lib.delete_playlist(pid)
        code, _, err = cli(capsys, root, test_model, "scan", "-q", str(more.parent))
        assert code == 2 and "read-only" in err and "Traceback" not in err
    finally:
        if mounted:
            _unmount(share)
        else:
            for path in [share, *share.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)


def test_store_ids_are_never_repeated(tmp_path):
    from core.store import Store

    ids = set()
    for i in range(5):
        store = Store(tmp_path / f"s{i}.sqlite3")
        ids.add(store.stamp().split(":")[0])
        store.close()
    assert len(ids) == 5 and all(len(uuid.UUID(i).hex) == 32 for i in ids)


def test_repair_waits_for_no_program_to_hold_the_library(tmp_path, test_model, music):
    from core.lock import LibraryInUse

    root = tmp_path / "lib"
    scanned(root, test_model, music)
    with Library.open(root, test_model, device="cpu", workers=2):
        with pytest.raises(LibraryInUse):
            repair_store(root / "library.sqlite3", force=True)
    assert not list(root.glob("library.sqlite3.damaged-*"))
    report = repair_store(root / "library.sqlite3", force=True)   # forced on a sound file: same content
    with Library.open(root, test_model, device="cpu", workers=2) as lib:
        assert len(lib) == N and len(lib.vectors()[0]) == N and report.salvaged["tracks"] == N
