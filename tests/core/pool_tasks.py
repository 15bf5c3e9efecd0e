"""Task functions for the isolated-pool tests (importable by spawned workers)."""
from __future__ import annotations

import os
import signal
import time


def behave(payload: str) -> str:
    """'ok:x' returns x; 'hang' sleeps forever; 'crash' kills the process; 'raise' raises."""
    if payload == "hang":
        time.sleep(3600)
    if payload == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if payload == "raise":
        raise ValueError("bad payload")
    return payload.removeprefix("ok:")
