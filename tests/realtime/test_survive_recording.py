"""The recording survives: written as the session goes (atomic rewrites), pedals and the tempo map kept, valid MIDI
at every moment, and a process killed with SIGKILL leaves all but its last second on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import mido
import pytest

from tatumflow.notes import read_midi, read_midi_tracks
from tatumflow.realtime.ports.recording import IncrementalMidi
from tatumflow.realtime.ports.sinks import HUMAN, MODEL, RecorderSink


def on(p, ch=0, v=90):
    return mido.Message("note_on", channel=ch, note=p, velocity=v)


def pedal(value, ch=1):
    return mido.Message("control_change", channel=ch, control=64, value=value)


def test_the_file_is_valid_from_the_start_and_after_each_flush(tmp_path):
    path = tmp_path / "s.mid"
    rec = RecorderSink(path, flush_s=60)
    assert read_midi_tracks(path) == {"human": [], "tatumflow": []}
    rec.send(on(60), MODEL, 0.5)  # still sounding at the snapshot: ended there, in the file only
    rec.send(on(62), MODEL, 1.0)
    rec.flush()
    notes = read_midi_tracks(path)["tatumflow"]
    assert [n.pitch for n in notes] == [60, 62] and notes[0].onset_s == pytest.approx(0.5, abs=1e-3)
    rec.send(mido.Message("note_off", note=60), MODEL, 2.0)
    rec.close()
    notes = read_midi_tracks(path)["tatumflow"]
    assert notes[0].duration_s == pytest.approx(1.5, abs=1e-3) and len(notes) == 2


def test_the_human_pedal_is_recorded_and_folds_on_reading(tmp_path):
    path = tmp_path / "s.mid"
    with RecorderSink(path) as rec:
        rec.send(on(60, ch=1), HUMAN, 0.0)
        rec.send(pedal(127), HUMAN, 0.1)
        rec.send(mido.Message("note_off", channel=1, note=60), HUMAN, 0.2)
        rec.send(pedal(0), HUMAN, 1.0)
    midi = mido.MidiFile(path)
    assert any(m.type == "control_change" and m.control == 64 for m in midi.tracks[1])
    (note,) = read_midi_tracks(path)["human"]
    assert note.duration_s == pytest.approx(1.0, abs=1e-3)  # sounded until pedal up


def test_the_tempo_map_keeps_seconds(tmp_path):
    path = tmp_path / "s.mid"
    with RecorderSink(path) as rec:
        rec.tempo_change(0.0, 90.0, 0.0)
        rec.send(on(60), MODEL, 1.0)
        rec.tempo_change(2.0, 150.0, 2.0)
        rec.send(on(64), MODEL, 3.0)
        rec.send(mido.Message("note_off", note=64), MODEL, 3.5)
    tempi = [m.tempo for m in mido.MidiFile(path).tracks[0] if m.type == "set_tempo"]
    assert mido.tempo2bpm(tempi[-1]) == pytest.approx(150) and len(tempi) == 3
    onsets = [n.onset_s for n in read_midi_tracks(path)["tatumflow"]]
    assert onsets == pytest.approx([1.0, 3.0], abs=1e-3)


def test_restrikes_and_all_notes_off_stay_balanced():
    midi = IncrementalMidi(("a",))
    for i in range(50):
        midi.note("a", i * 0.01, 0, 60, 90)  # struck again and again, never released
    midi.end_channel("a", 1.0, 0)
    data = midi.to_bytes(1.0)
    file = mido.MidiFile(file=__import__("io").BytesIO(data))
    ons = sum(m.type == "note_on" and m.velocity > 0 for m in file.tracks[1])
    offs = sum(m.type == "note_off" for m in file.tracks[1])
    assert ons == offs == 50


KILLED = textwrap.dedent("""
    import sys, time, mido
    from tatumflow.realtime.ports.sinks import MODEL, RecorderSink
    rec = RecorderSink(sys.argv[1], flush_s=0.5)
    t0 = time.monotonic()
    while True:
        t = time.monotonic() - t0
        rec.send(mido.Message("note_on", note=60 + int(t * 10) % 24, velocity=80), MODEL, t)
        print(round(t, 3), flush=True)
        time.sleep(0.05)
""")


def test_kill_9_keeps_all_but_the_last_second(tmp_path):
    path = tmp_path / "killed.mid"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(path)], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    last = 0.0
    while last < 3.0 and time.monotonic() < deadline:
        last = float(proc.stdout.readline() or 0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    notes = read_midi(path)
    assert notes and notes[-1].onset_s > last - 1.0, (last, notes[-1])
