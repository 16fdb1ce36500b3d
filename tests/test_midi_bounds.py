"""What a MIDI file can cost a reader (`notes.read_midi`: inspect, generate/jam prompts, eval, train): bounded by
its note count and streamed, whatever its header declares."""

from __future__ import annotations

import io
import random
import resource
import subprocess
import sys

import mido
import pytest

from tatumflow.eval.roundtrip import corpus_files, default_pijama_root
from tatumflow.notes import MAX_EVENTS, MAX_MIDI_BYTES, MAX_NOTES, notes_from_messages, read_midi, read_midi_tracks

PIJAMA = default_pijama_root()
_MEASURED = ("import atexit, resource, runpy, sys; "
             "atexit.register(lambda: print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)); "
             "sys.argv = ['tatumflow', *sys.argv[1:]]; runpy.run_module('tatumflow.cli', run_name='__main__')")


def _header(tracks: int, midi_type: int = 1, tpb: int = 96) -> bytes:
    return b"MThd" + (6).to_bytes(4, "big") + b"".join(v.to_bytes(2, "big") for v in (midi_type, tracks, tpb))


def _chunk(body: bytes) -> bytes:
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def test_a_file_declaring_65535_tracks_reads_every_note(tmp_path):
    """The header's track count is unsigned: mido read 65,535 as -1 and gave 0 notes."""
    track = _chunk(b"\x00\x90\x3c\x40\x60\x80\x3c\x00\x00\xff\x2f\x00")
    path = tmp_path / "tracks.mid"
    path.write_bytes(_header(65_535) + track * 65_535)
    notes = read_midi(path)
    assert len(notes) == 65_535 and {n.pitch for n in notes} == {60}


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))  # the old reader asked for ~11 GB: fail, not swap


def test_64_mib_of_note_events_is_refused_in_bounded_memory(tmp_path):
    """A file at the size limit, all notes (running status, 6 bytes a note: 11 million): refused at MAX_NOTES
    with one line, in well under 1 GB (the reader before it held a Python object per event: ~11 GB)."""
    note = b"\x00\x3c\x40\x00\x3c\x00"
    n = (MAX_MIDI_BYTES - 200) // len(note)
    body = b"\x00\x90\x3c\x40\x00\x3c\x00" + note * (n - 1) + b"\x00\xff\x2f\x00"
    path = tmp_path / "huge.mid"
    path.write_bytes(_header(1, 0) + _chunk(body))
    assert path.stat().st_size <= MAX_MIDI_BYTES
    proc = subprocess.run([sys.executable, "-c", _MEASURED, "inspect", str(path)], capture_output=True, text=True,
                          timeout=600, preexec_fn=_limited)
    peak_kb = int(proc.stdout.split("maxrss")[-1])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"more than {MAX_NOTES:,} notes" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert peak_kb < 2**20, f"peak RSS {peak_kb} kB"


def test_the_note_limit_is_a_one_line_error_naming_the_file(tmp_path):
    body = b"\x00\x90" + b"\x3c\x40\x00" * (MAX_NOTES + 1) + b"\x3c\x40\x00\xff\x2f\x00"
    path = tmp_path / "many.mid"
    path.write_bytes(_header(1, 0) + _chunk(body))
    with pytest.raises(ValueError, match=f"many.mid: more than {MAX_NOTES:,} notes"):
        read_midi(path)


@pytest.mark.parametrize("head,shown", [(b"RIFF\x00\x00\x00\x00WAVE", "it starts with 'RIFF'"),
                                        (b"\x89PNG\r\n\x1a\n", "it starts with bytes 89 50 4e 47")], ids=["wav", "png"])
def test_not_a_midi_file_says_what_it_starts_with_in_words(tmp_path, head, shown):
    path = tmp_path / "x.mid"
    path.write_bytes(head + bytes(20))
    with pytest.raises(ValueError) as err:
        read_midi(path)
    assert shown in str(err.value) and "b'" not in str(err.value)


def _mido_notes(data: bytes):
    """The notes as the reader before the streamed one made them: mido's playback order, folded by `notes`."""
    midi = mido.MidiFile(file=io.BytesIO(data), clip=True)
    timed, t = [], 0.0
    for msg in midi:
        t += msg.time
        if not msg.is_meta:
            timed.append((t, msg))
    return notes_from_messages(timed, t)


def _close(a, b) -> bool:
    return len(a) == len(b) and all(x.pitch == y.pitch and x.velocity == y.velocity and abs(x.onset_s - y.onset_s)
                                    < 1e-6 and abs(x.duration_s - y.duration_s) < 1e-6 for x, y in zip(a, b))


@pytest.mark.corpus
@pytest.mark.skipif(not (PIJAMA / "kong").is_dir(), reason=f"PiJAMA not found at {PIJAMA}")
def test_the_streamed_reader_gives_the_notes_mido_gave_on_pijama():
    for path in random.Random(5).sample(corpus_files(PIJAMA), 6):
        assert _close(read_midi(path), _mido_notes(path.read_bytes())), path


def test_tracks_keep_their_names_and_the_conductors_tempo(tmp_path):
    f = mido.MidiFile(type=1, ticks_per_beat=100)
    f.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=250_000)]))
    for name, pitch in (("human", 60), ("tatumflow", 64)):
        f.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name=name),
                                        mido.Message("note_on", note=pitch, velocity=70, time=100),
                                        mido.Message("note_off", note=pitch, time=100)]))
    f.save(tmp_path / "t.mid")
    tracks = read_midi_tracks(tmp_path / "t.mid")
    assert list(tracks) == ["human", "tatumflow"]
    assert [(n.onset_s, n.duration_s, n.pitch) for n in tracks["tatumflow"]] == [(0.25, 0.25, 64)]


def test_a_file_of_controls_alone_is_refused_at_the_event_limit(tmp_path):
    """64 MiB of control changes hold no note but 22 million events: read in full it cost two minutes of CPU."""
    body = b"\x00\xb0\x07\x40" + b"\x00\x07\x40" * (MAX_EVENTS + 10) + b"\x00\xff\x2f\x00"
    path = tmp_path / "cc.mid"
    path.write_bytes(_header(1, 0) + _chunk(body))
    with pytest.raises(ValueError, match=f"cc.mid: more than {MAX_EVENTS:,} MIDI events"):
        read_midi(path)
