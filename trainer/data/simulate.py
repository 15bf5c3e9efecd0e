"""A complete simulated world in the real file formats, with known true tastes, for end-to-end tests.

    >>> world = simulate_world(Path("world"), audio_library=None, labels_tsv=None, n_users=50, seed=0,
    ...                        n_songs=24, clip_seconds=3.0)
    >>> world["counts"]["events"], world["paths"]["les"]

Layout under ``out_dir`` (formats: shared/datasets.md):

    lfm1b/LFM-1b_LEs.txt, LFM-1b_tracks.txt, LFM-1b_artists.txt, LFM-1b_albums.txt, LFM-1b_users.txt
    msd/unique_tracks.txt, unique_artists.txt, track_metadata.db, lastfm_tags.db,
        lastfm_train/A/B/C/TR….json, train_triplets.txt
    audio/<d0>/<d1>/<track_7digitalid>.clip.mp3        (7digital layout, §2.8)
    world.json                                         (parameters, counts, true latent vectors)

Audio comes from a labelled library (``labels_tsv``: ``relative_path TAB source TAB duration``,
files under ``audio_library``; the source is the genre) or is synthesised (tones, chords, noise
with a timbre per genre). The item latent vectors are built from the clips' log-mel statistics
plus a genre part plus noise, so audio → latent factors is learnable. Deterministic by ``seed``.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from trainer.data import simulate_formats as fmt
from trainer.data.lastfm_similars import similars_from_plays
from trainer.data.msd import DEFAULT_CLIP_TEMPLATE, clip_path
from trainer.data.simulate_audio import SR, genre_styles, load_excerpt, log_mel_stats, synthesize, write_mp3
from trainer.data.simulate_catalog import Catalog, build_catalog, make_name, unique_ints
from trainer.data.simulate_listeners import (
    Listening,
    Tastes,
    activity,
    item_latents,
    power_law_popularity,
    simulate_plays,
    song_tags,
    user_tastes,
)

log = logging.getLogger(__name__)

WORLD_JSON = "world.json"
SYNTH_GENRES = ("rock", "jazz", "electronic", "folk", "metal", "pop", "ambient", "Hip-Hop", "blues", "country")


@dataclass(frozen=True)
class WorldParams:
    """Knobs of the simulation; the defaults give a small but realistic world."""

    n_songs: int = 60                 # synthesised songs with audio (ignored with a library)
    n_genres: int = 5                 # synthetic genres (a library's sources are its genres)
    max_library_songs: int = 0        # 0 = every file of the library
    lfm_only_fraction: float = 0.15   # extra LFM-1b tracks without MSD entry or audio, × audio songs
    msd_only_fraction: float = 0.1    # MSD songs nobody listens to (no LFM-1b id)
    duplicate_fraction: float = 0.1   # LFM-1b songs with a second track id (same artist + title)
    case_variant_fraction: float = 0.3
    bad_rows: int = 5                 # malformed lines in LFM-1b_LEs.txt
    clip_seconds: float = 30.0
    sample_rate: int = SR
    bit_rate: int = 64000
    latent_dim: int = 16
    audio_weight: float = 0.5
    genre_weight: float = 0.3
    noise_weight: float = 0.2
    beta: float = 6.0                 # affinity scale in the play softmax
    popularity_exponent: float = 0.8
    min_events: int = 20
    max_events: int = 2000
    activity_alpha: float = 1.2
    tag_coverage: float = 0.85
    n_mood_tags: int = 8
    clip_template: str = DEFAULT_CLIP_TEMPLATE     # as read back by trainer.data.msd.clip_path


def clip_relpath(track_7digitalid: int, template: str = DEFAULT_CLIP_TEMPLATE) -> str:
    """``9/5/95.clip.mp3`` for id 95 (datasets.md §2.8), relative to the audio root."""
    return clip_path(".", track_7digitalid, template).as_posix().removeprefix("./")


@dataclass
class _Sources:
    """Songs before naming: genre index, title, duration (s), audio source (path or None)."""

    genres: np.ndarray
    genre_names: list[str]
    titles: list[str]
    durations: np.ndarray
    paths: list[Path | None]


def _title_from_file(path: str) -> str:
    stem = Path(path).stem.replace("_", " ")
    stem = re.sub(r"^\s*\d{1,3}\s*[-.)]?\s*", "", stem).strip()
    return stem or Path(path).stem


def _library_sources(library: Path, labels_tsv: Path, limit: int, rng: np.random.Generator) -> _Sources:
    """Songs of a labelled library; files that are missing or that PyAV cannot open are skipped."""
    from core.audio import probe
    from core.errors import AudioError

    rows = []
    for n, line in enumerate(labels_tsv.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0]:
            log.warning("%s:%d: expected 'path TAB source TAB duration', skipped", labels_tsv, n)
            continue
        duration = float(parts[2]) if len(parts) > 2 and parts[2].strip() else 0.0
        rows.append((parts[0], parts[1], duration))
    if limit and len(rows) > limit:
        rows = [rows[i] for i in sorted(rng.choice(len(rows), size=limit, replace=False).tolist())]
    readable = []
    for row in rows:
        try:
            probe(library / row[0])
            readable.append(row)
        except AudioError as exc:
            log.warning("library file skipped: %s", exc)
    if not readable:
        raise ValueError(f"{labels_tsv}: no readable 'path TAB source TAB duration' lines under {library}")
    names = sorted({r[1] for r in readable})
    return _Sources(np.array([names.index(r[1]) for r in readable]), names,
                    [_title_from_file(r[0]) for r in readable], np.array([r[2] for r in readable]),
                    [library / r[0] for r in readable])


def _synthetic_sources(n_songs: int, n_genres: int, rng: np.random.Generator) -> _Sources:
    genres = rng.permutation(np.arange(n_songs) % n_genres)
    names = [SYNTH_GENRES[g] if g < len(SYNTH_GENRES) else f"genre {g}" for g in range(n_genres)]
    titles = [make_name(rng, int(rng.integers(1, 4))) for _ in range(n_songs)]
    return _Sources(genres, names, titles, rng.uniform(120.0, 360.0, n_songs), [None] * n_songs)


def _with_lfm_only(src: _Sources, fraction: float, rng: np.random.Generator) -> tuple[_Sources, np.ndarray]:
    """Append LFM-1b-only songs (no audio); returns the sources and the has-audio mask."""
    n_extra = int(round(len(src.titles) * fraction))
    genres = np.concatenate([src.genres, rng.integers(0, len(src.genre_names), n_extra)])
    titles = src.titles + [make_name(rng, int(rng.integers(1, 4))) for _ in range(n_extra)]
    durations = np.concatenate([src.durations, rng.uniform(120.0, 360.0, n_extra)])
    has_audio = np.arange(len(titles)) < len(src.titles)
    return _Sources(genres, src.genre_names, titles, durations, src.paths + [None] * n_extra), has_audio


def _render_clips(catalog: Catalog, src: _Sources, params: WorldParams, audio_root: Path, seed: int,
                  show_progress: bool) -> np.ndarray:
    """Write every MSD song's clip; return log-mel descriptors (n_songs, D) (zeros without audio)."""
    styles = genre_styles(len(src.genre_names), np.random.default_rng([seed, 1]))
    desc = None
    songs = [s for s in catalog.songs if s.has_audio]
    for s in tqdm(songs, desc="audio clips", unit="clip", disable=not show_progress, leave=False):
        rng = np.random.default_rng([seed, 2, s.index])
        if src.paths[s.index] is not None:
            x, _ = load_excerpt(src.paths[s.index], params.clip_seconds, params.sample_rate)
            s.source_path = str(src.paths[s.index])
        else:
            x = synthesize(styles[s.genre], rng, params.clip_seconds, params.sample_rate)
        d = log_mel_stats(x, params.sample_rate)
        desc = np.zeros((len(catalog.songs), len(d))) if desc is None else desc
        desc[s.index] = d
        write_mp3(x, clip_path(audio_root, s.track_7digitalid, params.clip_template), params.sample_rate,
                  params.bit_rate)
    return desc if desc is not None else np.zeros((len(catalog.songs), 1))


def simulate_world(out_dir: Path, audio_library: Path | None = None, labels_tsv: Path | None = None,
                   n_users: int = 100, seed: int = 0, show_progress: bool = True, **params: object) -> dict:
    """Write a complete world under ``out_dir`` and return what ``world.json`` holds.

    ``params`` override :class:`WorldParams` fields (e.g. ``n_songs=24, clip_seconds=3.0``).
    With ``labels_tsv`` the audio comes from that library; otherwise it is synthesised.
    """
    unknown = set(params) - {f.name for f in fields(WorldParams)}
    if unknown:
        raise ValueError(f"unknown simulation parameter(s): {sorted(unknown)}")
    p = WorldParams(**params)  # type: ignore[arg-type]
    out_dir = Path(out_dir)
    rng = [np.random.default_rng([seed, k]) for k in range(10)]
    if labels_tsv is not None:
        library = Path(audio_library) if audio_library is not None else Path(labels_tsv).parent / "library"
        src = _library_sources(library, Path(labels_tsv), p.max_library_songs, rng[0])
    else:
        src = _synthetic_sources(p.n_songs, p.n_genres, rng[0])
    src, has_audio = _with_lfm_only(src, p.lfm_only_fraction, rng[0])
    catalog = build_catalog(src.genres, src.titles, src.durations, has_audio, rng[1], msd_only_fraction=p.msd_only_fraction,
                            duplicate_fraction=p.duplicate_fraction, case_variant_fraction=p.case_variant_fraction,
                            group_names=None)
    desc = _render_clips(catalog, src, p, out_dir / "audio", seed, show_progress)
    items, genre_vecs = item_latents(desc, has_audio, src.genres, len(src.genre_names), p.latent_dim, rng[2],
                                     p.audio_weight, p.genre_weight, p.noise_weight)
    tastes = Tastes(items, user_tastes(n_users, genre_vecs, rng[3]), genre_vecs,
                    power_law_popularity(len(items), p.popularity_exponent, rng[3]), p.beta)
    n_events = activity(n_users, rng[4], p.min_events, p.max_events, p.activity_alpha)
    playable = np.array([bool(s.lfm_track_ids) for s in catalog.songs])
    listening = simulate_plays(tastes, playable, n_events, rng[4], show_progress)
    user_ids = np.sort(unique_ints(rng[5], n_users, 1000, 50_000_000))
    report = _write_all(out_dir, catalog, listening, user_ids, n_events, tastes, src, p, rng, show_progress)
    world = _describe(out_dir, seed, p, catalog, tastes, src, listening, user_ids, report)
    (out_dir / WORLD_JSON).write_text(json.dumps(world, indent=1) + "\n", encoding="utf-8")
    log.info("simulated world in %s: %d users, %d songs, %d events, %d deliberately malformed rows (to show "
             "the readers skip them)", out_dir, n_users,
             len(catalog.songs), report["les"].n_events, report["les"].n_bad_rows)
    return world


def _write_all(out_dir: Path, catalog: Catalog, listening: Listening, user_ids: np.ndarray, n_events: np.ndarray,
               tastes: Tastes, src: _Sources, p: WorldParams, rng: list[np.random.Generator],
               show_progress: bool) -> dict:
    lfm, msd = out_dir / "lfm1b", out_dir / "msd"
    play_ids = fmt.lfm_play_ids(catalog, listening, rng[6])
    les = fmt.write_les(lfm / fmt.LES, catalog, listening, user_ids, play_ids, p.bad_rows, rng[6], show_progress)
    fmt.write_lfm_metadata(lfm, catalog)
    fmt.write_users(lfm / fmt.USERS, user_ids, n_events, listening.registered, rng[7])
    fmt.write_msd(msd, catalog, rng[7])
    in_msd = np.array([s.in_msd for s in catalog.songs])
    tagged = in_msd & (rng[8].random(len(in_msd)) < p.tag_coverage)
    tags = song_tags(tastes.items, src.genres, src.genre_names, tagged, rng[8], p.n_mood_tags)
    n_tagged = fmt.write_lastfm_tags(msd, catalog, tags, similars_from_plays(_plays(listening, len(catalog.songs)),
                                                                             in_msd), rng[8])
    n_triplets = fmt.write_triplets(msd / fmt.TRIPLETS, catalog, listening, user_ids)
    return {"les": les, "tags": tags, "n_tagged": n_tagged, "n_triplets": n_triplets, "play_ids": play_ids}


def _plays(listening: Listening, n_songs: int) -> sp.csr_matrix:
    """Users × songs play counts of the simulated listening (co-listening gives the similars)."""
    rows = np.repeat(np.arange(len(listening.songs)), [len(x) for x in listening.songs])
    cols = np.concatenate(listening.songs) if listening.songs else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(listening.songs), n_songs))


def _describe(out_dir: Path, seed: int, p: WorldParams, catalog: Catalog, tastes: Tastes, src: _Sources,
              listening: Listening, user_ids: np.ndarray, report: dict) -> dict:
    """The content of world.json: parameters, paths (relative to out_dir), counts, true vectors."""
    plays = np.bincount(np.concatenate(listening.songs), minlength=len(catalog.songs)) if listening.songs else []
    lfm_tracks = [t for s in catalog.songs for t in s.lfm_track_ids]
    in_msd_tracks = [t for s in catalog.songs if s.in_msd for t in s.lfm_track_ids]
    paths = {"lfm1b_dir": "lfm1b", "les": f"lfm1b/{fmt.LES}", "tracks": f"lfm1b/{fmt.TRACKS}",
             "artists": f"lfm1b/{fmt.ARTISTS}", "albums": f"lfm1b/{fmt.ALBUMS}", "users": f"lfm1b/{fmt.USERS}",
             "msd_dir": "msd", "unique_tracks": f"msd/{fmt.UNIQUE_TRACKS}", "unique_artists": f"msd/{fmt.UNIQUE_ARTISTS}",
             "track_metadata": f"msd/{fmt.TRACK_METADATA}", "lastfm_tags": f"msd/{fmt.LASTFM_TAGS}",
             "lastfm_json_dir": f"msd/{fmt.LASTFM_JSON_DIR}", "triplets": f"msd/{fmt.TRIPLETS}",
             "audio_root": "audio", "clip_template": p.clip_template}
    counts = {"users": len(user_ids), "songs": len(catalog.songs), "msd_tracks": int(sum(s.in_msd for s in catalog.songs)),
              "clips": int(sum(s.has_audio for s in catalog.songs)), "lfm_tracks": len(lfm_tracks),
              "lfm_tracks_in_msd": len(in_msd_tracks), "msd_tracks_in_lfm": int(sum(s.in_msd and bool(s.lfm_track_ids)
                                                                                   for s in catalog.songs)),
              "lfm_duplicate_ids": int(sum(max(len(s.lfm_track_ids) - 1, 0) for s in catalog.songs)),
              "events": report["les"].n_events, "bad_rows": report["les"].n_bad_rows,
              "tagged_tracks": report["n_tagged"], "triplets": report["n_triplets"]}
    songs = [{**{k: v for k, v in asdict(s).items() if k not in ("index",)},
              "index": s.index, "genre_name": src.genre_names[s.genre],
              "artist_name": catalog.artists[s.artist].name, "lfm_artist_name": catalog.artists[s.artist].lfm_name,
              "lfm_artist_id": catalog.artists[s.artist].lfm_id,
              "clip": clip_relpath(s.track_7digitalid, p.clip_template) if s.has_audio else None,
              "plays": int(plays[s.index]) if len(plays) else 0, "popularity": float(tastes.popularity[s.index]),
              "tags": report["tags"].get(s.index, []), "latent": np.round(tastes.items[s.index], 6).tolist()}
             for s in catalog.songs]
    users = [{"lfm_user_id": int(uid), "n_events": len(listening.songs[u]),
              "taste": np.round(tastes.users[u], 6).tolist()} for u, uid in enumerate(user_ids)]
    return {"format": "cbrec-simulated-world", "version": 1, "seed": seed, "params": asdict(p),
            "genres": src.genre_names, "beta": tastes.beta, "paths": paths, "counts": counts,
            "bad_lines": report["les"].bad_lines, "bad_kinds": report["les"].bad_kinds, "songs": songs, "users": users}


def load_world(out_dir: Path) -> dict:
    """Read ``world.json`` of a simulated world."""
    path = Path(out_dir) / WORLD_JSON
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: simulate a world there first (cbrec-train simulate)")
    return json.loads(path.read_text(encoding="utf-8"))


def oracle_vectors(world: dict, user_ids: np.ndarray, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The simulation's own play logits as vectors: user [β·taste, 1] · item [latent, log popularity].

    ``user_ids`` are LFM-1b user ids (or the Taste Profile hashes), ``item_ids`` MSD track or song
    ids; unknown ones get zero vectors. Returns (n_users, d + 1) and (n_items, d + 1) float32.
    """
    item_of = {}
    for s in world["songs"]:
        vec = np.array(s["latent"] + [np.log(s["popularity"])])
        for key in (s["msd_track_id"], s["msd_song_id"]):
            if key:
                item_of[key] = vec
    user_of = {}
    for u in world["users"]:
        vec = np.array([world["beta"] * x for x in u["taste"]] + [1.0])
        user_of[str(u["lfm_user_id"])] = user_of[fmt.taste_profile_user(u["lfm_user_id"])] = vec
    dim = len(world["songs"][0]["latent"]) + 1
    v = np.stack([item_of.get(str(i), np.zeros(dim)) for i in item_ids.tolist()]).astype(np.float32)
    u = np.stack([user_of.get(str(i), np.zeros(dim)) for i in user_ids.tolist()]).astype(np.float32)
    return u, v
