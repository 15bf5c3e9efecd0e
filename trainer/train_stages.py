"""Part 2 of the pipeline: features -> fit -> baseline -> report (and the export command's inputs).

Each stage runs when its section is in the experiment file (``[features]``, ``[fit]``,
``[baseline]``, ``[report]``), so part-1 experiments are unchanged. Heavy state lives outside the
stage folders, under ``<out_dir>/cache/``: feature shards (``cache/features/<spec>/``) and
training checkpoints (``cache/fit/<run>/``); a re-run or an interrupted run resumes from there.

    [features]
    clip_seconds = 30.0          # audio kept per item (the clip, centred)
    workers = 2
    [fit]                        # defaults for every run (trainer.fit.FitSettings)
    architecture = "dieleman2014"
    epochs = 30
    [fit.runs.cnn_mse]
    objective = "mse"
    [fit.runs.cnn_wpe]
    objective = "wpe"
    [baseline]
    n_clusters = 500
    [report]
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from trainer import distributed as dd
from trainer.config import EXTRA_SECTIONS, ExperimentConfig
from trainer.data_stages import data_paths, load_interactions
from trainer.pipeline import Context, Stage, StageError, register

log = logging.getLogger(__name__)

SECTIONS = ("features", "fit", "baseline", "report")
EXTRA_SECTIONS.update(SECTIONS)
FEATURE_KEYS = {"clip_seconds": 30.0, "workers": 2, "shard_size": 64, "part": 0, "parts": 1}
BASELINE_KEYS = {"n_clusters": 4000, "pca_variance": 0.95, "max_fit_frames": 200_000, "seed": 0}


def _section(ctx: Context, name: str, defaults: dict[str, Any]) -> dict[str, Any]:
    given = ctx.config.extra.get(name, {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise StageError(f"unknown key(s) {unknown} in [{name}]; known keys: {sorted(defaults)}")
    return {**defaults, **given}


def fit_runs(cfg: ExperimentConfig) -> dict[str, dict[str, Any]]:
    """``{run name: FitSettings dict}``: [fit] keys overlaid by each [fit.runs.NAME] table."""
    base = {k: v for k, v in cfg.extra.get("fit", {}).items() if k != "runs"}
    runs = cfg.extra.get("fit", {}).get("runs") or {"cnn": {}}
    return {name: {**base, **over} for name, over in runs.items()}


# --------------------------------------------------------------------------- items and their audio
def item_clips(ctx: Context) -> tuple[np.ndarray, list[str]]:
    """Items that have an audio clip: ``(item indices (n,), clip paths)``, via the MSD 7digital ids."""
    from trainer.data.msd import DEFAULT_CLIP_TEMPLATE, clip_path, read_track_metadata_db
    p = data_paths(ctx)
    root = p["audio_root"]
    if root is None:
        raise StageError("no audio: set [data] audio_root (the 7digital clips) or simulate a world")
    template = ctx.config.data.clip_template
    if p["world"] is not None:
        template = json.loads((p["world"] / "world.json").read_text(encoding="utf-8"))["params"]["clip_template"]
    if not template:
        template = DEFAULT_CLIP_TEMPLATE
    elif "{root}" not in template:
        template = "{root}/" + template
    digital = read_track_metadata_db(p["msd_dir"] / "track_metadata.db")
    tracks = np.load(ctx.dir("match") / "item_tracks.npy").tolist()
    items, paths = [], []
    for i, t in enumerate(tracks):
        path = clip_path(root, digital[t], template) if t in digital else None
        if path is not None and path.is_file():
            items.append(i)
            paths.append(str(path))
    return np.asarray(items, dtype=np.int64), paths


def feature_specs(ctx: Context) -> dict[str, Any]:
    """``{store key: FeatureSpec}`` needed by the [fit] runs (log-mel nets share one store)."""
    from trainer.features import FeatureSpec
    clip = float(_section(ctx, "features", FEATURE_KEYS)["clip_seconds"])
    archs = {r.get("architecture", "dieleman2014") for r in fit_runs(ctx.config).values()} or {"dieleman2014"}
    if "baseline" in ctx.config.extra:
        archs.add("dieleman2014")          # the bag-of-words baseline reads the log-mel store
    if "pairwise" in ctx.config.extra:
        archs.add("zhaopu2018")            # Zhao & Pu's tower (trainer.pairwise)
    specs = [FeatureSpec.for_architecture(a, clip) for a in sorted(archs)]
    return {s.key(): s for s in specs}


def _run_features(ctx: Context) -> dict[str, Any]:
    from trainer.features import extract_features
    f = _section(ctx, "features", FEATURE_KEYS)
    items, paths = item_clips(ctx)
    if not len(items):
        raise StageError(f"no audio clips found under {data_paths(ctx)['audio_root']}")
    stores, summary = {}, {"items_with_audio": len(items)}
    di = dd.info()               # torchrun: each rank its stable-hash share, then rank 0 merges
    part, parts = (di.rank, di.world) if di.world > 1 else (int(f["part"]), int(f["parts"]))
    for key, spec in feature_specs(ctx).items():
        folder = ctx.out_dir / "cache" / "features" / key
        info = extract_features(paths, spec, folder, int(f["workers"]), int(f["shard_size"]), ctx.show_progress,
                                part=part, parts=parts)
        if di.world > 1:
            dd.barrier()
            if di.is_main:
                info = extract_features(paths, spec, folder, 1, int(f["shard_size"]), False)
        stores[key] = {"folder": str(folder), "spec": asdict(spec)}
        summary[spec.kind] = info
        if info["shards_missing"] and di.world == 1:
            log.warning("features part %d of %d: %d shards are other parts'; copy their shard-* files into %s "
                        "and run `cbrec-train features` with parts = 1 to merge", part, parts,
                        info["shards_missing"], folder)
    if not di.is_main:
        return summary
    np.save(ctx.dir("features") / "items.npy", items)
    (ctx.dir("features") / "stores.json").write_text(json.dumps(stores, indent=1) + "\n", encoding="utf-8")
    return summary


def open_store(ctx: Context, architecture: str) -> tuple[Any, np.ndarray]:
    """The feature store an architecture reads and the item index of each of its rows."""
    from trainer.features import FeatureSpec, FeatureStore
    stores_json = ctx.dir("features") / "stores.json"
    if not stores_json.exists():
        raise StageError("no features: add a [features] section and run `cbrec-train features`")
    stores = json.loads(stores_json.read_text(encoding="utf-8"))
    clip = float(_section(ctx, "features", FEATURE_KEYS)["clip_seconds"])
    key = FeatureSpec.for_architecture(architecture, clip).key()
    if key not in stores:
        raise StageError(f"no {architecture} features; run `cbrec-train features --force`")
    return FeatureStore(Path(stores[key]["folder"])), np.load(ctx.dir("features") / "items.npy")


# --------------------------------------------------------------------------- fit
def _targets(ctx: Context, normalise: bool) -> tuple[np.ndarray, np.ndarray]:
    """WMF item factors (n_items, f), unit length if ``normalise``; and the played-items mask."""
    from trainer.wmf import load_factors
    full, _, _ = load_factors(ctx.dir("wmf"))
    counts, _, _ = load_interactions(ctx)
    y = full.item_factors.astype(np.float32)
    if normalise:
        y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return y, counts.getnnz(axis=0) > 0


def training_rows(ctx: Context, store: Any, row_items: np.ndarray, val_fraction: float,
                  seed: int) -> dict[str, np.ndarray]:
    """Feature rows for ``train`` / ``val`` (non-test items with plays) and ``test`` (cold-start items)."""
    z = np.load(ctx.dir("split") / "item_split.npz")
    _, played = _targets(ctx, False)
    usable = store.ok & played[row_items]
    is_test = np.isin(row_items, z["test"])
    test = np.flatnonzero(usable & is_test)
    pool = np.flatnonzero(usable & ~is_test)
    perm = np.random.default_rng(seed).permutation(pool)
    n_val = max(1, int(round(len(pool) * val_fraction))) if len(pool) > 2 else 0
    return {"train": np.sort(perm[n_val:]), "val": np.sort(perm[:n_val]), "test": test}


def song_groups(ctx: Context, row_items: np.ndarray, group_by: str) -> np.ndarray:
    """An int group per feature row for the group term: the item's MSD artist or album (release,
    ``track_metadata.db``), its top Last.fm tag (``lastfm_tags.db``, the tag of highest value), or,
    in a world simulated from a labelled library, its source (the album it ships on: labels.tsv).
    Songs without one get a group of their own."""
    tracks = np.load(ctx.dir("match") / "item_tracks.npy").tolist()
    p = data_paths(ctx)
    if group_by in ("artist", "album"):
        from trainer.data.msd import read_track_metadata
        column = "artist_id" if group_by == "artist" else "release"
        meta = read_track_metadata(p["msd_dir"] / "track_metadata.db", (column,))
        label = {t: v[0] for t, v in meta.items() if v[0]}
    elif group_by == "source":
        if p["world"] is None:
            raise StageError("group_by = 'source' needs a simulated world built from a labelled library")
        world = json.loads((p["world"] / "world.json").read_text(encoding="utf-8"))
        label = {s["msd_track_id"]: s["genre_name"] for s in world["songs"] if s["msd_track_id"]}
    elif group_by == "top_tag":
        from trainer.data.lastfm_tags import read_lastfm_tags_db
        if p["lastfm_tags"] is None or not p["lastfm_tags"].exists():
            raise StageError("group_by = 'top_tag' needs lastfm_tags.db ([data] lastfm_tags)")
        pairs = read_lastfm_tags_db(p["lastfm_tags"])
        best: dict[int, tuple[float, int]] = {}
        for t, g, v in zip(pairs.track_idx.tolist(), pairs.tag_idx.tolist(), pairs.values.tolist(), strict=True):
            if v > best.get(t, (-1.0, 0))[0]:
                best[t] = (v, g)
        label = {pairs.track_ids[t]: pairs.tags[g] for t, (_, g) in best.items()}
    else:
        raise StageError(f"group_by must be 'artist', 'album', 'top_tag' or 'source', not {group_by!r}")
    names = [label.get(tracks[i]) for i in row_items]
    ids = {a: k for k, a in enumerate(sorted({a for a in names if a}))}
    return np.array([ids[a] if a else len(ids) + r for r, a in enumerate(names)], dtype=np.int64)


def _wpe_data(ctx: Context, items: np.ndarray) -> Any:
    from trainer.objectives import WPEData
    from trainer.wmf import confidence, load_factors
    counts, _, _ = load_interactions(ctx)
    w = ctx.config.wmf.params()
    full, _, _ = load_factors(ctx.dir("wmf"))
    return WPEData.build(full.user_factors, confidence(counts[:, items], w.alpha, w.epsilon))


def _fit_one(ctx: Context, name: str, s: Any) -> dict[str, Any]:
    """Train one [fit] run, save its best weights, window-averaged predictions for every row, card config."""
    from trainer.fit import Split, fit, load_best, predict
    store, row_items = open_store(ctx, s.architecture)
    rows = training_rows(ctx, store, row_items, s.val_fraction, s.seed)
    y, _ = _targets(ctx, s.normalise_targets)
    used = np.concatenate([rows["train"], rows["val"]])          # WPE columns: train + val items
    col = np.full(len(store), -1, dtype=np.int64)
    col[used] = np.arange(len(used))
    groups = song_groups(ctx, row_items, s.group_by) if s.group_weight > 0 else None
    train, val = (Split(rows[p], y[row_items[rows[p]]], col[rows[p]], None if groups is None else groups[rows[p]])
                  for p in ("train", "val"))
    wpe = _wpe_data(ctx, row_items[used]) if s.objective == "wpe" else None
    out = ctx.dir("fit") / name
    result = fit(s, store, train, val, ctx.out_dir / "cache" / "fit" / name, out, wpe, ctx.show_progress)
    if not dd.info().is_main:                 # under torchrun rank 0 alone writes the predictions
        return result.summary
    net = load_best(result, s.architecture)
    preds = predict(net, store, np.arange(len(store)), result.window_steps, result.summary["eval_windows"])
    np.save(out / "predictions.npy", preds)
    np.save(out / "row_items.npy", row_items)
    for part, r in rows.items():
        np.save(out / f"{part}_rows.npy", r)
    card = {"architecture": s.architecture, **result.config, "settings": asdict(s)}
    (out / "card_config.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return {**result.summary, "objective": s.objective, "architecture": s.architecture,
            "similarity_weight": s.similarity_weight, "instance_weight": s.instance_weight,
            "group_weight": s.group_weight, "group_by": s.group_by,
            "augment": bool(s.gain_db or s.freq_mask), "test_items": len(rows["test"])}


def _run_fit(ctx: Context) -> dict[str, Any]:
    from trainer.fit import FitSettings
    return {name: _fit_one(ctx, name, FitSettings.from_dict(d, f"[fit.runs.{name}]"))
            for name, d in fit_runs(ctx.config).items()}


# --------------------------------------------------------------------------- baseline
def _run_baseline(ctx: Context) -> dict[str, Any]:
    from trainer.baselines import BagOfWords
    b = _section(ctx, "baseline", BASELINE_KEYS)
    store, row_items = open_store(ctx, "dieleman2014")
    rows = training_rows(ctx, store, row_items, 0.1, 0)
    y, _ = _targets(ctx, bool(fit_runs(ctx.config) and next(iter(fit_runs(ctx.config).values()))
                              .get("normalise_targets", True)))
    fit_rows = np.concatenate([rows["train"], rows["val"]])
    bow = BagOfWords(int(b["n_clusters"]), float(b["pca_variance"]), max_fit_frames=int(b["max_fit_frames"]),
                     seed=int(b["seed"])).fit(store, fit_rows, y[row_items[fit_rows]], ctx.show_progress)
    preds = np.zeros((len(store), y.shape[1]), dtype=np.float32)
    ok = np.flatnonzero(store.ok)
    preds[ok] = bow.predict(store, ok, ctx.show_progress)
    np.save(ctx.dir("baseline") / "predictions.npy", preds)
    np.save(ctx.dir("baseline") / "row_items.npy", row_items)
    return {**bow.summary(), "train_items": len(fit_rows)}


# --------------------------------------------------------------------------- report
def _run_report(ctx: Context) -> dict[str, Any]:
    from trainer.report import reproduction_table, write_report
    table = reproduction_table(ctx)
    path = write_report(ctx, table)
    return {"report": str(path), "tables": {table["title"]: list(table["rows"].items())},
            "test_items": table["test_items"]}


def _has(section: str):
    return lambda cfg: section in cfg.extra


register(Stage("features", _run_features, needs=("match",), sections=("features",), enabled=_has("features"),
               help="decode every item's clip into log-mel / waveform shards (resumable; shared by "
                    "stable hash between torchrun ranks or [features] part/parts)", distributed=True))
register(Stage("fit", _run_fit, needs=("features", "split", "wmf"), sections=("fit",), enabled=_has("fit"),
               help="train the content network(s) of [fit] to predict the item factors from audio "
                    "(torchrun: DistributedDataParallel)", distributed=True))
register(Stage("baseline", _run_baseline, needs=("features", "split", "wmf"), sections=("baseline",),
               enabled=_has("baseline"), help="bag-of-words MFCC baseline with linear regression (vdO §4.1)"))
from trainer import head as _head  # noqa: E402,F401 - registers the head stage (pretrained backbone + head)

register(Stage("report", _run_report, needs=("fit", "baseline", "head", "split", "wmf"), sections=("report",),
               enabled=_has("report"), help="the reproduction of van den Oord Table 2 (report.md)"))

# the last stage: the model of a fit run into <out_dir>/model/ (trainer/export.py registers it)
from trainer import export as _export  # noqa: E402,F401
