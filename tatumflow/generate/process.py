"""The generator in its own process, behind the generator's streaming contract (generator.py): `init_state`,
`absorb`, `truncate`, `generate_chunk`, and states with `context`, `window_start_s` and `copy()`.

Why: a live session's threads share one interpreter lock with the generator's Python (about a quarter of a note's
decode). When the CPU is scarce, a generating thread descheduled while it holds the lock keeps the sending thread
waiting for it, however high that thread's priority: under the bench's CPU quota (a slow laptop, simulated) the
scheduler froze the whole process for up to 6.7 ms at a time and notes went out late. In its own process the
generator has its own interpreter and nothing it does can hold up the session's sending, input or display.

The child (serve.py) is `sys.executable -m tatumflow.generate.serve`; calls and replies cross a pipe as framed JSON
(wire.py: no pickles). The caller keeps a copy of each state's context, kept exact by the difference the child sends
after each call. One call at a time (a lock): the engine calls from its worker thread only. A dead child turns the
next call into a `GeneratorGone` error (the engine stops the session on it, note-offs sent as on every stop path);
a closed caller closes the child's stdin, and the child exits.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..notes import Note
from ..signals import wait_or_kill
from . import wire
from .controls import Controls
from .window import Window

log = logging.getLogger(__name__)
START_TIMEOUT_S = 120.0  # loading the model in the child (imports, weights, the native step's build on a first run)
ERRORS = {"ValueError": ValueError, "FileNotFoundError": FileNotFoundError}


class GeneratorGone(RuntimeError):
    """The generator's process ended or stopped answering."""


@dataclass
class RemoteState:
    """The caller's view of a state held by the child: what the engine reads (`context`, `window_start_s`)."""

    handle: int
    owner: GeneratorProcess = field(repr=False, compare=False)
    context: list[Note] = field(default_factory=list)
    window_start_s: float = 0.0

    @property
    def last_onset_s(self) -> float | None:
        return self.context[-1].onset_s if self.context else None

    def copy(self) -> RemoteState:
        return self.owner.copy_state(self)

    def apply(self, sync: wire.Message) -> None:
        kept = self.context[sync["drop"]:][: sync["keep"]]
        self.context = kept + wire.notes_in(sync["tail"])
        self.window_start_s = float(sync["start_s"])

    def __del__(self) -> None:  # the child's copy goes with the next call (any thread may collect this one)
        self.owner.forget(self.handle)


@dataclass(frozen=True)
class RemoteBackend:
    """What callers read off a generator's backend: its style names and its decode step's path."""

    styles: list[str]
    step_path: str | None


class _Sent:
    """The last value of a kind sent to the child: sent once, named by its number after."""

    def __init__(self, encode: Callable[[Any], wire.Message]) -> None:
        self.encode = encode
        self.last: Any = None
        self.ids = itertools.count()
        self.id = -1

    def ref(self, value: Any) -> wire.Message | None:
        if value is None:
            return None
        if value is self.last or (self.last is not None and value == self.last):
            return {"id": self.id}
        self.last, self.id = value, next(self.ids)
        return {"id": self.id, "value": self.encode(value)}


class GeneratorProcess:
    """A `ChunkedGenerator` for `checkpoint` (None: the embedded default; `mock`: the mock) running in a child
    process; use it as a context manager, or `close()` it."""

    own_process = True  # the engine's worker may then run at real-time priority: it only waits on the pipe

    def __init__(self, checkpoint: str | None = None, device: str = "cpu", threads: int = 1,
                 mock: bool = False) -> None:
        cmd = [sys.executable, "-m", "tatumflow.generate.serve", "--device", device, "--threads", str(threads)]
        cmd += ["--mock"] if mock else (["--checkpoint", str(checkpoint)] if checkpoint else [])
        path = os.pathsep.join(p for p in (_package_root(), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path, **({"OMP_NUM_THREADS": str(threads)} if threads > 0 else {})}
        # its own session: a terminal's Ctrl-C or hang-up signals the caller's process group, and the caller stops
        # on it with its note-offs and report; the child must not die first (it leaves when its stdin closes)
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=env, start_new_session=True)
        self._lock = threading.Lock()
        self._handles = itertools.count()
        self._forgotten: collections.deque[int] = collections.deque()  # appended from any thread (a collected copy)
        self._controls, self._changes = _Sent(wire.controls_out), _Sent(wire.changes_out)
        self._eof = threading.Event()  # the child's stderr ended: the child is gone
        threading.Thread(target=self._relay_log, name="tatumflow-generator-log", daemon=True).start()
        hello = self._reply(START_TIMEOUT_S)
        self.pid = int(hello["hello"])
        self.backend = RemoteBackend(list(hello["styles"]), hello["step_path"])

    # -- the streaming contract ------------------------------------------------------------------------------
    def init_state(self, prompt_notes: Sequence[Note], controls: Controls,
                   start_s: float | None = None) -> RemoteState:
        state = RemoteState(next(self._handles), self)
        self._call(state, {"op": "init", "notes": wire.notes_out(prompt_notes), "start_s": start_s}, controls)
        return state

    def absorb(self, state: RemoteState, notes: Sequence[Note], controls: Controls,
               heard: bool = True) -> RemoteState:
        self._call(state, {"op": "absorb", "notes": wire.notes_out(notes), "heard": heard}, controls)
        return state

    def truncate(self, state: RemoteState, time_s: float) -> RemoteState:
        self._call(state, {"op": "truncate", "t_s": time_s})
        return state

    def generate_chunk(self, state: RemoteState, human_notes: Sequence[Note], controls: Controls,
                       window: Window) -> tuple[list[Note], RemoteState]:
        request = {"op": "generate", "notes": wire.notes_out(human_notes),
                   "window": wire.window_out(window, self._changes.ref(window.changes))}
        reply = self._call(state, request, controls)
        return wire.notes_in(reply["notes"]), state

    def copy_state(self, state: RemoteState) -> RemoteState:
        copy = RemoteState(next(self._handles), self, list(state.context), state.window_start_s)
        self._call(copy, {"op": "copy", "state": state.handle, "new": copy.handle})
        return copy

    def check(self) -> None:
        """Raise `GeneratorGone` if the child has ended, called or not (the engine's worker asks every pass, so a
        session between calls, waiting for the player, also stops at once)."""
        if self._eof.is_set():
            raise GeneratorGone(f"the generator process is gone ({self._ended()})")

    def forget(self, handle: int) -> None:
        self._forgotten.append(handle)

    # -- the pipe ----------------------------------------------------------------------------------------------
    def _call(self, state: RemoteState, request: wire.Message, controls: Controls | None = None) -> wire.Message:
        request.setdefault("state", state.handle)
        with self._lock:
            request["controls"] = self._controls.ref(controls)
            free = []
            while self._forgotten:  # popleft and append are atomic: nothing a collector appends meanwhile is lost
                free.append(self._forgotten.popleft())
            if free:
                request["free"] = free
            try:
                wire.write_frame(self._proc.stdin, request)  # type: ignore[arg-type]
            except (BrokenPipeError, OSError) as err:
                raise GeneratorGone(f"the generator process is gone ({self._ended()})") from err
            reply = self._reply()
        state.apply(reply["sync"])
        return reply

    def _reply(self, timeout_s: float | None = None) -> wire.Message:
        timer = threading.Timer(timeout_s, self._proc.kill) if timeout_s else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            reply = wire.read_frame(self._proc.stdout)  # type: ignore[arg-type]
        except wire.WireError as err:
            raise GeneratorGone(f"the generator process broke the protocol: {err}") from None
        finally:
            if timer is not None:
                timer.cancel()
        if reply is None:
            raise GeneratorGone(f"the generator process is gone ({self._ended()})")
        if "error" in reply:
            raise ERRORS.get(str(reply.get("kind")), RuntimeError)(reply["error"])
        return reply

    def _ended(self) -> str:
        try:
            code = self._proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        return f"exit code {code}"

    def _relay_log(self) -> None:
        for line in self._proc.stderr:  # type: ignore[union-attr]
            text = line.decode(errors="replace").rstrip()
            if text:
                log.warning("generator process: %s", text[:500])
        self._eof.set()

    # -- closing -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Ask the child to exit (closing its stdin), then wait a little, then kill it."""
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()  # type: ignore[union-attr]
            wait_or_kill(self._proc, 5.0)

    def __enter__(self) -> GeneratorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _package_root() -> str:
    """Where `-m tatumflow.generate.serve` finds this very package (a checkout run without installing)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
