#!/usr/bin/env bash
# Installs cbrec into ./.venv (a fresh virtual environment) with everything it needs.
#   ./install.sh            # then: .venv/bin/cbrec
# System libraries Qt needs on a bare Debian/Ubuntu machine are installed with apt-get when
# they are missing (as root, or with sudo when available).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

QT_DEBS="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-image0
 libxcb-render-util0 libxcb-xkb1 libnss3 libasound2 libpulse0"
missing=""
if command -v dpkg >/dev/null; then
  for p in $QT_DEBS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
fi
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if [ -z "$SUDO" ] || command -v sudo >/dev/null; then
    echo "installing system libraries for Qt:$missing"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null
  else
    echo "note: Qt may need these system packages:$missing" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
# no pip upgrade: the venv's own pip (23 or newer) installs the pinned set, one moving part fewer
.venv/bin/python -m pip install -q -e ".[test]"
echo "cbrec installed: start the app with .venv/bin/cbrec, the command line with .venv/bin/cbrec-lib"
