"""The chord-tone share over explicit beats (tunes/measure.py) and Art Tatum's aligned reference (tunes/reference)."""

import json
from pathlib import Path

import numpy as np
import pytest

from tatumflow.notes import Note
from tatumflow.timing.form import Changes
from tatumflow.tunes.chart import parse_chart, read_chart
from tatumflow.tunes.measure import (
    beat_chords,
    chord_tone_share,
    chord_tone_share_on_beats,
    share_report,
    share_report_on_beats,
)
from tatumflow.tunes.reference import (
    CHARTS,
    REFERENCE,
    aligned_beats,
    aligned_spans,
    measure_reference,
    parse_alignment,
    read_alignment,
    reference_path,
)

FORM = parse_chart("meter: 4/4\n| C | G7 |").form
PIJAMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "pijama"


def test_explicit_beats_measure_as_the_fixed_tempo_does():
    changes = Changes(FORM, 120.0, start_s=1.0, choruses=2)  # a beat every 0.5 s from 1.0 to 5.0
    rng = np.random.default_rng(0)
    notes = [Note(float(t), 0.2, int(p), 80) for t, p in zip(rng.uniform(0.5, 5.5, 300), rng.integers(40, 90, 300))]
    beats = beat_chords(changes)
    assert len(beats) == 16 and beats[4][1].symbol == "G7" and beats[8][1].symbol == "C"
    assert chord_tone_share(notes, changes) == chord_tone_share_on_beats(notes, beats)
    assert share_report(notes, changes) == share_report_on_beats(notes, beats)
    with pytest.raises(ValueError, match="endless"):
        beat_chords(Changes(FORM, 120.0))


def test_rubato_beats_count_notes_by_the_nearest_beat():
    c, g7 = FORM.bars[0].chords[0][1], FORM.bars[1].chords[0][1]
    beats = [(0.0, c), (0.7, c), (1.1, g7), (2.0, g7)]  # uneven: a beat list, not a tempo
    notes = [Note(0.05, 0.1, 64, 80),  # E on C: a chord tone (50 ms off)
             Note(0.72, 0.1, 61, 80),  # C# on C: not a tone (a tone of the chart moved up)
             Note(1.06, 0.1, 71, 80),  # B on G7 (40 ms before 1.1; 360 ms after 0.7)
             Note(1.55, 0.1, 61, 80),  # between beats: not counted
             Note(2.05, 0.1, 61, 80)]  # C# on G7: not a tone
    share, count = chord_tone_share_on_beats(notes, beats)
    assert (share, count) == (pytest.approx(2 / 4), 4)
    up = share_report_on_beats(notes, beats)
    assert up["semitone_up_share"] == pytest.approx(1 / 4) and up["margin"] == pytest.approx(0.25)
    assert chord_tone_share_on_beats(notes, []) == (None, 0)
    with pytest.raises(ValueError, match="increase"):
        chord_tone_share_on_beats(notes, [(1.0, c), (1.0, c)])


def _raw(**over) -> dict:
    raw = {"chart": "x", "transpose": 2, "recording": "kong/a.midi",
           "segments": [{"label": "s", "first_bar": 2, "bars": 2, "beats": [10.0 + 0.5 * k for k in range(8)]}]}
    return {**raw, **over}


def test_an_alignment_runs_through_the_form_in_his_key():
    beats = aligned_beats(parse_alignment(_raw()), FORM)  # bar 2 (G7) then round to bar 1 (C), up a whole tone
    assert [c.symbol for _, c in beats] == ["G7+2"] * 4 + ["C+2"] * 4
    assert beats[0][1].root == 9 and beats[4][1].root == 2 and beats[-1][0] == 13.5
    short = _raw(segments=[{"label": "s", "first_bar": 1, "bars": 2, "beats": [0.0, 1.0, 2.0]}])
    with pytest.raises(ValueError, match="3 beats for 2 bars"):
        aligned_beats(parse_alignment(short), FORM)


def test_aligned_spans_join_segments_that_meet():
    seg = {"label": "s", "first_bar": 1, "bars": 2}
    meet = _raw(segments=[{**seg, "beats": [20.0 + 0.5 * k for k in range(8)]},  # 20.0 .. 23.5, a beat on: 24.0
                          {**seg, "beats": [10.0 + 0.4 * k for k in range(8)]},  # 10.0 .. 12.8, on: 13.2
                          {**seg, "beats": [13.3 + 0.5 * k for k in range(8)]}])  # 0.1 s late: joined
    assert aligned_spans(parse_alignment(meet)) == [pytest.approx((10.0, 17.3)), pytest.approx((20.0, 24.0))]
    assert aligned_spans(parse_alignment(_raw())) == [pytest.approx((10.0, 14.0))]


@pytest.mark.parametrize("over, match", [
    ({"transpose": 12}, "transpose"),
    ({"recording": "../../etc/passwd"}, "under the PiJAMA root"),
    ({"segments": [{"first_bar": 1, "bars": 1, "beats": [1.0, 0.5, 2.0, 3.0]}]}, "increase"),
    ({"segments": []}, "segments"),
    ({"segments": [{"first_bar": 0, "bars": 1, "beats": [1.0]}]}, "out of range"),
])
def test_malformed_alignments_are_one_line_errors(tmp_path, over, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_raw(**over)), encoding="utf-8")
    with pytest.raises(ValueError, match=match) as err:
        read_alignment(path)
    assert "bad.json" in str(err.value) and "\n" not in str(err.value)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a chart alignment"):
        read_alignment(path)


def test_the_committed_alignments_fit_their_charts():
    paths = sorted(REFERENCE.glob("*.json"))
    assert len(paths) >= 2
    for path in paths:
        raw = json.loads(path.read_text(encoding="utf-8"))
        alignment = read_alignment(path)
        assert reference_path(CHARTS / f"{alignment.chart}.txt") == path
        form = read_chart(CHARTS / f"{alignment.chart}.txt").form
        beats = aligned_beats(alignment, form)
        gaps = np.diff([t for t, _ in beats])
        assert len(beats) == sum(s.bars for s in alignment.segments) * form.beats_per_bar
        assert gaps.min() > 0.1 and gaps.max() < 1.5, path.name  # no beat lost or doubled between anchors
        for seg in raw["segments"]:  # every anchor is the downbeat of its bar
            for bar, t in seg["anchors"][:-1]:
                assert seg["beats"][(bar - 1) * form.beats_per_bar] == pytest.approx(t, abs=1e-3)
    assert reference_path("tatumflow/tunes/charts/tiger-rag.txt") is None


@pytest.mark.corpus
@pytest.mark.skipif(not PIJAMA.is_dir(), reason="needs ../shared/data/pijama")
def test_tatum_plays_the_changes_of_the_aligned_charts():
    """His share on the aligned beats is well above the semitone-up control (an alignment a bar off, or a chart in
    the wrong key, would not be), on every committed alignment."""
    for path in sorted(REFERENCE.glob("*.json")):
        r = measure_reference(read_alignment(path), PIJAMA)
        assert r["notes_at_beats"] > 300, r
        assert r["chord_tone_share"] > 0.45 and r["margin"] > 0.2, r
