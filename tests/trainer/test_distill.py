"""``cbrec-train distill``: a student learns a teacher's vectors from real decoded audio, and inherits its tags."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.model import load_model, load_net
from tests.audio_factory import write_audio
from tests.model_factory import make_test_model
from trainer.cli import main as train_main
from trainer.distill import DistillSettings, corpus_files, distill

KINDS = ["chord", "noise", "drums", "sweep"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for kind in KINDS:
        (root / kind).mkdir()
    for i in range(12):
        write_audio(root / KINDS[i % 4] / f"t{i}.ogg", seconds=6.0, sr=16000, kind=KINDS[i % 4], seed=i)
    (root / "notes.txt").write_text("not audio")
    return root


def test_student_learns_teacher_vectors_and_copies_its_tag_head(corpus: Path, tmp_path: Path) -> None:
    teacher_pt = make_test_model(tmp_path, name="teacher", sample_rate=16000, tags=["a", "b", "c"], seed=3,
                                 window_seconds=3.0, frontend={"kind": "logmel", "n_fft": 512, "hop_length": 256})
    s = DistillSettings(teacher=teacher_pt, corpus=[corpus], out=tmp_path / "run", width=16,
                        windows_per_track=4, epochs=6, batch_size=8, lr=3e-3, val_share=0.25, workers=1)
    card = distill(s)
    history = json.loads((s.out / "history.json").read_text())
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    student = load_model(s.out / "fast.pt", device="cpu")
    teacher, t_card = load_net(teacher_pt)
    assert card.tags == t_card.tags == student.tag_names
    assert student.sample_rate == 16000 and student.window_samples == t_card.window_samples
    torch.testing.assert_close(student.net.tag_head.weight, teacher.tag_head.weight)
    assert card.trained_on["teacher"]["analysis_version"] == t_card.analysis_version
    assert card.training["train_tracks"] == 9 and card.training["val_tracks"] == 3
    vectors, tags = student.embed_with_tags(np.zeros((1, 2, student.window_samples), np.float32))
    assert vectors.shape == (1, t_card.output_dim) and tags.shape == (1, 3)
    # a rerun resumes from the cached windows and targets
    assert (s.out / "windows.npy").exists() and (s.out / "targets.npy").exists()


def test_cli_distill_reports_a_folder_without_audio(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    teacher_pt = make_test_model(tmp_path, name="teacher", sample_rate=16000)
    code = train_main(["distill", "--teacher", str(teacher_pt), "--corpus", str(tmp_path / "empty"),
                       "--out", str(tmp_path / "run")])
    assert code == 2
    assert "No audio files found" in capsys.readouterr().err


def test_corpus_files_reads_labels_tsv(corpus: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.tsv"
    (tmp_path / "library").symlink_to(corpus)
    labels.write_text("chord/t0.ogg\tchord\t6.0\nnoise/t1.ogg\tnoise\t6.0\n")
    assert corpus_files([labels]) == [str(tmp_path / "library" / "chord/t0.ogg"),
                                      str(tmp_path / "library" / "noise/t1.ogg")]
    assert len(corpus_files([corpus])) == 12


def test_distill_with_timbre_weight_writes_a_fused_model_with_the_same_tags(corpus: Path, tmp_path: Path) -> None:
    teacher_pt = make_test_model(tmp_path, name="teacher", sample_rate=16000, tags=["a", "b"], seed=4,
                                 window_seconds=3.0, frontend={"kind": "logmel", "n_fft": 512, "hop_length": 256})
    s = DistillSettings(teacher=teacher_pt, corpus=[corpus], out=tmp_path / "run", width=16, windows_per_track=3,
                        epochs=2, batch_size=8, val_share=0.25, workers=1, timbre_weight=0.3)
    card = distill(s)
    assert card.architecture == "fused" and card.params["timbre_weight"] == 0.3
    assert card.output_dim == 16 + 2 * 32 and card.trained_on["fused"]["timbre_weight"] == 0.3
    fused = load_model(s.out / "fast.pt", device="cpu")
    windows = np.random.default_rng(1).standard_normal((2, 2, fused.window_samples)).astype(np.float32) * 0.1
    _, tags = fused.embed_with_tags(windows)
    raw = fused.net(fused.frontend(torch.from_numpy(windows.reshape(4, -1))))
    inner_tags = torch.sigmoid(fused.net.tag_head(raw)).reshape(2, 2, 2).mean(1)
    plain = torch.sigmoid(raw[:, :16] @ fused.net.tag_head.weight[:, :16].T + fused.net.tag_head.bias)
    np.testing.assert_allclose(tags, inner_tags.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tags, plain.reshape(2, 2, 2).mean(1).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_cli_fuse_wraps_a_model_and_never_overwrites(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inner = make_test_model(tmp_path, name="inner", sample_rate=16000, tags=["x"],
                            window_seconds=3.0, frontend={"kind": "logmel", "n_fft": 512, "hop_length": 256})
    args = ["fuse", "--model", str(inner), "--corpus", str(corpus), "--out", str(tmp_path / "best"),
            "--windows-per-track", "2", "--workers", "1", "--n-windows", "3"]
    assert train_main(args) == 0
    card = load_model(tmp_path / "best.pt", device="cpu").card
    assert card.n_windows == 3 and card.architecture == "fused" and card.tags == ["x"] and card.params["inner"]["architecture"] == "dieleman2014"
    assert train_main(args) == 2
    assert "never overwritten" in capsys.readouterr().err
