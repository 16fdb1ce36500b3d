"""Round-trip statistics, fuzzing of the MIDI reader, and the round trip on real PiJAMA recordings."""

from __future__ import annotations

import io
import multiprocessing
import random

import mido
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tatumflow.eval.roundtrip import (
    TRANSCRIPTIONS,
    check_file,
    corpus_files,
    default_pijama_root,
    mean_polyphony,
    roundtrip_stats,
    summarise,
)
from tatumflow.notes import Note, read_midi_bytes

PIJAMA = default_pijama_root()
needs_pijama = pytest.mark.skipif(
    not (PIJAMA / "kong").is_dir(), reason=f"PiJAMA not found at {PIJAMA} (set TATUMFLOW_PIJAMA)"
)
KEPT_TARGET = 0.995
ONSET_TARGET_MS = 5.0


# -- statistics on self-made notes --------------------------------------------------------------------------------


def test_polyphony_counts_notes_sounding_at_each_onset():
    assert mean_polyphony([]) == 0.0
    melody = [Note(i * 0.5, 0.5, 60 + i, 80) for i in range(4)]  # legato: each note ends as the next starts
    assert mean_polyphony(melody) == 1.0
    chord = [Note(0.0, 1.0, p, 80) for p in (60, 64, 67, 71)]
    assert mean_polyphony(chord) == 4.0
    # A held bass under three melody notes: the onsets see 1 (the bass), then 2, 2, 2.
    held = [Note(0.0, 2.0, 36, 80)] + [Note(0.5 * i, 0.4, 72, 80) for i in range(1, 4)]
    assert mean_polyphony(held) == pytest.approx((1 + 2 + 2 + 2) / 4)


def test_roundtrip_stats_of_jittered_notes():
    rng = random.Random(1)
    notes, t = [], 0.0
    for _ in range(2000):
        t += rng.choice([0.0, 0.003, 0.05, 0.123, 0.31])
        notes.append(Note(5.0 + t, rng.uniform(0.02, 3.0), rng.randrange(21, 109), rng.randrange(1, 128)))
    stats = roundtrip_stats(notes)
    assert stats.notes == stats.steps == len(notes)
    assert stats.silences_shortened == 0 and stats.notes_out_of_range == 0
    # Only a pitch re-struck within one grid step collapses (frequent here: 40 % of gaps are under 5 ms).
    assert 0.98 <= stats.kept_fraction < 1.0
    assert stats.notes_matched == round(stats.kept_fraction * len(notes))
    assert 0 < stats.onset_error_ms_median <= stats.onset_error_ms_max <= ONSET_TARGET_MS
    assert stats.seconds == pytest.approx(max(n.end_s for n in notes) - notes[0].onset_s, abs=1e-3)
    assert stats.notes_per_second == pytest.approx(len(notes) / stats.seconds, rel=1e-3)


def test_shortened_silences_are_counted_and_their_shift_removed():
    phrase = [Note(0.013 * i, 0.2, 60 + i, 80) for i in range(5)]
    notes = phrase + [n.shifted(10.0) for n in phrase] + [n.shifted(25.0) for n in phrase]
    stats = roundtrip_stats(notes)
    assert stats.silences_shortened == 2
    assert stats.kept_fraction == 1.0
    assert stats.onset_error_ms_max <= ONSET_TARGET_MS


def test_out_of_range_and_empty():
    stats = roundtrip_stats([Note(0.0, 0.5, 10, 80), Note(0.5, 0.5, 60, 80)])
    assert (stats.notes, stats.steps, stats.notes_out_of_range, stats.kept_fraction) == (2, 1, 1, 0.5)
    empty = roundtrip_stats([])
    assert (empty.notes, empty.steps, empty.kept_fraction, empty.onset_error_ms_max) == (0, 0, 1.0, 0.0)


# -- fuzzing the reader: anything that is not MIDI raises ValueError naming the file ------------------------------


def _fixture_midi() -> bytes:
    """A small type-1 file with tempo changes, pedal, running status, sysex, and two tracks."""
    midi = mido.MidiFile(type=1, ticks_per_beat=96)
    conductor = mido.MidiTrack(
        [mido.MetaMessage("set_tempo", tempo=500_000), mido.MetaMessage("set_tempo", tempo=400_000, time=192)]
    )
    piano = mido.MidiTrack([mido.MetaMessage("track_name", name="piano"), mido.Message("sysex", data=[1, 2, 3])])
    for i in range(24):
        pitch = 48 + (i * 7) % 36
        piano.append(mido.Message("note_on", note=pitch, velocity=40 + i, time=24))
        piano.append(mido.Message("control_change", control=64, value=127 if i % 4 else 0, time=3))
        piano.append(mido.Message("note_on", note=pitch, velocity=0, time=30))
    midi.tracks += [conductor, piano]
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


REAL = _fixture_midi()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reads_or_value_error(data: bytes) -> None:
    try:
        notes = read_midi_bytes(data, "fuzz.mid")
    except ValueError as err:
        assert "fuzz.mid" in str(err)
    else:
        assert all(isinstance(n, Note) for n in notes)


def test_fixture_is_readable():
    assert len(read_midi_bytes(REAL)) == 24


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_raise_value_error(data):
    assume(not data.startswith(b"MThd"))
    with pytest.raises(ValueError, match="fuzz.mid"):
        read_midi_bytes(data, "fuzz.mid")


@FUZZ
@given(st.integers(0, len(REAL) - 1))
def test_truncated_midi_raises_value_error(length):
    with pytest.raises(ValueError, match="fuzz.mid"):
        read_midi_bytes(REAL[:length], "fuzz.mid")


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 29), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_headers_read_or_raise_value_error(mutations):
    # Bytes 0..13: the MThd chunk (type, track count, division); 14..29: the first MTrk header and its first events.
    data = bytearray(REAL)
    for index, value in mutations:
        data[index] = value
    _reads_or_value_error(bytes(data))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(REAL) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_bytes_anywhere_read_or_raise_value_error(mutations):
    data = bytearray(REAL)
    for index, value in mutations:
        data[index] = value
    _reads_or_value_error(bytes(data))


# -- real recordings ----------------------------------------------------------------------------------------------


def _sample(n_per_transcription: int = 4) -> list:
    files = corpus_files(PIJAMA)
    rng = random.Random(2024)
    sample = []
    for t in TRANSCRIPTIONS:
        of_t = [f for f in files if f.relative_to(PIJAMA).parts[0] == t]
        tatum = [f for f in of_t if "Art Tatum" in f.parts]
        sample += rng.sample(tatum, 1) + rng.sample(of_t, n_per_transcription - 1)
    return sample


def _check(results: list[dict]) -> None:
    total = summarise(results)
    assert total["crashes"] == 0, total["errors"]
    assert total["kept_fraction_min"] >= KEPT_TARGET, [r for r in results if r["kept_fraction"] < KEPT_TARGET]
    assert total["onset_error_ms_max"] <= ONSET_TARGET_MS


@needs_pijama
@pytest.mark.corpus
def test_pijama_sample_round_trip():
    sample = _sample()
    results = [check_file(f) for f in sample]
    _check(results)
    assert all(r["notes"] > 0 and r["steps"] == r["notes"] for r in results), results


@needs_pijama
@pytest.mark.corpus
@pytest.mark.slow
def test_pijama_whole_corpus_round_trip():
    files = corpus_files(PIJAMA)
    assert len(files) == 2 * 2763
    with multiprocessing.Pool(2) as pool:
        results = pool.map(check_file, files, chunksize=8)
    _check(results)
