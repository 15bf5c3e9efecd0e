"""Walking folders and diffing them against the store, without decoding any audio."""
from __future__ import annotations

import os

from core.scan import FileEntry, fingerprint, plan, walk
from core.store import FileState


def _touch(path, data=b"x" * 100):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_walk_finds_audio_follows_links_once_and_reports_unusable(tmp_path):
    a = _touch(tmp_path / "m" / "a.mp3")
    _touch(tmp_path / "m" / "cover.jpg")
    _touch(tmp_path / "m" / "._a.mp3")                         # macOS resource fork: skipped
    _touch(tmp_path / "m" / "skip" / "b.flac")
    (tmp_path / "m" / "sub").mkdir()
    os.symlink("..", tmp_path / "m" / "sub" / "up")             # loop back to an ancestor
    os.symlink("nowhere.ogg", tmp_path / "m" / "broken.ogg")
    os.symlink("self.mp3", tmp_path / "m" / "self.mp3")         # a link to itself
    os.mkfifo(tmp_path / "m" / "pipe.wav")
    (tmp_path / "m" / "dir.mp3").mkdir()
    c = _touch(tmp_path / "m" / "dir.mp3" / "c.ogg")
    entries, failed = walk([tmp_path / "m"], exclude=["*/skip"])
    assert sorted(e.path for e in entries) == sorted([str(a), str(c)])
    reasons = dict(failed)
    assert "broken symbolic link" in reasons[str(tmp_path / "m" / "broken.ogg")]
    assert "loop" in reasons[str(tmp_path / "m" / "self.mp3")]
    assert "not a regular file" in reasons[str(tmp_path / "m" / "pipe.wav")]


def test_fingerprint_depends_on_content_not_name(tmp_path):
    a = _touch(tmp_path / "a.mp3", os.urandom(300_000))
    b = tmp_path / "b.mp3"
    b.write_bytes(a.read_bytes())
    c = _touch(tmp_path / "c.mp3", a.read_bytes()[:-1] + b"\0")
    assert fingerprint(str(a), 300_000) == fingerprint(str(b), 300_000) != fingerprint(str(c), 300_000)


def test_plan_classifies_every_change(tmp_path):
    root = str(tmp_path)
    same, moved_to, edited, new = (_touch(tmp_path / n, os.urandom(1000)) for n in ("same", "moved", "edit", "new"))
    entry = {p: FileEntry(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in (same, moved_to, edited, new)}
    fp = {p: fingerprint(str(p), p.stat().st_size) for p in entry}
    known = {
        str(same): FileState(1, entry[same].size, entry[same].mtime_ns, fp[same]),
        root + "/old_name": FileState(2, 1000, 1, fp[moved_to]),
        str(edited): FileState(3, 999, 1, "stale"),
        root + "/deleted": FileState(4, 5, 5, "gone"),
        "/elsewhere/kept": FileState(5, 5, 5, "other"),           # outside the scanned folder: untouched
    }
    result = plan(list(entry.values()), [], [root], known, {}, analysed={fp[same], fp[moved_to], "other"})
    assert result.unchanged == 1
    assert [(old, e.path) for old, e in result.moved] == [(root + "/old_name", str(moved_to))]
    assert {(t.entry.path, t.kind, t.need_vector) for t in result.tasks} == {(str(edited), "updated", True),
                                                                            (str(new), "added", True)}
    assert result.removed == [root + "/deleted"]


def test_plan_does_not_retry_unchanged_failures(tmp_path):
    bad = _touch(tmp_path / "bad.mp3")
    st = bad.stat()
    result = plan([FileEntry(str(bad), st.st_size, st.st_mtime_ns)], [], [str(tmp_path)], {},
                  {str(bad): (st.st_size, st.st_mtime_ns, "not an audio file")}, set())
    assert result.tasks == [] and result.still_failing == [(str(bad), "not an audio file")]


def test_folder_that_cannot_be_listed_keeps_its_tracks(tmp_path, monkeypatch):
    """The chmod 000 case of issue 10 for a root user, who can list any folder: os.scandir is
    made to fail on one folder with the PermissionError a normal user would get."""
    a = _touch(tmp_path / "m" / "open" / "a.mp3")
    _touch(tmp_path / "m" / "locked" / "b.mp3")
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    unreadable: set[str] = set()
    entries, failed = walk([str(tmp_path / "m")], unreadable=unreadable)
    locked = str(tmp_path / "m" / "locked")
    assert unreadable == {locked} and failed == [(locked, "cannot list the folder: Permission denied")]
    known = {str(a): FileState(1, 100, a.stat().st_mtime_ns, "fa"),
             locked + "/b.mp3": FileState(2, 100, 1, "fb"),
             str(tmp_path / "m" / "open" / "deleted.mp3"): FileState(3, 100, 1, "fc")}
    result = plan(entries, failed, [str(tmp_path / "m")], known, {}, {"fa", "fb", "fc"}, unreadable=unreadable)
    assert result.unavailable == [locked + "/b.mp3"]                  # kept, marked missing
    assert result.removed == [str(tmp_path / "m" / "open" / "deleted.mp3")]  # its folder was read


def test_same_size_and_mtime_but_new_ctime_or_inode_is_fingerprinted(tmp_path):
    a = _touch(tmp_path / "a.mp3", b"a" * 200_000)
    st = a.stat()
    fp = fingerprint(str(a), st.st_size)
    entry = FileEntry(str(a), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    same = {str(a): FileState(1, st.st_size, st.st_mtime_ns, fp, st.st_ctime_ns, st.st_ino)}
    assert plan([entry], [], [str(tmp_path)], same, {}, {fp}).unchanged == 1
    replaced = {str(a): FileState(1, st.st_size, st.st_mtime_ns, "old-song", st.st_ctime_ns - 1, st.st_ino)}
    result = plan([entry], [], [str(tmp_path)], replaced, {}, {"old-song"})
    assert [t.fingerprint for t in result.tasks] == [fp] and result.unchanged == 0
    unknown = {str(a): FileState(1, st.st_size, st.st_mtime_ns, fp)}          # a store from before ctime
    result = plan([entry], [], [str(tmp_path)], unknown, {}, {fp})
    assert result.unchanged == 1 and result.restamped == [entry]
