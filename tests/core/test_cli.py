"""``cbrec-lib`` run as a user runs it (issue 9, points 12-14 and 16), in a fake home folder.

One module-wide library: ``~/Music`` (the shared test music plus six untagged files in one
folder) is scanned once through the command line, with ``~`` in every path and the progress bar
on; the tests then read what that scan printed and query the library it made.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core import Library
from tests.audio_factory import write_audio
from tests.core.conftest import MUSIC

REPO = Path(__file__).resolve().parents[2]
UNTAGGED = [f"untagged/Track {k:02d}.wav" for k in range(1, 7)]


def cbrec_lib(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``cbrec-lib`` with ``HOME=home``; every path argument is passed with a literal ``~``."""
    env = {**os.environ, "HOME": str(home)}
    env.pop("CBREC_DATA_DIR", None)
    env.pop("CBREC_MODEL", None)
    cmd = [sys.executable, "-m", "core.cli", "--library", "~/lib", "--model", "~/models/test.pt", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def home(tmp_path_factory, music_template, test_model) -> Path:
    root = tmp_path_factory.mktemp("home")
    shutil.copytree(music_template, root / "Music")
    for k, rel in enumerate(UNTAGGED):   # no tags: the title comes from the file name; lengths differ,
        (root / "Music" / rel).parent.mkdir(parents=True, exist_ok=True)   # so none is a duplicate
        write_audio(root / "Music" / rel, seconds=3.0 + 0.5 * k, kind="sweep", seed=40 + k)
    (root / "elsewhere").mkdir()
    write_audio(root / "elsewhere" / "new.flac", seconds=4.0, kind="chord", seed=99)  # never scanned
    (root / "models").mkdir()
    for suffix in (".pt", ".json"):
        shutil.copy(test_model.with_suffix(suffix), root / "models" / f"test{suffix}")
    return root


@pytest.fixture(scope="module")
def first_scan(home: Path) -> subprocess.CompletedProcess:
    out = cbrec_lib(home, "scan", "~/Music")
    assert out.returncode == 0, out.stderr
    return out


def test_scan_of_a_missing_folder_fails_and_is_listed(home, first_scan):
    """Point 12: exit status 1 (was 0), and ``failures`` names the folder with its reason."""
    out = cbrec_lib(home, "scan", "-q", "~/Musik")
    assert out.returncode == 1, out.stdout + out.stderr
    missing = str(home / "Musik")
    assert f"failed: {missing}: cannot open the folder: No such file or directory" in out.stdout
    assert "could not be read" in out.stderr and missing in out.stderr and "Traceback" not in out.stderr
    listed = cbrec_lib(home, "failures")
    assert listed.returncode == 0 and f"{missing}: cannot open the folder" in listed.stdout, listed.stdout
    with Library.open(home / "lib", home / "models" / "test.pt") as lib:
        assert str(home / "Musik") not in lib.folders()        # a typo is not remembered as a folder
        assert lib.folders() == [str(home / "Music")]
    # a rescan of the library's folders reads them all: status 0
    again = cbrec_lib(home, "scan", "-q")
    assert again.returncode == 0 and "unchanged" in again.stdout, again.stderr


def test_scan_says_what_it_does_and_reports_a_measured_rate(first_scan):
    """Point 13: no silent start, and no 65536 file/s on the first update."""
    err = first_scan.stderr
    lines = [line.strip() for line in re.split(r"[\r\n]+", err) if line.strip()]
    n = len(MUSIC) + len(UNTAGGED)
    assert lines[0].startswith("scanning ") and lines[0].endswith("Music…"), lines[:3]
    assert lines[1] == f"{n} files to analyse; starting the decode workers and loading the model…", lines[:3]
    bar = [line for line in lines[2:] if line.startswith("analysing:")]
    assert bar and f"0/{n}" in bar[0] and "starting" in bar[0], bar[:2]   # the bar is up before the model
    assert f"{n}/{n}" in bar[-1], bar[-1]
    rates = [float(r) for r in re.findall(r"([0-9.]+) file/s", err)]
    assert rates, err
    assert all(r < 500 for r in rates), rates             # 16 small files on two cores: never thousands/s
    assert f"{n} added" in first_scan.stdout


def test_every_path_may_start_with_a_tilde(home, first_scan, monkeypatch):
    """Point 14: the README's ``lib.similar("~/Music/song.flac")`` and every other path-taking call."""
    out = cbrec_lib(home, "similar", "~/elsewhere/new.flac", "-n", "3")      # not in the library
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 3, out.stderr
    out = cbrec_lib(home, "similar", "~/Music/chords/a1.mp3", "-n", "3")
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 3, out.stderr
    out = cbrec_lib(home, "playlist", "~/Music/chords/a1.mp3", "--length", "4", "-o", "~/mix.m3u8",
                    "--save", "mine")
    assert out.returncode == 0 and (home / "mix.m3u8").is_file(), out.stderr
    out = cbrec_lib(home, "path", "~/Music/chords/a1.mp3", "~/Music/noise/n1.opus", "--length", "4",
                    "-o", "~/walk.xspf")
    assert out.returncode == 0 and (home / "walk.xspf").is_file(), out.stderr
    out = cbrec_lib(home, "export", "mine", "~/mine.m3u8")
    assert out.returncode == 0 and (home / "mine.m3u8").is_file(), out.stderr

    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CBREC_DATA_DIR", "~/lib")
    monkeypatch.setenv("CBREC_MODEL", "~/models/test.pt")
    with Library.open(device="cpu") as lib:                           # both from the environment
        assert lib.root == home / "lib" and len(lib) == len(MUSIC) + len(UNTAGGED)
        hits = lib.similar("~/elsewhere/new.flac", n=3)
        assert len(hits) == 3
        assert lib.embed_file("~/elsewhere/new.flac").shape == (lib.dim,)
        assert lib.track("~/Music/chords/a1.mp3").title == "Morning"
        playlist = lib.playlist(["~/Music/chords/a1.mp3", "~/Music/drums/d1.mp3"], length=5)
        assert playlist.write("~/api.xspf") == home / "api.xspf" and (home / "api.xspf").is_file()
        assert len(lib.path("~/Music/chords/a1.mp3", "~/Music/drums/d1.mp3", length=4)) >= 2
        lib.add_folder("~/elsewhere")
        assert str(home / "elsewhere") in lib.folders()
        lib.remove_folder("~/elsewhere")
        assert str(home / "elsewhere") not in lib.folders()
    with Library.open("~/lib", "~/models/test.pt", device="cpu") as lib:
        assert lib.root == home / "lib" and lib.model_path == home / "models" / "test.pt"
    with Library.open("~/lib2", "~/models/test.pt", device="cpu") as lib:   # exclusions too
        report = lib.scan(["~/elsewhere"], exclude=["~/elsewhere/new.flac"])
        assert (report.added, report.failed) == ([], []) and lib.folders() == [str(home / "elsewhere")]


def test_max_per_artist_groups_untagged_files_by_folder(home, first_scan):
    """Point 16: ``--max-per-artist 2`` now limits a folder of untagged files to two tracks."""
    seed = f"~/Music/{UNTAGGED[0]}"
    free = cbrec_lib(home, "playlist", seed, "--length", "10")
    assert free.returncode == 0, free.stderr
    assert free.stdout.count("/untagged/") > 2, free.stdout          # without the cap they cluster
    capped = cbrec_lib(home, "playlist", seed, "--length", "10", "--max-per-artist", "2")
    assert capped.returncode == 0, capped.stderr
    assert capped.stdout.count("/untagged/") == 2, capped.stdout     # the seed and one more
    assert len(capped.stdout.splitlines()) > 5                     # filled from the other folders
