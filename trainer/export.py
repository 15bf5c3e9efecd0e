"""``cbrec-train export``: a fit run -> ``<dir>/<name>.pt`` + ``<name>.json`` (the model card).

The card (DESIGN.md) records the architecture and its parameters, the audio geometry, the
output dimension, what the model was trained on (world, sources, licences, item counts), its
measured metrics (the reproduction table row, validation loss, plus any JSON given with
``--metrics``, e.g. from ``benchmarks/quality.py``), how it was trained (device, GPU or CPU,
seconds, epochs, settings), and the analysis version (set by :func:`core.model.save_model`).

    cbrec-train export exp.toml --run cnn_mse --name default --dir resources/models
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPO_MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="experiment TOML file")
    p.add_argument("--run", help="which [fit.runs] entry to export (default: the first)")
    p.add_argument("--name", default="default", help="model name: <dir>/<name>.pt + .json (default: default)")
    p.add_argument("--dir", type=Path, default=REPO_MODELS, help=f"output folder (default: {REPO_MODELS})")
    p.add_argument("--metrics", type=Path, action="append", default=[],
                   help="JSON file of extra measured metrics to put on the card (repeatable)")
    p.add_argument("--n-windows", type=int, default=0,
                   help="windows per track the app averages (default: the run's); inference only, no retraining")
    p.add_argument("--window-seconds", type=float, default=0.0,
                   help="window length for the app (default: the training window); global-pooling nets accept others")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help=argparse.SUPPRESS)


def run_export(args: argparse.Namespace) -> int:
    """The command: load the config, export, print where the files went."""
    import trainer.train_stages  # noqa: F401 - registers the part-2 sections
    from trainer.config import load_config
    from trainer.pipeline import Context
    cfg = load_config(args.config, args.overrides)
    ctx = Context(cfg, cfg.out_path(), show_progress=False)
    extra = {}
    for path in args.metrics:
        extra.update(json.loads(Path(path).read_text(encoding="utf-8")))
    card = export_model(ctx, args.run, args.name, args.dir, extra, args.n_windows, args.window_seconds)
    print(f"wrote {args.dir / (args.name + '.pt')} and {args.dir / (args.name + '.json')} "
          f"(analysis version {card.analysis_version})")
    return 0


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
                 n_windows: int = 0, window_seconds: float = 0.0) -> Any:
    """Write ``out_dir/<name>.pt`` + ``.json`` from fit run ``run``; returns the saved ModelCard.

    ``n_windows`` / ``window_seconds`` (0 = as trained) change only the inference geometry."""
    import torch

    from core.model import ModelCard, build_net, save_model
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
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_model(net.eval(), card, out_dir / name)
