"""Training on several processes: ``torchrun`` + DistributedDataParallel (NCCL on GPUs, gloo on CPU).

``cbrec-train`` reads torchrun's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``) and joins the process group; without it everything here is a
no-op for one process. A run on N processes gives the same result as one process with the same
global ``batch_size`` (within float tolerance), because:

* every process walks the same seeded permutation (:class:`torch.utils.data.DistributedSampler`
  with the same seed) and takes every N-th item, so step b's items over all ranks are exactly
  the one-process batch b;
* the loss is computed on the whole global batch on every rank (:func:`gather_batch`, an
  all-gather whose backward all-reduces the gradient), so batch-coupled terms (similarity,
  instance, group) see the same batch as one process; DDP then averages the gradients;
* batch norm normalises with the statistics of the global batch (:class:`GlobalBatchNorm`, which
  works on CPU too, unlike ``nn.SyncBatchNorm``);
* dropout draws the mask of the whole global batch from a generator seeded by (seed, step,
  layer) and keeps its own rows (:class:`BatchDropout`), in one process too.

Rank 0 alone logs, writes checkpoints and metrics; every rank resumes from rank 0's checkpoint.

    >>> di = init_from_env()            # DistInfo(rank=0, world=1, local_rank=0) without torchrun
    >>> plan = prepare_net(net, di)     # global batch norm, seeded dropout
    >>> model = wrap_ddp(net, device, di)
"""
from __future__ import annotations

import datetime
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

log = logging.getLogger(__name__)

#: Minutes a rank waits at a barrier (for example while rank 0 runs WMF alone) before giving up.
TIMEOUT_ENV = "CBREC_DIST_TIMEOUT_MIN"
_CONTROL: Any = None      # a gloo group for barriers and small objects (works beside NCCL)


@dataclass(frozen=True)
class DistInfo:
    """This process's ``rank`` among ``world`` processes and its ``local_rank`` on the node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def info() -> DistInfo:
    """The current process group's view (one process when none is initialised)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def init_from_env() -> DistInfo:
    """Join torchrun's process group when ``WORLD_SIZE`` > 1 (idempotent): NCCL for CUDA tensors
    when a GPU is visible, gloo for CPU tensors; non-zero ranks log warnings only."""
    global _CONTROL
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return info()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    timeout = datetime.timedelta(minutes=float(os.environ.get(TIMEOUT_ENV, "720")))
    cuda = torch.cuda.is_available() and os.environ.get("CBREC_DIST_BACKEND", "") != "gloo"
    if cuda:
        torch.cuda.set_device(local % torch.cuda.device_count())
    dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=timeout)
    _CONTROL = dist.new_group(backend="gloo", timeout=timeout)
    di = info()
    if not di.is_main:
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger("trainer").setLevel(logging.WARNING)
    log.info("distributed: %d processes (%s), rank %d", di.world, "nccl+gloo" if cuda else "gloo", di.rank)
    return di


def shutdown() -> None:
    """Leave the process group (end of the command)."""
    global _CONTROL
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _CONTROL = None


def barrier() -> None:
    """Wait for every rank (no-op for one process)."""
    if info().world > 1:
        dist.barrier(group=_CONTROL)


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if info().world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, group=_CONTROL)
    return box[0]


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank (e.g. a time budget ran out)."""
    if info().world == 1:
        return flag
    t = torch.tensor([1 if flag else 0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_CONTROL)
    return bool(t.item())


def device_for(device: torch.device, di: DistInfo) -> torch.device:
    """One GPU per local rank; CPU stays CPU."""
    if device.type == "cuda" and di.world > 1:
        return torch.device("cuda", di.local_rank % torch.cuda.device_count())
    return device


# --------------------------------------------------------------------------- stable sharding
def stable_part(key: str, parts: int) -> int:
    """``0 .. parts-1`` from a SHA-1 of ``key``: the same on every machine and Python process
    (unlike ``hash()``), so N machines can each take a share of the work."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") % max(int(parts), 1)


# --------------------------------------------------------------------------- collectives with autograd
class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        g = g.clone()
        dist.all_reduce(g)          # every rank's loss used the sum: their gradients add up
        return g


class _AllGather(torch.autograd.Function):
    """Concatenate equal-sized first dimensions of every rank (rank-major)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        g = g.contiguous().clone()
        dist.all_reduce(g)          # each rank's copy of the loss contributes to every slice
        return g[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum over ranks, differentiable."""
    return _AllReduceSum.apply(x) if info().world > 1 else x


def gather_batch(x: Tensor, per_item: int = 1) -> Tensor:
    """The global batch from every rank's equal share, in one-process order: rank r's local item
    j is global item ``j * world + r`` (what :class:`DistributedSampler` hands out); each item
    spans ``per_item`` consecutive rows (crops). Differentiable for float tensors."""
    di = info()
    if di.world == 1:
        return x
    if x.is_floating_point() and x.requires_grad:
        full = _AllGather.apply(x)
    else:
        parts = [torch.empty_like(x) for _ in range(di.world)]
        dist.all_gather(parts, x.contiguous())
        full = torch.cat(parts)
    b = x.shape[0] // per_item
    return full.reshape(di.world, b, per_item, *x.shape[1:]).transpose(0, 1).reshape(-1, *x.shape[1:])


def gather_rows(local: np.ndarray, n: int) -> np.ndarray:
    """Rows ``rank::world`` of an ``(n, ...)`` array computed on each rank -> the whole array, on
    every rank (no gradient; sizes may differ by one between ranks)."""
    di = info()
    if di.world == 1:
        return local
    longest = (n + di.world - 1) // di.world
    pad = np.zeros((longest, *local.shape[1:]), dtype=local.dtype)
    pad[:len(local)] = local
    t = torch.from_numpy(pad)
    if dist.get_backend() == "nccl" or "nccl" in str(dist.get_backend()):
        t = t.cuda()
    parts = [torch.empty_like(t) for _ in range(di.world)]
    dist.all_gather(parts, t)
    out = np.zeros((n, *local.shape[1:]), dtype=local.dtype)
    for r, p in enumerate(parts):
        rows = np.arange(r, n, di.world)
        out[rows] = p.cpu().numpy()[:len(rows)]
    return out


# --------------------------------------------------------------------------- layers
class GlobalBatchNorm(nn.BatchNorm1d):
    """Batch norm over the global batch of all ranks (two all-reduces per layer, CPU or GPU);
    the same parameters and buffers as ``nn.BatchNorm1d/2d``, so checkpoints load into either."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {input.dim()}D")

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or info().world == 1:
            return super().forward(x)
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        s = all_reduce_sum(torch.cat([x.sum(dim=dims), count]))
        n = s[-1].detach()
        mean = s[:-1] / n
        var = all_reduce_sum((x - mean.reshape(shape)).square().sum(dim=dims)) / n
        if self.track_running_stats and self.running_mean is not None:
            m = self.momentum if self.momentum is not None else 0.1
            with torch.no_grad():
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / max(float(n) - 1, 1.0))
                self.num_batches_tracked.add_(1)
        y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y


@dataclass
class DropoutPlan:
    """What :class:`BatchDropout` layers need for the current step: a ``seed``, the ``step``, the
    global batch's row count and this rank's rows in it (None: ordinary dropout)."""

    seed: int = 0
    step: int = 0
    global_rows: int = 0
    rows: Tensor | None = None

    def set_step(self, step: int, local_rows: int, per_item: int, di: DistInfo) -> None:
        """Rank ``r``'s local item j is global item ``j*world + r``; each spans ``per_item`` rows."""
        b = local_rows // per_item
        items = torch.arange(b) * di.world + di.rank
        self.rows = (items[:, None] * per_item + torch.arange(per_item)).reshape(-1)
        self.step, self.global_rows = int(step), b * di.world * per_item


class BatchDropout(nn.Dropout):
    """Dropout whose mask is drawn for the whole global batch from a generator seeded by
    (seed, step, layer), then cut to this rank's rows: the same masks on 1 or N processes."""

    def __init__(self, p: float, plan: DropoutPlan, layer: int) -> None:
        super().__init__(p)
        self.plan, self.layer = plan, int(layer)

    def forward(self, x: Tensor) -> Tensor:
        plan = self.plan
        if not self.training or self.p == 0 or plan.rows is None or len(plan.rows) != x.shape[0]:
            return super().forward(x)
        gen = torch.Generator(device=x.device)
        gen.manual_seed((plan.seed * 1_000_003 + plan.step * 1009 + self.layer) % (2**63))
        keep = torch.rand((plan.global_rows, *x.shape[1:]), generator=gen, device=x.device) >= self.p
        mask = keep[plan.rows.to(x.device)]
        return x * mask.to(x.dtype) / (1.0 - self.p)


def _replace(module: nn.Module, make: Any) -> int:
    count = 0
    for name, child in list(module.named_children()):
        new = make(child)
        if new is not None:
            setattr(module, name, new)
            count += 1
        else:
            count += _replace(child, make)
    return count


def prepare_net(net: nn.Module, di: DistInfo, seed: int) -> DropoutPlan:
    """In place: seeded global-batch dropout (always, so 1 and N processes match) and, on several
    processes, global batch norm. Returns the plan the training loop updates before each step."""
    plan = DropoutPlan(seed=int(seed))
    layers = iter(range(1_000_000))

    def dropout(m: nn.Module) -> nn.Module | None:
        if type(m) is nn.Dropout:
            return BatchDropout(m.p, plan, next(layers))
        return None
    _replace(net, dropout)
    if di.world > 1:
        def batchnorm(m: nn.Module) -> nn.Module | None:
            if type(m) in (nn.BatchNorm1d, nn.BatchNorm2d):
                new = GlobalBatchNorm(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
                new.load_state_dict(m.state_dict())
                return new.to(next(m.buffers()).device) if list(m.buffers()) else new
            return None
        _replace(net, batchnorm)
    return plan


def wrap_ddp(net: nn.Module, device: torch.device, di: DistInfo) -> nn.Module:
    """``DistributedDataParallel(net)`` on several processes, ``net`` itself on one."""
    if di.world == 1:
        return net
    from torch.nn.parallel import DistributedDataParallel
    ids = [device.index] if device.type == "cuda" else None
    # buffers (batch-norm running stats) stay equal by construction: GlobalBatchNorm uses global stats
    return DistributedDataParallel(net, device_ids=ids, forward_sync_buffers=False)


def sampler_for(n: int, seed: int, di: DistInfo) -> Any:
    """The seeded shuffling sampler of one rank (the same permutation on every rank)."""
    from torch.utils.data import DistributedSampler
    return DistributedSampler(range(n), num_replicas=di.world, rank=di.rank, shuffle=True, seed=int(seed),
                              drop_last=n >= di.world)


class RankBatches:
    """Rank ``r``'s items ``r::world`` of every batch of another batch sampler (batches are cut to
    a multiple of ``world`` so every rank has the same share)."""

    def __init__(self, batches: Any, di: DistInfo) -> None:
        self.batches, self.di = batches, di

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Any:
        w = self.di.world
        for b in self.batches:
            b = list(b)[:len(b) - len(b) % w]
            yield b[self.di.rank::w]


def check_batch(batch_size: int, di: DistInfo) -> int:
    """This rank's share of the global ``batch_size`` (which must divide evenly)."""
    if batch_size % di.world:
        raise ValueError(f"batch_size {batch_size} must be a multiple of the {di.world} processes "
                         "(it is the global batch, split evenly between them)")
    return batch_size // di.world


def shard(items: Sequence[Any], di: DistInfo) -> list[Any]:
    """This rank's items ``rank::world``."""
    return list(items)[di.rank::di.world]


__all__ = ["DistInfo", "info", "init_from_env", "shutdown", "barrier", "broadcast_object", "any_rank",
           "stable_part", "all_reduce_sum", "gather_batch", "gather_rows", "GlobalBatchNorm",
           "DropoutPlan", "BatchDropout", "prepare_net", "wrap_ddp", "sampler_for", "RankBatches",
           "check_batch", "shard", "device_for"]
