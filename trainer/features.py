"""Training features: decode each item's clip once, store log-mel (or raw waveform) shards on disk.

Decoding reuses :mod:`core.audio`; the log-mel is the model's own :class:`core.model.LogMel`, so
what the network sees in training is exactly what the app computes at analysis time. Work is
spread over worker processes; each shard (``shard_size`` tracks) is written to a temporary file
and renamed when complete, so an interrupted run resumes at the first missing shard.

    >>> spec = FeatureSpec.for_architecture("dieleman2014", clip_seconds=30.0)
    >>> store_dir = extract_features(paths, spec, Path("cache/logmel"), workers=2)
    >>> FeatureStore(store_dir).crop(0, start=0, length=173).shape     # (n_mels, frames)
    (128, 173)

Layout of a store folder: ``spec.json`` (the spec), ``shard-00000.npy`` ... (memory-mappable
``(n, channels, steps)`` arrays: float16 log-mel or int16 PCM), ``rows.json`` (the source path of
each row and which rows failed to decode, with the reason).
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

SPEC_JSON = "spec.json"
ROWS_JSON = "rows.json"
PCM_SCALE = 32767.0


@dataclass(frozen=True)
class FeatureSpec:
    """What is stored per track: ``kind`` ("logmel" or "waveform"), ``sample_rate`` (Hz), the
    model card's ``frontend`` dict, and ``clip_seconds`` of audio (a centred excerpt; shorter
    tracks are repeated to fill it)."""

    kind: str
    sample_rate: int
    frontend: dict
    clip_seconds: float

    @classmethod
    def for_architecture(cls, architecture: str, clip_seconds: float = 30.0) -> FeatureSpec:
        """The spec a network of ``architecture`` (its default audio geometry) trains on."""
        from core.model import ARCHITECTURES
        cfg = ARCHITECTURES[architecture].default_config()
        return cls(cfg["frontend"]["kind"], int(cfg["sample_rate"]), dict(cfg["frontend"]), float(clip_seconds))

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))

    @property
    def channels(self) -> int:
        """Mel bands for log-mel, 1 for waveform."""
        return int(self.frontend.get("n_mels", 128)) if self.kind == "logmel" else 1

    @property
    def hop(self) -> int:
        """Samples per stored step: the STFT hop for log-mel, 1 for waveform."""
        return int(self.frontend.get("hop_length", 512)) if self.kind == "logmel" else 1

    def steps(self, n_samples: int | None = None) -> int:
        """Stored steps (frames or samples) for ``n_samples`` of audio (default: the clip)."""
        n = self.clip_samples if n_samples is None else int(n_samples)
        return n // self.hop + 1 if self.kind == "logmel" else n

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float16 if self.kind == "logmel" else np.int16)

    def key(self) -> str:
        """A short name for the cache folder of this spec."""
        import hashlib
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.kind}-{self.sample_rate}-{digest}"


# --------------------------------------------------------------------------- worker side
_FRONTEND: Any = None


def _init_worker() -> None:
    """Worker processes: one torch thread each (the workers themselves are the parallelism)."""
    import torch
    torch.set_num_threads(1)


def clip_audio(path: str, spec: FeatureSpec) -> np.ndarray:
    """``(clip_samples,)`` float32: the centred ``clip_seconds`` of ``path``, tiled if shorter."""
    from core import audio
    duration = audio.probe(path).duration or 0.0
    offset = max(0.0, (duration - spec.clip_seconds) / 2.0)
    x = audio.load(path, sr=spec.sample_rate, offset=offset, duration=spec.clip_seconds)
    if x.size == 0:
        raise ValueError("no audio decoded")
    n = spec.clip_samples
    return np.resize(x, n).astype(np.float32) if x.size < n else x[:n].astype(np.float32)


def encode(x: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Audio ``(samples,)`` -> stored ``(channels, steps)`` in ``spec.dtype``."""
    if spec.kind == "waveform":
        return np.round(np.clip(x, -1.0, 1.0) * PCM_SCALE).astype(np.int16)[None]
    global _FRONTEND
    import torch

    from core.model import build_frontend
    if _FRONTEND is None or _FRONTEND[0] != spec:
        _FRONTEND = (spec, build_frontend(spec.frontend, spec.sample_rate).eval())
    with torch.inference_mode():
        return _FRONTEND[1](torch.from_numpy(x)[None])[0].numpy().astype(np.float16)


def _extract_one(job: tuple[int, str, FeatureSpec]) -> tuple[int, np.ndarray | None, str]:
    """(row, stored array or None, error message) for one track; never raises."""
    row, path, spec = job
    try:
        return row, encode(clip_audio(path, spec), spec), ""
    except Exception as exc:  # noqa: BLE001 - a per-file failure is data, reported in rows.json
        return row, None, f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- parent side
def _shard_path(folder: Path, k: int) -> Path:
    return folder / f"shard-{k:05d}.npy"


def _write_shard(path: Path, block: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, block, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def shard_owner(paths: Sequence[str], k: int, shard_size: int, parts: int) -> int:
    """Which of ``parts`` workers extracts shard ``k``: a stable hash of the file names in it
    (not of the folders, so machines that mount the audio elsewhere agree)."""
    from trainer.distributed import stable_part
    names = "\n".join(os.path.basename(p) for p in paths[k * shard_size:(k + 1) * shard_size])
    return stable_part(f"{k}\n{names}", parts)


def extract_features(paths: Sequence[str | os.PathLike], spec: FeatureSpec, folder: Path, workers: int = 2,
                     shard_size: int = 64, show_progress: bool = True, part: int = 0,
                     parts: int = 1) -> dict[str, Any]:
    """Decode ``paths`` (row i = paths[i]) into shards under ``folder``; resume finished shards.

    Returns ``{"rows", "failed", "seconds_of_audio", "bytes", "shards_missing"}``. A file that
    cannot be decoded becomes a row of zeros, listed with its reason (callers drop it). With
    ``parts`` > 1 only the shards :func:`shard_owner` gives to ``part`` are made, so N machines (or
    torchrun ranks) can share the work; copying every part's ``shard-*`` files into one folder and
    running once more with ``parts=1`` merges them (nothing is decoded again).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [os.fspath(p) for p in paths]
    _check_spec(folder, spec, paths, shard_size)
    n_shards = (len(paths) + shard_size - 1) // shard_size
    todo = [k for k in range(n_shards) if not _shard_path(folder, k).exists()
            and (parts <= 1 or shard_owner(paths, k, shard_size, parts) == part)]
    failed = _all_failed(folder)
    bar = tqdm(total=len(paths), desc=f"features ({spec.kind})", unit="track", disable=not show_progress)
    bar.update(len(paths) - sum(min(shard_size, len(paths) - k * shard_size) for k in todo))
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers, initializer=_init_worker) if todo and workers > 1 else None
    try:
        for k in todo:
            rows = range(k * shard_size, min((k + 1) * shard_size, len(paths)))
            block = np.zeros((len(rows), spec.channels, spec.steps()), dtype=spec.dtype)
            jobs = [(r, paths[r], spec) for r in rows]
            results = pool.imap_unordered(_extract_one, jobs) if pool else map(_extract_one, jobs)
            shard_failed = {}
            for row, arr, err in results:
                if arr is None:
                    shard_failed[str(row)] = err
                    log.warning("cannot decode %s: %s", paths[row], err)
                else:
                    block[row - rows.start] = arr
                bar.update(1)
            _write_json(_failed_path(folder, k), shard_failed)      # before the shard: it marks it done
            _write_shard(_shard_path(folder, k), block)
            failed.update(shard_failed)
            if parts <= 1:
                _write_rows(folder, paths, failed)
    finally:
        if pool is not None:
            pool.terminate()
        bar.close()
    failed = _all_failed(folder)
    present = [k for k in range(n_shards) if _shard_path(folder, k).exists()]
    if parts <= 1 or len(present) == n_shards:
        _write_rows(folder, paths, failed)
    size = sum(_shard_path(folder, k).stat().st_size for k in present)
    return {"rows": len(paths), "failed": len(failed), "bytes": size, "shards_missing": n_shards - len(present),
            "seconds_of_audio": round(spec.clip_seconds * (len(paths) - len(failed)), 1)}


def _check_spec(folder: Path, spec: FeatureSpec, paths: list[str], shard_size: int) -> None:
    """Write ``spec.json`` or, when resuming, refuse a folder made for other settings or files."""
    want = {"spec": asdict(spec), "shard_size": shard_size, "n_rows": len(paths)}
    path = folder / SPEC_JSON
    if path.exists():
        have = json.loads(path.read_text(encoding="utf-8"))
        if have != want or _read_rows(folder).get("paths", paths) != paths:
            raise ValueError(f"{folder} holds features made with other settings or files; delete it to rebuild")
        return
    _write_json(path, want)


def _failed_path(folder: Path, k: int) -> Path:
    return folder / f"shard-{k:05d}.failed.json"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")     # several writers may share the folder
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def _all_failed(folder: Path) -> dict[str, str]:
    """Rows that failed to decode: ``rows.json`` plus every shard's ``.failed.json``."""
    failed = dict(_read_rows(folder).get("failed", {}))
    for side in sorted(folder.glob("shard-*.failed.json")):
        try:
            failed.update(json.loads(side.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return failed


def _read_rows(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / ROWS_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_rows(folder: Path, paths: list[str], failed: dict[str, str]) -> None:
    tmp = folder / f"{ROWS_JSON}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"paths": paths, "failed": failed}, indent=0) + "\n", encoding="utf-8")
    tmp.replace(folder / ROWS_JSON)


class FeatureStore:
    """Read side of a store folder: memory-mapped shards, rows addressed globally.

    ``crop(row, start, length)`` -> ``(channels, length)`` float32 (log-mel as stored; waveform
    rescaled to [-1, 1]). ``ok`` (n_rows,) bool marks rows that decoded.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        meta = json.loads((self.folder / SPEC_JSON).read_text(encoding="utf-8"))
        self.spec = FeatureSpec(**meta["spec"])
        self.shard_size = int(meta["shard_size"])
        self.n_rows = int(meta["n_rows"])
        n_shards = (self.n_rows + self.shard_size - 1) // self.shard_size
        missing = [k for k in range(n_shards) if not _shard_path(self.folder, k).exists()]
        if missing:
            raise FileNotFoundError(f"{self.folder}: shard {missing[0]} is missing; run the features stage again")
        self._shards = [np.load(_shard_path(self.folder, k), mmap_mode="r") for k in range(n_shards)]
        rows = _read_rows(self.folder)
        self.paths: list[str] = rows.get("paths", [])
        self.ok = np.ones(self.n_rows, dtype=bool)
        self.ok[[int(r) for r in _all_failed(self.folder)]] = False
        self.steps = self.spec.steps()
        self.channels = self.spec.channels

    def __len__(self) -> int:
        return self.n_rows

    def crop(self, row: int, start: int, length: int) -> np.ndarray:
        """``(channels, length)`` float32 from step ``start`` of ``row``."""
        shard, r = divmod(int(row), self.shard_size)
        x = np.asarray(self._shards[shard][r, :, start:start + length], dtype=np.float32)
        return x / PCM_SCALE if self.spec.kind == "waveform" else x

    def window_starts(self, length: int, n_windows: int) -> np.ndarray:
        """Start steps of ``n_windows`` windows of ``length`` spread evenly over the clip."""
        last = max(self.steps - length, 0)
        if n_windows <= 1:
            return np.array([last // 2])
        return np.round(np.linspace(0, last, n_windows)).astype(np.int64)

    def windows(self, row: int, length: int, n_windows: int) -> np.ndarray:
        """``(n_windows, channels, length)`` float32 windows spread over ``row``'s clip."""
        return np.stack([self.crop(row, s, length) for s in self.window_starts(length, n_windows)])
