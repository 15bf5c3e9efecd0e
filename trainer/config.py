"""Experiment configuration: plain data (dataclasses) read from TOML, copied next to the results.

    >>> cfg = load_config(Path("exp.toml"))
    >>> cfg.wmf.factors, cfg.out_path()

Relative paths in the file are relative to the file's folder; ``~`` and environment variables
(``$CBREC_DEV_CORPUS/library``) in paths are expanded, and an unset variable is an error that
says how to set it. Unknown keys and wrong types are errors (:class:`ConfigError`) that name the
key and the file. See :func:`example_toml`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import CbrecError

if typing.TYPE_CHECKING:
    from trainer.wmf import WMFParams


class ConfigError(CbrecError):
    """The experiment configuration is missing, unreadable or inconsistent."""


@dataclass
class SimulateConfig:
    """[simulate]: build a simulated world first and read the data from it."""

    enabled: bool = False
    n_users: int = 100
    seed: int = 0
    audio_library: str = ""          # folder of a labelled library; empty = synthesised audio
    labels_tsv: str = ""             # 'relative_path TAB source TAB duration' lines
    world: dict[str, Any] = field(default_factory=dict)   # WorldParams overrides, e.g. n_songs


@dataclass
class DataConfig:
    """[data]: where the real datasets are (ignored parts are filled in by a simulated world)."""

    source: str = "lfm1b"            # "lfm1b" or "taste_profile"
    lfm1b_dir: str = ""              # LFM-1b_LEs.txt, LFM-1b_tracks.txt, LFM-1b_artists.txt, ...
    msd_dir: str = ""                # unique_tracks.txt, track_metadata.db, lastfm_tags.db
    triplets: str = ""               # Taste Profile train_triplets.txt (source = taste_profile)
    sid_mismatches: str = ""         # optional, Taste Profile only
    lastfm_tags: str = ""            # default: <msd_dir>/lastfm_tags.db when it exists
    audio_root: str = ""             # 7digital clips root (used by part 2)
    clip_template: str = "{d0}/{d1}/{id}.clip.mp3"


@dataclass
class MatchConfig:
    """[match]: LFM-1b ↔ MSD by case-insensitive artist + title (Platt 2017 ch. 3)."""

    merge_duplicates: bool = True    # LFM-1b tracks with the same key share one item (Platt §5.3)


@dataclass
class InteractionsConfig:
    """[interactions]: the users × items play-count matrix."""

    min_items_per_user: int = 1      # users with fewer distinct items are dropped


@dataclass
class WMFConfig:
    """[wmf]: weighted matrix factorisation, c = 1 + alpha·log(1 + r/epsilon)."""

    factors: int = 40
    alpha: float = 2.0
    epsilon: float = 1e-6
    regularization: float = 10.0
    iterations: int = 15
    seed: int = 0
    use_gpu: str = "auto"            # "auto", "yes" or "no"

    def params(self) -> WMFParams:
        """These settings as :class:`trainer.wmf.WMFParams`."""
        from trainer.wmf import WMFParams
        gpu = {"auto": None, "yes": True, "no": False}[self.use_gpu]
        return WMFParams(self.factors, self.alpha, self.epsilon, self.regularization, self.iterations, self.seed, gpu)


@dataclass
class SplitConfig:
    """[split]: per-user holdout of plays (WMF as recommender) and cold-start item split (content model)."""

    holdout_fraction: float = 0.2
    min_user_items: int = 5
    cold_start_fraction: float = 0.1
    seed: int = 0


@dataclass
class EvaluateConfig:
    """[evaluate]: ranking cut-off, tag proxy."""

    k: int = 500
    tag_top_n: int = 50
    tag_test_fraction: float = 0.2
    seed: int = 0


@dataclass
class ExperimentConfig:
    """A whole experiment; ``path`` is the TOML file it came from (not part of the file)."""

    name: str = "experiment"
    out_dir: str = "runs/experiment"
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    data: DataConfig = field(default_factory=DataConfig)
    match: MatchConfig = field(default_factory=MatchConfig)
    interactions: InteractionsConfig = field(default_factory=InteractionsConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    wmf: WMFConfig = field(default_factory=WMFConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    path: Path | None = field(default=None, compare=False)
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)   # sections of later stages (part 2)

    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, value: str, key: str = "") -> Path | None:
        """A path from the file, made absolute against the file's folder; None for ''.

        ``~`` and environment variables (``$NAME``, ``${NAME}``) are expanded; an unset variable
        is a ConfigError naming it (``key``, e.g. ``simulate.audio_library``, goes in the hint)."""
        if not value:
            return None
        expanded = os.path.expandvars(value)
        unset = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", expanded)
        if unset:
            hint = f" or pass --set {key}=PATH" if key else ""
            raise ConfigError(f"{self.path or 'the configuration'}: the path {value!r} uses the environment variable "
                              f"{unset[0]}, which is not set. Set it (`export {unset[0]}=/path/to/it`){hint}.")
        p = Path(expanded).expanduser()
        return p if p.is_absolute() else (self.base_dir() / p).resolve()

    def out_path(self) -> Path:
        return self.resolve(self.out_dir) or self.base_dir()

    def input_paths(self, world: Path) -> dict[str, Path | None]:
        """Where each input lies: in the simulated ``world`` folder when [simulate] is enabled,
        else where [data] says (``lastfm_tags`` defaults to ``<msd_dir>/lastfm_tags.db`` if present)."""
        if self.simulate.enabled:
            return {"lfm1b_dir": world / "lfm1b", "msd_dir": world / "msd", "triplets": world / "msd" / "train_triplets.txt",
                    "sid_mismatches": None, "lastfm_tags": world / "msd" / "lastfm_tags.db",
                    "audio_root": world / "audio", "world": world}
        d = self.data
        msd = self.resolve(d.msd_dir)
        default_tags = msd / "lastfm_tags.db" if msd and (msd / "lastfm_tags.db").exists() else None
        return {"lfm1b_dir": self.resolve(d.lfm1b_dir), "msd_dir": msd, "triplets": self.resolve(d.triplets),
                "sid_mismatches": self.resolve(d.sid_mismatches), "lastfm_tags": self.resolve(d.lastfm_tags) or default_tags,
                "audio_root": self.resolve(d.audio_root), "world": None}

    def section(self, name: str) -> dict[str, Any]:
        """One section as plain data (for hashing and for the copy next to the results)."""
        if name in self.extra or name in EXTRA_SECTIONS:
            return dict(self.extra.get(name, {}))
        value = getattr(self, name)
        return asdict(value) if dataclasses.is_dataclass(value) else {"value": value}

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: self.section(f.name) if dataclasses.is_dataclass(getattr(self, f.name)) else getattr(self, f.name)
             for f in dataclasses.fields(self) if f.name not in ("path", "extra")}
        return {**d, **self.extra}


SECTIONS = {"simulate": SimulateConfig, "data": DataConfig, "match": MatchConfig,
            "interactions": InteractionsConfig, "split": SplitConfig, "wmf": WMFConfig, "evaluate": EvaluateConfig}
EXTRA_SECTIONS: set[str] = set()
"""Names of sections that later stages (part 2: features, fit, ...) read themselves; register here."""


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        for h in typing.get_args(hint):
            try:
                return _check_type(value, h, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a {hint}")
    if isinstance(hint, type) and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        raise ConfigError(f"{where} must be {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name not in ("path", "extra")}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in {where}; known keys: {sorted(known)}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}] must be a table in {where}")
            values[name] = _build(hint, value, f"[{name}]")
        else:
            values[name] = _check_type(value, hint, f"{where} key '{name}'")
    return cls(**values)


def config_from_dict(data: dict[str, Any], path: Path | None = None) -> ExperimentConfig:
    """Build and validate an :class:`ExperimentConfig` from parsed TOML."""
    extra = {k: v for k, v in data.items() if k in EXTRA_SECTIONS}
    core = {k: v for k, v in data.items() if k not in EXTRA_SECTIONS}
    where = str(path) if path else "the configuration"
    try:
        cfg = _build(ExperimentConfig, core, where)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path and str(path) not in str(exc) else str(exc)) from None
    cfg.path, cfg.extra = path, extra
    validate(cfg)
    return cfg


def validate(cfg: ExperimentConfig) -> None:
    """Cross-field checks, each with a message that says what to change."""
    where = cfg.path or "config"
    if cfg.data.source not in ("lfm1b", "taste_profile"):
        raise ConfigError(f"{where}: [data] source must be 'lfm1b' or 'taste_profile', not {cfg.data.source!r}")
    if cfg.wmf.use_gpu not in ("auto", "yes", "no"):
        raise ConfigError(f"{where}: [wmf] use_gpu must be 'auto', 'yes' or 'no'")
    if cfg.wmf.factors < 1 or cfg.wmf.iterations < 1 or cfg.wmf.epsilon <= 0 or cfg.wmf.alpha < 0:
        raise ConfigError(f"{where}: [wmf] needs factors >= 1, iterations >= 1, epsilon > 0, alpha >= 0")
    for section, key in (("split", "holdout_fraction"), ("split", "cold_start_fraction"),
                         ("evaluate", "tag_test_fraction")):
        if not 0.0 < getattr(getattr(cfg, section), key) < 1.0:
            raise ConfigError(f"{where}: [{section}] {key} must be between 0 and 1")
    if not cfg.simulate.enabled:
        needed = ("lfm1b_dir", "msd_dir") if cfg.data.source == "lfm1b" else ("triplets",)
        missing = [k for k in needed if not getattr(cfg.data, k)]
        if missing:
            raise ConfigError(f"{where}: [data] needs {', '.join(missing)} (or set [simulate] enabled = true)")
    if cfg.simulate.enabled:  # an unset $VARIABLE in a path is reported now, not when the stage runs
        for key in ("audio_library", "labels_tsv"):
            cfg.resolve(getattr(cfg.simulate, key), f"simulate.{key}")
    if cfg.simulate.world:
        from trainer.data.simulate import WorldParams
        unknown = set(cfg.simulate.world) - {f.name for f in dataclasses.fields(WorldParams)}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} in [simulate.world]")


def load_config(path: Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a TOML experiment file; ``overrides`` are ``section.key=value`` (value in TOML syntax)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; write one with `cbrec-train init {path.name}`")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    for item in overrides or []:
        _apply_override(data, item)
    return config_from_dict(data, path)


def _apply_override(data: dict[str, Any], item: str) -> None:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects section.key=value, got {item!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()                      # a bare word: take it as a string
    *sections, last = key.strip().split(".")
    node = data
    for s in sections:
        node = node.setdefault(s, {})
    node[last] = value


def dump_resolved(cfg: ExperimentConfig) -> str:
    """The configuration as JSON, all defaults included (written next to the results)."""
    return json.dumps({"source": str(cfg.path) if cfg.path else None, **cfg.to_dict()}, indent=2, sort_keys=True)


def example_toml(simulate: bool = True) -> str:
    """A commented starting point for ``cbrec-train init``: every stage from the data to an exported model.

    The simulated template is sized to train and export a model in about a minute on two CPU
    cores (60 synthesised 10-second songs, 200 listeners, a few epochs): a working example, not
    a useful model; the real-data template keeps the papers' settings."""
    sim = ('[simulate]                   # a simulated world in the real datasets\' formats\n'
           'enabled = true\nn_users = 200\nseed = 0\n'
           '# audio_library = "$CBREC_DEV_CORPUS/library"   # a labelled music library (default: synthesised audio)\n'
           '# labels_tsv = "$CBREC_DEV_CORPUS/labels.tsv"\n'
           '[simulate.world]\nn_songs = 60\nclip_seconds = 10.0\n\n')
    data = ('[data]\nsource = "lfm1b"            # or "taste_profile"\n'
            f'{"# " if simulate else ""}lfm1b_dir = "/data/LFM-1b"\n'
            f'{"# " if simulate else ""}msd_dir = "/data/MSD/AdditionalFiles"\n'
            f'{"# " if simulate else ""}audio_root = "/data/MSD/7digital"\n\n')
    clip, epochs = ("10.0", 6) if simulate else ("30.0", 30)
    train = (f'[features]                   # log-mel excerpts of every clip\nclip_seconds = {clip}\nworkers = 2\n\n'
             '[fit]                        # the CNN that predicts the WMF factors from audio (trainer.fit.FitSettings)\n'
             f'architecture = "dieleman2014"\nobjective = "mse"\nepochs = {epochs}\nbatch_size = 16\nthreads = 2\n\n'
             '# [export]                   # `run` ends by writing the model to <out_dir>/model/<name>.pt\n'
             '# name = "my-model"          # default: the experiment\'s name\n')
    return (f'# cbrec-train experiment; relative paths are relative to this file.\nname = "experiment"\n'
            f'out_dir = "runs/experiment"\n\n{sim if simulate else ""}{data}'
            '[match]\nmerge_duplicates = true\n\n'
            '[wmf]\nfactors = 40\nalpha = 2.0\nepsilon = 1e-6\nregularization = 10.0\niterations = 15\nseed = 0\n'
            'use_gpu = "auto"\n\n'
            '[split]\nholdout_fraction = 0.2\nmin_user_items = 5\ncold_start_fraction = 0.1\nseed = 0\n\n'
            f'[evaluate]\nk = 500\ntag_top_n = 50\n\n{train}')
