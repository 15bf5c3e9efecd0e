"""Writers of the simulated world in the EXACT formats of the real datasets (shared/datasets.md).

LFM-1b (§1): TAB-separated UTF-8, only ``LFM-1b_users.txt`` has a header, LEs grouped by user and
newest first. MSD (§2.1-2.3): ``<SEP>`` text files and the ``songs`` table of track_metadata.db.
Last.fm tags (§2.7): ``lastfm_tags.db`` and per-track JSON. Taste Profile (§2.4): triplets.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from trainer.data.simulate_catalog import Catalog
from trainer.data.simulate_listeners import Listening

LES = "LFM-1b_LEs.txt"
TRACKS = "LFM-1b_tracks.txt"
ARTISTS = "LFM-1b_artists.txt"
ALBUMS = "LFM-1b_albums.txt"
USERS = "LFM-1b_users.txt"
USERS_HEADER = ("user_id", "country", "age", "gender", "playcount", "registered_unixtime")
UNIQUE_TRACKS = "unique_tracks.txt"
UNIQUE_ARTISTS = "unique_artists.txt"
TRACK_METADATA = "track_metadata.db"
LASTFM_TAGS = "lastfm_tags.db"
LASTFM_JSON_DIR = "lastfm_train"
TRIPLETS = "train_triplets.txt"
SEP = "<SEP>"

SONGS_SCHEMA = ("CREATE TABLE songs (track_id text PRIMARY KEY, title text, song_id text, release text, "
                "artist_id text, artist_mbid text, artist_name text, duration real, "
                "artist_familiarity real, artist_hotttnesss real, year int, "
                "track_7digitalid int, shs_perf int, shs_work int)")
_COUNTRIES = ("US", "UK", "DE", "PL", "RU", "BR", "SE", "FI", "NL", "JP", "")

# Malformed LE lines of the kinds real dumps hold. A reader that checks every field drops all of
# them; one that parses only user and track (enough for play counts) keeps the middle three.
_BAD_KINDS = (
    ("missing field", lambda u, t: f"{u}\t{t}\t1\t{t}"),
    ("timestamp not an integer", lambda u, t: f"{u}\t{t}\t1\t{t}\tnot-a-time"),
    ("empty artist id", lambda u, t: f"{u}\t\t1\t{t}\t1234567890"),
    ("negative artist id", lambda u, t: f"{u}\t-7\t1\t{t}\t1234567890"),
    ("extra field", lambda u, t: f"{u}\t{t}\t1\t{t}\t1234567890\textra"),
)


@dataclass
class LesReport:
    """What :func:`write_les` wrote: good events, bad lines, their 1-based line numbers and kinds."""

    n_events: int
    n_bad_rows: int
    bad_lines: list[int]
    bad_kinds: list[str]


def _write_lines(path: Path, lines: Iterator[str] | list[str], header: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        if header is not None:
            f.write(header + "\n")
        for line in lines:
            f.write(line + "\n")


def lfm_play_ids(catalog: Catalog, listening: Listening, rng: np.random.Generator) -> list[np.ndarray]:
    """The LFM-1b track id of every play (per user): duplicates split a song's plays 60/40."""
    out = []
    for songs in listening.songs:
        ids = np.empty(len(songs), dtype=np.int64)
        for j, s in enumerate(songs.tolist()):
            lfm = catalog.songs[s].lfm_track_ids
            ids[j] = lfm[0] if len(lfm) == 1 or rng.random() < 0.6 else lfm[1]
        out.append(ids)
    return out


def write_les(path: Path, catalog: Catalog, listening: Listening, user_ids: np.ndarray,
              play_ids: list[np.ndarray], n_bad: int, rng: np.random.Generator,
              show_progress: bool = False) -> LesReport:
    """``LFM-1b_LEs.txt``: ``user artist album track time``, no header, grouped by user, newest first.

    ``n_bad`` malformed lines are slipped in at random places; their line numbers are reported.
    """
    track_artist = {t: catalog.artists[s.artist].lfm_id for s in catalog.songs for t in s.lfm_track_ids}
    track_album = {t: catalog.albums[s.album].lfm_id for s in catalog.songs for t in s.lfm_track_ids}
    total = sum(len(p) for p in play_ids)
    bad_at = set(rng.choice(total, size=min(n_bad, total), replace=False).tolist()) if total else set()
    bad_lines: list[int] = []
    bad_kinds: list[str] = []

    def lines() -> Iterator[str]:
        k = line = 0
        users = tqdm(range(len(play_ids)), desc=path.name, unit="user", disable=not show_progress, leave=False)
        for u in users:
            for t, ts in zip(play_ids[u].tolist(), listening.times[u].tolist(), strict=True):
                if k in bad_at:
                    line += 1
                    kind, make = _BAD_KINDS[len(bad_lines) % len(_BAD_KINDS)]
                    yield make(int(user_ids[u]), t)
                    bad_lines.append(line)
                    bad_kinds.append(kind)
                line += 1
                k += 1
                yield f"{user_ids[u]}\t{track_artist[t]}\t{track_album[t]}\t{t}\t{ts}"

    _write_lines(path, lines())
    return LesReport(total, len(bad_lines), bad_lines, bad_kinds)


def write_lfm_metadata(lfm_dir: Path, catalog: Catalog) -> None:
    """``LFM-1b_tracks.txt`` (``id name artist_id``), ``_artists.txt`` (``id name``), ``_albums.txt``
    (``id name artist_id``); no headers, sorted by id."""
    tracks = sorted((t, title, catalog.artists[s.artist].lfm_id) for s in catalog.songs
                    for t, title in zip(s.lfm_track_ids, s.lfm_titles, strict=True))
    _write_lines(lfm_dir / TRACKS, (f"{t}\t{name}\t{a}" for t, name, a in tracks))
    _write_lines(lfm_dir / ARTISTS, (f"{a.lfm_id}\t{a.lfm_name}" for a in sorted(catalog.artists, key=lambda a: a.lfm_id)))
    _write_lines(lfm_dir / ALBUMS, (f"{al.lfm_id}\t{al.name}\t{catalog.artists[al.artist].lfm_id}"
                                    for al in sorted(catalog.albums, key=lambda al: al.lfm_id)))


def write_users(path: Path, user_ids: np.ndarray, n_events: np.ndarray, registered: np.ndarray,
                rng: np.random.Generator) -> None:
    """``LFM-1b_users.txt`` with its header; age -1 / gender n / empty country where unknown."""
    lines = []
    for uid, n, reg in zip(user_ids.tolist(), n_events.tolist(), registered.tolist(), strict=True):
        age = -1 if rng.random() < 0.3 else int(rng.integers(14, 70))
        gender = str(rng.choice(["m", "f", "n"], p=[0.55, 0.3, 0.15]))
        lines.append(f"{uid}\t{rng.choice(_COUNTRIES)}\t{age}\t{gender}\t{n}\t{reg}")
    _write_lines(path, lines, header="\t".join(USERS_HEADER))


def write_msd(msd_dir: Path, catalog: Catalog, rng: np.random.Generator) -> None:
    """``unique_tracks.txt``, ``unique_artists.txt`` and ``track_metadata.db`` for the MSD songs."""
    songs = [s for s in catalog.songs if s.in_msd]
    _write_lines(msd_dir / UNIQUE_TRACKS, (SEP.join((s.msd_track_id, s.msd_song_id, catalog.artists[s.artist].name,
                                                     s.title)) for s in songs))
    first_track: dict[int, str] = {}
    for s in songs:
        first_track.setdefault(s.artist, s.msd_track_id)
    _write_lines(msd_dir / UNIQUE_ARTISTS, (SEP.join((catalog.artists[a].msd_id, catalog.artists[a].mbid, tid,
                                                      catalog.artists[a].name))
                                            for a, tid in sorted(first_track.items(), key=lambda kv: catalog.artists[kv[0]].msd_id)))
    db = msd_dir / TRACK_METADATA
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as con:
        con.execute(SONGS_SCHEMA)
        con.executemany("INSERT INTO songs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [
            (s.msd_track_id, s.title, s.msd_song_id, catalog.albums[s.album].name, catalog.artists[s.artist].msd_id,
             catalog.artists[s.artist].mbid, catalog.artists[s.artist].name, round(s.duration, 5),
             float(rng.uniform(0.2, 0.9)), float(rng.uniform(0.1, 0.8)), s.year, s.track_7digitalid, -1, 0)
            for s in songs])
    con.close()


def write_lastfm_tags(msd_dir: Path, catalog: Catalog, tags: dict[int, list[tuple[str, float]]],
                      similars: dict[int, list[tuple[int, float]]], rng: np.random.Generator) -> int:
    """``lastfm_tags.db`` (tags, tids, tid_tag) and ``lastfm_train/A/B/C/TR….json``; returns #tracks tagged."""
    db = msd_dir / LASTFM_TAGS
    db.unlink(missing_ok=True)
    vocab = sorted({t for pairs in tags.values() for t, _ in pairs})
    tag_row = {t: i + 1 for i, t in enumerate(vocab)}
    tagged = sorted(tags, key=lambda s: catalog.songs[s].msd_track_id)
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE tags (tag TEXT)")
        con.execute("CREATE TABLE tids (tid TEXT)")
        con.execute("CREATE TABLE tid_tag (tid INT, tag INT, val FLOAT)")
        con.executemany("INSERT INTO tags (ROWID, tag) VALUES (?, ?)", [(tag_row[t], t) for t in vocab])
        con.executemany("INSERT INTO tids (ROWID, tid) VALUES (?, ?)",
                        [(i + 1, catalog.songs[s].msd_track_id) for i, s in enumerate(tagged)])
        con.executemany("INSERT INTO tid_tag VALUES (?, ?, ?)", [
            (i + 1, tag_row[t], float(v)) for i, s in enumerate(tagged) for t, v in tags[s]])
        con.execute("CREATE INDEX idx_tid_tag_tid ON tid_tag (tid)")
    con.close()
    for s in sorted(set(tagged) | set(similars), key=lambda s: catalog.songs[s].msd_track_id):  # as the real
        song = catalog.songs[s]                          # dataset: a JSON file per matched track, tags or not
        tid = song.msd_track_id
        path = msd_dir / LASTFM_JSON_DIR / tid[2] / tid[3] / tid[4] / f"{tid}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromtimestamp(int(rng.integers(1293840000, 1325376000)), UTC)
        doc = {"artist": catalog.artists[song.artist].name, "title": song.title, "track_id": tid,
               "timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S.%f"),
               "tags": [[t, str(int(v))] for t, v in tags.get(s, [])],
               "similars": [[catalog.songs[o].msd_track_id, round(sc, 6)] for o, sc in similars.get(s, [])]}
        path.write_text(json.dumps(doc), encoding="utf-8")
    return len(tagged)


def taste_profile_user(lfm_user_id: int) -> str:
    """The 40-hex Taste Profile id given to a simulated LFM-1b user."""
    return hashlib.sha1(f"lfm-{lfm_user_id}".encode()).hexdigest()


def write_triplets(path: Path, catalog: Catalog, listening: Listening, user_ids: np.ndarray) -> int:
    """Taste Profile ``train_triplets.txt`` (``user song count``) of the plays of MSD songs; returns #lines."""
    lines = []
    for uid, songs in zip(user_ids.tolist(), listening.songs, strict=True):
        user = taste_profile_user(uid)
        uniq, counts = np.unique(songs, return_counts=True)
        lines += [f"{user}\t{catalog.songs[s].msd_song_id}\t{c}"
                  for s, c in zip(uniq.tolist(), counts.tolist(), strict=True) if catalog.songs[s].in_msd]
    _write_lines(path, lines)
    return len(lines)
