"""Reference outputs of the original musicnn graph, for cbrec's parity test (run once, by hand).

NOT run by the test suite and NOT importable from cbrec's own environment: it needs TensorFlow,
librosa and the ``musicnn`` package, which cbrec does not depend on. Use a throwaway venv
outside the repository::

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow tf_keras librosa
    /tmp/tfvenv/bin/pip install --no-deps musicnn==0.1.0      # its pins (numpy<1.17, TF 1) are obsolete
    TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python tools/musicnn_reference.py \
        ../shared/fixtures/audio/Kevin_MacLeod_-_Vibe_Ace.hq.ogg

Measured with TensorFlow 2.21.0, tf_keras, librosa 0.11.0, numpy 2.4.6, musicnn 0.1.0.

What it runs is musicnn's own graph (``musicnn.models.define_model``, the ``MSD_musicnn``
checkpoint restored by ``tf.compat.v1.train.Saver`` exactly as ``musicnn.extractor`` does) on:

(a) three synthetic inputs (:func:`synthetic_inputs`: integer-hash noise, a smooth pattern,
    silence), each ``(187 frames, 96 bands)``;
(b) two 187-frame patches of real music, from an excerpt of the audio file given, decoded and
    resampled to 16 kHz mono by ``librosa.load`` (channels averaged) and quantised to int16:
    patch 1 is the excerpt's first window (47,616 samples, exactly one cbrec window: 187 centred
    frames) analysed on its own, its audio kept in the fixture for the frontend test; patch 2 is
    the second 187-frame patch of the excerpt's whole spectrogram, cut as musicnn's
    ``batch_data`` cuts them (only its mel power is kept). musicnn's preprocessing is spelled out
    with two corrections for today's libraries:
    * ``pad_mode="reflect"``: librosa < 0.10 (musicnn's era, librosa 0.7) centred STFT frames
      with reflection padding; librosa >= 0.9 pads with zeros by default;
    * the float16 mel power is cast to float32 before ``log10(10000 x + 1)``: under numpy < 2
      (musicnn pins numpy < 1.17) ``10000 * float16_array`` was float32; numpy 2 keeps float16
      and overflows to inf for any mel power above 6.55.

Each input set runs twice: with the checkpoint's float32 weights (``*_taggram``,
``*_penultimate``: how close the shipped model is to the original) and with every variable
rounded to float16 and back (``*_f16w``: the shipped ``musicnn.pt`` stores float16, so these
check the architecture to float32 precision). Writes ``tests/core/data/musicnn_reference.npz``
(int16 audio, float16 mel power, float32 outputs, provenance) and a tiny TF checkpoint bundle
``tests/trainer/data/tiny_bundle/tiny.*`` for the bundle reader's unit test.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SR, N_FFT, HOP, N_MELS, FRAMES = 16000, 512, 256, 96, 187
#: One window as the embedder cuts it: ``(187 - 1) * 256`` samples give exactly 187 centred frames.
WINDOW_SAMPLES = (FRAMES - 1) * HOP
#: Two patches: an excerpt whose centred spectrogram has exactly 2 * 187 frames.
EXCERPT_SAMPLES = (2 * FRAMES - 1) * HOP
EXCERPT_OFFSET_S = 20.0


def synthetic_inputs() -> np.ndarray:
    """``(3, 187, 96)`` float32 network inputs in musicnn's range (0..4.5), made with integer
    arithmetic only, so every platform and numpy version gives the same bits: hash noise, a
    smooth time-frequency pattern, and silence (all zeros)."""
    t = np.arange(FRAMES, dtype=np.uint64)[:, None]
    f = np.arange(N_MELS, dtype=np.uint64)[None, :]
    noise = ((t * np.uint64(37) + f * np.uint64(101) + np.uint64(7919)) * np.uint64(2654435761)) % np.uint64(2 ** 32)
    noise = (noise.astype(np.float64) / 2 ** 32 * 4.5).astype(np.float32)
    smooth = ((t % np.uint64(47)).astype(np.float64) / 47 * 2.0 + (f % np.uint64(24)).astype(np.float64) / 24 * 2.5)
    smooth = smooth.astype(np.float32)
    return np.stack([noise, smooth, np.zeros_like(noise)])


def reference_mel_power(audio: np.ndarray) -> np.ndarray:
    """musicnn's ``batch_data`` spectrogram ``(frames, 96)`` as float16 power (before the log)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS,
                                         pad_mode="reflect").T
    return mel.astype(np.float16)


def log_compress(power16: np.ndarray) -> np.ndarray:
    """musicnn's ``np.log10(10000 * audio_rep + 1)`` as numpy < 2 computed it (in float32)."""
    return np.log10(10000 * power16.astype(np.float32) + 1)


def run_graph(inputs: np.ndarray, float16_weights: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 187, 96)`` -> (taggram ``(n, 50)``, penultimate ``(n, 200)``) from musicnn's own graph;
    ``float16_weights`` rounds every restored variable to float16 first."""
    import tensorflow as tf
    from musicnn import configuration, models

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, FRAMES, configuration.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y, *_, penultimate = models.define_model(x, is_training, "MSD_musicnn", len(configuration.MSD_LABELS))
        normalized_y = tf.nn.sigmoid(y)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().restore(sess, os.path.dirname(models.__file__) + "/MSD_musicnn/")
        if float16_weights:
            for var in tf.compat.v1.global_variables():
                value = sess.run(var)
                if value.dtype == np.float32:
                    var.load(value.astype(np.float16).astype(np.float32), sess)
        tags, pen = sess.run([normalized_y, penultimate], feed_dict={x: inputs, is_training: False})
    return np.asarray(tags, np.float32), np.asarray(pen, np.float32)


def write_tiny_bundle(prefix: Path) -> None:
    """A TF checkpoint of four small tensors (float32, float64, int32, float16) whose values the
    reader's test rebuilds: ``arange`` reshaped, ``arange * 0.5``, ``-arange``, ``arange / 4``."""
    import tensorflow as tf

    tf.compat.v1.reset_default_graph()
    with tf.Graph().as_default():
        values = {
            "alpha/kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
            "beta": np.arange(5, dtype=np.float64) * 0.5,
            "gamma/counts": -np.arange(7, dtype=np.int32),
            "delta_half": (np.arange(6, dtype=np.float16) / 4).reshape(3, 2),
        }
        variables = [tf.compat.v1.Variable(v, name=k) for k, v in values.items()]
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix.parent.mkdir(parents=True, exist_ok=True)
            saver.save(sess, str(prefix), write_meta_graph=False, write_state=False)


def extractor_check(audio_path: Path, out: Path) -> None:
    """Run musicnn's own ``extractor`` (MSD_musicnn, its numpy-2 overflow fixed) on a whole file and
    save its inputs (``batch``), ``taggram`` and ``penultimate`` to ``out``, to compare a port with.

    musicnn 0.1.0's extractor returns the *first* patch's ``penultimate`` (and cnn1-3) for every
    patch: its batching loop concatenates the stale first-batch values. Compare taggrams.
    """
    import inspect

    import musicnn.extractor as ex

    src = inspect.getsource(ex.batch_data)
    old = "audio_rep = np.log10(10000 * audio_rep + 1)"
    assert old in src, "unexpected musicnn version"
    exec(src.replace(old, "audio_rep = np.log10(10000 * audio_rep.astype(np.float32) + 1)"), ex.__dict__)
    taggram, _, features = ex.extractor(str(audio_path), model="MSD_musicnn", extract_features=True)
    batch, _ = ex.batch_data(str(audio_path), FRAMES, FRAMES)
    np.savez(out, taggram=taggram, penultimate=features["penultimate"], batch=batch)
    print(f"wrote {out}: {len(batch)} patches")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("audio", type=Path, help="a music file (the excerpt starts 20 s in)")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "core" / "data" / "musicnn_reference.npz")
    parser.add_argument("--bundle", type=Path, default=ROOT / "tests" / "trainer" / "data" / "tiny_bundle" / "tiny")
    parser.add_argument("--extractor-check", type=Path, metavar="OUT.npz",
                        help="instead, save musicnn's own extractor outputs on the whole file to OUT.npz")
    args = parser.parse_args(argv)
    if args.extractor_check:
        extractor_check(args.audio, args.extractor_check)
        return 0

    import librosa
    import musicnn
    import tensorflow as tf

    y, _ = librosa.load(args.audio, sr=SR, mono=True, offset=EXCERPT_OFFSET_S)
    if len(y) < EXCERPT_SAMPLES:
        raise SystemExit(f"{args.audio} is too short: need {EXCERPT_OFFSET_S + EXCERPT_SAMPLES / SR:.1f} s")
    pcm = np.clip(np.round(y[:EXCERPT_SAMPLES] * 32768.0), -32768, 32767).astype(np.int16)
    audio = pcm.astype(np.float32) / 32768.0
    window16 = reference_mel_power(audio[:WINDOW_SAMPLES])
    whole16 = reference_mel_power(audio)
    assert window16.shape == (FRAMES, N_MELS) and whole16.shape == (2 * FRAMES, N_MELS)
    power16 = np.stack([window16, whole16[FRAMES:]])
    patches = log_compress(power16)
    synth = synthetic_inputs()
    outputs = {}
    for name, x in (("synthetic", synth), ("audio", patches)):
        outputs[f"{name}_taggram"], outputs[f"{name}_penultimate"] = run_graph(x)
        outputs[f"{name}_taggram_f16w"], outputs[f"{name}_penultimate_f16w"] = run_graph(x, float16_weights=True)
    provenance = (f"musicnn {getattr(musicnn, '__version__', '0.1.0')} MSD_musicnn graph; TensorFlow {tf.__version__}, "
                  f"librosa {librosa.__version__}, numpy {np.__version__}; audio: {args.audio.name}, "
                  f"{EXCERPT_SAMPLES} samples at {SR} Hz from {EXCERPT_OFFSET_S:.0f} s (librosa.load, mono mean)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, audio_pcm16=pcm[:WINDOW_SAMPLES], mel_power_f16=power16,
                        provenance=np.array(provenance), **outputs)
    write_tiny_bundle(args.bundle)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) and {args.bundle}.*")
    top = outputs["audio_taggram"].mean(0).argsort()[::-1][:5]
    print("audio top tags:", [musicnn.configuration.MSD_LABELS[i] for i in top])
    return 0


if __name__ == "__main__":
    sys.exit(main())
