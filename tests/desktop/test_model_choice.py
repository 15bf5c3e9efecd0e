"""Settings ▸ Model offers the two bundled models by name (Fast, the default, and Best) and a file."""
from __future__ import annotations

from desktop.settings import AppSettings
from desktop.settings_dialog import SettingsDialog, describe_model


def test_fast_best_and_file_round_trip(qtbot, test_model) -> None:
    dialog = SettingsDialog(AppSettings(), [], None)
    qtbot.addWidget(dialog)
    assert dialog.bundled_radio.isChecked() and dialog.new_settings().model == ""
    dialog.best_radio.setChecked(True)
    assert dialog.new_settings().model == "best"
    assert "best: fused" in dialog.model_info.text()
    dialog.file_radio.setChecked(True)
    dialog.model_edit.setText(str(test_model))
    assert dialog.new_settings().model == str(test_model)

    reopened = SettingsDialog(AppSettings(model="best"), [], None)
    qtbot.addWidget(reopened)
    assert reopened.best_radio.isChecked() and reopened.model_edit.text() == ""
    ok, text = describe_model("")
    assert ok and text.startswith("fast: fused")
