"""Help ▸ About names the model in use and carries its third-party weights' credits and licence."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from core.model import read_card
from desktop.about import about_html

MODELS = Path(__file__).resolve().parents[2] / "resources" / "models"


def test_about_text_credits_the_musicnn_backbone_with_its_isc_notice() -> None:
    text = about_html(read_card(MODELS / "musicnn.json"))
    assert "musicnn 0.1.0" in text and "ISC" in text
    assert "Pons, J. &amp; Serra, X. (2019)" in text
    assert "Permission to use, copy, modify, and/or distribute this software" in text
    assert "50 automatic tags" in text
    assert "No library is open" in about_html(None)


def test_about_action_shows_the_open_librarys_model(make_window, scanned_settings, monkeypatch) -> None:
    shown = []
    monkeypatch.setattr(QMessageBox, "about", staticmethod(lambda parent, title, text: shown.append((title, text))))
    win = make_window(scanned_settings)
    action = next(a for a in win.menuBar().actions() if a.text() == "&Help").menu().actions()[0]
    assert action.text() == "About cbrec…"
    action.trigger()
    assert shown and shown[0][0] == "About cbrec"
    assert win.library.card.name in shown[0][1] and win.library.card.analysis_version in shown[0][1]
