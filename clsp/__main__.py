"""``python -m clsp`` (and ``torchrun -m clsp``) runs the ``clsp`` command."""

import sys

from clsp.cli import main

sys.exit(main())
