"""A tune's form in time: chords in bars, bars in sections, choruses one after another, placed on a tempo.

`Form` is the chart in beats (what `tatumflow.tunes` reads from a text chart or a lead sheet): bars, each with its
section label and its chords at beat offsets. `Changes` places a form in session time: a tempo (beats of the
meter's unit per minute: quarter notes in 4/4 and 3/4, half notes in 2/2), the time of chorus 1's bar 1, and how many
choruses (None: round and round). At any time it answers where the form is (`position`: chorus, bar, section, beat
in the bar, the chord now, the next chord and how far it is), which is what the generator's chart prior
(generate/chart.py), the offline performance, the measures and the live session (a grid from MIDI clock and a bar
position: `Changes.on_grid`) read. Chords are pitch classes (0 = C): the parsing of symbols lives in `tunes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .grid import MAX_BPM, MIN_BPM, BeatGrid

METERS = ((4, 4), (3, 4), (2, 4), (2, 2))  # (beats per bar, beat unit)


@dataclass(frozen=True)
class Chord:
    """A chord symbol as pitch classes: `tones` are its root, 3rd (or suspension), 5th, 6th and 7th (the bass of a
    slash chord too); `tensions` its written extensions and the usual tensions of its kind (9, 11, 13 ...)."""

    symbol: str
    root: int
    bass: int
    tones: frozenset[int]
    tensions: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        for pc in (self.root, self.bass, *self.tones, *self.tensions):
            if not 0 <= pc < 12:
                raise ValueError(f"chord {self.symbol!r}: pitch class {pc} is not in 0..11")
        if self.root not in self.tones:
            raise ValueError(f"chord {self.symbol!r}: its root is not among its tones")

    def transposed(self, semitones: int) -> Chord:
        def up(pcs: frozenset[int]) -> frozenset[int]:
            return frozenset((p + semitones) % 12 for p in pcs)

        return Chord(f"{self.symbol}{semitones:+d}", (self.root + semitones) % 12, (self.bass + semitones) % 12,
                     up(self.tones), up(self.tensions))


@dataclass(frozen=True)
class Bar:
    """One bar: its section label and its chords as (beat offset in the bar, chord), the first at offset 0."""

    section: str
    chords: tuple[tuple[float, Chord], ...]

    def __post_init__(self) -> None:
        if not self.chords or self.chords[0][0] != 0:
            raise ValueError("a bar needs a chord at its first beat")
        offsets = [o for o, _ in self.chords]
        if offsets != sorted(set(offsets)):
            raise ValueError(f"a bar's chord offsets must increase, got {offsets}")

    @property
    def symbols(self) -> str:
        return " ".join(c.symbol for _, c in self.chords)


@dataclass(frozen=True)
class Form:
    """One chorus: `bars` in order, `beats_per_bar` beats of `beat_unit` (4: quarter notes, 2: half notes)."""

    bars: tuple[Bar, ...]
    beats_per_bar: int = 4
    beat_unit: int = 4
    title: str = ""
    _starts: np.ndarray = field(init=False, repr=False, compare=False)
    _chords: tuple[Chord, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.beats_per_bar, self.beat_unit) not in METERS:
            raise ValueError(f"meter {self.beats_per_bar}/{self.beat_unit} is not one of "
                             + ", ".join(f"{a}/{b}" for a, b in METERS))
        if not self.bars:
            raise ValueError("a form needs at least one bar")
        starts, chords = [], []
        for i, bar in enumerate(self.bars):
            if bar.chords[-1][0] >= self.beats_per_bar:
                raise ValueError(f"bar {i + 1}: a chord at beat offset {bar.chords[-1][0]} is past the bar")
            for offset, chord in bar.chords:
                starts.append(i * self.beats_per_bar + offset)
                chords.append(chord)
        object.__setattr__(self, "_starts", np.array(starts, dtype=float))
        object.__setattr__(self, "_chords", tuple(chords))

    @property
    def total_beats(self) -> int:
        return len(self.bars) * self.beats_per_bar

    def chord_index(self, beat: float) -> int:
        """The index (in form order) of the chord sounding at `beat` (0 <= beat < total_beats)."""
        return int(np.searchsorted(self._starts, beat + 1e-9, side="right")) - 1

    def chord_starts(self) -> list[tuple[float, Chord]]:
        return list(zip(self._starts.tolist(), self._chords))

    def transposed(self, semitones: int) -> Form:
        bars = tuple(Bar(b.section, tuple((o, c.transposed(semitones)) for o, c in b.chords)) for b in self.bars)
        return replace(self, bars=bars)


@dataclass(frozen=True)
class Position:
    """Where a form is at one time. Before chorus 1, `chorus` is -1 (a pickup: `chord` is None, `next_chord` the
    first); after the last chorus, `chorus` is the count of choruses and both chords are None."""

    chorus: int
    bar: int  # 0-based, in the form
    section: str
    beat: float  # beats since the bar line (0-based)
    chord: Chord | None
    next_chord: Chord | None
    to_next_s: float  # seconds to the next chord change (inf when none)


@dataclass(frozen=True)
class Changes:
    """A form placed in time: chorus 1's bar 1 at `start_s`, `bpm` beats (of the form's beat unit) per minute."""

    form: Form
    bpm: float
    start_s: float = 0.0
    choruses: int | None = None  # None: the form repeats without end (a live session)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bpm) and MIN_BPM <= self.bpm <= MAX_BPM):
            raise ValueError(f"tempo must be in [{MIN_BPM:g}, {MAX_BPM:g}] bpm, got {self.bpm!r}")
        if not math.isfinite(self.start_s):
            raise ValueError(f"start_s must be finite, got {self.start_s!r}")
        if self.choruses is not None and self.choruses < 1:
            raise ValueError(f"choruses must be >= 1, got {self.choruses}")

    @classmethod
    def on_grid(cls, form: Form, grid: BeatGrid, bar_s: float, choruses: int | None = None) -> Changes:
        """The form on a session grid (MIDI clock, the player, --bpm) whose bar line at `bar_s` is bar 1, chorus 1
        (the grid's tempo counts quarter notes; in 2/2 the form's beats are two of them)."""
        return cls(form, grid.bpm * form.beat_unit / 4, bar_s, choruses)

    @property
    def period_s(self) -> float:
        return 60.0 / self.bpm

    @property
    def chorus_s(self) -> float:
        return self.form.total_beats * self.period_s

    @property
    def end_s(self) -> float:
        return math.inf if self.choruses is None else self.start_s + self.choruses * self.chorus_s

    def beats(self, t_s: float) -> float:
        """Beats since chorus 1's bar 1 (negative before it)."""
        return (t_s - self.start_s) / self.period_s

    def beat_grid(self) -> BeatGrid:
        """The session grid of this placement: quarter notes, one on every bar line (in 2/2, two per beat; the
        form's own beat where that would pass the grid's tempo limit)."""
        quarter_bpm = self.bpm * 4 / self.form.beat_unit
        return BeatGrid(quarter_bpm if quarter_bpm <= MAX_BPM else self.bpm, self.start_s, "chart")

    def position(self, t_s: float) -> Position:
        form, b = self.form, self.beats(t_s)
        total = form.total_beats
        if b < 0:
            first = form.bars[0]
            return Position(-1, -1, first.section, b % form.beats_per_bar, None, form._chords[0], -b * self.period_s)
        chorus = int(b // total)
        if self.choruses is not None and chorus >= self.choruses:
            return Position(self.choruses, len(form.bars), "", 0.0, None, None, math.inf)
        in_chorus = b - chorus * total
        bar = min(int(in_chorus // form.beats_per_bar), len(form.bars) - 1)
        i = form.chord_index(in_chorus)
        if i + 1 < len(form._chords):
            nxt: Chord | None = form._chords[i + 1]
            to_next = form._starts[i + 1] - in_chorus
        else:  # the turnaround: the next chorus's first chord, if there is a next chorus
            last = self.choruses is not None and chorus + 1 >= self.choruses
            nxt = None if last else form._chords[0]
            to_next = math.inf if last else total - in_chorus
        return Position(chorus, bar, form.bars[bar].section, in_chorus - bar * form.beats_per_bar,
                        form._chords[i], nxt, float(to_next) * self.period_s)

    def chord_at(self, t_s: float) -> Chord | None:
        return self.position(t_s).chord

    def bar_lines(self, until_s: float | None = None) -> list[tuple[float, int, int]]:
        """(time, chorus, bar) of every bar line from chorus 1's bar 1 to the end (or to `until_s`)."""
        end = self.end_s if until_s is None else min(until_s, self.end_s)
        if not math.isfinite(end):
            raise ValueError("an endless form needs until_s")
        bar_s = self.form.beats_per_bar * self.period_s
        out = []
        for k in range(max(0, math.ceil((end - self.start_s) / bar_s - 1e-9))):
            out.append((self.start_s + k * bar_s, k // len(self.form.bars), k % len(self.form.bars)))
        return out

    def transposed(self, semitones: int) -> Changes:
        return replace(self, form=self.form.transposed(semitones))
