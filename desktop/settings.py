"""User settings kept with QSettings: model file, device, workers, folder exclusions."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from PySide6.QtCore import QSettings

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class AppSettings:
    """The settings the app reads at start. Music folders live in the library, not here.

    ``model`` is a ``.pt`` path (with its ``.json`` card beside it) or ``""`` for the bundled one;
    ``workers`` 0 means automatic; ``exclusions`` are folder paths or glob patterns.
    """

    model: str = ""
    device: str = "auto"
    workers: int = 0
    exclusions: list[str] = field(default_factory=list)
    library_dir: str = ""
    transient: frozenset[str] = frozenset()  # fields set for this run only (command line): not saved

    @classmethod
    def load(cls, qs: QSettings | None = None) -> AppSettings:
        """Read from QSettings (the application's default location unless given)."""
        qs = qs or QSettings()
        device = str(qs.value("analysis/device", "auto"))
        exclusions = qs.value("library/exclusions", [])
        if isinstance(exclusions, str):  # QSettings returns a str for one-element lists
            exclusions = [exclusions]
        try:
            workers = int(qs.value("analysis/workers", 0))
        except (TypeError, ValueError):
            workers = 0
        return cls(
            model=str(qs.value("analysis/model", "") or ""),
            device=device if device in DEVICES else "auto",
            workers=max(0, workers),
            exclusions=[str(e) for e in (exclusions or []) if str(e).strip()],
            library_dir=str(qs.value("library/dir", "") or ""),
        )

    def save(self, qs: QSettings | None = None) -> None:
        """Write to QSettings and flush to disk."""
        qs = qs or QSettings()
        values = {"model": ("analysis/model", self.model), "device": ("analysis/device", self.device),
                  "workers": ("analysis/workers", int(self.workers)),
                  "exclusions": ("library/exclusions", list(self.exclusions)),
                  "library_dir": ("library/dir", self.library_dir)}
        for name, (key, value) in values.items():
            if name not in self.transient:
                qs.setValue(key, value)
        qs.sync()

    def open_kwargs(self) -> dict:
        """Keyword arguments for ``Library.open`` from these settings."""
        return {
            "path": self.library_dir or None,
            "model": self.model or None,
            "device": self.device,
            "workers": self.workers or None,
        }

    def is_excluded(self, path: str) -> bool:
        """True if ``path`` lies under an excluded folder or matches an excluded pattern."""
        from fnmatch import fnmatch

        norm = os.path.normpath(path)
        for rule in self.exclusions:
            rule_norm = os.path.normpath(os.path.expanduser(rule))
            if norm == rule_norm or norm.startswith(rule_norm.rstrip(os.sep) + os.sep):
                return True
            if any(ch in rule for ch in "*?[") and (fnmatch(norm, rule) or fnmatch(os.path.basename(norm), rule)):
                return True
        return False
