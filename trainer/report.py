"""The reproduction table: the analogue of van den Oord et al. 2013, Table 2, on this experiment.

Cold-start protocol (vdO §5.2): the test songs' factors were never used to train a content
model; every user ranks all test songs by ``x_u . y'_i`` with ``x_u`` the WMF user factors and
``y'_i`` the song's predicted vector; mAP@k (k = [evaluate] k, 500 by default) and AUC are
averaged over users with at least one test song. Systems: random vectors, linear regression on
the bag of words (§4.1), the pretrained backbone + heads of [head] (:mod:`trainer.head`), each CNN
run of [fit], and the WMF factors themselves (upper bound).
Every system is scored on the same test songs (those with decodable audio).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data_stages import load_interactions
from trainer.pipeline import Context

log = logging.getLogger(__name__)

REPORT_MD = "report.md"
#: van den Oord et al. 2013, Table 2 (9,330 songs, 20,000 users, 50 factors), for comparison.
PAPER_TABLE2 = {"linear regression": (0.02389, 0.63518), "CNN with MSE": (0.05016, 0.70987),
                "CNN with WPE": (0.04323, 0.70101)}


def _run_label(summary: dict[str, Any]) -> str:
    label = f"CNN {summary['architecture']} ({summary['objective'].upper()}"
    if summary.get("similarity_weight"):
        label += f" + {summary['similarity_weight']:g} x similarity"
    if summary.get("instance_weight"):
        label += f" + {summary['instance_weight']:g} x instance"
    if summary.get("group_weight"):
        label += f" + {summary['group_weight']:g} x {summary.get('group_by', 'artist').replace('_', ' ')}"
    if summary.get("augment"):
        label += ", augmented"
    return label + ")"


def _predictions(folder: Path) -> dict[int, np.ndarray]:
    """``{item index: predicted vector}`` from a stage folder's predictions.npy + row_items.npy."""
    preds, items = np.load(folder / "predictions.npy"), np.load(folder / "row_items.npy")
    return {int(i): preds[r] for r, i in enumerate(items)}


def reproduction_table(ctx: Context) -> dict[str, Any]:
    """``{"title", "rows": {system: {"mAP@k", "AUC", "users"}}, "test_items", "runs"}``."""
    from trainer.evaluate import evaluate_item_vectors, random_vectors
    from trainer.wmf import load_factors
    counts, _, _ = load_interactions(ctx)
    full, _, _ = load_factors(ctx.dir("wmf"))
    from trainer.head import head_systems
    fit_summary = ctx.summary("fit") if "fit" in ctx.config.extra else {}
    systems: dict[str, dict[int, np.ndarray]] = {}
    test: set[int] | None = None
    baseline_dir = ctx.dir("baseline")
    if (baseline_dir / "predictions.npy").exists():
        systems["linear regression (bag of words)"] = _predictions(baseline_dir)
    for label, folder in head_systems(ctx).items():    # pretrained backbone + head (trainer.head)
        items = np.load(folder / "row_items.npy")
        head_test = {int(items[r]) for r in np.load(folder / "test_rows.npy")}
        test = head_test if test is None else test & head_test
        systems[label] = _predictions(folder)
    for name, summary in fit_summary.items():
        folder = ctx.dir("fit") / name
        items = np.load(folder / "row_items.npy")
        run_test = {int(items[r]) for r in np.load(folder / "test_rows.npy")}
        test = run_test if test is None else test & run_test
        label = _run_label(summary)
        systems[label if label not in systems else f"{label} [{name}]"] = _predictions(folder)
    test_items = np.array(sorted(test or ()), dtype=np.int64)
    if not len(test_items):
        raise ValueError("no cold-start test songs with audio; raise [split] cold_start_fraction")
    k, seed = ctx.config.evaluate.k, ctx.config.evaluate.seed
    cols = counts[:, test_items]
    vectors = {"random": random_vectors(len(test_items), full.item_factors.shape[1], seed + 2)}
    vectors.update({name: np.stack([p[i] for i in test_items]) for name, p in systems.items()})
    vectors["upper bound (WMF factors)"] = full.item_factors[test_items]
    rows = {}
    for name, v in vectors.items():
        m = evaluate_item_vectors(full.user_factors, v, None, cols, k=k, show_progress=False)
        rows[name] = {f"mAP@{k}": m["map"], "AUC": m["auc"], "users": m["users"]}
        log.info("%s: mAP@%d %.5f, AUC %.5f (%d users)", name, k, m["map"], m["auc"], m["users"])
    title = f"cold start: {len(test_items)} test songs with audio, mAP@{k} and AUC over users"
    return {"title": title, "rows": rows, "test_items": len(test_items), "k": k, "runs": fit_summary}


def _world_line(ctx: Context) -> str:
    try:
        s = ctx.summary("simulate")
    except Exception:  # noqa: BLE001 - a real-data experiment has no simulated world
        return "Real data (see config.toml)."
    sim = ctx.config.simulate
    return (f"Simulated world (seed {sim.seed}) from `{sim.labels_tsv or 'synthesised audio'}`: "
            f"{s.get('users')} users, {s.get('songs')} songs, {s.get('clips')} clips, {s.get('events')} listening events.")


def markdown(ctx: Context, table: dict[str, Any]) -> str:
    """The report as markdown: context, the table, the paper's numbers, the training runs."""
    k = table["k"]
    lines = [f"# Reproduction of van den Oord et al. 2013, Table 2: {ctx.config.name}", "",
             _world_line(ctx), f"WMF: {ctx.config.wmf.factors} factors; {table['title']}.", "",
             f"| model | mAP@{k} | AUC | users |", "|---|---:|---:|---:|"]
    for name, m in table["rows"].items():
        lines.append(f"| {name} | {m[f'mAP@{k}']:.5f} | {m['AUC']:.5f} | {m['users']} |")
    lines += ["", "The paper (9,330 songs, 20,000 users, 50 factors): "
              + "; ".join(f"{n} mAP {a:.5f}, AUC {b:.5f}" for n, (a, b) in PAPER_TABLE2.items()) + ".", "",
              "| run | epochs (best) | stopped | val loss | train items | device | seconds |",
              "|---|---:|---|---:|---:|---|---:|"]
    for name, r in table["runs"].items():
        lines.append(f"| {name}: {_run_label(r)} | {r['epochs']} ({r['best_epoch']}) | {r['stopped']} | "
                     f"{r['best_val_loss']:.4f} | {r['train_items']} | {r['device']} | {r['seconds']} |")
    if "head" in ctx.config.extra:
        h = ctx.summary("head")
        f, heads = h["features"], h["heads"]
        lines += ["", f"Pretrained backbone {f['backbone']} (frozen, {f['backbone_version']}): {f['dim']}-d penultimate "
                  f"averaged over {f['windows']} windows of {f['window_seconds']} s at {f['sample_rate']} Hz; heads fitted "
                  f"on {h['train_items']} training songs ({h['val_items']} for validation)"
                  + (f"; ridge alpha {heads['linear']['alpha']:g}" if "linear" in heads else "")
                  + (f"; MLP {heads['mlp']['hidden']} hidden, best epoch {heads['mlp']['best_epoch']}"
                     if "mlp" in heads else "") + "."]
    return "\n".join(lines) + "\n"


def write_report(ctx: Context, table: dict[str, Any]) -> Path:
    """Write ``<out_dir>/report.md`` and ``<out_dir>/report/report.json``; returns the markdown path."""
    path = ctx.out_dir / REPORT_MD
    path.write_text(markdown(ctx, table), encoding="utf-8")
    (ctx.dir("report") / "report.json").write_text(json.dumps(table, indent=1, default=float) + "\n",
                                                   encoding="utf-8")
    return path
