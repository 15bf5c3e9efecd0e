"""Preview playback bar: play/pause, seek, next. Disabled with a message when Qt has no backend."""
from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QToolButton, QWidget

from core import Track
from desktop.models import format_duration
from desktop.resources import icon

log = logging.getLogger(__name__)


def _make_backend() -> tuple[object | None, object | None, str]:
    """(player, audio output, problem). A non-empty problem means playback is unavailable."""
    try:
        from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
    except ImportError as exc:  # Qt built without multimedia, or its libraries missing
        return None, None, f"Preview playback is unavailable: Qt Multimedia could not be loaded ({exc})."
    try:
        player = QMediaPlayer()
        if not player.isAvailable():
            return None, None, "Preview playback is unavailable: Qt Multimedia has no media backend here."
        if not QMediaDevices.audioOutputs():
            return None, None, "Preview playback is unavailable: no audio output device was found."
        output = QAudioOutput()
        player.setAudioOutput(output)
        return player, output, ""
    except Exception as exc:  # a broken backend must never take the app down
        log.warning("media backend failed: %s", exc)
        return None, None, f"Preview playback is unavailable: {exc}"


class PlayerBar(QWidget):
    """A small transport bar. ``next_requested`` asks the owner for the next track to play."""

    message = Signal(str)
    now_playing = Signal(object)  # Track or None

    def __init__(self, parent: QWidget | None = None,
                 backend: Callable[[], tuple[object | None, object | None, str]] = _make_backend) -> None:
        super().__init__(parent)
        self.next_track: Callable[[Track | None], Track | None] = lambda current: None
        self.current: Track | None = None
        self._seeking = False

        self.play_button = QToolButton(icon=icon("media-playback-start"), toolTip="Play / pause")
        self.next_button = QToolButton(icon=icon("media-skip-forward"), toolTip="Next track")
        self.seek = QSlider(Qt.Orientation.Horizontal, toolTip="Seek")
        self.seek.setRange(0, 0)
        self.time_label = QLabel("0:00 / 0:00")
        self.title_label = QLabel("Nothing playing")
        self.title_label.setMinimumWidth(180)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        for w in (self.play_button, self.next_button, self.title_label):
            layout.addWidget(w)
        layout.addWidget(self.seek, 1)
        layout.addWidget(self.time_label)

        self.player, self.output, self.problem = backend()
        if self.player is None:
            self.setEnabled(False)  # the reason stays readable in the bar (a disabled widget shows no tooltip)
            self.title_label.setText(self.problem.replace("Preview playback is unavailable", "Playback unavailable"))
            self.setToolTip(self.problem)
            log.info(self.problem)
            return
        self.player.setParent(self)
        self.play_button.clicked.connect(self.toggle)
        self.next_button.clicked.connect(self.play_next)
        self.seek.sliderPressed.connect(lambda: setattr(self, "_seeking", True))
        self.seek.sliderReleased.connect(self._seek_released)
        self.player.positionChanged.connect(self._on_position)
        self.player.durationChanged.connect(self._on_duration)
        self.player.playbackStateChanged.connect(self._on_state)
        self.player.mediaStatusChanged.connect(self._on_media_status)
        self.player.errorOccurred.connect(self._on_error)

    @property
    def available(self) -> bool:
        return self.player is not None

    def play(self, track: Track) -> None:
        """Start playing a track from the beginning."""
        if self.player is None:
            self.message.emit(self.problem)
            return
        self.current = track
        self.title_label.setText(track.display)
        self.title_label.setToolTip(track.path)
        self.player.setSource(QUrl.fromLocalFile(track.path))
        self.player.play()
        self.now_playing.emit(track)

    def toggle(self) -> None:
        """Pause when playing, play otherwise."""
        if self.player is None:
            return
        from PySide6.QtMultimedia import QMediaPlayer

        if self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self.player.pause()
        elif self.current is not None:
            self.player.play()
        else:
            nxt = self.next_track(None)
            if nxt is not None:
                self.play(nxt)

    def play_next(self) -> None:
        """Play the track the owner says comes next."""
        nxt = self.next_track(self.current)
        if nxt is not None:
            self.play(nxt)

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()

    def seek_to(self, ms: int) -> None:
        """Jump to a position in milliseconds."""
        if self.player is not None:
            self.player.setPosition(ms)

    # --- backend signals ------------------------------------------------------------------
    def _seek_released(self) -> None:
        self._seeking = False
        self.seek_to(self.seek.value())

    def _on_position(self, ms: int) -> None:
        if not self._seeking:
            self.seek.setValue(ms)
        self.time_label.setText(f"{format_duration(ms / 1000)} / {format_duration(self.seek.maximum() / 1000)}")

    def _on_duration(self, ms: int) -> None:
        self.seek.setRange(0, max(0, ms))

    def _on_state(self, state: object) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        playing = state == QMediaPlayer.PlaybackState.PlayingState
        self.play_button.setIcon(icon("media-playback-pause" if playing else "media-playback-start"))

    def _on_media_status(self, status: object) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if status == QMediaPlayer.MediaStatus.EndOfMedia:
            self.play_next()

    def _on_error(self, error: object, text: str) -> None:
        name = self.current.path if self.current else "this file"
        self.message.emit(f"Cannot play {name}: {text or error}")
