"""Simulated listeners: latent tastes tied to the audio, power-law activity and popularity, plays.

Item latent (unit length) = √w_a·A + √w_g·G[genre] + √w_n·N, where A is the audio part
(PCA-whitened log-mel statistics, randomly rotated into the latent space), G a vector per genre
and N noise; so predicting an item's latent vector from its audio is learnable up to the noise.
A user's taste is a unit vector near one or two genre vectors. Each of a user's plays picks song i
with probability ∝ exp(β·x_u·y_i) · popularity_i (softmax of affinity × popularity).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

FIRST_TIME = 1104537600   # 2005-01-01, Last.fm scrobbles in LFM-1b start around here
LAST_TIME = 1408492800    # 2014-08-20, LFM-1b ends in August 2014


@dataclass
class Tastes:
    """``items`` (n_songs, d) and ``users`` (n_users, d) unit vectors; ``genres`` (n_genres, d);
    ``popularity`` (n_songs,) sums to 1; ``beta`` scales the affinity x·y in the play logits."""

    items: np.ndarray
    users: np.ndarray
    genres: np.ndarray
    popularity: np.ndarray
    beta: float


@dataclass
class Listening:
    """Per user (list index = user): ``songs`` (n_u,) song indices played, ``times`` (n_u,) unix s
    newest first; ``registered`` (n_users,) unix s."""

    songs: list[np.ndarray]
    times: list[np.ndarray]
    registered: np.ndarray


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _standard(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-9)


def audio_component(descriptors: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Audio descriptors (n, D) → (n, dim), unit variance per dimension: PCA-whiten, rotate at random."""
    n = len(descriptors)
    z = _standard(np.asarray(descriptors, dtype=np.float64))
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    r = max(1, min(dim, z.shape[1], n - 1))
    whitened = z @ vt[:r].T / np.maximum(s[:r] / np.sqrt(max(n, 1)), 1e-9)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return _standard(whitened @ rotation[:r])


def item_latents(descriptors: np.ndarray, has_audio: np.ndarray, genres: np.ndarray, n_genres: int,
                 dim: int, rng: np.random.Generator, audio_weight: float = 0.5, genre_weight: float = 0.3,
                 noise_weight: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Unit item vectors (n, dim) and the genre vectors (n_genres, dim).

    ``descriptors`` (n, D) are used where ``has_audio`` (n,) is True; songs without audio get a
    random audio part (nothing can predict it).
    """
    genre_vecs = rng.standard_normal((n_genres, dim))
    audio = rng.standard_normal((len(genres), dim))
    if has_audio.sum() >= 2:
        audio[has_audio] = audio_component(descriptors[has_audio], dim, rng)
    parts = (np.sqrt(audio_weight) * audio + np.sqrt(genre_weight) * genre_vecs[genres]
             + np.sqrt(noise_weight) * rng.standard_normal((len(genres), dim)))
    return _unit(parts), genre_vecs


def user_tastes(n_users: int, genre_vecs: np.ndarray, rng: np.random.Generator,
                noise: float = 0.7) -> np.ndarray:
    """Unit taste vectors (n_users, d): a favourite genre, half a second one, plus noise."""
    n_genres, dim = genre_vecs.shape
    first = rng.integers(0, n_genres, n_users)
    second = rng.integers(0, n_genres, n_users)
    x = genre_vecs[first] + 0.5 * genre_vecs[second] + noise * rng.standard_normal((n_users, dim))
    return _unit(x)


def power_law_popularity(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like popularity (n,) summing to 1: the r-th most popular song ∝ r^-exponent."""
    rank = rng.permutation(n) + 1.0
    p = rank ** -exponent
    return p / p.sum()


def activity(n_users: int, rng: np.random.Generator, min_events: int = 20, max_events: int = 2000,
             alpha: float = 1.2) -> np.ndarray:
    """Events per user (n_users,) int: a Pareto tail above ``min_events``, capped at ``max_events``."""
    n = min_events * (1.0 + rng.pareto(alpha, n_users))
    return np.minimum(n, max_events).astype(np.int64)


def simulate_plays(tastes: Tastes, playable: np.ndarray, n_events: np.ndarray,
                   rng: np.random.Generator, show_progress: bool = True) -> Listening:
    """Draw each user's plays among ``playable`` songs (bool (n_songs,)) and give them timestamps."""
    idx = np.flatnonzero(playable)
    log_pop = np.log(tastes.popularity[idx])
    registered = rng.integers(FIRST_TIME, LAST_TIME - 90 * 86400, len(n_events))
    songs, times = [], []
    for u in tqdm(range(len(n_events)), desc="listeners", unit="user", disable=not show_progress, leave=False):
        logits = tastes.beta * (tastes.items[idx] @ tastes.users[u]) + log_pop
        p = np.exp(logits - logits.max())
        songs.append(idx[rng.choice(len(idx), size=int(n_events[u]), p=p / p.sum())])
        times.append(np.sort(rng.integers(registered[u], LAST_TIME, int(n_events[u])))[::-1])
    return Listening(songs, times, registered)


def play_counts(listening: Listening, n_songs: int) -> np.ndarray:
    """Dense (n_users, n_songs) int64 play counts, for checks on small worlds."""
    out = np.zeros((len(listening.songs), n_songs), dtype=np.int64)
    for u, s in enumerate(listening.songs):
        np.add.at(out[u], s, 1)
    return out


# Names of the MSD top-50 tags (datasets.md §2.9) not used for genres; tags follow latent directions.
MOOD_TAGS = ("beautiful", "chillout", "Mellow", "happy", "sad", "party", "catchy", "sexy", "chill",
             "easy listening", "experimental", "instrumental", "acoustic", "ambient", "female vocalists",
             "male vocalists", "guitar", "oldies")


def song_tags(items: np.ndarray, genres: np.ndarray, genre_names: list[str], tagged: np.ndarray,
              rng: np.random.Generator, n_mood_tags: int = 8) -> dict[int, list[tuple[str, float]]]:
    """Last.fm-style ``(tag, value in 1..100)`` per tagged song: its genre tag, and mood tags whose
    value rises with the song's latent vector along a random direction per tag (value > 50 = positive)."""
    names = list(MOOD_TAGS[:n_mood_tags])
    directions = _unit(rng.standard_normal((len(names), items.shape[1])))
    proj = items @ directions.T * np.sqrt(items.shape[1])          # ~N(0, 1) per tag
    out: dict[int, list[tuple[str, float]]] = {}
    for s in np.flatnonzero(tagged).tolist():
        pairs = [(genre_names[genres[s]], float(rng.integers(60, 101)))] if rng.random() < 0.9 else []
        for j, name in enumerate(names):
            value = 100.0 / (1.0 + np.exp(-3.0 * (proj[s, j] - 0.6) + rng.normal(0.0, 0.5)))
            if value >= 1.0:
                pairs.append((name, float(round(value))))
        if pairs:
            out[s] = pairs
    return out


def similar_songs(items: np.ndarray, among: np.ndarray, n: int = 5) -> dict[int, list[tuple[int, float]]]:
    """The ``n`` most cosine-similar songs among ``among`` (bool mask) for each of them."""
    idx = np.flatnonzero(among)
    out: dict[int, list[tuple[int, float]]] = {}
    for start in range(0, len(idx), 1024):
        rows = idx[start:start + 1024]
        sim = items[rows] @ items[idx].T                       # (batch, len(idx))
        sim[np.arange(len(rows)), start + np.arange(len(rows))] = -np.inf
        top = np.argsort(-sim, axis=1)[:, :n]
        for r, s in enumerate(rows.tolist()):
            out[s] = [(int(idx[c]), float(sim[r, c])) for c in top[r] if np.isfinite(sim[r, c])]
    return out
