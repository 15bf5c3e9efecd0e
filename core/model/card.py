"""Model cards and model files without torch: what a model is, where its files are, its version.

Everything here is plain JSON and hashing, so opening a library (and listing its tracks) does not
pay for importing torch; the network itself is loaded by :mod:`core.model.checkpoint` when a
track is first analysed.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.resources
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ModelError

#: Card fields that change what a vector means; hashed into ``analysis_version``.
AUDIO_FIELDS = ("architecture", "params", "sample_rate", "frontend", "window_seconds", "n_windows", "output_dim")
_REQUIRED = {"name": str, "architecture": str, "params": dict, "sample_rate": int, "frontend": dict,
             "window_seconds": (int, float), "n_windows": int, "output_dim": int}


@dataclass
class ModelCard:
    """What a model is: architecture and hyper-parameters, audio geometry, provenance, version.

    ``sample_rate`` in Hz; ``window_seconds`` is the length of one excerpt window, ``n_windows``
    how many windows of a track are embedded and averaged; ``output_dim`` the vector length.
    ``trained_on`` / ``metrics`` / ``training`` are free-form provenance (e.g. ``training =
    {"device": "cuda", "seconds": 812.0, "epochs": 30}``). ``created`` (ISO 8601, UTC) and
    ``analysis_version`` (16 hex digits) are filled in by :func:`save_model`. ``tags`` names the
    outputs of the network's tag head (``ContentNet.tag_head``), when it has one.
    """

    name: str
    architecture: str
    params: dict
    sample_rate: int
    frontend: dict
    window_seconds: float
    n_windows: int
    output_dim: int
    trained_on: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    #: Names of the tag scores the model predicts (e.g. musicnn's 50 Last.fm tags), in the order of
    #: its tag head's outputs; empty for a model without tags.
    tags: list = field(default_factory=list)
    created: str = ""
    analysis_version: str = ""

    @property
    def window_samples(self) -> int:
        """Samples in one window: ``round(window_seconds * sample_rate)``."""
        return int(round(self.window_seconds * self.sample_rate))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (a deep copy)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        """Validate and build; unknown keys are ignored (newer cards), bad ones raise ModelError."""
        if not isinstance(d, dict):
            raise ModelError("The model card is not a JSON object.")
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise ModelError(f"The model card lacks the field(s) {', '.join(missing)}.")
        for key, kind in _REQUIRED.items():
            if not isinstance(d[key], kind) or isinstance(d[key], bool):
                raise ModelError(f"The model card field {key!r} has the wrong type ({type(d[key]).__name__}).")
        if d["sample_rate"] <= 0 or d["window_seconds"] <= 0 or d["n_windows"] < 1 or d["output_dim"] < 1:
            raise ModelError("The model card has a non-positive sample_rate, window_seconds, n_windows or output_dim.")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["window_seconds"] = float(values["window_seconds"])
        return cls(**values)

    @classmethod
    def from_config(cls, name: str, architecture: str, config: dict[str, Any], **extra: Any) -> ModelCard:
        """A card from an architecture's ``default_config()``-shaped dict (params completed with
        the architecture's defaults); ``extra`` sets provenance fields such as ``trained_on``."""
        from core.model.checkpoint import check_card  # needs torch: the architectures
        from core.model.nets import ARCHITECTURES, build_net
        from core.model.nets_base import resolve_params

        if architecture not in ARCHITECTURES:
            build_net(architecture, {})  # raises the unknown-architecture ModelError
        params = copy.deepcopy(resolve_params(ARCHITECTURES[architecture], config.get("params", {})))
        card = cls(name=name, architecture=architecture, params=params,
                   sample_rate=int(config["sample_rate"]), frontend=copy.deepcopy(config["frontend"]),
                   window_seconds=float(config["window_seconds"]), n_windows=int(config["n_windows"]),
                   output_dim=int(params["output_dim"]), **extra)
        check_card(card)
        return card


def analysis_version(weights: bytes, card: ModelCard) -> str:
    """First 16 hex digits of sha256(weights bytes + canonical JSON of the card's audio fields)."""
    audio = {k: getattr(card, k) for k in AUDIO_FIELDS}
    canonical = json.dumps(audio, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(weights + canonical.encode("ascii")).hexdigest()[:16]


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """``(<stem>.pt, <stem>.json)`` for a path given as the .pt, the .json or the stem."""
    p = Path(path).expanduser()
    stem = p.with_suffix("") if p.suffix in (".pt", ".json") else p
    return stem.parent / f"{stem.name}.pt", stem.parent / f"{stem.name}.json"


def read_card(json_path: Path) -> ModelCard:
    """Parse and validate a card file; every problem is a ModelError naming the file."""
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"The model card {json_path} does not exist. A model is a <name>.pt file "
                         "next to a <name>.json card; check the path or re-export the model.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"The model card {json_path} cannot be read ({exc}). "
                         "Restore the file or re-export the model.") from exc
    try:
        return ModelCard.from_dict(data)
    except ModelError as exc:
        raise ModelError(f"The model card {json_path} is invalid: {exc} Re-export the model.") from exc


def read_weight_bytes(pt_path: Path) -> bytes:
    """The bytes of a weights file; a missing or unreadable one is a ModelError saying what to do."""
    try:
        return pt_path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"The model weights {pt_path} do not exist; the card next to it has no weights. "
                         "Copy the .pt file beside the .json card or re-export the model.") from None
    except OSError as exc:
        raise ModelError(f"The model weights {pt_path} cannot be read ({exc}).") from exc


def verify_model_files(path: str | Path) -> ModelCard:
    """The card of the model at ``path``, after checking that its weights are the ones it describes.

    Hashes the ``.pt`` bytes with the card's audio fields (no torch needed), so a missing, swapped
    or modified weights file is found when a library opens, not in the middle of a scan.
    """
    pt_path, json_path = model_paths(path)
    card = read_card(json_path)
    if not card.analysis_version:
        raise ModelError(f"The model card {json_path} has no analysis_version; re-save the model with cbrec.")
    actual = analysis_version(read_weight_bytes(pt_path), card)
    if actual != card.analysis_version:
        raise ModelError(f"The model {pt_path} was changed after it was saved: its content hash is {actual} "
                         f"but the card says {card.analysis_version}. Re-export the model (or restore "
                         "the original files).")
    return card


#: Bundled models by the name a user picks (settings, ``--model``): "fast" is the default.
BUNDLED_MODELS = {"fast": "default", "best": "best"}


def bundled_model_path(name: str = "default") -> Path | None:
    """A bundled model's card (``cbrec_resources/models/<name>.json``), or None if it is not bundled."""
    candidates: list[Path] = []
    try:
        found = importlib.resources.files("cbrec_resources") / "models" / f"{name}.json"
        if isinstance(found, Path):
            candidates.append(found)
    except ModuleNotFoundError:
        pass
    candidates.append(Path(__file__).resolve().parents[2] / "resources" / "models" / f"{name}.json")
    return next((p for p in candidates if p.is_file()), None)


def default_model_path() -> Path | None:
    """The bundled default model's card (``cbrec_resources/models/default.json``), or None."""
    return bundled_model_path("default")
