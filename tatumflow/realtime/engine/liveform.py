"""The tune's form in a live session (`jam --changes`): the chart's `Form` placed on the session's time, pass by pass.

`LiveForm.update(now, grid, origin)` runs in every worker pass after the tempo (tempo.py) and keeps `changes`, a
`timing.form.Changes` that the modes read (the chart prior, the meter prior on the chart's beat grid, the turns of
`trade`) and the UI shows. Where bar 1 goes depends on where the tempo comes from:

- MIDI clock: bar 1 is song position 0 (the Song Position Pointer places the bar: a DAW that starts at bar 9 of the
  song starts at the form's bar 9), on the clock's tempo, read again at every pass. A clock whose transport was
  never started has no song position (nor phase): bar 1 is then the player's first note, on the clock's tempo.
- `--bpm`: a count-in. At the first pass one bar of notes on the form's beats goes out from TatumFlow's output (the
  first beat higher and louder), and bar 1 is the bar line after it.
- The player (the tempo tracker, `--sync human`, or `auto` with no clock): bar 1 is the beat nearest the player's
  first note, once the tracker has a tempo. A later tempo keeps the bar count: the latest bar line is moved onto the
  nearest beat of the new grid and the bars before it follow.

With no grid (none yet, the tracker unsure, the clock stopped), the last placement holds. `changes` is replaced
whole (a reference swap), so any thread may read it.

The feel over a chart (tunes/feel.py, as `generate --changes` plays it): once the form is placed, every window the
modes sample gets `feel_controls(live)`, a new `Controls` made from the musician's live ones as they are at that
window (a CC or TUI change shows at the next window; the live controls themselves are never changed, so the UI
shows the musician's values): the meter prior scaled, the velocity head warmer, the repeat penalty's 35 ms onset,
and the duration steer's legato offset on top of the live legato. The steer's beat is a quarter note at the
placement's tempo now (a live tempo moves it), and it reads the notes the engine commits to play (`played`, from
the modes: a reply's first notes after they are pulled to its start, a trade answer's clipped at its bar line,
nothing of a window thrown away before it was sent), moved once per `window_s` of music (`DurationSteer.fold`,
perform's pace). A barge-in that cancels notes already committed does not take them back: it cuts the reply by
onset, from the key press on, not by length, so the notes it drops are as fair a sample of the lengths the model
was playing as those it kept (the steer measures the model's habit, which the next window samples with). The steer
lives as long as the session's form (a mode switch keeps it). Worker thread only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ...generate.controls import Controls
from ...notes import Note
from ...timing.form import Changes, Form
from ...timing.grid import BeatGrid
from ...tunes.feel import ChartFeel

COUNT_IN_LEAD_S = 0.3  # the count-in's first note at least this long after the pass that places it
COUNT_IN_PITCHES = (84, 77)  # the first beat (C6), the others (F5)
COUNT_IN_VELOCITIES = (100, 70)
COUNT_IN_LENGTH = 0.25  # of a beat: short, a click more than a note


@dataclass(frozen=True)
class FormView:
    """Where the form is, for the UI (1-based bar, beat and chorus; `counting_in` before bar 1)."""

    section: str
    bar: int
    bars: int
    beat: int
    chorus: int
    chord: str
    next_chord: str
    counting_in: bool = False

    def describe(self) -> str:
        if self.counting_in:
            return f"count-in {self.beat}   then [{self.section}] {self.next_chord}"
        section = f"[{self.section}] " if self.section else ""
        return (f"{section}bar {self.bar}/{self.bars} beat {self.beat}   chorus {self.chorus}   "
                f"{self.chord or '-'} -> {self.next_chord or '-'}")


def count_in_notes(changes: Changes) -> list[Note]:
    """One bar of notes on the form's beats, ending at bar 1 of `changes`."""
    form, period = changes.form, changes.period_s
    out = []
    for beat in range(form.beats_per_bar):
        first = int(beat != 0)
        t = changes.start_s - (form.beats_per_bar - beat) * period
        out.append(Note(t, COUNT_IN_LENGTH * period, COUNT_IN_PITCHES[first], COUNT_IN_VELOCITIES[first]))
    return out


class LiveForm:
    """A form placed live, and the feel it is played with (see the module). `hear`, `update`, `feel_controls` and
    `played` from the worker thread; `changes` from any."""

    def __init__(self, form: Form, count_in: bool = False, feel: ChartFeel | None = None) -> None:
        self.form = form
        self.count_in = count_in
        self.feel = ChartFeel() if feel is None else feel  # the default: perform's (tunes.perform.CHART_FEEL)
        self.changes: Changes | None = None
        self._grid: BeatGrid | None = None  # the grid of the placement now
        self._first_onset_s: float | None = None
        self._steer = self.feel.steer(0.5)  # its beat set from the placement at each window

    @property
    def legato_offset(self) -> float:
        """The duration steer's legato offset now (what the next window adds to the live legato)."""
        return self._steer.legato_offset

    def feel_controls(self, controls: Controls) -> Controls:
        """The controls a window over the placed form samples with: the feel on top of `controls` (the live ones;
        returned unchanged before the form is placed)."""
        changes = self.changes
        if changes is None:
            return controls
        self._steer.beat_s = changes.period_s * self.form.beat_unit / 4  # a quarter note (a half note's half in 2/2)
        return self.feel.controls(controls, self._steer.legato_offset)

    def played(self, notes: Sequence[Note], until_s: float, window_s: float) -> None:
        """Notes the engine committed to play, the music planned up to `until_s`: into the duration steer, which
        moves once per `window_s` of music."""
        if self.changes is not None:
            self._steer.fold(notes, until_s, window_s)

    def hear(self, onsets: Sequence[float]) -> None:
        """The player's onsets (the first places bar 1 when the tempo comes from the player)."""
        if onsets and self._first_onset_s is None:
            self._first_onset_s = min(onsets)

    def update(self, now_s: float, grid: BeatGrid | None, origin_s: float | None = None) -> list[Note]:
        """Place the form on this pass's `grid` (`origin_s`: a running clock's song position 0). Returns the
        count-in's notes, once, when the form is first placed on a fixed tempo with a count-in."""
        if grid is None or grid is self._grid:
            return []
        if grid.source == "clock":
            if origin_s is not None:
                self.changes, self._grid = Changes.on_grid(self.form, grid, origin_s), grid
            elif self.changes is None:  # clock with its transport never started: no song position to go by
                return self._place(now_s, grid)
            return []
        if self.changes is None:
            return self._place(now_s, grid)
        if grid.source != "fixed":
            self.changes, self._grid = self._reanchor(self.changes, now_s, grid), grid
        return []

    def _place(self, now_s: float, grid: BeatGrid) -> list[Note]:
        bar_beats = self.form.beats_per_bar * 4 / self.form.beat_unit  # grid beats (quarter notes) in a bar
        if grid.source == "fixed":
            first = grid.next_beat(now_s + COUNT_IN_LEAD_S)
            bar1 = first + bar_beats * grid.period_s if self.count_in else first
            self.changes, self._grid = Changes.on_grid(self.form, grid, bar1), grid
            return count_in_notes(self.changes) if self.count_in else []
        if self._first_onset_s is None:
            return []  # the player's tempo, before the player's first note: nothing to place by
        first = self._first_onset_s
        if grid.source == "clock":  # a stopped transport's clock has a tempo but no phase: the note is the beat
            bar1 = first
        else:
            bar1 = grid.beat_s + round(float(grid.beats(first))) * grid.period_s
        self.changes, self._grid = Changes.on_grid(self.form, grid, bar1), grid
        return []

    def _reanchor(self, old: Changes, now_s: float, grid: BeatGrid) -> Changes:
        """A new tempo: the latest bar line of the old placement onto the new grid's nearest beat, the bar count
        kept."""
        bpb = self.form.beats_per_bar
        k = math.floor(old.beats(now_s) / bpb)
        line = old.start_s + k * bpb * old.period_s
        snapped = grid.beat_s + round(float(grid.beats(line))) * grid.period_s
        new = Changes.on_grid(self.form, grid, snapped, old.choruses)
        return replace(new, start_s=snapped - k * bpb * new.period_s)

    def view(self, now_s: float) -> FormView | None:
        """Where the form is at `now_s` (None before it is placed)."""
        changes = self.changes
        if changes is None:
            return None
        pos = changes.position(now_s)
        bars = len(self.form.bars)
        nxt = pos.next_chord.symbol if pos.next_chord is not None else ""
        if pos.chorus < 0:
            return FormView(pos.section, 0, bars, int(pos.beat) + 1, 0, "", nxt, counting_in=True)
        return FormView(pos.section, pos.bar + 1, bars, int(pos.beat) + 1, pos.chorus + 1,
                        pos.chord.symbol if pos.chord is not None else "", nxt)
