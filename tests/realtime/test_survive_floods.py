"""A flood of input (40,000 messages a second) through the engine: every note the callback hands over is counted by
the report and written by the recorder, the same number in both."""

from __future__ import annotations

import mido

from tatumflow.notes import read_midi_tracks
from tatumflow.realtime.ports.sinks import RecorderSink

from .conftest import SimSession


def test_forty_thousand_messages_a_second_report_and_recording_agree(tmp_path):
    s = SimSession("duet")
    recorder = RecorderSink(tmp_path / "flood.mid", flush_s=3600)
    s.engine.outputs.add(recorder)
    n = 4_000  # note-ons, and as many note-offs, at 40,000 messages a second
    for i in range(n):
        t = 0.1 + i * 2 / 40_000
        pitch = 21 + (i * 7) % 88  # re-strikes of a sounding pitch included
        s.engine.on_message(mido.Message("note_on", note=pitch, velocity=1 + i % 127), t)
        s.engine.on_message(mido.Message("note_off", note=21 + (i * 7 + 44) % 88), t + 1 / 40_000)
        if i % 200 == 0:
            s.engine.tick(t)
    report = s.engine.stop()
    recorder.close()
    recorded = read_midi_tracks(tmp_path / "flood.mid")["human"]
    assert report["human_notes"] == n == len(recorded)
    assert report["stuck_notes"] == 0


def test_messages_the_input_lost_are_in_the_report():
    s = SimSession("duet")
    s.engine.on_message(mido.Message("note_on", note=60, velocity=80), 0.1)
    s.engine.on_input_lost(1_234)  # what a JACK input read by jack_midi_dump counted (realtime/ports/jack_input.py)
    report = s.engine.stop()
    assert report["input_lost"] == 1_234 and report["input_messages"] == 1
