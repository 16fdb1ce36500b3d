"""Texture measures on hand-made notes with known answers, the grid snap, and the measures on real PiJAMA files."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from tatumflow.eval import texture as t
from tatumflow.eval.prompts import prompt_splits, recording_of
from tatumflow.eval.roundtrip import default_pijama_root
from tatumflow.notes import Note, read_midi

PIJAMA = default_pijama_root()
TATUM = "studio/Art Tatum/The Art Tatum Solo Masterpieces, Vol. 2/Elegy.midi"


def chord(onset: float, pitches: tuple[int, ...], spread_s: float = 0.01, velocity: int = 64) -> list[Note]:
    """A chord rolled upwards, `spread_s` between its notes (within one 35 ms onset when short)."""
    return [Note(onset + i * spread_s, 0.5, p, velocity) for i, p in enumerate(pitches)]


def test_snap_rounds_onsets_and_releases_to_the_grid_and_clips_at_the_window_end():
    notes = [Note(0.1234, 0.2, 60, 70), Note(0.004, 0.001, 62, 70), Note(1.996, 1.0, 64, 70)]
    snapped = t.snap_to_grid(notes, 0.01, end_s=2.5)
    assert [(round(n.onset_s, 9), round(n.duration_s, 9)) for n in snapped] == [
        (0.0, 0.01),  # rounded to 0, at least one step long
        (0.12, 0.2),  # onset 0.12, release 0.3234 -> 0.32
        (2.0, 0.5),  # release 2.996 clipped at the window end
    ]
    assert [n.pitch for n in snapped] == [62, 60, 64] and all(n.velocity == 70 for n in snapped)
    assert t.snap_to_grid(snapped, 0.01, 2.5) == snapped  # idempotent
    with pytest.raises(ValueError, match="grid_s"):
        t.snap_to_grid(notes, 0.0)


def test_a_chord_of_three_notes_spanning_seven_semitones():
    notes = chord(0.0, (60, 64, 67))
    assert t.notes_per_onset(notes) == 3.0
    assert t.chord_share(notes) == 1.0
    assert t.voicing_width(notes) == 7.0


def test_onsets_are_35_ms_groups_and_width_counts_every_onset_or_only_chords():
    notes = chord(0.0, (48, 55, 64, 67), spread_s=0.01)  # 0-30 ms: one onset, width 19
    notes += [Note(0.5, 0.2, 72, 64), Note(1.0, 0.2, 71, 64)]  # two single notes
    notes += [Note(1.5, 0.2, 60, 64), Note(1.54, 0.2, 65, 64)]  # 40 ms apart: two onsets
    assert t.notes_per_onset(notes) == pytest.approx(8 / 5)
    assert t.chord_share(notes) == pytest.approx(1 / 5)
    assert t.voicing_width(notes) == pytest.approx(19.0 / 5)  # single notes span 0
    assert t.voicing_width(notes, min_notes=2) == 19.0
    assert math.isnan(t.voicing_width(notes[4:], min_notes=2))  # no onset with two notes
    assert t.voicing_width(notes[4:]) == 0.0


def test_repeated_top_line():
    notes = chord(0.0, (60, 72)) + chord(0.5, (57, 72)) + chord(1.0, (62, 74)) + [Note(1.5, 0.2, 72, 64)]
    assert t.top_line(notes) == [72, 72, 74, 72]
    assert t.repeated_top_note(notes) == pytest.approx(1 / 3)
    assert math.isnan(t.repeated_top_note(notes[:2]))  # one onset: nothing to repeat


def test_run_share_counts_fast_one_way_runs_of_the_top_line():
    climb = [Note(i * 0.08, 0.1, 60 + i, 64) for i in range(8)]  # 8 onsets, 80 ms apart, each a step up
    assert t.run_share(climb) == 1.0
    turn = [Note(i * 0.08, 0.1, 60 + min(i, 14 - i), 64) for i in range(15)]  # up 7 then down 7: two runs
    assert t.run_share(turn) == 1.0
    assert t.run_share([replace(n, onset_s=n.onset_s * 2) for n in climb]) == 0.0  # 160 ms apart: too slow
    five = climb[:5]  # one onset short of a run, then 5 slow repeated notes
    assert t.run_share(five + [Note(2 + i * 0.3, 0.1, 60, 64) for i in range(5)]) == 0.0
    # a run of 6 inside 12 onsets, its top line over chords; a repeated top note ends it
    run = [n for i in range(6) for n in chord(i * 0.1, (48 + i, 60 + 2 * i))]
    tail = [n for i in range(6) for n in chord(1 + i * 0.1, (48, 72))]
    assert t.run_share(run + tail) == pytest.approx(6 / 12)
    assert math.isnan(t.run_share([]))


def test_durations_velocities_and_pitch_class_entropy():
    notes = [Note(i * 0.25, 0.1 * (1 + i % 2), 60 + i, 40 + 40 * (i % 2)) for i in range(12)]
    measures = t.texture_measures(notes)
    assert measures["duration_mean_s"] == pytest.approx(0.15)
    assert measures["velocity_std"] == pytest.approx(20.0)
    assert measures["pitch_class_entropy"] == pytest.approx(math.log(12))
    assert t.pitch_class_entropy([Note(0, 1, 60, 64), Note(1, 1, 72, 64)]) == 0.0
    assert set(measures) == set(t.TEXTURE_KEYS) | set(t.VOICING_KEYS)
    assert all(math.isnan(v) for v in t.texture_measures([]).values())


def test_interval_shares_class_the_adjacent_intervals_of_every_chord():
    notes = chord(0.0, (48, 60, 64, 67, 72), spread_s=0.005)  # octave, third, third, fourth
    notes += chord(0.5, (50, 53, 59, 61))  # third, tritone, second
    notes += chord(1.0, (41, 57, 73, 73))  # two tenths (> octave); the unison re-strike of 73 is no interval
    notes += [Note(1.5, 0.2, 40, 64)] + chord(2.0, (60, 67, 77))  # a single note has no interval; fifth, seventh
    shares = t.interval_shares(notes)
    assert set(shares) == set(t.INTERVAL_KEYS)
    assert shares == pytest.approx({
        "interval_seconds": 1 / 11, "interval_thirds": 3 / 11, "interval_fourths_fifths": 2 / 11,
        "interval_tritones": 1 / 11, "interval_sixths_sevenths": 1 / 11, "interval_octaves": 1 / 11,
        "interval_wider": 2 / 11})
    # two notes 40 ms apart are two onsets: no chord, so no interval at all
    assert all(math.isnan(v) for v in t.interval_shares([Note(0, 1, 60, 64), Note(0.04, 1, 72, 64)]).values())
    assert [t.interval_class(k) for k in (1, 5, 6, 7, 11, 12, 13)] == [
        "interval_seconds", "interval_fourths_fifths", "interval_tritones", "interval_fourths_fifths",
        "interval_sixths_sevenths", "interval_octaves", "interval_wider"]
    with pytest.raises(ValueError):
        t.interval_class(0)


def test_bass_tenths_count_the_two_lowest_notes_of_a_chord():
    notes = chord(0.0, (36, 52, 64))  # C2-E3: a major tenth in the bass
    notes += chord(0.5, (38, 53))  # D2-F3: a minor tenth
    notes += chord(1.0, (36, 43, 52))  # C-G-E: the tenth's middle filled, not counted
    notes += chord(1.5, (36, 48, 64)) + [Note(2.0, 0.2, 40, 64)]  # an octave bass; a single note is no chord
    assert t.bass_tenth_share(notes) == pytest.approx(2 / 4)
    assert t.edge_interval_share(notes, t.OCTAVE) == pytest.approx(1 / 4)  # C2-C3 under E4
    assert t.edge_interval_share(notes, t.OCTAVE, top=True) == pytest.approx(1 / 4)  # E3-E4 over C2
    octaves = chord(0.0, (40, 47, 64, 76)) + chord(0.5, (45, 57))  # a melody octave; an octave dyad: both ends
    assert t.edge_interval_share(octaves, t.OCTAVE, top=True) == 1.0
    assert t.edge_interval_share(octaves, t.OCTAVE) == pytest.approx(1 / 2)
    assert t.bass_tenth_share(chord(0.0, (36, 53))) == 0.0  # 17 semitones: an eleventh
    assert math.isnan(t.bass_tenth_share([Note(0, 1, 60, 64)]))
    assert math.isnan(t.bass_tenth_share([]))


def test_register_spread_is_the_10_to_90_percent_pitch_range():
    notes = [Note(i * 0.2, 0.1, p, 64) for i, p in enumerate(range(50, 71))]  # 21 pitches, 50..70
    assert t.register_spread(notes) == pytest.approx(16.0)  # 52..68
    # one stray note far below moves the range little (a standard deviation would move more)
    stray = [*notes, Note(5.0, 0.1, 21, 64)]
    assert t.register_spread(stray) == pytest.approx(16.8)  # 51.1..67.9
    std = [float(np.std([n.pitch for n in x])) for x in (notes, stray)]
    assert 16.8 / 16.0 < 1.1 < std[1] / std[0]
    assert t.register_spread([Note(0, 1, 60, 64)]) == 0.0
    assert math.isnan(t.register_spread([]))


def test_voicing_measures_of_nothing_and_of_single_notes():
    empty = t.voicing_measures([])
    assert set(empty) == set(t.VOICING_KEYS) and all(math.isnan(v) for v in empty.values())
    single = t.voicing_measures([Note(i * 0.5, 0.2, 60 + i, 64) for i in range(4)])
    assert all(math.isnan(single[k]) for k in (*t.INTERVAL_KEYS, "bass_tenth_share", "bass_octave_share",
                                               "top_octave_share"))
    assert single["register_spread"] == pytest.approx(2.4)


def test_a_periodic_onset_train_peaks_at_its_period():
    notes = [n for k in range(30) for n in chord(k * 0.5, (48, 60))]  # a chord every 0.5 s for 15 s
    r = t.autocorrelation(t.onset_signal(notes))
    assert r[0] == pytest.approx(1.0)
    lo, hi = 25, 150  # 0.25-1.5 s on the 10 ms grid
    assert lo + int(np.argmax(r[lo : hi + 1])) == 50
    assert t.tempo_regularity(notes) > 0.8
    # the same number of onsets at random times keeps no time
    rng = np.random.default_rng(0)
    random = [Note(float(s), 0.1, 60, 64) for s in np.round(np.sort(rng.uniform(0, 15, 30)), 2)]
    assert t.tempo_regularity(random) < 0.5 * t.tempo_regularity(notes)
    # timing a few ms off the beat still counts (the 20 ms smoothing)
    jittered = [Note(k * 0.5 + float(rng.choice([-0.01, 0.0, 0.01])), 0.1, 60, 64) for k in range(30)]
    assert t.tempo_regularity(jittered) > 0.6
    assert math.isnan(t.tempo_regularity(notes[:2]))  # one onset: no lag to look at


@pytest.mark.corpus
@pytest.mark.skipif(not (PIJAMA / "kong" / TATUM).is_file(), reason=f"PiJAMA not found at {PIJAMA}")
def test_measures_of_real_tatum_continuations_are_sane_and_both_transcriptions_share_a_recording():
    paths = [PIJAMA / transcription / TATUM for transcription in ("kong", "hawthorne")]
    assert recording_of(paths[0]) == recording_of(paths[1]) == TATUM.removesuffix(".midi")
    for path in paths:
        splits = prompt_splits(read_midi(path), 20.0, 15.0, 0.01, every_s=30.0)
        assert len(splits) >= 3
        for split in splits:
            m = t.texture_measures(t.snap_to_grid(split.real, 0.01, split.start_s + 15.0))
            assert 1.0 <= m["notes_per_onset"] <= 4.0 and 0.0 <= m["chord_share"] <= 1.0
            assert 1.0 <= m["voicing_width"] <= 30.0 and 0.03 <= m["duration_mean_s"] <= 2.0
            assert 0.0 <= m["repeated_top_note"] <= 0.3 and 1.5 <= m["pitch_class_entropy"] <= math.log(12)
            assert 0.0 < m["tempo_regularity"] < 1.0
            assert sum(m[k] for k in t.INTERVAL_KEYS) == pytest.approx(1.0) and 0.0 <= m["bass_tenth_share"] <= 1.0
            assert 6.0 <= m["register_spread"] <= 60.0


def test_eval_reports_every_voicing_measure_in_its_table_and_the_discriminator_does_not_read_them():
    from tatumflow.eval.discriminator import feature_names
    from tatumflow.eval.table import VOICING_ROWS

    assert [key for key, _, _ in VOICING_ROWS] == list(t.VOICING_KEYS)
    assert not set(t.VOICING_KEYS) & set(feature_names())
