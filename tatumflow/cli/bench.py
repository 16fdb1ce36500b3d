"""`tatumflow bench`: the command, building a `BenchConfig` and writing the results."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import CheckpointOpt, fail


def bench(
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto.")] = "cpu",
    threads: Annotated[int, typer.Option("--threads", help="torch threads (1 = what the live engine uses).")] = 1,
    checkpoint: CheckpointOpt = None,
    json_out: Annotated[str | None, typer.Option(
        "--json", help="Write the full result here ('-': print it).", show_default=False)] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="Write a PNG plot here.", show_default=False)] = None,
    markdown: Annotated[str | None, typer.Option(
        "--markdown", help="Write the markdown table here.", show_default=False)] = None,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Run only these parts (repeatable): prefill, decode, windows, reply, guidance, quality, jitter, "
        "engine, jack, quota.", show_default=False)] = None,
    quota_slowdown: Annotated[float, typer.Option(
        "--quota-slowdown", help="The quota lane's duet runs this many times slower (a CPU quota; root).")] = 3.0,
    no_notochord: Annotated[bool, typer.Option("--no-notochord", help="Skip the Notochord comparison.")] = False,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Tiny counts: a smoke run (numbers are not meaningful).")] = False,
) -> None:
    """Latency benchmarks: prefill, decode vs the step it replaced, no KV cache and Notochord, 22-note windows, reply, \
guidance, engine jitter, JACK, a duet under a CPU quota."""
    import json

    from rich.console import Console

    from tatumflow.bench.report import markdown as to_markdown
    from tatumflow.bench.report import write_results
    from tatumflow.bench.run import PARTS, BenchConfig, run_bench

    try:
        config = BenchConfig(device=device, threads=threads, checkpoint=checkpoint, notochord=not no_notochord,
                             parts=tuple(only) if only else PARTS, quick=quick, quota_slowdown=quota_slowdown)
        console = Console(stderr=True)
        with console.status("benchmarking") as status:
            result = run_bench(config, progress=lambda part: status.update(f"benchmarking: {part}"))
        written = write_results(result, json_out if json_out not in (None, "-") else None, markdown, plot)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    if json_out == "-":
        typer.echo(json.dumps(result))
    else:
        typer.echo(to_markdown(result))
    for path in written:
        typer.echo(f"wrote {path}", err=True)
