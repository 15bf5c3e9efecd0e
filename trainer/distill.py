"""``cbrec-train distill``: teacher-student distillation of a slow backbone into a fast network.

A teacher model (the musicnn backbone) maps each 3 s excerpt window to its penultimate vector;
a student (one of our fast architectures, e.g. dieleman2014 on a 96-band log-mel) learns to
reproduce those vectors from the same audio. No listening data is needed: any unlabelled audio
serves. The student inherits the teacher's tag head (the last layer, penultimate -> tags), so it
predicts tags too, and is written as an app model (``.pt`` + card).

    cbrec-train distill --corpus /tmp/cbrec-extra-corpus/labels.tsv --out models/fast

Stages, each cached under ``--out`` so a rerun resumes: decode windows (``windows.npy``, float16
audio), teacher targets (``targets.npy``), fit, export. Window geometry comes from the teacher's
card; tracks are split by file into training and validation (``--val-share``).
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import CbrecError
from core.model import ModelCard, build_frontend, build_net, load_net, save_model
from core.model.nets import ARCHITECTURES

log = logging.getLogger("trainer.distill")
AUDIO_EXTS = {".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".wav", ".aiff", ".aif", ".wma"}


@dataclass
class DistillSettings:
    """What to distil into what, and how long. ``width`` scales the student's conv channels."""

    teacher: Path
    corpus: list[Path]
    out: Path
    student: str = "dieleman2014"
    name: str = "fast"
    windows_per_track: int = 24
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    width: int = 256
    n_windows: int | None = None       # windows per track at analysis time (default: the teacher's)
    timbre_weight: float = 0.0         # > 0: write a ``fused`` model (student + timbre summary)
    val_share: float = 0.1
    seed: int = 0
    device: str = "auto"
    workers: int = 2


def corpus_files(sources: list[Path]) -> list[str]:
    """Audio files named by ``labels.tsv`` files (first column, relative to the file) or under folders."""
    files: list[str] = []
    for src in sources:
        src = Path(src).expanduser()
        if src.is_file() and src.suffix == ".tsv":
            base = src.parent / "library" if (src.parent / "library").is_dir() else src.parent
            for line in src.read_text(encoding="utf-8").splitlines():
                rel = line.split("\t", 1)[0].strip()
                if rel:
                    files.append(str(base / rel))
        elif src.is_dir():
            files += sorted(str(p) for p in src.rglob("*") if p.suffix.lower() in AUDIO_EXTS and p.is_file())
        else:
            raise CbrecError(f"{src} is neither a labels.tsv file nor a folder of audio files.")
    if not files:
        raise CbrecError(f"No audio files found in {', '.join(map(str, sources))}.")
    return files


def _decode_one(job: tuple[str, int, int, int]) -> np.ndarray | None:
    from core.audio import load_windows
    from core.errors import AudioError

    path, sr, samples, n = job
    try:
        return load_windows(path, sr, samples, n).windows.astype(np.float16)
    except AudioError as exc:
        log.warning("skipped %s: %s", path, exc)
        return None


def decode_windows(files: list[str], sr: int, samples: int, per_track: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n_windows, samples)`` float16 audio and the ``(n_windows,)`` index of the file each came from."""
    jobs = [(f, sr, samples, per_track) for f in files]
    with ProcessPoolExecutor(max(1, workers)) as pool:
        decoded = list(pool.map(_decode_one, jobs, chunksize=2))
    keep = [(i, w) for i, w in enumerate(decoded) if w is not None]
    if not keep:
        raise CbrecError("None of the corpus files could be decoded.")
    windows = np.concatenate([w for _, w in keep])
    owner = np.concatenate([np.full(len(w), i, dtype=np.int32) for i, w in keep])
    return windows, owner


def teacher_targets(net: torch.nn.Module, frontend: torch.nn.Module, windows: np.ndarray,
                    batch: int | None = None) -> np.ndarray:
    """The teacher's raw per-window outputs, ``(n_windows, dim)`` float32.

    ``batch`` defaults to the network's cache-sized CPU batch (musicnn: 2 windows; in batches of 32
    its feature maps spill the cache and a window costs about twice as much).
    """
    batch = batch or max(1, int(getattr(net, "cpu_batch_samples", 2 ** 20)) // windows.shape[-1])
    out = []
    with torch.inference_mode():
        for start in range(0, len(windows), batch):
            wave = torch.from_numpy(windows[start:start + batch].astype(np.float32))
            out.append(net(frontend(wave)).float().numpy())
    return np.concatenate(out)


def student_card(s: DistillSettings, teacher: ModelCard) -> ModelCard:
    """The student's card: the teacher's audio geometry, a log-mel frontend of the teacher's bands."""
    if ARCHITECTURES.get(s.student) is None or ARCHITECTURES[s.student].input_kind != "logmel":
        raise CbrecError(f"--student must be a log-mel architecture ({', '.join(sorted(ARCHITECTURES))}).")
    n_mels = int(teacher.frontend.get("n_mels", 96))
    config = copy.deepcopy(ARCHITECTURES[s.student].default_config())
    config["params"].update({"n_mels": n_mels, "output_dim": teacher.output_dim, "dropout": 0.0,
                             "channels": [s.width] * len(config["params"]["channels"])})
    if "dense" in config["params"]:
        config["params"]["dense"] = [max(s.width, teacher.output_dim)] * len(config["params"]["dense"])
    config.update(sample_rate=teacher.sample_rate, window_seconds=teacher.window_seconds,
                  n_windows=int(s.n_windows or teacher.n_windows))
    config["frontend"] = {"kind": "logmel", "n_fft": int(teacher.frontend.get("n_fft", 512)),
                          "hop_length": int(teacher.frontend.get("hop_length", 256)), "n_mels": n_mels}
    return ModelCard.from_config(s.name, s.student, config, tags=list(teacher.tags))


def _loss(pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Scaled MSE plus cosine distance: the student matches each window's vector and its direction."""
    mse = ((pred - target) / scale).square().mean()
    return mse + (1 - F.cosine_similarity(pred, target, dim=1)).mean()


def _track_fidelity(pred: np.ndarray, target: np.ndarray, owner: np.ndarray) -> float:
    """Mean cosine between student and teacher track vectors (window means), the metric that matters."""
    tracks = np.unique(owner)
    p = np.stack([pred[owner == t].mean(0) for t in tracks])
    q = np.stack([target[owner == t].mean(0) for t in tracks])
    p -= q.mean(0)
    q = q - q.mean(0)
    cos = (p * q).sum(1) / (np.linalg.norm(p, axis=1) * np.linalg.norm(q, axis=1) + 1e-12)
    return float(cos.mean())


def fit_student(s: DistillSettings, card: ModelCard, windows: np.ndarray, targets: np.ndarray,
                owner: np.ndarray) -> tuple[torch.nn.Module, dict]:
    """Train the student on the training tracks; returns it (CPU, eval) and its validation figures."""
    from core.model.checkpoint import resolve_device

    device = resolve_device(s.device)
    rng = np.random.default_rng(s.seed)
    tracks = np.unique(owner)
    val_tracks = rng.choice(tracks, size=max(1, int(round(len(tracks) * s.val_share))), replace=False)
    is_val = np.isin(owner, val_tracks)
    train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    torch.manual_seed(s.seed)
    net = build_net(card.architecture, card.params).to(device)
    frontend = build_frontend(card.frontend, card.sample_rate).to(device)
    target_t = torch.from_numpy(targets)
    scale = target_t[train_idx].std(0).clamp_min(1e-3).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=1e-4)
    steps = s.epochs * math.ceil(len(train_idx) / s.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=max(1, steps), pct_start=0.1)
    history = []
    started = time.perf_counter()
    for epoch in range(s.epochs):
        net.train()
        order = rng.permutation(train_idx)
        total = 0.0
        for start in range(0, len(order), s.batch_size):
            rows = np.sort(order[start:start + s.batch_size])
            wave = torch.from_numpy(windows[rows].astype(np.float32)).to(device)
            gain = torch.exp(torch.empty(len(rows), 1, device=device).uniform_(-0.7, 0.7))  # +-6 dB
            pred = net(frontend(wave * gain))
            loss = _loss(pred, target_t[rows].to(device), scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(rows)
        val = _predict(net, frontend, windows[val_idx], device)
        fidelity = _track_fidelity(val, targets[val_idx], owner[val_idx])
        history.append({"epoch": epoch + 1, "train_loss": total / len(train_idx), "val_track_cosine": fidelity})
        log.info("epoch %d/%d: loss %.4f, validation track cosine to teacher (centred) %.4f",
                 epoch + 1, s.epochs, total / len(train_idx), fidelity)
    figures = {"train_windows": int(len(train_idx)), "val_windows": int(len(val_idx)),
               "train_tracks": int(len(tracks) - len(val_tracks)), "val_tracks": int(len(val_tracks)),
               "seconds": round(time.perf_counter() - started, 1), "device": str(device),
               "val_track_cosine_centred": history[-1]["val_track_cosine"], "history": history}
    return net.cpu().eval(), figures


def _predict(net: torch.nn.Module, frontend: torch.nn.Module, windows: np.ndarray, device: torch.device,
             batch: int = 128) -> np.ndarray:
    net.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(windows), batch):
            wave = torch.from_numpy(windows[start:start + batch].astype(np.float32)).to(device)
            out.append(net(frontend(wave)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _cached(path: Path, make) -> np.ndarray:
    if path.exists():
        return np.load(path)
    value = make()
    np.save(path, value)
    return value


def distill(s: DistillSettings) -> ModelCard:
    """Run every step (resuming from cached windows and targets); returns the saved student's card."""
    s.out.mkdir(parents=True, exist_ok=True)
    teacher, t_card = load_net(s.teacher)
    if teacher.tag_head is None:
        log.warning("the teacher has no tag head: the student will predict no tags")
    files = corpus_files(s.corpus)
    log.info("%d files; decoding %d windows of each at %d Hz", len(files), s.windows_per_track, t_card.sample_rate)
    geometry = {"files": files, "sr": t_card.sample_rate, "samples": t_card.window_samples,
                "per_track": s.windows_per_track, "teacher": t_card.analysis_version}
    meta = s.out / "windows.json"
    if not meta.exists() or json.loads(meta.read_text()) != geometry:
        for stale in ("windows.npy", "owner.npy", "targets.npy"):
            (s.out / stale).unlink(missing_ok=True)
    if (s.out / "windows.npy").exists() and (s.out / "owner.npy").exists():
        windows, owner = np.load(s.out / "windows.npy"), np.load(s.out / "owner.npy")
    else:
        windows, owner = decode_windows(files, t_card.sample_rate, t_card.window_samples,
                                        s.windows_per_track, s.workers)
        np.save(s.out / "windows.npy", windows)
        np.save(s.out / "owner.npy", owner)
    meta.write_text(json.dumps(geometry))
    t_front = build_frontend(t_card.frontend, t_card.sample_rate)
    log.info("teacher targets for %d windows", len(windows))
    targets = _cached(s.out / "targets.npy", lambda: teacher_targets(teacher.eval(), t_front.eval(), windows))
    card = student_card(s, t_card)
    net, figures = fit_student(s, card, windows, targets, owner)
    if teacher.tag_head is not None:
        head = net.attach_tag_head(teacher.tag_head.out_features)
        head.load_state_dict(teacher.tag_head.state_dict())
    card.trained_on = {"method": "distillation (teacher-student) on unlabelled audio",
                       "teacher": {"name": t_card.name, "analysis_version": t_card.analysis_version,
                                   "architecture": t_card.architecture,
                                   # third-party weights travel with their licence (the tag head is theirs)
                                   **({"backbone": t_card.trained_on["backbone"]}
                                      if "backbone" in t_card.trained_on else {})},
                       "corpus": [str(c) for c in s.corpus], "files": len(files),
                       "windows_per_track": s.windows_per_track,
                       "tag_head": "the teacher's last layer, copied unchanged" if card.tags else "none"}
    card.training = {k: v for k, v in figures.items() if k != "history"} | {
        "epochs": s.epochs, "batch_size": s.batch_size, "lr": s.lr, "seed": s.seed, "width": s.width}
    if s.timbre_weight > 0:
        from trainer.fuse import fuse_net

        net, card = fuse_net(net, card, windows, owner, s.timbre_weight)
    saved = save_model(net, card, s.out / s.name)
    (s.out / "history.json").write_text(json.dumps(figures["history"], indent=1))
    log.info("wrote %s (validation track cosine to the teacher, centred: %.4f)",
             s.out / f"{s.name}.pt", figures["val_track_cosine_centred"])
    return saved


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``cbrec-train distill`` options."""
    d = DistillSettings(teacher=Path(), corpus=[], out=Path())
    p.add_argument("--teacher", type=Path, required=True, help="teacher model (.pt or .json), e.g. resources/models/musicnn.pt")
    p.add_argument("--corpus", type=Path, action="append", required=True,
                   help="labels.tsv or a folder of audio (unlabelled is fine); repeatable")
    p.add_argument("--out", type=Path, required=True, help="folder for cached windows, targets and the model")
    p.add_argument("--student", default=d.student, help=f"student architecture (default {d.student})")
    p.add_argument("--name", default=d.name, help="model name: <out>/<name>.pt + .json")
    p.add_argument("--width", type=int, default=d.width, help="student conv channels per layer")
    p.add_argument("--windows-per-track", type=int, default=d.windows_per_track)
    p.add_argument("--n-windows", type=int, help="windows per track when the app analyses (default: the teacher's)")
    p.add_argument("--timbre-weight", type=float, default=d.timbre_weight,
                   help="> 0: write a fused model, the student's vector plus a timbre summary with this weight")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda")
    p.add_argument("--workers", type=int, default=d.workers, help="decoding processes")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``cbrec-train distill``."""
    settings = DistillSettings(teacher=args.teacher, corpus=list(args.corpus), out=args.out, student=args.student,
                               name=args.name, windows_per_track=args.windows_per_track, epochs=args.epochs,
                               batch_size=args.batch_size, lr=args.lr, width=args.width, n_windows=args.n_windows,
                               seed=args.seed, device=args.device, workers=args.workers,
                               timbre_weight=args.timbre_weight)
    card = distill(settings)
    print(f"{settings.out / settings.name}.pt: {card.architecture}, {card.output_dim}-d, "
          f"version {card.analysis_version}, validation track cosine to the teacher "
          f"{card.training['val_track_cosine_centred']:.4f}")
    return 0
