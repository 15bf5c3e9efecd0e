"""The pure-Python TF checkpoint reader on a tiny bundle written by TensorFlow itself.

``data/tiny_bundle/tiny.*`` was saved by ``tf.compat.v1.train.Saver`` (``tools/musicnn_reference.py``,
``write_tiny_bundle``) from the values rebuilt in ``EXPECTED``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from trainer.tf_checkpoint import BundleError, crc32c, read_bundle, read_index

BUNDLE = Path(__file__).parent / "data" / "tiny_bundle"
EXPECTED = {
    "alpha/kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
    "beta": np.arange(5, dtype=np.float64) * 0.5,
    "gamma/counts": -np.arange(7, dtype=np.int32),
    "delta_half": (np.arange(6, dtype=np.float16) / 4).reshape(3, 2),
}


def _copy(tmp_path: Path) -> str:
    for f in BUNDLE.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return str(tmp_path / "tiny")


def test_reads_every_tensor_with_its_dtype_shape_and_values() -> None:
    tensors = read_bundle(BUNDLE / "tiny")
    assert sorted(tensors) == sorted(EXPECTED)
    for name, want in EXPECTED.items():
        assert tensors[name].dtype == want.dtype and tensors[name].shape == want.shape, name
        np.testing.assert_array_equal(tensors[name], want)


def test_index_lists_entries_and_names_select() -> None:
    index = read_index(BUNDLE / "tiny.index")
    assert index["alpha/kernel"].shape == (2, 3, 4) and index["alpha/kernel"].size == 96
    assert index["beta"].dtype == 2 and index["delta_half"].dtype == 19
    assert list(read_bundle(BUNDLE / "tiny", ["beta"])) == ["beta"]
    with pytest.raises(BundleError, match="no tensor"):
        read_bundle(BUNDLE / "tiny", ["nope"])


def test_crc32c_known_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_damaged_data_and_index_are_refused(tmp_path: Path) -> None:
    prefix = _copy(tmp_path)
    data = Path(prefix + ".data-00000-of-00001")
    raw = bytearray(data.read_bytes())
    raw[5] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="CRC"):
        read_bundle(prefix)
    assert read_bundle(prefix, verify=False)["alpha/kernel"].shape == (2, 3, 4)
    index = Path(prefix + ".index")
    index.write_bytes(index.read_bytes()[:-3])
    with pytest.raises(BundleError, match="magic|short"):
        read_index(index)
    with pytest.raises(BundleError, match="cannot read"):
        read_index(tmp_path / "missing.index")
