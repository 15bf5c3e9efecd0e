"""Odd files through a scan: mutagen's own test-suite files (its sdist's ``tests/data``).

    python benchmarks/formats.py [--model resources/models/default.pt] [--sdist mutagen-1.48.1.tar.gz]

Downloads the mutagen 1.48.1 source archive with ``pip download`` (or uses ``--sdist``), scans
its ``tests/data`` folder (100 files: every format mutagen reads, damaged and tag-only files
among them) into a fresh library, and prints one table: per extension, how many files were
analysed, failed with a reason, or were not looked at (not audio by name nor by content).
Exits with status 3 when the archive cannot be had (offline).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MUTAGEN = "mutagen==1.48.1"


def fetch_mutagen_data(dest: Path, sdist: Path | None = None) -> tuple[Path | None, str]:
    """``(tests/data folder, "")`` of mutagen's sdist unpacked under ``dest``, or ``(None, why not)``."""
    if sdist is None:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--retries", "0",
               "--timeout", "15", "--disable-pip-version-check", "-d", str(dest), MUTAGEN]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"pip download {MUTAGEN} did not finish: {exc}"
        found = sorted(dest.glob("mutagen-*.tar.gz"))
        if out.returncode != 0 or not found:
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            return None, f"pip download {MUTAGEN} failed (offline?): {last}"
        sdist = found[0]
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/tests/data/" in m.name and (m.isfile() or m.isdir())]
        tar.extractall(dest, members=members, filter="data")
    data = next(dest.glob("mutagen-*/tests/data"), None)
    return (data, "") if data is not None else (None, f"{sdist} holds no tests/data folder")


def classify(folder: Path, analysed: set[str], failed: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """Every file under ``folder`` as analysed / failed (with its reason) / not looked at."""
    out: dict[str, list[tuple[str, str]]] = {"analysed": [], "failed": [], "not looked at": []}
    for path in sorted(str(p) for p in folder.rglob("*") if p.is_file()):
        if path in analysed:
            out["analysed"].append((path, ""))
        elif path in failed:
            out["failed"].append((path, failed[path]))
        else:
            out["not looked at"].append((path, ""))
    return out


def scan_folder(folder: Path, model: str | os.PathLike, library: Path, workers: int = 2):
    """Scan ``folder`` into a fresh library; ``(classify(...), ScanReport)``."""
    from core import Library

    with Library.open(library, model, device="cpu", workers=workers) as lib:
        report = lib.scan([folder])
        analysed = {t.path for t in lib.tracks() if t.status == "ok"}
        failed = dict(lib.failures())
    return classify(folder, analysed, failed), report


def table(result: dict[str, list[tuple[str, str]]]) -> str:
    """A markdown table: extension -> analysed / failed / not looked at, and a total row."""
    rows: dict[str, Counter] = {}
    for kind, items in result.items():
        for path, _ in items:
            ext = os.path.splitext(path)[1].lower() or "(none)"
            rows.setdefault(ext, Counter())[kind] += 1
    kinds = list(result)
    lines = ["| extension | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
    for ext in sorted(rows):
        lines.append(f"| {ext} | " + " | ".join(str(rows[ext][k]) for k in kinds) + " |")
    lines.append("| **all** | " + " | ".join(f"**{len(result[k])}**" for k in kinds) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "resources" / "models" / "default.pt"))
    ap.add_argument("--sdist", type=Path, help="a mutagen-1.48.1.tar.gz already downloaded")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cbrec-formats-") as tmp:
        data, why = fetch_mutagen_data(Path(tmp), args.sdist)
        if data is None:
            print(f"skipped: {why}", file=sys.stderr)
            return 3
        result, report = scan_folder(data, args.model, Path(tmp) / "lib", args.workers)
    print(f"mutagen 1.48.1 tests/data: {sum(map(len, result.values()))} files, scan: {report.summary()}\n")
    print(table(result))
    print("\nfailed, with the reasons a user sees:")
    for path, reason in result["failed"]:
        print(f"  {os.path.basename(path)}: {reason}")
    print("not looked at: " + ", ".join(os.path.basename(p) for p, _ in result["not looked at"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
