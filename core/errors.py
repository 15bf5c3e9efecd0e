"""Errors a user can act on: each message says what file, what went wrong and what to do."""
from __future__ import annotations


class CbrecError(Exception):
    """Base class of every error cbrec raises on purpose."""


class AudioError(CbrecError):
    """A file could not be decoded as audio; the message is fit to show a person."""


class ModelError(CbrecError):
    """A model file or its card is missing, unreadable or inconsistent."""


class LibraryError(CbrecError):
    """The library database cannot be opened or used."""


class TrackNotFound(CbrecError, KeyError):
    """A track asked for by path or id is not in the library."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "track not found"
