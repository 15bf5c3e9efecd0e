"""The data stages of an experiment (part 1): simulate → match → interactions → split → wmf → evaluate.

Registered with :mod:`trainer.pipeline` when it is imported; the part-2 stages (features, fit,
baseline, report) are in :mod:`trainer.train_stages`. numpy, scipy, implicit and sklearn are
imported inside the stages, so `cbrec-train --help` is instant.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.pipeline import Context, Stage, StageError, register

if TYPE_CHECKING:
    import numpy as np
    import scipy.sparse as sp


def data_paths(ctx: Context) -> dict[str, Path | None]:
    """Where each input lies (see :meth:`trainer.config.ExperimentConfig.input_paths`)."""
    return ctx.config.input_paths(ctx.dir("simulate") / "world")


def _need(folder: Path | None, name: str = "") -> Path:
    path = folder / name if folder is not None and name else folder
    if path is None or not path.exists():
        raise StageError(f"input not found: {path or name or 'a [data] path'}; check the [data] paths of the config")
    return path


def _save_ids(path: Path, ids: Any) -> None:
    import numpy as np
    arr = np.asarray(ids)
    np.save(path, arr.astype(str) if arr.dtype == object else arr, allow_pickle=False)


def _run_simulate(ctx: Context) -> dict[str, Any]:
    from trainer.data.simulate import simulate_world
    s = ctx.config.simulate
    world = simulate_world(ctx.dir("simulate") / "world", ctx.config.resolve(s.audio_library),
                           ctx.config.resolve(s.labels_tsv), n_users=s.n_users, seed=s.seed,
                           show_progress=ctx.show_progress, **s.world)
    return {"world": str(ctx.dir("simulate") / "world"), **world["counts"]}


DELIBERATE = ("the simulated world writes malformed lines into this file on purpose ([simulate.world] bad_rows), "
              "to show that the readers skip them; nothing is wrong")


def _bad_rows(p: dict[str, Path | None]) -> Any:
    """A BadRows tally that knows which bad rows a simulated world put there on purpose."""
    from trainer.data.badrows import BadRows
    bad = BadRows()
    if p["world"] is not None and p["lfm1b_dir"] is not None:
        bad.expect(p["lfm1b_dir"] / "LFM-1b_LEs.txt", DELIBERATE)
    return bad


def _run_match(ctx: Context) -> dict[str, Any]:
    import numpy as np

    from trainer.data.badrows import BadRows
    from trainer.data.lfm1b import read_artists, read_tracks
    from trainer.data.msd import read_unique_tracks
    from trainer.match import match_lfm1b_to_msd
    p, bad, out = data_paths(ctx), BadRows(), ctx.dir("match")
    msd = read_unique_tracks(_need(p["msd_dir"], "unique_tracks.txt"), bad, progress=ctx.show_progress)
    if ctx.config.data.source == "taste_profile":
        return _match_songs(ctx, msd, p, bad)
    tracks = read_tracks(_need(p["lfm1b_dir"], "LFM-1b_tracks.txt"), bad, progress=ctx.show_progress)
    artists = read_artists(_need(p["lfm1b_dir"], "LFM-1b_artists.txt"), bad, progress=ctx.show_progress)
    res = match_lfm1b_to_msd(tracks, artists, msd, merge_duplicates=ctx.config.match.merge_duplicates,
                             progress=ctx.show_progress)
    item_tracks = [res.msd_track_id(i) or "" for i in range(res.n_items)]
    _save_ids(out / "item_ids.npy", item_tracks)
    _save_ids(out / "item_tracks.npy", item_tracks)
    np.save(out / "lfm_track_to_item.npy", res.lfm_track_to_item)
    with open(out / "items.tsv", "w", encoding="utf-8") as f:
        f.writelines(f"{a}\t{t}\t{' '.join(ids)}\n" for (a, t), ids in zip(res.item_keys, res.item_msd_track_ids, strict=True))
    return {"items": res.n_items, "lfm_tracks": res.n_lfm_tracks, "lfm_tracks_matched": res.n_lfm_matched,
            "lfm_match_rate": round(res.lfm_match_rate, 4), "msd_tracks": res.n_msd_tracks,
            "msd_tracks_matched": res.n_msd_matched, "msd_match_rate": round(res.msd_match_rate, 4),
            "bad_rows": bad.count, "bad_rows_by_reason": dict(bad.by_reason)}


def _match_songs(ctx: Context, msd: Any, p: dict[str, Path | None], bad: Any) -> dict[str, Any]:
    """Taste Profile: items are MSD songs (minus known mismatches), each with its first track."""
    from trainer.data.tasteprofile import filter_mismatches, read_sid_mismatches
    pairs = list(zip(msd.song_ids, msd.track_ids, strict=True))
    if p["sid_mismatches"]:
        pairs = filter_mismatches(pairs, read_sid_mismatches(_need(p["sid_mismatches"]), bad))
    track_of: dict[str, str] = {}
    for song, track in pairs:
        track_of.setdefault(song, track)
    songs = sorted(track_of)
    _save_ids(ctx.dir("match") / "item_ids.npy", songs)
    _save_ids(ctx.dir("match") / "item_tracks.npy", [track_of[s] for s in songs])
    return {"items": len(songs), "msd_tracks": len(msd), "msd_pairs_kept": len(pairs), "bad_rows": bad.count}


def _run_interactions(ctx: Context) -> dict[str, Any]:
    import numpy as np
    import scipy.sparse as sp

    from trainer.interactions import build_interactions, build_triplet_interactions
    p, out = data_paths(ctx), ctx.dir("interactions")
    bad = _bad_rows(p)
    item_ids = np.load(ctx.dir("match") / "item_ids.npy")
    if ctx.config.data.source == "taste_profile":
        inter = build_triplet_interactions(_need(p["triplets"]), {s: i for i, s in enumerate(item_ids.tolist())},
                                           bad, n_items=len(item_ids), item_ids=item_ids, progress=ctx.show_progress)
    else:
        inter = build_interactions(_need(p["lfm1b_dir"], "LFM-1b_LEs.txt"),
                                   np.load(ctx.dir("match") / "lfm_track_to_item.npy"), bad,
                                   n_items=len(item_ids), item_ids=item_ids, progress=ctx.show_progress)
    keep = np.diff(inter.matrix.indptr) >= ctx.config.interactions.min_items_per_user
    counts = inter.matrix[keep]
    sp.save_npz(out / "counts.npz", counts)
    _save_ids(out / "user_ids.npy", np.asarray(inter.user_ids)[keep])
    _save_ids(out / "item_ids.npy", item_ids)
    return {"users": counts.shape[0], "users_dropped": int((~keep).sum()), "items": counts.shape[1],
            "items_with_plays": int((counts.getnnz(axis=0) > 0).sum()), "pairs": counts.nnz,
            "plays": int(counts.sum()), "events_read": inter.n_events, "events_counted": inter.n_counted,
            "bad_rows": bad.count, "bad_rows_by_reason": dict(bad.by_reason)}


def load_interactions(ctx: Context) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """``(counts users × items CSR, user_ids, item_ids)`` written by the interactions stage."""
    import numpy as np
    import scipy.sparse as sp
    d = ctx.dir("interactions")
    return sp.load_npz(d / "counts.npz").tocsr(), np.load(d / "user_ids.npy"), np.load(d / "item_ids.npy")


def _run_split(ctx: Context) -> dict[str, Any]:
    import numpy as np
    import scipy.sparse as sp

    from trainer.evaluate import holdout_split, item_split
    counts, _, _ = load_interactions(ctx)
    s, out = ctx.config.split, ctx.dir("split")
    train, test = holdout_split(counts, s.holdout_fraction, s.min_user_items, s.seed)
    items = item_split(counts.shape[1], s.cold_start_fraction, s.seed, eligible=counts.getnnz(axis=0) > 0)
    sp.save_npz(out / "holdout_train.npz", train)
    sp.save_npz(out / "holdout_test.npz", test)
    np.savez(out / "item_split.npz", train=items.train, test=items.test)
    return {"holdout_users": int((test.getnnz(axis=1) > 0).sum()), "holdout_pairs": test.nnz, "train_pairs": train.nnz,
            "cold_start_test_items": len(items.test), "cold_start_train_items": len(items.train)}


def _run_wmf(ctx: Context) -> dict[str, Any]:
    from trainer.wmf import fit_wmf, gpu_available, save_factors
    counts, user_ids, item_ids = load_interactions(ctx)
    params = ctx.config.wmf.params()
    t0 = time.perf_counter()
    fac = fit_wmf(counts, params, ctx.show_progress)
    save_factors(ctx.dir("wmf"), fac, user_ids, item_ids, params)
    return {"users": counts.shape[0], "items": counts.shape[1], "factors": params.factors,
            "device": "GPU" if (gpu_available() if params.use_gpu is None else params.use_gpu) else "CPU",
            "fit_seconds": round(time.perf_counter() - t0, 2)}


def _run_evaluate(ctx: Context) -> dict[str, Any]:
    import numpy as np
    import scipy.sparse as sp

    from trainer.data.simulate import load_world, oracle_vectors
    from trainer.evaluate import ItemSplit, compare_models, popularity_vectors, random_vectors
    from trainer.wmf import fit_wmf, load_factors
    cfg, e, d = ctx.config, ctx.config.evaluate, ctx.dir("split")
    counts, user_ids, item_ids = load_interactions(ctx)
    train, test = sp.load_npz(d / "holdout_train.npz").tocsr(), sp.load_npz(d / "holdout_test.npz").tocsr()
    z = np.load(d / "item_split.npz")
    items = ItemSplit(z["train"], z["test"])
    params = cfg.wmf.params()
    held = fit_wmf(train, params, ctx.show_progress)
    n_u, n_i, f = counts.shape[0], counts.shape[1], params.factors
    models = {"WMF": (held.user_factors, held.item_factors), "popularity": popularity_vectors(train),
              "random": (random_vectors(n_u, f, e.seed), random_vectors(n_i, f, e.seed + 1))}
    if data_paths(ctx)["world"] is not None:
        world = load_world(ctx.dir("simulate") / "world")
        models["simulated true tastes"] = oracle_vectors(world, user_ids, item_ids)
    holdout = compare_models(models, train, test, e.k, ctx.show_progress)
    full, _, _ = load_factors(ctx.dir("wmf"))
    cold = compare_models({"WMF factors (upper bound)": (full.user_factors, full.item_factors[items.test]),
                           "random": (full.user_factors, random_vectors(len(items.test), f, e.seed + 2))},
                          None, counts[:, items.test], e.k, ctx.show_progress)
    tags = _tag_proxy(ctx, full.item_factors)
    tables = {f"per-user holdout ({cfg.split.holdout_fraction:.0%} of each user's items)": list(holdout.items()),
              f"cold start ({len(items.test)} test items, all users)": list(cold.items())}
    if tags.get("models"):
        tables["tag proxy (mean per-tag AUC)"] = list(tags["models"].items())
    result = {"k": e.k, "holdout": holdout, "cold_start": cold, "tags": tags, "tables": tables}
    (ctx.dir("evaluate") / "metrics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _tag_proxy(ctx: Context, item_vectors: np.ndarray) -> dict[str, Any]:
    import numpy as np

    from trainer.evaluate import random_vectors
    from trainer.tagproxy import tag_proxy
    path, e = data_paths(ctx)["lastfm_tags"], ctx.config.evaluate
    if path is None or not path.exists():
        return {"skipped": "no lastfm_tags.db"}
    tracks = [t or None for t in np.load(ctx.dir("match") / "item_tracks.npy").tolist()]
    vectors = {"WMF factors": item_vectors, "random": random_vectors(*item_vectors.shape, e.seed + 3)}
    return tag_proxy(path, tracks, vectors, e.tag_top_n, e.tag_test_fraction, e.seed, ctx.show_progress)


def _inputs(*files: tuple[str, str]) -> Callable[[Context], list[Path]]:
    """Input files as (data path key, file name in that folder or '') whose change makes a stage stale."""
    def paths(ctx: Context) -> list[Path]:
        p = data_paths(ctx)
        return [p[key] / name if name else p[key] for key, name in files if p[key] is not None]
    return paths


register(Stage("simulate", _run_simulate, sections=("simulate",), enabled=lambda cfg: cfg.simulate.enabled,
               inputs=lambda ctx: [p for p in (ctx.config.resolve(ctx.config.simulate.labels_tsv),) if p],
               help="write a simulated world (LFM-1b, MSD, 7digital clips, Last.fm tags) in the real formats"))
register(Stage("match", _run_match, needs=("simulate",), sections=("data", "match"),
               inputs=_inputs(("msd_dir", "unique_tracks.txt"), ("sid_mismatches", ""), ("lfm1b_dir", "LFM-1b_tracks.txt"),
                              ("lfm1b_dir", "LFM-1b_artists.txt")),
               help="match LFM-1b tracks to MSD tracks by case-insensitive artist + title"))
register(Stage("interactions", _run_interactions, needs=("match",), sections=("data", "interactions"),
               inputs=_inputs(("triplets", ""), ("lfm1b_dir", "LFM-1b_LEs.txt")),
               help="count plays per user and item (users × items CSR)"))
register(Stage("split", _run_split, needs=("interactions",), sections=("split",),
               help="per-user holdout of plays and cold-start split of items"))
register(Stage("wmf", _run_wmf, needs=("interactions",), sections=("wmf",),
               help="weighted matrix factorisation of all plays (the factors a content model learns)"))
register(Stage("evaluate", _run_evaluate, needs=("split", "wmf"), sections=("wmf", "evaluate"),
               inputs=_inputs(("lastfm_tags", "")),
               help="mAP@k and AUC of WMF vs popularity and random; cold-start upper bound; tag proxy"))
