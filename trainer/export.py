"""``cbrec-train export``: a fit run -> ``<dir>/<name>.pt`` + ``<name>.json`` (the model card).

By default the model goes into the experiment's own folder, ``<out_dir>/model/<experiment name>``
(``cbrec-train run`` puts it there too, as its last stage), and an existing model is never
replaced by a different one without ``--force``: exporting the same weights again changes nothing.

The card (DESIGN.md) records the architecture and its parameters, the audio geometry, the
output dimension, what the model was trained on (world, sources, licences, item counts), its
measured metrics (the reproduction table row, validation loss, plus any JSON given with
``--metrics``, e.g. from ``benchmarks/quality.py``), how it was trained (device, GPU or CPU,
seconds, epochs, settings), and the analysis version (set by :func:`core.model.save_model`).

    cbrec-train export exp.toml                                   # -> <out_dir>/model/<name>.pt
    cbrec-train export exp.toml --run cnn_mse --name default --dir resources/models --force
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from core.errors import CbrecError
from trainer.config import EXTRA_SECTIONS
from trainer.pipeline import Context, Stage, register

log = logging.getLogger(__name__)

REPO_MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"   # the app's bundled models
EXPORT_KEYS = {"run": "", "name": "", "n_windows": 0, "window_seconds": 0.0}
EXTRA_SECTIONS.add("export")   # [export]: optional settings of the export stage (EXPORT_KEYS)


class ExportError(CbrecError):
    """The model cannot be exported: no fit run, or a different model is in the way."""


def add_export_arguments(p: argparse.ArgumentParser, finished: str) -> None:
    """The options every export command shares: the experiment (``finished``: which stage it needs),
    ``--dir``, ``--force``, ``--metrics`` and the hidden ``--set``."""
    p.add_argument("config", type=Path, help=f"experiment TOML file{finished}")
    p.add_argument("--dir", type=Path, default=None,
                   help="output folder (default: <out_dir>/model, the experiment's own folder)")
    p.add_argument("--force", action="store_true", help="replace a different model already at <dir>/<name>.pt")
    p.add_argument("--metrics", type=Path, action="append", default=[],
                   help="JSON file of extra measured metrics to put on the card (repeatable)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help=argparse.SUPPRESS)


def open_export(args: argparse.Namespace) -> tuple[Context, dict[str, Any], Path]:
    """For an export command: the experiment's context, the extra card metrics read from the
    ``--metrics`` files, and the output folder (``--dir``, else :func:`default_model_dir`)."""
    from trainer.config import load_config
    cfg = load_config(args.config, args.overrides)
    ctx = Context(cfg, cfg.out_path(), show_progress=False)
    extra: dict[str, Any] = {}
    for path in args.metrics:
        extra.update(json.loads(Path(path).read_text(encoding="utf-8")))
    out_dir = Path(args.dir).expanduser() if args.dir else default_model_dir(ctx)
    return ctx, extra, out_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_export_arguments(p, "")
    p.add_argument("--run", help="which [fit.runs] entry to export (default: the first)")
    p.add_argument("--name", default="", help="model name: <dir>/<name>.pt + .json (default: the experiment's name)")
    p.add_argument("--n-windows", type=int, default=0,
                   help="windows per track the app averages (default: the run's); inference only, no retraining")
    p.add_argument("--window-seconds", type=float, default=0.0,
                   help="window length for the app (default: the training window); global-pooling nets accept others")


def run_export(args: argparse.Namespace) -> int:
    """The command: load the config, export, print where the files went (or why nothing was written)."""
    import trainer.train_stages  # noqa: F401 - registers the part-2 sections
    ctx, extra, out_dir = open_export(args)
    check_fitted(ctx)
    name = args.name or ctx.config.name
    card, outcome = export_model_to(ctx, args.run, name, out_dir, extra, args.n_windows, args.window_seconds,
                                    force=args.force)
    print(_outcome_text(out_dir / f"{name}.pt", card.analysis_version, outcome))
    return 0


def default_model_dir(ctx: Context) -> Path:
    """Where an experiment's model goes unless told otherwise: ``<out_dir>/model``."""
    return ctx.out_dir / "model"


def check_fitted(ctx: Context) -> None:
    """Raise ExportError, saying what to do, when the experiment has no finished fit run."""
    from trainer.pipeline import read_marker
    where = ctx.config.path.name if ctx.config.path else "the experiment file"
    cmd = ctx.config.path or "exp.toml"
    if "fit" not in ctx.config.extra:
        raise ExportError(f"{where} trains no network, so there is no model to export: add [features] and [fit] "
                          f"sections (`cbrec-train init NEW.toml` writes a template with both), then "
                          f"`cbrec-train run {cmd}`.")
    if read_marker(ctx.dir("fit")) is None:
        raise ExportError(f"the fit stage of {where} has not run yet, so there is no model to export: "
                          f"`cbrec-train run {cmd}` (or `cbrec-train fit {cmd}`) first.")


def _outcome_text(pt: Path, version: str, outcome: str) -> str:
    if outcome == "unchanged":
        return f"{pt} is already this model (analysis version {version}); nothing was written"
    verb = "replaced" if outcome == "replaced" else "wrote"
    return f"{verb} {pt} and {pt.with_suffix('.json')} (analysis version {version})"


def _sources(ctx: Any) -> dict[str, Any]:
    """Sources (genre = the game a soundtrack ships with) and their licences, when known."""
    labels = ctx.config.resolve(ctx.config.simulate.labels_tsv)
    if labels is None or not labels.exists():
        return {}
    counts: dict[str, int] = {}
    for line in labels.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            counts[parts[1]] = counts.get(parts[1], 0) + 1
    out: dict[str, Any] = {"corpus": str(labels), "tracks_per_source": counts}
    licences = labels.parent / "licences.tsv"
    if licences.exists():
        rows = [line.split("\t") for line in licences.read_text(encoding="utf-8").splitlines() if line]
        out["licences"] = {r[0]: {"debian_package": r[1], "version": r[2], "licence": r[3]} for r in rows if len(r) >= 4}
    return out


def card_provenance(ctx: Any, run: str) -> tuple[dict, dict, dict]:
    """``(trained_on, metrics, training)`` for the card of fit run ``run``."""
    fit = ctx.summary("fit")[run]
    trained_on: dict[str, Any] = {"experiment": ctx.config.name, "out_dir": str(ctx.out_dir),
                                  "items": {"train": fit["train_items"], "validation": fit["val_items"],
                                            "cold_start_test": fit["test_items"]},
                                  "wmf_factors": ctx.config.wmf.factors}
    try:
        sim = ctx.summary("simulate")
        trained_on["data"] = (f"simulated world (seed {ctx.config.simulate.seed}, {sim.get('users')} users, "
                              f"{sim.get('clips')} clips, {sim.get('events')} listening events) with audio from "
                              + (ctx.config.simulate.labels_tsv or "synthesis (no real music)"))
        trained_on.update(_sources(ctx))
    except Exception:  # noqa: BLE001 - real data: the config says where it came from
        trained_on["data"] = {k: v for k, v in ctx.config.section("data").items() if v}
    metrics: dict[str, Any] = {"best_val_loss": fit["best_val_loss"]}
    report = ctx.dir("report") / "report.json"
    if report.exists():
        table = json.loads(report.read_text(encoding="utf-8"))
        metrics["reproduction"] = {"title": table["title"], "rows": table["rows"]}
    training = {"device": fit["device"], "gpu": fit["device"].startswith("cuda"), "seconds": fit["seconds"],
                "epochs": fit["epochs"], "best_epoch": fit["best_epoch"], "stopped": fit["stopped"]}
    return trained_on, metrics, training


def export_model(ctx: Any, run: str | None, name: str, out_dir: Path, extra_metrics: dict[str, Any] | None = None,
                 n_windows: int = 0, window_seconds: float = 0.0, force: bool = False) -> Any:
    """Write ``out_dir/<name>.pt`` + ``.json`` from fit run ``run``; returns the ModelCard now there.

    ``n_windows`` / ``window_seconds`` (0 = as trained) change only the inference geometry. A
    different model already at that place is an :class:`ExportError` unless ``force``."""
    return export_model_to(ctx, run, name, out_dir, extra_metrics, n_windows, window_seconds, force)[0]


def export_model_to(ctx: Any, run: str | None, name: str, out_dir: Path, extra_metrics: dict[str, Any] | None = None,
                    n_windows: int = 0, window_seconds: float = 0.0,
                    force: bool = False) -> tuple[Any, str]:
    """:func:`export_model`, also saying what happened: ``"written"`` (nothing was there),
    ``"unchanged"`` (the same model already was: same weights and audio settings) or ``"replaced"``."""
    import torch

    from core.model import ModelCard, build_net
    from trainer.pipeline import StageError
    runs = ctx.summary("fit")
    run = run or next(iter(runs))
    if run not in runs:
        raise StageError(f"no fit run {run!r} in {ctx.out_dir}; runs: {', '.join(runs)}")
    folder = ctx.dir("fit") / run
    cfg = json.loads((folder / "card_config.json").read_text(encoding="utf-8"))
    settings = cfg.pop("settings")
    arch = cfg.pop("architecture")
    net = build_net(arch, cfg["params"])
    net.load_state_dict(torch.load(folder / "best.pt", map_location="cpu", weights_only=True))
    trained_window_seconds = cfg["window_seconds"]   # before --window-seconds overrides it
    if n_windows:
        cfg["n_windows"] = int(n_windows)
    if window_seconds:
        cfg["window_seconds"] = float(window_seconds)
    trained_on, metrics, training = card_provenance(ctx, run)
    metrics.update(extra_metrics or {})
    training["settings"] = settings
    training["training_window_seconds"] = trained_window_seconds
    card = ModelCard.from_config(name, arch, cfg, trained_on=trained_on, metrics=metrics, training=training)
    return save_model_safely(net.eval(), card, out_dir, name, force)


def save_model_safely(net: Any, card: Any, out_dir: Path, name: str, force: bool = False) -> tuple[Any, str]:
    """Save ``net`` + ``card`` as ``out_dir/<name>.pt`` + ``.json`` without ever losing a model.

    The files are written beside the target first; if a model is already there with the same
    analysis version (weights and audio settings) it is kept (``"unchanged"``); a different one
    (or an unreadable one) is replaced only with ``force`` (``"replaced"``), else ExportError.
    Returns ``(card now at the target, outcome)``."""
    from core.fileio import fsync_dir
    from core.model import save_model
    from core.model.card import model_paths, verify_model_files
    pt, js = model_paths(Path(out_dir) / name)
    pt.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=pt.parent, prefix=f".{name}.export-") as tmp:
        quiet = logging.getLogger("core.model.checkpoint")   # its "saved to <temporary name>" would mislead
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        try:
            new = save_model(net, card, Path(tmp) / name)
        finally:
            quiet.setLevel(level)
        if not (pt.exists() or js.exists()):
            outcome = "written"
        else:
            try:
                old = verify_model_files(pt)   # its card, and its weights are the ones the card describes
            except CbrecError:
                old = None
            if old is not None and old.analysis_version == new.analysis_version:
                return old, "unchanged"
            if not force:
                what = f"a different model (analysis version {old.analysis_version})" if old else "a model"
                raise ExportError(f"{pt} already holds {what}; nothing was written. Pass --force to replace it, "
                                  "or choose another --dir or --name.")
            outcome = "replaced"
        tmp_pt, tmp_js = model_paths(Path(tmp) / name)
        os.replace(tmp_pt, pt)
        os.replace(tmp_js, js)
    fsync_dir(pt.parent)
    return new, outcome


# --------------------------------------------------------------------------- the export stage
def _export_settings(ctx: Context) -> dict[str, Any]:
    given = ctx.config.extra.get("export", {})
    unknown = sorted(set(given) - set(EXPORT_KEYS))
    if unknown:
        raise ExportError(f"unknown key(s) {unknown} in [export]; known keys: {sorted(EXPORT_KEYS)}")
    return {**EXPORT_KEYS, **given}


def _run_export_stage(ctx: Context) -> dict[str, Any]:
    """The pipeline's last stage: the model of a fit run into ``<out_dir>/model/`` (never over a
    different one: then it fails, saying to run ``cbrec-train export CONFIG --force``)."""
    s = _export_settings(ctx)
    name = s["name"] or ctx.config.name
    out_dir = default_model_dir(ctx)
    try:
        card, outcome = export_model_to(ctx, s["run"] or None, name, out_dir, None, int(s["n_windows"]),
                                        float(s["window_seconds"]))
    except ExportError as exc:
        raise ExportError(f"{exc} (`cbrec-train export {ctx.config.path or 'CONFIG'} --force` replaces it)") from None
    log.info("%s", _outcome_text(out_dir / f"{name}.pt", card.analysis_version, outcome))
    return {"model": str(out_dir / f"{name}.pt"), "analysis_version": card.analysis_version, "outcome": outcome,
            "run": s["run"] or next(iter(ctx.summary("fit")))}


register(Stage("export", _run_export_stage, needs=("fit",), sections=("export",),
               inputs=lambda ctx: [default_model_dir(ctx) / f"{_export_settings(ctx)['name'] or ctx.config.name}.pt"],
               enabled=lambda cfg: "fit" in cfg.extra,
               help="write the model of a fit run into <out_dir>/model/ (never over a different model)"))
