"""The `tatumflow` command line (typer). Thin: each command builds configs and calls the library. One file per
command group: generate.py (generate, presets), train.py, eval.py (eval, inspect), jam.py (jam, controls), live.py
(ports, render, demo), tunes.py (restyle, generate --changes), tune.py, bench.py; common.py holds `fail` and the
options several commands share. Commands are listed in `tatumflow --help` in the order they are added here."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from . import bench, eval, generate, jam, live, train, tune, tunes

app = typer.Typer(add_completion=False, no_args_is_help=True, help="TatumFlow: real-time Art-Tatum-style jazz piano.")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


for command in (eval.inspect, generate.generate, generate.presets, train.train, live.ports, jam.jam, jam.controls,
                tunes.restyle, tune.tune, live.render, live.demo):
    app.command()(command)
app.command("eval")(eval.eval_command)
app.command()(bench.bench)


def _bare_json_to_stdout(argv: list[str]) -> list[str]:
    """For `bench`, a bare `--json` (last, or followed by another option) means "print the JSON": `--json -`."""
    if "bench" not in argv:
        return argv
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--json" and (i + 1 == len(argv) or argv[i + 1].startswith("--")):
            out.append("-")
    return out


def run() -> None:
    """Console entry point."""
    import sys

    app(args=_bare_json_to_stdout(sys.argv[1:]), prog_name="tatumflow")
