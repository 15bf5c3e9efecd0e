"""Two programs on one library (issue 9, point 9): the second gets a clear message, never a race.

The second opener runs in a real subprocess (another program, as the app and ``cbrec-lib``
would be), against a real library folder and the real OS lock.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core import Library
from core.lock import LOCK_NAME, LibraryInUse, LibraryLock

ROOT = Path(__file__).resolve().parents[2]

OPENER = textwrap.dedent("""
    import sys
    from core import Library, CbrecError
    try:
        lib = Library.open(sys.argv[1], model=sys.argv[2], device="cpu", workers=1)
    except CbrecError as exc:
        print(f"{type(exc).__name__}: {exc}")
        sys.exit(3)
    print("opened", len(lib))
    if len(sys.argv) > 3:  # hold it until told to go
        sys.stdin.readline()
    lib.close()
""")


def _opener(lib_dir: Path, model: Path, hold: bool = False) -> subprocess.Popen:
    args = [sys.executable, "-c", OPENER, str(lib_dir), str(model)] + (["hold"] if hold else [])
    return subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_second_program_is_refused_with_a_clear_message(tmp_path, test_model):
    lib = Library.open(tmp_path / "lib", model=test_model, device="cpu", workers=1)
    proc = _opener(tmp_path / "lib", test_model)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, (out, err)
    assert out.startswith("LibraryInUse: The library in ") and "open in another cbrec program" in out
    assert f"process {os.getpid()}" in out, "the message names the program holding the library"
    assert "Traceback" not in err
    lib.close()
    proc = _opener(tmp_path / "lib", test_model)  # closed: the next program opens it
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.startswith("opened"), (out, err)


def test_this_program_is_refused_while_another_holds_the_library(tmp_path, test_model):
    Library.open(tmp_path / "lib", model=test_model, device="cpu", workers=1).close()
    proc = _opener(tmp_path / "lib", test_model, hold=True)
    try:
        assert proc.stdout.readline().startswith("opened")
        with pytest.raises(LibraryInUse, match=f"process {proc.pid}"):
            Library.open(tmp_path / "lib", model=test_model, device="cpu", workers=1)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with Library.open(tmp_path / "lib", model=test_model, device="cpu", workers=1) as lib:  # free again
        assert len(lib) == 0


def test_a_crashed_holder_leaves_no_stale_lock(tmp_path, test_model):
    proc = _opener(tmp_path / "lib", test_model, hold=True)
    assert proc.stdout.readline().startswith("opened")
    proc.kill()  # no close(): the OS drops the lock with the process
    proc.wait(timeout=60)
    assert (tmp_path / "lib" / LOCK_NAME).exists()
    Library.open(tmp_path / "lib", model=test_model, device="cpu", workers=1).close()


def test_the_command_line_says_so_too(tmp_path, test_model):
    lib = Library.open(tmp_path / "lib", model=test_model, device="cpu", workers=1)
    try:
        music = tmp_path / "music"
        music.mkdir()
        proc = subprocess.run([sys.executable, "-m", "core.cli", "--library", str(tmp_path / "lib"),
                               "--model", str(test_model), "scan", str(music)], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode != 0
        assert "open in another cbrec program" in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        lib.close()


def test_lock_object(tmp_path):
    lock = LibraryLock(tmp_path / "new" / "folder")
    lock.acquire()
    assert lock.held and (tmp_path / "new" / "folder" / LOCK_NAME).exists()
    other = LibraryLock(tmp_path / "new" / "folder")
    with pytest.raises(LibraryInUse):
        other.acquire()
    lock.release()
    lock.release()  # twice is harmless
    other.acquire()
    other.release()
