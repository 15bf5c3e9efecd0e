#!/usr/bin/env bash
# Adds cbrec to the applications menu of the current user (no root needed):
#   packaging/install-desktop-entry.sh            # uses `cbrec` on PATH, else .venv/bin/cbrec
# Same as: cbrec --install-desktop-entry
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v cbrec >/dev/null 2>&1; then
  exec cbrec --install-desktop-entry
elif [ -x .venv/bin/cbrec ]; then
  exec .venv/bin/cbrec --install-desktop-entry
else
  exec "${PYTHON:-python3}" -m desktop --install-desktop-entry
fi
