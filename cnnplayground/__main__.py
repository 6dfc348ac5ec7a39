"""``python -m cnnplayground``: the same as the ``cnnplayground`` command."""

import sys

from .app import main

sys.exit(main())
