"""``cbrec-lib history`` and ``cbrec-lib for-you``: the listening history from a terminal.

    cbrec-lib history import scrobbles.csv listens.jsonl   # matched / not in the library / skipped, with reasons
    cbrec-lib history                                      # your most played tracks and artists
    cbrec-lib history clear [--source lastfm]              # forget the history (or one source of it)
    cbrec-lib for-you -n 25 -o mix.m3u8                    # the library ranked by your taste
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from collections.abc import Callable

from core.errors import CbrecError


def register(sub: argparse._SubParsersAction, print_playlist: Callable) -> None:
    """Add the ``history`` and ``for-you`` commands to ``cbrec-lib``'s sub-parsers."""
    p = sub.add_parser("history", help="your most played tracks and artists, or `history import FILE...`",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("action", nargs="?", choices=["top", "import", "clear"], default="top")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="Last.fm CSV, ListenBrainz JSON/JSONL/ZIP, Spotify streaming history JSON/ZIP, "
                        "Rhythmbox rhythmdb.xml, Strawberry/Clementine database")
    p.add_argument("-n", type=int, default=20, help="how many tracks/artists, or unmatched entries to show")
    p.add_argument("--unmatched", metavar="TSV", help="write every unmatched or skipped entry with its reason")
    p.add_argument("--source", help="with clear: forget only this source's plays (cbrec, lastfm, listenbrainz, "
                                    "spotify, rhythmbox, strawberry, clementine)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("for-you", help="a mix from your listening history (your taste vector)")
    p.add_argument("-n", type=int, default=25, help="tracks in the mix")
    p.add_argument("--include-played", action="store_true", help="also tracks you have played")
    p.add_argument("--discovery", type=float, default=0.3,
                   help="with --include-played: share of tracks played at most once (default 0.3)")
    p.add_argument("--half-life", type=float, metavar="DAYS", help="weight recent plays: a play DAYS old counts half")
    p.add_argument("--max-per-artist", type=int)
    p.add_argument("--clusters", type=int, default=1, metavar="K",
                   help="K taste vectors (groups of what you play) sharing the mix (default 1)")
    p.add_argument("-o", "--output", help="write the mix (.m3u8 or .xspf)")
    p.add_argument("--save", metavar="NAME", help="also save it in the library under NAME")
    p.set_defaults(func=lambda lib, args: _for_you(lib, args, print_playlist))


def cmd_history(lib, args) -> int:
    if args.action == "import":
        return _import(lib, args)
    if args.action == "clear":
        print(f"forgot {lib.history.log.clear(args.source)} history entries")
        return 0
    if args.files:
        raise CbrecError(f"`history` takes no files (did you mean `history import {args.files[0]}`?).")
    matched, unmatched = lib.history.log.totals()
    if not matched and not unmatched:
        print("No listening history yet: play tracks in the app, or `cbrec-lib history import FILE`.")
        return 0
    print(f"{matched} plays of library tracks, {unmatched} of songs not in the library")
    stats = lib.play_stats()
    top = lib.history.log.top_tracks(args.n)
    tracks = lib.store.tracks_by_id([t for t, _ in top], lib.analysis_version)
    print(f"\nmost played tracks ({len(stats)} played):")
    for tid, s in top:
        if tid in tracks:
            print(f"{s.count:6d}  {tracks[tid].display}")
    print("\nmost played artists (whole history):")
    for artist, count in lib.history.log.top_artists(args.n):
        print(f"{count:6d}  {artist}")
    return 0


def _import(lib, args) -> int:
    if not args.files:
        raise CbrecError("Say which file to import: `cbrec-lib history import FILE`.")
    status, rows = 0, []
    for path in args.files:
        try:
            report = lib.import_history(path)
        except CbrecError as exc:
            print(f"cbrec-lib: {exc}", file=sys.stderr)
            status = 2
            continue
        except KeyboardInterrupt:   # the import is one transaction: nothing of this file was kept
            print(f"\ninterrupted: nothing imported from {path}", file=sys.stderr)
            return 130
        print(f"{path}: {report.summary()}")
        for label, entries in (("not in the library", report.unmatched), ("skipped", report.skipped)):
            if not entries:
                continue
            reasons = Counter(_reason_kind(r) for _, r in entries)
            print(f"  {label}: " + "; ".join(f"{n} {r}" for r, n in reasons.most_common(5)))
            for entry, reason in entries[:args.n]:
                print(f"    {entry}: {reason}")
            if len(entries) > args.n:
                print(f"    … {len(entries) - args.n} more" + ("" if args.unmatched else " (--unmatched FILE lists all)"))
            rows += [(path, label, entry, reason) for entry, reason in entries]
    if args.unmatched:
        with open(args.unmatched, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter="\t")
            writer.writerow(["file", "status", "entry", "reason"])
            writer.writerows(rows)
        print(f"wrote {len(rows)} entries to {args.unmatched}")
    return status


def _reason_kind(reason: str) -> str:
    """Group reasons for the summary line ("no track by 'X'…" → "artist not in the library")."""
    if reason.startswith("no track by"):
        return "artist not in the library"
    if "but no track titled" in reason:
        return "title not in the library"
    if reason.startswith("played "):
        return "played under 30 s"
    return reason.split(" (")[0]


def _for_you(lib, args, print_playlist: Callable) -> int:
    try:
        mix = lib.for_you(n=args.n, include_played=args.include_played, max_per_artist=args.max_per_artist,
                          discovery=args.discovery, half_life_days=args.half_life, clusters=args.clusters)
    except ValueError as exc:   # a share outside 0..1, an artist cap under 1
        raise CbrecError(f"{exc}.") from exc
    if not len(mix):
        raise CbrecError("Every analysed track has been played: try --include-played.")
    print_playlist(lib, mix, args)
    return 0
