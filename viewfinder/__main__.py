"""``python -m viewfinder`` runs the ``viewfinder`` command."""

import sys

from .cli import main

sys.exit(main())
