"""The generator's side of a generator in its own process (process.py starts it): `python -m
tatumflow.generate.serve [--checkpoint DIR | --mock] --device D --threads N`, messages on stdin and stdout
(wire.py). It loads the generator, says hello (its styles and step path, or the one-line error that stopped it),
then answers one call at a time until its stdin closes (the caller went away, however it ended).

Every state it holds has a number the caller chose. After each call it sends what changed in that state's context
since the caller last saw it (notes dropped at the front by compaction, how many of the rest still stand, the new
tail), so the caller's copy of the context stays exact without the whole context crossing the pipe each window.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Callable
from typing import IO, Any

from ..notes import Note
from . import wire
from .generator import ChunkedGenerator, GeneratorState

log = logging.getLogger(__name__)
KEPT_VALUES = 4  # controls and changes the caller may still name (it names the latest; a few spare)


class Served:
    """One state and what the caller knows of its context."""

    def __init__(self, state: GeneratorState, seen: list[Note] | None = None, dropped: int = 0) -> None:
        self.state, self.seen, self.dropped = state, list(seen or []), dropped

    def sync(self) -> wire.Message:
        context = self.state.context
        drop = self.state.dropped_notes - self.dropped
        old = self.seen[drop:] if drop > 0 else self.seen
        keep = 0
        for a, b in zip(old, context):
            if a is not b and a != b:
                break
            keep += 1
        self.seen, self.dropped = list(context), self.state.dropped_notes
        return {"drop": max(drop, 0), "keep": keep, "tail": wire.notes_out(context[keep:]),
                "start_s": self.state.window_start_s}


class Server:
    def __init__(self, generator: ChunkedGenerator) -> None:
        self.generator = generator
        self.states: dict[int, Served] = {}
        self.values: dict[str, dict[int, Any]] = {"controls": {}, "changes": {}}

    def _value(self, kind: str, ref: Any, build: Callable[[Any], Any]) -> Any:
        """A value the caller sends once ({"id", "value"}) and names by id after."""
        if ref is None:
            return None
        kept = self.values[kind]
        if "value" in ref:
            kept[ref["id"]] = wire.checked(build, ref["value"])
            for old in sorted(kept)[:-KEPT_VALUES]:
                del kept[old]
        if ref["id"] not in kept:
            raise wire.WireError(f"{kind} {ref['id']} named but never sent")
        return kept[ref["id"]]

    def _served(self, message: wire.Message) -> Served:
        served = self.states.get(message.get("state", -1))
        if served is None:
            raise wire.WireError(f"no state {message.get('state')!r}")
        return served

    def answer(self, m: wire.Message) -> wire.Message:
        for handle in m.get("free", ()):
            self.states.pop(handle, None)
        op, gen = m.get("op"), self.generator
        controls = self._value("controls", m.get("controls"), wire.controls_in)
        if op == "init":
            prompt = wire.notes_in(m["notes"])
            served = self.states[m["state"]] = Served(gen.init_state(prompt, controls, m["start_s"]))
            return {"sync": served.sync()}
        served = self._served(m)
        if op == "absorb":
            gen.absorb(served.state, wire.notes_in(m["notes"]), controls, heard=bool(m["heard"]))
        elif op == "truncate":
            gen.truncate(served.state, float(m["t_s"]))
        elif op == "generate":
            changes = self._value("changes", m["window"]["changes"], wire.changes_in)
            window = wire.checked(wire.window_in, m["window"], changes)
            notes, _ = gen.generate_chunk(served.state, wire.notes_in(m["notes"]), controls, window)
            return {"notes": wire.notes_out(notes), "sync": served.sync()}
        elif op == "copy":
            copy = Served(served.state.copy(), served.seen, served.dropped)
            self.states[m["new"]] = copy
            return {"sync": copy.sync()}
        else:
            raise wire.WireError(f"unknown call {op!r}")
        return {"sync": served.sync()}


def serve(server: Server, inp: IO[bytes], out: IO[bytes]) -> int:
    """Answer until the caller closes the pipe; a broken protocol ends it (exit 2)."""
    while True:
        try:
            message = wire.read_frame(inp)
            if message is None or message.get("op") == "exit":
                return 0
            try:
                reply = server.answer(message)
            except wire.WireError:
                raise
            except ValueError as err:  # a value the generator refused: the caller's error, one line
                reply = {"error": f"{type(err).__name__}: {str(err)[:300]}", "kind": "ValueError"}
            except Exception as err:  # a malformed call (a field missing) or the generator's own failure
                log.exception("the generator failed")
                reply = {"error": f"{type(err).__name__}: {str(err)[:300]}", "kind": "RuntimeError"}
            wire.write_frame(out, reply)
        except (wire.WireError, BrokenPipeError) as err:
            log.error("generator process: %s", err)
            return 2


def load(args: argparse.Namespace) -> ChunkedGenerator:
    if args.mock:
        from .mock import mock_generator

        return mock_generator()
    import torch

    from .load import load_generator

    if args.threads > 0:  # 0: torch's own choice
        torch.set_num_threads(args.threads)
    return load_generator(args.checkpoint, args.device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a generator in its own process (started by process.py)")
    parser.add_argument("--checkpoint")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mock", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    if hasattr(os, "sched_setscheduler"):  # started from a real-time thread it would inherit that thread's policy
        with contextlib.suppress(OSError):  # and starve it: the generator runs as a normal process
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    out = os.fdopen(os.dup(1), "wb")  # the messages' own descriptor; anything printed goes to stderr instead
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    try:
        generator = load(args)
    except (ValueError, FileNotFoundError) as err:
        wire.write_frame(out, {"error": str(err)[:300], "kind": type(err).__name__})
        return 2
    gc.collect()  # the loaded model and the imports into the collector's permanent generation: full collections
    gc.freeze()  # then walk only the calls' garbage (realtime/engine/clock.py `settle_heap`, measured there)
    backend = generator.backend
    wire.write_frame(out, {"hello": os.getpid(), "styles": list(getattr(backend, "styles", []) or []),
                           "step_path": getattr(backend, "step_path", None)})
    return serve(Server(generator), inp, out)


if __name__ == "__main__":
    sys.exit(main())
