"""Between the MIDI input and the engine: the input channel filter, the CC map (controls and panic never reach the
model as notes, nor the outputs or the recording as the human's playing), and the velocity curve of the human's
touch. `InputRouter.on_message` is the callback `MidiInput` calls; `on_control` serves a separate `--control-in`
port (control CCs only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import mido

from .ccmap import PANIC, CcMap
from .surface import ControlSurface

log = logging.getLogger(__name__)
CURVES = {"soft": 0.6, "linear": 1.0, "hard": 1.6}  # exponent on velocity / 127: soft raises a light touch


def velocity_gamma(curve: str) -> float:
    """soft, linear, hard, or a number (the exponent, 0.2..5)."""
    if curve in CURVES:
        return CURVES[curve]
    try:
        gamma = float(curve)
    except ValueError:
        raise ValueError(f"velocity curve {curve!r}: use soft, linear, hard or an exponent like 0.8") from None
    if not 0.2 <= gamma <= 5.0:
        raise ValueError(f"velocity curve exponent must be in [0.2, 5], got {gamma:g}")
    return gamma


def apply_curve(velocity: int, gamma: float) -> int:
    return min(max(round(127 * (velocity / 127) ** gamma), 1), 127)


class InputRouter:
    def __init__(self, on_message: Callable[[mido.Message, float], None], surface: ControlSurface | None,
                 ccmap: CcMap | None, in_channel: int | None = None, gamma: float = 1.0) -> None:
        self._next, self.surface, self.ccmap = on_message, surface, ccmap
        self.in_channel, self.gamma = in_channel, gamma
        self.controls_seen = 0
        self.last_cc: tuple[int, int, int] | None = None  # (channel, control, value), for the UI and learn

    def _control(self, msg: mido.Message) -> bool:
        """A CC of the map: turn its control (True). False: not a control."""
        self.last_cc = (msg.channel, msg.control, msg.value)
        target = self.ccmap.target(msg.channel, msg.control) if self.ccmap is not None else None
        if target is None or self.surface is None:
            return False
        self.controls_seen += 1
        if target == PANIC:
            if msg.value > 0:  # a button's release (0) is no second panic
                self.surface.panic("cc")
            return True
        try:
            self.surface.set_cc(target, msg.value, f"CC {msg.control}")
        except ValueError as err:
            log.warning("%s", err)
        return True

    def on_message(self, msg: mido.Message, t_s: float) -> None:
        if msg.type == "control_change" and self._control(msg):
            return
        if self.in_channel is not None and hasattr(msg, "channel") and msg.channel != self.in_channel:
            return
        if msg.type == "note_on" and msg.velocity > 0 and self.gamma != 1.0:
            msg = msg.copy(velocity=apply_curve(msg.velocity, self.gamma))
        self._next(msg, t_s)

    def on_control(self, msg: mido.Message, t_s: float) -> None:
        """The `--control-in` port: only the map's CCs count; anything else on it is ignored."""
        if msg.type == "control_change":
            self._control(msg)
