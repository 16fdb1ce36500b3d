"""`python -m tatumflow.generate.native`: build the native decode step for this machine (scripts/setup.sh)."""

import logging
import sys

from . import library, unavailable_reason

logging.basicConfig(level=logging.WARNING, format="%(message)s")
if library() is None:
    print(f"native decode step unavailable (the torch path will be used): {unavailable_reason()}")
    sys.exit(1)
print("native decode step: built")
