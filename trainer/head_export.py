"""``cbrec-train export-head``: the head stage's backbone + head as one app model (``musicnn_head``).

The model is the frozen backbone (its weights as they are, its tag head included) with the
head of ``[head]`` after the penultimate, so the app's vectors are the predicted latent factors
(``output_dim`` = the WMF factors) and its tags are still musicnn's 50 tag scores. The app
averages a track's window outputs: for the linear head that is exactly the head applied to the
pooled penultimate it was trained on; the MLP head is applied per window before the average (an
approximation of what it was trained on, the pooled vector).

    cbrec-train export-head exp.toml --head linear              # -> <out_dir>/model/<name>-linear.pt
    cbrec-train export-head exp.toml --head mlp --name mine --dir ~/models
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from trainer.export import ExportError, add_export_arguments, open_export, save_model_safely
from trainer.head import HEAD_KINDS
from trainer.pipeline import Context, read_marker


def export_head(ctx: Context, kind: str, name: str, out_dir: Path, extra_metrics: dict[str, Any] | None = None,
                force: bool = False) -> tuple[Any, str]:
    """Write ``out_dir/<name>.pt`` + ``.json`` (backbone + ``kind`` head); returns ``(card, outcome)``
    as :func:`trainer.export.save_model_safely` does (never over a different model without ``force``)."""
    from core.model import ModelCard, build_net
    from core.model.checkpoint import load_net
    if read_marker(ctx.dir("head")) is None:
        raise ExportError(f"the head stage has not run in {ctx.out_dir}: `cbrec-train head "
                          f"{ctx.config.path or 'CONFIG'}` first")
    summary = ctx.summary("head")
    if kind not in summary["heads"]:
        raise ExportError(f"no {kind!r} head in {ctx.dir('head')}; heads: {', '.join(summary['heads'])}")
    folder = ctx.dir("head") / kind
    meta = json.loads((folder / "head.json").read_text(encoding="utf-8"))
    backbone, b_card = load_net(meta["backbone"])
    if b_card.analysis_version != meta["backbone_version"]:
        raise ExportError(f"the backbone {meta['backbone']} changed since the head was trained "
                          f"({b_card.analysis_version}, not {meta['backbone_version']}); run the head stage again")
    if b_card.architecture != "musicnn":
        raise ExportError(f"only a musicnn backbone can carry a head in an app model, not {b_card.architecture!r}")
    state = meta["layers"]                    # [[in, out], ...] of the head's Linear layers
    params = {**b_card.params, "penultimate_dim": b_card.output_dim, "output_dim": state[-1][1],
              "head_hidden": state[0][1] if len(state) > 1 else 0}
    net = build_net("musicnn_head", params)
    if b_card.tags:
        net.attach_tag_head(len(b_card.tags))
    weights = dict(backbone.state_dict())
    weights.update({f"factor_head.{k}": v for k, v in
                    torch.load(folder / "head.pt", map_location="cpu", weights_only=True).items()})
    net.load_state_dict(weights, strict=True)
    config = {"params": params, "sample_rate": b_card.sample_rate, "frontend": b_card.frontend,
              "window_seconds": b_card.window_seconds, "n_windows": b_card.n_windows}
    trained_on: dict[str, Any] = {
        "backbone_model": {"name": b_card.name, "analysis_version": b_card.analysis_version,
                           "trained_on": {k: v for k, v in b_card.trained_on.items() if k != "backbone"}},
        "head": f"{kind} head fitted by cbrec-train (stage head) to the WMF item factors of experiment "
                f"{ctx.config.name!r} ({ctx.config.wmf.factors} factors), backbone frozen",
        "items": {"train": summary["train_items"], "validation": summary["val_items"],
                  "cold_start_test": summary["test_items"]}}
    if "backbone" in b_card.trained_on:        # the credits and licence travel with the weights
        trained_on["backbone"] = b_card.trained_on["backbone"]
    try:
        sim = ctx.summary("simulate")
        trained_on["data"] = (f"simulated world (seed {ctx.config.simulate.seed}, {sim.get('users')} users, "
                              f"{sim.get('clips')} clips) with audio from "
                              + (ctx.config.simulate.labels_tsv or "synthesis (no real music)"))
    except Exception:  # noqa: BLE001 - real data: the config says where it came from
        trained_on["data"] = {k: v for k, v in ctx.config.section("data").items() if v}
    metrics: dict[str, Any] = {"head_validation_mse": summary["heads"][kind]["val_mse"]}
    report = ctx.dir("report") / "report.json"
    if report.exists():
        table = json.loads(report.read_text(encoding="utf-8"))
        row = table["rows"].get(meta["label"])
        if row:
            metrics["reproduction"] = {"title": table["title"], "row": meta["label"], **row}
    metrics.update(extra_metrics or {})
    training = {"by": "cbrec-train head (backbone frozen)", "head": kind,
                "settings": {k: v for k, v in summary["heads"][kind].items() if k != "label"}}
    card = ModelCard.from_config(name, "musicnn_head", config, trained_on=trained_on, metrics=metrics,
                                 training=training, tags=list(b_card.tags))
    return save_model_safely(net.eval(), card, out_dir, name, force)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_export_arguments(p, " (with a finished [head] stage)")
    p.add_argument("--head", choices=HEAD_KINDS, default="linear", help="which head (default: linear)")
    p.add_argument("--name", default="", help="model name (default: <experiment name>-<head>)")


def run(args: argparse.Namespace) -> int:
    """The command: export, print where the model went."""
    import trainer.train_stages  # noqa: F401 - registers the stages
    ctx, extra, out_dir = open_export(args)
    name = args.name or f"{ctx.config.name}-{args.head}"
    card, outcome = export_head(ctx, args.head, name, out_dir, extra, args.force)
    pt = out_dir / f"{name}.pt"
    print(f"{pt} is already this model" if outcome == "unchanged" else
          f"{'replaced' if outcome == 'replaced' else 'wrote'} {pt} and {pt.with_suffix('.json')} "
          f"(analysis version {card.analysis_version}, {card.output_dim} factors, {len(card.tags)} tags)")
    return 0
