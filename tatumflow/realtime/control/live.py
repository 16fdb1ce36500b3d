"""A live session's controls, put together: the control surface, the CC map and input router, a `--control-in`
port, OSC and the terminal UI. `LiveOptions` is what `jam` was asked for; `LiveRig` opens and closes it all around
the engine (session.py), and its `on_message` is what the MIDI input calls instead of the engine's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .ccmap import CcMap, load_map
from .router import InputRouter, velocity_gamma
from .surface import SIDES, ControlSurface, Split, style_pair

if TYPE_CHECKING:  # imported where opened: OSC and the UI only when asked for
    from .osc import OscControl

log = logging.getLogger(__name__)


def _channel(value: int | None, what: str) -> int | None:
    """A user's MIDI channel 1..16 as 0..15 (None stays None)."""
    if value is None:
        return None
    if not 1 <= value <= 16:
        raise ValueError(f"{what} must be a MIDI channel 1..16, got {value}")
    return value - 1


@dataclass(frozen=True)
class LiveOptions:
    controls_file: Path | None = None  # None: the built-in CC map (the knob table's cc column)
    control_in: str | None = None  # a second port for the controller; None: the --in port
    split: int | None = None
    split_side: str = "below"  # where TatumFlow plays
    in_channel: int | None = None  # 1..16, None: all
    out_channel: int | None = None  # 1..16, None: the engine's (1)
    thru: bool = True  # the human's notes to the synth output
    velocity_curve: str = "linear"
    style_b: str | None = None
    osc_port: int | None = None
    osc_host: str = "127.0.0.1"
    tui: bool = False

    def __post_init__(self) -> None:
        _channel(self.in_channel, "--in-channel")
        _channel(self.out_channel, "--out-channel")
        velocity_gamma(self.velocity_curve)
        if self.split_side not in SIDES:
            raise ValueError(f"split side must be below or above, got {self.split_side!r}")
        if self.split is not None:
            Split(self.split, self.split_side)
        if self.controls_file is not None:
            load_map(self.controls_file)  # a bad file fails before anything opens
        if self.osc_port is not None and not 1 <= self.osc_port <= 65535:
            raise ValueError(f"--osc port must be 1..65535, got {self.osc_port}")

    def ccmap(self) -> CcMap:
        return load_map(self.controls_file)

    def engine_overrides(self, mode: str | None) -> dict:
        """EngineConfig settings these options imply: a split plays in duet unless a mode was given."""
        out: dict = {}
        if self.split is not None and mode is None:
            out["mode"] = "duet"
        channel = _channel(self.out_channel, "--out-channel")
        if channel is not None:
            out["channel"] = channel
            out["human_channel"] = (channel + 1) % 16
        return out


def styles_of(generator) -> list[str]:
    """The checkpoint's style names (empty for the mock)."""
    return list(getattr(getattr(generator, "backend", None), "styles", []) or [])


class LiveRig:
    """Everything a musician touches, around one engine. Use as a context manager after the engine is built."""

    def __init__(self, engine, options: LiveOptions, generator=None, api: str | None = None,
                 ccmap: CcMap | None = None, reader: str | None = None) -> None:
        self.engine, self.options, self.api, self.reader = engine, options, api, reader
        self.ccmap = ccmap if ccmap is not None else options.ccmap()
        split = Split(options.split, options.split_side) if options.split is not None else None
        styles = style_pair(engine.controls, styles_of(generator), options.style_b)
        self.surface = ControlSurface(engine, styles, split)
        self.router = InputRouter(engine.on_message, self.surface, self.ccmap,
                                  _channel(options.in_channel, "--in-channel"), velocity_gamma(options.velocity_curve))
        self._stack = contextlib.ExitStack()
        self.recent = None  # the UI's note tap (a sink of the session)
        self.osc: OscControl | None = None

    def on_message(self, msg, t_s: float) -> None:
        self.router.on_message(msg, t_s)

    def open(self, recent=None) -> LiveRig:
        """The control port and OSC (`recent`: the UI's note tap, a sink of the session, for `run`)."""
        if self.options.control_in is not None:
            from ..ports.midi_io import MidiInput

            port = MidiInput(self.options.control_in, self.router.on_control, self.engine.clock, self.api,
                             reader=self.reader)
            self._stack.enter_context(port)
        if self.options.osc_port is not None:
            from .osc import OscControl

            self.osc = self._stack.enter_context(OscControl(self.surface, self.options.osc_port,
                                                            self.options.osc_host))
        self.recent = recent
        return self

    def run(self, wait: Callable[[], None], stop: threading.Event, info=None) -> None:
        """`wait()` (the session's loop until a stop), with the terminal UI around it when asked for (`info`: a
        `tui.TuiInfo`, what the screen says of the ports and the preset)."""
        if not self.options.tui:
            wait()
            return
        from .tui_app import run_with_tui

        run_with_tui(wait, stop, {"engine": self.engine, "surface": self.surface, "ccmap": self.ccmap,
                                  "recent": self.recent, "info": info})

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> LiveRig:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
