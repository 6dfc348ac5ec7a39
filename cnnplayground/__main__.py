"""``python -m cnnplayground``: the same as the ``cnnplayground`` command."""

import sys

from .cli import main

sys.exit(main())
