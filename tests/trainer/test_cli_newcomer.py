"""``cbrec-train`` as the README shows it (issue 9, points 17 to 20), run as a user runs it.

The README's example, ``cbrec-train init exp.toml && cbrec-train run exp.toml``, is run unchanged
in a fresh folder once for the module: it must train and export a model (point 17). The export
tests then work on that experiment (point 18); the others need no training.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import trainer.train_stages  # noqa: F401 - registers [features], [fit], ... and the export stage
from core.model.card import verify_model_files
from trainer.config import ConfigError, example_toml, load_config

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "resources" / "models"


def cbrec_train(cwd: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CBREC_DEV_CORPUS"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "trainer.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout)


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, float]:
    """The README's two commands in an empty folder: (folder, the run's output, seconds)."""
    folder = tmp_path_factory.mktemp("newcomer")
    bundled_before = digest(BUNDLED)
    init = cbrec_train(folder, "init", "exp.toml")
    assert init.returncode == 0, init.stderr
    t0 = time.monotonic()
    run = cbrec_train(folder, "run", "exp.toml")
    seconds = time.monotonic() - t0
    assert run.returncode == 0, run.stderr[-3000:]
    assert digest(BUNDLED) == bundled_before          # the shipped model is never touched
    return folder, run, seconds


@pytest.mark.slow
def test_readme_example_trains_and_exports_a_model(readme_run) -> None:
    """Point 17: the template has [features] and [fit]; `run` ends with a model the app can load."""
    folder, run, seconds = readme_run
    model = folder / "runs" / "experiment" / "model" / "experiment.pt"
    assert f"model: {model}" in run.stdout, run.stdout
    card = verify_model_files(model)                  # card + weights hash, as the app checks them
    assert card.name == "experiment" and card.architecture == "dieleman2014"
    assert card.training["epochs"] >= 1 and card.trained_on["items"]["train"] > 0
    for stage in ("features", "fit", "export"):
        assert f"stage {stage}: done" in run.stderr
    print(f"\ncbrec-train run exp.toml (the README example): {seconds:.0f} s")

    from core import Library
    audio = sorted((folder / "runs" / "experiment" / "simulate" / "world" / "audio").rglob("*.mp3"))[:2]
    with Library.open(folder / "lib", model, device="cpu", workers=1) as lib:
        assert lib.embed_file(audio[0]).shape == (card.output_dim,)


@pytest.mark.slow
def test_export_never_overwrites_a_model_without_force(readme_run, tmp_path: Path) -> None:
    """Point 18: the default place is the experiment's own folder; a different model is never
    replaced without --force; the same model exported again writes nothing."""
    folder, _, _ = readme_run
    own = folder / "runs" / "experiment" / "model"
    before = digest(own)
    again = cbrec_train(folder, "export", "exp.toml")
    assert again.returncode == 0 and "nothing was written" in again.stdout, again.stdout + again.stderr
    assert digest(own) == before

    other = tmp_path / "models"
    other.mkdir()
    for suffix in (".pt", ".json"):
        shutil.copy(BUNDLED / f"default{suffix}", other / f"default{suffix}")
    shipped = digest(other)
    refused = cbrec_train(folder, "export", "exp.toml", "--dir", str(other), "--name", "default")
    assert refused.returncode == 2 and "already holds a different model" in refused.stderr, refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert digest(other) == shipped and sorted(p.name for p in other.iterdir()) == ["default.json", "default.pt"]
    forced = cbrec_train(folder, "export", "exp.toml", "--dir", str(other), "--name", "default", "--force")
    assert forced.returncode == 0 and forced.stdout.startswith("replaced "), forced.stderr
    assert verify_model_files(other / "default.pt").analysis_version == verify_model_files(own / "experiment.pt") \
        .analysis_version


def test_fit_and_export_say_the_same_thing_when_nothing_is_trained(tmp_path: Path) -> None:
    """Point 17: a file without [features]/[fit] gets one answer from both commands."""
    text = example_toml()
    (tmp_path / "exp.toml").write_text(text[:text.index("[features]")], encoding="utf-8")
    fit = cbrec_train(tmp_path, "fit", "exp.toml")
    export = cbrec_train(tmp_path, "export", "exp.toml")
    for out in (fit, export):
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert "[features] and [fit] sections" in out.stderr and "cbrec-train init" in out.stderr, out.stderr
    assert "[simulate]" not in fit.stderr                  # it used to blame [simulate] enabled
    # with the sections but before training, export says what to run, naming the file
    (tmp_path / "exp.toml").write_text(text, encoding="utf-8")
    early = cbrec_train(tmp_path, "export", "exp.toml")
    assert early.returncode == 2 and "has not run yet" in early.stderr and "cbrec-train run" in early.stderr


def test_table2_takes_its_corpus_from_the_environment_or_the_command_line(monkeypatch) -> None:
    """Point 19: no hard-coded /tmp/cbrec-dev-corpus; an unset variable is a clear error."""
    toml = REPO / "trainer" / "experiments" / "table2_dev.toml"
    assert "/tmp/cbrec-dev-corpus" not in toml.read_text(encoding="utf-8").split("[simulate]")[1]
    monkeypatch.delenv("CBREC_DEV_CORPUS", raising=False)
    with pytest.raises(ConfigError, match="CBREC_DEV_CORPUS, which is not set.*--set simulate.audio_library"):
        load_config(toml)
    monkeypatch.setenv("CBREC_DEV_CORPUS", "/srv/corpus")
    cfg = load_config(toml)
    assert cfg.resolve(cfg.simulate.audio_library) == Path("/srv/corpus/library")
    assert cfg.resolve(cfg.simulate.labels_tsv) == Path("/srv/corpus/labels.tsv")
    monkeypatch.delenv("CBREC_DEV_CORPUS")
    cfg = load_config(toml, ["simulate.audio_library=/data/c/library", "simulate.labels_tsv=/data/c/labels.tsv"])
    assert cfg.resolve(cfg.simulate.labels_tsv) == Path("/data/c/labels.tsv")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "CBREC_DEV_CORPUS" in readme and "--set simulate.audio_library" in readme


def test_simulated_bad_rows_are_called_deliberate(tmp_path: Path, caplog) -> None:
    """Point 20: the warning about the simulated world's malformed lines says they are on purpose."""
    from trainer.config import config_from_dict
    from trainer.pipeline import run_pipeline
    cfg = config_from_dict({"name": "bad", "out_dir": "out",
                            "simulate": {"enabled": True, "n_users": 30, "seed": 2,
                                         "world": {"n_songs": 8, "n_genres": 2, "clip_seconds": 2.0, "bad_rows": 6}}},
                           tmp_path / "exp.toml")
    with caplog.at_level(logging.INFO):
        run_pipeline(cfg, ["interactions"], show_progress=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "bad rows" in r.getMessage()]
    assert warnings, [r.getMessage() for r in caplog.records]
    assert all("deliberate" in w and "nothing is wrong" in w for w in warnings), warnings
    assert any("deliberately malformed rows" in r.getMessage() for r in caplog.records)
