"""Bundled resources of cbrec: model weights + cards (models/), icons (icons/)."""
