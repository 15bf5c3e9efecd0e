"""A KKBox-format world (``train.csv``, ``songs.csv``, ``members.csv``; datasets.md §10) derived
from a simulated world, so Zhao & Pu's collaborative-filtering baseline runs here.

The simulated listening events (``LFM-1b_LEs.txt``, timestamps included) become KKBox rows: one
per (user, song) first play, in time order, with ``target`` = 1 when the user played the song
again within 30 days of that first play, which is KKBox's definition. The source fields
(``source_system_tab`` and friends) are drawn per row and lean towards "my library" for songs the
user returns to, as they do in the real data; members and songs carry the world's users and songs
with KKBox's quirks (ages of 0, negative or > 100, empty fields, ``|``-joined genre ids, base64-like
ids). ``bad_rows`` malformed lines per file test the readers.

    >>> write_kkbox_world(Path("world"), Path("kkbox"), seed=0)
    {'rows': ..., 'positive_share': ..., 'users': ..., 'songs': ...}
"""
from __future__ import annotations

import base64
import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from trainer.data.badrows import BadRows
from trainer.data.lfm1b import iter_events

MONTH = 30 * 86400
TABS = ("my library", "discover", "search", "radio", "listen with", "explore", "")
SCREENS = ("Local playlist more", "Online playlist more", "Radio", "Album more", "Search", "Artist more",
           "Discover Feature", "My library", "")
TYPES = ("local-library", "online-playlist", "local-playlist", "radio", "album", "top-hits-for-artist", "song", "")


def kkbox_id(kind: str, value: object) -> str:
    """A 44-character base64 id, stable for (kind, value), like KKBox's ``msno``/``song_id``."""
    return base64.b64encode(hashlib.sha256(f"{kind}:{value}".encode()).digest()).decode()


def _date(unix: float) -> str:
    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y%m%d")


def _first_plays(world_dir: Path, song_of_track: dict[int, int]) -> list[tuple[int, int, int, int]]:
    """``(first play time, user, song, target)`` per (user, song), in time order."""
    plays: dict[tuple[int, int], list[int]] = {}
    for chunk in iter_events(world_dir / "lfm1b" / "LFM-1b_LEs.txt", BadRows(), progress=False, prefetch=False,
                             columns=("user_id", "track_id", "timestamp")):
        for u, t, ts in zip(chunk.user_id.tolist(), chunk.track_id.tolist(), chunk.timestamp.tolist(), strict=True):
            if t in song_of_track:
                plays.setdefault((u, song_of_track[t]), []).append(ts)
    rows = []
    for (u, s), times in plays.items():
        times.sort()
        again = len(times) > 1 and times[1] - times[0] <= MONTH
        rows.append((times[0], u, s, int(again)))
    rows.sort()
    return rows


def write_kkbox_world(world_dir: Path, out_dir: Path, seed: int = 0, bad_rows: int = 0) -> dict:
    """Write ``train.csv``, ``songs.csv`` and ``members.csv`` under ``out_dir``; returns counts."""
    world = json.loads((Path(world_dir) / "world.json").read_text(encoding="utf-8"))
    rng = np.random.default_rng([seed, 13])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    songs = world["songs"]
    song_of_track = {t: i for i, s in enumerate(songs) for t in s.get("lfm_track_ids", [])}
    rows = _first_plays(Path(world_dir), song_of_track)
    users = {u["lfm_user_id"]: u for u in world["users"]}
    bad_at = set(np.linspace(0, max(len(rows) - 1, 0), bad_rows).astype(int).tolist()) if bad_rows else set()
    with open(out_dir / "train.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("msno", "song_id", "source_system_tab", "source_screen_name", "source_type", "target"))
        for k, (_, u, s, target) in enumerate(rows):
            lean = 0.55 if target else 0.2          # returning listeners come from their own library
            src = 0 if rng.random() < lean else int(rng.integers(1, len(TABS)))
            w.writerow((kkbox_id("user", u), kkbox_id("song", s), TABS[src],
                        SCREENS[7 if src == 0 else int(rng.integers(0, len(SCREENS)))],
                        TYPES[0 if src == 0 else int(rng.integers(1, len(TYPES)))], target))
            if k in bad_at:
                w.writerow((kkbox_id("user", u), kkbox_id("song", s), "discover", "", "", "maybe"))   # bad target
    with open(out_dir / "songs.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("song_id", "song_length", "genre_ids", "artist_name", "composer", "lyricist", "language"))
        for i, s in enumerate(songs):
            genres = str(400 + s["genre"]) + (f"|{1000 + int(rng.integers(0, 5))}" if rng.random() < 0.1 else "")
            w.writerow((kkbox_id("song", i), int(round(s["duration"] * 1000)), genres, s["artist_name"],
                        s["artist_name"] if rng.random() < 0.3 else "", "", (3, 52, 31, -1)[s["genre"] % 4]))
        for _ in range(bad_rows):
            w.writerow((kkbox_id("song", "bad"), "three minutes", "465", "x", "", "", "3"))
    with open(out_dir / "members.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("msno", "city", "bd", "gender", "registered_via", "registration_init_time", "expiration_date"))
        for uid in users:
            registered = 1104537600 + int(rng.integers(0, 10 * 365)) * 86400
            bd = int(rng.integers(15, 60)) if rng.random() < 0.6 else int(rng.choice([0, -38, 1051, 0]))
            w.writerow((kkbox_id("user", uid), int(rng.integers(1, 23)), bd, rng.choice(["male", "female", ""]),
                        int(rng.choice([3, 4, 7, 9])), _date(registered), _date(registered + 400 * 86400)))
        for _ in range(bad_rows):
            w.writerow((kkbox_id("user", "bad"), 1, 20, "male", 7, "2017-01-01", "20180101"))
    targets = np.array([r[3] for r in rows])
    return {"rows": len(rows), "positive_share": round(float(targets.mean()), 4) if len(rows) else 0.0,
            "users": len(users), "songs": len(songs), "bad_rows_per_file": bad_rows}
