"""The ``Library`` facade: scan, analyse, query, playlists and export over one music library.

    >>> lib = Library.open()                       # user data dir, bundled model
    >>> lib.scan(["~/Music"], progress=print)      # incremental; failures reported, never raised
    >>> [h.track.display for h in lib.similar("~/Music/a.flac", n=5)]
    >>> lib.playlist(["~/Music/a.flac"], length=25, max_per_artist=2).write("mix.xspf")
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import appdirs
import numpy as np

from core import scan as scanning
from core import tagging
from core.analyze import AnalysisSettings, analyse, decode_pool
from core.audio import load_windows
from core.errors import CbrecError, ModelError, TrackNotFound
from core.index import VectorIndex, open_index
from core.lock import LibraryLock
from core.model.card import (
    BUNDLED_MODELS,
    ModelCard,
    bundled_model_path,
    default_model_path,
    verify_model_files,
)
from core.playlist import Playlist, make_path, make_playlist
from core.pool import IsolatedPool
from core.progress import CancelToken, ProgressCallback
from core.store import Store
from core.store_playlists import entry_tracks
from core.types import Hit, ScanReport, Track

if TYPE_CHECKING:
    from core.history import History, ImportReport, PlayStats

log = logging.getLogger(__name__)

TrackRef = Track | str | os.PathLike | int


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


class Library:
    """One music library: a SQLite store, a model, and the Annoy index of its vectors."""

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

    # -- scanning ---------------------------------------------------------------------------------
    def scan(self, folders: Sequence[str | os.PathLike] | None = None, progress: ProgressCallback | None = None,
             cancel: CancelToken | None = None, on_tracks: Callable[[list[Track]], None] | None = None,
             exclude: Sequence[str] = ()) -> ScanReport:
        """Bring the library up to date with ``folders`` (default: the library's folders).

        New folders are remembered. Unchanged files are skipped, moved files keep their
        analysis, deleted files leave the library, and every file that cannot be analysed is
        listed in ``report.failed`` with a reason; the scan itself does not raise for files."""
        started = time.monotonic()
        roots = [os.path.abspath(os.path.expanduser(os.fspath(f))) for f in (folders or self.folders())]
        exclude = [os.path.expanduser(p) for p in exclude]   # "~/Music/Podcasts" as well as a glob
        known_folders = set(self.store.folders())
        # a new folder means analysis is coming: start the decode workers now, so they import
        # their modules while the folders are walked (a rescan of known folders, usually
        # unchanged, starts them only if the plan has work)
        pool = decode_pool(self.settings) if any(r not in known_folders for r in roots) else None
        if pool is not None:
            pool.start()
        try:
            return self._scan(roots, known_folders, started, progress, cancel, on_tracks, exclude, pool)
        except BaseException:
            if pool is not None:
                pool.close(now=True)
            raise

    def _scan(self, roots: list[str], known_folders: set[str], started: float,
              progress: ProgressCallback | None, cancel: CancelToken | None,
              on_tracks: Callable[[list[Track]], None] | None, exclude: Sequence[str],
              pool: IsolatedPool | None) -> ScanReport:
        """The body of :meth:`scan`; ``pool`` is started decode workers or None."""
        for root in roots:
            # a new folder is remembered only if it exists: a mistyped path is reported (failed,
            # kept in failures()) but not scanned again and again
            if root not in known_folders and os.path.isdir(root):
                self.store.add_folder(root)
        unreadable: set[str] = set()
        entries, walk_failed = scanning.walk(roots, exclude, unreadable)
        for path in self.store.drop_bad_vectors(self.analysis_version, self.dim):
            log.warning("%s: its stored vector was damaged; analysing it again", path)
        analysed = self.store.fingerprints_with_vectors(self.analysis_version)
        if self.card.tags:  # a tagged model's analysis is complete only with the tag scores
            analysed &= tagging.fingerprints_with_tags(self.store, self.analysis_version)
        plan = scanning.plan(entries, walk_failed, roots, self.store.file_states(), self.store.failure_states(),
                             analysed, unreadable=unreadable)
        self._apply_file_changes(plan)
        # the network loads on the inference thread while the first files decode; a library
        # with nothing to analyse never loads it
        outcome = analyse(plan.tasks, self.store, self.card, lambda: self.embedder, self.settings, progress,
                          cancel, on_tracks, pool=pool)
        return ScanReport(added=outcome.added, updated=outcome.updated + [e.path for e in plan.touched],
                          moved=[(old, e.path) for old, e in plan.moved], removed=plan.removed,
                          unavailable=plan.unavailable, returned=plan.returned,
                          failed=plan.failed + plan.still_failing + outcome.failed,
                          unchanged=plan.unchanged, cancelled=outcome.cancelled,
                          seconds=time.monotonic() - started)

    def _apply_file_changes(self, plan: scanning.ScanPlan) -> None:
        """Commit moves, removals, metadata-only changes and forgotten failures before decoding,
        and keep what failed before decoding (folders that cannot be opened, broken links,
        unreadable files) in :meth:`failures`; size 0 and mtime 0 make the next scan retry them."""
        if not (plan.moved or plan.removed or plan.touched or plan.forgotten_failures or plan.failed
                or plan.unavailable or plan.returned or plan.restamped):
            return
        with self.store.transaction() as conn:
            for old, entry in plan.moved:
                self.store.move_track(conn, old, entry.path, entry.size, entry.mtime_ns, entry.ctime_ns, entry.inode)
            for entry in plan.touched + plan.restamped:
                self.store.update_file_state(conn, entry.path, entry.size, entry.mtime_ns, entry.ctime_ns,
                                             entry.inode)
            # a folder that cannot be read keeps its tracks, marked missing until it is back
            self.store.set_available(conn, plan.unavailable, False)
            self.store.set_available(conn, plan.returned, True)
            self.store.remove_paths(conn, plan.removed)
            self.store.remove_failures(conn, plan.forgotten_failures)
            for path, reason in plan.failed:
                self.store.record_failure(conn, path, 0, 0, reason)

    def folders(self) -> list[str]:
        return self.store.folders()

    def add_folder(self, path: str | os.PathLike) -> None:
        self.store.add_folder(os.path.abspath(os.path.expanduser(os.fspath(path))))

    def remove_folder(self, path: str | os.PathLike) -> None:
        """Forget a folder; its tracks leave the library at once."""
        root = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self.store.remove_folder(root)
        others = self.store.folders()
        doomed = [p for p in self.store.file_states() if scanning.is_under(p, [root]) and not scanning.is_under(p, others)]
        with self.store.transaction() as conn:
            self.store.remove_paths(conn, doomed)

    def failures(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of every file that could not be analysed."""
        return self.store.failures()

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

    # -- queries ----------------------------------------------------------------------------------
    def similar(self, ref: TrackRef, n: int = 10) -> list[Hit]:
        """The ``n`` tracks closest to ``ref`` (a track, id, or any audio file path), best first."""
        tid = self._library_id_or_none(ref)
        query = self._vector(tid) if tid is not None else self.embed_file(ref)  # type: ignore[arg-type]
        ids, scores = self.index().query(query, n + 1)
        keep = [(int(i), float(s)) for i, s in zip(ids, scores, strict=True) if i != tid][:n]
        tracks = self.store.tracks_by_id([i for i, _ in keep], self.analysis_version)
        return [Hit(tracks[i], s) for i, s in keep if i in tracks]

    def playlist(self, seeds: Sequence[TrackRef] | TrackRef, length: int = 25,
                 max_per_artist: int | None = None) -> Playlist:
        """Seeds first, then the tracks most like them, each flowing into the next."""
        if isinstance(seeds, (Track, str, os.PathLike, int, np.integer)):
            seeds = [seeds]
        seed_ids = [self._track_id(s) for s in seeds]
        if not seed_ids:
            raise CbrecError("A playlist needs at least one seed track.")
        for tid in seed_ids:
            self._vector(tid)
        items = make_playlist(seed_ids, self.index(), self._view(), self._view(), length, max_per_artist)
        top = tagging.seeds_top_tags(self.store, self.analysis_version, seed_ids)
        return self._to_playlist(items, seed_ids, lambda seeds: tagging.mix_name(seeds[0].title, top, len(seeds) - 1))

    def path(self, start: TrackRef, end: TrackRef, length: int = 10,
             max_per_artist: int | None = None) -> Playlist:
        """A playlist that walks from ``start`` to ``end`` in ``length`` steps (both included)."""
        a, b = self._track_id(start), self._track_id(end)
        self._vector(a), self._vector(b)
        items = make_path(a, b, self.index(), self._view(), self._view(), length, max_per_artist)
        return self._to_playlist(items, [a, b], lambda ends: f"Path: {ends[0].title} → {ends[1].title}")

    def _view(self) -> _StoreView:
        return _StoreView(self.store, self.analysis_version, self.dim)

    def _to_playlist(self, items: list[tuple[int, float]], seed_ids: list[int],
                     name: Callable[[list[Track]], str]) -> Playlist:
        tracks = self.store.tracks_by_id([i for i, _ in items] + seed_ids, self.analysis_version)
        seeds = [tracks[i] for i in seed_ids]
        return Playlist(tracks=[tracks[i] for i, _ in items], scores=[s for _, s in items], name=name(seeds),
                        seeds=seeds)

    # -- saved playlists --------------------------------------------------------------------------
    def save_playlist(self, playlist: Playlist, name: str | None = None) -> int:
        created = datetime.now(UTC).isoformat(timespec="seconds")
        params = json.dumps({"seeds": [t.id for t in playlist.seeds]})
        items = list(zip(playlist.tracks, playlist.scores, strict=True))
        return self.store.save_playlist(name or playlist.name, created, items, params)

    def playlists(self) -> list[tuple[int, str, str]]:
        """Saved playlists as ``(id, name, created ISO time)``, oldest first."""
        return self.store.playlists()

    def load_playlist(self, playlist_id: int) -> Playlist:
        saved = self.store.playlist(playlist_id)
        if saved is None:
            raise CbrecError(f"There is no saved playlist with id {playlist_id}.")
        name, entries = saved
        tracks = self.store.tracks_by_id([e.track_id for e in entries if e.track_id is not None],
                                         self.analysis_version)
        # an entry whose file is gone stays, as a track with status "missing" and its saved path
        return Playlist(tracks=list(entry_tracks(entries, tracks)), scores=[e.score for e in entries], name=name)

    def delete_playlist(self, playlist_id: int) -> None:
        self.store.delete_playlist(playlist_id)

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


class _StoreView:
    """Adapts the store to the vector/track sources the playlist builders ask for."""

    def __init__(self, store: Store, version: str, dim: int) -> None:
        self.store, self.version, self.dim = store, version, dim

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        found = self.store.vectors_for(ids, self.version, self.dim)
        return np.stack([found[int(i)] for i in ids]) if len(ids) else np.zeros((0, self.dim), np.float32)

    def tracks_by_id(self, ids: Sequence[int]) -> dict[int, Track]:
        return self.store.tracks_by_id(ids, self.version)
