"""Training objectives: MSE to the factors (vdO eq. 4), the WMF weighted prediction error
(vdO eq. 5), and an optional metric-learning term on the batch's neighbourhood structure.

    >>> obj = Objective("mse", similarity_weight=0.5)
    >>> loss, parts = obj(pred, target, items)       # pred, target (b, f); items (b,) int
    >>> parts                                         # {"mse": ..., "similarity": ...}

The metric term (Dieleman 2014 names DrLIM-style metric learning as the next step) is a soft
contrastive loss: for each window in the batch, the softmax over its cosine similarities to the
other windows should match the softmax over the *collaborative-filtering* similarities of their
target factors. Crops of the same track have identical targets, so they are each other's
strongest positives. It uses no labels beyond the usage data the factors come from.
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


def similarity_loss(pred: Tensor, target: Tensor, tau: float = 0.1, target_tau: float = 0.05) -> Tensor:
    """Soft in-batch contrastive term: cross-entropy from softmax(cos(target_i, target_j)/target_tau)
    to softmax(cos(pred_i, pred_j)/tau) over j != i, averaged over rows; pred, target (b, f)."""
    b = pred.shape[0]
    if b < 2:
        return pred.new_zeros(())
    p, t = F.normalize(pred.float(), dim=1), F.normalize(target.float(), dim=1)
    eye = torch.eye(b, dtype=torch.bool, device=pred.device)
    log_q = F.log_softmax((p @ p.T / tau).masked_fill(eye, _NEG), dim=1)
    w = F.softmax((t @ t.T / target_tau).masked_fill(eye, _NEG), dim=1)
    return -(w * log_q.masked_fill(eye, 0.0)).sum(dim=1).mean()


@dataclass
class Objective:
    """``kind`` "mse" (targets as given, unit length by default) or "wpe" (needs ``wpe`` data),
    plus ``similarity_weight`` times :func:`similarity_loss`."""

    kind: str = "mse"
    similarity_weight: float = 0.0
    similarity_tau: float = 0.1
    target_tau: float = 0.05
    wpe: WPEData | None = None

    def __post_init__(self) -> None:
        if self.kind not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.kind!r}; expected one of {', '.join(OBJECTIVES)}")
        if self.kind == "wpe" and self.wpe is None:
            raise ValueError("the WPE objective needs user factors and confidences (WPEData)")

    def __call__(self, pred: Tensor, target: Tensor, items: Tensor) -> tuple[Tensor, dict[str, float]]:
        """``(loss, parts)`` for predictions ``pred`` (b, f) of items ``items`` (b,) with targets (b, f)."""
        pred = pred.float()
        main = mse_loss(pred, target) if self.kind == "mse" else wpe_loss(pred, items, self.wpe)
        parts = {self.kind: float(main.detach())}
        loss = main
        if self.similarity_weight > 0:
            sim = similarity_loss(pred, target, self.similarity_tau, self.target_tau)
            parts["similarity"] = float(sim.detach())
            loss = loss + self.similarity_weight * sim
        return loss, parts
