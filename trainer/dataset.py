"""Training batches: random crops of stored features, paired with each item's target vector.

van den Oord et al. train on random 3 s windows of each clip; Dieleman on longer windows with
random offsets. Here every item yields ``crops`` random windows per visit (several crops of one
track in a batch also give the metric-learning term positives), and evaluation averages the
predictions of windows spread over the clip.

    >>> ds = CropDataset(store, rows, targets, window_steps=173, crops=2, seed=0)
    >>> x, y, k = ds[0]          # (2, 128, 173) float32, (40,) float32, position in rows
    >>> loader = make_loader(ds, batch_size=32, num_workers=0, seed=0)
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from trainer.features import FeatureStore

if TYPE_CHECKING:
    from trainer.distributed import DistInfo

log = logging.getLogger(__name__)


def window_steps(store: FeatureStore, window_seconds: float) -> int:
    """Stored steps (frames or samples) a window of ``window_seconds`` spans."""
    samples = int(round(window_seconds * store.spec.sample_rate))
    return min(store.spec.steps(samples), store.steps)


class CropDataset(Dataset):
    """Item ``k`` -> ``(crops, channels, window_steps)`` random crops of row ``rows[k]``,
    its target ``targets[k]`` (f,) and ``k`` itself (to look up per-item WPE data).

    Crops are drawn from a generator seeded by ``(seed, epoch, k)``, so a run is reproducible for
    any number of loader workers; call :meth:`set_epoch` before each epoch. Augmentation (off by
    default): a random gain of up to ``gain_db`` dB per crop, and a band of up to ``freq_mask``
    mel bands silenced (SpecAugment-style; log-mel only).
    """

    def __init__(self, store: FeatureStore, rows: np.ndarray, targets: np.ndarray, window_steps: int,
                 crops: int = 1, seed: int = 0, gain_db: float = 0.0, freq_mask: int = 0) -> None:
        if len(rows) != len(targets):
            raise ValueError(f"{len(rows)} rows but {len(targets)} targets")
        self.store, self.rows = store, np.asarray(rows, dtype=np.int64)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.window_steps, self.crops, self.seed, self.epoch = int(window_steps), int(crops), int(seed), 0
        self.gain_db, self.freq_mask = float(gain_db), int(freq_mask)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        rng = np.random.default_rng([self.seed, self.epoch, int(k)])
        last = max(self.store.steps - self.window_steps, 0)
        starts = rng.integers(0, last + 1, size=self.crops)
        x = np.stack([self.store.crop(self.rows[k], int(s), self.window_steps) for s in starts])
        if self.gain_db or self.freq_mask:
            x = self._augment(x, rng)
        return torch.from_numpy(x), torch.from_numpy(self.targets[k]), int(k)

    def _augment(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Gain and frequency masking of ``(crops, C, T)`` crops, drawn per crop."""
        logmel = self.store.spec.kind == "logmel"
        for c in range(len(x)):
            if self.gain_db:
                g = 10.0 ** (rng.uniform(-self.gain_db, self.gain_db) / 10.0)      # power ratio
                x[c] = np.log1p(g * np.expm1(x[c])) if logmel else x[c] * np.sqrt(g)
            if self.freq_mask and logmel:
                width = int(rng.integers(0, self.freq_mask + 1))
                start = int(rng.integers(0, max(x.shape[1] - width, 0) + 1))
                x[c, start:start + width] = 0.0                                    # log1p(0): silence
        return x


class GroupBatchSampler:
    """Batches of ``per_group`` songs from each of ``batch_size // per_group`` groups (P x K
    sampling), so every song meets other songs of its group; groups with fewer songs than
    ``per_group`` are drawn with replacement. ``groups`` (n,) gives each dataset index's group."""

    def __init__(self, groups: np.ndarray, batch_size: int, per_group: int = 2, seed: int = 0) -> None:
        self.groups = np.asarray(groups)
        self.members = [np.flatnonzero(self.groups == g) for g in np.unique(self.groups)]
        self.per_group, self.n_groups = int(per_group), max(1, int(batch_size) // int(per_group))
        self.seed, self.epoch = int(seed), 0
        self.n_batches = max(1, len(self.groups) // (self.n_groups * self.per_group))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        for _ in range(self.n_batches):
            chosen = rng.choice(len(self.members), size=min(self.n_groups, len(self.members)), replace=False)
            batch = [rng.choice(self.members[g], size=self.per_group, replace=len(self.members[g]) < self.per_group)
                     for g in chosen]
            yield np.concatenate(batch).tolist()


def _worker_init(worker_id: int) -> None:
    """Loader workers: one torch thread each; shards are re-opened lazily by numpy's memmap."""
    torch.set_num_threads(1)
    info = get_worker_info()
    if info is not None:
        log.debug("loader worker %d of %d started", worker_id, info.num_workers)


def make_loader(ds: CropDataset, batch_size: int, num_workers: int = 0, seed: int = 0,
                shuffle: bool = True, pin_memory: bool = False, groups: np.ndarray | None = None,
                dist: DistInfo | None = None) -> DataLoader:
    """A loader of ``(x (b, crops, C, T), y (b, f), k (b,))`` batches; full batches only when
    shuffling (batch norm needs more than one sample). With ``groups`` (len(ds),), batches come
    from :class:`GroupBatchSampler`. ``batch_size`` is the global batch: on several processes
    (``dist``) each rank loads its share of every batch (``trainer.distributed``); shuffling uses a
    seeded :class:`DistributedSampler` on one process too, so both see the same batches. Call
    :func:`set_loader_epoch` before each epoch."""
    from trainer.distributed import DistInfo, RankBatches, check_batch, sampler_for
    di = dist or DistInfo()
    local = check_batch(batch_size, di)
    extra = {"num_workers": num_workers, "pin_memory": pin_memory, "worker_init_fn": _worker_init,
             "persistent_workers": num_workers > 0, "prefetch_factor": 4 if num_workers > 0 else None}
    if groups is not None:
        batches = GroupBatchSampler(groups, batch_size, seed=seed)
        return DataLoader(ds, batch_sampler=RankBatches(batches, di) if di.world > 1 else batches, **extra)
    drop_last = shuffle and len(ds) > batch_size
    if not shuffle:
        return DataLoader(ds, batch_size=local, shuffle=False, drop_last=False, **extra)
    return DataLoader(ds, batch_size=local, sampler=sampler_for(len(ds), seed, di), drop_last=drop_last, **extra)


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Reseed the loader's sampler (or batch sampler) for ``epoch``."""
    for s in (loader.sampler, loader.batch_sampler):
        if hasattr(s, "set_epoch"):
            s.set_epoch(epoch)


def eval_windows(store: FeatureStore, rows: np.ndarray, window: int, n_windows: int,
                 batch_tracks: int = 16) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Yield ``(row positions (t,), windows (t, n_windows, C, window))`` over ``rows`` in order."""
    rows = np.asarray(rows, dtype=np.int64)
    for start in range(0, len(rows), batch_tracks):
        pos = np.arange(start, min(start + batch_tracks, len(rows)))
        x = np.stack([store.windows(int(rows[p]), window, n_windows) for p in pos])
        yield pos, torch.from_numpy(x)


def loader_throughput(loader: DataLoader, max_batches: int = 50, warmup: int = 2) -> dict[str, float]:
    """Samples (windows) per second the loader alone delivers: ``{"samples_per_s", "batches", "seconds"}``."""
    def forever() -> Iterator:
        while True:
            yield from loader                  # epochs back to back until max_batches
    it = forever()
    for _ in range(warmup):
        next(it)
    n = batches = 0
    t0 = time.perf_counter()
    for x, _, _ in it:
        n += x.shape[0] * x.shape[1]
        batches += 1
        if batches >= max_batches:
            break
    seconds = time.perf_counter() - t0
    return {"samples_per_s": n / max(seconds, 1e-9), "batches": batches, "seconds": seconds}
