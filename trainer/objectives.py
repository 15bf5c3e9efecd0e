"""Training objectives: MSE to the factors (vdO eq. 4), the WMF weighted prediction error
(vdO eq. 5), and an optional metric-learning term on the batch's neighbourhood structure.

    >>> obj = Objective("mse", similarity_weight=0.5)
    >>> loss, parts = obj(pred, target, items)       # pred, target (b, f); items (b,) int
    >>> parts                                         # {"mse": ..., "similarity": ...}

Two optional metric-learning terms (Dieleman 2014 names DrLIM-style metric learning as the next
step). The similarity term is a soft
contrastive loss: for each window in the batch, the softmax over its cosine similarities to the
other songs' windows should match the softmax over the *collaborative-filtering* similarities of
their target factors, so songs that share listeners are pulled together. It uses no labels
beyond the usage data the factors come from. The instance term is self-supervised: crops of one
song should be nearer to each other than to other songs (multiple-crop augmentation). A third,
the group term, is supervised by metadata of the MSD (a track's artist, or its top Last.fm tag):
songs of one group together, as in artist- or tag-label representation learning.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor

OBJECTIVES = ("mse", "wpe")
_NEG = -1e9


def mse_loss(pred: Tensor, target: Tensor) -> Tensor:
    """vdO eq. 4: mean over the batch of ``||y_i - y'_i||^2``; pred, target (b, f)."""
    return (pred - target).square().sum(dim=1).mean()


@dataclass
class WPEData:
    """What eq. 5 needs for the training items: user factors ``x`` (n_users, f), their Gram matrix
    ``x^T x`` (f, f) and, per item (CSC columns), the users who played it and their confidence
    ``c_ui = 1 + alpha*log(1 + r/eps)``."""

    gram: Tensor
    user_factors: Tensor
    indptr: np.ndarray
    users: np.ndarray
    conf: np.ndarray

    @classmethod
    def build(cls, user_factors: np.ndarray, confidence: sp.spmatrix, device: torch.device | str = "cpu") -> WPEData:
        """``confidence`` (n_users, n_items) holds c_ui on played pairs, columns aligned with the items."""
        x = torch.as_tensor(np.asarray(user_factors, dtype=np.float32), device=device)
        csc = sp.csc_matrix(confidence, dtype=np.float32)
        csc.sort_indices()
        return cls(x.T @ x, x, csc.indptr.astype(np.int64), csc.indices.astype(np.int64),
                   csc.data.astype(np.float32))

    def to(self, device: torch.device | str) -> WPEData:
        return WPEData(self.gram.to(device), self.user_factors.to(device), self.indptr, self.users, self.conf)


def wpe_loss(pred: Tensor, items: Tensor, data: WPEData) -> Tensor:
    """vdO eq. 5 per item, averaged over the batch and divided by the number of users:
    ``sum_u c_ui (p_ui - x_u . y'_i)^2`` with p_ui = 1 on played pairs, c_ui = 1 elsewhere.

    Computed as ``y'^T (X^T X) y'`` (every user, p = 0, c = 1) plus, over the played pairs only,
    ``c (1 - s)^2 - s^2`` with ``s = x_u . y'_i``: the implicit-ALS trick, so cost scales with
    plays, not users x items.
    """
    n_users = data.user_factors.shape[0]
    base = ((pred @ data.gram) * pred).sum(dim=1)                    # (b,)
    idx = items.detach().cpu().numpy()
    starts, ends = data.indptr[idx], data.indptr[idx + 1]
    counts = ends - starts
    if counts.sum() > 0:
        flat = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
        users = torch.as_tensor(data.users[flat], device=pred.device)
        conf = torch.as_tensor(data.conf[flat], device=pred.device)
        owner = torch.as_tensor(np.repeat(np.arange(len(idx)), counts), device=pred.device)
        s = (data.user_factors[users] * pred[owner]).sum(dim=1)
        played = conf * (1.0 - s).square() - s.square()
        base = base.index_add(0, owner, played.to(base.dtype))
    return base.mean() / n_users


def similarity_loss(pred: Tensor, target: Tensor, items: Tensor | None = None, tau: float = 0.1,
                    target_tau: float = 0.1) -> Tensor:
    """Soft in-batch contrastive term: cross-entropy from softmax(cos(target_i, target_j)/target_tau)
    to softmax(cos(pred_i, pred_j)/tau) over the other windows j, averaged over rows; pred, target
    (b, f). Pairs of windows of the same item (``items`` (b,)) are left out: the term is about
    which *other* songs are near, the regression already pulls a song's crops to one target."""
    b = pred.shape[0]
    if b < 2:
        return pred.new_zeros(())
    p, t = F.normalize(pred.float(), dim=1), F.normalize(target.float(), dim=1)
    if items is None:
        items = torch.arange(b)
    items = items.to(pred.device)
    same = items[:, None] == items[None, :]
    keep = ~same.all(dim=1)                                          # rows with at least one other song
    log_q = F.log_softmax((p @ p.T / tau).masked_fill(same, _NEG), dim=1)
    w = F.softmax((t @ t.T / target_tau).masked_fill(same, _NEG), dim=1)
    rows = -(w * log_q.masked_fill(same, 0.0)).sum(dim=1)
    return rows[keep].mean() if keep.any() else pred.new_zeros(())


def instance_loss(pred: Tensor, items: Tensor, tau: float = 0.1) -> Tensor:
    """Contrastive term over crops (NT-Xent, as in SimCLR/COLA): each window should be nearer to the
    other crops of its own song than to any other window of the batch; pred (b, f), items (b,).
    Rows whose song has a single crop in the batch are skipped."""
    b = pred.shape[0]
    p = F.normalize(pred.float(), dim=1)
    items = items.to(pred.device)
    eye = torch.eye(b, dtype=torch.bool, device=pred.device)
    pos = (items[:, None] == items[None, :]) & ~eye
    keep = pos.any(dim=1)
    if not keep.any():
        return pred.new_zeros(())
    logits = (p @ p.T / tau).masked_fill(eye, _NEG)
    log_all = torch.logsumexp(logits, dim=1)
    log_pos = torch.logsumexp(logits.masked_fill(~pos, _NEG), dim=1)
    return (log_all - log_pos)[keep].mean()


def group_loss(pred: Tensor, items: Tensor, groups: Tensor, tau: float = 0.1) -> Tensor:
    """Supervised contrastive term (SupCon) with metadata groups, e.g. the artist of each song:
    each window should be nearer to windows of *other* songs of its group than to other groups'
    windows; pairs of windows of the same song are left out. pred (b, f); items, groups (b,)."""
    p = F.normalize(pred.float(), dim=1)
    items, groups = items.to(pred.device), groups.to(pred.device)
    same_item = items[:, None] == items[None, :]
    pos = (groups[:, None] == groups[None, :]) & ~same_item
    keep = pos.any(dim=1)
    if not keep.any():
        return pred.new_zeros(())
    log_q = F.log_softmax((p @ p.T / tau).masked_fill(same_item, _NEG), dim=1)
    per_row = -(log_q * pos).sum(dim=1) / pos.sum(dim=1).clamp(min=1)
    return per_row[keep].mean()


@dataclass
class Objective:
    """``kind`` "mse" (targets as given, unit length by default) or "wpe" (needs ``wpe`` data),
    plus ``similarity_weight`` x :func:`similarity_loss`, ``instance_weight`` x :func:`instance_loss`
    and ``group_weight`` x :func:`group_loss`."""

    kind: str = "mse"
    similarity_weight: float = 0.0
    similarity_tau: float = 0.1
    target_tau: float = 0.1
    instance_weight: float = 0.0
    group_weight: float = 0.0
    wpe: WPEData | None = None

    def __post_init__(self) -> None:
        if self.kind not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.kind!r}; expected one of {', '.join(OBJECTIVES)}")
        if self.kind == "wpe" and self.wpe is None:
            raise ValueError("the WPE objective needs user factors and confidences (WPEData)")

    def __call__(self, pred: Tensor, target: Tensor, items: Tensor,
                 groups: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        """``(loss, parts)`` for predictions ``pred`` (b, f) of items ``items`` (b,) with targets (b, f)
        and, for the group term, group ids ``groups`` (b,)."""
        pred = pred.float()
        main = mse_loss(pred, target) if self.kind == "mse" else wpe_loss(pred, items, self.wpe)
        parts = {self.kind: float(main.detach())}
        loss = main
        if self.similarity_weight > 0:
            sim = similarity_loss(pred, target, items, self.similarity_tau, self.target_tau)
            parts["similarity"] = float(sim.detach())
            loss = loss + self.similarity_weight * sim
        if self.instance_weight > 0:
            inst = instance_loss(pred, items, self.similarity_tau)
            parts["instance"] = float(inst.detach())
            loss = loss + self.instance_weight * inst
        if self.group_weight > 0 and groups is not None:
            grp = group_loss(pred, items, groups, self.similarity_tau)
            parts["group"] = float(grp.detach())
            loss = loss + self.group_weight * grp
        return loss, parts
