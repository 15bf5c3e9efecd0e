"""``python -m desktop``: same as the ``cbrec`` command."""
import sys

from desktop.app import main

if __name__ == "__main__":  # decode workers are spawned: they re-import this module
    sys.exit(main())
