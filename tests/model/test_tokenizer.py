"""Notes <-> steps: quantisation, bins, shortened silences, and any step sequence decodes to valid MIDI."""

from __future__ import annotations

import io

import mido
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tatumflow.model.tokenizer import DELTA, DURATION, PITCH, VELOCITY, Tokenizer, TokenizerConfig
from tatumflow.notes import PIANO_HIGH, PIANO_LOW, Note, midi_file_from_tracks, read_midi_bytes

TOK = Tokenizer()
CFG = TOK.config


def test_notes_made_of_bin_values_round_trip_exactly():
    notes = [
        Note(0.0, float(TOK.duration_values_s[10]), 60, int(TOK.velocity_values[20])),
        Note(0.0, float(TOK.duration_values_s[30]), 64, int(TOK.velocity_values[5])),
        Note(0.37, float(TOK.duration_values_s[0]), PIANO_LOW, int(TOK.velocity_values[0])),
        Note(2.1, float(TOK.duration_values_s[-1]), PIANO_HIGH, int(TOK.velocity_values[-1])),
    ]
    steps, shortened = TOK.encode(notes)
    assert shortened == 0 and steps.dtype == np.int64 and steps.shape == (4, 4)
    assert steps[:, DELTA].tolist() == [0, 0, 37, 173]
    decoded = TOK.decode(steps)
    assert [(round(n.onset_s, 9), n.duration_s, n.pitch, n.velocity) for n in decoded] == [
        (round(n.onset_s, 9), n.duration_s, n.pitch, n.velocity) for n in notes
    ]


def test_onset_error_is_at_most_half_a_grid_step_and_does_not_accumulate():
    rng = np.random.default_rng(0)
    onsets = np.cumsum(rng.uniform(0.0, 0.3, size=5000))  # ~12 minutes of jittered onsets
    notes = [Note(float(t), 0.1, 60 + i % 12, 80) for i, t in enumerate(onsets)]
    decoded = TOK.decode(TOK.encode(notes)[0])
    error = np.abs(np.array([n.onset_s for n in decoded]) - (onsets - onsets[0]))
    assert error.max() <= CFG.grid_s / 2 + 1e-9


def test_long_silences_are_shortened_to_the_maximum_delta_and_counted():
    notes = [Note(0.0, 0.1, 60, 80), Note(10.0, 0.1, 62, 80), Note(10.5, 0.1, 64, 80), Note(30.0, 0.1, 65, 80)]
    steps, shortened = TOK.encode(notes)
    assert shortened == 2
    assert steps[:, DELTA].tolist() == [0, CFG.n_delta - 1, 50, CFG.n_delta - 1]
    assert [round(n.onset_s, 6) for n in TOK.decode(steps)] == [0.0, 3.99, 4.49, 8.48]


def test_start_s_sets_the_first_delta():
    steps, _ = TOK.encode([Note(1.0, 0.1, 60, 80)], start_s=0.5)
    assert steps[0, DELTA] == 50
    assert TOK.decode(steps, start_s=0.5)[0].onset_s == pytest.approx(1.0)


def test_pitches_outside_the_piano_are_not_encoded():
    notes = [Note(0.0, 0.1, PIANO_LOW - 1, 80), Note(0.1, 0.1, 60, 80), Note(0.2, 0.1, PIANO_HIGH + 1, 80)]
    steps, _ = TOK.encode(notes)
    assert steps[:, PITCH].tolist() == [60 - PIANO_LOW]
    assert TOK.encode([])[0].shape == (0, 4)


def test_bins_are_monotonic_clipped_and_stable():
    assert [TOK.velocity_bin(v) for v in (-5, 0, 1)] == [0, 0, 0]
    assert TOK.velocity_bin(127) == TOK.velocity_bin(500) == CFG.n_velocity - 1
    assert np.all(np.diff([TOK.velocity_bin(v) for v in range(1, 128)]) >= 0)
    assert TOK.duration_bin(0.0) == 0 and TOK.duration_bin(1e6) == CFG.n_duration - 1
    durations = np.geomspace(0.001, 60, 500)
    assert np.all(np.diff([TOK.duration_bin(d) for d in durations]) >= 0)
    # A bin's value falls back into the same bin.
    assert all(TOK.velocity_bin(int(v)) == b for b, v in enumerate(TOK.velocity_values))
    assert all(TOK.duration_bin(float(d)) == b for b, d in enumerate(TOK.duration_values_s))


def test_decode_step_agrees_with_decode():
    steps = np.array([[3, 39, 16, 20], [0, 43, 10, 5], [120, 0, 31, 63]])
    decoded = TOK.decode(steps, start_s=1.0)
    prev, stepwise = 1.0, []
    for step in steps:
        stepwise.append(TOK.decode_step(step, prev))
        prev = stepwise[-1].onset_s
    assert [(round(n.onset_s, 9), n.duration_s, n.pitch, n.velocity) for n in stepwise] == [
        (round(n.onset_s, 9), n.duration_s, n.pitch, n.velocity) for n in decoded
    ]


@pytest.mark.parametrize("field", [DELTA, PITCH, VELOCITY, DURATION])
@pytest.mark.parametrize("bad", [-1, "size"])
def test_out_of_range_steps_are_rejected(field, bad):
    step = [0, 0, 0, 0]
    step[field] = -1 if bad == -1 else CFG.vocab_sizes[field]
    with pytest.raises(ValueError, match="out of range"):
        TOK.decode([step])
    with pytest.raises(ValueError, match="out of range"):
        TOK.decode_step(step, 0.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"grid_ms": 0}, {"n_delta": 1}, {"n_pitch": 128}, {"n_velocity": 1}, {"n_duration": 1}, {"min_duration_s": 0}],
)
def test_inconsistent_config_is_rejected(kwargs):
    with pytest.raises(ValueError):
        TokenizerConfig(**kwargs)


# -- any step sequence is valid MIDI ------------------------------------------------------------------------------


def steps_strategy(max_steps: int = 200):
    field = [st.integers(0, size - 1) for size in CFG.vocab_sizes]
    # Small deltas and a narrow pitch range on purpose: chords, re-struck and overlapping notes of the same pitch.
    delta = st.one_of(st.integers(0, 3), field[DELTA])
    pitch = st.one_of(st.integers(39, 42), field[PITCH])
    step = st.tuples(delta, pitch, field[VELOCITY], field[DURATION])
    return st.lists(step, min_size=0, max_size=max_steps)


def assert_every_note_on_has_its_note_off(midi: mido.MidiFile) -> int:
    """Checks that notes never nest and all end; returns the number of note-ons."""
    count = 0
    for track in midi.tracks:
        sounding: set[tuple[int, int]] = set()
        for msg in track:
            if msg.type == "note_on" and msg.velocity > 0:
                assert (msg.channel, msg.note) not in sounding, f"note-on of a sounding note: {msg}"
                sounding.add((msg.channel, msg.note))
                count += 1
            elif msg.type in ("note_on", "note_off"):
                assert (msg.channel, msg.note) in sounding, f"note-off without note-on: {msg}"
                sounding.remove((msg.channel, msg.note))
        assert not sounding, f"notes never ended: {sounding}"
    return count


@settings(max_examples=150, deadline=None)
@given(steps_strategy())
def test_any_step_sequence_decodes_to_valid_midi(steps):
    notes = TOK.decode(np.array(steps, dtype=np.int64).reshape(-1, 4))
    assert len(notes) == len(steps)
    assert all(PIANO_LOW <= n.pitch <= PIANO_HIGH and 1 <= n.velocity <= 127 and n.duration_s > 0 for n in notes)
    buffer = io.BytesIO()
    midi_file_from_tracks({"tatumflow": notes}).save(file=buffer)
    midi = mido.MidiFile(file=io.BytesIO(buffer.getvalue()))
    n_on = assert_every_note_on_has_its_note_off(midi)
    # Only a pitch struck twice at one onset collapses into one note.
    distinct = len({(round(n.onset_s / CFG.grid_s), n.pitch) for n in notes})
    assert n_on == distinct
    assert len(read_midi_bytes(buffer.getvalue())) == distinct


def _numpy_encode_deltas(notes: list[Note], origin: float) -> list[int]:
    """The deltas as a vectorised reference computes them: onsets on the grid anchored at `origin`, differenced."""
    grid = np.round((np.array([n.onset_s for n in notes]) - origin) / CFG.grid_s).astype(np.int64)
    deltas = np.diff(grid, prepend=0)
    deltas[0] = max(deltas[0], 0)
    return np.minimum(deltas, CFG.n_delta - 1).tolist()


@pytest.mark.parametrize("origin", [None, 0.0, 0.123])
def test_encode_deltas_match_the_vectorised_reference(origin):
    rng = np.random.default_rng(3)
    onsets = np.sort(np.round(rng.uniform(0.2, 30.0, 400), 3))  # millisecond onsets: many ties at half a grid step
    notes = [Note(float(t), 0.1, 60, 80) for t in onsets]
    steps, _ = TOK.encode(notes, start_s=origin)
    assert steps[:, DELTA].tolist() == _numpy_encode_deltas(notes, notes[0].onset_s if origin is None else origin)


def test_steps_after_measures_from_the_previous_note_on_the_absolute_grid():
    notes = [Note(1.004, 0.1, 60, 80), Note(1.016, 0.1, 62, 80), Note(1.5, 0.2, 64, 90)]
    first = TOK.steps_after(None, notes)
    assert first[:, DELTA].tolist() == [0, 2, 48]  # 100 -> 102 -> 150 on the 10 ms grid from time 0
    assert first[:, 1:].tolist() == TOK.encode(notes)[0][:, 1:].tolist()
    assert TOK.steps_after(0.9, notes)[:, DELTA].tolist() == [10, 2, 48]
    assert TOK.steps_after(1.2, notes[:1])[:, DELTA].tolist() == [0]  # never negative
    assert TOK.steps_after(0.0, [Note(20.0, 0.1, 60, 80)])[0, DELTA] == CFG.n_delta - 1
    assert TOK.steps_after(None, []).shape == (0, 4)


def test_a_stream_encoded_piece_by_piece_equals_encoded_at_once():
    rng = np.random.default_rng(4)
    notes = [Note(float(t), 0.1, 60 + i % 12, 80) for i, t in enumerate(np.cumsum(rng.uniform(0, 0.2, 60)))]
    whole = TOK.steps_after(None, notes)
    pieces = [TOK.steps_after(None, notes[:7])]
    for a, b in ((7, 30), (30, 31), (31, 60)):
        pieces.append(TOK.steps_after(notes[a - 1].onset_s, notes[a:b]))
    assert np.array_equal(np.concatenate(pieces), whole)
