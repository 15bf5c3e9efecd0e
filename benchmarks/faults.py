"""Fault probes of issue 10: what a drive away, a disk full or a damaged store does to a library.

    python benchmarks/faults.py [--model resources/models/default.pt] [--tracks 45] [--workers 2]

Generates ``--tracks`` short audio files in three folders (real encoded audio), scans them into
a fresh library per probe, saves a playlist of 30 of them, applies one fault, and prints one
table: fault -> what cbrec said or did -> tracks, vectors and playlist entries (shown missing in
brackets) before and after the fault, and after the cause is gone again. Probes that need root
(a small tmpfs for "disk full", a read-only mount) or a normal user (``chmod 000``) say "skipped"
with the reason where the machine does not allow them.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import Library  # noqa: E402
from core.cli import main as cli_main  # noqa: E402
from core.playlist import Playlist  # noqa: E402
from tests.audio_factory import write_audio  # noqa: E402

KINDS = ("chord", "noise", "drums")


def make_music(folder: Path, n: int) -> None:
    for i in range(n):
        kind = KINDS[i % 3]
        ext = "wav" if i == 0 else ("flac", "mp3", "ogg")[i % 3]   # t000.wav: replaced by the last probe
        path = folder / kind / f"t{i:03d}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, seconds=5.0, kind=kind, seed=i, tags={"artist": f"A{i % 7}", "title": f"T{i}"})


class Probe:
    """One fresh library over a private copy of the music, with a saved 30-track playlist."""

    def __init__(self, work: Path, template: Path, model: Path, workers: int) -> None:
        self.work, self.model, self.workers = work, model, workers
        self.music = work / "music"
        shutil.copytree(template, self.music)
        self.root = work / "lib"
        with self.open() as lib:
            lib.scan([self.music])
            tracks = sorted(lib.tracks(), key=lambda t: t.path)[:30]
            self.pid = lib.save_playlist(Playlist(tracks=tracks, scores=[1.0] * len(tracks), name="p"), "p")

    def open(self) -> Library:
        return Library.open(self.root, self.model, device="cpu", workers=self.workers)

    def counts(self) -> str:
        """``tracks/vectors/entries (missing)``, or what stopped reading them."""
        try:
            with self.open() as lib:
                saved = lib.load_playlist(self.pid)
                missing = sum(t.status == "missing" for t in saved.tracks)
                return f"{len(lib)}/{len(lib.vectors()[0])}/{len(saved.tracks)} ({missing})"
        except Exception as exc:  # noqa: BLE001 - the table shows what a user would meet
            return f"error: {type(exc).__name__}"

    def cli(self, *args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(["--library", str(self.root), "--model", str(self.model), *args])
        lines = out.getvalue().strip().splitlines() if code == 0 else err.getvalue().strip().splitlines()
        return code, (lines[0] if code == 0 and lines else lines[-1] if lines else "")


def short(text: str, width: int = 170) -> str:
    """The outcome in a table cell: scan summaries without their zero counts, temp paths as <dir>."""
    text = re.sub(r"/\S*/cbrec-faults-[^/\s]*/p\d+", "<dir>", text)
    text = re.sub(r"\b0 (added|updated|moved|removed|failed|unchanged)(, )?", "", text)
    text = re.sub(r",? in \d+\.\d s", "", text).replace("cbrec-lib: ", "")
    text = re.sub(r",\s*(;|$)", r"\1", text)
    return text if len(text) <= width else text[: width - 1] + "…"


def drive_away(p: Probe) -> tuple[str, str, str]:
    os.rename(p.music, p.work / "away")
    code, line = p.cli("scan", "-q")
    during = p.counts()
    os.rename(p.work / "away", p.music)
    p.cli("scan", "-q")
    return f"scan exit {code}: {line}", during, p.counts()


def link_away(p: Probe) -> tuple[str, str, str]:
    drive = p.work / "drive"
    drive.mkdir()
    shutil.move(str(p.music / "drums"), str(drive / "drums"))
    os.symlink(drive / "drums", p.music / "drums")
    with p.open() as lib:
        lib.scan()
    os.rename(drive, p.work / "drive_away")
    code, line = p.cli("scan", "-q")
    during = p.counts()
    os.rename(p.work / "drive_away", drive)
    p.cli("scan", "-q")
    return f"scan exit {code}: {line}", during, p.counts()


def chmod_subfolder(p: Probe) -> tuple[str, str, str]:
    if os.geteuid() == 0:
        raise Skip("root reads a chmod 000 folder anyway")
    os.chmod(p.music / "noise", 0)
    try:
        code, line = p.cli("scan", "-q")
        during = p.counts()
    finally:
        os.chmod(p.music / "noise", 0o755)
    p.cli("scan", "-q")
    return f"scan exit {code}: {line}", during, p.counts()


def delete_and_return(p: Probe) -> tuple[str, str, str]:
    with p.open() as lib:
        victim = Path(lib.load_playlist(p.pid).tracks[3].path)
    shutil.move(str(victim), str(p.work / victim.name))
    code, line = p.cli("scan", "-q")
    during = p.counts()
    shutil.move(str(p.work / victim.name), str(victim))
    p.cli("scan", "-q")
    with p.open() as lib:
        place = [t.path for t in lib.load_playlist(p.pid).tracks].index(str(victim))
    return f"{line}; back at place {place + 1}", during, p.counts()


def restored_store(p: Probe) -> tuple[str, str, str]:
    backup = p.work / "backup.sqlite3"
    shutil.copy(p.root / "library.sqlite3", backup)
    (p.music / "extra").mkdir()
    for i in range(6):
        write_audio(p.music / "extra" / f"x{i}.wav", seconds=5.0, kind="sweep", seed=100 + i)
    with p.open() as lib:
        lib.scan()
        lib.index()
        generation = lib.store.generation()
    shutil.rmtree(p.music / "extra")
    for suffix in ("-wal", "-shm"):
        (p.root / f"library.sqlite3{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, p.root / "library.sqlite3")
    with p.open() as lib:
        while lib.store.generation() < generation:
            with lib.store.transaction():
                pass
        tid = lib.tracks()[0].id
        hits = lib.similar(tid, n=5)
        ids, vecs = lib.vectors()
        cos = vecs @ vecs[list(ids).index(tid)]
        truth = [int(ids[i]) for i in np.argsort(-cos) if ids[i] != tid][:5]
        outcome = (f"index {len(lib.index())} items for {len(lib)} tracks; top-5 "
                   f"{'exact' if [h.track.id for h in hits] == truth else 'WRONG'}")
    return outcome, p.counts(), p.counts()


def random_bytes(p: Probe) -> tuple[str, str, str]:
    db = p.root / "library.sqlite3"
    with sqlite3.connect(db) as conn:
        page = conn.execute("SELECT pageno FROM dbstat WHERE name = 'tracks' ORDER BY pageno").fetchone()[0]
    with open(db, "r+b") as f:
        f.seek((page - 1) * 4096)
        f.write(np.random.default_rng(0).bytes(4096))
    code, line = p.cli("list")
    during = p.counts()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        repair_code = cli_main(["--library", str(p.root), "--model", str(p.model), "repair", "-q"])
    lines = out.getvalue().splitlines()
    salvaged = lines[0].split(" into ")[0] if lines else ""
    rescan = lines[1] if len(lines) > 1 else ""
    said = "'... is damaged (...); run `cbrec-lib repair` ...'" if "is damaged" in line else line
    return (f"list exit {code}: {said}; repair exit {repair_code}: {salvaged}; rescan: {rescan}",
            during, p.counts())


def bad_vectors(p: Probe) -> tuple[str, str, str]:
    with p.open() as lib:
        version, dim = lib.analysis_version, lib.dim
        some = lib.tracks()[:3]
    with sqlite3.connect(p.root / "library.sqlite3") as conn:
        fps = [conn.execute("SELECT fingerprint FROM tracks WHERE id = ?", (t.id,)).fetchone()[0] for t in some]
        conn.execute("UPDATE vectors SET vector = ? WHERE fingerprint = ? AND version = ?",
                     (np.full(dim, np.nan, np.float32).tobytes(), fps[0], version))
        conn.execute("UPDATE vectors SET vector = ? WHERE fingerprint = ? AND version = ?",
                     (b"\0" * 7, fps[1], version))
    code, line = p.cli("similar", some[2].path, "-n", "3")
    during = p.counts()
    scan_code, scan_line = p.cli("scan", "-q")
    return f"similar exit {code}; rescan: {scan_line}", during, p.counts()


def _mount(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    return os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                                                capture_output=True).returncode == 0


def disk_full(p: Probe) -> tuple[str, str, str]:
    disk = p.work / "disk"
    if not _mount(disk, "4m"):
        raise Skip("needs root to mount a small tmpfs")
    try:
        shutil.copytree(p.root, disk / "lib")
        p.root = disk / "lib"
        try:
            with open(disk / "filler", "wb", buffering=0) as f:
                while True:
                    f.write(b"\0" * 4096)
        except OSError:
            pass
        more = p.work / "more"
        more.mkdir()
        for i in range(3):
            write_audio(more / f"m{i}.flac", seconds=5.0, kind="sweep", seed=200 + i)
        code, line = p.cli("scan", "-q", str(more))
        list_code, _ = p.cli("list")
        during = p.counts()
        (disk / "filler").unlink()
        p.cli("scan", "-q")
        return f"scan exit {code}: {line}; list exit {list_code}", during, p.counts()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def read_only(p: Probe) -> tuple[str, str, str]:
    share = p.work / "share"
    if not _mount(share, "16m"):
        raise Skip("needs root to mount a read-only tmpfs")
    try:
        shutil.copytree(p.root, share / "lib")
        p.root = share / "lib"
        subprocess.run(["mount", "-o", "remount,ro", str(share)], check=True)
        codes = [p.cli(*cmd)[0] for cmd in (["list"], ["playlists"], ["export", "p", str(p.work / "p.m3u8")])]
        with p.open() as lib:
            first = lib.tracks()[0]
            hits = len(lib.similar(first, n=3))
        return f"list/playlists/export exit {codes}; similar {hits} hits", p.counts(), p.counts()
    finally:
        subprocess.run(["umount", "-l", str(share)], capture_output=True)


def replaced_file(p: Probe) -> tuple[str, str, str]:
    target = p.music / "chord" / "t000.wav"
    st = target.stat()
    write_audio(target, seconds=5.0, kind="sweep", seed=999, tags={"artist": "A0", "title": "T0"})  # another song
    assert target.stat().st_size == st.st_size, "the replacement must have the same size"
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))   # and the old mtime put back
    code, line = p.cli("scan", "-q")
    return f"same size+mtime; rescan: {line}", p.counts(), p.counts()


class Skip(Exception):
    """A probe this machine cannot run."""


PROBES: list[tuple[str, Callable[[Probe], tuple[str, str, str]]]] = [
    ("music folder moved away (mv M M_away)", drive_away),
    ("linked folder on a drive that is away", link_away),
    ("subfolder chmod 000", chmod_subfolder),
    ("a playlist's file deleted, then back", delete_and_return),
    ("older store restored, same generation", restored_store),
    ("4 KB random bytes over the tracks", random_bytes),
    ("NaN vector row + 7-byte vector row", bad_vectors),
    ("disk full (4 MB tmpfs), then a scan", disk_full),
    ("library on a read-only mount", read_only),
    ("file replaced, same size and mtime", replaced_file),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "resources/models/default.pt"))
    parser.add_argument("--tracks", type=int, default=45)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", help="run only the probes whose name contains this text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cbrec-faults-") as tmp:
        template = Path(tmp) / "template"
        make_music(template, args.tracks)
        rows = []
        for i, (name, probe) in enumerate(PROBES):
            if args.only and args.only not in name:
                continue
            work = Path(tmp) / f"p{i}"
            work.mkdir()
            p = Probe(work, template, Path(args.model), args.workers)
            before = p.counts()
            try:
                outcome, during, after = probe(p)
            except Skip as why:
                outcome, during, after = f"skipped: {why}", "-", "-"
            except Exception as exc:  # noqa: BLE001 - a probe that breaks is a finding: show it
                outcome, during, after = f"PROBE FAILED: {type(exc).__name__}: {exc}", "-", "-"
            rows.append((name, short(outcome), before, during, after))
            print(f"done: {name}", file=sys.stderr)
    print("tracks/vectors/playlist entries (missing); 'after' = once the cause is gone (or repaired)")
    print(f"| {'fault':40} | {'outcome':170} | {'before':13} | {'during':13} | {'after':13} |")
    print(f"|{'-' * 42}|{'-' * 172}|{'-' * 15}|{'-' * 15}|{'-' * 15}|")
    for row in rows:
        print(f"| {row[0]:40} | {row[1]:170} | {row[2]:13} | {row[3]:13} | {row[4]:13} |")


if __name__ == "__main__":
    main()
