"""The catalogue of the simulated world: songs, artists, albums, MSD ids and LFM-1b ids, with noise.

Noise follows what the real data holds (Platt 2017 ch. 3; datasets.md §1-2): LFM-1b names that
differ from MSD's only in case, LFM-1b duplicate track ids for one artist+title, LFM-1b tracks
that are not in the MSD, and MSD tracks nobody listens to.
"""
from __future__ import annotations

import string
import uuid
from dataclasses import dataclass, field

import numpy as np

_SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "dor", "sa", "ti", "mon", "el", "qu", "zar", "bri", "no",
              "fe", "lux", "gra", "ha", "jo", "pe", "wy", "ost", "um", "ce")
_ALNUM = string.ascii_uppercase + string.digits


@dataclass
class Song:
    """One recording. ``in_msd``: has MSD ids and (if ``has_audio``) a 7digital clip;
    ``lfm_track_ids``/``lfm_titles``: its LFM-1b track ids and the title each one carries."""

    index: int
    genre: int
    artist: int
    album: int
    title: str
    duration: float
    in_msd: bool = True
    has_audio: bool = True
    msd_track_id: str | None = None
    msd_song_id: str | None = None
    track_7digitalid: int | None = None
    year: int = 0
    source_path: str | None = None
    lfm_track_ids: list[int] = field(default_factory=list)
    lfm_titles: list[str] = field(default_factory=list)


@dataclass
class Artist:
    """An artist as written in the MSD (``name``) and in LFM-1b (``lfm_name``, maybe another case)."""

    name: str
    lfm_name: str
    lfm_id: int
    msd_id: str
    mbid: str
    genre: int


@dataclass
class Album:
    name: str
    lfm_id: int
    artist: int


@dataclass
class Catalog:
    songs: list[Song]
    artists: list[Artist]
    albums: list[Album]


def _word(rng: np.random.Generator, n_syl: int) -> str:
    return "".join(rng.choice(_SYLLABLES, size=n_syl)).capitalize()


def make_name(rng: np.random.Generator, words: int) -> str:
    """A pronounceable made-up name of ``words`` words."""
    return " ".join(_word(rng, int(rng.integers(1, 4))) for _ in range(words))


def msd_id(prefix: str, rng: np.random.Generator) -> str:
    """An id shaped like the MSD's: ``prefix`` + 16 of [A-Z0-9] (e.g. ``TRMMMYQ128F932D901``)."""
    return prefix + "".join(rng.choice(list(_ALNUM), size=16))


def case_variant(name: str, rng: np.random.Generator) -> str:
    """The same name in another case (lower, upper, title or swapped), never identical if avoidable."""
    for f in rng.permutation([str.lower, str.upper, str.title, str.swapcase]):
        if f(name) != name:
            return f(name)
    return name


def unique_ints(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """``n`` distinct integers in [low, high), random order."""
    out: set[int] = set()
    while len(out) < n:
        out.update(rng.integers(low, high, size=2 * (n - len(out)) + 8).tolist())
    return rng.permutation(np.fromiter(out, dtype=np.int64))[:n]


def assign_artists(genres: np.ndarray, rng: np.random.Generator, songs_per_artist: float = 3.0,
                   group_names: list[str] | None = None) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Group songs into artists within each genre: (artist index per song, [(name, genre)])."""
    artist_of = np.empty(len(genres), dtype=np.int64)
    artists: list[tuple[str, int]] = []
    for g in np.unique(genres):
        members = rng.permutation(np.flatnonzero(genres == g))
        n_art = max(1, int(round(len(members) / songs_per_artist)))
        for j, chunk in enumerate(np.array_split(members, n_art)):
            base = group_names[g] if group_names else make_name(rng, int(rng.integers(1, 3)))
            name = base if (group_names and n_art == 1) else (f"{base} {j + 1}" if group_names else base)
            artist_of[chunk] = len(artists)
            artists.append((name, int(g)))
    return artist_of, _dedupe_names(artists)


def _dedupe_names(artists: list[tuple[str, int]]) -> list[tuple[str, int]]:
    seen: dict[str, int] = {}
    out = []
    for name, g in artists:
        key = name.lower()
        seen[key] = seen.get(key, 0) + 1
        out.append((name if seen[key] == 1 else f"{name} {seen[key]}", g))
    return out


def build_catalog(genres: np.ndarray, titles: list[str], durations: np.ndarray, has_audio: np.ndarray,
                  rng: np.random.Generator, *, group_names: list[str] | None = None,
                  msd_only_fraction: float = 0.1, duplicate_fraction: float = 0.1,
                  case_variant_fraction: float = 0.3) -> Catalog:
    """Name, group and id every song; ``has_audio`` False = an LFM-1b-only track (not in the MSD).

    A ``msd_only_fraction`` of the audio songs get no LFM-1b id; ``duplicate_fraction`` of the rest
    get a second LFM-1b id with the same artist and title (case may differ);
    ``case_variant_fraction`` of artists and titles are written in another case in LFM-1b.
    """
    n = len(genres)
    artist_of, artist_names = assign_artists(genres, rng, group_names=group_names)
    artist_lfm_ids = unique_ints(rng, len(artist_names), 1, 3_000_000)
    artists = []
    variant = pick(rng, len(artist_names), case_variant_fraction)
    for a, (name, g) in enumerate(artist_names):
        lfm_name = case_variant(name, rng) if variant[a] else name
        mbid = str(uuid.UUID(bytes=rng.bytes(16), version=4)) if rng.random() < 0.8 else ""   # may be empty
        artists.append(Artist(name, lfm_name, int(artist_lfm_ids[a]), msd_id("AR", rng), mbid, g))
    albums, album_of = _assign_albums(artist_of, len(artists), rng)
    titles = _unique_titles(titles, artist_of)
    msd_track_ids = _distinct(lambda: msd_id("TR", rng), n)
    msd_song_ids = _distinct(lambda: msd_id("SO", rng), n)
    digital = unique_ints(rng, n, 10, 10_000_000)
    songs = []
    for i in range(n):
        s = Song(i, int(genres[i]), int(artist_of[i]), int(album_of[i]), titles[i], float(durations[i]),
                 in_msd=bool(has_audio[i]), has_audio=bool(has_audio[i]), year=int(rng.choice([0, *range(1965, 2011)])))
        if s.in_msd:
            s.msd_track_id, s.msd_song_id, s.track_7digitalid = msd_track_ids[i], msd_song_ids[i], int(digital[i])
        songs.append(s)
    _assign_lfm_tracks(songs, rng, msd_only_fraction, duplicate_fraction, case_variant_fraction)
    return Catalog(songs, artists, albums)


def _distinct(make, n: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        v = make()
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def _assign_albums(artist_of: np.ndarray, n_artists: int,
                   rng: np.random.Generator) -> tuple[list[Album], np.ndarray]:
    album_ids = unique_ints(rng, 2 * n_artists, 1, 16_000_000)
    albums: list[Album] = []
    album_of = np.empty(len(artist_of), dtype=np.int64)
    for a in range(n_artists):
        members = np.flatnonzero(artist_of == a)
        n_alb = 1 if len(members) < 4 else 2
        first = len(albums)
        for _ in range(n_alb):
            albums.append(Album(make_name(rng, int(rng.integers(1, 4))), int(album_ids[len(albums)]), a))
        album_of[members] = first + rng.integers(0, n_alb, size=len(members))
    return albums, album_of


def _unique_titles(titles: list[str], artist_of: np.ndarray) -> list[str]:
    """Make (artist, lower-case title) keys unique so that matching by name is well defined."""
    seen: dict[tuple[int, str], int] = {}
    out = []
    for t, a in zip(titles, artist_of.tolist(), strict=True):
        key = (a, t.lower())
        seen[key] = seen.get(key, 0) + 1
        out.append(t if seen[key] == 1 else f"{t} ({seen[key]})")
    return out


def pick(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    """(n,) bool with exactly round(fraction·n) True, and at least one when fraction > 0 and n > 0."""
    mask = np.zeros(n, dtype=bool)
    if fraction > 0 and n > 0:
        mask[rng.choice(n, size=min(n, max(1, round(fraction * n))), replace=False)] = True
    return mask


def _assign_lfm_tracks(songs: list[Song], rng: np.random.Generator, msd_only_fraction: float,
                       duplicate_fraction: float, case_variant_fraction: float) -> None:
    """Give songs LFM-1b track ids (distinct ints < 2^31); the MSD-only songs get none."""
    ids = iter(unique_ints(rng, 2 * len(songs), 1, 32_000_000).tolist())
    msd = [s for s in songs if s.in_msd]
    unheard = {s.index for s, skip in zip(msd, pick(rng, len(msd), msd_only_fraction), strict=True) if skip}
    listed = [s for s in songs if s.index not in unheard]
    twice = pick(rng, len(listed), duplicate_fraction)
    for s, dup in zip(listed, twice, strict=True):
        s.lfm_track_ids += [next(ids) for _ in range(2 if dup else 1)]
    titles = [(s, j) for s in listed for j in range(len(s.lfm_track_ids))]
    variant = pick(rng, len(titles), case_variant_fraction)
    for (s, _), v in zip(titles, variant, strict=True):
        s.lfm_titles.append(case_variant(s.title, rng) if v else s.title)
