"""How a performance over a chart is played, beyond its chords: the feel (`generate --changes`; benchmarks/tunes).

Over a chart the generator knows the tempo for the whole performance, and three things the model does by itself
there came out unlike Art Tatum's in-tempo choruses (benchmarks/tunes/README.md, "Texture over charts: the feel"):

- **time**: with the meter prior at the preset's weight (tuned for a live session) every onset sat on a 16th or
  a triplet of the chart's fixed grid, and the onsets' autocorrelation (eval.texture `tempo_regularity`) came out
  1.6x his. Over a chart the prior is scaled by `meter_scale`;
- **touch**: the velocity head's draws were narrow (a spread of 6 against his 10); its temperature is multiplied
  by `velocity_temperature`;
- **note length**: his notes last about half a beat at any tempo (0.56 beat at ~143 bpm, 0.53 at ~270), the
  model's lengthened with the tempo (0.5 beat at 92 bpm, 0.9 at 270). `DurationSteer` holds the model's recent
  mean duration near `duration_beats` quarter notes at the chart's tempo (both his charts are in 4/4; in 2/2 the
  chart's beat is a half note, and in his fast 4/4 his notes were half a quarter): after each window the legato
  tilt (Controls.legato, the duration head's `legato * ln(d / 0.1 s)`) moves by `steer_gain * ln(target /
  recent mean)`, on top of the controls' own legato, within the control's range. A prior on the duration head,
  never a cut: a long note stays possible.

And the top note: a rolled chord (its notes 10-30 ms apart) was several onsets to the repeat penalty, which then
penalised the roll's last note rather than its top, and the top line re-struck after a rolled chord 4x as often as
after a plain one. Over a chart the penalty's onset is `repeat_onset_s` (35 ms: eval.texture's onset, which the
measure and a listener hear as one).

Where it applies: `tunes.perform` (`generate --changes`), `tunes.restyle` with a chart, and the live jam over a
chart (realtime/engine/liveform.py, `LiveForm.feel_controls`), each on top of the controls it was given (the jam's:
the musician's live controls, never stored into them). With no chart the controls, and so the notes, are the
caller's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..generate.controls import LEGATO_LIMIT, Controls, check_range
from ..notes import ONSET_S, Note

LEGATO_STEP = 0.05  # the steer's offset is kept on this lattice (each value is a backend's cached bias spec)
STEER_NOTES = 48  # the recent notes whose mean duration the steer reads


@dataclass(frozen=True)
class ChartFeel:
    """The feel over a chart (see the module). `ChartFeel.off()`: the controls as given."""

    meter_scale: float = 0.375
    velocity_temperature: float = 1.7
    duration_beats: float | None = 0.52  # None: no steer
    steer_gain: float = 0.1
    repeat_onset_s: float = ONSET_S  # the onset as eval.texture hears it

    def __post_init__(self) -> None:
        check_range("meter_scale", self.meter_scale, 0.0, 4.0)
        check_range("velocity_temperature", self.velocity_temperature, 0.1, 4.0)
        if self.duration_beats is not None:
            check_range("duration_beats", self.duration_beats, 0.05, 8.0)
        check_range("steer_gain", self.steer_gain, 0.0, 2.0)
        check_range("repeat_onset_s", self.repeat_onset_s, 0.0, 0.1)

    @classmethod
    def off(cls) -> ChartFeel:
        return cls(meter_scale=1.0, velocity_temperature=1.0, duration_beats=None, repeat_onset_s=0.0)

    def controls(self, controls: Controls, legato_offset: float = 0.0) -> Controls:
        """`controls` as a window over a chart samples with them."""
        temps = controls.head_temperature
        velocity = min(max(temps[2] * self.velocity_temperature, 1e-3), 10.0)
        legato = min(max(controls.legato + legato_offset, -LEGATO_LIMIT), LEGATO_LIMIT)
        return replace(controls, meter_weight=min(controls.meter_weight * self.meter_scale, 4.0),
                       head_temperature=(temps[0], temps[1], velocity, temps[3]), legato=legato,
                       repeat_onset_s=max(controls.repeat_onset_s, self.repeat_onset_s))

    def steer(self, beat_s: float) -> DurationSteer:
        return DurationSteer(self.duration_beats, beat_s, self.steer_gain)


@dataclass
class DurationSteer:
    """The legato offset that holds the recent mean duration near `target_beats` of `beat_s` (see the module)."""

    target_beats: float | None
    beat_s: float
    gain: float
    legato_offset: float = 0.0
    recent: list[float] = field(default_factory=list)  # the last STEER_NOTES durations (s)
    pending: list[Note] = field(default_factory=list)  # `fold`: notes not folded in yet
    folded_s: float | None = None  # `fold`: where the music stood at the last fold

    def update(self, notes: Sequence[Note]) -> float:
        """Fold a window's notes in; returns the offset for the next window (unchanged with no target or notes)."""
        self.recent = (self.recent + [n.duration_s for n in notes])[-STEER_NOTES:]
        if self.target_beats is None or not notes or not self.recent:
            return self.legato_offset
        mean_beats = float(np.mean(self.recent)) / self.beat_s
        step = self.gain * math.log(self.target_beats / mean_beats)
        offset = min(max(self.legato_offset + step, -LEGATO_LIMIT), LEGATO_LIMIT)
        self.legato_offset = round(offset / LEGATO_STEP) * LEGATO_STEP
        return self.legato_offset

    def fold(self, notes: Sequence[Note], end_s: float, every_s: float) -> float:
        """`update` at perform's pace (once per window of `every_s`) where the windows come shorter or uneven
        (restyle's, cut at the melody's onsets; a live reply's first notes): `notes` are held until the music, now
        up to `end_s`, has gone `every_s` past the last fold, then folded in together. Returns the offset now."""
        self.pending = (self.pending + list(notes))[-STEER_NOTES:]
        if self.folded_s is None:
            self.folded_s = min((n.onset_s for n in notes), default=end_s)
        if end_s - self.folded_s >= every_s - 1e-9:
            self.update(self.pending)
            self.pending, self.folded_s = [], end_s
        return self.legato_offset
