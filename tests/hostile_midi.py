"""Hostile MIDI files written straight as bytes (no message objects: a million notes in a second or two)."""

from __future__ import annotations

from pathlib import Path

from tatumflow.realtime.ports.recording import _vlq  # the recorder's variable-length quantity, not a second one


def dense_midi(path: Path, notes: int, held: int = 96, ticks_apart: int = 2, ticks_per_beat: int = 480) -> Path:
    """A type-1 file of `notes` notes on one track after a conductor track: a note every `ticks_apart` ticks at 120
    bpm (~1 ms apart at the default), `held` of them sounding at once, the sustain pedal down throughout (FluidSynth
    runs out of voices and says so for every note), running status, a tempo change half way."""
    body = bytearray(b"\x00\xb0\x40\x7f")  # sustain down
    ons = bytearray()
    for i in range(notes):
        ons.clear()
        ons += _vlq(ticks_apart) + bytes((0x90, 21 + (i * 7) % 88, 1 + i % 127))
        if i >= held:
            j = i - held
            ons += b"\x00" + bytes((21 + (j * 7) % 88, 0))  # running status: a note-on of velocity 0 ends it
        body += ons
    for j in range(max(notes - held, 0), notes):
        body += b"\x00\x80" + bytes((21 + (j * 7) % 88, 0))
    body += b"\x00\xff\x2f\x00"
    half = notes * ticks_apart // 2
    tempo = b"\x00\xff\x51\x03\x07\xa1\x20" + _vlq(half) + b"\xff\x51\x03\x05\x16\x15" + b"\x00\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + (2).to_bytes(2, "big")
    header += ticks_per_beat.to_bytes(2, "big")
    chunks = [b"MTrk" + len(t).to_bytes(4, "big") + bytes(t) for t in (tempo, body)]
    path.write_bytes(header + b"".join(chunks))
    return path
