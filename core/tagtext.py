"""Tag text decoded the way players do: UTF-8 when the bytes are UTF-8, else CP1252 / Latin-1.

Old taggers wrote Latin-1 or Windows-1252 bytes where the format says UTF-8 (Vorbis comments in
FLAC and Ogg, APEv2, ID3 frames marked UTF-8), and UTF-8 bytes into ID3 frames marked Latin-1.
mutagen then shows "Vogue \ufffd l'ame", drops the frame, or shows "BeyoncÃ©". Inside
:func:`lenient_text`, the few mutagen decoders involved decode each value (each frame, each
comment, each MP4 text atom) with :func:`decode_text` instead. The wrappers are installed once
and act only in a thread that is inside the context, so other users of mutagen in the process
see no change. ASF (UTF-16 by its format) is left as mutagen reads it.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["decode_text", "lenient_text"]

_state = threading.local()
_install_lock = threading.Lock()
_installed = False


def decode_text(raw: bytes) -> str:
    """``raw`` as UTF-8 if it is valid UTF-8, else as Windows-1252, else as Latin-1 (never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes CP1252 leaves undefined
        return raw.decode("latin-1")


def _active() -> bool:
    return getattr(_state, "depth", 0) > 0


@contextmanager
def lenient_text() -> Iterator[None]:
    """Within this block (in this thread), mutagen decodes tag text with :func:`decode_text`."""
    _install()
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        _wrap_vorbis()
        _wrap_id3()
        _wrap_ape()
        _wrap_mp4()
        _installed = True


def _wrap_vorbis() -> None:
    """Vorbis comments (FLAC, Ogg Vorbis/Opus/Speex/FLAC): undecodable bytes are kept as
    surrogates while loading, then each value is decoded again from its own bytes."""
    from mutagen._vorbis import VComment

    original = VComment.load

    def load(self: Any, fileobj: Any, errors: str = "replace", framing: bool = True) -> None:
        if not _active():
            return original(self, fileobj, errors=errors, framing=framing)
        original(self, fileobj, errors="surrogateescape", framing=framing)
        self[:] = [(key, _redecode(value)) for key, value in self]
        return None

    VComment.load = load


def _redecode(value: str) -> str:
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_text(value.encode("utf-8", "surrogateescape"))


def _wrap_id3() -> None:
    """ID3v2 text frames: a frame marked UTF-8 that is not UTF-8 is no longer dropped, and a
    frame marked Latin-1 that holds UTF-8 (or CP1252 punctuation) reads as it was meant."""
    from mutagen.id3._specs import EncodedTextSpec, Encoding, SpecError

    original = EncodedTextSpec.read

    def read(self: Any, header: Any, frame: Any, data: bytes) -> tuple[str, bytes]:
        if not _active() or frame.encoding not in (Encoding.LATIN1, Encoding.UTF8):
            return original(self, header, frame, data)
        try:
            value, rest = original(self, header, frame, data)
        except SpecError:
            if frame.encoding != Encoding.UTF8:
                raise
            end = data.find(b"\x00")
            raw, rest = (data, b"") if end < 0 else (data[:end], data[end + 1:])
            if header.version < header._V24 and not rest.strip(b"\x00"):
                rest = b""
            return decode_text(raw), rest
        if frame.encoding == Encoding.LATIN1 and not value.isascii():
            value = decode_text(value.encode("latin-1"))  # Latin-1 decoding is lossless
        return value, rest

    EncodedTextSpec.read = read


def _wrap_ape() -> None:
    """APEv2 (Musepack, WavPack, Monkey's Audio): a text item that is not UTF-8 is read, not lost."""
    from mutagen.apev2 import _APEUtf8Value

    original = _APEUtf8Value._parse

    def parse(self: Any, data: bytes) -> None:
        if not _active():
            return original(self, data)
        self.value = decode_text(data)
        return None

    _APEUtf8Value._parse = parse


def _wrap_mp4() -> None:
    """MP4 text atoms that are not UTF-8: mutagen keeps them aside as failed atoms; read them."""
    import struct

    from mutagen.mp4 import MP4Tags

    original = MP4Tags.load

    def texts(raw: bytes) -> list[str] | None:
        values, pos = [], 0
        while pos + 16 <= len(raw):
            length, name, flags = struct.unpack(">I4sI", raw[pos:pos + 12])
            if name != b"data" or length < 16 or flags & 0xFFFFFF not in (0, 1) or pos + length > len(raw):
                return None  # not a text atom we understand: leave it failed
            values.append(decode_text(raw[pos + 16:pos + length]))
            pos += length
        return values or None

    def load(self: Any, atoms: Any, fileobj: Any) -> None:
        original(self, atoms, fileobj)
        failed = getattr(self, "_failed_atoms", None)
        if not _active() or not failed:
            return
        for key, chunks in list(failed.items()):
            decoded = [texts(raw) for raw in chunks]
            if all(decoded) and key not in self:
                self.setdefault(key, []).extend(v for values in decoded for v in values)
                del failed[key]

    MP4Tags.load = load
