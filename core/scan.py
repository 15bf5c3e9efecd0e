"""Walk music folders and diff them against the store: added, changed, moved, removed.

Unchanged files (same size and mtime) cost one ``stat``; only new or changed files are read,
and then only 192 KiB of each to compute a content fingerprint, so a moved or renamed file
keeps its analysis.
"""
from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from core.audio import AUDIO_EXTENSIONS
from core.sniff import holds_audio, worth_sniffing
from core.store import FileState

log = logging.getLogger(__name__)

_FINGERPRINT_BLOCK = 64 * 1024


@dataclass(frozen=True)
class FileEntry:
    """A regular audio file found on disk: absolute path, size (bytes), mtime and ctime (ns), inode."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int = 0
    inode: int = 0


@dataclass(frozen=True)
class AnalysisTask:
    """A file to analyse; ``need_vector`` is False when its content is already analysed."""

    entry: FileEntry
    fingerprint: str
    need_vector: bool
    kind: str  # "added" or "updated"


@dataclass
class ScanPlan:
    """Everything a scan must do, decided before any audio is decoded."""

    tasks: list[AnalysisTask] = field(default_factory=list)
    touched: list[FileEntry] = field(default_factory=list)          # new mtime, same content
    moved: list[tuple[str, FileEntry]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)             # kept: their folder cannot be read
    returned: list[str] = field(default_factory=list)                # were unavailable, found again
    restamped: list[FileEntry] = field(default_factory=list)         # unchanged, ctime/inode first seen
    failed: list[tuple[str, str]] = field(default_factory=list)      # found while walking
    still_failing: list[tuple[str, str]] = field(default_factory=list)
    forgotten_failures: list[str] = field(default_factory=list)      # failed before, gone from disk
    unchanged: int = 0


def fingerprint(path: str, size: int) -> str:
    """Content fingerprint: blake2b of the size and three 64 KiB blocks (start, middle, end)."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as fh:
        for offset in sorted({0, max(0, size // 2 - _FINGERPRINT_BLOCK // 2), max(0, size - _FINGERPRINT_BLOCK)}):
            fh.seek(offset)
            digest.update(fh.read(_FINGERPRINT_BLOCK))
    return digest.hexdigest()


def _is_excluded(path: str, patterns: Sequence[str]) -> bool:
    name = os.path.basename(path)
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) or path.startswith(p.rstrip(os.sep) + os.sep)
               for p in patterns)


def _link_problem(path: str) -> str:
    """Explain why a path that looks like a file cannot be followed."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return "symbolic link loop: the link points back to itself"
        if os.path.islink(path):
            return f"broken symbolic link (points to {os.readlink(path)!r}, which does not exist)"
        return f"cannot read the file: {exc.strerror}"
    return "cannot read the file"


def walk(folders: Iterable[str], exclude: Sequence[str] = (),
         unreadable: set[str] | None = None) -> tuple[list[FileEntry], list[tuple[str, str]]]:
    """All audio files under ``folders`` (symlinks followed, loops cut), and unreadable ones.

    Returns ``(entries, failed)`` where ``failed`` holds ``(path, reason)`` for audio-named
    paths that are not usable files: broken links, link loops, FIFOs, devices, and for folders
    that cannot be opened. ``unreadable`` (when given) receives every path below which files
    could not be seen: a folder that cannot be opened or listed, a link to a folder that is not
    there (a drive away), and a root folder that is empty (the mount point of a drive away).
    Files known under those paths are not gone: only a folder that was read tells that.
    """
    unreadable = unreadable if unreadable is not None else set()
    entries: list[FileEntry] = []
    failed: list[tuple[str, str]] = []
    seen_dirs: set[tuple[int, int]] = set()
    stack = [os.path.abspath(os.path.expanduser(f)) for f in folders]
    roots = set(stack)
    seen_files: set[str] = set()
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            failed.append((folder, f"cannot open the folder: {exc.strerror}"))
            unreadable.add(folder)
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            continue  # a link back to a folder already walked
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            failed.append((folder, f"cannot list the folder: {exc.strerror}"))
            unreadable.add(folder)
            continue
        if not children and folder in roots:
            unreadable.add(folder)
        for child in children:
            path = child.path
            if _is_excluded(path, exclude) or child.name.startswith("._"):
                continue
            is_audio = os.path.splitext(child.name)[1].lower() in AUDIO_EXTENSIONS
            maybe_audio = not is_audio and worth_sniffing(child.name)  # audio under another name?
            try:
                if child.is_dir(follow_symlinks=True):
                    stack.append(path)
                    continue
                cst = child.stat(follow_symlinks=True)
            except OSError:
                if is_audio:
                    failed.append((path, _link_problem(path)))
                else:  # perhaps a link to a folder on a drive that is away: what was below is unknown
                    unreadable.add(path)
                continue
            if not (is_audio or maybe_audio) or path in seen_files:
                continue
            if maybe_audio and not (stat.S_ISREG(cst.st_mode) and holds_audio(path)):
                continue
            seen_files.add(path)
            if not stat.S_ISREG(cst.st_mode):
                failed.append((path, "not a regular file (a pipe, socket or device), so it cannot be read as audio"))
                continue
            entries.append(FileEntry(path, cst.st_size, cst.st_mtime_ns, cst.st_ctime_ns, cst.st_ino))
    return entries, failed


def is_under(path: str, folders: Sequence[str]) -> bool:
    """True when ``path`` is one of ``folders`` or inside one of them."""
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def _same_file(state: FileState, entry: FileEntry) -> bool:
    """Size and mtime match, and so do ctime and inode where both are known: a file replaced by
    another of the same size with its mtime set back still has a new ctime (and usually inode)."""
    if (state.size, state.mtime_ns) != (entry.size, entry.mtime_ns):
        return False
    if state.ctime_ns and entry.ctime_ns and state.ctime_ns != entry.ctime_ns:
        return False
    return not (state.inode and entry.inode and state.inode != entry.inode)


def plan(entries: list[FileEntry], walk_failed: list[tuple[str, str]], folders: Sequence[str],
         known: dict[str, FileState], failures: dict[str, tuple[int, int, str]],
         analysed: set[str], unreadable: Iterable[str] = ()) -> ScanPlan:
    """Diff files on disk against the store.

    ``known``: stored tracks by path; ``failures``: path -> (size, mtime_ns, reason) of files
    that failed before (those gone from under ``folders`` become ``forgotten_failures``, as gone
    tracks become ``removed``); ``analysed``: fingerprints that already have a vector of this model;
    ``unreadable``: paths :func:`walk` could not see below. A known file under one of those is
    not removed but ``unavailable``; only a file missing from a folder that was read is removed.
    """
    result = ScanPlan(failed=list(walk_failed))
    roots = [os.path.abspath(os.path.expanduser(f)) for f in folders]
    blind = sorted(set(unreadable))
    on_disk = {e.path for e in entries}
    gone = {}
    for p, s in known.items():
        if p in on_disk or not is_under(p, roots):
            continue
        if blind and is_under(p, blind):
            result.unavailable.append(p)
        else:
            gone[p] = s
    result.returned = sorted(p for p in on_disk if p in known and not known[p].available)
    gone_by_fp: dict[str, list[str]] = {}
    for path, state in sorted(gone.items()):
        gone_by_fp.setdefault(state.fingerprint, []).append(path)
    for entry in entries:
        state = known.get(entry.path)
        if state and _same_file(state, entry):
            if entry.ctime_ns and (state.ctime_ns, state.inode) != (entry.ctime_ns, entry.inode):
                result.restamped.append(entry)
            if state.fingerprint in analysed:
                result.unchanged += 1
            else:  # known content, but not analysed by this model yet
                result.tasks.append(AnalysisTask(entry, state.fingerprint, True, "updated"))
            continue
        old_failure = failures.get(entry.path)
        if old_failure and old_failure[:2] == (entry.size, entry.mtime_ns):
            result.still_failing.append((entry.path, old_failure[2]))
            result.unchanged += 1
            continue
        try:
            fp = fingerprint(entry.path, entry.size)
        except OSError as exc:
            result.failed.append((entry.path, f"cannot read the file: {exc.strerror}"))
            continue
        if state is not None:
            if fp == state.fingerprint and fp in analysed:
                same_stat = (state.size, state.mtime_ns) == (entry.size, entry.mtime_ns)
                (result.restamped if same_stat else result.touched).append(entry)  # same content
            else:
                result.tasks.append(AnalysisTask(entry, fp, fp not in analysed, "updated"))
        elif gone_by_fp.get(fp):
            old = gone_by_fp[fp].pop(0)
            del gone[old]
            result.moved.append((old, entry))
            if fp not in analysed:
                result.tasks.append(AnalysisTask(entry, fp, True, "updated"))
        else:
            result.tasks.append(AnalysisTask(entry, fp, fp not in analysed, "added"))
    result.removed = sorted(gone)
    seen = on_disk | {p for p, _ in walk_failed}
    result.forgotten_failures = sorted(p for p in failures if p not in seen and is_under(p, roots)
                                       and not (blind and is_under(p, blind)))
    return result
