"""Settings dialog: music folders, exclusions, model, device, workers."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.settings import DEVICES, AppSettings

REANALYSE_NOTE = ("Changing the model means every track is analysed again with the new model "
                  "(vectors of different models are never mixed). This runs in the background.")


def describe_model(path: str) -> tuple[bool, str]:
    """(ok, text) for a model file: its card's name/architecture, or what is wrong with it."""
    if not path or path in ("fast", "best"):
        try:
            from core.model import BUNDLED_MODELS, bundled_model_path

            bundled = bundled_model_path(BUNDLED_MODELS[path or "fast"])
        except Exception:  # a broken install: say so rather than fail
            bundled = None
        if bundled is None:
            return False, f"The {path or 'default'} model is not bundled with this copy of cbrec: choose a model file."
        path = str(bundled)
    try:
        pt = Path(path).expanduser()
    except RuntimeError as exc:  # "~nosuchuser"
        return False, f"{path} is not a usable path: {str(exc).rstrip('.')}."
    try:
        if pt.is_dir() or not pt.name or pt.name in (".", ".."):  # "/", "~", "music/": half-typed paths
            return False, f"{pt} is a folder: choose a model file (.pt) in it."
        if not pt.exists():
            return False, f"{pt} does not exist."
    except OSError as exc:  # e.g. a folder on the way that may not be read
        return False, f"{pt} cannot be read: {exc.strerror or exc}."
    card_path = pt.with_suffix(".json")
    if not card_path.exists():
        return False, f"The model card {card_path.name} is missing beside {pt.name}."
    try:
        from core.model.card import read_card

        card = read_card(card_path)
    except Exception as exc:  # ModelError, or an older core without read_card
        return False, str(exc)
    trained = card.trained_on.get("dataset") if isinstance(card.trained_on, dict) else None
    extra = f", trained on {trained}" if trained else ""
    return True, f"{card.name}: {card.architecture}, {card.output_dim}-d vectors{extra}."


def _cuda_available() -> bool:
    import sys

    torch = sys.modules.get("torch")  # only ask if the library already loaded torch
    try:
        return bool(torch and torch.cuda.is_available())
    except Exception:
        return False


class SettingsDialog(QDialog):
    """Edits a copy of the settings and the folder list; read the result from :meth:`result_state`."""

    def __init__(self, settings: AppSettings, folders: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("cbrec settings")
        self.resize(620, 560)
        self.original = settings

        self.folder_list = QListWidget()
        self.folder_list.addItems(list(folders))
        add_folder = QPushButton("Add folder…")
        remove_folder = QPushButton("Remove")
        add_folder.clicked.connect(self._add_folder)
        remove_folder.clicked.connect(lambda: self._remove_current(self.folder_list))
        folders_box = self._list_box("Music folders (watched for changes)", self.folder_list, add_folder, remove_folder)

        self.exclusion_list = QListWidget()
        self.exclusion_list.addItems(settings.exclusions)
        add_excl_folder = QPushButton("Exclude folder…")
        add_excl_pattern = QPushButton("Exclude pattern…")
        remove_excl = QPushButton("Remove")
        add_excl_folder.clicked.connect(self._add_exclusion_folder)
        add_excl_pattern.clicked.connect(self._add_exclusion_pattern)
        remove_excl.clicked.connect(lambda: self._remove_current(self.exclusion_list))
        excl_box = self._list_box("Exclusions (folders, or patterns such as *.wav)", self.exclusion_list,
                                  add_excl_folder, add_excl_pattern, remove_excl)

        self.bundled_radio = QRadioButton("Fast: the bundled default (scans quickly)")
        self.best_radio = QRadioButton("Best: the bundled musicnn model (better playlists, scans several times slower)")
        self.file_radio = QRadioButton("Model file:")
        group = QButtonGroup(self)
        group.addButton(self.bundled_radio)
        group.addButton(self.best_radio)
        group.addButton(self.file_radio)
        custom = settings.model not in ("", "fast", "best")
        self.model_edit = QLineEdit(settings.model if custom else "", placeholderText="a .pt file from cbrec-train export")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_model)
        {"": self.bundled_radio, "fast": self.bundled_radio, "best": self.best_radio}.get(
            settings.model, self.file_radio).setChecked(True)
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        note = QLabel(f"<i>{REANALYSE_NOTE}</i>")
        note.setWordWrap(True)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_radio)
        file_row.addWidget(self.model_edit, 1)
        file_row.addWidget(browse)
        model_box = QGroupBox("Model")
        mlay = QVBoxLayout(model_box)
        mlay.addWidget(self.bundled_radio)
        mlay.addWidget(self.best_radio)
        mlay.addLayout(file_row)
        mlay.addWidget(self.model_info)
        mlay.addWidget(note)

        self.device_combo = QComboBox()
        for dev, label in zip(DEVICES, ("Automatic", "CPU", "CUDA (GPU)"), strict=True):
            self.device_combo.addItem(label, dev)
        self.device_combo.setCurrentIndex(DEVICES.index(settings.device))
        if not _cuda_available():
            self.device_combo.setItemText(2, "CUDA (GPU, not found on this computer)")
        self.workers_spin = QSpinBox(minimum=0, maximum=max(64, os.cpu_count() or 1), value=settings.workers)
        self.workers_spin.setSpecialValueText("automatic")
        form = QFormLayout()
        form.addRow("Device:", self.device_combo)
        form.addRow("Decoding workers:", self.workers_spin)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(folders_box)
        layout.addWidget(excl_box)
        layout.addWidget(model_box)
        layout.addLayout(form)
        layout.addWidget(buttons)

        self.model_edit.textChanged.connect(self._update_model_info)
        self.bundled_radio.toggled.connect(self._update_model_info)
        self.best_radio.toggled.connect(self._update_model_info)
        self._update_model_info()

    @staticmethod
    def _list_box(title: str, widget: QListWidget, *buttons: QPushButton) -> QGroupBox:
        box = QGroupBox(title)
        row = QHBoxLayout()
        for b in buttons:
            row.addWidget(b)
        row.addStretch(1)
        lay = QVBoxLayout(box)
        lay.addWidget(widget)
        lay.addLayout(row)
        return box

    # --- results ------------------------------------------------------------------------------
    def folders(self) -> list[str]:
        return [self.folder_list.item(i).text() for i in range(self.folder_list.count())]

    def new_settings(self) -> AppSettings:
        """The settings as edited (folders are separate: see :meth:`folders`)."""
        return replace(
            self.original,
            model=self._chosen_model(),
            device=self.device_combo.currentData(),
            workers=self.workers_spin.value(),
            exclusions=[self.exclusion_list.item(i).text() for i in range(self.exclusion_list.count())],
        )

    def accept(self) -> None:
        new = self.new_settings()
        if new.model != self.original.model:
            ok, text = describe_model(new.model)
            if not ok:
                QMessageBox.warning(self, "Model cannot be used", text)
                return
            answer = QMessageBox.question(self, "Change the model?", REANALYSE_NOTE + "\n\nUse the new model?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        super().accept()

    # --- helpers ------------------------------------------------------------------------------
    def _add_folder(self) -> None:
        start = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MusicLocation)
        path = QFileDialog.getExistingDirectory(self, "Add a music folder", start)
        if path and path not in self.folders():
            self.folder_list.addItem(path)

    def _add_exclusion_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Exclude a folder")
        if path:
            self.exclusion_list.addItem(path)

    def _add_exclusion_pattern(self) -> None:
        text, ok = QInputDialog.getText(self, "Exclude a pattern", "File name pattern (e.g. *.wav, *live*):")
        if ok and text.strip():
            self.exclusion_list.addItem(text.strip())

    @staticmethod
    def _remove_current(widget: QListWidget) -> None:
        for item in widget.selectedItems():
            widget.takeItem(widget.row(item))

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model", str(Path.home()),
                                              "cbrec model (*.pt);;All files (*)")
        if path:
            self.model_edit.setText(path)
            self.file_radio.setChecked(True)

    def _chosen_model(self) -> str:
        """"" (the bundled default), "best" (the bundled musicnn model) or the typed file path."""
        if self.bundled_radio.isChecked():
            return ""
        return "best" if self.best_radio.isChecked() else self.model_edit.text().strip()

    def _update_model_info(self, *args: object) -> None:
        path = self._chosen_model()
        ok, text = describe_model(path)
        self.model_info.setText(text if ok else f"<span style='color:#c0392b'>{text}</span>")
