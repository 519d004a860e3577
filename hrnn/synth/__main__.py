"""Run the generator's command line: ``python -m hrnn.synth --users 2000 --items 1000 --seed 0 --out x.csv``."""

import json
import sys

from ..errors import ServiceError
from .cli import main

try:
    sys.exit(main())
except ServiceError as exc:
    sys.stderr.write(json.dumps(exc.to_dict()) + "\n")
    sys.exit(2)
