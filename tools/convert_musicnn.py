"""Convert musicnn's MSD_musicnn weights (PyPI ``musicnn`` 0.1.0, ISC) to a cbrec model, reproducibly.

    .venv/bin/python tools/convert_musicnn.py                       # downloads the wheel with pip
    .venv/bin/python tools/convert_musicnn.py --wheel musicnn-0.1.0-py3-none-any.whl

Steps: ``pip download musicnn==0.1.0 --no-deps`` into a temporary folder (or take ``--wheel``),
check the wheel's sha256 against :data:`WHEEL_SHA256`, read the ``MSD_musicnn`` TF1 checkpoint
out of it with :mod:`trainer.tf_checkpoint` (no TensorFlow), map its 66 tensors onto
:class:`core.model.nets_musicnn.MusiCNN` (+ its 50-tag head) and save ``resources/models/musicnn.pt``
+ ``musicnn.json`` with :func:`core.model.save_model`. Weights are stored as float16 (the loader
copies them into float32 parameters); with ``--float32`` they are stored as they are.

When ``tests/core/data/musicnn_reference.npz`` (the original graph's outputs, made by
``tools/musicnn_reference.py``) is present, the saved model is checked against it and the errors
are written to the card's ``metrics``.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.model import ModelCard, load_net, save_model  # noqa: E402
from core.model.nets_musicnn import MusiCNN  # noqa: E402
from trainer.tf_checkpoint import read_bundle  # noqa: E402

PACKAGE, VERSION = "musicnn", "0.1.0"
WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
#: sha256 of the wheel on PyPI, measured 2026-11-30 (``sha256sum musicnn-0.1.0-py3-none-any.whl``).
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
CHECKPOINT = "musicnn/MSD_musicnn/"  # the bundle's prefix inside the wheel: files ".index", ".data-00000-of-00001"
LICENCE_MEMBER = "musicnn-0.1.0.dist-info/LICENSE.md"
#: musicnn's ``configuration.MSD_LABELS``: the Last.fm top-50 tags, in the order of the last layer.
MSD_LABELS = ["rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
              "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
              "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
              "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist",
              "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk",
              "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy"]
ATTRIBUTION = ("Pons, J. & Serra, X. (2019). musicnn: pre-trained convolutional neural networks for music "
               "audio tagging. ISMIR 2019 late-breaking/demo. Music Technology Group, Universitat Pompeu "
               "Fabra; https://github.com/jordipons/musicnn")
#: TF layer names -> our module names. Creation order in musicnn's ``build_musicnn``: input BN;
#: timbral 7x38, 7x67; temporal 128, 64, 32; mid-end x3; back-end BN, dense, BN, output dense.
CONVS = {"conv2d": "timbral.0", "conv2d_1": "timbral.1", "conv2d_2": "temporal.0", "conv2d_3": "temporal.1",
         "conv2d_4": "temporal.2", "conv2d_5": "midend.0", "conv2d_6": "midend.1", "conv2d_7": "midend.2"}
NORMS = {"batch_normalization": "input_bn", "batch_normalization_1": "timbral.0.bn",
         "batch_normalization_2": "timbral.1.bn", "batch_normalization_3": "temporal.0.bn",
         "batch_normalization_4": "temporal.1.bn", "batch_normalization_5": "temporal.2.bn",
         "batch_normalization_6": "midend.0.bn", "batch_normalization_7": "midend.1.bn",
         "batch_normalization_8": "midend.2.bn", "batch_normalization_9": "pool_bn",
         "batch_normalization_10": "dense_bn"}
DENSES = {"dense": "dense", "dense_1": "tag_head"}


def fetch_wheel(folder: Path) -> Path:
    """``pip download`` the wheel into ``folder``; a failure is a SystemExit that says why."""
    cmd = [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}", "--no-deps",
           "--only-binary=:all:", "-d", str(folder)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheel = folder / WHEEL_NAME
    if result.returncode != 0 or not wheel.is_file():
        raise SystemExit(f"pip could not download {PACKAGE}=={VERSION}:\n{result.stderr.strip()[-2000:]}")
    return wheel


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tf_to_state_dict(tf_vars: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """musicnn's TF variables -> a :class:`MusiCNN` state dict with its tag head (float32)."""
    state: dict[str, torch.Tensor] = {}
    for tf_name, ours in CONVS.items():
        kernel = tf_vars[f"{tf_name}/kernel"]                     # (time, width, 1, out)
        if ours.startswith("midend"):                            # Conv1d: (out, in = width, time)
            weight = kernel[:, :, 0, :].transpose(2, 1, 0)
        else:                                                    # Conv2d over (freq, time): (out, 1, freq, time)
            weight = kernel.transpose(3, 2, 1, 0)
        state[f"{ours}.conv.weight"] = torch.from_numpy(np.ascontiguousarray(weight))
        state[f"{ours}.conv.bias"] = torch.from_numpy(tf_vars[f"{tf_name}/bias"])
    for tf_name, ours in NORMS.items():
        for tf_key, key in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                            ("moving_variance", "running_var")):
            state[f"{ours}.{key}"] = torch.from_numpy(tf_vars[f"{tf_name}/{tf_key}"])
        state[f"{ours}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    for tf_name, ours in DENSES.items():
        state[f"{ours}.weight"] = torch.from_numpy(np.ascontiguousarray(tf_vars[f"{tf_name}/kernel"].T))
        state[f"{ours}.bias"] = torch.from_numpy(tf_vars[f"{tf_name}/bias"])
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def tf_variable_names() -> list[str]:
    """The 66 checkpoint tensors the network uses (Adam slots and step counters left out)."""
    names = [f"{c}/{k}" for c in CONVS for k in ("kernel", "bias")]
    names += [f"{n}/{k}" for n in NORMS for k in ("gamma", "beta", "moving_mean", "moving_variance")]
    return names + [f"{d}/{k}" for d in DENSES for k in ("kernel", "bias")]


def build_card(wheel_sha: str, licence: str, dtype: str, metrics: dict) -> ModelCard:
    """The card: MSD_musicnn geometry, 50 tags, provenance, licence and attribution."""
    source = {"package": PACKAGE, "version": VERSION, "wheel": WHEEL_NAME, "wheel_sha256": wheel_sha,
              "checkpoint": CHECKPOINT.rstrip("/"), "url": f"https://pypi.org/project/{PACKAGE}/{VERSION}/",
              "licence": "ISC", "licence_text": licence, "attribution": ATTRIBUTION}
    trained_on = {"dataset": "Million Song Dataset audio with the Last.fm top-50 tags (Pons & Serra's training)",
                  "backbone": source,
                  "note": "No weights trained by cbrec: the original network, converted by tools/convert_musicnn.py."}
    training = {"by": "Pons & Serra 2019 (not cbrec)", "converted_with": "tools/convert_musicnn.py",
                "stored_dtype": dtype,
                "window": "187 frames (2.976 s at 16 kHz, hop 256) per window; 8 windows spread across "
                          "the track, penultimates averaged"}
    return ModelCard.from_config("musicnn", "musicnn", MusiCNN.default_config(), trained_on=trained_on,
                                 training=training, metrics=metrics, tags=list(MSD_LABELS))


def parity(net: MusiCNN, reference: Path) -> dict:
    """Errors of ``net`` against the original graph's outputs in ``reference``: ``vs_original`` (the
    checkpoint's float32 weights) and ``vs_same_float16_weights`` (the graph with every weight
    rounded to float16, as stored here: the architecture's own error)."""
    sys.path.insert(0, str(ROOT / "tools"))
    from musicnn_reference import log_compress, synthetic_inputs

    ref = np.load(reference)
    out: dict = {}
    for name, x in (("synthetic", synthetic_inputs()), ("audio", log_compress(ref["mel_power_f16"]))):
        with torch.inference_mode():
            pen = net(torch.from_numpy(x).transpose(1, 2).contiguous())
            tags = net.tag_probabilities(pen).numpy()
        pen = pen.numpy()
        for label, suffix in (("vs_original", ""), ("vs_same_float16_weights", "_f16w")):
            ref_pen, ref_tags = ref[f"{name}_penultimate{suffix}"], ref[f"{name}_taggram{suffix}"]
            cos = (pen * ref_pen).sum(1) / (np.linalg.norm(pen, axis=1) * np.linalg.norm(ref_pen, axis=1))
            out.setdefault(label, {})[f"{name}_inputs"] = {
                "penultimate_max_abs_error": float(np.abs(pen - ref_pen).max()),
                "taggram_max_abs_error": float(np.abs(tags - ref_tags).max()),
                "penultimate_min_cosine": float(cos.min())}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="use this wheel instead of downloading it")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "models" / "musicnn")
    parser.add_argument("--float32", action="store_true", help="store float32 weights (default float16)")
    parser.add_argument("--reference", type=Path, default=ROOT / "tests" / "core" / "data" / "musicnn_reference.npz")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wheel = args.wheel or fetch_wheel(folder)
        digest = sha256(wheel)
        if digest != WHEEL_SHA256:
            raise SystemExit(f"{wheel} has sha256 {digest}, expected {WHEEL_SHA256}: not the musicnn "
                             f"{VERSION} wheel this converter was written for.")
        with zipfile.ZipFile(wheel) as zf:
            for member in (CHECKPOINT + ".index", CHECKPOINT + ".data-00000-of-00001"):
                zf.extract(member, folder / "wheel")
            licence = zf.read(LICENCE_MEMBER).decode("utf-8").strip()
        tf_vars = read_bundle(f"{folder / 'wheel'}/{CHECKPOINT}", tf_variable_names())
    net = MusiCNN(MusiCNN.default_config()["params"])
    net.attach_tag_head(len(MSD_LABELS))
    net.load_state_dict(tf_to_state_dict(tf_vars), strict=True)
    net.eval()
    dtype = "float32" if args.float32 else "float16"
    metrics: dict = {}
    card = build_card(digest, licence, dtype, metrics)
    saved = save_model(net if args.float32 else net.half(), card, args.out)
    loaded, _ = load_net(args.out)
    if args.reference.is_file():
        metrics = {"parity_vs_tensorflow": parity(loaded, args.reference)}
        card.metrics = metrics
        saved = save_model(loaded if args.float32 else loaded.half(), card, args.out)
    n_params = sum(p.numel() for p in MusiCNN(MusiCNN.default_config()["params"]).parameters()) + 200 * 50 + 50
    pt = args.out.with_suffix(".pt")
    print(f"wrote {pt} ({pt.stat().st_size} bytes, sha256 {sha256(pt)}) and {args.out.with_suffix('.json')}")
    print(f"analysis_version {saved.analysis_version}; {n_params} parameters; stored as {dtype}")
    if metrics:
        print("parity:", metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
