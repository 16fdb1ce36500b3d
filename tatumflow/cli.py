"""The `tatumflow` command line. Thin: each command builds configs and calls the library."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="TatumFlow: real-time Art-Tatum-style jazz piano.")


def fail(message: str) -> None:
    """Print a user error and exit with status 2."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
