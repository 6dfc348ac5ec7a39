"""Entry script of the frozen app (packaging/cnnplayground.spec).

It does what the ``cnnplayground`` console script does: the window, or a headless
sub-command (``summary``, ``train``...) when one is named.
"""

import multiprocessing
import sys

from cnnplayground.app import main

if __name__ == "__main__":
    # Needed where multiprocessing spawns (Windows, macOS): a child process re-runs this
    # executable, and freeze_support() turns it into the worker instead of a second app.
    multiprocessing.freeze_support()
    sys.exit(main())
