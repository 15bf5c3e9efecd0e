"""Resumable experiment pipeline: the stage machinery (stages: :mod:`trainer.data_stages`, part 1;
:mod:`trainer.train_stages`, part 2).

Each stage writes into ``<out_dir>/<stage>/`` and finishes with a ``done`` file holding a hash
of its configuration sections, its input files (size, mtime) and the runs of the stages it reads.
A stage whose hash is unchanged is skipped unless forced; re-running a stage makes the stages
after it run again. After every invocation ``results.json`` and ``summary.md`` gather the stage
summaries, and ``config.toml`` / ``config.resolved.json`` record the settings that produced them.

Adding a stage (part 2): write ``def run_x(ctx: Context) -> dict`` (outputs under
``ctx.dir("x")``; the returned summary is JSON data, a ``"tables"`` entry of
``{title: [[model, {column: value}], ...]}`` becomes markdown tables), then
``register(Stage("x", run_x, needs=("wmf",), sections=("x",)))``; its ``[x]`` config section is a
dataclass added to :mod:`trainer.config` or a name added to ``trainer.config.EXTRA_SECTIONS``.
The CLI gets an ``x`` subcommand automatically once the module that registers it is imported.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import CbrecError
from trainer import distributed as dd
from trainer.config import ExperimentConfig, dump_resolved

log = logging.getLogger(__name__)

DONE = "done"
RESULTS = "results.json"
SUMMARY = "summary.md"


class StageError(CbrecError):
    """A stage cannot run: missing input, or an earlier stage has not produced its outputs."""


@dataclass
class Context:
    """What a stage sees: the configuration, the output folder and the summaries of earlier stages."""

    config: ExperimentConfig
    out_dir: Path
    show_progress: bool = True
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def dir(self, stage: str) -> Path:
        return self.out_dir / stage

    def summary(self, stage: str) -> dict[str, Any]:
        """The summary a finished stage returned (read from its done marker)."""
        if stage not in self.summaries:
            marker = read_marker(self.dir(stage))
            if marker is None:
                cfg = self.config.path or "CONFIG"
                raise StageError(f"stage '{stage}' has not run in {self.out_dir}; run `cbrec-train {stage} {cfg}` "
                                 f"(or `cbrec-train run {cfg}`) first")
            self.summaries[stage] = marker["summary"]
        return self.summaries[stage]


@dataclass(frozen=True)
class Stage:
    """A named step: ``run(ctx) -> summary``; ``needs`` earlier stages; ``sections`` of the config it
    reads; ``inputs(ctx)`` external files whose change makes it stale; ``enabled(cfg)`` whether it applies."""

    name: str
    run: Callable[[Context], dict[str, Any]]
    needs: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    inputs: Callable[[Context], list[Path]] = lambda ctx: []
    enabled: Callable[[ExperimentConfig], bool] = lambda cfg: True
    help: str = ""
    distributed: bool = False     # under torchrun every rank runs it (else rank 0 alone, others wait)


STAGES: dict[str, Stage] = {}


def register(stage: Stage) -> Stage:
    """Add a stage at the end of the pipeline order (or replace one of the same name)."""
    STAGES[stage.name] = stage
    return stage


def read_marker(stage_dir: Path) -> dict[str, Any] | None:
    """The parsed ``done`` marker of a stage folder, or None if missing or unreadable."""
    try:
        return json.loads((stage_dir / DONE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fingerprint(path: Path) -> list[Any]:
    if not path.exists():
        return [str(path), None]
    if path.is_dir():
        return [str(path), "dir"]
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def stage_hash(ctx: Context, stage: Stage) -> str:
    """Hash of what the stage's result depends on: config sections, input files, upstream runs."""
    upstream = {}
    for need in stage.needs:
        if STAGES[need].enabled(ctx.config):
            marker = read_marker(ctx.dir(need))
            upstream[need] = marker["run_id"] if marker else None
    payload = {"stage": stage.name, "config": {s: ctx.config.section(s) for s in stage.sections},
               "inputs": [_fingerprint(p) for p in stage.inputs(ctx)], "upstream": upstream}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run_stage(ctx: Context, name: str, force: bool = False, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run ``name`` (and, first, any stage it needs that is not done); skip it if up to date."""
    if name not in STAGES:
        raise StageError(f"unknown stage '{name}'; stages: {', '.join(STAGES)}")
    stage = STAGES[name]
    for need in stage.needs:
        if STAGES[need].enabled(ctx.config) and need not in _chain and need not in ctx.summaries:
            run_stage(ctx, need, False, _chain + (name,))
    digest = stage_hash(ctx, stage)
    marker = read_marker(ctx.dir(name))
    skip = dd.broadcast_object(bool(marker and marker.get("hash") == digest and not force))
    if skip:
        log.info("stage %s: up to date, skipped (use --force to redo)", name)
        ctx.summaries[name] = marker["summary"]
        return marker["summary"]
    di = dd.info()
    if di.world > 1 and not stage.distributed:       # rank 0 runs it; the others wait, then read it
        if di.is_main:
            try:
                _execute(ctx, stage, digest, t0=time.perf_counter())
            except BaseException as exc:
                dd.broadcast_object(f"{type(exc).__name__}: {exc}")
                raise
            dd.broadcast_object(None)
        elif (error := dd.broadcast_object(None)) is not None:
            raise StageError(f"stage '{name}' failed on rank 0: {error}")
        return _read_summary(ctx, name)
    if di.is_main and ctx.dir(name).exists():
        shutil.rmtree(ctx.dir(name))
    if di.is_main:
        ctx.dir(name).mkdir(parents=True)
    dd.barrier()
    t0 = time.perf_counter()
    if di.world == 1:
        return _execute(ctx, stage, digest, t0)
    log.info("stage %s: running on %d processes", name, di.world)
    summary = stage.run(ctx)
    dd.barrier()
    if di.is_main:
        _mark(ctx, stage, digest, summary, t0)
    dd.barrier()
    return _read_summary(ctx, name)


def _read_summary(ctx: Context, name: str) -> dict[str, Any]:
    marker = read_marker(ctx.dir(name))
    if marker is None:
        raise StageError(f"stage '{name}' left no done marker in {ctx.dir(name)} (rank 0 failed?)")
    ctx.summaries[name] = marker["summary"]
    return marker["summary"]


def _execute(ctx: Context, stage: Stage, digest: str, t0: float) -> dict[str, Any]:
    """Run ``stage`` afresh in its emptied folder and write its done marker."""
    name = stage.name
    if ctx.dir(name).exists():
        shutil.rmtree(ctx.dir(name))
    ctx.dir(name).mkdir(parents=True)
    log.info("stage %s: running", name)
    return _mark(ctx, stage, digest, stage.run(ctx), t0)


def _mark(ctx: Context, stage: Stage, digest: str, summary: dict[str, Any], t0: float) -> dict[str, Any]:
    name = stage.name
    seconds = round(time.perf_counter() - t0, 3)
    marker = {"stage": name, "hash": digest, "run_id": uuid.uuid4().hex, "seconds": seconds,
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "summary": summary}
    tmp = ctx.dir(name) / (DONE + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2, default=_json_default) + "\n", encoding="utf-8")
    tmp.replace(ctx.dir(name) / DONE)
    ctx.summaries[name] = json.loads(json.dumps(summary, default=_json_default))
    log.info("stage %s: done in %.1f s", name, seconds)
    return ctx.summaries[name]


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def run_pipeline(config: ExperimentConfig, stages: list[str] | None = None, force: bool = False,
                 show_progress: bool = True) -> dict[str, Any]:
    """Run the given stages (default: every enabled stage, in order); write the results files."""
    di = dd.init_from_env()                         # under torchrun: join the process group
    out = config.out_path()
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(config, out, show_progress and di.is_main)
    if di.is_main:
        _save_config(config, out)
    names = stages or [n for n, s in STAGES.items() if s.enabled(config)]
    for name in names:
        if name in STAGES and not STAGES[name].enabled(config):
            raise StageError(_not_enabled(name, config))
        run_stage(ctx, name, force)
    if not di.is_main:
        return {"out_dir": str(ctx.out_dir), "rank": di.rank}
    return write_results(ctx)


def _not_enabled(name: str, config: ExperimentConfig) -> str:
    """Why stage ``name`` does not run for ``config``, and what to add to the file so it does."""
    where = config.path.name if config.path else "this configuration"
    if name == "simulate":
        return f"stage 'simulate' does not apply to {where}: set [simulate] enabled = true to simulate a world"
    sections = {"fit": "[features] and [fit] sections", "export": "[features] and [fit] sections",
                "features": "a [features] section (and [fit])"}.get(name, f"a [{name}] section")
    return (f"stage '{name}' does not apply to {where}: it runs when the file has {sections} "
            "(`cbrec-train init NEW.toml` writes a template with them)")


def _save_config(config: ExperimentConfig, out: Path) -> None:
    if config.path and config.path.exists() and config.path.resolve() != (out / "config.toml").resolve():
        shutil.copyfile(config.path, out / "config.toml")
    (out / "config.resolved.json").write_text(dump_resolved(config) + "\n", encoding="utf-8")


def write_results(ctx: Context) -> dict[str, Any]:
    """``results.json`` (every finished stage's summary + config) and a markdown ``summary.md``."""
    stages = {}
    for name in STAGES:
        marker = read_marker(ctx.dir(name))
        if marker:
            stages[name] = {"summary": marker["summary"], "seconds": marker["seconds"], "finished": marker["finished"]}
    results = {"name": ctx.config.name, "out_dir": str(ctx.out_dir), "config": ctx.config.to_dict(), "stages": stages}
    (ctx.out_dir / RESULTS).write_text(json.dumps(results, indent=2, default=_json_default) + "\n", encoding="utf-8")
    (ctx.out_dir / SUMMARY).write_text(markdown_summary(results), encoding="utf-8")
    return results


def markdown_summary(results: dict[str, Any]) -> str:
    """A human summary: one section per stage, metrics tables where a stage reports them."""
    lines = [f"# {results['name']}", "", f"Output folder: `{results['out_dir']}`; settings in `config.toml`.", ""]
    for name, info in results["stages"].items():
        lines += [f"## {name} ({info['seconds']:.1f} s, {info['finished']})", ""]
        summary = dict(info["summary"])
        tables = summary.pop("tables", {})
        for key, value in summary.items():
            if not isinstance(value, dict | list):
                lines.append(f"- {key}: {value}")
            elif isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
                lines.append(f"- {key}: " + ", ".join(f"{k}={v}" for k, v in value.items()))
        for title, rows in tables.items():
            lines += ["", f"**{title}**", "", "| model | " + " | ".join(rows[0][1]) + " |",
                      "|---|" + "---:|" * len(rows[0][1])]
            lines += [f"| {model} | " + " | ".join(_fmt(v) for v in cols.values()) + " |" for model, cols in rows]
        lines.append("")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


# The built-in data stages register themselves; imported last, as they import this module.
from trainer import data_stages  # noqa: E402,F401
