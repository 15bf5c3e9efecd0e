"""``cbrec-lib``: the library from a terminal (scan, list, similar, playlist, path, failures).

    cbrec-lib scan ~/Music                       # incremental, with a progress bar
    cbrec-lib similar ~/Music/song.flac -n 10
    cbrec-lib tags ~/Music/song.flac -n 5            # a tagged model's best tags (any audio file)
    cbrec-lib playlist ~/Music/a.mp3 ~/Music/b.ogg --length 25 --max-per-artist 2 -o mix.m3u8
    cbrec-lib path ~/Music/a.mp3 ~/Music/b.ogg --length 10 -o walk.xspf --save "Morning walk"
    cbrec-lib playlists                          # saved playlists (from the app or --save)
    cbrec-lib export "Morning walk" walk.m3u8    # a saved playlist, by name or id
    cbrec-lib repair                             # salvage a damaged library, keep it aside, rescan
    cbrec-lib history import scrobbles.csv       # Last.fm/ListenBrainz/Spotify/Rhythmbox/Strawberry
    cbrec-lib history                            # most played tracks and artists
    cbrec-lib for-you -n 25 -o mix.m3u8          # a mix from your listening history

Global options choose the library folder (``--library``), the model (``--model``) and the device.
Errors are printed as one sentence and exit with status 2; there are no tracebacks. ``scan``
exits with status 1 when a folder could not be read. Every path may start with ``~``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from core.errors import CbrecError
from core.progress import CancelToken, Progress


def _progress_bar():
    """A tqdm-backed progress callback: files done/total, and the rate and ETA the engine measured.

    The bar appears at the scan's first report (0 files done, sent before the model loads) with
    a line saying what is happening; rate and ETA come from :class:`Progress` (tqdm's own rate
    would start from the first update and show absurd figures such as 65536 file/s)."""
    from tqdm import tqdm

    bar: dict[str, tqdm] = {}

    def update(p: Progress) -> None:
        if "bar" not in bar:
            if p.done == 0 and p.total:
                print(f"{p.total} file{'s' if p.total != 1 else ''} to analyse; starting the decode workers "
                      "and loading the model…", file=sys.stderr, flush=True)
            bar["bar"] = tqdm(total=p.total, unit="file", desc=p.phase, dynamic_ncols=True, postfix=_rate_text(p),
                              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
        b = bar["bar"]
        b.n = p.done
        b.set_postfix_str(_rate_text(p) + (f", {p.current[-40:]}" if p.current else ""), refresh=False)
        b.refresh()

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return update, close


def _rate_text(p: Progress) -> str:
    """``12.3 file/s, 20 s left`` from the engine's measurement; ``starting`` before the first file."""
    if p.done == 0 or p.rate <= 0:
        return "starting"
    text = f"{p.rate:.1f} file/s" if p.rate >= 1 else f"{p.rate:.2f} file/s"
    if p.eta is not None and p.done < p.total:
        text += f", {p.eta:.0f} s left" if p.eta < 120 else f", {p.eta / 60:.0f} min left"
    return text


def _print_playlist(lib, playlist, args) -> None:
    for track, score in zip(playlist.tracks, playlist.scores, strict=True):
        print(f"{score:6.3f}  {track.display}  [{track.path}]")
    if args.output:
        print(f"wrote {playlist.write(args.output)}")
    if args.save:
        print(f"saved as playlist {lib.save_playlist(playlist, args.save)} ({args.save!r})")


def cmd_scan(lib, args) -> int:
    """Exit status 0 when every folder was read (files that failed are listed, and kept in
    ``failures``), 1 when a folder could not be read (it was not scanned), 130 when interrupted."""
    update, close = _progress_bar()
    cancel = CancelToken()
    roots = [os.path.abspath(os.path.expanduser(f)) for f in args.folders] or lib.folders()
    if not args.quiet:
        print(f"scanning {', '.join(roots) if len(roots) <= 3 else f'{len(roots)} folders'}…",
              file=sys.stderr, flush=True)
    try:
        report = lib.scan(args.folders or None, progress=None if args.quiet else update, cancel=cancel,
                          exclude=args.exclude)
    except KeyboardInterrupt:
        cancel.cancel()
        print("\ninterrupted: everything analysed so far is kept", file=sys.stderr)
        return 130
    finally:
        close()
    print(report.summary())
    for path, reason in report.failed:
        print(f"  failed: {path}: {reason}")
    unread = [path for path, _ in report.failed if path in roots]
    if unread:
        print(f"cbrec-lib: {len(unread)} folder{'s' if len(unread) > 1 else ''} could not be read and "
              f"{'were' if len(unread) > 1 else 'was'} not scanned: {', '.join(unread)}", file=sys.stderr)
        return 1
    return 0


def _one_line(text: str) -> str:
    """``text`` with control characters (a newline or tab in a file name) written as escapes, so
    every track is one line of output."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def cmd_list(lib, args) -> int:
    """One line per track: id, status (ok, pending, or missing while its folder cannot be read),
    Artist - Title, path."""
    for track in lib.tracks():
        print(f"{track.id}\t{track.status}\t{_one_line(track.display)}\t{_one_line(track.path)}")
    return 0


def cmd_repair(lib, args) -> int:
    """(After :func:`core.repair.repair_store` ran in :func:`main`) scan, to re-add and re-analyse
    what could not be salvaged."""
    if not lib.folders():
        return 0
    print("scanning the library's folders to re-add and re-analyse what was lost…", file=sys.stderr)
    return cmd_scan(lib, argparse.Namespace(folders=[], exclude=[], quiet=args.quiet))


def cmd_similar(lib, args) -> int:
    for hit in lib.similar(args.track, n=args.n):
        print(f"{hit.score:6.3f}  {hit.track.display}  [{hit.track.path}]")
    return 0


def cmd_tags(lib, args) -> int:
    if not lib.tag_names:
        raise CbrecError(f"The model {lib.card.name!r} predicts no tags. Choose a tagged model with --model "
                         "(its card lists \"tags\", e.g. musicnn).")
    for name, score in lib.tags(args.track, n=args.n):
        print(f"{score:6.3f}  {name}")
    return 0


def cmd_playlist(lib, args) -> int:
    _print_playlist(lib, lib.playlist(args.seeds, length=args.length, max_per_artist=args.max_per_artist), args)
    return 0


def cmd_path(lib, args) -> int:
    _print_playlist(lib, lib.path(args.start, args.end, length=args.length, max_per_artist=args.max_per_artist),
                    args)
    return 0


def cmd_playlists(lib, args) -> int:
    for pid, name, created in lib.playlists():
        print(f"{pid}\t{created}\t{name}")
    return 0


def cmd_export(lib, args) -> int:
    saved = lib.playlists()
    matches = [pid for pid, name, _ in saved if str(pid) == args.playlist or name == args.playlist]
    if not matches:
        raise CbrecError(f"There is no saved playlist named or numbered {args.playlist!r}; "
                         "see `cbrec-lib playlists`.")
    print(f"wrote {lib.load_playlist(matches[-1]).write(args.output)}")
    return 0


def cmd_failures(lib, args) -> int:
    for path, reason in lib.failures():
        print(f"{path}: {reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cbrec-lib", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", help="library data folder (default: the user data folder)")
    parser.add_argument("--model", help="fast (the bundled default), best (the bundled musicnn model: slower scans) "
                        "or a model file (.pt with its .json card)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--workers", type=int, help="decode worker processes (default: CPU count)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("scan", help="add or update music folders (default: the library's folders)")
    p.add_argument("folders", nargs="*")
    p.add_argument("--exclude", action="append", default=[], help="glob of paths to skip (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_scan)

    sub.add_parser("list", help="list the tracks").set_defaults(func=cmd_list)
    sub.add_parser("failures", help="files that could not be analysed, with reasons").set_defaults(func=cmd_failures)
    p = sub.add_parser("repair", help="salvage a damaged library into a fresh one (the damaged file is kept aside), "
                                      "then rescan")
    p.add_argument("--force", action="store_true", help="rebuild even when no damage is found")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_repair)

    p = sub.add_parser("similar", help="tracks most similar to a track or any audio file")
    p.add_argument("track")
    p.add_argument("-n", type=int, default=10)
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("tags", help="a track's or any audio file's best automatic tags (tagged models)")
    p.add_argument("track")
    p.add_argument("-n", type=int, default=5)
    p.set_defaults(func=cmd_tags)

    for name, helptext in (("playlist", "a playlist from one or more seed tracks"),
                           ("path", "a playlist walking from one track to another")):
        p = sub.add_parser(name, help=helptext)
        if name == "playlist":
            p.add_argument("seeds", nargs="+")
        else:
            p.add_argument("start")
            p.add_argument("end")
        p.add_argument("--length", type=int, default=25 if name == "playlist" else 10)
        p.add_argument("--max-per-artist", type=int, metavar="N",
                       help="at most N tracks per artist (untagged files: per album artist, else per folder)")
        p.add_argument("-o", "--output", help="write the playlist (.m3u8 or .xspf)")
        p.add_argument("--save", metavar="NAME", help="also save it in the library under NAME")
        p.set_defaults(func=cmd_playlist if name == "playlist" else cmd_path)

    sub.add_parser("playlists", help="list saved playlists").set_defaults(func=cmd_playlists)
    p = sub.add_parser("export", help="write a saved playlist (.m3u8 or .xspf)")
    p.add_argument("playlist", help="saved playlist name or id")
    p.add_argument("output")
    p.set_defaults(func=cmd_export)
    from core.history.cli import register as register_history

    register_history(sub, _print_playlist)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        from core.library import Library

        if args.command == "repair":
            from core.library import default_library_dir
            from core.repair import repair_store

            root = Path(args.library).expanduser() if args.library else default_library_dir()
            report = repair_store(root / "library.sqlite3", force=args.force)
            print(report.summary())
            if not report.was_damaged:
                return 0
        with Library.open(args.library, args.model, device=args.device, workers=args.workers) as lib:
            return args.func(lib, args)
    except CbrecError as exc:
        print(f"cbrec-lib: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cbrec-lib: {exc.filename or ''} {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
