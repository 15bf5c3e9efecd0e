"""Read a TensorFlow (1.x/2.x) checkpoint bundle with no TensorFlow: pure Python and numpy.

A TF "V2" checkpoint is ``<prefix>.index`` plus ``<prefix>.data-0000i-of-0000n`` shards. The
index is a LevelDB-format SSTable (uncompressed blocks of prefix-compressed keys, an index block
of block handles, a 48-byte footer) mapping each variable name to a ``BundleEntryProto``
(dtype, shape, shard id, byte offset, byte size, masked CRC-32C); the empty key holds the
``BundleHeaderProto``. The data shards hold the raw little-endian tensor bytes.

    >>> bundle = read_bundle("/path/MSD_musicnn/")      # the prefix; here the files are ".index" ...
    >>> bundle["dense/kernel"].shape
    (1506, 200)

Only what ordinary (unpartitioned, numeric) checkpoints use is supported; anything else is a
:class:`BundleError` that says what was found.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BundleEntry", "BundleError", "crc32c", "read_bundle", "read_index"]

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER = 5  # 1 byte compression type + 4 bytes masked CRC-32C
#: TensorFlow ``DataType`` enum values -> little-endian numpy dtypes (numeric types only).
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?",
           17: "<u2", 19: "<f2", 22: "<u4", 23: "<u8"}


class BundleError(ValueError):
    """The files are not a TF checkpoint bundle this reader understands, or are damaged."""


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives: TF dtype enum, shape, data shard, byte offset and size, masked CRC."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TF and LevelDB compute it (before masking)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _mask(crc: int) -> int:
    """LevelDB's CRC mask (stored CRCs are masked so CRCs of CRCs stay distinct)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``: (value, next position)."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise BundleError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise BundleError("varint too long")


def _proto_fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """A protobuf message as ``[(field number, wire type, value)]`` (varints as int, bytes as bytes)."""
    fields, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos:pos + length]), pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise BundleError(f"unsupported protobuf wire type {wire}")
        fields.append((number, wire, value))
    if pos != len(buf):
        raise BundleError("truncated protobuf message")
    return fields


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    """``TensorShapeProto``: repeated ``Dim dim = 2`` (``int64 size = 1``); ``unknown_rank = 3``."""
    dims = []
    for number, _, value in _proto_fields(buf):
        if number == 2:
            size = next((v for n, _, v in _proto_fields(value) if n == 1), 0)
            dims.append(int(size))
        elif number == 3 and value:
            raise BundleError("a tensor of unknown rank")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> BundleEntry:
    """``BundleEntryProto``: dtype=1, shape=2, shard_id=3, offset=4, size=5, crc32c=6, slices=7."""
    values: dict[int, object] = {}
    for number, _, value in _proto_fields(buf):
        if number == 7:
            raise BundleError(f"tensor {name!r} is partitioned into slices, which this reader does not support")
        values[number] = value
    shape = _parse_shape(values[2]) if 2 in values else ()
    return BundleEntry(dtype=int(values.get(1, 0)), shape=shape, shard_id=int(values.get(3, 0)),
                       offset=int(values.get(4, 0)), size=int(values.get(5, 0)),
                       crc32c=int(values[6]) if 6 in values else None)


def _block(data: bytes, handle: bytes | tuple[int, int]) -> bytes:
    """The contents of the block at a ``(offset, size)`` handle, trailer checked (type and CRC)."""
    if isinstance(handle, bytes):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
    else:
        offset, size = handle
    end = offset + size
    if end + _BLOCK_TRAILER > len(data):
        raise BundleError("a block runs past the end of the index file")
    contents, kind = data[offset:end], data[end]
    if kind != 0:
        raise BundleError(f"compressed SSTable blocks (type {kind}) are not supported")
    stored = struct.unpack_from("<I", data, end + 1)[0]
    if _mask(crc32c(data[offset:end + 1])) != stored:
        raise BundleError("an index block fails its CRC-32C check (damaged file)")
    return contents


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` pairs of one SSTable block (keys are prefix-compressed)."""
    if len(block) < 4:
        raise BundleError("an SSTable block is too short")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise BundleError("an SSTable block has a bad restart array")
    entries, pos, key = [], 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise BundleError("an SSTable block entry is malformed")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + value_len]))
        pos += value_len
    return entries


def read_index(index_path: str | Path) -> dict[str, BundleEntry]:
    """The tensors a bundle's ``.index`` file lists, by name (the header entry left out)."""
    try:
        data = Path(index_path).read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read the checkpoint index {index_path}: {exc}") from exc
    if len(data) < _FOOTER_SIZE:
        raise BundleError(f"{index_path} is too short to be a checkpoint index")
    footer = data[-_FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise BundleError(f"{index_path} is not an SSTable (wrong magic number)")
    _, pos = _varint(footer, 0)  # metaindex offset
    _, pos = _varint(footer, pos)  # metaindex size
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    entries: dict[str, BundleEntry] = {}
    for _, handle in _block_entries(_block(data, (index_offset, index_size))):
        for key, value in _block_entries(_block(data, handle)):
            if key == b"":
                _check_header(value)
                continue
            name = key.decode("utf-8")
            entries[name] = _parse_entry(name, value)
    return entries


def _check_header(buf: bytes) -> None:
    """``BundleHeaderProto``: num_shards=1, endianness=2 (0 little, 1 big), version=3."""
    for number, _, value in _proto_fields(buf):
        if number == 2 and value != 0:
            raise BundleError("a big-endian checkpoint; only little-endian ones are supported")


def read_bundle(prefix: str | Path, names: list[str] | None = None, verify: bool = True) -> dict[str, np.ndarray]:
    """Tensors of the bundle at ``prefix`` (``<prefix>.index`` + data shards) as numpy arrays.

    ``names`` selects tensors (default: all); ``verify`` checks each tensor's CRC-32C. Raises
    :class:`BundleError` for a missing name, an unsupported dtype or a damaged file.
    """
    prefix = str(prefix)
    index = read_index(prefix + ".index")
    wanted = sorted(index) if names is None else list(names)
    missing = [n for n in wanted if n not in index]
    if missing:
        raise BundleError(f"the checkpoint has no tensor(s) {', '.join(missing)}")
    n_shards = 1 + max((e.shard_id for e in index.values()), default=0)
    shards: dict[int, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for name in wanted:
        entry = index[name]
        dtype = _DTYPES.get(entry.dtype)
        if dtype is None:
            raise BundleError(f"tensor {name!r} has TF dtype {entry.dtype}, which this reader does not support")
        if entry.shard_id not in shards:
            path = f"{prefix}.data-{entry.shard_id:05d}-of-{n_shards:05d}"
            try:
                shards[entry.shard_id] = Path(path).read_bytes()
            except OSError as exc:
                raise BundleError(f"cannot read the data shard {path}: {exc}") from exc
        raw = shards[entry.shard_id][entry.offset:entry.offset + entry.size]
        expected = int(np.prod(entry.shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if len(raw) != entry.size or entry.size != expected:
            raise BundleError(f"tensor {name!r}: {len(raw)} bytes stored, {expected} expected for shape {entry.shape}")
        if verify and entry.crc32c is not None and _mask(crc32c(raw)) != entry.crc32c:
            raise BundleError(f"tensor {name!r} fails its CRC-32C check (damaged data file)")
        out[name] = np.frombuffer(raw, dtype=dtype).reshape(entry.shape).copy()
    return out
