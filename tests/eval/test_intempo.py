"""His in-tempo excerpts and their tempo (eval/intempo.py), on synthetic MIDI whose tempo is known."""

import math

import numpy as np
import pytest

from tatumflow.eval.intempo import (
    chart_reference,
    duration_by_tempo,
    duration_slope,
    excerpt_tempo,
    in_tempo_excerpts,
    pooled_texture,
    quarter_bpm,
    tempo_matched,
)
from tatumflow.eval.texture import TEXTURE_KEYS
from tatumflow.notes import Note, read_midi, write_midi


def stride(bpm: float, seconds: float, jitter_s: float = 0.0, seed: int = 0) -> list[Note]:
    """Stride at `bpm` quarter notes: bass on 1 and 3, a chord on 2 and 4 (both below middle C), 8ths on top,
    every note half a beat long."""
    rng = np.random.default_rng(seed)
    beat, notes = 60.0 / bpm, []
    for k in range(int(seconds / beat)):
        t = k * beat + rng.normal(0, jitter_s)
        left = [36 + (k // 4) % 5] if k % 2 == 0 else [48, 52, 55]
        notes += [Note(t, beat / 2, p, 70) for p in left]
        notes += [Note(t + i * beat / 2, beat / 2, 72 + (k + i) % 7, 80) for i in (0, 1)]
    return notes


def walking(bpm: float, seconds: float) -> list[Note]:
    """A bass note on every quarter, 8ths on top: no stride (the left hand marks the beats only)."""
    beat, notes = 60.0 / bpm, []
    for k in range(int(seconds / beat)):
        notes.append(Note(k * beat, beat / 2, 40 + k % 7, 70))
        notes += [Note(k * beat + i * beat / 2, beat / 2, 70 + (k + i) % 5, 80) for i in (0, 1)]
    return notes


def test_a_stride_chorus_at_270_is_found_at_its_quarter_note_from_a_midi_file(tmp_path):
    path = tmp_path / "stride.mid"
    write_midi(path, stride(270, 40, jitter_s=0.005))
    notes = read_midi(path)
    rows = in_tempo_excerpts(notes, 0.0, 40.0, "stride")
    assert len(rows) == 6  # 0, 5, ..., 25 s
    for r in rows:
        assert r["in_tempo"] and r["stride"], r
        assert r["bpm"] == pytest.approx(270, rel=0.03)
        assert r["duration_beats"] == pytest.approx(0.5, abs=0.05)
        assert set(TEXTURE_KEYS) <= set(r["texture"])


def test_a_walking_left_hand_keeps_the_trackers_level():
    tempo = excerpt_tempo(walking(100, 15), 0.0)
    assert tempo.in_tempo and not tempo.stride
    assert tempo.bpm == pytest.approx(100, rel=0.03)


def test_rubato_is_not_in_tempo():
    notes, t, k = [], 0.0, 0  # the beat from 0.9 s to 0.3 s over 15 s: 67 to 200 bpm
    while t < 15:
        notes += [Note(t, 0.2, 40, 70), Note(t, 0.2, 72 + k % 5, 80)]
        t += 0.9 - 0.6 * t / 15
        k += 1
    assert not excerpt_tempo(notes, 0.0).in_tempo
    assert [r["in_tempo"] for r in in_tempo_excerpts(notes, 0.0, 15.0)] == [False]


def row(bpm: float, source: str = "a", duration_s: float = 0.2) -> dict:
    texture = dict.fromkeys(TEXTURE_KEYS, 1.0) | {"duration_mean_s": duration_s}
    return {"source": source, "bpm": bpm, "in_tempo": True, "texture": texture,
            "duration_beats": duration_s * bpm / 60}


def test_the_reference_is_his_excerpts_near_the_charts_quarter_note_widened_where_few():
    assert quarter_bpm(150, 2) == 300 and quarter_bpm(88, 4) == 88
    rows = [row(100, "a"), row(112, "b"), row(80, "a"), row(300, "c"), {**row(100), "in_tempo": False}]
    assert [r["bpm"] for r in tempo_matched(rows, 100)] == [100, 112]
    ref = chart_reference(rows, 100)  # 2 within 15 %: too few, widened to 25 % (3)
    assert (ref["tolerance"], ref["excerpts"], ref["enough"]) == (0.25, 3, False)
    many = [row(100 + i, "ab"[i % 2]) for i in range(6)]
    assert chart_reference(many, 100)["tolerance"] == 0.15 and chart_reference(many, 100)["enough"]
    assert chart_reference(rows, 200)["excerpts"] == 0


def test_pooling_and_note_length_by_tempo():
    pooled = pooled_texture([(1, dict.fromkeys(TEXTURE_KEYS, 1.0)), (3, dict.fromkeys(TEXTURE_KEYS, 2.0)),
                             (5, dict.fromkeys(TEXTURE_KEYS, math.nan))])
    assert pooled["notes_per_onset"] == 1.75
    half_beat = [row(b, duration_s=30 / b) for b in (80, 100, 140, 270)]  # half a beat at every tempo
    assert duration_slope(half_beat) == pytest.approx(-1.0)
    bins = duration_by_tempo(half_beat)
    assert [b["excerpts"] for b in bins] == [1, 1, 1, 0, 1]
    assert all(b["duration_beats"] == pytest.approx(0.5) for b in bins if b["excerpts"])
