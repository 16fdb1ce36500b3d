import math

import pytest

from tatumflow.eval import metrics as m
from tatumflow.notes import Note


def scale(offset: int = 0, start: float = 0.0) -> list[Note]:
    """C major up and down, 4 notes per second, with a C-E-G chord every second."""
    pitches = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62]
    notes = [Note(start + i * 0.25, 0.2, p + offset, 60 + i) for i, p in enumerate(pitches)]
    notes += [Note(start + s, 0.9, p + offset, 50) for s in (0.0, 1.0, 2.0) for p in (48, 52, 55)]
    return m.in_onset_order(notes)


def test_identical_sequences_match_perfectly():
    notes = scale()
    out = m.continuation_metrics(notes, notes, 0.0, 4.0)
    assert out["pitch_class_kl"] == pytest.approx(0.0, abs=1e-12)
    assert out["pctm_cosine"] == pytest.approx(1.0)
    for key in ("density_ratio", "ioi_ratio", "voicing_ratio", "polyphony_ratio"):
        assert out[key] == pytest.approx(1.0)
    assert out["grammar_errors"] == 0


def test_transposed_sequence_has_positive_kl_and_lower_cosine():
    real, moved = scale(), scale(offset=1)
    assert m.pitch_class_kl(real, moved) > 1.0
    assert m.pctm_cosine(real, moved) < 0.5
    # an octave is the same pitch-class content
    assert m.pitch_class_kl(real, scale(offset=12)) == pytest.approx(0.0, abs=1e-12)


def test_kl_is_smoothed_for_empty_generation():
    assert math.isfinite(m.pitch_class_kl(scale(), []))
    assert m.pctm_cosine(scale(), []) == 0.0


def test_texture_metrics_known_values():
    chords = [Note(t, 1.5, p, 80) for t in (0.0, 1.0) for p in (60, 64, 67)]
    chords.append(Note(1.01, 0.5, 72, 40))  # within 30 ms: same voicing
    assert m.mean_voicing(chords) == pytest.approx(3.5)
    assert m.mean_ioi(chords) == pytest.approx(1.0)
    assert m.note_density(chords, 2.0) == pytest.approx(3.5)
    # at 0: 3 sounding; at 1.01: the first chord (until 1.5) plus the second and the 72 -> 7
    assert m.polyphony(chords) == pytest.approx(5.0)
    mean, std = m.velocity_stats([Note(0, 1, 60, 40), Note(1, 1, 60, 80)])
    assert (mean, std) == (60.0, 20.0)
    assert math.isnan(m.mean_ioi(chords[:1]))


def test_grammar_errors_detect_each_kind():
    broken = [
        Note(1.0, 0.5, 60, 64),
        Note(1.2, 0.5, 60, 64),  # overlaps itself
        Note(0.9, 0.1, 62, 64),  # out of order
        Note(1.5, 0.0, 64, 64),  # zero duration
        Note(1.6, 0.1, 110, 64),  # pitch out of range
        Note(1.7, 0.1, 65, 0),  # velocity out of range
        Note(9.0, 0.1, 67, 64),  # outside the window
        Note(float("nan"), 0.1, 69, 64),
    ]
    errors = m.grammar_errors(broken, 1.0, 3.0)
    assert errors["self_overlap"] == 1
    assert errors["out_of_order"] == 1
    assert errors["non_positive_duration"] == 1
    assert errors["pitch_range"] == 1
    assert errors["velocity_range"] == 1
    assert errors["outside_window"] == 2  # 0.9 and 9.0
    assert errors["nan"] == 1
    assert not any(m.grammar_errors(scale(start=1.0), 1.0, 5.0).values())


def test_midi_roundtrip_count_matches_valid_notes():
    notes = scale()
    assert m.midi_roundtrip_count(notes) == len(notes)


def test_diversity():
    a, b = scale(), scale(offset=1)
    assert m.diversity([a, a, a]) == 0.0
    assert m.diversity([a, b]) == pytest.approx(1.0)
    assert math.isnan(m.diversity([a]))
    assert 0 < m.diversity([a, a, b]) < 1


def test_chord_order_ignores_onset_spread_within_a_chord():
    """A chord struck a few ms apart in another order is the same music: chord order scores it 1, onset order less."""
    def chords(order_by_onset: list[tuple[int, ...]]) -> list[Note]:
        return [Note(i * 0.5 + j * 0.005, 0.4, p, 64) for i, voicing in enumerate(order_by_onset)
                for j, p in enumerate(voicing)]

    up = chords([(48, 55, 64), (50, 57, 65), (43, 53, 59), (48, 55, 64)])
    jittered = chords([(64, 48, 55), (57, 50, 65), (59, 53, 43), (55, 64, 48)])
    assert [n.pitch for n in m.in_chord_order(jittered)] == [n.pitch for n in up]
    assert m.pctm_cosine(up, jittered) == pytest.approx(1.0)
    assert m.pctm_cosine(up, jittered, chord_order=False) < 0.5
    out = m.continuation_metrics(jittered, up, 0.0, 2.0)
    assert out["pctm_cosine"] == pytest.approx(1.0) and out["pctm_cosine_onset"] < 0.5
