"""The fit loop: a content network learns to predict item factors from stored audio features.

One reading, top to bottom: settings (plain data) -> network -> optimiser and schedule -> epochs
of random crops -> validation on window-averaged predictions -> checkpoint, early stopping.
Mixed precision and CUDA when present; seeded; resumable from ``ckpt_dir``; one JSON line of
metrics per epoch in ``metrics.jsonl`` (copied to ``out_dir`` with ``best.pt`` at the end); a tqdm bar per epoch.

    >>> s = FitSettings(architecture="dieleman2014", epochs=20, objective="mse")
    >>> result = fit(s, store, train, val, ckpt_dir=Path("ckpt"), out_dir=Path("run"))
    >>> preds = predict(load_best(result), store, rows, s, result.window_steps)   # (n, f)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from core.model import ARCHITECTURES, ContentNet, build_net, resolve_device
from trainer import distributed as dd
from trainer.dataset import CropDataset, eval_windows, make_loader, set_loader_epoch, window_steps
from trainer.features import FeatureStore
from trainer.objectives import Objective, WPEData

log = logging.getLogger(__name__)

#: Settings that may change between a run and its resumption (they do not change what is learnt so far).
RESUMABLE = ("epochs", "patience", "max_minutes", "num_workers", "device", "threads", "amp")


@dataclass
class FitSettings:
    """Hyper-parameters of one training run ([fit] section of the experiment, or one of its runs)."""

    architecture: str = "dieleman2014"
    params: dict = field(default_factory=dict)   # overrides of the architecture's params
    window_seconds: float = 0.0     # training window; 0 = the architecture's default
    n_windows: int = 0              # windows the exported model averages per track; 0 = default
    eval_windows: int = 0           # windows averaged in evaluation; 0 = as many as fit the clip
    objective: str = "mse"          # "mse" (vdO eq. 4) or "wpe" (vdO eq. 5)
    normalise_targets: bool = True  # unit-length targets (Dieleman 2014)
    similarity_weight: float = 0.0  # metric-learning term (trainer.objectives.similarity_loss)
    similarity_tau: float = 0.1
    target_tau: float = 0.1
    instance_weight: float = 0.0    # self-supervised term: crops of one song together (needs crops >= 2)
    group_weight: float = 0.0       # metadata term: songs of one group together (P x K batches)
    group_by: str = "artist"        # "artist"/"album" (MSD), "top_tag" (Last.fm), "source" (labelled library)
    optimizer: str = "adamw"        # "adamw" or "sgd" (Nesterov momentum)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: str = "cosine"        # "cosine" (with linear warm-up), "plateau" or "constant"
    warmup_epochs: int = 1
    epochs: int = 30
    patience: int = 6               # early stopping: epochs without a better validation loss
    select_on: str = "objective"    # keep the epoch of best "objective" (val MSE/WPE), best "total"
                                    # (+ weighted terms), or the "last" epoch
    batch_size: int = 32            # tracks per batch (each gives `crops` windows)
    crops: int = 1
    gain_db: float = 0.0            # augmentation: random gain of up to +-gain_db dB per crop
    freq_mask: int = 0              # augmentation: silence up to this many adjacent mel bands
    val_fraction: float = 0.1
    num_workers: int = 0
    device: str = "auto"
    amp: bool = True                # float16 autocast on CUDA (ignored on CPU)
    seed: int = 0
    max_minutes: float = 0.0        # wall-clock budget; 0 = none
    threads: int = 0                # torch CPU threads; 0 = torch's default

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "[fit]") -> FitSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in {where}; known keys: {sorted(known)}")
        s = cls(**d)
        if s.architecture not in ARCHITECTURES:
            raise ValueError(f"{where}: unknown architecture {s.architecture!r}; known: {sorted(ARCHITECTURES)}")
        if s.optimizer not in ("adamw", "sgd") or s.schedule not in ("cosine", "plateau", "constant"):
            raise ValueError(f"{where}: optimizer must be adamw|sgd and schedule cosine|plateau|constant")
        if s.select_on not in ("objective", "total", "last"):
            raise ValueError(f"{where}: select_on must be 'objective', 'total' or 'last'")
        return s

    def model_config(self, output_dim: int) -> dict[str, Any]:
        """The card-shaped config (params, sample_rate, frontend, window_seconds, n_windows)."""
        cfg = ARCHITECTURES[self.architecture].default_config()
        params = {**cfg["params"], **self.params, "output_dim": int(output_dim)}
        frontend = dict(cfg["frontend"])
        if "n_mels" in params and frontend.get("kind") == "logmel":
            frontend["n_mels"] = params["n_mels"]
        return {"params": params, "sample_rate": cfg["sample_rate"], "frontend": frontend,
                "window_seconds": self.window_seconds or cfg["window_seconds"],
                "n_windows": self.n_windows or cfg["n_windows"]}


@dataclass
class Split:
    """Training or validation data: feature ``rows``, ``targets`` (n, f), item columns ``items``
    (for WPE; position k of the split is item ``items[k]`` of the confidence matrix) and, for the
    group term, a group id per song ``groups`` (n,) (e.g. the artist)."""

    rows: np.ndarray
    targets: np.ndarray
    items: np.ndarray
    groups: np.ndarray | None = None


@dataclass
class FitResult:
    """Where the best weights are, the card config, and what happened."""

    best_path: Path
    config: dict[str, Any]
    window_steps: int
    summary: dict[str, Any]


def _key(s: FitSettings, train: Split, val: Split) -> str:
    """Identity of a run for resuming: settings (minus RESUMABLE) and a digest of the data."""
    default = FitSettings()
    d = {k: v for k, v in dataclasses.asdict(s).items()          # non-default values only: adding a
         if k not in RESUMABLE and (k == "architecture" or v != getattr(default, k))}   # setting keeps keys
    h = hashlib.sha256(json.dumps(d, sort_keys=True).encode())
    for arr in (train.rows, train.targets, val.rows):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def _optimiser(s: FitSettings, net: torch.nn.Module) -> torch.optim.Optimizer:
    if s.optimizer == "sgd":
        return torch.optim.SGD(net.parameters(), lr=s.lr, momentum=s.momentum, nesterov=True,
                               weight_decay=s.weight_decay)
    return torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)


def _schedule(s: FitSettings, opt: torch.optim.Optimizer, steps_per_epoch: int) -> Any:
    """Per-step LambdaLR (warm-up + cosine, or constant) or per-epoch ReduceLROnPlateau."""
    if s.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.2, patience=max(1, s.patience // 3))
    warm, total = s.warmup_epochs * steps_per_epoch, max(s.epochs * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if s.schedule == "constant":
            return 1.0
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(total - warm, 1))))
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def predict(net: ContentNet, store: FeatureStore, rows: np.ndarray, window: int, n_windows: int,
            device: torch.device | str = "cpu") -> np.ndarray:
    """``(len(rows), f)`` raw predictions, each the mean over ``n_windows`` windows of its clip."""
    net.eval()
    out = np.zeros((len(rows), net.output_dim), dtype=np.float32)
    with torch.inference_mode():
        for pos, x in eval_windows(store, rows, window, n_windows):
            t, w = x.shape[:2]
            pred = net(x.flatten(0, 1).to(device)).float().reshape(t, w, -1).mean(dim=1)
            out[pos] = pred.cpu().numpy()
    return out


def _validate(net: ContentNet, store: FeatureStore, val: Split, window: int, n_windows: int,
              objective: Objective, device: torch.device, select_on: str) -> dict[str, float]:
    """Validation on window-averaged predictions: ``val_loss`` (what early stopping follows) and each part."""
    di = dd.info()                                  # each rank predicts rows rank::world
    mine = predict(net, store, val.rows[di.rank::di.world], window, n_windows, device)
    pred = torch.from_numpy(dd.gather_rows(mine, len(val.rows))).to(device)
    groups = torch.from_numpy(val.groups) if val.groups is not None else None
    total, parts = objective(pred, torch.from_numpy(val.targets).to(device), torch.from_numpy(val.items), groups)
    chosen = float(total) if select_on == "total" else parts[objective.kind]
    return {"val_loss": chosen, **{f"val_{k}": v for k, v in parts.items()}}


def _save(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def fit(s: FitSettings, store: FeatureStore, train: Split, val: Split, ckpt_dir: Path, out_dir: Path,
        wpe: WPEData | None = None, show_progress: bool = True) -> FitResult:
    """Train, validate each epoch, keep the best weights (``out_dir/best.pt``); resume from ``ckpt_dir``.

    Under ``torchrun`` every rank calls this with the same arguments; ``s.batch_size`` is the
    global batch (see :mod:`trainer.distributed`); rank 0 writes the files."""
    di = dd.info()
    show_progress = show_progress and di.is_main
    torch.manual_seed(s.seed)
    if s.threads:
        torch.set_num_threads(s.threads)
    device = dd.device_for(resolve_device(s.device), di)
    config = s.model_config(train.targets.shape[1])
    net = build_net(s.architecture, config["params"]).to(device)
    plan = dd.prepare_net(net, di, s.seed)
    model = dd.wrap_ddp(net, device, di)
    window = window_steps(store, config["window_seconds"])
    n_eval = s.eval_windows or max(1, store.steps // window)
    objective = Objective(s.objective, s.similarity_weight, s.similarity_tau, s.target_tau, s.instance_weight,
                          s.group_weight, wpe.to(device) if wpe is not None else None)
    groups = train.groups if s.group_weight > 0 else None
    if s.group_weight > 0 and groups is None:
        raise ValueError("group_weight needs a group (artist) for every training song")
    ds = CropDataset(store, train.rows, train.targets, window, s.crops, s.seed, s.gain_db, s.freq_mask)
    loader = make_loader(ds, s.batch_size, s.num_workers, s.seed, pin_memory=device.type == "cuda", groups=groups,
                         dist=di)
    opt, amp = _optimiser(s, net), s.amp and device.type == "cuda"
    sched = _schedule(s, opt, len(loader))
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    key, last = _key(s, train, val), ckpt_dir / "last.pt"
    state = {"epoch": 0, "best": math.inf, "best_epoch": 0, "bad": 0, "seconds": 0.0, "key": key}
    if last.exists():                                # every rank resumes from rank 0's checkpoint
        ck = torch.load(last, map_location=device, weights_only=False)
        if ck["state"]["key"] == key:
            net.load_state_dict(ck["net"])
            opt.load_state_dict(ck["opt"])
            sched.load_state_dict(ck["sched"])
            scaler.load_state_dict(ck["scaler"])
            state = ck["state"]
            log.info("resumed %s at epoch %d (best val loss %.4f)", ckpt_dir, state["epoch"], state["best"])
        else:
            log.info("checkpoint in %s is for other settings or data; starting afresh", ckpt_dir)
    metrics_file = ckpt_dir / "metrics.jsonl"
    dd.barrier()                                     # all have read last.pt before rank 0 rewrites it
    if state["epoch"] == 0 and di.is_main:           # a fresh run: no lines or weights of an older one
        metrics_file.unlink(missing_ok=True)
        (ckpt_dir / "best.pt").unlink(missing_ok=True)
    started = time.monotonic() - state["seconds"]
    stop = "early stopping" if state["bad"] >= s.patience else ""
    while state["epoch"] < s.epochs and not stop:
        epoch = state["epoch"]
        model.train()
        ds.set_epoch(epoch)
        set_loader_epoch(loader, epoch)
        totals: dict[str, float] = {}
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{s.epochs}", unit="batch", disable=not show_progress, leave=False)
        for i, (x, y, k) in enumerate(bar):
            crops = x.shape[1]
            x = x.flatten(0, 1).to(device, non_blocking=True)
            plan.set_step(epoch * len(loader) + i, x.shape[0], crops, di)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                pred = model(x)
            # the objective sees the global batch (in one-process order) on every rank
            pred = dd.gather_batch(pred, crops)
            k = dd.gather_batch(k.to(device)).cpu()
            y = dd.gather_batch(y.to(device)).repeat_interleave(crops, dim=0)
            items = torch.from_numpy(train.items[k.numpy()]).repeat_interleave(crops)
            grp = torch.from_numpy(groups[k.numpy()]).repeat_interleave(crops) if groups is not None else None
            loss, parts = objective(pred, y, items, grp)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if not isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched.step()
            for name, v in {"loss": float(loss.detach()), **parts}.items():
                totals[name] = totals.get(name, 0.0) + v
            totals["batches"] = totals.get("batches", 0) + 1
            bar.set_postfix(loss=f"{totals['loss'] / totals['batches']:.4f}")
            if s.max_minutes and dd.any_rank(time.monotonic() - started > 60 * s.max_minutes):
                stop = "time budget"
                break
        n = max(totals.pop("batches", 1), 1)
        vm = _validate(net, store, val, window, n_eval, objective, device, s.select_on)
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(vm["val_loss"])
        state["epoch"], state["seconds"] = epoch + 1, time.monotonic() - started
        if vm["val_loss"] < state["best"] - 1e-6 or s.select_on == "last":
            state.update(best=vm["val_loss"], best_epoch=epoch + 1, bad=0)
            if di.is_main:
                _save(ckpt_dir / "best.pt", {k: v.detach().cpu() for k, v in net.state_dict().items()})
        else:
            state["bad"] += 1
        line = {"epoch": epoch + 1, **{f"train_{k}": v / n for k, v in totals.items()}, **vm,
                "lr": opt.param_groups[0]["lr"], "seconds": round(state["seconds"], 1)}
        if di.is_main:
            with open(metrics_file, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
        log.info("epoch %d: train loss %.4f, val loss %.4f (best %.4f at %d)", epoch + 1, line["train_loss"],
                 vm["val_loss"], state["best"], state["best_epoch"])
        if di.is_main:
            _save(last, {"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                         "scaler": scaler.state_dict(), "state": state})
        if state["bad"] >= s.patience and not stop:
            stop = "early stopping"
    if di.is_main and not (ckpt_dir / "best.pt").exists():  # no epoch finished (time budget hit in the first)
        _save(ckpt_dir / "best.pt", {k: v.detach().cpu() for k, v in net.state_dict().items()})
    for name in ("best.pt", "metrics.jsonl"):
        if di.is_main and (ckpt_dir / name).exists():
            shutil.copyfile(ckpt_dir / name, out_dir / name)
    dd.barrier()                                     # best.pt is in place for every rank
    summary = {"epochs": state["epoch"], "best_epoch": state["best_epoch"], "best_val_loss": state["best"],
               "stopped": stop or "epochs done", "seconds": round(state["seconds"], 1),
               "device": _device_name(device), "train_items": len(train.rows), "val_items": len(val.rows),
               "window_steps": window, "eval_windows": n_eval, "processes": di.world}
    return FitResult(out_dir / "best.pt", config, window, summary)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def load_best(result: FitResult, architecture: str) -> ContentNet:
    """The network with the best weights of a run (CPU, eval mode)."""
    net = build_net(architecture, result.config["params"])
    net.load_state_dict(torch.load(result.best_path, map_location="cpu", weights_only=True))
    return net.eval()
