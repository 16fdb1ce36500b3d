"""The panic, written once: what "all notes off" sends, for a sink that stops (sinks.py), a port that comes back,
and the dead man's switch after a crash (deadman.py)."""

from __future__ import annotations

from collections.abc import Iterable

import mido

from ...notes import SUSTAIN_CC

ALL_SOUND_OFF_CC = 120
ALL_NOTES_OFF_CC = 123
MIDI_CHANNELS = range(16)
MIDI_KEYS = range(128)


def panic_messages(sounding: Iterable[tuple[int, int]], channels: Iterable[int],
                   sound_off: bool = False) -> list[mido.Message]:
    """A note-off for each `(channel, pitch)` in `sounding` (a synth that ignores the controllers still hears
    these), then on each of `channels`: sustain off, all-sound-off when `sound_off` (cuts the release tails too), and
    all-notes-off."""
    out = [mido.Message("note_off", channel=c, note=p) for c, p in sorted(set(sounding))]
    ccs = (SUSTAIN_CC, ALL_SOUND_OFF_CC, ALL_NOTES_OFF_CC) if sound_off else (SUSTAIN_CC, ALL_NOTES_OFF_CC)
    out += [mido.Message("control_change", channel=c, control=cc, value=0) for c in sorted(set(channels)) for cc in ccs]
    return out


def every_key(channels: Iterable[int]) -> list[tuple[int, int]]:
    """Every key of `channels`: what a panic must end when nobody knows what sounds (after a crash)."""
    return [(c, k) for c in sorted(set(channels)) for k in MIDI_KEYS]
