"""The Library end to end: real audio decoded, real SQLite, real Annoy, a real (untrained) CNN."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core import CancelToken, Library
from core.errors import CbrecError, ModelError, TrackNotFound
from tests.adversarial_audio import make_adversarial_set
from tests.audio_factory import write_audio
from tests.core.conftest import MUSIC
from tests.model_factory import make_test_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def lib(tmp_path, test_model):
    with Library.open(tmp_path / "lib", test_model, device="cpu", workers=2) as library:
        yield library


def test_scan_adds_every_format_with_tags_and_progress(lib, music):
    seen = []
    report = lib.scan([music], progress=seen.append)
    assert sorted(report.added) == sorted(str(music / rel) for rel, *_ in MUSIC), report.failed
    assert report.failed == []
    assert seen[-1].done == seen[-1].total == len(MUSIC) and seen[-1].rate > 0
    track = lib.track(music / "chords/a1.mp3")
    assert (track.artist, track.title, track.album, track.status) == ("Ann", "Morning", "Chord", "ok")
    assert track.duration == pytest.approx(6.0, abs=0.3)
    ids, vectors = lib.vectors()
    assert vectors.shape == (len(MUSIC), lib.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert lib.folders() == [str(music)]


def test_rescan_skips_unchanged_and_follows_moves_edits_and_deletions(lib, music):
    lib.scan([music])
    first_id = lib.track(music / "chords/a1.mp3").id
    unchanged = lib.scan()
    assert (unchanged.added, unchanged.updated, unchanged.unchanged) == ([], [], len(MUSIC))

    (music / "renamed").mkdir()
    os.rename(music / "chords/a1.mp3", music / "renamed/first.mp3")
    os.remove(music / "noise/n2.wav")
    write_audio(music / "drums/d1.mp3", seconds=4.0, kind="sweep", seed=99, tags={"title": "New"})
    report = lib.scan()
    assert report.moved == [(str(music / "chords/a1.mp3"), str(music / "renamed/first.mp3"))]
    assert lib.track(music / "renamed/first.mp3").id == first_id          # same track, analysis kept
    assert report.removed == [str(music / "noise/n2.wav")]
    assert report.updated == [str(music / "drums/d1.mp3")] and report.added == []
    assert lib.track(music / "drums/d1.mp3").title == "New"
    with pytest.raises(TrackNotFound):
        lib.track(music / "noise/n2.wav")
    assert len(lib) == len(MUSIC) - 1


def test_similar_playlist_path_and_export(lib, music, tmp_path):
    lib.scan([music])
    query = music / "chords/a2.flac"
    hits = lib.similar(query, n=5)
    assert len(hits) == 5 and all(h.track.path != str(query) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    outside = write_audio(tmp_path / "outside.ogg", seconds=5.0, kind="noise", seed=42)
    assert len(lib.similar(outside, n=3)) == 3                            # any file, not added
    assert len(lib) == len(MUSIC)
    vec = lib.embed_file(outside)
    assert vec.shape == (lib.dim,) and np.isclose(np.linalg.norm(vec), 1.0, atol=1e-4)

    mix = lib.playlist([query, music / "noise/n1.opus"], length=6, max_per_artist=1)
    assert [t.path for t in mix.tracks[:2]] == [str(query), str(music / "noise/n1.opus")]
    # six artists exist; an untrained model's near-identical vectors may drop one as a duplicate
    assert 4 <= len(mix) <= 6 and len({t.artist for t in mix.tracks}) == len(mix)
    walk = lib.path(music / "chords/a1.mp3", music / "drums/d2.flac", length=5)
    assert walk.tracks[0].path.endswith("a1.mp3") and walk.tracks[-1].path.endswith("d2.flac")
    assert 3 <= len({t.id for t in walk.tracks}) == len(walk) <= 5

    m3u = mix.write(tmp_path / "mix.m3u8")
    assert m3u.read_text(encoding="utf-8").startswith("#EXTM3U")
    assert walk.write(tmp_path / "walk.xspf").read_text(encoding="utf-8").count("<track>") == len(walk)

    pid = lib.save_playlist(mix, "saved")
    again = lib.load_playlist(pid)
    assert [t.id for t in again.tracks] == [t.id for t in mix.tracks] and lib.playlists()[0][1] == "saved"


def test_adversarial_files_are_reported_and_the_scan_finishes(lib, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    made = make_adversarial_set(folder)
    started = time.monotonic()
    report = lib.scan([folder])
    assert time.monotonic() - started < 120
    failed = dict(report.failed)
    for path, reason in failed.items():
        assert reason and "Traceback" not in reason and len(reason) < 300, (path, reason)
    analysed = set(report.added)
    handled = analysed | set(failed)
    for name, path in made.items():
        if name.startswith("dir_"):
            continue          # a folder named .mp3 is walked like any folder; a link to an ancestor is cut
        assert str(path) in handled, f"{name} ({path}) was neither analysed nor reported"
    for name in ("empty_mp3", "random_flac", "random_m4a", "text_ogg", "fifo_mp3", "broken_link_flac",
                 "loop_a_mp3", "loop_b_mp3"):
        if name in made:
            assert str(made[name]) in failed, f"{name} should fail: {report.failed}"
    for name in ("good_mp3", "multichannel_96k_flac", "short_clip_wav", "silence_flac", "lying_header_wav",
                 "big_cover_mp3", "flac_named_mp3", "non_utf8_wav"):
        assert str(made[name]) in analysed, f"{name} should be analysed: {failed.get(str(made[name]))}"
    ids, vectors = lib.vectors()
    assert np.isfinite(vectors).all() and len(ids) == len(analysed)
    assert lib.failures()                                # remembered for the app's failure list
    rescan = lib.scan([folder])                          # failures are not retried, but still listed
    assert rescan.added == [] and dict(rescan.failed).keys() >= {str(made["empty_mp3"])}


def test_a_new_model_means_reanalysis_never_mixed_vectors(tmp_path, music, test_model):
    with Library.open(tmp_path / "lib", test_model, device="cpu") as lib:
        lib.scan([music])
        old_version = lib.analysis_version
    other = make_test_model(tmp_path / "other", seed=7)
    with Library.open(tmp_path / "lib", other, device="cpu") as lib:
        assert lib.analysis_version != old_version
        assert {t.status for t in lib.tracks()} == {"pending"} and lib.vectors()[0].size == 0
        with pytest.raises(CbrecError, match="not been analysed"):
            lib.similar(music / "chords/a1.mp3")
        report = lib.scan()
        assert len(report.updated) == len(MUSIC) and {t.status for t in lib.tracks()} == {"ok"}


def test_corrupt_index_is_rebuilt(lib, music):
    lib.scan([music])
    lib.similar(music / "chords/a1.mp3", n=3)
    for ann in (lib.root / "index").glob("*.ann"):
        ann.write_bytes(b"garbage" * 10)
    lib._index = None
    assert len(lib.similar(music / "chords/a1.mp3", n=3)) == 3


def test_cancel_keeps_what_was_done(lib, music):
    lib.settings.batch_size = 2  # commit early: with one batch the cancel would come after the last file
    # one decoder: with two, every tiny file could be decoded before the first batch was committed
    # (the cancel then came after the last result: a race that failed about 1 run in 6)
    lib.settings.workers = 1
    token = CancelToken()
    done = []

    def on_tracks(tracks):
        done.extend(tracks)
        token.cancel()

    report = lib.scan([music], cancel=token, on_tracks=on_tracks)
    assert report.cancelled and 0 < len(lib) < len(MUSIC)
    assert len(lib) == len(done)
    assert len(lib.scan().added) == len(MUSIC) - len(done)


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("CBREC_MODEL", raising=False)
    with pytest.raises(ModelError, match=r"\.json|model"):
        Library.open(tmp_path / "lib", tmp_path / "nope.pt")


_KILL_SCRIPT = """
import sys
from core import Library
lib = Library.open(sys.argv[1], sys.argv[2], device="cpu", workers=1)
lib.settings.batch_size = 2
lib.scan([sys.argv[3]])
"""


def test_sigkill_mid_scan_loses_nothing_committed(tmp_path, music, test_model):
    for i in range(24):                                     # enough files that the scan takes a while
        shutil.copy(music / "noise/n2.wav", music / f"extra{i:02d}.wav")
        with open(music / f"extra{i:02d}.wav", "ab") as fh:
            fh.write(bytes([i]) * 64)                       # distinct content, same audio
    total = len(MUSIC) + 24
    db = tmp_path / "lib" / "library.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(tmp_path / "lib"), str(test_model), str(music)],
                            cwd=REPO)
    committed = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    committed = conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
            except sqlite3.OperationalError:
                committed = 0
        if committed >= 4:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert 4 <= committed < total, "the scan finished before it could be killed; add more files"
    with Library.open(tmp_path / "lib", test_model, device="cpu") as lib:
        kept = len(lib)
        assert kept >= committed
        report = lib.scan([music])
        assert len(report.added) == total - kept and report.unchanged == kept
        assert len(lib) == total and len({t.path for t in lib.tracks()}) == total


def test_script_without_main_guard_scans(tmp_path, music, test_model):
    """A user's script with no ``if __name__ == "__main__"`` guard: workers must not re-run it."""
    script = tmp_path / "my_scan.py"
    script.write_text("import sys\nfrom core import Library\n"
                      "lib = Library.open(sys.argv[1], sys.argv[2], device='cpu', workers=2)\n"
                      "report = lib.scan([sys.argv[3]])\n"
                      "print('RESULT', len(report.added), len(report.failed))\n")
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "lib"), str(test_model), str(music)],
                         capture_output=True, text=True, cwd=REPO, timeout=180)
    assert out.returncode == 0, out.stderr
    assert f"RESULT {len(MUSIC)} 0" in out.stdout, out.stdout + out.stderr
    assert out.stdout.count("RESULT") == 1  # the script ran once, not once per worker


def test_cli_scan_and_clear_errors(tmp_path, music, test_model):
    base = [sys.executable, "-m", "core.cli", "--library", str(tmp_path / "lib"), "--model", str(test_model)]
    out = subprocess.run(base + ["scan", "-q", str(music)], capture_output=True, text=True, cwd=REPO, timeout=180)
    assert out.returncode == 0, out.stderr
    assert f"{len(MUSIC)} added" in out.stdout
    out = subprocess.run(base + ["playlist", str(music / "chords/a1.mp3"), "--length", "4", "--save", "mine"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0 and "saved as playlist" in out.stdout, out.stderr
    out = subprocess.run(base + ["export", "mine", str(tmp_path / "mine.m3u8")], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "mine.m3u8").read_text(encoding="utf-8").count("#EXTINF") >= 3
    out = subprocess.run(base + ["similar", str(tmp_path / "missing.mp3")], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.startswith("cbrec-lib:")


def test_open_and_list_need_no_torch_and_a_modified_model_is_refused(tmp_path, music, test_model):
    with Library.open(tmp_path / "lib", test_model, device="cpu") as lib:
        lib.scan([music])
    script = ("import sys; from core import Library; lib = Library.open(sys.argv[1], sys.argv[2]);"
              " assert len(lib.tracks()) == int(sys.argv[3]); lib.scan(); lib.similar(lib.tracks()[0]);"
              " print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "lib"), str(test_model), str(len(MUSIC))],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"          # listing, rescanning and querying never load torch
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for suffix in (".pt", ".json"):
        shutil.copy(test_model.with_suffix(suffix), tampered / f"m{suffix}")
    with open(tampered / "m.pt", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match="changed after it was saved"):
        Library.open(tmp_path / "lib", tampered / "m.pt")


def test_upgrading_to_a_tagged_model_reanalyses_with_progress_and_keeps_playlists(tmp_path, music, test_model):
    """Issue 11, migration: a library analysed by an old model re-analyses on upgrade; playlists stay."""
    with Library.open(tmp_path / "lib", test_model, device="cpu") as lib:
        lib.scan([music])
        saved = lib.save_playlist(lib.playlist([music / "chords/a1.mp3"], length=5), name="mine")
        before = [t.path for t in lib.load_playlist(saved).tracks]
    upgraded = make_test_model(tmp_path / "new", name="new", seed=5, tags=["calm", "loud"])
    events = []
    with Library.open(tmp_path / "lib", upgraded, device="cpu") as lib:
        report = lib.scan(progress=events.append)
        assert len(report.updated) == len(MUSIC) and {t.status for t in lib.tracks()} == {"ok"}
        assert events and events[-1].done == len(MUSIC), "the re-analysis reports progress"
        assert [t.path for t in lib.load_playlist(saved).tracks] == before
        assert lib.playlists()[0][1] == "mine"
        assert [name for name, _ in lib.tags(music / "chords/a1.mp3", n=2)] in (["calm", "loud"], ["loud", "calm"])
