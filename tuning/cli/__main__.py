"""``python -m tuning.cli``: the hrnn command."""

import sys

from . import main

sys.exit(main())
