"""core.audio on real encoded audio: every format, windows across the track, seeking, bad files."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.audio import AUDIO_EXTENSIONS, AudioInfo, Excerpt, load, load_windows, probe, window_starts
from core.errors import AudioError
from tests.adversarial_audio import make_adversarial_set
from tests.audio_factory import synth, write_audio

SR = 16000
QUARTER_HZ = (250.0, 500.0, 1000.0, 2000.0)  # one tone per quarter of the test track
FORMATS = {  # suffix -> codec name PyAV reports
    ".mp3": "mp3", ".flac": "flac", ".ogg": "vorbis", ".opus": "opus", ".m4a": "aac",
    ".alac.m4a": "alac", ".wav": "pcm_s16le", ".aiff": "pcm_s16be", ".wma": "wmav2",
    ".aac": "aac", ".mka": "flac", ".webm": "opus",
}
LOSSLESS = {".flac", ".alac.m4a", ".wav", ".aiff", ".mka"}
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "audio"


def within(seconds: float, fn, *args):
    """Run fn(*args) in a daemon thread; fail the test (instead of hanging) if it takes too long."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)}{args!r} did not return within {seconds} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def quarters_signal(seconds: float, sr: int = SR) -> np.ndarray:
    """(1, n): a different pure tone in each quarter of the track."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    freq = np.asarray(QUARTER_HZ)[np.minimum((4 * np.arange(n)) // n, 3)]
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None]


def dominant_hz(x: np.ndarray, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[np.argmax(spectrum)])


@pytest.fixture(scope="module")
def quarters(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("quarters")
    signal = quarters_signal(12.0)
    return {suffix: write_audio(folder / f"q{suffix}", sr=SR, signal=signal) for suffix in FORMATS}


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    return make_adversarial_set(tmp_path_factory.mktemp("adversarial"))


# --- window_starts (pure) ---------------------------------------------------------------------

def test_window_starts_are_centred_in_equal_segments():
    assert window_starts(180.0, 3.0, 4) == [21.0, 66.0, 111.0, 156.0]
    assert window_starts(100.0, 10.0, 1) == [45.0]


def test_window_starts_stay_inside_the_track():
    for duration, window, n in [(10.0, 3.0, 8), (3.5, 3.0, 4), (600.0, 29.1, 7)]:
        starts = window_starts(duration, window, n)
        assert len(starts) == n
        assert all(0.0 <= s <= duration - window + 1e-9 for s in starts)
        assert starts == sorted(starts)


def test_window_starts_for_short_or_odd_tracks():
    assert window_starts(2.0, 3.0, 3) == [0.0, 0.0, 0.0]
    assert window_starts(float("nan"), 3.0, 2) == [0.0, 0.0]
    assert window_starts(60.0, 3.0, 0) == []


def test_extensions_are_lower_case_with_dot():
    assert {".mp3", ".flac", ".ogg", ".opus", ".m4a", ".wav", ".aiff", ".wma"} <= AUDIO_EXTENSIONS
    assert all(e.startswith(".") and e == e.lower() for e in AUDIO_EXTENSIONS)


# --- every format -------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", FORMATS)
def test_every_format_decodes_to_mono_at_the_requested_rate(quarters, suffix):
    path = quarters[suffix]
    info = probe(path)
    assert info.codec.startswith(FORMATS[suffix]) and info.sample_rate > 0 and info.channels >= 1
    if suffix != ".aac":  # raw ADTS has no length field: FFmpeg estimates one from the bit rate
        assert info.duration == pytest.approx(12.0, abs=0.15)
    for sr in (SR, 22050):
        x = load(path, sr)
        assert x.dtype == np.float32 and x.ndim == 1 and np.isfinite(x).all()
        assert x.size / sr == pytest.approx(12.0, abs=0.15)
        assert 0.2 < np.abs(x).max() <= 1.0
    first_second = load(path, SR, 0.0, 1.0)
    assert first_second.size == SR and dominant_hz(first_second) == pytest.approx(QUARTER_HZ[0], abs=5)


@pytest.mark.parametrize("suffix", FORMATS)
def test_windows_come_from_across_the_track(quarters, suffix):
    excerpt = load_windows(quarters[suffix], SR, SR, 4)  # 12 s track: seeks to each 1 s window
    assert isinstance(excerpt, Excerpt) and isinstance(excerpt.info, AudioInfo)
    assert excerpt.windows.shape == (4, SR) and excerpt.windows.dtype == np.float32
    assert excerpt.duration == pytest.approx(12.0, abs=0.15 if suffix != ".aac" else 1.0)
    for window, hz in zip(excerpt.windows, QUARTER_HZ, strict=True):
        assert dominant_hz(window) == pytest.approx(hz, abs=5)
        assert np.abs(window[-SR // 10:]).max() > 0.1  # full window, not zero-padded


@pytest.mark.parametrize("suffix", [".flac", ".wav", ".alac.m4a", ".mp3", ".ogg", ".m4a", ".wma"])
def test_offset_reads_land_where_asked(tmp_path, suffix):
    """load(offset) matches the same span of a full decode: exactly for lossless, within 0.1 s else."""
    path = write_audio(tmp_path / f"noise{suffix}", 9.0, sr=SR, kind="noise", seed=4)  # aperiodic
    full = load(path, SR)
    for offset in (2.0, 7.25):
        part = load(path, SR, offset, 0.5)
        assert part.size == SR // 2
        first, margin = int(offset * SR), SR // 10
        if suffix in LOSSLESS:
            np.testing.assert_allclose(part, full[first:first + part.size], atol=1e-6)
        else:
            reference = full[first - margin:first + part.size + margin]
            lag = int(np.argmax(np.correlate(reference, part, "valid"))) - margin
            assert abs(lag) < margin


@pytest.mark.parametrize("suffix", [".flac", ".mp3", ".ogg", ".m4a"])
def test_resampled_windows_match_a_full_decode(tmp_path, suffix):
    """Seeked, resampled windows (44.1 kHz file -> 22.05 kHz) hold the audio a full decode has at
    the same times: the pre-roll, the decoder flush and the reused resampler leave no trace."""
    path = write_audio(tmp_path / f"noise{suffix}", 40.0, sr=44100, kind="noise", seed=9)
    sr, n = 22050, 22050
    excerpt = load_windows(path, sr, n, 4)
    full = load(path, sr)
    margin = sr // 10 if suffix not in LOSSLESS else 64
    for window, start in zip(excerpt.windows, window_starts(excerpt.duration, 1.0, 4), strict=True):
        first = int(round(start * sr))
        reference = full[first - margin:first + n + margin]
        lag = int(np.argmax(np.correlate(reference, window, "valid"))) - margin
        assert abs(lag) < margin
        aligned = reference[margin + lag:margin + lag + n]
        # the same audio (noise from elsewhere correlates ~0); lossy seeks can land between two
        # output samples, and a fractional shift of broadband noise costs some correlation
        assert np.corrcoef(aligned[n // 50:], window[n // 50:])[0, 1] > (0.99 if suffix in LOSSLESS else 0.9)


@pytest.mark.parametrize("suffix", [".mp3", ".m4a"])
def test_windows_do_not_depend_on_the_file_decoded_before(tmp_path, suffix):
    """The same file gives bit-identical windows whatever this thread decoded before it: a resampler
    reused across files carried its phase and delay line over, shifting every window by a few samples."""
    path = write_audio(tmp_path / f"music{suffix}", 40.0, sr=48000, kind="noise", seed=3)
    other = write_audio(tmp_path / f"other{suffix}", 37.3, sr=48000, kind="noise", seed=4)
    fresh = load_windows(path, 22050, 22050, 4).windows
    load_windows(other, 22050, 22050, 5)
    again = load_windows(path, 22050, 22050, 4).windows
    assert np.array_equal(fresh, again)
    excerpt = load(path, 22050, offset=12.0, duration=3.0)
    load(other, 22050, offset=5.0, duration=7.0)
    assert np.array_equal(excerpt, load(path, 22050, offset=12.0, duration=3.0))


def test_seeking_reads_only_a_small_part_of_a_long_file(tmp_path):
    if not Path("/proc/self/io").exists():
        pytest.skip("needs Linux /proc/self/io to count bytes read")

    def bytes_read() -> int:
        return int(next(line for line in open("/proc/self/io") if line.startswith("rchar")).split()[1])

    path = write_audio(tmp_path / "long.wav", 300, sr=8000, kind="sweep")  # 4.8 MB
    before = bytes_read()
    excerpt = load_windows(path, 8000, 8000, 4)
    windows_read = bytes_read() - before
    before = bytes_read()
    full = load(path, 8000)
    full_read = bytes_read() - before
    assert excerpt.duration == pytest.approx(300.0) and full.size == 300 * 8000
    assert full_read >= path.stat().st_size
    assert windows_read < 0.1 * path.stat().st_size, f"windows read {windows_read} bytes"


# --- content handling -----------------------------------------------------------------------------

def test_stereo_is_averaged_and_integers_scaled(tmp_path):
    left = synth(6, SR, kind="chord", seed=1)[0]
    opposite = write_audio(tmp_path / "opposite.wav", sr=SR, signal=np.stack([left, -left]))
    one_side = write_audio(tmp_path / "one_side.flac", sr=SR, signal=np.stack([left, np.zeros_like(left)]))
    assert np.abs(load(opposite, SR)).max() < 1e-3
    np.testing.assert_allclose(load(one_side, SR), left / 2, atol=1e-4)
    square = np.sign(np.sin(2 * np.pi * 100 * np.arange(SR) / SR)).astype(np.float32)[None] * 0.5
    decoded = load(write_audio(tmp_path / "square.aiff", sr=SR, signal=square), SR)  # 16-bit integers
    assert np.abs(decoded).max() == pytest.approx(0.5, abs=1e-3)


def test_nan_and_inf_samples_come_out_finite(tmp_path):
    x = synth(2, SR)
    x[0, 100:200], x[0, 300], x[0, 400] = np.nan, np.inf, -np.inf
    path = write_audio(tmp_path / "float.wav", sr=SR, signal=x, codec="pcm_f32le")
    y = load(path, SR)
    assert y.size == 2 * SR and np.isfinite(y).all() and np.abs(y).max() <= 1.0
    assert np.isfinite(load_windows(path, SR, SR, 2).windows).all()


def test_short_track_fills_every_window_by_repeating(bad):
    clip = load(bad["short_clip_wav"], 22050)
    excerpt = load_windows(bad["short_clip_wav"], 22050, 3 * 22050, 4)
    assert excerpt.duration == pytest.approx(0.3, abs=0.01)
    assert excerpt.windows.shape == (4, 3 * 22050)
    for window in excerpt.windows:
        np.testing.assert_array_equal(window[:clip.size], clip)
        assert np.abs(window[-clip.size:]).max() > 0.1  # filled, not silence


def test_silence_gives_finite_zeros(bad):
    excerpt = load_windows(bad["silence_flac"], 22050, 3 * 22050, 4)
    assert excerpt.duration == pytest.approx(60.0)
    assert np.isfinite(excerpt.windows).all() and not excerpt.windows.any()


@pytest.mark.parametrize("name", ["lying_header_wav", "lying_header_flac"])
def test_a_header_claiming_ten_hours_uses_the_audio_that_exists(bad, name):
    path = bad[name]
    if name == "lying_header_flac":
        assert probe(path).duration == pytest.approx(36000.0)  # the decoder believes the lie
    excerpt = within(10, load_windows, path, 22050, 22050, 4)
    assert excerpt.duration == pytest.approx(5.0, abs=0.05)
    assert np.isfinite(excerpt.windows).all() and (np.abs(excerpt.windows).max(axis=1) > 0.05).all()
    full = load(path, 22050)
    assert full.size == pytest.approx(5 * 22050, abs=1200)
    starts = [position_in(window, full) for window in excerpt.windows]
    assert starts == sorted(starts) and starts[-1] - starts[0] > 2 * 22050  # spread over the 5 s


def position_in(window: np.ndarray, full: np.ndarray, width: int = 32) -> int:
    """Sample index at which ``window`` begins inside ``full``."""
    views = np.lib.stride_tricks.sliding_window_view(full, width)
    return int(np.argmin(np.abs(views - window[:width]).sum(axis=1)))


def test_truncated_files_give_what_is_there(bad):
    for name in ("truncated_mp3", "truncated_flac"):
        excerpt = load_windows(bad[name], 22050, 22050, 4)
        assert 1.0 < excerpt.duration < probe(bad[name]).duration * 0.75
        assert np.isfinite(excerpt.windows).all() and np.abs(excerpt.windows).max() > 0.1


def test_surround_96k_and_lying_extension_and_big_cover(bad):
    info = probe(bad["multichannel_96k_flac"])
    assert (info.channels, info.sample_rate) == (8, 96000)
    assert load_windows(bad["multichannel_96k_flac"], 22050, 22050, 2).windows.shape == (2, 22050)
    assert probe(bad["flac_named_mp3"]).codec == "flac"
    assert np.abs(load_windows(bad["big_cover_mp3"], 22050, 22050, 2).windows).max() > 0.1


# --- failures -----------------------------------------------------------------------------------

EXPECTED_REASON = {
    "empty_mp3": "empty file (0 bytes)",
    "dir_mp3": "folder",
    "dir_link_ancestor": "folder",
    "fifo_mp3": "not a regular file",
    "loop_a_mp3": "symbolic link loop",
    "loop_b_mp3": "symbolic link loop",
    "broken_link_flac": "broken symbolic link",
    "text_ogg": "not an audio file",
    "random_m4a": "not an audio file",
    "video_only_mp4": "no audio stream",
}


def test_every_adversarial_item_gives_an_excerpt_or_a_plain_audio_error(bad):
    outcomes = {}
    for name, path in bad.items():
        for fn, args in ((load_windows, (path, 22050, 3 * 22050, 4)), (probe, (path,)), (load, (path, 8000))):
            try:
                result = within(15, fn, *args)
            except AudioError as exc:
                message = str(exc)
                assert os.fsencode(path).decode("utf-8", "replace") in message, message
                assert message.endswith(".") and "Traceback" not in message and "Errno" not in message
                outcomes[name] = message
                continue
            if fn is load_windows:
                assert result.windows.shape == (4, 3 * 22050) and np.isfinite(result.windows).all()
                outcomes[name] = "ok"
    for name, reason in EXPECTED_REASON.items():
        if name in bad:
            assert reason in outcomes[name], (name, outcomes[name])
    assert "damaged" in outcomes["random_flac"] or "no audio" in outcomes["random_flac"]
    for name in ("good_mp3", "good_flac", "good_ogg", "good_wav", "non_utf8_wav", "big_cover_mp3"):
        assert outcomes[name] == "ok", (name, outcomes[name])


def test_fifo_fails_fast_without_blocking(bad):
    if "fifo_mp3" not in bad:
        pytest.skip("os.mkfifo is not available on this system")
    started = time.perf_counter()
    with pytest.raises(AudioError, match="not a regular file"):
        within(5, load_windows, bad["fifo_mp3"], 22050, 22050, 1)
    assert time.perf_counter() - started < 1.0


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        probe(tmp_path / "nope.mp3")
    with pytest.raises(ValueError):
        load_windows(tmp_path / "nope.mp3", 0, 10, 1)


def test_audio_and_tags_modules_do_not_import_torch():
    code = "import sys, core.audio, core.tags; sys.exit('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, timeout=60).returncode == 0


# --- real recordings ------------------------------------------------------------------------------

def test_real_recordings_from_shared_fixtures():
    clips = sorted(FIXTURES.glob("*.ogg"))
    if not clips:
        pytest.skip(f"no real recordings: {FIXTURES} is absent or holds no .ogg files")
    for path in clips:
        info = probe(path)
        excerpt = load_windows(path, 22050, 3 * 22050, 4)
        assert excerpt.windows.shape == (4, 3 * 22050) and np.isfinite(excerpt.windows).all()
        assert excerpt.duration == pytest.approx(info.duration, rel=0.02), path.name
        rms = np.sqrt((excerpt.windows ** 2).mean(axis=1))
        assert (rms > 1e-4).all(), path.name
        assert not np.allclose(excerpt.windows[0], excerpt.windows[-1]), path.name
