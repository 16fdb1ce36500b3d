"""MIDI file -> notes -> MIDI file, one self-made file per edge case (built with mido in memory)."""

from __future__ import annotations

import io

import mido
import pytest

from tatumflow.notes import (
    Note,
    PedalFolder,
    find_midi_files,
    midi_file_from_tracks,
    note_messages,
    notes_from_messages,
    read_midi,
    read_midi_bytes,
    read_midi_tracks,
    write_midi,
)

TPB = 480  # ticks per beat; at the default tempo (120 bpm) one beat is 0.5 s
BEAT = 0.5


def midi_bytes(*tracks: list[mido.Message | mido.MetaMessage], type_: int = 1, tpb: int = TPB) -> bytes:
    """A MIDI file from tracks of messages whose `time` is a delta in ticks."""
    midi = mido.MidiFile(type=type_, ticks_per_beat=tpb)
    for messages in tracks:
        midi.tracks.append(mido.MidiTrack(messages))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def on(pitch: int, time: int = 0, velocity: int = 80, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=pitch, velocity=velocity, time=time, channel=channel)


def off(pitch: int, time: int = 0, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=pitch, velocity=0, time=time, channel=channel)


def pedal(down: bool, time: int = 0, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=64, value=127 if down else 0, time=time, channel=channel)


def as_tuples(notes: list[Note]) -> list[tuple[float, float, int, int]]:
    return [(round(n.onset_s, 6), round(n.duration_s, 6), n.pitch, n.velocity) for n in notes]


def test_type0_single_track():
    data = midi_bytes([on(60), off(60, TPB), on(64, 0, 90), off(64, TPB)], type_=0)
    assert as_tuples(read_midi_bytes(data)) == [(0.0, BEAT, 60, 80), (BEAT, BEAT, 64, 90)]


def test_type1_several_tracks_merge_in_time_order():
    conductor = [mido.MetaMessage("set_tempo", tempo=500_000, time=0)]
    right = [on(72, TPB), off(72, TPB)]
    left = [on(48), off(48, 2 * TPB)]
    notes = read_midi_bytes(midi_bytes(conductor, right, left))
    assert as_tuples(notes) == [(0.0, 2 * BEAT, 48, 80), (BEAT, BEAT, 72, 80)]


def test_tempo_change_applies_to_all_tracks():
    # 120 bpm for the first beat, then 60 bpm: the second beat lasts 1 s.
    conductor = [mido.MetaMessage("set_tempo", tempo=500_000), mido.MetaMessage("set_tempo", tempo=1_000_000, time=TPB)]
    melody = [on(60), off(60, TPB), on(62), off(62, TPB), on(64), off(64, TPB)]
    notes = read_midi_bytes(midi_bytes(conductor, melody))
    assert as_tuples(notes) == [(0.0, 0.5, 60, 80), (0.5, 1.0, 62, 80), (1.5, 1.0, 64, 80)]


def test_note_on_velocity_zero_is_note_off():
    data = midi_bytes([on(60), on(60, TPB, velocity=0), on(62), on(62, TPB, velocity=0)])
    assert as_tuples(read_midi_bytes(data)) == [(0.0, BEAT, 60, 80), (BEAT, BEAT, 62, 80)]


def test_overlapping_same_pitch_restrike_ends_the_first_note():
    # on 60, on 60 again one beat later, then two note-offs: two notes, the first cut at the re-strike.
    data = midi_bytes([on(60, velocity=70), on(60, TPB, velocity=90), off(60, TPB), off(60, TPB)])
    assert as_tuples(read_midi_bytes(data)) == [(0.0, BEAT, 60, 70), (BEAT, BEAT, 60, 90)]


def test_drum_channel_is_ignored():
    data = midi_bytes([on(36, channel=9), on(60), off(36, TPB, channel=9), off(60)])
    assert as_tuples(read_midi_bytes(data)) == [(0.0, BEAT, 60, 80)]


def test_sustain_pedal_extends_released_notes_until_pedal_up():
    # Key up after one beat, pedal up after three: the note sounds three beats.
    data = midi_bytes([pedal(True), on(60), off(60, TPB), pedal(False, 2 * TPB)])
    assert as_tuples(read_midi_bytes(data)) == [(0.0, 3 * BEAT, 60, 80)]


def test_key_held_past_pedal_up_ends_at_key_up():
    data = midi_bytes([pedal(True), on(60), pedal(False, TPB), off(60, 2 * TPB)])
    assert as_tuples(read_midi_bytes(data)) == [(0.0, 3 * BEAT, 60, 80)]


def test_restrike_under_pedal_ends_the_sustained_note():
    data = midi_bytes([pedal(True), on(60), off(60, TPB), on(60, TPB), off(60, TPB), pedal(False, TPB)])
    assert as_tuples(read_midi_bytes(data)) == [(0.0, 2 * BEAT, 60, 80), (2 * BEAT, 2 * BEAT, 60, 80)]


def test_pedal_is_per_channel():
    data = midi_bytes([pedal(True, channel=1), on(60), off(60, TPB), pedal(False, 2 * TPB, channel=1)])
    assert as_tuples(read_midi_bytes(data)) == [(0.0, BEAT, 60, 80)]


def test_unterminated_note_ends_at_end_of_track():
    data = midi_bytes([on(60), mido.MetaMessage("end_of_track", time=4 * TPB)])
    assert as_tuples(read_midi_bytes(data)) == [(0.0, 4 * BEAT, 60, 80)]


def test_notes_from_messages_with_seconds():
    timed = [(0.0, on(60)), (0.25, on(67)), (1.0, off(60)), (1.5, off(67))]
    assert as_tuples(notes_from_messages(timed)) == [(0.0, 1.0, 60, 80), (0.25, 1.25, 67, 80)]


def test_write_then_read_is_exact_on_the_10ms_grid(tmp_path):
    notes = [Note(0.0, 0.5, 60, 64), Note(0.01, 0.33, 64, 100), Note(1.23, 2.0, 67, 1), Note(1.25, 0.01, 21, 127)]
    write_midi(tmp_path / "out.mid", notes)
    assert as_tuples(read_midi(tmp_path / "out.mid")) == as_tuples(notes)


def test_writer_cuts_overlapping_same_pitch_and_keeps_one_of_a_double_strike():
    notes = [Note(0.0, 1.0, 60, 80), Note(0.5, 1.0, 60, 90), Note(2.0, 0.5, 62, 80), Note(2.0, 0.3, 62, 70)]
    back = read_midi_bytes(_save(midi_file_from_tracks({"x": notes})))
    assert as_tuples(back) == [(0.0, 0.5, 60, 80), (0.5, 1.0, 60, 90), (2.0, 0.3, 62, 70)]


def test_writer_moves_negative_onsets_to_zero():
    back = read_midi_bytes(_save(midi_file_from_tracks({"x": [Note(-0.2, 0.5, 60, 80)]})))
    assert as_tuples(back) == [(0.0, 0.3, 60, 80)]


def test_named_tracks_round_trip(tmp_path):
    tracks = {"prompt": [Note(0.0, 0.5, 60, 80)], "tatumflow": [Note(0.5, 0.25, 62, 90), Note(0.75, 0.25, 64, 90)]}
    write_midi(tmp_path / "two.mid", tracks)
    back = read_midi_tracks(tmp_path / "two.mid")
    assert {k: as_tuples(v) for k, v in back.items()} == {k: as_tuples(v) for k, v in tracks.items()}
    assert len(read_midi(tmp_path / "two.mid")) == 3


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mid"):
        read_midi(tmp_path / "nope.mid")


def test_non_midi_file_raises_value_error_naming_it(tmp_path):
    path = tmp_path / "notes.mid"
    path.write_text("this is not MIDI")
    with pytest.raises(ValueError, match="notes.mid"):
        read_midi(path)


def test_type2_plays_its_sequences_in_turn_and_smpte_is_rejected_clearly():
    (note,) = read_midi_bytes(midi_bytes([on(60), off(60, TPB)], type_=2), "t2.mid")
    assert note.pitch == 60 and note.duration_s == pytest.approx(0.5)
    data = bytearray(midi_bytes([on(60), off(60, TPB)]))
    data[12:14] = (-25 * 256 + 40).to_bytes(2, "big", signed=True)  # SMPTE 25 fps, 40 ticks per frame
    with pytest.raises(ValueError, match="smpte.mid.*SMPTE"):
        read_midi_bytes(bytes(data), "smpte.mid")


def _save(midi: mido.MidiFile) -> bytes:
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def test_reader_matches_mido_playback_order_and_times():
    # Three tracks, tempo changes in two of them, events sharing ticks across tracks.
    conductor = [mido.MetaMessage("set_tempo", tempo=600_000), mido.MetaMessage("set_tempo", tempo=300_000, time=100)]
    a = [on(60, 50), on(64, 0), off(60, 50), pedal(True, 0), off(64, 25), pedal(False, 200)]
    b = [on(60, 100), mido.MetaMessage("set_tempo", tempo=900_000, time=0), off(60, 100), on(67, 33), off(67, 7)]
    data = midi_bytes(conductor, a, b, tpb=96)
    midi = mido.MidiFile(file=io.BytesIO(data))
    timed, t = [], 0.0
    for msg in midi:
        t += msg.time
        if not msg.is_meta:
            timed.append((t, msg))
    assert as_tuples(read_midi_bytes(data)) == as_tuples(notes_from_messages(timed, t))


def test_pedal_folder_says_when_sound_ends():
    folder = PedalFolder()
    assert folder.handle(0.0, pedal(True)) is None
    assert folder.handle(0.1, on(60)) == "on"
    assert folder.handle(0.2, off(60)) is None  # sustained by the pedal
    assert folder.sounding(0.5) == [Note(0.1, pytest.approx(0.4), 60, 80)] and folder.take() == []
    assert folder.handle(1.0, pedal(False)) == "off" and folder.silent
    assert as_tuples(folder.take()) == [(0.1, 0.9, 60, 80)]
    folder.handle(2.0, on(62))
    folder.handle(2.1, on(64))
    assert folder.handle(2.2, off(62)) is None  # 64 still sounds
    folder.end_all(3.0)
    assert as_tuples(folder.take()) == [(2.0, 0.2, 62, 80), (2.1, 0.9, 64, 80)] and folder.silent


def test_note_messages_put_note_offs_first_at_equal_times():
    timed = note_messages([Note(0.0, 0.5, 60, 80), Note(0.5, 0.5, 60, 90)], channel=2)
    assert [(t, m.type, m.note, m.channel) for t, m in timed] == [
        (0.0, "note_on", 60, 2), (0.5, "note_off", 60, 2), (0.5, "note_on", 60, 2), (1.0, "note_off", 60, 2)]
    assert as_tuples(notes_from_messages(timed)) == [(0.0, 0.5, 60, 80), (0.5, 0.5, 60, 90)]


def test_find_midi_files_any_case_sorted_and_clear_about_folders(tmp_path):
    for name in ("b/one.mid", "a/two.MIDI", "a/three.Mid", "a/notes.txt", "c.midi.bak"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    files = find_midi_files([tmp_path, tmp_path / "a"])  # a folder twice: each file once
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a/three.Mid", "a/two.MIDI", "b/one.mid"]
    with pytest.raises(FileNotFoundError, match="not found"):
        find_midi_files([tmp_path / "nope"])
    with pytest.raises(FileNotFoundError, match="is a file"):
        find_midi_files([tmp_path / "b" / "one.mid"])
