"""Work-arounds for bugs of particular PySide6 releases, applied once at start-up.

PySide6 6.12.0 on CPython 3.11 drops one reference to ``None`` on every call of a Qt method that
returns nothing (``QPainter.setPen``, ``QWidget.update``, ``QTimer.start``...) and one reference
to ``True`` on every ``Signal.emit``. These singletons are immortal from Python 3.12 on, but on
3.11 their counts reach zero after some thousand calls and the interpreter aborts
("none_dealloc: deallocating None", "bool_dealloc"). 6.11.2 does not leak (measured).
:func:`guard_singletons` measures the leak and, only where it happens, raises the counts far
out of reach. The real fix is a PySide6 without the bug (or Python >= 3.12).
"""
from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_RESERVE = 1 << 40   # ~1e12 references: decades of calls


def leaks(samples: int = 200) -> dict[str, float]:
    """References lost per call: ``{"None": void method call, "True": Signal.emit}``."""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        ping = Signal()

    probe = Probe()
    before = sys.getrefcount(None)
    for _ in range(samples):
        probe.setObjectName("probe")
    lost_none = (before - sys.getrefcount(None)) / samples
    before_true = sys.getrefcount(True)
    for _ in range(samples):
        probe.ping.emit()
    lost_true = (before_true - sys.getrefcount(True)) / samples
    return {"None": lost_none, "True": lost_true}


def guard_singletons() -> list[str]:
    """Neutralise the leaks this PySide6 has; returns the names of the guarded singletons."""
    if sys.version_info >= (3, 12) or getattr(sys, "_cbrec_singleton_guard", None) is not None:
        return []  # immortal there, or already guarded
    found = leaks()
    guarded = []
    for name, obj in (("None", None), ("True", True), ("False", False)):
        if found["None" if name == "None" else "True"] >= 0.5:
            # ob_refcnt is the first field of every object in release builds of CPython 3.11
            ctypes.c_ssize_t.from_address(id(obj)).value += _RESERVE
            guarded.append(name)
    sys._cbrec_singleton_guard = guarded  # type: ignore[attr-defined]
    if guarded:
        import PySide6

        log.warning("PySide6 %s drops references to %s on Python %d.%d; guarded. Use PySide6 6.11 "
                    "or Python >= 3.12 to drop this work-around.", PySide6.__version__,
                    "/".join(guarded), *sys.version_info[:2])
    return guarded
