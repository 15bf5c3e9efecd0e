"""Model files: ``<name>.pt`` (state dict) + ``<name>.json`` (model card), saved and loaded safely.

The card's ``analysis_version`` is a content hash of the weights and of every card field that
changes what a track's vector is. Vectors and indexes are keyed by it, so a new model means
re-analysis, never silently mixed vectors.

    >>> card = ModelCard.from_config("mine", "dieleman2014", Dieleman2014.default_config())
    >>> card = save_model(build_net(card.architecture, card.params), card, "models/mine")
    >>> embedder = load_model("models/mine.pt", device="cpu")
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import json
import logging
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.errors import ModelError
from core.fileio import write_atomic
from core.model.card import (
    ModelCard,
    analysis_version,
    model_paths,
    read_card,
    read_weight_bytes,
)
from core.model.nets import ARCHITECTURES, ContentNet, build_net
from core.model.nets_base import resolve_params

if TYPE_CHECKING:
    from core.model.embedder import Embedder

log = logging.getLogger(__name__)

def check_card(card: ModelCard) -> None:
    """Raise ModelError when the card contradicts itself (frontend vs architecture, output size)."""
    cls = ARCHITECTURES.get(card.architecture)
    if cls is None:
        build_net(card.architecture, {})  # raises the unknown-architecture ModelError
        return
    kind = card.frontend.get("kind")
    if kind != cls.input_kind:
        raise ModelError(f"Architecture {card.architecture!r} reads {cls.input_kind!r} input, "
                         f"but the card's frontend is {kind!r}.")
    params = resolve_params(cls, card.params)
    if params["output_dim"] != card.output_dim:
        raise ModelError(f"The card's output_dim is {card.output_dim} but its params say {params['output_dim']}.")
    if kind == "logmel" and card.frontend.get("n_mels", 128) != params.get("n_mels"):
        raise ModelError(f"The card's frontend has {card.frontend.get('n_mels', 128)} mel bands "
                         f"but the network expects {params.get('n_mels')}.")


def save_model(net: ContentNet, card: ModelCard, path: str | Path) -> ModelCard:
    """Write ``<stem>.pt`` (CPU state dict) and ``<stem>.json`` (card), each atomically.

    ``card.params`` may be partial; it is completed from ``net.params`` and must not contradict
    them. Returns the card as written, with ``created`` and ``analysis_version`` filled in.
    """
    pt_path, json_path = model_paths(path)
    if card.architecture != net.architecture:
        raise ModelError(f"Cannot save a {net.architecture!r} network under a card for {card.architecture!r}.")
    clash = sorted(k for k, v in card.params.items() if net.params.get(k) != v)
    if clash:
        raise ModelError(f"The card's params disagree with the network's for {', '.join(clash)}.")
    created = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    card = dataclasses.replace(card, params=dict(net.params), name=card.name or pt_path.stem, created=created)
    check_card(card)
    n_heads = 0 if net.tag_head is None else net.tag_head.out_features
    if n_heads != len(card.tags):
        raise ModelError(f"The card names {len(card.tags)} tag(s) but the network's tag head has {n_heads} outputs.")
    try:  # normalise through JSON so the hash is computed on exactly what load_model will read
        card = ModelCard.from_dict(json.loads(json.dumps(card.to_dict())))
    except TypeError as exc:
        raise ModelError(f"The model card for {pt_path} holds a value JSON cannot store: {exc}.") from exc
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in net.state_dict().items()}, buffer)
    weights = buffer.getvalue()
    card.analysis_version = analysis_version(weights, card)
    pt_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(pt_path, weights)
    write_atomic(json_path, (json.dumps(card.to_dict(), indent=2) + "\n").encode("utf-8"))
    log.info("saved model %s (%s, version %s) to %s", card.name, card.architecture, card.analysis_version, pt_path)
    return card


def _read_weights(pt_path: Path) -> tuple[bytes, dict[str, torch.Tensor]]:
    """The raw bytes of a weights file and its state dict, loaded with ``weights_only=True``."""
    data = read_weight_bytes(pt_path)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():  # weights_only met a class or function it will not import
            raise ModelError(f"The model weights {pt_path} contain Python objects, not only tensors; cbrec "
                             "refuses to load them because such files can run code. Use a model saved "
                             "by cbrec.") from exc
        raise ModelError(f"The model weights {pt_path} are damaged or not a PyTorch file of plain tensors "
                         "(cbrec only loads those). Re-download or re-export the model.") from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError, zip errors... for damaged files
        raise ModelError(f"The model weights {pt_path} are damaged or not a PyTorch file "
                         f"({type(exc).__name__}). Re-download or re-export the model.") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"The model weights {pt_path} are not a state dict of tensors. Use a model saved by cbrec.")
    return data, state


def _short(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."


def load_net(path: str | Path) -> tuple[ContentNet, ModelCard]:
    """The verified network (CPU, eval mode) and card of a saved model; see :func:`load_model`."""
    pt_path, json_path = model_paths(path)
    card = read_card(json_path)
    try:
        check_card(card)
        net = build_net(card.architecture, card.params)
    except ModelError as exc:
        raise ModelError(f"The model card {json_path} cannot be used: {exc}") from exc
    if card.tags:
        net.attach_tag_head(len(card.tags))
    data, state = _read_weights(pt_path)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"The weights in {pt_path} do not match the architecture its card describes "
                         f"({card.architecture}): {_short(exc)} Re-export the model so card and "
                         "weights belong together.") from exc
    if not card.analysis_version:
        raise ModelError(f"The model card {json_path} has no analysis_version; re-save the model with cbrec.")
    actual = analysis_version(data, card)
    if actual != card.analysis_version:
        raise ModelError(f"The model {pt_path} was changed after it was saved: its content hash is {actual} "
                         f"but the card says {card.analysis_version}. Re-export the model (or restore "
                         "the original files).")
    return net.eval(), card


def load_model(path: str | Path, device: str = "auto") -> Embedder:
    """Load, verify and wrap a model for inference.

    ``path`` is the ``.pt``, the ``.json`` or their common stem. Verifies that the weights load
    strictly into the card's architecture, that the content hash matches the card, and that a
    window of the card's geometry runs through the network. Every failure is a ModelError.
    """
    from core.model.embedder import Embedder  # embedder imports this module

    net, card = load_net(path)
    embedder = Embedder(net, card, device)
    try:
        embedder.embed(np.zeros((1, 1, card.window_samples), dtype=np.float32))
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"The model {model_paths(path)[0]} cannot analyse the windows its card describes "
                         f"({card.window_samples} samples at {card.sample_rate} Hz): {_short(exc)}") from exc
    log.info("loaded model %s (%s, version %s) on %s", card.name, card.architecture,
             card.analysis_version, embedder.device)
    return embedder


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``; ``"cuda"``/``"cuda:N"`` (ModelError if absent)."""
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"Device {device!r} was asked for but no CUDA GPU is available; use 'cpu' or 'auto'.")
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise ModelError(f"Device {device!r} is not a valid device name; use 'auto', 'cpu' or 'cuda'.") from exc
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelError(f"Device {device!r} does not exist: only {torch.cuda.device_count()} GPU(s).")
        return dev
    raise ModelError(f"Unknown device {device!r}; use 'auto', 'cpu' or 'cuda'.")
