"""The streamed MIDI reader (midistream.py) against mido and `notes`' reader, and `render` of hostile files in
bounded memory."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import tracemalloc
import wave

import mido
import pytest

from tatumflow.eval.roundtrip import corpus_files, default_pijama_root
from tatumflow.midistream import CONTROL, NOTE_OFF, NOTE_ON, MappedMidi
from tatumflow.notes import DRUM_CHANNEL, read_midi

from .hostile_midi import dense_midi

PIJAMA = default_pijama_root()


def _load_midi(data: bytes, name: str) -> mido.MidiFile:
    return mido.MidiFile(file=io.BytesIO(data), clip=True)


def _timed_messages(tracks, ticks_per_beat: int, name: str) -> tuple[list[tuple[float, mido.Message]], float]:
    """mido's own playback order (tracks merged by tick, track order kept within a tick, tempo changes from any
    track): the reference the streamed reader is held to (notes.py read files this way until 2026-12)."""
    events = []
    for track in tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            events.append((tick, msg))
    events.sort(key=lambda e: e[0])
    timed, seconds, prev_tick, tempo = [], 0.0, 0, 500_000
    for tick, msg in events:
        seconds += (tick - prev_tick) * tempo * 1e-6 / ticks_per_beat
        prev_tick = tick
        if msg.is_meta:
            tempo = msg.tempo if msg.type == "set_tempo" else tempo
        else:
            timed.append((seconds, msg))
    return timed, seconds


def _reference(path) -> list[tuple[float, int, int, int, int]]:
    """What mido and `notes` make of the file: (t_s, kind, channel, a, b) of the note and control events."""
    midi = _load_midi(path.read_bytes(), str(path))
    if midi.type == 2:
        out, offset = [], 0.0
        for track in midi.tracks:
            timed, end_s = _timed_messages([track], midi.ticks_per_beat, str(path))
            out += _events(timed, offset)
            offset += end_s
        return out
    return _events(_timed_messages(midi.tracks, midi.ticks_per_beat, str(path))[0])


def _events(timed, offset: float = 0.0) -> list[tuple[float, int, int, int, int]]:
    out = []
    for t, m in timed:
        if getattr(m, "channel", DRUM_CHANNEL) == DRUM_CHANNEL:
            continue
        if m.type == "note_on" and m.velocity:
            out.append((t + offset, NOTE_ON, m.channel, m.note, m.velocity))
        elif m.type in ("note_on", "note_off"):
            out.append((t + offset, NOTE_OFF, m.channel, m.note, 0))
        elif m.type == "control_change":
            out.append((t + offset, CONTROL, m.channel, m.control, m.value))
    return out


def _streamed(path) -> list[tuple[float, int, int, int, int]]:
    with MappedMidi(path) as midi:
        return [(t, kind, ch, a, 0 if kind == NOTE_OFF else b) for t, kind, _, ch, a, b in midi.events()]


def _assert_same(got, want) -> None:
    assert len(got) == len(want)
    by_event = lambda e: (e[1:], e[0])  # noqa: E731  (the same events, each at the same time to within a microsecond)
    for a, b in zip(sorted(got, key=by_event), sorted(want, key=by_event)):
        assert a[1:] == b[1:] and abs(a[0] - b[0]) < 1e-6, (a, b)
    assert all(a[0] <= b[0] + 1e-9 for a, b in zip(got, got[1:])), "not in time order"


def _file(tmp_path, midi_type: int) -> object:
    """Tempo changes in the conductor track, running status, sysex, drums, velocity-0 offs, pedals, two tracks."""
    f = mido.MidiFile(type=midi_type, ticks_per_beat=96)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=400_000, time=0),
                                mido.MetaMessage("set_tempo", tempo=700_000, time=150)])
    a = mido.MidiTrack([mido.Message("sysex", data=[1, 2, 3], time=5)])
    b = mido.MidiTrack()
    rng = random.Random(midi_type)
    for track, channel in ((a, 0), (b, 1)):
        for i in range(40):
            p = rng.randint(30, 90)
            track.append(mido.Message("note_on", channel=channel, note=p, velocity=rng.randint(1, 127),
                                      time=rng.randint(0, 30)))
            track.append(mido.Message("control_change", channel=channel, control=64, value=127 * (i % 2)))
            track.append(mido.Message("note_on", channel=DRUM_CHANNEL, note=36, velocity=90))
            track.append(mido.Message("note_on", channel=channel, note=p, velocity=0, time=rng.randint(1, 40)))
            track.append(mido.Message("pitchwheel", channel=channel, pitch=100))
    f.tracks = [conductor, a, b] if midi_type else [mido.merge_tracks([conductor, a, b])]
    path = tmp_path / f"t{midi_type}.mid"
    f.save(path)
    return path


@pytest.mark.parametrize("midi_type", [0, 1, 2])
def test_the_stream_matches_the_reader_on_every_type(tmp_path, midi_type):
    path = _file(tmp_path, midi_type)
    _assert_same(_streamed(path), _reference(path))


@pytest.mark.corpus
@pytest.mark.skipif(not (PIJAMA / "kong").is_dir(), reason=f"PiJAMA not found at {PIJAMA}")
def test_the_stream_matches_the_reader_on_pijama():
    files = corpus_files(PIJAMA)
    for path in random.Random(3).sample(files, 8):
        _assert_same(_streamed(path), _reference(path))


def test_a_hostile_file_streams_exactly(tmp_path):
    path = dense_midi(tmp_path / "dense.mid", 3000)
    got = _streamed(path)
    _assert_same(got, _reference(path))
    assert sum(e[1] == NOTE_ON for e in got) == 3000 == len(read_midi(path))


@pytest.mark.parametrize("damage,reason", [
    (lambda d: d[:-9], "declares"),  # cut inside the track chunk
    (lambda d: d[:30] + b"\xf4" + d[31:], "corrupt MIDI data"),  # a system common status inside a track
])
def test_damaged_files_are_one_line_errors(tmp_path, damage, reason):
    good = dense_midi(tmp_path / "good.mid", 50).read_bytes()
    bad = tmp_path / "bad.mid"
    bad.write_bytes(damage(good))
    with pytest.raises(ValueError, match=reason) as err, MappedMidi(bad) as midi:
        list(midi.events())
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


_MEASURED = ("import atexit, resource, runpy, sys; "
             "atexit.register(lambda: print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)); "
             "sys.argv = ['tatumflow', *sys.argv[1:]]; runpy.run_module('tatumflow.cli', run_name='__main__')")


def _render(tmp_path, notes: int) -> tuple[int, float]:
    """`tatumflow render` of a dense file of `notes` notes in a child; its peak RSS (kB) and the WAV's seconds."""
    mid, wav = dense_midi(tmp_path / "dense.mid", notes), tmp_path / "dense.wav"
    proc = subprocess.run([sys.executable, "-c", _MEASURED, "render", str(mid), str(wav)], capture_output=True,
                          text=True, timeout=1800, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    peak = int(proc.stdout.split("maxrss")[-1])
    with wave.open(str(wav)) as w:
        return peak, w.getnframes() / w.getframerate()


def _need_fluidsynth() -> None:
    pytest.importorskip("fluidsynth")
    from tatumflow.realtime.ports.synth import find_soundfont

    try:
        find_soundfont()
    except ValueError as err:
        pytest.skip(str(err))


def test_streaming_a_hundred_thousand_notes_allocates_almost_nothing(tmp_path):
    path = dense_midi(tmp_path / "dense.mid", 100_000)
    tracemalloc.start()
    try:
        with MappedMidi(path) as midi:
            ons = sum(1 for e in midi.events() if e[1] == NOTE_ON)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ons == 100_000
    assert peak < 200_000, f"{peak:,} bytes"  # the file is 700 kB; read_midi (mido) peaks at 88 MB on it


def test_render_of_a_dense_file_stays_small(tmp_path):
    _need_fluidsynth()
    base_kb, _ = _render(tmp_path, 100)
    peak_kb, seconds = _render(tmp_path, 20_000)
    assert seconds > 30  # ~35 s of music at a note a millisecond
    assert peak_kb - base_kb < 30_000, (base_kb, peak_kb)


@pytest.mark.slow
def test_render_of_a_million_notes_in_bounded_memory(tmp_path):
    """A million notes (7 MB of MIDI, 29 minutes of music with 96 voices held and the pedal down): mido needed
    645 MB to parse it; streamed, the render needs no more than one of a hundred notes, to within 30 MB."""
    _need_fluidsynth()
    base_kb, _ = _render(tmp_path, 100)
    peak_kb, seconds = _render(tmp_path, 1_000_000)
    print(f"render of 1,000,000 notes: peak RSS {peak_kb / 1024:.0f} MiB (100 notes: {base_kb / 1024:.0f} MiB), "
          f"{seconds:.0f} s of audio")
    assert seconds > 1700
    assert peak_kb - base_kb < 30_000, (base_kb, peak_kb)


def test_fluidsynth_messages_are_counted_not_kept(caplog):
    from tatumflow.realtime.ports.synth import _fluidsynth_messages

    with caplog.at_level("WARNING"), _fluidsynth_messages("x.wav"):
        for i in range(20_000):
            os.write(2, b"fluidsynth: warning: voice %d stolen\n" % i)
    assert "printed 20000 message lines (first: fluidsynth: warning: voice 0 stolen)" in caplog.text
