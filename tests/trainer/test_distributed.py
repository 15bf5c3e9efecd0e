"""Distributed training: 2 CPU processes (gloo) give the same weights as 1 process with the same
global batch (batch norm, dropout and the batch-coupled similarity term included), resume from
rank 0's checkpoint, and feature extraction splits by a stable hash."""
from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from core.model import build_net
from trainer import distributed as dd
from trainer.dataset import window_steps
from trainer.features import FeatureSpec, FeatureStore, shard_owner
from trainer.fit import FitSettings, Split, fit, predict

TINY = {"channels": [4, 4, 4, 4], "dense": [12], "dropout": 0.5}


def make_store(folder: Path, n: int = 20, clip_seconds: float = 4.0, shard_size: int = 8) -> FeatureStore:
    """A log-mel store of random 'songs' written directly (no audio decoding needed)."""
    spec = FeatureSpec.for_architecture("dieleman2014", clip_seconds)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps({"spec": asdict(spec), "shard_size": shard_size, "n_rows": n}))
    rng = np.random.default_rng(0)
    for k in range(0, n, shard_size):
        rows = min(shard_size, n - k)
        block = rng.gamma(2.0, 0.5, size=(rows, spec.channels, spec.steps())).astype(np.float16)
        np.save(folder / f"shard-{k // shard_size:05d}.npy", block)
    (folder / "rows.json").write_text(json.dumps({"paths": [f"s{i}.mp3" for i in range(n)], "failed": {}}))
    return FeatureStore(folder)


def splits(n: int = 20) -> tuple[Split, Split]:
    y = np.random.default_rng(1).standard_normal((n, 5)).astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return Split(np.arange(16), y[:16], np.arange(16)), Split(np.arange(16, n), y[16:], np.arange(4))


def settings(epochs: int) -> FitSettings:
    return FitSettings(params=TINY, window_seconds=3.0, epochs=epochs, batch_size=8, crops=2, threads=1,
                       similarity_weight=0.5, schedule="constant", warmup_epochs=0, select_on="last", patience=9)


def _worker(rank: int, world: int, port: int, store_dir: str, ckpt: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    di = dd.init_from_env()
    assert di.world == world and di.rank == rank
    train, val = splits()
    store = FeatureStore(Path(store_dir))
    fit(settings(1), store, train, val, Path(ckpt), Path(out + "_a"), show_progress=False)   # stop after 1
    fit(settings(2), store, train, val, Path(ckpt), Path(out), show_progress=False)          # resume to 2
    dd.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _predictions(path: Path, store: FeatureStore) -> np.ndarray:
    cfg = settings(2).model_config(5)
    net = build_net("dieleman2014", cfg["params"])
    net.load_state_dict(torch.load(path, weights_only=True))
    return predict(net, store, np.arange(len(store)), window_steps(store, 3.0), 2)


def test_two_gloo_processes_match_one_process_and_resume(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    train, val = splits()
    one = fit(settings(2), store, train, val, tmp_path / "ck1", tmp_path / "one", show_progress=False)
    assert one.summary["processes"] == 1
    mp.spawn(_worker, args=(2, _free_port(), str(store.folder), str(tmp_path / "ck2"), str(tmp_path / "two")),
             nprocs=2, join=True)
    assert len((tmp_path / "two_a" / "metrics.jsonl").read_text().splitlines()) == 1
    la = [json.loads(x) for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert len(lb) == 2                       # rank 0 alone wrote it: one line per epoch, none lost on resume
    for x, y in zip(la, lb, strict=True):
        assert y["train_loss"] == pytest.approx(x["train_loss"], rel=1e-4)
        assert y["train_similarity"] == pytest.approx(x["train_similarity"], rel=1e-4)
        assert y["val_loss"] == pytest.approx(x["val_loss"], rel=1e-4)
    a = torch.load(tmp_path / "one" / "best.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "best.pt", weights_only=True)
    assert a.keys() == b.keys()
    for name in a:      # conv / dense weights; a BN bias right before another BN has a zero gradient
        if name.endswith("weight"):     # in exact arithmetic, so Adam turns float noise into its steps
            torch.testing.assert_close(b[name].float(), a[name].float(), atol=1e-5, rtol=1e-4, msg=name)
    pa, pb = _predictions(tmp_path / "one" / "best.pt", store), _predictions(tmp_path / "two" / "best.pt", store)
    # eval-mode outputs: those BN biases (float noise through Adam, |diff| ~ 3e-3) shift the running
    # means a little, so the predictions agree to ~5e-4 rather than 1e-5
    np.testing.assert_allclose(pb, pa, atol=2e-3, rtol=1e-2)
    assert not np.allclose(pa, _predictions(tmp_path / "two_a" / "best.pt", store), atol=1e-4)   # epoch 2 moved


def test_batch_size_must_split_evenly() -> None:
    with pytest.raises(ValueError, match="multiple of the 3 processes"):
        dd.check_batch(8, dd.DistInfo(rank=0, world=3))


def test_batches_of_ranks_make_the_one_process_batch() -> None:
    one = [i for i in dd.sampler_for(21, 4, dd.DistInfo())]
    ranks = [list(dd.sampler_for(21, 4, dd.DistInfo(r, 2))) for r in range(2)]
    b = 4                                      # global batch 8 = 4 per rank
    for step in range(2):
        merged = sorted(ranks[0][step * b:(step + 1) * b] + ranks[1][step * b:(step + 1) * b])
        assert merged == sorted(one[step * 8:(step + 1) * 8])


def test_stable_hash_shards_cover_everything_once() -> None:
    paths = [f"/mnt/a/{i}.mp3" for i in range(200)]
    moved = [f"/other/root/{i}.mp3" for i in range(200)]
    owners = [shard_owner(paths, k, 8, 3) for k in range(25)]
    assert owners == [shard_owner(moved, k, 8, 3) for k in range(25)]     # independent of the mount point
    assert set(owners) == {0, 1, 2}
    assert dd.stable_part("TRAAAAW128F429D538", 7) == dd.stable_part("TRAAAAW128F429D538", 7)


def _wav(path: Path, freq: float, seconds: float = 1.0, sr: int = 22050) -> str:
    import wave
    t = np.arange(int(seconds * sr)) / sr
    pcm = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return str(path)


def test_feature_parts_merge_without_decoding_again(tmp_path: Path) -> None:
    from trainer.features import extract_features
    paths = [_wav(tmp_path / f"t{i}.wav", 220.0 * (i + 1)) for i in range(6)]
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio")
    paths.append(str(tmp_path / "broken.wav"))
    spec = FeatureSpec.for_architecture("dieleman2014", 1.0)
    folder = tmp_path / "store"
    owners = {shard_owner(paths, k, 1, 2) for k in range(len(paths))}
    assert owners == {0, 1}
    done = [extract_features(paths, spec, folder, 1, 1, False, part=p, parts=2) for p in (0, 1)]
    assert done[0]["shards_missing"] > 0 and done[1]["shards_missing"] == 0      # part 1 finished the set
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.glob("shard-*.npy")}
    merged = extract_features(paths, spec, folder, 1, 1, False)                   # merge: nothing decoded
    assert merged["shards_missing"] == 0 and merged["failed"] == 1
    assert stamps == {p.name: p.stat().st_mtime_ns for p in folder.glob("shard-*.npy")}
    store = FeatureStore(folder)
    assert store.ok.tolist() == [True] * 6 + [False] and np.abs(store.crop(2, 0, 10)).sum() > 0
