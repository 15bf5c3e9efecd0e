"""``cbrec-train``: the headless training pipeline, one subcommand per stage plus ``run``.

Every stage subcommand is generated from :data:`trainer.pipeline.STAGES`; other commands live in
:data:`COMMANDS`. Adding one is one function and one registration::

    def _run_export(args: argparse.Namespace) -> int: ...
    COMMANDS["export"] = Command("write the model files", _run_export, _config_arguments)

(A new pipeline stage registered with ``trainer.pipeline.register`` gets its subcommand for free.)
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DESCRIPTION = """\
Train cbrec's content-based recommender the way van den Oord et al. (2013) and Platt (2017) did:

  simulate      (optional) write a simulated world in the real dataset formats
  match         LFM-1b tracks <-> Million Song Dataset tracks, case-insensitive artist + title
  interactions  play counts, users x items, from LFM-1b_LEs.txt (or Taste Profile triplets)
  split         per-user holdout of plays; cold-start split of items
  wmf           weighted matrix factorisation, c = 1 + alpha*log(1 + r/epsilon) (implicit ALS)
  evaluate      mAP@500 and AUC of WMF vs popularity and random; cold-start upper bound; tag AUC
  features      log-mel / waveform shards of every clip        (part 2: each runs when its
  fit           CNN(s) predicting the factors from audio        [section] is in the file)
  baseline      bag of words + linear regression (vdO §4.1)
  head          pretrained backbone (frozen musicnn) + linear / MLP heads to the factors
  report        the vdO Table 2 analogue -> <out_dir>/report.md
  export        the model files + card -> <out_dir>/model/<name>.pt/.json (never over a
                different model without --force; --dir/--name to put it elsewhere)

An experiment is a TOML file (start from `cbrec-train init exp.toml`). Each stage writes into
<out_dir>/<stage>/ with a `done` marker; finished stages are skipped unless --force.
results.json and summary.md in <out_dir> gather the numbers, config.toml the settings.
"""
EPILOG = "Example: cbrec-train init exp.toml && cbrec-train run exp.toml"
log = logging.getLogger("trainer")


@dataclass(frozen=True)
class Command:
    """A subcommand: its one-line help, what it does, and how it declares its arguments."""

    help: str
    run: Callable[[argparse.Namespace], int]
    add_arguments: Callable[[argparse.ArgumentParser], None]


def _config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="experiment TOML file")
    p.add_argument("--force", action="store_true", help="redo the stage(s) even if up to date")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (TOML syntax), e.g. --set wmf.factors=80; repeatable")


def _init_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="TOML file to write")
    p.add_argument("--real", action="store_true", help="a template for real data instead of a simulated world")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def _status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="experiment TOML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help=argparse.SUPPRESS)


def _run_all(args: argparse.Namespace) -> int:
    return _run_stages(args, None)


def _run_stages(args: argparse.Namespace, stages: list[str] | None) -> int:
    from trainer.config import load_config
    from trainer.pipeline import run_pipeline

    cfg = load_config(args.config, args.overrides)
    results = run_pipeline(cfg, stages, force=args.force, show_progress=not args.quiet)
    out = Path(results["out_dir"])
    if "rank" not in results:               # under torchrun, rank 0 alone reports
        print(f"results: {out / 'results.json'}\nsummary: {out / 'summary.md'}")
        model = results["stages"].get("export", {}).get("summary", {}).get("model")
        if model and stages is None:
            print(f"model: {model} (for the app: cbrec-lib --model {model}, or Settings > Model file)")
    return 0


def _run_init(args: argparse.Namespace) -> int:
    from trainer.config import example_toml

    if args.config.exists() and not args.force:
        raise FileExistsError(f"{args.config} exists; pass --force to overwrite it")
    args.config.parent.mkdir(parents=True, exist_ok=True)
    args.config.write_text(example_toml(simulate=not args.real), encoding="utf-8")
    print(f"wrote {args.config}; edit it, then: cbrec-train run {args.config}")
    return 0


def _run_status(args: argparse.Namespace) -> int:
    from trainer.config import load_config
    from trainer.pipeline import STAGES, Context, read_marker, stage_hash

    cfg = load_config(args.config, args.overrides)
    ctx = Context(cfg, cfg.out_path(), show_progress=False)
    for name, stage in STAGES.items():
        marker = read_marker(ctx.dir(name))
        if not stage.enabled(cfg):
            state = "not used"
        elif marker is None:
            state = "not run"
        else:
            state = "done" if marker["hash"] == stage_hash(ctx, stage) else "stale (inputs or settings changed)"
            state += f", {marker['finished']}, {marker['seconds']:.1f} s"
        print(f"{name:<14}{state}")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from trainer.export import run_export
    return run_export(args)


def _export_arguments(p: argparse.ArgumentParser) -> None:
    from trainer.export import add_arguments
    add_arguments(p)


def _run_distill(args: argparse.Namespace) -> int:
    from trainer.distill import run
    return run(args)


def _distill_arguments(p: argparse.ArgumentParser) -> None:
    from trainer.distill import add_arguments
    add_arguments(p)


def _run_fuse(args: argparse.Namespace) -> int:
    from trainer.fuse import run
    return run(args)


def _fuse_arguments(p: argparse.ArgumentParser) -> None:
    from trainer.fuse import add_arguments
    add_arguments(p)


COMMANDS: dict[str, Command] = {
    "run": Command("run every stage of an experiment (skipping finished ones)", _run_all, _config_arguments),
    "init": Command("write a starting experiment TOML file", _run_init, _init_arguments),
    "status": Command("show which stages are done, stale or not run", _run_status, _status_arguments),
    "export": Command("write <dir>/<name>.pt + .json (model card) from a fit run", _run_export, _export_arguments),
    "distill": Command("train a fast student to reproduce a teacher model's vectors (and tags) on unlabelled audio",
                       _run_distill, _distill_arguments),
    "fuse": Command("wrap a log-mel model into a fused one: its vector plus a timbre summary (statistics from a corpus)",
                    _run_fuse, _fuse_arguments),
    "export-head": Command("write the head stage's pretrained backbone + head as <dir>/<name>.pt + .json",
                           lambda a: _lazy("trainer.head_export", "run")(a),
                           lambda p: _lazy("trainer.head_export", "add_arguments")(p)),
    "export-pairwise": Command("write the pairwise stage's embedding tower as <dir>/<name>.pt + .json",
                               lambda a: _lazy("trainer.pairwise", "run_export")(a),
                               lambda p: _lazy("trainer.pairwise", "add_export_arguments")(p)),
}


def _lazy(module: str, name: str) -> Callable:
    import importlib
    return getattr(importlib.import_module(module), name)


def build_parser() -> argparse.ArgumentParser:
    import trainer.kkbox  # noqa: F401 - registers the kkbox stage (Zhao & Pu's CF baseline)
    import trainer.pairwise  # noqa: F401 - registers the pairwise stage (Zhao & Pu)
    import trainer.train_stages  # noqa: F401 - registers part 2: features, fit, baseline, report
    from trainer.pipeline import STAGES

    parser = argparse.ArgumentParser(prog="cbrec-train", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, stage in STAGES.items():
        if name in COMMANDS:   # export: the command does what the stage does, with more options
            continue
        p = sub.add_parser(name, help=f"stage: {stage.help}", description=f"Run the '{name}' stage "
                           f"(and any earlier stage it needs that is not done): {stage.help}.")
        _config_arguments(p)
        p.set_defaults(handler=lambda a, n=name: _run_stages(a, [n]))
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(handler=cmd.run)
    return parser


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status (2 for errors a user can fix)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    from tqdm.contrib.logging import logging_redirect_tqdm

    from core.errors import CbrecError
    try:
        with logging_redirect_tqdm():
            return args.handler(args)
    except KeyboardInterrupt:
        print("cbrec-train: interrupted; finished stages are kept, run again to resume", file=sys.stderr)
        return 130
    except (CbrecError, OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"cbrec-train: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a message, not a traceback, unless --debug
        if args.debug:
            raise
        print(f"cbrec-train: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 2
    finally:
        from trainer.distributed import shutdown
        shutdown()                          # leave torchrun's process group, if any


if __name__ == "__main__":
    raise SystemExit(main())
