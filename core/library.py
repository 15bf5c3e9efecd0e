"""The ``Library`` facade: scan, analyse, query, playlists and export over one music library.

    >>> lib = Library.open()                       # user data dir, bundled model
    >>> lib.scan(["~/Music"], progress=print)      # incremental; failures reported, never raised
    >>> [h.track.display for h in lib.similar("~/Music/a.flac", n=5)]
    >>> lib.playlist(["~/Music/a.flac"], length=25, max_per_artist=2).write("mix.xspf")
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import appdirs
import numpy as np

from core import tagging
from core.analyze import AnalysisSettings
from core.audio import load_windows
from core.errors import CbrecError, ModelError, TrackNotFound
from core.index import VectorIndex, open_index
from core.library_playlists import LibraryPlaylists
from core.library_scan import LibraryScanning
from core.lock import LibraryLock
from core.model.card import (
    BUNDLED_MODELS,
    ModelCard,
    bundled_model_path,
    default_model_path,
    verify_model_files,
)
from core.playlist import Playlist
from core.progress import CancelToken, ProgressCallback
from core.store import Store
from core.types import Track, TrackRef

if TYPE_CHECKING:
    from core.history import History, ImportReport, PlayStats

log = logging.getLogger(__name__)

__all__ = ["Library", "TrackRef", "default_library_dir", "resolve_model_path"]


def default_library_dir() -> Path:
    """``$CBREC_DATA_DIR`` if set (``~`` expanded), else the platform's user data folder for cbrec."""
    return Path(os.environ.get("CBREC_DATA_DIR") or appdirs.user_data_dir("cbrec", "cbrec")).expanduser()


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """The model to use: the argument, else ``$CBREC_MODEL``, else the bundled default.

    A bundled model may be named instead of a path: ``"fast"`` (the default) or ``"best"``.
    """
    chosen = model or os.environ.get("CBREC_MODEL") or default_model_path()
    if isinstance(chosen, str) and chosen.strip().lower() in BUNDLED_MODELS and not Path(chosen).exists():
        name = chosen.strip().lower()
        found = bundled_model_path(BUNDLED_MODELS[name])
        if found is None:
            raise ModelError(f"The bundled model {name!r} is not in this copy of cbrec; "
                             f"choose one of {', '.join(BUNDLED_MODELS)} or a model file.")
        return found
    if chosen is None:
        raise ModelError("No model is available: this copy of cbrec has no bundled model. "
                         "Choose a model file made by `cbrec-train export` (a .pt with its .json card).")
    return Path(chosen).expanduser()


class Library(LibraryScanning, LibraryPlaylists):
    """One music library: a SQLite store, a model, and the Annoy index of its vectors.

    Its concerns live in their own modules: scanning in :mod:`core.library_scan`, queries and
    playlists in :mod:`core.library_playlists`, tags in :mod:`core.tagging`, listening history in
    :mod:`core.history`; this class ties them to one store, model and index.
    """

    def __init__(self, root: Path, model_path: Path, card: ModelCard, device: str = "auto",
                 workers: int | None = None) -> None:
        self.root = Path(root)
        self.model_path, self.card, self.device = Path(model_path), card, device
        self._embedder = None
        self._embedder_lock = threading.Lock()
        self._lock = LibraryLock(self.root)
        self._lock.acquire()  # one program at a time; LibraryInUse names the one holding it
        try:
            self.store = Store(self.root / "library.sqlite3")
        except BaseException:
            self._lock.release()
            raise
        self.settings = AnalysisSettings(workers=workers or min(os.cpu_count() or 2, 8))
        self._index: VectorIndex | None = None
        self._index_stamp = ""
        self._index_lock = threading.Lock()
        self._history: History | None = None

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, model: str | os.PathLike | None = None,
             device: str = "auto", workers: int | None = None) -> Library:
        """Open (or create) the library at ``path`` analysed by ``model`` on ``device``.

        The model's files are verified here (card and weights hash, no torch needed); the
        network itself loads when a track is first analysed, so listing a library is fast."""
        model_path = resolve_model_path(model)
        card = verify_model_files(model_path)
        if device not in ("auto", "cpu"):
            from core.model.checkpoint import resolve_device

            resolve_device(device)  # an explicit GPU that is not there is an error now, not mid-scan
        root = Path(path).expanduser() if path is not None else default_library_dir()
        return cls(root, model_path, card, device, workers)

    # -- model ------------------------------------------------------------------------------------
    @property
    def embedder(self):
        """The loaded network (:class:`core.model.Embedder`), loaded on first use (imports torch)."""
        with self._embedder_lock:
            if self._embedder is None:
                from core.model.checkpoint import load_model

                self._embedder = load_model(self.model_path, device=self.device)
            return self._embedder

    @property
    def model_card(self) -> ModelCard:
        return self.card

    @property
    def analysis_version(self) -> str:
        return self.card.analysis_version

    @property
    def dim(self) -> int:
        """Length of a track vector."""
        return self.card.output_dim

    # -- tracks -----------------------------------------------------------------------------------
    def tracks(self) -> list[Track]:
        return self.store.tracks(self.analysis_version)

    def __len__(self) -> int:
        return self.store.count()

    def track(self, ref: TrackRef) -> Track:
        """The track for a :class:`Track`, a path or an id; :class:`TrackNotFound` if absent."""
        tid = self._track_id(ref)
        return self.store.tracks_by_id([tid], self.analysis_version)[tid]

    def _track_id(self, ref: TrackRef) -> int:
        if isinstance(ref, Track):
            return ref.id
        if isinstance(ref, (int, np.integer)):
            if int(ref) not in self.store.tracks_by_id([int(ref)]):
                raise TrackNotFound(f"There is no track with id {ref} in the library.")
            return int(ref)
        path = os.path.abspath(os.path.expanduser(os.fspath(ref)))
        tid = self.store.track_id_for_path(path)
        if tid is None:
            raise TrackNotFound(f"{path} is not in the library. Scan its folder first.")
        return tid

    # -- vectors and index ------------------------------------------------------------------------
    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All analysed tracks: ids ``(n,)`` int64 and vectors ``(n, dim)`` float32, unit length."""
        return self.store.vectors(self.analysis_version, self.dim)

    def _vector(self, tid: int) -> np.ndarray:
        found = self.store.vectors_for([tid], self.analysis_version, self.dim)
        if tid not in found:
            track = self.store.tracks_by_id([tid]).get(tid)
            name = track.path if track else f"track {tid}"
            raise CbrecError(f"{name} has not been analysed by the current model yet. Run a scan first.")
        return found[tid]

    def index(self) -> VectorIndex:
        """The Annoy index for the current model, rebuilt unless it was built from exactly this
        store's content: its stamp is the model version, the store's id (never repeated by a new
        file) and the store's content token (renewed by every write, so a restored older copy
        never matches an index built later)."""
        with self._index_lock:
            stamp = f"{self.analysis_version}:{self.store.stamp()}"
            if self._index is None or stamp != self._index_stamp:
                for path in self.store.drop_bad_vectors(self.analysis_version, self.dim):
                    log.warning("%s: its stored vector was damaged; the next scan analyses it again", path)
                stamp = f"{self.analysis_version}:{self.store.stamp()}"
                path = self.root / "index" / f"{self.analysis_version}.ann"
                self._index = open_index(path, self.dim, stamp, self.vectors)
                self._index_stamp = stamp
            return self._index

    def embed_file(self, path: str | os.PathLike) -> np.ndarray:
        """The model's vector ``(dim,)`` float32, unit length, for any audio file (not added)."""
        e = self.embedder
        excerpt = load_windows(os.path.expanduser(os.fspath(path)), e.sample_rate, e.window_samples, e.n_windows)
        return e.embed_one(excerpt.windows)

    # -- tags (core.tagging) -------------------------------------------------------------------------
    @property
    def tag_names(self) -> list[str]:
        """The tags the model scores (empty for an untagged model: then every track has no tags)."""
        return list(self.card.tags)

    def tags(self, ref: TrackRef, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` best ``(tag, score in [0, 1])`` of a track, id or any audio file, best first.

        A library track's stored scores are used; a file not in the library is analysed now. An
        untagged model gives ``[]``; a library track not yet analysed by this model raises."""
        if not self.card.tags:
            return []
        tid = self._library_id_or_none(ref)
        if tid is None:
            return tagging.file_tags(self.embedder, os.path.expanduser(os.fspath(ref)), n)  # type: ignore[arg-type]
        found = tagging.stored_tags(self.store, self.analysis_version, tid, n)
        if found is None:
            self._vector(tid)  # raises "not analysed yet" when that is the reason
            raise CbrecError(f"{self.track(tid).path} has no tag scores yet. Run a scan to analyse it.")
        return found

    def _library_id_or_none(self, ref: TrackRef) -> int | None:
        """The library id of ``ref``; None for a path of a file not in the library (a track or id
        that is not there raises TrackNotFound)."""
        try:
            return self._track_id(ref)
        except TrackNotFound:
            if isinstance(ref, (Track, int, np.integer)):
                raise
            return None

    def tags_by_track(self, n: int = 5) -> dict[int, list[tuple[str, float]]]:
        """Track id -> its ``n`` best tags, for every track analysed by this (tagged) model."""
        return tagging.top_tags_by_track(self.store, self.analysis_version, n)

    # -- listening history (core.history) ---------------------------------------------------------
    @property
    def history(self) -> History:
        """Plays, imports and the taste vector of this library (:class:`core.history.History`)."""
        if self._history is None:
            from core.history import History

            self._history = History(self.store, self.analysis_version, self.dim)
        return self._history

    def import_history(self, path: str | os.PathLike, progress: ProgressCallback | None = None,
                       cancel: CancelToken | None = None) -> ImportReport:
        """Import a Last.fm CSV, ListenBrainz, Spotify or player-database export; matched and
        unmatched entries (with reasons) in the report. Importing a file again adds nothing twice."""
        return self.history.import_file(path, progress, cancel)

    def record_play(self, ref: TrackRef, heard: float, started_at: float | None = None) -> bool:
        """Record a play heard for ``heard`` seconds; counts (True) after 30 s or half the track."""
        return self.history.record_play(self.track(ref), heard, started_at)

    def play_stats(self) -> dict[int, PlayStats]:
        """``track id → PlayStats(count, last_played)`` for every played track."""
        return self.history.stats()

    def for_you(self, n: int = 25, include_played: bool = False, max_per_artist: int | None = None,
                discovery: float = 0.3, half_life_days: float | None = None, clusters: int = 1) -> Playlist:
        """The library ranked by your taste vector (from the listening history), as a playlist.

        ``discovery``: share of places kept for tracks played at most once (with ``include_played``);
        ``half_life_days``: weight recent plays more (a play that old counts half); ``clusters``:
        that many taste vectors (groups of what you play), sharing the mix by how much you play each."""
        items = self.history.for_you(self._view(), n, include_played, max_per_artist, discovery, half_life_days,
                                     clusters)
        return self._to_playlist(items, [], lambda _: "For you")

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        self._index = None
        self.store.close()
        self._lock.release()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
