"""`python -m tatumflow.cli ...` (torchrun, the tests' subprocesses): the same as the `tatumflow` command."""

from . import run

run()
