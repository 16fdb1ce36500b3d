"""The generator's calls as bytes, for a generator in its own process (process.py is the caller's side, serve.py the
generator's): notes, controls and windows (with their beat grid and a tune's changes) as JSON of a closed set of
types, so that nothing read from the pipe can name code to run (pickle could); each message a 4-byte length, then
that many bytes.

Floats go through JSON's shortest round-trip form, so a note read back equals the note sent, bit for bit: the
process plays the notes the in-process generator plays.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from typing import IO, Any, TypeVar

from ..notes import Note
from ..timing.form import Bar, Changes, Chord, Form
from ..timing.grid import BeatGrid
from .controls import Controls
from .window import Window

T = TypeVar("T")
Message = dict[str, Any]
MAX_FRAME_BYTES = 64 << 20  # far above any call's (a context of 4,096 notes is ~200 kB): a corrupt length stops here
_LENGTH = struct.Struct(">I")


class WireError(RuntimeError):
    """The other side sent something that is not a message of this protocol, or went away."""


def write_frame(stream: IO[bytes], message: Message) -> None:
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    if len(body) > MAX_FRAME_BYTES:
        raise WireError(f"a message of {len(body):,} bytes is over the {MAX_FRAME_BYTES:,}-byte limit")
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Message | None:
    """The next message; None at a clean end of the stream (the other side closed it between messages)."""
    head = stream.read(_LENGTH.size)
    if not head:
        return None
    if len(head) < _LENGTH.size:
        raise WireError("the stream ended inside a message's length")
    (size,) = _LENGTH.unpack(head)
    if size > MAX_FRAME_BYTES:
        raise WireError(f"a message of {size:,} bytes announced, over the {MAX_FRAME_BYTES:,}-byte limit")
    body = stream.read(size)
    if len(body) < size:
        raise WireError(f"the stream ended inside a message ({len(body):,} of {size:,} bytes)")
    try:
        message = json.loads(body)
    except ValueError as err:
        raise WireError(f"a message is not JSON ({str(err)[:100]})") from None
    if not isinstance(message, dict):
        raise WireError(f"a message must be a JSON object, got {type(message).__name__}")
    return message


# -- values ----------------------------------------------------------------------------------------------------------
def notes_out(notes: Sequence[Note]) -> list[list[Any]]:
    return [[n.onset_s, n.duration_s, n.pitch, n.velocity] for n in notes]


def notes_in(rows: Any) -> list[Note]:
    try:
        return [Note(float(o), float(d), int(p), int(v)) for o, d, p, v in rows]
    except (TypeError, ValueError) as err:
        raise WireError(f"notes must be [onset, duration, pitch, velocity] rows ({str(err)[:100]})") from None


def _tuples(cls: type, values: Message) -> Message:
    """Lists back to tuples where the dataclass's field holds a tuple (JSON has only lists)."""
    shaped = {f.name for f in fields(cls) if isinstance(f.default, tuple)}
    return {k: tuple(v) if k in shaped and isinstance(v, list) else v for k, v in values.items()}


def controls_out(controls: Controls) -> Message:
    return asdict(controls)


def controls_in(values: Any) -> Controls:
    if not isinstance(values, dict):
        raise WireError("controls must be a JSON object")
    return Controls(**_tuples(Controls, values))


def _chord_out(c: Chord) -> list[Any]:
    return [c.symbol, c.root, c.bass, sorted(c.tones), sorted(c.tensions)]


def _chord_in(row: list[Any]) -> Chord:
    symbol, root, bass, tones, tensions = row
    return Chord(symbol, root, bass, frozenset(tones), frozenset(tensions))


def changes_out(changes: Changes) -> Message:
    form = changes.form
    bars = [[b.section, [[offset, _chord_out(c)] for offset, c in b.chords]] for b in form.bars]
    return {"bars": bars, "beats_per_bar": form.beats_per_bar, "beat_unit": form.beat_unit, "title": form.title,
            "bpm": changes.bpm, "start_s": changes.start_s, "choruses": changes.choruses}


def changes_in(values: Message) -> Changes:
    bars = tuple(Bar(section, tuple((float(o), _chord_in(c)) for o, c in chords)) for section, chords in values["bars"])
    form = Form(bars, values["beats_per_bar"], values["beat_unit"], values["title"])
    return Changes(form, values["bpm"], values["start_s"], values["choruses"])


def window_out(window: Window, changes_ref: Any) -> Message:
    """The window; its changes as `changes_ref` (the caller sends a tune's chart once and names it after)."""
    grid = window.beat_grid
    return {"start_s": window.start_s, "end_s": window.end_s, "max_notes": window.max_notes, "seed": window.seed,
            "beat_grid": asdict(grid) if grid is not None else None, "changes": changes_ref}


def window_in(values: Message, changes: Changes | None) -> Window:
    grid = values["beat_grid"]
    return Window(values["start_s"], values["end_s"], values["max_notes"],
                  BeatGrid(**grid) if grid is not None else None, changes, values["seed"])


def checked(build: Callable[..., T], *args: Any) -> T:
    """`build(*args)`, a malformed value turned into a `WireError` (a `ValueError` of the value's own checks stays
    one: the caller's input was wrong, not the protocol)."""
    try:
        return build(*args)
    except ValueError:
        raise
    except (TypeError, KeyError, IndexError) as err:
        raise WireError(f"a malformed value ({type(err).__name__}: {str(err)[:100]})") from None
