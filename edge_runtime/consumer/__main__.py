"""``python -m edge_runtime.consumer URL``: the same as ``edge-anonymize-consume``."""

import sys

from .cli import main

sys.exit(main())
