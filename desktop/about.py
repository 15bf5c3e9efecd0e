"""Help ▸ About cbrec: the version, the model in use, and the credits and licences its weights carry."""
from __future__ import annotations

import html
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from PySide6.QtWidgets import QMainWindow, QMessageBox


def cbrec_version() -> str:
    """The installed cbrec version, or "development" when run from a checkout without install."""
    try:
        return version("cbrec")
    except PackageNotFoundError:
        return "development"


def about_html(card: Any | None) -> str:
    """Rich text for the About box: cbrec, the model (name, architecture, provenance) and its credits.

    ``card`` is a :class:`core.model.ModelCard` or None (no library open). Every third-party
    backbone named in the card's ``trained_on`` (``backbone``, or the teacher's ``backbone`` for a
    distilled student) is credited with its attribution and licence text, as its licence asks.
    """
    parts = [f"<h3>cbrec {html.escape(cbrec_version())}</h3>",
             "<p>Playlists from your own music, by what it sounds like to listeners "
             "(deep content-based recommendation).</p>"]
    if card is None:
        return "".join(parts + ["<p>No library is open.</p>"])
    trained = card.trained_on or {}
    parts.append(f"<p><b>Model:</b> {html.escape(card.name)} ({html.escape(card.architecture)}, "
                 f"{card.output_dim}-d, {card.n_windows} windows of {card.window_seconds:g} s at "
                 f"{card.sample_rate} Hz; version {html.escape(card.analysis_version)})")
    if card.tags:
        parts.append(f"; {len(card.tags)} automatic tags")
    parts.append("</p>")
    for key in ("method", "dataset", "note"):
        if isinstance(trained.get(key), str):
            parts.append(f"<p>{html.escape(trained[key])}</p>")
    for backbone in _backbones(trained):
        parts.append(f"<p><b>Includes weights of {html.escape(str(backbone.get('package', 'a third-party model')))} "
                     f"{html.escape(str(backbone.get('version', '')))}</b> "
                     f"({html.escape(str(backbone.get('licence', 'see its licence')))}).<br>"
                     f"{html.escape(str(backbone.get('attribution', '')))}</p>")
        if backbone.get("licence_text"):
            parts.append(f"<p style='font-size:small'>{html.escape(str(backbone['licence_text']))}</p>")
    return "".join(parts)


def _backbones(trained: dict) -> list[dict]:
    found = [trained.get("backbone"), (trained.get("teacher") or {}).get("backbone")]
    return [b for b in found if isinstance(b, dict)]


def install_about(window: QMainWindow, current_card: Callable[[], Any | None]) -> None:
    """Add Help ▸ About cbrec to ``window``'s menu bar; ``current_card`` gives the open library's card."""
    menu = window.menuBar().addMenu("&Help")
    action = menu.addAction("About cbrec…")
    action.setObjectName("about-action")
    action.triggered.connect(lambda: QMessageBox.about(window, "About cbrec", about_html(current_card())))
